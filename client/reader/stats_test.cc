#include "client/reader/stats.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

std::string Ev(const std::string& type, double start, double end, Value body,
               const std::string& host = "web-1") {
  Event e;
  e.type = type;
  e.host = host;
  e.start = start;
  e.end = end;
  e.body = std::move(body);
  return EncodeEvent(e);
}

// Rows keyed "type|by|field".
std::map<std::string, StatsRow> Index(const std::vector<StatsRow>& rows) {
  std::map<std::string, StatsRow> index;
  for (const StatsRow& r : rows) {
    index[absl::StrCat(r.type, "|", r.by_missing ? "-" : r.by, "|", r.field)] =
        r;
  }
  return index;
}

double Exact(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * (v.size() - 1))];
}

void ExpectField(const StatsRow& row, const std::vector<double>& values) {
  ASSERT_EQ(row.count, values.size()) << row.field;
  EXPECT_EQ(row.min, *std::min_element(values.begin(), values.end()));
  EXPECT_EQ(row.max, *std::max_element(values.begin(), values.end()));
  double sum = 0;
  for (double x : values) sum += x;
  EXPECT_NEAR(row.mean, sum / values.size(), 1e-9 * std::abs(sum));
  for (auto [q, got] :
       {std::make_pair(0.5, row.p50), std::make_pair(0.9, row.p90),
        std::make_pair(0.99, row.p99)}) {
    const double exact = Exact(values, q);
    EXPECT_LE(std::abs(got - exact), 0.01 * std::abs(exact) * 1.000001)
        << row.field << " q=" << q << " exact " << exact << " got " << got;
  }
}

TEST(StatsTest, PerTypeAndPerFieldNumbersAgainstExactAnswers) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> time(-4, 1.5);
  std::uniform_int_distribution<int> status(0, 9);
  Stats stats;
  std::vector<double> times, statuses, bytes, deltas;
  double last_end = 0;
  for (int i = 0; i < 20000; ++i) {
    const double t = time(rng);
    const int s = status(rng) == 0 ? 500 : 200;
    const int64_t b = int64_t{1} << (i % 40);  // int64 beyond int32
    const double delta = (i % 5) - 2.5 + (i % 3 == 0 ? 0 : 0.5);
    times.push_back(t), statuses.push_back(s), bytes.push_back(b);
    deltas.push_back(delta);
    last_end = std::max(last_end, 1000 + i * 0.01 + t);
    stats.Add(Ev(
        "request", 1000 + i * 0.01, 1000 + i * 0.01 + t,
        Value(Value::Map{
            {"request_time", t},
            {"response",
             Value(Value::Map{{"status", s}, {"bytes", b}, {"ok", s == 200}})},
            {"delta", delta},
            {"path", "/x"},
            {"list", Value::MakeList({1, 2, 3})}})));
  }
  stats.Add(Ev("job", 10, 30, Value(Value::Map{{"n", 1}})));
  stats.Add(Ev("job", 20, 25, Value(Value::Map{{"n", 3}})));
  EXPECT_EQ(stats.events(), 20002u);
  const auto rows = Index(stats.Rows());
  ASSERT_EQ(rows.size(), 7u);  // 2 type rows, 4 + 1 fields
  const StatsRow& job = rows.at("job||");
  EXPECT_EQ(job.count, 2u);
  EXPECT_EQ(job.span, 20);  // first start 10, last end 30
  EXPECT_EQ(job.rate, 0.1);
  EXPECT_FALSE(job.has_by);
  EXPECT_EQ(rows.at("job||body.n").mean, 2);
  const StatsRow& request = rows.at("request||");
  EXPECT_EQ(request.count, 20000u);
  EXPECT_NEAR(request.span, last_end - 1000, 1e-9);
  EXPECT_NEAR(request.rate, 20000 / request.span, 1e-9);
  ExpectField(rows.at("request||body.request_time"), times);
  ExpectField(rows.at("request||body.response.status"), statuses);
  ExpectField(rows.at("request||body.response.bytes"), bytes);
  ExpectField(rows.at("request||body.delta"), deltas);  // negatives, zeros
  EXPECT_NEAR(rows.at("request||body.delta").rate, 20000 / request.span, 1e-9);
  // Rows: types by name, the events' row before its fields, fields by path.
  const auto list = stats.Rows();
  EXPECT_EQ(list[0].type, "job");
  EXPECT_EQ(list[2].field, "");
  EXPECT_EQ(list[3].field, "body.delta");
  EXPECT_EQ(list[6].field, "body.response.status");
}

