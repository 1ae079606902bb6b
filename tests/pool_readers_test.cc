// Readers across a pool of collectors (issue #17): ziggyview over several
// --log-path and -H, and ziggyctl status over several -H, against real
// ziggyd processes. Two collectors A and B share the work: each request's
// parent goes to A and its sub-events (other per-type files) to B, over two
// days of the fake clock, in 6-hour files; a third collector, "one", gets every
// event in the same order, and the pool must read exactly as it does.

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/format/event.h"
#include "client/reader/zstd_testing.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/process.h"
#include "tests/ziggyd.h"

namespace ziggy::testing {
namespace {

using json = nlohmann::json;

constexpr int64_t kDayStart = 1699920000;  // 2023-11-14 00:00:00 UTC
constexpr int kRequests = 30;              // per day
constexpr int kDays = 2;
constexpr int kEvents = kRequests * 4 * kDays;  // sql, log, request, job

std::string Viewer() { return RunfilesPath("viewer/ziggyview"); }
std::string Ctl() { return RunfilesPath("ctl/ziggyctl"); }

std::vector<json> JsonLines(const std::string& out) {
  std::vector<json> lines;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    lines.push_back(json::parse(line));
  }
  return lines;
}

// An event of request `r` on `day`: `part` 0 and 1 its sub-events
// (request.sql, request.log), 2 the request, 3 a job of its own; ends
// increase in that order, so a sub-event ends before its parent.
std::string PoolEvent(int day, int r, int part) {
  static const char* kTypes[] = {"request.sql", "request.log", "request",
                                 "job"};
  Event e;
  e.id = absl::StrFormat("%02d%030d", day, r);
  e.type = kTypes[part];
  e.host = "test-host";
  e.end = kDayStart + day * 86400 + 60 + r * 10 + part;
  e.start = e.end - 0.5;
  e.body = Value(Value::Map{{"day", day}, {"r", r}, {"status", 200 + r}});
  return EncodeEvent(e);
}

// Collectors A and B (the pool) and "one" (everything), on the fake clock.
class Pool {
 public:
  static std::unique_ptr<Pool> Start() {
    auto pool = std::make_unique<Pool>();
    for (const char* name : {"a", "b", "one"}) {
      pool->daemons_.push_back(Ziggyd::Start(
          TempDir(name),
          {absl::StrCat("--fake-time=", kDayStart), "--rotate-hours=6"}));
      if (pool->daemons_.back() == nullptr) return nullptr;
    }
    return pool;
  }

  Ziggyd& a() { return *daemons_[0]; }
  Ziggyd& b() { return *daemons_[1]; }
  Ziggyd& one() { return *daemons_[2]; }

  // Two days of requests, each day in two hour blocks (--rotate-hours=6):
  // each block's events written before the clock moves on (receipt time
  // decides a file's day and block).
  bool SendTwoDays() {
    Sender to_a(a().collect()), to_b(b().collect()), to_one(one().collect());
    int sent_a = 0, sent_b = 0, sent = 0;
    for (int day = 0; day < kDays; ++day) {
      for (int r = 0; r < kRequests; ++r) {
        for (int part = 0; part < 4; ++part) {
          const bool on_a = part == 2 || (part == 3 && r % 2 == 0);
          (on_a ? to_a : to_b).Send(PoolEvent(day, r, part));
          ++(on_a ? sent_a : sent_b);
          to_one.Send(PoolEvent(day, r, part));
          ++sent;
        }
        if (r == kRequests / 2 || r == kRequests - 1) {
          if (!a().WaitWritten(sent_a) || !b().WaitWritten(sent_b) ||
              !one().WaitWritten(sent) ||
              !AdvanceClock(r == kRequests - 1 ? 18 : 6)) {
            return false;
          }
        }
      }
    }
    return true;
  }

  bool AdvanceClock(int hours) {
    for (auto& daemon : daemons_) {
      if (!daemon->Call("ADVANCE_CLOCK", {{"seconds", hours * 3600}}).ok()) {
        return false;
      }
    }
    return true;
  }

  // "--log-path=A --log-path=B".
  std::vector<std::string> Both() const {
    return {"--log-path=" + daemons_[0]->log_path(),
            "--log-path=" + daemons_[1]->log_path()};
  }

 private:
  std::vector<std::unique_ptr<Ziggyd>> daemons_;
};

// ziggyview's stdout for `args`, expecting exit 0 and nothing on stderr.
std::string View(std::vector<std::string> args) {
  args.insert(args.begin(), Viewer());
  std::string out, err;
  EXPECT_EQ(RunCommand(args, &out, &err), 0) << absl::StrJoin(args, " ");
  EXPECT_EQ(err, "");
  return out;
}

std::vector<std::string> Plus(std::vector<std::string> a,
                              const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class PoolReadersTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pool_ = Pool::Start().release();
    ASSERT_NE(pool_, nullptr);
    ASSERT_TRUE(pool_->SendTwoDays());
  }
  static void TearDownTestSuite() {
    delete pool_;
    pool_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(pool_, nullptr); }

