// DashboardModel on generated events: rates and quantiles per bucket
// against what was added, the error share of a Where, the latest events,
// groups by id, top values, the bucket bound and STATUS.

#include "viewer/dashboard_model.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ziggy {
namespace {

using nlohmann::json;

constexpr double kT0 = 1700000000;  // a multiple of 5

std::string Request(const std::string& id, double end, double time, int status,
                    const std::string& host = "web-1",
                    const std::string& type = "request") {
  Event event;
  event.id = id;
  event.type = type;
  event.host = host;
  event.start = end - time;
  event.end = end;
  Value::Map response{{"status", Value(int64_t{status})}};
  event.body = Value(
      Value::Map{{"request_time", Value(time)}, {"response", Value(response)}});
  return EncodeEvent(event);
}

void Add(DashboardModel& model, const std::string& bson) {
  EventView event;
  std::string why;
  ASSERT_TRUE(InspectEvent(bson, &event, &why)) << why;
  model.Add(event, absl::FromUnixSeconds(kT0));
}

// Bucket 0: 10 requests, times 1..10, two 500s; bucket 1 (5 s later): 5
// requests, times 100, no error; a request.sql under id "r0".
void Fill(DashboardModel& model) {
  for (int i = 0; i < 10; ++i) {
    Add(model, Request(absl::StrCat("r", i), kT0 + 1, i + 1, i < 2 ? 500 : 200,
                       i % 2 ? "web-2" : "web-1"));
  }
  for (int i = 0; i < 5; ++i) {
    Add(model, Request(absl::StrCat("s", i), kT0 + 6, 100, 200));
  }
  Add(model, Request("r0", kT0 + 0.5, 0.25, 0, "web-1", "request.sql"));
}

TEST(DashboardModelTest, RatesPerTypeAndBucket) {
  DashboardModel model;
  Fill(model);
  const json rates = json::parse(model.Rates());
  EXPECT_EQ(rates["resolution"], 5);
  EXPECT_EQ(rates["time"], json({kT0, kT0 + 5}));
  EXPECT_EQ(rates["series"]["request"], json({2.0, 1.0}));  // 10/5, 5/5
  EXPECT_EQ(rates["series"]["request.sql"], json({0.2, 0.0}));
}

TEST(DashboardModelTest, QuantilesAndErrorShare) {
  DashboardModel model;
  Fill(model);
  const Where where = *Where::Parse("body.response.status >= 500");
  const json series =
      json::parse(model.Series("request", "body.request_time", &where));
  EXPECT_EQ(series["count"], json({10.0, 5.0}));
  EXPECT_EQ(series["p50"][0], 5);  // exact: few distinct values
  EXPECT_EQ(series["p90"][0], 9);
  EXPECT_EQ(series["p99"][0], 9);  // rank floor(0.99 x 9) = 8
  EXPECT_EQ(series["p99"][1], 100);
  EXPECT_EQ(series["error_share"], json({0.2, 0.0}));
  const json none = json::parse(model.Series("request", "", nullptr));
  EXPECT_EQ(none["p50"], json({nullptr, nullptr}));
  EXPECT_EQ(none["error_share"], json({nullptr, nullptr}));
}

TEST(DashboardModelTest, TypesListFieldsAndTheDefaultWhere) {
  DashboardModel model;
  Fill(model);
  const json types = json::parse(model.Types());
  ASSERT_EQ(types["types"].size(), 2u);
  EXPECT_EQ(types["types"][0]["name"], "request");
  EXPECT_EQ(types["types"][0]["count"], 15);
  EXPECT_EQ(types["types"][0]["fields"],
            json({"body.request_time", "body.response.status"}));
  EXPECT_EQ(types["default_where"], "body.response.status >= 500");
}

TEST(DashboardModelTest, LatestEventsNewestFirstAndGroups) {
  DashboardModel model;
  Fill(model);
  const json events = json::parse(model.Events("request", 3));
  ASSERT_EQ(events["events"].size(), 3u);
  EXPECT_EQ(events["events"][0]["id"], "s4");
  EXPECT_EQ(events["events"][2]["id"], "s2");
  const json group = json::parse(model.Event("r0"));
  EXPECT_EQ(group["parent"]["type"], "request");
  ASSERT_EQ(group["children"].size(), 1u);
  EXPECT_EQ(group["children"][0]["type"], "request.sql");
  EXPECT_EQ(model.Event("nope"), "");
}

TEST(DashboardModelTest, TopValues) {
  DashboardModel model;
  Fill(model);
  const json top = json::parse(model.Top("request", "host", 10));
  EXPECT_EQ(top["rows"], json::parse(R"([{"value":"web-1","count":10},)"
                                     R"({"value":"web-2","count":5}])"));
}

TEST(DashboardModelTest, KeepsOnlyTheNewestBuckets) {
  DashboardModelOptions options;
  options.max_buckets = 3;
  options.latest_per_type = 2;
  DashboardModel model(options);
  for (int i = 0; i < 10; ++i) {
    Add(model, Request(absl::StrCat("e", i), kT0 + 5 * i, 1, 200));
  }
  Add(model, Request("old", kT0, 1, 200));  // before the kept range
  const json rates = json::parse(model.Rates());
  EXPECT_EQ(rates["time"], json({kT0 + 35, kT0 + 40, kT0 + 45}));
  EXPECT_EQ(json::parse(model.Events("request", 200))["events"].size(), 2u);
}

TEST(DashboardModelTest, StatusKeepsTheLastAnswerWhenStale) {
  DashboardModel model;
  EXPECT_EQ(json::parse(model.Status())["status"], nullptr);
  model.SetStatus(R"({"received":3})", absl::FromUnixSeconds(kT0));
  model.SetStatusError("no answer");
  const json status = json::parse(model.Status());
  EXPECT_EQ(status["ok"], false);
  EXPECT_EQ(status["error"], "no answer");
  EXPECT_EQ(status["time"], kT0);
  EXPECT_EQ(status["status"]["received"], 3);
}

}  // namespace
}  // namespace ziggy
