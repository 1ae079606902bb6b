// A pool of daemons (several collectors, `ziggyctl -H a -H b status`) as
// one: every daemon asked at once, their STATUS replies summed.
//
// SumStatus's rule, per dotted path over the replies that have it:
// - numbers (counters: received, written, dropped.*, events.<type>.count,
//   bytes, fds, ...) are added (integers stay integers);
// - except times and positions, where a sum means nothing: `last` and
//   `next` anywhere (last event times, a forwarder's next index) and `lag`,
//   `lag_median` take the largest, `uptime` the smallest;
// - identity and settings are left out of the total (pid, now,
//   rotate_hours, ports, disk.retain_days, disk.compress_after_days);
// - any other value (strings: daemon, host, log_path; lists; booleans) is
//   kept when every daemon that has it gives the same one, else left out of
//   the total (it is in each daemon's own reply).
//
// Thread-safety: the functions are reentrant.

#ifndef ZIGGY_CLIENT_READER_POOL_STATUS_H_
#define ZIGGY_CLIENT_READER_POOL_STATUS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/format/value.h"
#include "client/reader/control.h"

namespace ziggy {

// One daemon's answer: its reply, or why there was none.
struct DaemonReply {
  std::string host;  // host:port as given
  absl::StatusOr<Value> reply;
};

// Sends `command` with `args` to every host at once (a thread each, each
// call within options.timeout); the replies in the order of `hosts`.
std::vector<DaemonReply> CallEach(const std::vector<std::string>& hosts,
                                  absl::string_view command,
                                  const Value::Map& args,
                                  const ControlOptions& options);

// The sum of the STATUS replies (maps) in `replies` by the rule above.
// Keys keep the order in which they first appear.
Value SumStatus(const std::vector<const Value*>& replies);

// {"total": SumStatus(the answers), "daemons": {"host:port": its STATUS,
// or {"down": true, "error": "..."} for one that did not answer}}.
Value PoolStatus(const std::vector<DaemonReply>& daemons);

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_READER_POOL_STATUS_H_