TEST(StatsTest, ByKeepsTheTop50AndSumsTheRestAsOther) {
  StatsOptions options;
  options.by = "host";
  Stats stats(options);
  uint64_t rest = 0;
  std::vector<double> rest_values;
  for (int h = 0; h < 60; ++h) {  // host h has h + 1 events
    for (int i = 0; i <= h; ++i) {
      stats.Add(Ev("request", 0, 10, Value(Value::Map{{"v", h}}),
                   absl::StrCat("host", h)));
      if (h < 10) rest_values.push_back(h);
    }
    if (h < 10) rest += h + 1;
  }
  stats.Add(EncodeDocument(
      Value(Value::Map{// no host: the --by path absent
                       {"type", "request"},
                       {"body", Value(Value::Map{{"v", 1000}})}})));
  const auto rows = stats.Rows();
  // 50 hosts + the missing one... the top 50 by count are host59..host10.
  std::vector<std::string> bys;
  for (const StatsRow& r : rows) {
    EXPECT_TRUE(r.has_by);
    if (r.field.empty()) bys.push_back(r.by_missing ? "-" : r.by);
  }
  ASSERT_EQ(bys.size(), 51u);
  EXPECT_EQ(bys.front(), "host59");
  EXPECT_EQ(bys[49], "host10");
  EXPECT_EQ(bys.back(), "other");
  const auto index = Index(rows);
  EXPECT_EQ(index.at("request|host59|").count, 60u);
  EXPECT_EQ(index.at("request|other|").count, rest + 1);  // + the missing
  rest_values.push_back(1000);
  ExpectField(index.at("request|other|body.v"), rest_values);

  options.top_by = 100;
  Stats all(options);
  all.Merge(stats);
  const auto all_rows = Index(all.Rows());
  EXPECT_EQ(all_rows.at("request|-|").count, 1u);
  EXPECT_TRUE(all_rows.at("request|-|").by_missing);
  EXPECT_EQ(all_rows.at("request|host3|body.v").max, 3);
}

TEST(StatsTest, ByNumbersBooleansAndNestedPaths) {
  StatsOptions options;
  options.by = "body.response.status";
  Stats stats(options);
  for (int i = 0; i < 10; ++i) {
    stats.Add(
        Ev("r", 0, 1,
           Value(Value::Map{{"response", Value(Value::Map{
                                             {"status", i < 7 ? 200 : 500},
                                         })}})));
  }
  const auto rows = Index(stats.Rows());
  EXPECT_EQ(rows.at("r|200|").count, 7u);
  EXPECT_EQ(rows.at("r|500|").count, 3u);
  EXPECT_EQ(rows.at("r|500|body.response.status").min, 500);
}

