// ziggyview --serve end to end: a real ziggyd fed by the test, the built
// ziggyview serving its dashboard live (-H) and from files (--log-path),
// the JSON API checked against what was sent, and headless Chromium
// rendering the page (charts drawn, events table filled). Chromium is
// Debian's `chromium`, installed by tools/install-test-tools.sh: the
// browser test fails, never skips, without it.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "client/reader/zstd_testing.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/process.h"
#include "tests/ziggyd.h"

namespace ziggy::testing {
namespace {

using nlohmann::json;

constexpr int64_t kDayStart = 1699920000;  // 2023-11-14 00:00:00 UTC
constexpr double kEnd = kDayStart + 61;    // every request: one 5 s bucket
constexpr int kRequests = 20;              // 4 of them 500s
constexpr char kChromium[] = "/usr/bin/chromium";

std::string Id(int i) { return absl::StrFormat("%032x", i + 1); }

// Request i: request_time (i + 1) / 100 s, status 500 when i % 5 == 0,
// host web-1 or web-2; or its sub-event `sql` (0 or 1) of type request.sql.
std::string RequestEvent(int i, int sql = -1) {
  Event e;
  e.id = Id(i);
  e.type = sql < 0 ? "request" : "request.sql";
  e.host = i % 2 ? "web-2" : "web-1";
  e.end = kEnd;
  e.start = kEnd - 0.5;
  if (sql < 0) {
    e.body = Value(Value::Map{
        {"request_time", (i + 1) / 100.0},
        {"path", absl::StrCat("/item/", i)},
        {"response", Value(Value::Map{{"status", i % 5 == 0 ? 500 : 200}})}});
  } else {
    e.body = Value(
        Value::Map{{"query", absl::StrCat("SELECT ", sql)}, {"rows", sql + 1}});
  }
  return EncodeEvent(e);
}

std::string Warmup(int i) {
  Event e;
  e.id = Id(1000 + i);
  e.type = "warmup";
  e.end = kDayStart + 1;
  return EncodeEvent(e);
}

// A running `ziggyview --serve=127.0.0.1:0 ...` and the URL it printed.
struct Dashboard {
  std::unique_ptr<Subprocess> process;
  std::string url;  // "http://127.0.0.1:PORT/"
  int port = 0;
};

std::unique_ptr<Dashboard> StartDashboard(std::vector<std::string> flags) {
  std::vector<std::string> argv = {RunfilesPath("viewer/ziggyview"),
                                   "--serve=127.0.0.1:0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto dashboard = std::make_unique<Dashboard>();
  dashboard->process = Subprocess::Start(argv);
  const std::regex printed("dashboard: (http://127\\.0\\.0\\.1:([0-9]+)/)\n");
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  std::smatch match;
  while (absl::Now() < deadline) {
    const std::string out = dashboard->process->Stdout();
    if (std::regex_search(out, match, printed)) {
      dashboard->url = match[1];
      dashboard->port = std::stoi(match[2]);
      return dashboard;
    }
    if (!dashboard->process->running()) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  ADD_FAILURE() << "no dashboard URL; stderr: " << dashboard->process->Stderr();
  return nullptr;
}

// GET path?params: (status, body); status -1 when nothing came back.
std::pair<int, std::string> Get(int port, const std::string& path,
                                const httplib::Params& params = {}) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10);
  httplib::Result got = client.Get(path, params, httplib::Headers());
  if (!got) return {-1, httplib::to_string(got.error())};
  return {got->status, got->body};
}

json GetJson(int port, const std::string& path,
             const httplib::Params& params = {}) {
  auto [status, body] = Get(port, path, params);
  EXPECT_EQ(status, 200) << path << ": " << body;
  return status == 200 ? json::parse(body) : json();
}

// The count of `type` in /api/types (0 when absent).
int64_t TypeCount(int port, const std::string& type) {
  auto [status, body] = Get(port, "/api/types");
  if (status != 200) return 0;
  const json types = json::parse(body);
  for (const json& t : types["types"]) {
    if (t["name"] == type) return t["count"];
  }
  return 0;
}

bool WaitFor(const std::function<bool()>& condition,
             absl::Duration timeout = absl::Seconds(20)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return true;
}

// One ziggyd and one live dashboard for the whole suite, fed the requests
// (each after its two sub-events) once the dashboard sees the stream.
class DashboardTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ziggyd_ = Ziggyd::Start(TempDir("logs"),
                            {absl::StrCat("--fake-time=", kDayStart)})
                  .release();
    ASSERT_NE(ziggyd_, nullptr);
    live_ = StartDashboard({"-H", ziggyd_->control()}).release();
    ASSERT_NE(live_, nullptr);
    Sender sender(ziggyd_->collect());
    int warmups = 0;
    // A subscriber misses what is sent before it is connected: warm up.
    ASSERT_TRUE(WaitFor([&] {
      sender.Send(Warmup(warmups++));
      return TypeCount(live_->port, "warmup") > 0;
    })) << live_->process->Stderr()
        << Get(live_->port, "/api/types").second
        << ziggyd_->Status().DebugString();
    for (int i = 0; i < kRequests; ++i) {
      sender.Send(RequestEvent(i, 0));
      sender.Send(RequestEvent(i, 1));
      sender.Send(RequestEvent(i));
    }
    ASSERT_TRUE(ziggyd_->WaitWritten(warmups + 3 * kRequests));
    ASSERT_TRUE(WaitFor([] {
      return TypeCount(live_->port, "request") == kRequests &&
             TypeCount(live_->port, "request.sql") == 2 * kRequests;
    })) << Get(live_->port, "/api/types").second;
  }

