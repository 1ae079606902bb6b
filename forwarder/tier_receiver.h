// TierReceiver: a tier forwarder's relay port (ziggy-forwarder --relay),
// where other forwarders ("downstream" forwarders) deliver their batches as
// to a collector (forwarder/RELAY.md, "Tiers"; same wire protocol,
// common/relay_protocol.h). The tier spools them and relays them on with its
// own events, under its own id and indexes, so exactly-once holds end to
// end: host forwarder -> tier forwarder -> collector.
//
// For each batch, after RelayPort's steps (frames, token or CurveZMQ key
// binding, the duplicate / resend / take-in decision: common/relay_port.h)
// and RelayPayload's (decompress, split, check each event; a malformed one
// is dropped and counted by the intake):
//   1. Spool::AppendBatch() writes the events and the downstream's new mark
//      (id -> next index, and what its id is bound to) in one write(), all
//      or nothing; a full spool refuses the batch (no ack: the downstream
//      keeps it and retries), counted as refused_full;
//   2. the ack waits until the spool's durable index (synced_index(), or
//      what the tier's own upstream acknowledged) covers the batch; a
//      SyncSoon() asks the spool to sync at once so it does not wait long.
// A duplicate is acknowledged once everything spooled before it is durable
// (its original may still be waiting). Start() takes the marks the spool
// recovered, so after a kill -9 a downstream's resend is a duplicate.
//
// Thread-safety: none; the forwarder's receive thread owns it, its socket
// and the spool's appending side.

#ifndef ZIGGY_FORWARDER_TIER_RECEIVER_H_
#define ZIGGY_FORWARDER_TIER_RECEIVER_H_

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/optional.h"
#include "client/format/value.h"
#include "common/daemon_sockets.h"
#include "common/intake.h"
#include "common/relay_port.h"
#include "forwarder/spool.h"
#include "zmq.hpp"

namespace ziggy {

class TierReceiver {
 public:
  // Called for each event spooled from a downstream batch (the forwarder
  // publishes it on its live stream).
  using OnEvent = DaemonSockets::OnEvent;

  // At most `max_forwarders` downstreams are remembered; `spool` was opened
  // with SpoolOptions::downstream. With `curve` (server options) the relay
  // port is a CurveZMQ server.
  TierReceiver(zmq::context_t& context, size_t max_forwarders, Spool* spool,
               EventIntake* intake, OnEvent on_event,
               absl::optional<CurveSocketOptions> curve);

  // Binds the port (see RelayPort::Bind) and takes the spool's recovered
  // downstream marks.
  absl::Status Bind(const std::string& address, ZapHandler* handshakes);
  const std::string& endpoint() const { return port_.endpoint(); }

  // Appends the relay socket to *items.
  void AddPollItems(std::vector<zmq::pollitem_t>* items);
  // After zmq::poll on items whose AddPollItems() part is items[first]:
  // takes one message.
  void Serve(const std::vector<zmq::pollitem_t>& items, size_t first);
  // Sends the acks whose batches are durable now.
  void SendAcks();
  bool acks_waiting() const { return !pending_.empty(); }

  // STATUS relay_in: RelayPort's counters, refused_full, spool_errors,
  // acks_waiting and forwarders {id: {next, last}}.
  void FillStatus(Value::Map* relay_in) const;

 private:
  struct PendingAck {
    std::string identity;
    std::string forwarder;
    int64_t end;   // the downstream's
    int64_t need;  // durable below this spool index: ack
  };
  void HandleBatch(const RelayBatchIn& in);
  // Steps 1 and the spooling; false when refused.
  bool TakeIn(const RelayBatchIn& in, double now);
  void Wait(const RelayBatchIn& in);
  // The batch's good events, copied (the intake may repair one in place).
  void CollectEvents(double now);
  void RefuseSpooling(const std::string& identity, const absl::Status& why);

  Spool* const spool_;
  EventIntake* const intake_;
  const OnEvent on_event_;
  RelayCounters counters_;
  uint64_t refused_full_ = 0;
  uint64_t spool_errors_ = 0;
  RelayPort port_;
  RelayPayload payload_;
  std::string events_;  // the good events of the batch in hand
  std::vector<std::pair<size_t, size_t>> spans_;  // each event's in events_
  std::vector<std::pair<size_t, size_t>> types_;  // its type's in the event
  std::deque<PendingAck> pending_;
};

}  // namespace ziggy

#endif  // ZIGGY_FORWARDER_TIER_RECEIVER_H_
