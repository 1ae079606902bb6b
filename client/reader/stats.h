// Stats: per-type summaries of events — how many, over what span, at what
// rate, and count/min/mean/p50/p90/p99/max of every numeric body field —
// optionally split by the value of a field (--by). What `ziggyview --stats`
// prints; a reporting program feeds it events and reads rows.
//
// Fields: every int32, int64 and double at any depth under `body`, named by
// its dotted path from the event's top ("body.response.time", the paths
// --where uses). Booleans, datetimes, strings and the like are not numbers
// here; arrays are not entered; NaN and infinities are not counted.
//
// Rows, per type (sorted by name) and within it per --by value (by count,
// largest first, `other` last): one row for the events themselves (`field`
// empty: count, span, rate) followed by one row per field (sorted by path).
// span = the latest `end` minus the earliest `start` of the row's events,
// in seconds (events without numeric start/end do not widen it); rate =
// count / span per second (0 when the span is not positive). Quantiles come
// from QuantileSketch (quantile_sketch.h): within 1 % relative error, exact
// while a field has shown at most 16 distinct values.
//
// Bounded memory, whatever the input: at most `max_types` types,
// `max_fields` fields per type and `max_by_values` --by values per type are
// tracked, each counted as first met; later ones are summed into a type,
// field or --by value named "other". Rows() then keeps the `top_by` largest
// --by values and sums the rest into "other" as well. At most
// `max_sketches` (type, --by value, field) cells get a sketch, each at most
// 32 KiB (2 x 2048 buckets; a field's values spanning 1 ms to 1000 s use
// ~700 buckets, 5.6 KiB): beyond that, values of cells not yet tracked are
// counted only in untracked_values() (their events still count). So the
// sketches take at most max_sketches x 32 KiB (640 MiB at the defaults,
// a few MiB for real inputs), the rest O(max_types x max_by_values).
//
// Thread-safety: none; one Stats per thread, Merge() to combine.
//
//   ziggy::StatsOptions options;
//   options.by = "host";
//   options.fields = {"body.request_time"};
//   ziggy::Stats stats(options);
//   while (reader.Next(&doc)) stats.Add(doc);
//   for (const ziggy::StatsRow& row : stats.Rows())
//     if (!row.field.empty()) printf("%s %g\n", row.by.c_str(), row.p99);

#ifndef ZIGGY_CLIENT_READER_STATS_H_
#define ZIGGY_CLIENT_READER_STATS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "client/reader/quantile_sketch.h"

namespace ziggy {

struct StatsOptions {
  // Split every row by the value of this dotted path ("host",
  // "body.response.status"); empty: no split.
  std::string by;
  // Only these fields (dotted paths, "body.request_time"); empty: every
  // numeric field met in bodies.
  std::vector<std::string> fields;
  size_t max_types = 1000;
  size_t max_fields = 100;      // per type, "other" beyond
  size_t max_by_values = 1000;  // per type, "other" beyond
  size_t top_by = 50;           // --by values in Rows(), "other" beyond
  size_t max_sketches = 20000;  // (type, --by value, field) cells, in all
};

// The name of the type, field or --by value rows beyond a cap are summed in.
inline constexpr absl::string_view kStatsOther = "other";

struct StatsRow {
  std::string type;
  std::string field;    // empty on the row of the events themselves
  bool has_by = false;  // a --by split; by_missing: events without the path
  bool by_missing = false;
  std::string by;  // the value as text (strings as they are, numbers)
  uint64_t count = 0;
  double min = 0, mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;  // fields
  double span = 0;                                               // seconds
  double rate = 0;  // count / span per second; 0 when span <= 0
};

struct RowOptions {
  // Rates over this many seconds instead of each row's span (a live
  // window); span is then this too.
  absl::optional<double> span;
};

class Stats {
 public:
  explicit Stats(StatsOptions options = {});
  ~Stats();
  Stats(Stats&&) noexcept;
  Stats& operator=(Stats&&) noexcept;

  // Counts one event.
  // REQUIRES: `bson` is a valid BSON document (ValidateDocument, as
  // DocumentReader and ziggyview check); events without a string `type`
  // are not counted.
  void Add(absl::string_view bson);

  // Adds everything `other` counted (same options), e.g. per-second Stats
  // merged into a window.
  void Merge(const Stats& other);

  std::vector<StatsRow> Rows(const RowOptions& options = {}) const;

  // Events counted.
  uint64_t events() const { return events_; }
  // Numbers not counted because max_sketches cells were in use.
  uint64_t untracked_values() const { return untracked_values_; }

 private:
  struct Group;
  struct TypeStats;
  TypeStats* FindType(absl::string_view type);
  void AppendType(const std::string& name, const RowOptions& options,
                  std::vector<StatsRow>* rows) const;
  void AppendGroup(const std::string& type, const std::string& by_key,
                   const Group& group, const RowOptions& options,
                   std::vector<StatsRow>* rows) const;

  StatsOptions options_;
  absl::flat_hash_map<std::string, std::unique_ptr<TypeStats>> types_;
  TypeStats* last_ = nullptr;  // the previous event's: files come by type
  std::string last_name_;
  uint64_t events_ = 0;
  size_t sketches_ = 0;
  uint64_t untracked_values_ = 0;
};

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_READER_STATS_H_
