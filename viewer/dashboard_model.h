// DashboardModel: what `ziggyview --serve` keeps in memory to answer its
// JSON API (dashboard_api.h): events counted into time buckets, the latest
// events of each type, and the daemon's last STATUS.
//
// Buckets: an event falls in the bucket of its own `end` (the time it was
// added when it has none), `resolution` wide. Each bucket holds a Stats
// (client/reader/stats.h): per type the events, per type and numeric field
// a QuantileSketch (p50/p90/p99 within 1 %). Only the newest `max_buckets`
// buckets are kept (live: 15 min at 5 s by default); older events are not
// counted.
//
// Raw events: the newest `recent_events` (at most `recent_bytes` bytes) are
// kept as BSON, whatever their type, for what depends on an expression the
// page edits or a field it picks: the error share per bucket (a Where) and
// the top values of a field. Beside them the newest `latest_per_type`
// events of each of the first `max_types` types met, for the events table
// and the detail view (an event with its sub-events: every kept event with
// the same id).
//
// Memory: max_buckets Stats bounded by bucket_stats, whose sketches take
// at most max_sketches x 32 KiB each (a few KiB per sketch in practice:
// live, 180 buckets x ~10 fields x ~5 KiB ~ 9 MiB; the worst case 180 x
// 32 x 32 KiB = 180 MiB), recent_bytes, and max_types x latest_per_type
// events (each at most the daemon's event size limit).
//
// Every answer is a JSON text; times are Unix seconds.
//
// Thread-safety: thread-safe (one mutex); Add from the reading thread,
// queries from the HTTP server's.

#ifndef ZIGGY_VIEWER_DASHBOARD_MODEL_H_
#define ZIGGY_VIEWER_DASHBOARD_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/reader/stats.h"
#include "client/reader/where.h"
#include "viewer/event_files.h"

namespace ziggy {

struct DashboardModelOptions {
  absl::Duration resolution = absl::Seconds(5);
  size_t max_buckets = 180;  // 15 min at 5 s
  size_t latest_per_type = 200;
  size_t max_types = 100;  // types with a latest-events list
  size_t recent_events = 50000;
  size_t recent_bytes = 32 << 20;
  // Each bucket's Stats: 100 types, 32 fields per type, 32 sketches.
  StatsOptions bucket_stats = [] {
    StatsOptions stats;
    stats.max_types = 100;
    stats.max_fields = 32;
    stats.max_by_values = 100;
    stats.max_sketches = 32;
    return stats;
  }();
};

class DashboardModel {
 public:
  explicit DashboardModel(DashboardModelOptions options = {});

  // Counts one event (checked by InspectEvent); `now` stands for a missing
  // end time.
  void Add(const EventView& event, absl::Time now);

  // The daemon's last STATUS as a JSON object, or why it could not be had
  // (then the previous STATUS stays, marked stale).
  void SetStatus(std::string status_json, absl::Time when);
  void SetStatusError(std::string error);

  // {"resolution": 5, "types": [{"name", "count", "fields": [...]}],
  //  "default_where": "body.response.status >= 500" | ""}
  std::string Types() const;
  // {"resolution", "time": [t...], "series": {"type": [events/s...]}}, the
  // `max_series` types with the most events.
  std::string Rates(size_t max_series = 10) const;
  // For `type` and numeric `field` (may be empty): {"resolution", "time",
  // "count", "p50", "p90", "p99", "error_share"}; a bucket without values
  // is null; error_share is the share of the type's kept raw events in
  // the bucket that match `where` (null without a Where or kept events).
  std::string Series(const std::string& type, const std::string& field,
                     const Where* where) const;
  // {"events": [...]}: the newest `limit` events of `type`, newest first.
  std::string Events(const std::string& type, size_t limit) const;
  // {"id", "parent": {...} | null, "children": [...]}, or "" when no kept
  // event has that id.
  std::string Event(const std::string& id) const;
  // {"by", "rows": [{"value", "count"}]}: the `limit` most frequent values
  // of `by` among the kept raw events of `type` ("other" sums the rest).
  std::string Top(const std::string& type, const std::string& by,
                  size_t limit) const;
  // {"ok", "error", "time", "status": {...} | null}
  std::string Status() const;

 private:
  struct Raw {
    int64_t bucket;
    std::string type, id, bson;
  };
  int64_t BucketOf(const EventView& event, absl::Time now) const;
  void KeepRaw(Raw raw) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void KeepLatest(const Raw& raw) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // "\"resolution\":5,\"time\":[...]" for the kept buckets.
  std::string TimeAxis() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const DashboardModelOptions options_;
  mutable absl::Mutex mu_;
  std::map<int64_t, Stats> buckets_ ABSL_GUARDED_BY(mu_);
  std::deque<Raw> recent_ ABSL_GUARDED_BY(mu_);
  size_t recent_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, std::deque<std::string>> latest_
      ABSL_GUARDED_BY(mu_);
  std::string status_json_ ABSL_GUARDED_BY(mu_);
  std::string status_error_ ABSL_GUARDED_BY(mu_);
  absl::Time status_time_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace ziggy

#endif  // ZIGGY_VIEWER_DASHBOARD_MODEL_H_