  static Pool* pool_;
};

Pool* PoolReadersTest::pool_ = nullptr;

// Every event once, in the order one collector holding them all gives:
// per type-day, by time; the same with the paths as one comma-separated
// flag and in the other order.
TEST_F(PoolReadersTest, FilesReadAsOneCollector) {
  const std::string expected = View({"--log-path=" + pool_->one().log_path()});
  const std::vector<json> lines = JsonLines(expected);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kEvents));
  EXPECT_EQ(View(pool_->Both()), expected);
  EXPECT_EQ(View({"--log-path=" + pool_->b().log_path() + "," +
                  pool_->a().log_path()}),
            expected);
  std::set<std::string> seen;
  double previous_end = 0;
  std::string previous_file;
  for (const json& line : lines) {
    const std::string type = line["type"];
    EXPECT_TRUE(seen.insert(type + "/" + line["id"].get<std::string>()).second);
    const std::string file =
        absl::StrCat(type, "/", line["body"]["day"].get<int>());
    if (file == previous_file) {
      EXPECT_GT(line["end"].get<double>(), previous_end) << line;
    }
    previous_file = file;
    previous_end = line["end"];
  }
}

// Filters, dates, --stats and --raw over the pool give what they give
// over the one collector.
TEST_F(PoolReadersTest, SelectionsStatsAndRawAsOneCollector) {
  const std::vector<std::vector<std::string>> flag_sets = {
      {"--type-name=request*"},
      {"--type-name=job", "--start-date=20231115"},
      {"--where=body.status >= 220 and type == \"request.sql\""},
      {"--end-date=20231114", "--fields=type,id"},
      {"--stats"},
      {"--stats", "--json", "--by=type"},
      {"--raw"}};
  for (const auto& flags : flag_sets) {
    SCOPED_TRACE(absl::StrJoin(flags, " "));
    const std::string expected =
        View(Plus({"--log-path=" + pool_->one().log_path()}, flags));
    EXPECT_GT(expected.size(), 100u);
    EXPECT_EQ(View(Plus(pool_->Both(), flags)), expected);
  }
}

// --group: each request meets its sub-events, filed under other types at
// the other collector; compressed files read as plain ones.
TEST_F(PoolReadersTest, GroupsAcrossCollectorsAndCompressedFiles) {
  const std::string expected =
      View({"--group", "--log-path=" + pool_->one().log_path()});
  const std::vector<json> groups = JsonLines(expected);
  ASSERT_EQ(groups.size(), static_cast<size_t>(kRequests * 2 * kDays));
  int requests = 0;
  for (const json& group : groups) {
    if (group["parent"]["type"] != "request") continue;
    ++requests;
    EXPECT_EQ(group["children"].size(), 2u) << group;
  }
  EXPECT_EQ(requests, kRequests * kDays);
  EXPECT_EQ(View(Plus({"--group"}, pool_->Both())), expected);

  // A's first day compressed (the collector's own .zst naming).
  const std::string copy = TempDir("a-zst");
  for (const std::string& name : ListFiles(pool_->a().log_path())) {
    const std::string dir = copy + "/" + name.substr(0, name.find('/'));
    mkdir(dir.c_str(), 0755);
    const std::string bytes =
        ReadFileOrEmpty(pool_->a().log_path() + "/" + name);
    const bool compress = absl::StartsWith(name, "20231114/");
    std::ofstream(copy + "/" + name + (compress ? ".zst" : ""),
                  std::ios::binary)
        << (compress ? ZstdFrames(bytes, 500) : bytes);
  }
  const std::vector<std::string> with_zst = {
      "--log-path=" + copy, "--log-path=" + pool_->b().log_path()};
  EXPECT_EQ(View(Plus({"--group"}, with_zst)), expected);
  EXPECT_EQ(View(with_zst), View({"--log-path=" + pool_->one().log_path()}));
}

// A running `ziggyview --serve=127.0.0.1:0 ...`, asked over HTTP.
class Dashboard {
 public:
  explicit Dashboard(std::vector<std::string> flags) {
    flags.insert(flags.begin(), {Viewer(), "--serve=127.0.0.1:0"});
    process_ = Subprocess::Start(flags);
    const std::regex printed("dashboard: http://127\\.0\\.0\\.1:([0-9]+)/");
    std::smatch match;
    std::string out;
    if (WaitFor([&] {
          out = process_->Stdout();
          return std::regex_search(out, match, printed);
        })) {
      port_ = std::stoi(match[1]);
    }
  }
  ~Dashboard() {
    process_->Signal(SIGINT);
    process_->Wait();
  }

