// RelayReceiver: the collector's relay port (ROUTER), where forwarders
// deliver numbered batches of events (forwarder/RELAY.md; the frames are in
// common/relay_protocol.h). Steps 1-4 are common/relay_port.h's (RelayPort,
// RelayPayload), shared with a tier forwarder's relay port. For each batch
// it
//   1. reads the frames [identity, header, payload] and parses the header
//      (a {ping} gets a {pong});
//   2. admits the forwarder: its id is bound to the first token seen with
//      it, and a batch with another token is refused (reason "token"); over
//      CurveZMQ the token is the client's key ("curve:" + its Z85, the
//      User-Id the ZapHandler gave the connection), and an id bound to a
//      plain token moves to the key of the first CurveZMQ batch that also
//      carries that token (RELAY.md, "Who may speak for a forwarder");
//   3. drops a batch already written, whose ack then goes out with the next
//      checkpoint (never before), and asks for a resend on a gap;
//   4. decompresses the payload and splits it into exactly `count`
//      documents, else refuses the whole batch (what follows a break in
//      the framing could never be found, and acknowledging it would lose
//      it);
//   5. checks each document as an event (a malformed one is dropped and
//      counted by the intake, the others kept) and hands the batch to the
//      EventWriter with the ack it owes;
//   6. sends the acks the writer releases, once their batches are durable
//      (the writer signals ack_fd()).
// Its counters are CollectorStats::relay; FillStatus() is STATUS `relay`.
//
// Thread-safety: none; the collector's receive thread owns it and its
// socket.

#ifndef ZIGGY_COLLECTOR_RELAY_RECEIVER_H_
#define ZIGGY_COLLECTOR_RELAY_RECEIVER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "client/format/value.h"
#include "collector/event_writer.h"
#include "collector/relay_state.h"
#include "collector/stats.h"
#include "common/clock.h"
#include "common/daemon_sockets.h"
#include "common/intake.h"
#include "common/relay_port.h"
#include "common/relay_protocol.h"
#include "zmq.hpp"

namespace ziggy {

class RelayReceiver {
 public:
  // Called for each event of a batch taken in, once it is in the batch
  // for the writer (the collector publishes and forwards it).
  using OnEvent = DaemonSockets::OnEvent;

  // Events are checked by `intake` at `clock`'s time; at most
  // `max_forwarders` are remembered (ForwarderTable). With `curve` (server
  // options) the relay port is a CurveZMQ server.
  RelayReceiver(zmq::context_t& context, size_t max_forwarders, Clock* clock,
                EventIntake* intake, CollectorStats* stats, OnEvent on_event,
                absl::optional<CurveSocketOptions> curve = absl::nullopt);
  ~RelayReceiver();
  RelayReceiver(const RelayReceiver&) = delete;
  RelayReceiver& operator=(const RelayReceiver&) = delete;

  // Binds the relay port to `address` (host:port, port 0 = any);
  // kUnavailable when it is taken, kInvalidArgument for a bad one. Without
  // it the port is off (acks are still sent: there are none). With
  // `handshakes` (the CurveZMQ port's ZapHandler) its failed handshakes are
  // counted there.
  absl::Status Bind(const std::string& address,
                    ZapHandler* handshakes = nullptr);

  // The eventfd the EventWriter is to signal when acks are ready (its
  // ack_fd); -1 when it could not be made.
  int ack_fd() const { return ack_fd_; }

  // Takes the forwarders the last checkpoint recorded, and the writer that
  // gets the batches. REQUIRES: before AddPollItems() and Serve().
  void Start(const RelayState& recovered, EventWriter* writer);

  // Appends the ack fd and, when `receive` and the port is bound, the relay
  // socket to *items.
  void AddPollItems(bool receive, std::vector<zmq::pollitem_t>* items);
  // After zmq::poll on items whose AddPollItems() part starts at
  // items[first]: sends the acks ready, then takes one message.
  void Serve(const std::vector<zmq::pollitem_t>& items, size_t first);

  // STATUS relay: batches, events, acked, duplicates_dropped,
  // resend_requests, rejected, refused_token, jumps, forwarders_known,
  // forgotten, checkpoints, checkpoint_written, rolled_back_bytes and
  // forwarders {id: {next, last}} (the kForwardersListed most recently
  // heard, so STATUS stays small).
  void FillStatus(Value::Map* relay) const;

  // The bound endpoint, e.g. "tcp://127.0.0.1:41234"; empty when off.
  const std::string& endpoint() const { return port_.endpoint(); }

  static constexpr size_t kForwardersListed = RelayPort::kForwardersListed;
  // Forgotten forwarder ids handed to the writer at most in one batch.
  static constexpr size_t kForgottenPerBatch = 256;

 private:
  // Steps 1-6 of the class comment.
  void HandleBatch(const RelayBatchIn& in);
  std::unique_ptr<EventBatch> TakeIn(const RelayBatchIn& in, double now);
  void SubmitAck(const RelayBatchIn& in, std::unique_ptr<EventBatch> batch);
  void SendAcks();

  // The table dropped `id` to make room: its mark leaves the checkpoints.
  void Forgot(std::string id);
  std::unique_ptr<EventBatch> NewBatch();

  Clock* const clock_;
  EventIntake* const intake_;
  CollectorStats* const stats_;
  const OnEvent on_event_;
  const int ack_fd_;
  EventWriter* writer_ = nullptr;
  std::vector<std::string> forgotten_;  // for the writer's next batch
  RelayPort port_;
  RelayPayload payload_;  // of the batch in hand
};

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_RELAY_RECEIVER_H_
