// ziggyctl as a library: administers a running daemon over its control port,
// and makes CurveZMQ key pairs.
//
//   ziggyctl [-H host:port] [--json] status|shutdown|flush|ports
//       [--curve-server-key=DAEMON.pub --curve-key=MINE]   (CurveZMQ)
//   ziggyctl keygen PATH    (PATH: secret key, mode 0600; PATH.pub: public)
//
// Exit codes: 0 done; 1 the daemon did not answer, refused, the key pair
// could not be written, or the command line was wrong (one line on stderr
// says which).
//
// A pool (several hosts, -H a -H b or -H a,b): `status` asks every daemon
// at once and prints the pool: one line per daemon (address, up or down,
// received, written, dropped, last event), then the total (SumStatus,
// client/reader/pool_status.h) as one daemon's summary; with --json
// {"total": {...}, "daemons": {"host:port": STATUS or {"down": true,
// "error": "..."}}}. `ports` and `flush` go to every daemon, each reply
// under its address (--json: {"host:port": reply}). `shutdown`, `upstream`
// and `upstream set` take one daemon and are refused with several. A
// daemon that does not answer is shown down, with one line on stderr; the
// others are still shown (and summed), and the exit code is 1.

#ifndef ZIGGY_CTL_CTL_H_
#define ZIGGY_CTL_CTL_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/format/value.h"

namespace ziggy {

struct CtlOptions {
  // The daemons' control ports (host:port): one, or a pool (see above).
  std::vector<std::string> hosts = {"127.0.0.1:3513"};
  absl::Duration timeout = absl::Seconds(3);
  bool json = false;  // print replies as JSON instead of a summary
  // CurveZMQ (both or neither; empty = plain text): the daemon's public key
  // file (.pub) and this client's secret key file. Relative paths are the
  // caller's, as for keygen. A missing, malformed or group-readable key
  // file, or only one of the two, is a one-line error and exit 1.
  std::string curve_server_key;
  std::string curve_key;
};

// Runs one ziggyctl command (args[0] is the command). Returns the exit code.
// `keygen PATH` resolves a relative PATH against the caller's directory
// (ResolveUserPath) and never overwrites an existing key file.
int RunCtl(const std::vector<std::string>& args, const CtlOptions& options,
           std::ostream& out, std::ostream& err);

// The human summary of a STATUS reply, with ages relative to `now` (Unix
// seconds).
std::string FormatStatus(const Value& status, double now);

}  // namespace ziggy

#endif  // ZIGGY_CTL_CTL_H_