TEST(StatsTest, CapsSumTheRestAsOther) {
  StatsOptions options;
  options.max_types = 2;
  options.max_fields = 2;
  options.by = "host";
  options.max_by_values = 3;
  Stats stats(options);
  for (int i = 0; i < 10; ++i) {
    stats.Add(Ev(absl::StrCat("t", i % 3), 0, 1,
                 Value(Value::Map{{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}}),
                 absl::StrCat("h", i)));
  }
  const auto rows = Index(stats.Rows());
  // t0 and t1 kept; t2's events are in type "other".
  EXPECT_EQ(rows.at("t0|h0|").count, 1u);
  EXPECT_EQ(rows.count("t2|h2|"), 0u);
  EXPECT_EQ(rows.at("other|h2|").count, 1u);
  // Hosts beyond the third of a type: "other" (t0 has h0 h3 h6 h9).
  EXPECT_EQ(rows.at("t0|other|").count, 1u);
  // Fields beyond the second: "other" holds c and d.
  const StatsRow& other = rows.at("t0|h0|other");
  EXPECT_EQ(other.count, 2u);
  EXPECT_EQ(other.min, 3);
  EXPECT_EQ(other.max, 4);
  EXPECT_EQ(rows.at("t0|h0|body.a").count, 1u);
}

TEST(StatsTest, SketchesBeyondMaxSketchesAreNotMade) {
  StatsOptions options;
  options.max_sketches = 3;
  Stats stats(options), merged(options);
  for (int i = 0; i < 2; ++i) {
    stats.Add(Ev("t", 0, 1,
                 Value(Value::Map{{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}})));
  }
  EXPECT_EQ(stats.events(), 2u);
  EXPECT_EQ(stats.untracked_values(), 2u);  // d, twice
  auto rows = Index(stats.Rows());
  EXPECT_EQ(rows.size(), 4u);  // the type's, a, b, c
  EXPECT_EQ(rows.at("t||").count, 2u);
  EXPECT_EQ(rows.count("t||body.d"), 0u);
  merged.Add(Ev("u", 0, 1, Value(Value::Map{{"x", 1}, {"y", 2}})));
  merged.Merge(stats);  // room for one of a, b, c: 2 + 2 values refused
  EXPECT_EQ(merged.untracked_values(), 6u);
  EXPECT_EQ(Index(merged.Rows()).size(), 5u);  // u, x, y, t, and one field
}

TEST(StatsTest, OnlyTheFieldsAskedFor) {
  StatsOptions options;
  options.fields = {"body.b", "body.x.y", "body.absent"};
  Stats stats(options);
  stats.Add(
      Ev("t", 0, 1,
         Value(Value::Map{
             {"a", 1}, {"b", 2.5}, {"x", Value(Value::Map{{"y", -7}})}})));
  const auto rows = Index(stats.Rows());
  EXPECT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows.at("t||body.b").p50, 2.5);
  EXPECT_EQ(rows.at("t||body.x.y").p99, -7);
}

TEST(StatsTest, MergedPerSecondStatsEqualOneAndSpanOverride) {
  Stats total, a, b;
  for (int i = 0; i < 1000; ++i) {
    const std::string ev =
        Ev(i % 2 ? "x" : "y", i, i + 1, Value(Value::Map{{"v", i * 1.5}}));
    total.Add(ev);
    (i < 500 ? a : b).Add(ev);
  }
  a.Merge(b);
  RowOptions window;
  window.span = 100;
  const auto merged = a.Rows(window), direct = total.Rows(window);
  ASSERT_EQ(merged.size(), direct.size());
  for (size_t i = 0; i < merged.size(); ++i) {
    EXPECT_EQ(merged[i].count, direct[i].count);
    EXPECT_EQ(merged[i].p90, direct[i].p90);
    EXPECT_EQ(merged[i].span, 100);
    EXPECT_EQ(merged[i].rate, merged[i].count / 100.0);
  }
}

TEST(StatsTest, EventsWithoutTypeOrBodyOrTimes) {
  Stats stats;
  stats.Add(EncodeDocument(Value(Value::Map{{"body", Value::MakeMap()}})));
  stats.Add(EncodeDocument(Value(Value::Map{{"type", "t"}})));
  EXPECT_EQ(stats.events(), 1u);
  const auto rows = stats.Rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].span, 0);
  EXPECT_EQ(rows[0].rate, 0);
}

}  // namespace
}  // namespace ziggy