  static void TearDownTestSuite() {
    delete live_;
    delete ziggyd_;
  }

  static int port() { return live_->port; }

  static Ziggyd* ziggyd_;
  static Dashboard* live_;
};

Ziggyd* DashboardTest::ziggyd_ = nullptr;
Dashboard* DashboardTest::live_ = nullptr;

// The index of the bucket at kEnd in a series' time axis.
size_t BucketAt(const json& series) {
  for (size_t i = 0; i < series["time"].size(); ++i) {
    const double t = series["time"][i];
    if (t <= kEnd && kEnd < t + 5) return i;
  }
  ADD_FAILURE() << "no bucket at kEnd: " << series.dump();
  return 0;
}

TEST_F(DashboardTest, TypesAndRates) {
  const json types = GetJson(port(), "/api/types");
  EXPECT_EQ(types["default_where"], "body.response.status >= 500");
  const json rates = GetJson(port(), "/api/rates");
  EXPECT_EQ(rates["resolution"], 5);
  const size_t i = BucketAt(rates);
  EXPECT_EQ(rates["series"]["request"][i], kRequests / 5.0);
  EXPECT_EQ(rates["series"]["request.sql"][i], 2 * kRequests / 5.0);
}

TEST_F(DashboardTest, QuantilesAndErrorShareAgainstWhatWasSent) {
  const json series = GetJson(port(), "/api/series",
                              {{"type", "request"},
                               {"field", "body.request_time"},
                               {"where", "body.response.status >= 500"}});
  const size_t i = BucketAt(series);
  EXPECT_EQ(series["count"][i], kRequests);
  // Exact ranks floor(q x 19) of 0.01 .. 0.20, within the sketch's 1 %.
  EXPECT_NEAR(series["p50"][i].get<double>(), 0.10, 0.001);
  EXPECT_NEAR(series["p90"][i].get<double>(), 0.18, 0.0018);
  EXPECT_NEAR(series["p99"][i].get<double>(), 0.19, 0.0019);
  EXPECT_EQ(series["error_share"][i], 4.0 / kRequests);
}

TEST_F(DashboardTest, LatestEventsAndAGroup) {
  const json events =
      GetJson(port(), "/api/events", {{"type", "request"}, {"limit", "5"}});
  ASSERT_EQ(events["events"].size(), 5u);
  EXPECT_EQ(events["events"][0]["id"], Id(kRequests - 1));  // newest first
  EXPECT_EQ(events["events"][4]["id"], Id(kRequests - 5));
  const json group = GetJson(port(), "/api/event", {{"id", Id(3)}});
  EXPECT_EQ(group["parent"]["body"]["path"], "/item/3");
  ASSERT_EQ(group["children"].size(), 2u);
  EXPECT_EQ(group["children"][0]["body"]["query"], "SELECT 0");
  EXPECT_EQ(group["children"][1]["body"]["query"], "SELECT 1");
}

TEST_F(DashboardTest, TopValuesAndStatus) {
  const json top =
      GetJson(port(), "/api/top", {{"type", "request"}, {"by", "host"}});
  EXPECT_EQ(top["rows"], json::parse(R"([{"value":"web-1","count":10},)"
                                     R"({"value":"web-2","count":10}])"));
  json status;
  ASSERT_TRUE(WaitFor([&] {
    status = GetJson(port(), "/api/status");
    return status["ok"] == true && status["status"].is_object() &&
           status["status"]["received"] >= 3 * kRequests;
  })) << status.dump();
}

