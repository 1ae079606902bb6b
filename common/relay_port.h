// RelayPort: the receiving end of the relay protocol (forwarder/RELAY.md,
// frames in common/relay_protocol.h), as both ziggyd's relay port
// (collector/relay_receiver.h) and a tier forwarder's
// (forwarder/tier_receiver.h) serve it. It owns the ROUTER socket and the
// table of forwarders, and does what both do the same way:
//   1. Receive(): reads [identity, header, payload], parses the header,
//      answers a {ping} with {pong} and refuses (with {error}, counted as
//      rejected) anything that is not a batch;
//   2. Admit(): binds a forwarder's id to the first token seen with it and
//      refuses a batch with another (reason "token"); over CurveZMQ the
//      token is the client's key ("curve:" + its Z85, the User-Id the
//      ZapHandler gave the connection), and an id bound to a plain token
//      moves to the key of the first CurveZMQ batch that also carries that
//      token (RELAY.md, "Who may speak for a forwarder");
//   3. Admit() also decides, with expected = max(next, header.acked): a
//      duplicate (end <= expected), a gap or overlap (answered {resend:
//      expected}), or a batch to take in; Advance() then moves the
//      forwarder to its end.
// What taking a batch in means (files and a checkpoint, or a spool) and
// when its acknowledgement goes out is the caller's.
//
// RelayPayload is the payload step: decompress, split into exactly `count`
// documents (else the whole batch is refused), check each as an event.
//
// Thread-safety: none; one thread owns a RelayPort and its socket.

#ifndef ZIGGY_COMMON_RELAY_PORT_H_
#define ZIGGY_COMMON_RELAY_PORT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "client/format/value.h"
#include "client/net/socket.h"
#include "collector/forwarder_table.h"
#include "common/intake.h"
#include "common/relay_protocol.h"
#include "common/zap_handler.h"
#include "zmq.hpp"

namespace ziggy {

// A relay port's counters (STATUS relay of ziggyd, relay_in of a tier).
struct RelayCounters {
  using Counter = std::atomic<uint64_t>;
  Counter batches{0};          // batches from admitted forwarders
  Counter events{0};           // events in the batches taken in
  Counter acked{0};            // acknowledgements sent
  Counter duplicates{0};       // events of batches already taken in
  Counter resend_requests{0};  // batches answered with {resend}
  Counter rejected{0};         // malformed batches refused
  Counter refused_token{0};    // batches with another forwarder's token
  Counter jumps{0};            // forwarders moved on by their own `acked`
};

// One batch taken from the port.
struct RelayBatchIn {
  std::string identity;  // the ROUTER's, for the reply
  RelayHeader header;
  // What the forwarder's id is bound to: its token, or over CurveZMQ
  // "curve:" + its key.
  std::string token;
  absl::string_view payload;  // valid until the next Receive()
};

// A relayed batch's payload, decompressed and split into its documents.
class RelayPayload {
 public:
  // Decompresses `payload` as `header` says and splits it into exactly
  // header.count length-prefixed, NUL-terminated documents (the collect
  // port's wire rule), framed but not yet validated. kInvalidArgument when
  // it does not match: the whole batch is to be refused (what follows a
  // break in the framing could never be found). Keeps views into `payload`
  // (when not compressed).
  absl::Status Decode(const RelayHeader& header, absl::string_view payload);

  absl::string_view bytes() const { return bytes_; }  // uncompressed
  const std::vector<absl::string_view>& documents() const { return docs_; }

  // Checks each document as an event with `intake` at `now` (a malformed
  // one is dropped and counted there) and calls visit(doc, fields) for each
  // good one, in order.
  template <typename Visit>
  void ForEachEvent(EventIntake* intake, double now, Visit visit) {
    EventFields fields;
    for (absl::string_view doc : docs_) {
      if (intake->Accept(&doc, now, &fields)) visit(doc, fields);
    }
  }

 private:
  std::string storage_;
  absl::string_view bytes_;
  std::vector<absl::string_view> docs_;
};

// Splits `payload` into *docs: exactly `count` documents, as
// RelayPayload::Decode() describes.
absl::Status SplitRelayPayload(absl::string_view payload, int32_t count,
                               std::vector<absl::string_view>* docs);

class RelayPort {
 public:
  enum class Verdict {
    kAnswered,   // refused ({error}: another token) or {resend: expected}
    kDuplicate,  // already taken in: acknowledge once the original is
    kTakeIn,     // take it in, then Advance()
  };
  // Called with an id the table forgot to make room (logged here).
  using OnForgotten = std::function<void(std::string id)>;

  // At most `max_forwarders` are remembered (ForwarderTable); `name` is
  // the port's for messages ("relay"). With `curve` (server options) the
  // port is a CurveZMQ server.
  RelayPort(zmq::context_t& context, absl::string_view name,
            size_t max_forwarders, RelayCounters* counters,
            absl::optional<CurveSocketOptions> curve, OnForgotten forgotten);

  // Binds to `address` (host:port, port 0 = any); kUnavailable when taken,
  // kInvalidArgument for a bad one. With `handshakes` (the CurveZMQ port's
  // ZapHandler) its failed handshakes are counted there.
  absl::Status Bind(const std::string& address,
                    ZapHandler* handshakes = nullptr);
  // The bound endpoint, e.g. "tcp://127.0.0.1:41234"; empty when unbound.
  const std::string& endpoint() const { return endpoint_; }
  void* handle() { return socket_.handle(); }

  // Takes one message if there is one (step 1); true with *batch when it
  // is a batch to handle.
  bool Receive(RelayBatchIn* batch);
  // Steps 2-3 for `batch` at `now` (Unix seconds). *forwarder: its entry,
  // for kDuplicate and kTakeIn.
  Verdict Admit(const RelayBatchIn& batch, double now,
                ForwarderTable::Entry** forwarder);
  // The batch was taken in: its forwarder is at header.end now (a jump by
  // its own `acked` is counted and logged).
  void Advance(ForwarderTable::Entry* forwarder, const RelayHeader& header);
  // A forwarder's position recovered from durable state (at start).
  void Restore(const std::string& id, const std::string& token, int64_t next);

  void Ack(const std::string& identity, absl::string_view forwarder,
           int64_t end);
  // Refuses a batch (counted as rejected, logged at a bounded rate).
  void Refuse(const std::string& identity, absl::string_view why);
  void Reply(const std::string& identity, const std::string& reply);

  // STATUS: batches, events, acked, duplicates_dropped, resend_requests,
  // rejected, refused_token, jumps, forwarders_known, forgotten.
  void FillCounters(Value::Map* status) const;
  // STATUS forwarders {id: {next, last}}, the kForwardersListed most
  // recently heard.
  Value Forwarders() const;
  static constexpr size_t kForwardersListed = 100;

 private:
  ForwarderTable::Entry* Bound(const RelayHeader& header,
                               const std::string& token, double now);
  bool Rebind(ForwarderTable::Entry* forwarder, const RelayHeader& header,
              const std::string& token);
  void RefuseToken(const RelayBatchIn& batch);

  const std::string name_;
  const size_t max_forwarders_;
  RelayCounters* const counters_;
  const OnForgotten on_forgotten_;
  zmq::socket_t socket_;
  std::string endpoint_;
  ForwarderTable forwarders_;
  std::vector<zmq::message_t> frames_;  // of the batch in hand
};

}  // namespace ziggy

#endif  // ZIGGY_COMMON_RELAY_PORT_H_
