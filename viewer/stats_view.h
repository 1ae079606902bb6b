// StatsView: what `ziggyview --stats` prints — the rows of a Stats
// (client/reader/stats.h) as a human table or as JSON lines, once at the
// end of files, or in live mode every interval over the last interval (or a
// sliding window of several).
//
// JSON, one object per row:
//   {"type": "request", "field": "body.request_time" | null,
//    "by": "web-1" | null, "count": 120, "min": 0.003, "mean": 0.04,
//    "p50": 0.02, "p90": 0.09, "p99": 0.31, "max": 0.52,
//    "rate": 12.0, "span": 10.0}
// `field` is null on a type's own row (count = events; min..p99..max null);
// `by` is null without --by and for events that lack the --by path; `rate`
// is count / span per second (null when the span is 0); live rows also
// carry "time", the Unix seconds at which the window ended.
// The table has the same columns (FIELD "-" on a type's row, BY only with
// --by), numbers to 6 significant digits; live tables are headed
// "== <UTC time>: last <N> s ==".
//
// Live windows: events are summed per interval (one Stats each, exact at
// the boundaries); a window of W seconds merges the last ceil(W / interval)
// intervals, so it moves by whole intervals. The rate's span is the time
// those intervals actually covered (less than W at the start).
//
// Thread-safety: none.

#ifndef ZIGGY_VIEWER_STATS_VIEW_H_
#define ZIGGY_VIEWER_STATS_VIEW_H_

#include <deque>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/reader/stats.h"

namespace ziggy {

struct StatsViewOptions {
  StatsOptions stats;
  bool json = false;  // JSON lines instead of the table
  // Live: print every `interval` over the last `window` (zero: interval).
  absl::Duration interval = absl::Seconds(10);
  absl::Duration window = absl::ZeroDuration();
};

// The table of `rows`, with a BY column when `by` is set.
std::string FormatStatsTable(const std::vector<StatsRow>& rows, bool by);
// One JSON object per row and line; with `time`, a "time" member too.
std::string FormatStatsJson(const std::vector<StatsRow>& rows,
                            absl::optional<absl::Time> time = absl::nullopt);

class StatsView {
 public:
  // Live mode times its intervals from `start`.
  StatsView(StatsViewOptions options, std::ostream& out,
            absl::Time start = absl::Now());

  // Counts one event that passed the viewer's filters.
  // REQUIRES: a valid BSON document (see Stats::Add).
  void Add(absl::string_view bson) { current_.Add(bson); }

  // Live: when an interval has ended by `now`, prints the window up to it.
  void Tick(absl::Time now);

  // Files: prints everything counted.
  void Finish();

 private:
  struct Slice {
    Stats stats;
    absl::Time start, end;
  };
  void Print(const std::vector<StatsRow>& rows,
             absl::optional<absl::Time> time);

  const StatsViewOptions options_;
  std::ostream& out_;
  Stats current_;
  absl::Time current_start_;
  std::deque<Slice> slices_;  // the window's finished intervals, oldest first
  size_t window_slices_;
};

}  // namespace ziggy

#endif  // ZIGGY_VIEWER_STATS_VIEW_H_
