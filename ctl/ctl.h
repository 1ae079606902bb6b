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

#ifndef ZIGGY_CTL_CTL_H_
#define ZIGGY_CTL_CTL_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/format/value.h"

namespace ziggy {

struct CtlOptions {
  std::string host = "127.0.0.1:3513";  // the daemon's control port
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
