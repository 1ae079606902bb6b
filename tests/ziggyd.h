// Ziggyd: a real ziggyd process for integration tests, on port-0 endpoints
// and a log path under TEST_TMPDIR, plus helpers to send to it and read what
// it wrote.

#ifndef ZIGGY_TESTS_ZIGGYD_H_
#define ZIGGY_TESTS_ZIGGYD_H_

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/optional.h"
#include "client/format/event.h"
#include "client/format/value.h"
#include "client/net/socket.h"
#include "common/relay_protocol.h"
#include "tests/process.h"
#include "zmq.hpp"

namespace ziggy::testing {

class Ziggyd {
 public:
  // Starts ziggyd with `flags` (plus port-0 endpoints and --log-path unless
  // given) and waits for its "listening" line. nullptr (its stderr printed)
  // when it exits first or does not listen within 20 s.
  static std::unique_ptr<Ziggyd> Start(const std::string& log_path,
                                       std::vector<std::string> flags = {});
  // The same for ziggy-forwarder: a spool directory and --upstream.
  static std::unique_ptr<Ziggyd> StartForwarder(
      const std::string& spool_path, const std::string& upstream,
      std::vector<std::string> flags = {});

  // "127.0.0.1:<port>" of each socket.
  const std::string& control() const { return control_; }
  const std::string& collect() const { return collect_; }
  const std::string& stream() const { return stream_; }
  const std::string& relay() const { return relay_; }
  const std::string& log_path() const { return log_path_; }
  Subprocess& process() { return *process_; }

  // STATUS over the control port (empty map when there is no answer).
  Value Status();
  // The STATUS reply's bytes as the daemon sent them (empty when none).
  std::string StatusBytes();
  // Number in STATUS at a dotted path (0 if absent).
  double StatusNumber(absl::string_view path);
  // Waits until STATUS `written` reaches `count`.
  bool WaitWritten(uint64_t count, absl::Duration timeout = absl::Seconds(30));
  absl::StatusOr<Value> Call(absl::string_view command,
                             const Value::Map& args = {});
  // Makes Status(), StatusNumber(), WaitWritten() and Call() speak CurveZMQ
  // as `client` (a client key the daemon allows, its --curve-key's public
  // key); nullopt: plain text again.
  void set_control_curve(absl::optional<CurveSocketOptions> client) {
    control_curve_ = std::move(client);
  }

 private:
  static std::unique_ptr<Ziggyd> Launch(std::vector<std::string> argv,
                                        const std::vector<std::string>& flags,
                                        const std::vector<const char*>& ports);
  std::unique_ptr<Subprocess> process_;
  std::string control_, collect_, stream_, relay_, log_path_;
  absl::optional<CurveSocketOptions> control_curve_;
};

// A PUSH socket connected to a collect port, like any foreign client.
class Sender {
 public:
  explicit Sender(const std::string& collect);
  void Send(absl::string_view bytes);
  void SendMultipart(const std::vector<std::string>& frames);

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
};

// A DEALER on a collector's relay port sending batches by hand, as any peer
// could (CurveZMQ with `curve`).
class RelayPeer {
 public:
  explicit RelayPeer(const std::string& relay,
                     absl::optional<CurveSocketOptions> curve = absl::nullopt);
  void Send(const RelayHeader& header, const std::string& payload = "");
  // Any frames at all, as a broken or hostile peer sends them.
  void SendFrames(const std::vector<std::string>& frames);
  // The next reply, decoded (an empty map when none came within 10 s).
  Value Reply();

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
};

// What a hostile or broken client sends to a collect port, each followed by
// send_good(): not BSON, a truncated event, a bad length, an empty type, a
// type that is not a string, an oversized event (the daemon runs with
// --max-event-bytes=4096), a two-frame message, a batch with trailing
// bytes, and a batch of an empty type and an oversized event. The drops
// they must cause are in kMalformedMixDrops.
void SendMalformedMix(Sender& sender, const std::function<void()>& send_good);
inline constexpr std::pair<const char*, int> kMalformedMixDrops[] = {
    {"dropped.malformed", 4},
    {"dropped.no_type", 3},
    {"dropped.oversized", 2},
    {"dropped.multipart", 1}};

// Collect-port senders of both kinds at once, each on its own connection:
// even-numbered ones send seed messages (one event each), odd-numbered
// ones batches of 1 to 7 events back to back (the wire rule), per_sender
// events of type "mixed" each, body {sender, seq}. Each batching sender
// also sends, mid-stream, a batch whose last document is cut short: dropped
// whole (one dropped.malformed each), its events never written.
void SendSeedAndBatched(const std::string& collect, int senders,
                        int per_sender);
// What SendSeedAndBatched's senders must leave in the files under
// `log_path`: each sender's events exactly once, in the order sent.
void ExpectSeedAndBatched(const std::string& log_path, int senders,
                          int per_sender);

// A test event encoded with libbson (not our encoder, so text goes out as
// given, UTF-8 or not): {id, type, host, pid, start, end, body: {sender,
// seq}}, the body also holding {text_key: text} when text_key is not empty.
std::string ForeignEvent(absl::string_view type, int64_t sender, int64_t seq,
                         absl::string_view host = "test-host",
                         const std::string& text_key = "",
                         absl::string_view text = "");

// Sends kInvalidUtf8Events events of sender 1 (seq 0, 1, ...) whose type,
// host, a body key or a string value is not valid UTF-8, each followed by
// send_good(). Strict BSON readers refuse them as sent.
void SendInvalidUtf8(Sender& sender, const std::function<void()>& send_good);
inline constexpr int kInvalidUtf8Events = 4;

// Every file under `root`, recursively (relative paths, sorted).
std::vector<std::string> ListFiles(const std::string& root);

// Sets the soft file size limit of a running process (0: none): its writes
// past `bytes` then fail with EFBIG, as on a full disk.
void LimitFileSize(pid_t pid, uint64_t bytes);

// A loopback port nothing listens on (bound by a ZeroMQ socket, released).
int UnusedPort();

// (body.sender, body.seq) of every event in every file under `log_path`.
std::multiset<std::pair<int64_t, int64_t>> ReadSequences(
    const std::string& log_path);

// Decodes every whole event in a file; *damage gets the reader's status.
std::vector<Event> ReadEvents(const std::string& path,
                              std::string* damage = nullptr);
// The same, the documents' bytes as stored.
std::vector<std::string> ReadDocuments(const std::string& path,
                                       std::string* damage = nullptr);

}  // namespace ziggy::testing

#endif  // ZIGGY_TESTS_ZIGGYD_H_
