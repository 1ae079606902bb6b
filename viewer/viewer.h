// ziggyview as a library: prints events from files, stdin, a log directory
// or a daemon's live stream, as JSON.
//
// Output: one JSON object per event per line (see client/json.h for how
// every BSON type maps); with `pretty`, indented JSON; with `group`, one
// object per event group: {"id": ..., "parent": {...} or null,
// "children": [{...}, ...]} (see client/grouper.h for the rule).

#ifndef ZIGGY_VIEWER_VIEWER_H_
#define ZIGGY_VIEWER_VIEWER_H_

#include <atomic>
#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace ziggy {

// Exit codes.
inline constexpr int kViewOk = 0;
inline constexpr int kViewError = 1;  // bad flags, unreadable input, no daemon
inline constexpr int kViewDamaged = 2;  // some input was damaged and skipped

struct ViewerOptions {
  std::vector<std::string> files;    // read these, in order
  bool read_stdin = false;           // read standard input
  std::string log_path;              // or select files here...
  std::string start_date, end_date;  // ...by "YYYYMMDD" / "YYYYMMDD HH:MM"
  std::string host;  // or follow this daemon's control port live
  std::string type;  // "", "request" or "request*"
  bool pretty = false;
  bool group = false;
  size_t max_groups = 1000;
  absl::Duration control_timeout = absl::Seconds(3);
  // Live mode runs until this becomes true (set from a signal handler).
  const std::atomic<bool>* stop = nullptr;
};

// Runs the viewer; returns an exit code.
int RunViewer(const ViewerOptions& options, std::ostream& out,
              std::ostream& err);

}  // namespace ziggy

#endif  // ZIGGY_VIEWER_VIEWER_H_