  bool serving() const { return port_ > 0; }
  Subprocess& process() { return *process_; }

  // GET `path` as JSON (null when it failed).
  json Get(const std::string& path) {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(10);
    httplib::Result got = client.Get(path.c_str());
    return got && got->status == 200 ? json::parse(got->body) : json();
  }

  // The count of `type` in /api/types (0 when absent).
  int64_t TypeCount(const std::string& type) {
    const json types = Get("/api/types");
    if (!types.contains("types")) return 0;
    for (const json& t : types["types"]) {
      if (t["name"] == type) return t["count"];
    }
    return 0;
  }

 private:
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
};

// The dashboard over the pool's files counts what it counts over one.
TEST_F(PoolReadersTest, DashboardOverThePoolsFiles) {
  Dashboard one({"--log-path=" + pool_->one().log_path()});
  Dashboard both(pool_->Both());
  ASSERT_TRUE(one.serving() && both.serving())
      << one.process().Stderr() << both.process().Stderr();
  const json expected = one.Get("/api/types");
  ASSERT_EQ(expected["types"].size(), 4u) << expected;
  EXPECT_EQ(both.Get("/api/types"), expected);
}

// Bad input: a missing log path among several, a daemon given twice that
// does not answer (once: a value given twice is kept once): one line,
// exit 1.
TEST_F(PoolReadersTest, BadPoolArgumentsAreOneLineErrors) {
  std::string out, err;
  EXPECT_EQ(RunCommand({Viewer(), "--log-path=" + pool_->a().log_path() +
                                      ",/nonexistent-pool-dir"},
                       &out, &err),
            1);
  EXPECT_TRUE(absl::StrContains(err, "/nonexistent-pool-dir")) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  const std::string nobody = absl::StrCat("127.0.0.1:", UnusedPort());
  EXPECT_EQ(RunCommand({Viewer(), "--timeout=0.5", "-H", nobody + "," + nobody},
                       &out, &err),
            1);
  EXPECT_TRUE(absl::StrContains(err, nobody)) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

// ziggyctl status over the pool: received summed, both listed; --json's
// total and daemons; a down daemon shown down, exit 1, the others summed.
TEST_F(PoolReadersTest, CtlStatusSumsThePool) {
  const double a = pool_->a().StatusNumber("received");
  const double b = pool_->b().StatusNumber("received");
  ASSERT_EQ(a + b, kEvents);
  std::string out, err;
  ASSERT_EQ(RunCommand({Ctl(), "-H", pool_->a().control(), "-H",
                        pool_->b().control(), "status"},
                       &out, &err),
            0)
      << err;
  EXPECT_TRUE(absl::StrContains(out, "pool of 2 daemons: 2 up, 0 down")) << out;
  EXPECT_TRUE(absl::StrContains(out, pool_->a().control())) << out;
  EXPECT_TRUE(absl::StrContains(out, pool_->b().control())) << out;
  EXPECT_TRUE(absl::StrContains(out, absl::StrCat("received    ", kEvents)))
      << out;
  const std::string nobody = absl::StrCat("127.0.0.1:", UnusedPort());
  ASSERT_EQ(RunCommand({Ctl(), "--json", "--timeout=0.5",
                        "-H=" + pool_->a().control() + "," + nobody, "--host",
                        pool_->b().control(), "status"},
                       &out, &err),
            1);
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_TRUE(absl::StrContains(err, nobody)) << err;
  const json pool = json::parse(out);
  EXPECT_EQ(pool["total"]["received"], kEvents) << out;
  EXPECT_EQ(pool["total"]["written"], kEvents) << out;
  EXPECT_EQ(pool["daemons"][pool_->a().control()]["received"], a);
  EXPECT_EQ(pool["daemons"][nobody]["down"], true) << out;
  EXPECT_EQ(pool["daemons"].size(), 3u);
}

// Live -H A -H B: events from both, interleaved; a daemon down from the
// start gets one line and the others stream, exit 1; a daemon that goes
// away gets its line and the other keeps streaming.
TEST(PoolLiveTest, FollowsEveryDaemonAndSurvivesOneDown) {
  auto a = Ziggyd::Start(TempDir("live-a"));
  auto b = Ziggyd::Start(TempDir("live-b"));
  ASSERT_TRUE(a != nullptr && b != nullptr);
  const std::string nobody = absl::StrCat("127.0.0.1:", UnusedPort());
  auto viewer = Subprocess::Start({Viewer(), "--timeout=1", "-H", a->control(),
                                   "--host=" + nobody + "," + b->control()});
  Sender to_a(a->collect()), to_b(b->collect());
  int seq = 0;
  auto until_seen = [&](Sender& sender, const std::string& type) {
    return WaitFor([&] {
      sender.Send(ForeignEvent(type, 0, seq++));
      return absl::StrContains(viewer->Stdout(), "\"" + type + "\"");
    });
  };
  ASSERT_TRUE(until_seen(to_a, "from.a")) << viewer->Stderr();
  ASSERT_TRUE(until_seen(to_b, "from.b")) << viewer->Stderr();
  EXPECT_TRUE(absl::StrContains(viewer->Stderr(), nobody)) << viewer->Stderr();
  EXPECT_TRUE(absl::StrContains(viewer->Stderr(), "following the other"));

  a->process().Signal(SIGKILL);
  EXPECT_NE(a->process().Wait(), 0);
  ASSERT_TRUE(until_seen(to_b, "after.a")) << viewer->Stderr();
  EXPECT_TRUE(WaitFor([&] {
    return absl::StrContains(viewer->Stderr(), "still trying");
  })) << viewer->Stderr();
  viewer->Signal(SIGINT);
  EXPECT_EQ(viewer->Wait(), 1);  // a daemon did not answer at the start
  for (const json& line : JsonLines(viewer->Stdout())) {
    EXPECT_TRUE(line.contains("type"));
  }

  // All of them down: one line each, exit 1 at once.
  std::string out, err;
  EXPECT_EQ(
      RunCommand({Viewer(), "--timeout=0.5", "-H", nobody, "-H", a->control()},
                 &out, &err),
      1);
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 2) << err;
}

