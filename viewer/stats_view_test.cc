// ziggyview --stats on files (RunViewer) and StatsView's formats and live
// windows (StatsView with given times).

#include "viewer/stats_view.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/format/event.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "viewer/viewer.h"

namespace ziggy {
namespace {

using ::nlohmann::json;

constexpr double kDay = 1699920000;  // 2023-11-14 00:00 UTC

std::string Ev(const std::string& type, const std::string& host, double end,
               Value body) {
  Event e;
  e.type = type;
  e.host = host;
  e.start = end - 1;
  e.end = end;
  e.body = std::move(body);
  return EncodeEvent(e);
}

std::string Write(const std::string& rel, const std::string& bytes) {
  const std::string root = std::getenv("TEST_TMPDIR");
  std::string path = root;
  for (absl::string_view part : absl::StrSplit(rel, '/')) {
    mkdir(path.c_str(), 0755);
    absl::StrAppend(&path, "/", part);
  }
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// The collector's layout: a file per type per day. Request times 1..100
// ms (web-1 odd, web-2 even), statuses 200 but every tenth 500; sql rows.
std::string PerTypeLogs() {
  std::string day1, day2, sql;
  for (int i = 1; i <= 100; ++i) {
    const std::string ev =
        Ev("request", i % 2 ? "web-1" : "web-2", kDay + i,
           Value(Value::Map{
               {"request_time", i / 1000.0},
               {"response", Value(Value::Map{{"status", i % 10 ? 200 : 500}})},
               {"path", "/a"}}));
    (i <= 60 ? day1 : day2) += ev;
    sql += Ev("request.sql", "db", kDay + i, Value(Value::Map{{"rows", i}}));
  }
  Write("logs/20231114/request-20231114.log", day1);
  Write("logs/20231114/request.sql-20231114.log", sql);
  Write("logs/20231115/request-20231115.log", day2);
  return absl::StrCat(std::getenv("TEST_TMPDIR"), "/logs");
}

struct Output {
  int code;
  std::string out, err;
};

Output View(const ViewerOptions& options) {
  std::ostringstream out, err;
  const int code = RunViewer(options, out, err);
  return {code, out.str(), err.str()};
}

// JSON rows keyed "type|by|field" (null by or field: "-").
std::map<std::string, json> Rows(const std::string& out) {
  std::map<std::string, json> rows;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    json row = json::parse(line);
    const auto text = [](const json& j) {
      return j.is_null() ? std::string("-") : j.get<std::string>();
    };
    rows[absl::StrCat(text(row["type"]), "|", text(row["by"]), "|",
                      text(row["field"]))] = row;
  }
  return rows;
}

TEST(StatsViewTest, JsonRowsFromPerTypeFilesAcrossDays) {
  ViewerOptions options;
  options.log_paths = {PerTypeLogs()};
  options.stats = true;
  options.stats_json = true;
  const Output o = View(options);
  ASSERT_EQ(o.code, kViewOk) << o.err;
  const auto rows = Rows(o.out);
  ASSERT_EQ(rows.size(), 5u) << o.out;
  const json& request = rows.at("request|-|-");
  EXPECT_EQ(request["count"], 100);
  EXPECT_EQ(request["span"], 100);  // first start kDay + 0, last end + 100
  EXPECT_EQ(request["rate"], 1);
  EXPECT_TRUE(request["p99"].is_null());
  const json& time = rows.at("request|-|body.request_time");
  EXPECT_EQ(time["count"], 100);
  EXPECT_EQ(time["min"], 0.001);
  EXPECT_EQ(time["max"], 0.1);
  EXPECT_NEAR(time["mean"].get<double>(), 0.0505, 1e-12);
  EXPECT_NEAR(time["p50"].get<double>(), 0.050, 0.0005);  // rank 49: 50 ms
  EXPECT_NEAR(time["p90"].get<double>(), 0.090, 0.0009);
  EXPECT_NEAR(time["p99"].get<double>(), 0.099, 0.00099);
  const json& status = rows.at("request|-|body.response.status");
  EXPECT_EQ(status["p50"], 200);  // 200 within 1 %: the bucket's value...
  EXPECT_NEAR(status["p99"].get<double>(), 500, 5);
  EXPECT_EQ(rows.at("request.sql|-|body.rows")["max"], 100);
  const std::vector<std::string> keys = {"type", "field", "by",   "count",
                                         "min",  "mean",  "p50",  "p90",
                                         "p99",  "max",   "rate", "span"};
  for (const auto& [key, row] : rows) {
    std::vector<std::string> got;
    for (auto it = row.begin(); it != row.end(); ++it) got.push_back(it.key());
    EXPECT_EQ(got.size(), keys.size()) << row;
    for (const std::string& k : keys) EXPECT_TRUE(row.contains(k)) << k;
  }
}

TEST(StatsViewTest, ByHostSplitsEveryRowAndTypeFilterApplies) {
  ViewerOptions options;
  options.log_paths = {PerTypeLogs()};
  options.stats = true;
  options.stats_json = true;
  options.stats_by = "host";
  options.type = "request";
  options.stats_fields = {"body.request_time"};
  const Output o = View(options);
  ASSERT_EQ(o.code, kViewOk) << o.err;
  const auto rows = Rows(o.out);
  ASSERT_EQ(rows.size(), 4u) << o.out;  // no request.sql, no status
  EXPECT_EQ(rows.at("request|web-1|-")["count"], 50);
  EXPECT_EQ(rows.at("request|web-1|body.request_time")["max"], 0.099);
  EXPECT_EQ(rows.at("request|web-2|body.request_time")["min"], 0.002);
}

// --stats counts only what --where keeps, and --fields names its rows.
TEST(StatsViewTest, WhereAndFieldsChooseWhatIsSummarised) {
  ViewerOptions options;
  options.log_paths = {PerTypeLogs()};
  options.stats = true;
  options.stats_json = true;
  options.where = "body.response.status >= 500 or type == \"request.sql\"";
  options.fields = "body.request_time,body.rows";
  const Output o = View(options);
  ASSERT_EQ(o.code, kViewOk) << o.err;
  const auto rows = Rows(o.out);
  ASSERT_EQ(rows.size(), 4u) << o.out;             // no status row
  EXPECT_EQ(rows.at("request|-|-")["count"], 10);  // every tenth is a 500
  EXPECT_EQ(rows.at("request|-|body.request_time")["min"], 0.01);
  EXPECT_EQ(rows.at("request|-|body.request_time")["max"], 0.1);
  EXPECT_EQ(rows.at("request.sql|-|body.rows")["count"], 100);
}

TEST(StatsViewTest, TableByDefault) {
  ViewerOptions options;
  options.log_paths = {PerTypeLogs()};
  options.stats = true;
  options.stats_by = "host";
  options.type = "request.sql";
  const Output o = View(options);
  ASSERT_EQ(o.code, kViewOk) << o.err;
  EXPECT_EQ(o.out,
            "TYPE         BY  FIELD      COUNT  MIN  MEAN     P50      P90  "
            "    P99  MAX  RATE/S  SPAN S\n"
            "request.sql  db  -            100                              "
            "                   1     100\n"
            "request.sql  db  body.rows    100    1  50.5  49.903  89.1303  "
            "98.5046  100       1\n");
}

TEST(StatsViewTest, FlagErrors) {
  ViewerOptions options;
  options.files = {"/nonexistent"};
  options.stats_by = "host";
  EXPECT_EQ(View(options).err, "ziggyview: --json and --by go with --stats\n");
  options.stats = true;
  options.group = true;
  EXPECT_EQ(View(options).code, kViewError);
}

TEST(StatsViewTest, LiveIntervalsAndSlidingWindow) {
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  StatsViewOptions options;
  options.json = true;
  options.interval = absl::Seconds(10);
  options.window = absl::Seconds(30);
  std::ostringstream out;
  StatsView view(options, out, t0);
  const std::string ev = Ev("r", "h", 1, Value(Value::Map{{"v", 1}}));
  auto tick = [&](int seconds) {
    out.str("");
    view.Tick(t0 + absl::Seconds(seconds));
    return Rows(out.str());
  };
  for (int i = 0; i < 5; ++i) view.Add(ev);
  EXPECT_TRUE(tick(9).empty());
  auto rows = tick(10);
  EXPECT_EQ(rows.at("r|-|-")["count"], 5);
  EXPECT_EQ(rows.at("r|-|-")["rate"], 0.5);  // 5 in the 10 s so far
  EXPECT_EQ(rows.at("r|-|-")["time"], 1700000010);
  for (int i = 0; i < 3; ++i) view.Add(ev);
  EXPECT_EQ(tick(20).at("r|-|-")["count"], 8);
  EXPECT_EQ(tick(30).at("r|-|-")["count"], 8);
  rows = tick(40);  // the first interval left the 30 s window
  EXPECT_EQ(rows.at("r|-|-")["count"], 3);
  EXPECT_EQ(rows.at("r|-|-")["span"], 30);
  EXPECT_TRUE(tick(50).empty());  // nothing in the last 30 s
}

TEST(StatsViewTest, LiveTableHasAHeader) {
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  std::ostringstream out;
  StatsViewOptions options;
  options.interval = absl::Seconds(2);
  StatsView view(options, out, t0);
  view.Add(Ev("r", "h", 1, Value::MakeMap()));
  view.Tick(t0 + absl::Seconds(2));
  EXPECT_EQ(
      out.str(),
      "== 2023-11-14 22:13:22 UTC: last 2 s ==\n"
      "TYPE  FIELD  COUNT  MIN  MEAN  P50  P90  P99  MAX  RATE/S  SPAN S\n"
      "r     -          1                                    0.5       2\n"
      "\n");
}

}  // namespace
}  // namespace ziggy
