// ziggyview as a library: prints events from files, stdin, a log directory
// or a daemon's live stream, as JSON.
//
// Input: event files as the collector writes them, or compressed to
// `<name>.zst` (zstd frames, recognised by their first bytes on any input,
// standard input included; see client/reader/reader.h), in any mix.
//
// Output: one JSON object per event per line (see client/reader/json.h for how
// every BSON type maps); with `pretty`, indented JSON; with `group`, one
// object per event group: {"id": ..., "parent": {...} or null,
// "children": [{...}, ...]} (see client/reader/grouper.h for the rule). As the
// collector files each type apart (request, request.sql, request.log), with
// `group` the files are read together, merged by the events' end time
// (event_files.h), so that sub-events meet their parent whatever file and
// day they are in; the type filter then selects groups by their top-level
// type ("request" keeps request.sql too).
//
// Filters, on every input (files, --log-path, stdin, live), in this order:
// the type; `where` (client/reader/where.h); the dates, on each event's own
// `end` (Unix seconds), the day or minute of `end_date` included, an event
// without a numeric `end` left out. With `group`, `where` and the dates
// select whole groups: a group prints when its top-level event passes, or,
// for a group whose parent never came, when any of its events does.
// `fields` (client/reader/fields.h) then trims each printed event, each
// event of a group with `group`; the group's "id" stays.
//
// A pool of collectors (several log_paths or hosts) reads like one
// collector holding all the events:
// - Files: the same selection (type, dates) is made under every log path.
//   The files of one type and one day (or hour block, with
//   --rotate-hours) at all the paths are merged by the events' end time
//   (MergeByEnd; on a tie the earlier log path first), as one collector
//   would have filed them in the order they arrived; the type-days follow
//   one another in the order one collector's files are read (oldest
//   first, then by type). With `group`, every type's files at every path
//   are merged by end time, so a request and its sub-events meet across
//   collectors. At most one file per path per type-day is open at a time
//   (with `group`, one per path and type).
// - Live: every daemon's stream is followed at once (LiveStreams) and
//   events are printed as they arrive from any. A daemon that does not
//   answer at the start gets one line on `err` and is left out; the others
//   stream, and the exit code is then kViewError (all down: at once). A
//   daemon that goes away later gets one line ("...; still trying") and
//   is followed again when it is back, as with one.
//
// Damaged input is skipped, never fatal: each skipped byte range is one
// line on `err` (file, from-to offsets, why) and the exit code becomes
// kViewDamaged.

#ifndef ZIGGY_VIEWER_VIEWER_H_
#define ZIGGY_VIEWER_VIEWER_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/reader/stream.h"
#include "viewer/live_streams.h"

namespace ziggy {

// Exit codes.
inline constexpr int kViewOk = 0;
inline constexpr int kViewError = 1;  // bad flags, unreadable input, no daemon
inline constexpr int kViewDamaged = 2;  // some input was damaged and skipped
// Files or stdin: *stop became true (SIGINT or SIGTERM) before the end of
// the input; what was read is printed. 128 + SIGINT, as a shell reports
// Ctrl-C. (Live mode has no end: a signal there is the normal exit, 0.)
inline constexpr int kViewInterrupted = 130;

struct ViewerOptions {
  std::vector<std::string> files;  // read these, in order
  bool read_stdin = false;         // read standard input
  // Or select files under these log directories (one collector's, or
  // several: a pool's, read as one, see "A pool of collectors" above)...
  std::vector<std::string> log_paths;
  std::string start_date, end_date;  // ...by "YYYYMMDD" / "YYYYMMDD HH:MM"
  // Or follow these daemons' control ports (host:port) live, their events
  // interleaved as they arrive.
  std::vector<std::string> hosts;
  std::string type;  // "", "request" or "request*"
  // A filter expression (where.h), e.g. "body.response.status >= 500". A
  // malformed one is a one-line error naming its column, before any input
  // is read: "ziggyview: --where: at 17: expected a value after '>='".
  std::string where;
  std::string fields;  // "type,body.response.status": print only these
  bool pretty = false;
  // --raw: each selected event's BSON document as read (the original
  // bytes), concatenated, instead of JSON: an event file again, for any
  // input and filters. Not with pretty, stats, group, fields or serve, and
  // refused when out_is_terminal (a one-line error, kViewError).
  bool raw = false;
  bool out_is_terminal = false;  // standard output is a terminal (isatty)
  bool group = false;
  size_t max_groups = 1000;
  absl::Duration control_timeout = absl::Seconds(3);
  // Live mode with CurveZMQ (both or neither; empty = plain text): the
  // daemon's public key file (.pub) and this client's secret key file. A
  // key file that cannot be loaded, or only one, is a one-line error.
  std::string curve_server_key;
  std::string curve_key;
  // --stats: summaries (client/reader/stats.h) of the events that pass the
  // filters instead of the events, in viewer/stats_view.h's formats; from
  // files, once at the end; live, every stats_interval over the last
  // stats_window (zero: the interval). Not with `group`.
  bool stats = false;
  bool stats_json = false;                // JSON lines instead of a table
  std::string stats_by;                   // split rows by this dotted path
  std::vector<std::string> stats_fields;  // only these fields; empty: all
  absl::Duration stats_interval = absl::Seconds(10);
  absl::Duration stats_window = absl::ZeroDuration();
  // --serve: a web dashboard on this host:port instead of printing
  // (viewer/dashboard.h); with -H or --log-path (one or several: a pool,
  // counted together). A non-loopback address needs `insecure`.
  std::string serve;
  bool insecure = false;
  // Live mode runs until this becomes true (set from a signal handler);
  // reading files or stdin stops soon after it, with kViewInterrupted.
  const std::atomic<bool>* stop = nullptr;
};

// The live stream's options for `options`: the first of -H, --type-name,
// the control timeout and the CurveZMQ key files (both or neither),
// loaded; an error names the key flag and file.
absl::StatusOr<StreamOptions> LiveStreamOptions(const ViewerOptions& options);

// The live streams of every -H (LiveStreams) with LiveStreamOptions'
// options, connected. Each daemon that did not answer gets a line on
// `err` and sets *code to kViewError; null when none answered (or a key
// file could not be loaded: one line).
std::unique_ptr<LiveStreams> ConnectLiveStreams(const ViewerOptions& options,
                                                int* code, std::ostream& err);

// Runs the viewer; returns an exit code.
int RunViewer(const ViewerOptions& options, std::ostream& out,
              std::ostream& err);

}  // namespace ziggy

#endif  // ZIGGY_VIEWER_VIEWER_H_
