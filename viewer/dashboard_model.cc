#include "viewer/dashboard_model.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/optional.h"
#include "client/reader/grouper.h"
#include "client/reader/json.h"

namespace ziggy {
namespace {

using Numbers = std::vector<absl::optional<double>>;

// A finite number as JSON (6 significant digits), null otherwise.
void AppendNumber(absl::optional<double> x, std::string* out) {
  if (!x.has_value() || !std::isfinite(*x)) {
    out->append("null");
  } else {
    absl::StrAppend(out, *x);
  }
}

std::string NumberArray(const Numbers& numbers) {
  std::string out = "[";
  for (size_t i = 0; i < numbers.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendNumber(numbers[i], &out);
  }
  out.push_back(']');
  return out;
}

std::string Quoted(absl::string_view text) {
  std::string out;
  AppendJsonString(text, &out);
  return out;
}

// The rows of `stats` for `type`: the events' own (field "") and its
// fields'.
std::vector<StatsRow> RowsOf(const Stats& stats, const std::string& type) {
  std::vector<StatsRow> rows;
  for (StatsRow& row : stats.Rows()) {
    if (row.type == type) rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

DashboardModel::DashboardModel(DashboardModelOptions options)
    : options_(std::move(options)) {}

int64_t DashboardModel::BucketOf(const EventView& event, absl::Time now) const {
  const double end = event.has_end ? event.end : absl::ToUnixMicros(now) / 1e6;
  return static_cast<int64_t>(
      std::floor(end / absl::ToDoubleSeconds(options_.resolution)));
}

void DashboardModel::Add(const EventView& event, absl::Time now) {
  const int64_t bucket = BucketOf(event, now);
  absl::MutexLock lock(&mu_);
  const int64_t newest = buckets_.empty() ? bucket : buckets_.rbegin()->first;
  const int64_t oldest =
      std::max(newest, bucket) - static_cast<int64_t>(options_.max_buckets) + 1;
  if (bucket < oldest) return;  // older than the kept range
  auto it = buckets_.find(bucket);
  if (it == buckets_.end()) {
    it = buckets_.emplace(bucket, Stats(options_.bucket_stats)).first;
  }
  it->second.Add(event.bson);
  while (buckets_.begin()->first < oldest) buckets_.erase(buckets_.begin());
  Raw raw{bucket, std::string(event.type), std::string(event.id),
          std::string(event.bson)};
  KeepLatest(raw);
  KeepRaw(std::move(raw));
}

void DashboardModel::KeepLatest(const Raw& raw) {
  auto it = latest_.find(raw.type);
  if (it == latest_.end()) {
    if (latest_.size() >= options_.max_types) return;
    it = latest_.emplace(raw.type, std::deque<std::string>()).first;
  }
  it->second.push_back(raw.bson);
  if (it->second.size() > options_.latest_per_type) it->second.pop_front();
}

void DashboardModel::KeepRaw(Raw raw) {
  recent_bytes_ += raw.bson.size();
  recent_.push_back(std::move(raw));
  while (!recent_.empty() && (recent_.size() > options_.recent_events ||
                              recent_bytes_ > options_.recent_bytes)) {
    recent_bytes_ -= recent_.front().bson.size();
    recent_.pop_front();
  }
}

void DashboardModel::SetStatus(std::string status_json, absl::Time when) {
  absl::MutexLock lock(&mu_);
  status_json_ = std::move(status_json);
  status_error_.clear();
  status_time_ = when;
}

void DashboardModel::SetStatusError(std::string error) {
  absl::MutexLock lock(&mu_);
  status_error_ = std::move(error);
}

std::string DashboardModel::TimeAxis() const {
  const double resolution = absl::ToDoubleSeconds(options_.resolution);
  std::string out = absl::StrCat("\"resolution\":", resolution, ",\"time\":[");
  if (!buckets_.empty()) {
    for (int64_t b = buckets_.begin()->first; b <= buckets_.rbegin()->first;
         ++b) {
      if (b != buckets_.begin()->first) out.push_back(',');
      absl::StrAppend(&out, absl::StrFormat("%.15g", b * resolution));
    }
  }
  out.push_back(']');
  return out;
}

std::string DashboardModel::Types() const {
  absl::MutexLock lock(&mu_);
  Stats all(options_.bucket_stats);
  for (const auto& [bucket, stats] : buckets_) all.Merge(stats);
  std::string out = absl::StrCat(
      "{\"resolution\":", absl::ToDoubleSeconds(options_.resolution),
      ",\"types\":[");
  bool status_field = false;
  std::string current;
  for (const StatsRow& row : all.Rows()) {
    if (row.field.empty()) {
      if (!current.empty()) out.append("]},");
      current = row.type;
      absl::StrAppend(&out, "{\"name\":", Quoted(row.type),
                      ",\"count\":", row.count, ",\"fields\":[");
    } else {
      if (out.back() != '[') out.push_back(',');
      out.append(Quoted(row.field));
      status_field |= row.field == "body.response.status";
    }
  }
  if (!current.empty()) out.append("]}");
  absl::StrAppend(&out, "],\"default_where\":",
                  Quoted(status_field ? "body.response.status >= 500" : ""),
                  "}");
  return out;
}

std::string DashboardModel::Rates(size_t max_series) const {
  absl::MutexLock lock(&mu_);
  absl::flat_hash_map<std::string, Numbers> series;
  std::vector<std::pair<uint64_t, std::string>> totals;
  absl::flat_hash_map<std::string, uint64_t> total;
  const size_t points = buckets_.empty()
                            ? 0
                            : static_cast<size_t>(buckets_.rbegin()->first -
                                                  buckets_.begin()->first + 1);
  const double resolution = absl::ToDoubleSeconds(options_.resolution);
  for (const auto& [bucket, stats] : buckets_) {
    const size_t i = static_cast<size_t>(bucket - buckets_.begin()->first);
    for (const StatsRow& row : stats.Rows()) {
      if (!row.field.empty()) continue;
      Numbers& numbers = series[row.type];
      if (numbers.empty()) numbers.assign(points, 0.0);
      numbers[i] = static_cast<double>(row.count) / resolution;
      total[row.type] += row.count;
    }
  }
  for (const auto& [type, count] : total) totals.emplace_back(count, type);
  std::sort(totals.rbegin(), totals.rend());
  if (totals.size() > max_series) totals.resize(max_series);
  std::string out = absl::StrCat("{", TimeAxis(), ",\"series\":{");
  for (size_t i = 0; i < totals.size(); ++i) {
    absl::StrAppend(&out, i > 0 ? "," : "", Quoted(totals[i].second), ":",
                    NumberArray(series[totals[i].second]));
  }
  out.append("}}");
  return out;
}

std::string DashboardModel::Series(const std::string& type,
                                   const std::string& field,
                                   const Where* where) const {
  absl::MutexLock lock(&mu_);
  const int64_t first = buckets_.empty() ? 0 : buckets_.begin()->first;
  const size_t points =
      buckets_.empty()
          ? 0
          : static_cast<size_t>(buckets_.rbegin()->first - first + 1);
  Numbers count(points, 0.0), p50(points), p90(points), p99(points),
      share(points);
  for (const auto& [bucket, stats] : buckets_) {
    const size_t i = static_cast<size_t>(bucket - first);
    for (const StatsRow& row : RowsOf(stats, type)) {
      if (row.field.empty()) count[i] = static_cast<double>(row.count);
      if (field.empty() || row.field != field) continue;
      p50[i] = row.p50;
      p90[i] = row.p90;
      p99[i] = row.p99;
    }
  }
  if (where != nullptr) {
    std::vector<std::pair<uint64_t, uint64_t>> matched(points);  // (hit, all)
    for (const Raw& raw : recent_) {
      if (raw.type != type || raw.bucket < first) continue;
      auto& [hits, all] = matched[static_cast<size_t>(raw.bucket - first)];
      ++all;
      if (where->Matches(raw.bson)) ++hits;
    }
    for (size_t i = 0; i < points; ++i) {
      if (matched[i].second > 0) {
        share[i] = static_cast<double>(matched[i].first) / matched[i].second;
      }
    }
  }
  return absl::StrCat("{", TimeAxis(), ",\"count\":", NumberArray(count),
                      ",\"p50\":", NumberArray(p50),
                      ",\"p90\":", NumberArray(p90),
                      ",\"p99\":", NumberArray(p99),
                      ",\"error_share\":", NumberArray(share), "}");
}

std::string DashboardModel::Events(const std::string& type,
                                   size_t limit) const {
  absl::MutexLock lock(&mu_);
  std::string out = "{\"events\":[";
  auto it = latest_.find(type);
  if (it != latest_.end()) {
    size_t n = 0;
    for (auto e = it->second.rbegin(); e != it->second.rend() && n < limit;
         ++e, ++n) {
      if (n > 0) out.push_back(',');
      internal::AppendValidatedJson(*e, &out);
    }
  }
  out.append("]}");
  return out;
}

std::string DashboardModel::Event(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  // Every kept event with this id, once (an event may be in both lists).
  absl::flat_hash_set<absl::string_view> seen;
  std::string parent, children;
  auto visit = [&](absl::string_view bson) {
    EventView event;
    std::string why;
    if (!InspectEvent(bson, &event, &why) || event.id != id ||
        !seen.insert(bson).second) {
      return;
    }
    std::string* to =
        IsTopLevelType(event.type) && parent.empty() ? &parent : &children;
    if (to == &children && !children.empty()) children.push_back(',');
    internal::AppendValidatedJson(bson, to);
  };
  for (const auto& [type, events] : latest_) {
    for (const std::string& bson : events) visit(bson);
  }
  for (const Raw& raw : recent_) {
    if (raw.id == id) visit(raw.bson);
  }
  if (seen.empty()) return "";
  return absl::StrCat("{\"id\":", Quoted(id),
                      ",\"parent\":", parent.empty() ? "null" : parent,
                      ",\"children\":[", children, "]}");
}

std::string DashboardModel::Top(const std::string& type, const std::string& by,
                                size_t limit) const {
  StatsOptions options;
  options.by = by;
  options.fields = {"-"};  // no field rows: only the events' own
  options.top_by = limit;
  Stats stats(options);
  {
    absl::MutexLock lock(&mu_);
    for (const Raw& raw : recent_) {
      if (raw.type == type) stats.Add(raw.bson);
    }
  }
  std::string out = absl::StrCat("{\"by\":", Quoted(by), ",\"rows\":[");
  bool first = true;
  for (const StatsRow& row : stats.Rows()) {
    if (!row.field.empty()) continue;
    absl::StrAppend(&out, first ? "" : ",",
                    "{\"value\":", row.by_missing ? "null" : Quoted(row.by),
                    ",\"count\":", row.count, "}");
    first = false;
  }
  out.append("]}");
  return out;
}

std::string DashboardModel::Status() const {
  absl::MutexLock lock(&mu_);
  std::string out =
      absl::StrCat("{\"ok\":", status_error_.empty() ? "true" : "false",
                   ",\"error\":", Quoted(status_error_), ",\"time\":");
  if (status_time_ == absl::InfinitePast()) {
    out.append("null");
  } else {
    absl::StrAppend(&out, absl::ToUnixSeconds(status_time_));
  }
  absl::StrAppend(
      &out, ",\"status\":", status_json_.empty() ? "null" : status_json_, "}");
  return out;
}

}  // namespace ziggy