TEST_F(DashboardTest, BadParametersAre400) {
  for (const auto& [path, params, why] :
       std::vector<std::tuple<std::string, httplib::Params, std::string>>{
           {"/api/series", {}, "type is required"},
           {"/api/series",
            {{"type", "request"}, {"where", "body.x >="}},
            "where: at 10: expected a value after '>='"},
           {"/api/series",
            {{"type", "request"}, {"field", "end"}},
            "field must be a numeric body field"},
           {"/api/events", {{"type", "request"}, {"limit", "0"}}, "limit"},
           {"/api/events", {{"type", "request"}, {"limit", "x"}}, "limit"},
           {"/api/events", {{"type", std::string(300, 'a')}}, "longer"},
           {"/api/top", {{"type", "request"}}, "by is required"},
           {"/api/event", {}, "id is required"},
       }) {
    auto [status, body] = Get(port(), path, params);
    EXPECT_EQ(status, 400) << path << " " << body;
    EXPECT_TRUE(
        absl::StrContains(json::parse(body)["error"].get<std::string>(), why))
        << body;
  }
  EXPECT_EQ(Get(port(), "/api/event", {{"id", "nope"}}).first, 404);
  EXPECT_EQ(Get(port(), "/api/nothing").first, 404);
}

// Headless Chromium loads the page; the DOM after ~10 s of virtual time
// shows drawn charts, the events we sent, one of them opened with its
// sub-events, top values and STATUS counts, and no error banner.
TEST_F(DashboardTest, BrowserDrawsChartsAndFillsTheEventsTable) {
  ASSERT_EQ(access(kChromium, X_OK), 0)
      << kChromium << " is missing: run tools/install-test-tools.sh";
  std::string dom, err;
  const int code = RunCommand(
      {kChromium, "--headless", "--no-sandbox", "--disable-gpu",
       "--user-data-dir=" + TempDir("chromium"), "--window-size=1400,1000",
       "--virtual-time-budget=10000", "--dump-dom", live_->url + "#detail"},
      &dom, &err, absl::Seconds(45));
  ASSERT_EQ(code, 0) << err;
  for (const char* chart : {"rate-chart", "quantile-chart", "error-chart"}) {
    std::smatch match;
    const std::regex points(
        absl::StrCat("id=\"", chart, "\"[^>]*data-points=\"([0-9]+)\""));
    ASSERT_TRUE(std::regex_search(dom, match, points)) << chart << "\n" << dom;
    EXPECT_GT(std::stoi(match[1]), 0) << chart;
  }
  // The newest request first (selected: the one #detail opened), then
  // the others.
  EXPECT_TRUE(absl::StrContains(dom, "<tr class=\"event selected\" data-id=\"" +
                                         Id(kRequests - 1) + "\""))
      << dom;
  EXPECT_TRUE(absl::StrContains(
      dom, "<tr class=\"event\" data-id=\"" + Id(kRequests - 2) + "\""))
      << dom;
  EXPECT_TRUE(absl::StrContains(dom, "/item/19")) << dom;
  // #detail opens the first row as a click does: the event with its two
  // request.sql sub-events.
  EXPECT_TRUE(std::regex_search(
      dom, std::regex("id=\"event-detail\"[^>]*data-children=\"2\"")))
      << dom;
  EXPECT_TRUE(absl::StrContains(dom, "SELECT 1")) << dom;
  EXPECT_TRUE(absl::StrContains(dom, "<tr class=\"top\"><td title=\"web-1\""))
      << dom;
  EXPECT_TRUE(absl::StrContains(
      dom,
      "<tr class=\"status\"><td title=\"type request.sql\">type "
      "request.sql</td><td title=\"40\">40</td></tr>"))
      << dom;
  EXPECT_TRUE(absl::StrContains(dom, "id=\"banner\" hidden")) << dom;
}

// What a dashboard serving the suite's daemon's files shows.
void ExpectTheDaemonsFiles(int port) {
  EXPECT_EQ(TypeCount(port, "request"), kRequests);
  EXPECT_EQ(TypeCount(port, "request.sql"), 2 * kRequests);
  const json series = GetJson(port, "/api/series",
                              {{"type", "request"},
                               {"field", "body.request_time"},
                               {"where", "body.response.status >= 500"}});
  EXPECT_EQ(series["resolution"], 1);  // 60 s of files: 1 s buckets
  const size_t i = series["time"].size() - 1;
  EXPECT_EQ(series["time"][i], kEnd);
  EXPECT_EQ(series["count"][i], kRequests);
  EXPECT_NEAR(series["p50"][i].get<double>(), 0.10, 0.001);
  EXPECT_EQ(series["error_share"][i], 0.2);
  EXPECT_EQ(GetJson(port, "/api/status")["status"], nullptr);
}

