// CallControl: one request to a daemon's control port and its reply.
//
// The control protocol: a ZeroMQ REQ/REP exchange of one BSON document each
// way on the daemon's control port (127.0.0.1:3513 by default). The request
// is {cmd: "STATUS", ...arguments} (`cmd` is the original Python Ziggy's
// key, so its daemons answer as well as ours); the reply is a document,
// {error: "..."} for a failed or unknown command. Commands every daemon
// knows: STATUS, SOCK_STREAM -> {port}, SOCK_COLLECT -> {port}, SHUTDOWN.
//
//   absl::StatusOr<ziggy::Value> status =
//       ziggy::CallControl("127.0.0.1:3513", "STATUS");
//
// Thread-safety: reentrant; every call has its own socket.

#ifndef ZIGGY_CLIENT_READER_CONTROL_H_
#define ZIGGY_CLIENT_READER_CONTROL_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client/format/value.h"
#include "client/net/socket.h"

namespace ziggy {

inline constexpr absl::string_view kDefaultControl = "127.0.0.1:3513";

// Sends {cmd: command, ...args} to host:port and returns the reply document.
// Errors: kInvalidArgument for a bad address; kUnavailable when no reply
// came within `timeout` (daemon down, wrong port); kDataLoss for a reply
// that is not BSON; kFailedPrecondition carrying the daemon's {error}.
absl::StatusOr<Value> CallControl(absl::string_view host_port,
                                  absl::string_view command,
                                  const Value::Map& args = {},
                                  absl::Duration timeout = absl::Seconds(3));

struct ControlOptions {
  absl::Duration timeout = absl::Seconds(3);  // for the whole exchange
  // Unset: plain text. Set (CurveSocketOptions::Client): a daemon that does
  // not hold the given server key never answers, and the call fails with
  // kUnavailable after `timeout`, saying the key may be wrong.
  absl::optional<CurveSocketOptions> curve;
};

// As above, with CurveZMQ when options.curve is set.
absl::StatusOr<Value> CallControl(absl::string_view host_port,
                                  absl::string_view command,
                                  const Value::Map& args,
                                  const ControlOptions& options);

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_READER_CONTROL_H_
