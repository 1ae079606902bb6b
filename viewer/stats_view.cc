#include "viewer/stats_view.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/reader/json.h"

namespace ziggy {
namespace {

void AppendNumber(double x, std::string* out) {
  if (!std::isfinite(x)) return out->append("null"), void();
  char text[32];
  const auto r = std::to_chars(text, text + sizeof text, x);
  out->append(text, r.ptr);
}

// A name that may be null: the field of a type's row, a missing --by value.
void AppendName(bool null, const std::string& name, std::string* out) {
  if (null) return out->append("null"), void();
  AppendJsonString(name, out);
}

std::string Cell(double x) { return absl::StrFormat("%.6g", x); }

// The table's cells of one row.
std::vector<std::string> Cells(const StatsRow& row, bool by) {
  std::vector<std::string> cells = {row.type};
  if (by) cells.push_back(row.by_missing ? "-" : row.by);
  cells.push_back(row.field.empty() ? "-" : row.field);
  cells.push_back(absl::StrCat(row.count));
  for (double x : {row.min, row.mean, row.p50, row.p90, row.p99, row.max}) {
    cells.push_back(row.field.empty() ? "" : Cell(x));
  }
  cells.push_back(row.span > 0 ? Cell(row.rate) : "-");
  cells.push_back(row.field.empty() ? Cell(row.span) : "");
  return cells;
}

}  // namespace

std::string FormatStatsTable(const std::vector<StatsRow>& rows, bool by) {
  std::vector<std::vector<std::string>> table = {
      {"TYPE", "FIELD", "COUNT", "MIN", "MEAN", "P50", "P90", "P99", "MAX",
       "RATE/S", "SPAN S"}};
  if (by) table[0].insert(table[0].begin() + 1, "BY");
  for (const StatsRow& row : rows) table.push_back(Cells(row, by));
  const size_t text_columns = by ? 3 : 2;  // left-aligned; numbers right
  std::vector<size_t> width(table[0].size(), 0);
  for (const auto& cells : table) {
    for (size_t i = 0; i < cells.size(); ++i) {
      width[i] = std::max(width[i], cells[i].size());
    }
  }
  std::string out;
  for (const auto& cells : table) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      const std::string pad(width[i] - cells[i].size(), ' ');
      if (i > 0) line += "  ";
      line += i < text_columns ? cells[i] + pad : pad + cells[i];
    }
    line.erase(line.find_last_not_of(' ') + 1);
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string FormatStatsJson(const std::vector<StatsRow>& rows,
                            absl::optional<absl::Time> time) {
  std::string out;
  for (const StatsRow& row : rows) {
    const bool events = row.field.empty();
    out += "{\"type\":";
    AppendJsonString(row.type, &out);
    out += ",\"field\":";
    AppendName(events, row.field, &out);
    out += ",\"by\":";
    AppendName(!row.has_by || row.by_missing, row.by, &out);
    absl::StrAppend(&out, ",\"count\":", row.count);
    const std::pair<const char*, double> numbers[] = {
        {"min", row.min}, {"mean", row.mean}, {"p50", row.p50},
        {"p90", row.p90}, {"p99", row.p99},   {"max", row.max}};
    for (const auto& [name, x] : numbers) {
      absl::StrAppend(&out, ",\"", name, "\":");
      AppendNumber(events ? NAN : x, &out);
    }
    out += ",\"rate\":";
    AppendNumber(row.span > 0 ? row.rate : NAN, &out);
    out += ",\"span\":";
    AppendNumber(row.span, &out);
    if (time) {
      out += ",\"time\":";
      AppendNumber(absl::ToDoubleSeconds(*time - absl::UnixEpoch()), &out);
    }
    out += "}\n";
  }
  return out;
}

StatsView::StatsView(StatsViewOptions options, std::ostream& out,
                     absl::Time start)
    : options_(std::move(options)),
      out_(out),
      current_(options_.stats),
      current_start_(start) {
  const absl::Duration window =
      options_.window > options_.interval ? options_.window : options_.interval;
  window_slices_ = static_cast<size_t>(
      std::ceil(absl::FDivDuration(window, options_.interval) - 1e-9));
}

void StatsView::Tick(absl::Time now) {
  if (now < current_start_ + options_.interval) return;
  const absl::Time end = current_start_ + options_.interval;
  slices_.push_back(
      {std::exchange(current_, Stats(options_.stats)), current_start_, end});
  current_start_ = end;
  if (now >= end + options_.interval) current_start_ = now;  // was stalled
  while (slices_.size() > window_slices_) slices_.pop_front();
  Stats window(options_.stats);
  for (const Slice& slice : slices_) window.Merge(slice.stats);
  RowOptions rows;
  rows.span = absl::ToDoubleSeconds(end - slices_.front().start);
  if (!options_.json) {
    out_ << "== "
         << absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", end, absl::UTCTimeZone())
         << ": last " << *rows.span << " s ==\n";
  }
  Print(window.Rows(rows), end);
}

void StatsView::Finish() { Print(current_.Rows(), absl::nullopt); }

void StatsView::Print(const std::vector<StatsRow>& rows,
                      absl::optional<absl::Time> time) {
  if (options_.json) {
    out_ << FormatStatsJson(rows, time);
  } else {
    out_ << FormatStatsTable(rows, !options_.stats.by.empty());
    if (time) out_ << "\n";
  }
  out_.flush();
}

}  // namespace ziggy