// --log-path: the daemon's files, read once at start.
TEST_F(DashboardTest, ServesFiles) {
  auto files = StartDashboard({"--log-path=" + ziggyd_->log_path()});
  ASSERT_NE(files, nullptr);
  ExpectTheDaemonsFiles(files->port);
  // The dates select events by their own end: the warm-up ended at
  // 00:00:01, the requests at 00:01:01.
  auto first_minute = StartDashboard(
      {"--log-path=" + ziggyd_->log_path(), "--end-date=20231114 00:00"});
  ASSERT_NE(first_minute, nullptr);
  EXPECT_GT(TypeCount(first_minute->port, "warmup"), 0);
  EXPECT_EQ(TypeCount(first_minute->port, "request"), 0);
}

// The same files compressed, as --compress-after-days leaves them
// (`<name>.zst` only): the same figures.
TEST_F(DashboardTest, ServesCompressedFiles) {
  const std::string compressed = TempDir("compressed");
  for (const std::string& name : ListFiles(ziggyd_->log_path())) {
    const size_t slash = name.rfind('/');
    if (slash != std::string::npos) {
      mkdir(absl::StrCat(compressed, "/", name.substr(0, slash)).c_str(), 0755);
    }
    std::ofstream(absl::StrCat(compressed, "/", name, ".zst"), std::ios::binary)
        << ZstdFrames(ReadFileOrEmpty(ziggyd_->log_path() + "/" + name));
  }
  auto files = StartDashboard({"--log-path=" + compressed});
  ASSERT_NE(files, nullptr);
  ExpectTheDaemonsFiles(files->port);
}

// A daemon restarted on the same control port (its stream port changes):
// the dashboard counts the new daemon's events and its STATUS again, and
// says the STATUS is stale meanwhile.
TEST(DashboardRestartTest, KeepsWorkingAcrossADaemonRestart) {
  const std::string logs = TempDir("restart");
  auto ziggyd = Ziggyd::Start(logs);
  ASSERT_NE(ziggyd, nullptr);
  const std::string control = ziggyd->control();
  auto dashboard = StartDashboard({"-H", control});
  ASSERT_NE(dashboard, nullptr);
  int seq = 0;
  auto send_until_counted = [&](Ziggyd& daemon, const std::string& type) {
    Sender sender(daemon.collect());
    return WaitFor([&] {
      sender.Send(ForeignEvent(type, 0, seq++));
      return TypeCount(dashboard->port, type) > 0;
    });
  };
  ASSERT_TRUE(send_until_counted(*ziggyd, "before"));
  const double pid_before = ziggyd->StatusNumber("pid");
  ziggyd->process().Signal(SIGTERM);
  ASSERT_EQ(ziggyd->process().Wait(), 0);
  ASSERT_TRUE(WaitFor(
      [&] { return GetJson(dashboard->port, "/api/status")["ok"] == false; }));
  std::unique_ptr<Ziggyd> restarted;
  ASSERT_TRUE(WaitFor([&] {
    restarted = Ziggyd::Start(logs, {"--control=" + control});
    return restarted != nullptr;
  }));
  ASSERT_TRUE(send_until_counted(*restarted, "after"))
      << dashboard->process->Stderr();
  ASSERT_TRUE(WaitFor([&] {
    const json status = GetJson(dashboard->port, "/api/status");
    return status["ok"] == true && status["status"]["pid"] != pid_before;
  }));
}

TEST(DashboardFlagsTest, RefusesANonLoopbackAddressWithoutInsecure) {
  std::string out, err;
  EXPECT_EQ(RunCommand({RunfilesPath("viewer/ziggyview"), "--serve=0.0.0.0:0",
                        "-H", "127.0.0.1:1"},
                       &out, &err),
            1);
  EXPECT_TRUE(absl::StrContains(
      err, "ziggyview: --serve=0.0.0.0:0 is not a loopback address"))
      << err;
  EXPECT_TRUE(absl::StrContains(err, "--insecure")) << err;
  EXPECT_EQ(RunCommand({RunfilesPath("viewer/ziggyview"), "--serve=127.0.0.1:0",
                        "--log-path=/nonexistent", "-H", "127.0.0.1:1"},
                       &out, &err),
            1);
  EXPECT_TRUE(absl::StrContains(err, "give exactly one input")) << err;
}

}  // namespace
}  // namespace ziggy::testing