// Live over the pool with --stats and --where: the merged stream is
// filtered and summarised as one.
TEST(PoolLiveTest, WhereAndStatsOverTheMergedStream) {
  auto a = Ziggyd::Start(TempDir("stats-a"));
  auto b = Ziggyd::Start(TempDir("stats-b"));
  ASSERT_TRUE(a != nullptr && b != nullptr);
  auto viewer = Subprocess::Start(
      {Viewer(), "-H", a->control() + "," + b->control(), "--stats", "--json",
       "--interval=1", "--where=type =~ \"^kept\""});
  Sender to_a(a->collect()), to_b(b->collect());
  int seq = 0;
  // Both streams feed one summary: a row of kept.a and of kept.b in one
  // interval's output, and never a dropped type.
  ASSERT_TRUE(WaitFor([&] {
    to_a.Send(ForeignEvent("kept.a", 0, seq++));
    to_b.Send(ForeignEvent("kept.b", 0, seq++));
    to_b.Send(ForeignEvent("dropped", 0, seq++));
    const std::string out = viewer->Stdout();
    return absl::StrContains(out, "\"kept.a\"") &&
           absl::StrContains(out, "\"kept.b\"");
  })) << viewer->Stdout()
      << viewer->Stderr();
  viewer->Signal(SIGINT);
  EXPECT_EQ(viewer->Wait(), 0);
  EXPECT_FALSE(absl::StrContains(viewer->Stdout(), "\"dropped\""));
}

// --serve over a pool live: both daemons' events counted, and the status
// shown their sum.
TEST(PoolLiveTest, DashboardOverThePoolLive) {
  auto a = Ziggyd::Start(TempDir("dash-a"));
  auto b = Ziggyd::Start(TempDir("dash-b"));
  ASSERT_TRUE(a != nullptr && b != nullptr);
  Dashboard dashboard({"-H", a->control(), "-H", b->control()});
  ASSERT_TRUE(dashboard.serving()) << dashboard.process().Stderr();
  Sender to_a(a->collect()), to_b(b->collect());
  int seq = 0;
  ASSERT_TRUE(WaitFor([&] {
    to_a.Send(ForeignEvent("dash.a", 0, seq++));
    to_b.Send(ForeignEvent("dash.b", 0, seq++));
    return dashboard.TypeCount("dash.a") > 0 &&
           dashboard.TypeCount("dash.b") > 0;
  })) << dashboard.process().Stderr();
  ASSERT_TRUE(a->WaitWritten(seq / 2) && b->WaitWritten(seq / 2));
  EXPECT_TRUE(WaitFor([&] {
    const json status = dashboard.Get("/api/status");
    return status.contains("status") && status["status"].is_object() &&
           status["status"]["received"] == seq;
  })) << dashboard.Get("/api/status");
}

}  // namespace
}  // namespace ziggy::testing
