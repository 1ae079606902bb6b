// StreamSubscriber: a daemon's live event stream, found through its control
// port and kept across daemon restarts.
//
// The stream is a PUB socket on a port the daemon picks; SOCK_STREAM on the
// control port tells it. The subscriber asks, subscribes by type prefix, and
// whenever the stream has been quiet for `rediscover_after` asks again,
// reconnecting when the port changed (a restarted daemon) — so a viewer keeps
// going across restarts. Like any ZeroMQ subscriber it may miss events sent
// while it was (re)connecting or too slow.
//
//   ziggy::StreamSubscriber stream({"127.0.0.1:3513", "request*"});
//   if (absl::Status s = stream.Connect(); !s.ok()) return Fail(s);
//   std::string type, bson;
//   while (running) {
//     if (stream.Next(&type, &bson, absl::Milliseconds(200))) Print(bson);
//   }
//
// Thread-safety: one thread at a time.

#ifndef ZIGGY_CLIENT_READER_STREAM_H_
#define ZIGGY_CLIENT_READER_STREAM_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client/net/socket.h"

namespace ziggy {

struct StreamOptions {
  std::string control = "127.0.0.1:3513";  // the daemon's control port
  std::string type;                        // "", "request", "request*"
  absl::Duration control_timeout = absl::Seconds(3);
  absl::Duration rediscover_after = absl::Seconds(1);
  // CurveZMQ client keys (CurveSocketOptions::Client) for both the control
  // port and the stream; unset = plain text. With a server key the daemon
  // does not hold, Connect() fails with kUnavailable after control_timeout.
  absl::optional<CurveSocketOptions> curve;
};

class StreamSubscriber {
 public:
  explicit StreamSubscriber(StreamOptions options);
  ~StreamSubscriber();

  // Finds the stream through the control port and subscribes.
  // kUnavailable when the daemon does not answer.
  absl::Status Connect();

  // Waits up to `timeout` for the next event whose type matches. Returns
  // false on timeout (reconnecting meanwhile if the daemon moved).
  // REQUIRES: Connect() succeeded once.
  bool Next(std::string* type, std::string* bson, absl::Duration timeout);

  // OK while the stream's connection is up, or has been down for less than
  // control_timeout; else kUnavailable saying which endpoint cannot be
  // reached (e.g. a daemon whose stream listens on another interface than
  // its control port). Next() keeps trying meanwhile.
  absl::Status Health();

  // Times the subscriber moved to a new stream port.
  int reconnects() const { return reconnects_; }

 private:
  class Socket;
  // Asks the control port for the stream's port; subscribes anew if it
  // changed.
  absl::Status Discover(absl::Duration timeout);

  const StreamOptions options_;
  std::string host_;
  int port_ = -1;
  int reconnects_ = 0;
  absl::Time quiet_since_;
  absl::Time unconnected_since_ = absl::InfiniteFuture();
  std::unique_ptr<Socket> socket_;
};

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_READER_STREAM_H_
