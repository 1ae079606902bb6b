// ziggyview end to end against real ziggyd processes.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <numeric>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/format/event.h"
#include "client/reader/reader.h"
#include "client/reader/zstd_testing.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/process.h"
#include "tests/ziggyd.h"

namespace ziggy::testing {
namespace {

constexpr int64_t kDayStart = 1699920000;  // 2023-11-14 00:00:00 UTC

std::vector<nlohmann::json> JsonLines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

std::string Viewer() { return RunfilesPath("viewer/ziggyview"); }

// An event of `type` that ended in the fake day (seq seconds after 00:01,
// or `end` when given), with body {sender: 0, seq, status}.
std::string DayEvent(const std::string& type, int seq, int status = 200,
                     double end = 0) {
  Event e;
  e.id = absl::StrFormat("%032d", seq);
  e.type = type;
  e.host = "test-host";
  e.end = end != 0 ? end : kDayStart + 60 + seq;
  e.start = e.end - 0.5;
  e.body = Value(Value::Map{{"sender", 0}, {"seq", seq}, {"status", status}});
  return EncodeEvent(e);
}

// A ziggyd with `events` of type "request" and "other" on disk.
std::unique_ptr<Ziggyd> DaemonWithEvents(const std::string& logs, int events) {
  auto ziggyd = Ziggyd::Start(logs, {absl::StrCat("--fake-time=", kDayStart)});
  if (ziggyd == nullptr) return nullptr;
  Sender sender(ziggyd->collect());
  for (int i = 0; i < events; ++i) {
    sender.Send(DayEvent(i % 2 ? "other" : "request", i));
  }
  if (!ziggyd->WaitWritten(events)) return nullptr;
  return ziggyd;
}

TEST(ZiggyviewTest, ReadsStdinAndFiles) {
  const std::string logs = TempDir("logs");
  auto ziggyd = DaemonWithEvents(logs, 100);
  ASSERT_NE(ziggyd, nullptr);
  const std::string file = logs + "/20231114/request-20231114.log";
  std::string out, err;
  ASSERT_EQ(RunCommand({Viewer()}, &out, &err, absl::Seconds(30), file), 0)
      << err;
  const auto lines = JsonLines(out);
  ASSERT_EQ(lines.size(), 50u);
  EXPECT_EQ(lines[0]["type"], "request");
  EXPECT_EQ(lines[49]["body"]["seq"], 98);
  ASSERT_EQ(RunCommand({Viewer(), file, logs + "/20231114/other-20231114.log"},
                       &out, &err),
            0);
  EXPECT_EQ(JsonLines(out).size(), 100u);
}

TEST(ZiggyviewTest, LogPathWithTypeAndDates) {
  const std::string logs = TempDir("logs");
  auto ziggyd = DaemonWithEvents(logs, 40);
  ASSERT_NE(ziggyd, nullptr);
  std::string out, err;
  ASSERT_EQ(RunCommand({Viewer(), "--log-path=" + logs, "--type-name=request",
                        "--start-date=20231114", "--end-date=20231114"},
                       &out, &err),
            0)
      << err;
  EXPECT_EQ(JsonLines(out).size(), 20u);
  ASSERT_EQ(
      RunCommand({Viewer(), "--log-path=" + logs, "--start-date=20231115"},
                 &out, &err),
      0)
      << err;
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(
      RunCommand({Viewer(), "--log-path=" + logs, "--start-date=14/11/2023"},
                 &out, &err),
      1);
  EXPECT_TRUE(absl::StrContains(err, "YYYYMMDD")) << err;
}

TEST(ZiggyviewTest, LiveWithPrefixFilterAcrossACollectorRestart) {
  const std::string logs = TempDir("logs");
  auto ziggyd = Ziggyd::Start(logs);
  ASSERT_NE(ziggyd, nullptr);
  const std::string control = ziggyd->control();
  auto viewer =
      Subprocess::Start({Viewer(), "-H", control, "--type-name=request*"});
  ASSERT_NE(viewer, nullptr);
  int seq = 0;
  auto keep_sending_until_seen = [&](Ziggyd& daemon, const std::string& type) {
    Sender sender(daemon.collect());
    return WaitFor(
        [&] {
          sender.Send(ForeignEvent("other", 0, seq++));
          sender.Send(ForeignEvent(type, 0, seq++));
          return absl::StrContains(viewer->Stdout(), "\"" + type + "\"");
        },
        absl::Seconds(30));
  };
  ASSERT_TRUE(keep_sending_until_seen(*ziggyd, "request.before"))
      << viewer->Stderr();

  // Restart on the same control port; the stream port changes.
  ziggyd->process().Signal(SIGTERM);
  ASSERT_EQ(ziggyd->process().Wait(), 0);
  std::unique_ptr<Ziggyd> restarted;
  ASSERT_TRUE(WaitFor([&] {
    restarted = Ziggyd::Start(logs, {"--control=" + control});
    return restarted != nullptr;
  }));
  ASSERT_TRUE(keep_sending_until_seen(*restarted, "request.after"))
      << viewer->Stderr();

  viewer->Signal(SIGINT);
  EXPECT_EQ(viewer->Wait(), 0);
  const auto lines = JsonLines(viewer->Stdout());
  ASSERT_FALSE(lines.empty());
  for (const auto& line : lines) {
    EXPECT_TRUE(absl::StartsWith(line["type"].get<std::string>(), "request"));
  }
}

// The seqs of the events in `lines`, sorted.
std::vector<int> SortedSeqs(const std::vector<nlohmann::json>& lines) {
  std::vector<int> seqs;
  for (const auto& line : lines) seqs.push_back(line["body"]["seq"]);
  std::sort(seqs.begin(), seqs.end());
  return seqs;
}

// --where on a live stream and on the per-type files the same daemon
// wrote; the dates then drop a matching event that ended the day before.
TEST(ZiggyviewTest, WhereLiveAndAcrossPerTypeFiles) {
  const std::string logs = TempDir("logs");
  auto ziggyd = Ziggyd::Start(logs, {absl::StrCat("--fake-time=", kDayStart)});
  ASSERT_NE(ziggyd, nullptr);
  const std::string where =
      "type =~ \"^request\" and body.status >= 500 and not body.seq == 7";
  auto viewer = Subprocess::Start(
      {Viewer(), "-H", ziggyd->control(), "--where=" + where});
  ASSERT_NE(viewer, nullptr);
  Sender sender(ziggyd->collect());
  std::vector<int> matching;
  int sent = 0;
  auto send = [&](const std::string& type, int seq, int status,
                  double end = 0) {
    sender.Send(DayEvent(type, seq, status, end));
    ++sent;
    if (absl::StartsWith(type, "request") && status >= 500 && seq != 7) {
      matching.push_back(seq);
    }
  };
  // Until the subscription is up: warm-up events that match, seq < 1000.
  int warm = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        send("request", warm++, 500);
        return absl::StrContains(viewer->Stdout(), "\"status\":500");
      },
      absl::Seconds(30)))
      << viewer->Stderr();
  const char* types[] = {"request", "request.sql", "job", "job.step"};
  for (int seq = 1000; seq < 1080; ++seq) {
    send(types[seq % 4], seq, seq % 3 == 0 ? 200 : 503);
  }
  send("request", 7, 500);     // excluded by "not body.seq == 7"
  send("request", 1999, 500);  // the last one: all before it are out
  ASSERT_TRUE(WaitFor([&] {
    return absl::StrContains(viewer->Stdout(), "\"seq\":1999");
  })) << viewer->Stderr();
  viewer->Signal(SIGINT);
  EXPECT_EQ(viewer->Wait(), 0);
  std::vector<int> live_batch, batch_expected;
  for (int seq : SortedSeqs(JsonLines(viewer->Stdout()))) {
    if (seq >= 1000) live_batch.push_back(seq);
  }
  for (int seq : matching) {
    if (seq >= 1000) batch_expected.push_back(seq);
  }
  std::sort(batch_expected.begin(), batch_expected.end());
  EXPECT_EQ(live_batch, batch_expected);
  EXPECT_EQ(batch_expected.size(), 28u);  // 27 of 1000-1079, and 1999

  // The files: one per type, read together by --log-path.
  send("request.sql", 2000, 500, kDayStart - 10);  // ended the day before
  ASSERT_TRUE(ziggyd->WaitWritten(sent));
  const std::string files = absl::StrJoin(ListFiles(logs), " ");
  for (const char* type : types) {
    EXPECT_TRUE(absl::StrContains(
        files, absl::StrCat("20231114/", type, "-20231114.log")))
        << files;
  }
  std::sort(matching.begin(), matching.end());
  std::string out, err;
  ASSERT_EQ(RunCommand({Viewer(), "--log-path=" + logs, "--where=" + where},
                       &out, &err),
            0)
      << err;
  EXPECT_EQ(SortedSeqs(JsonLines(out)), matching);
  ASSERT_EQ(RunCommand({Viewer(), "--log-path=" + logs, "--where=" + where,
                        "--start-date=20231114", "--end-date=20231114"},
                       &out, &err),
            0)
      << err;
  matching.pop_back();  // 2000
  EXPECT_EQ(SortedSeqs(JsonLines(out)), matching);
}

TEST(ZiggyviewTest, MalformedWhereIsOneLineAndExitsOne) {
  std::string out, err;
  EXPECT_EQ(RunCommand({Viewer(), "/nonexistent.log",
                        "--where=body.response.status >="},
                       &out, &err),
            1);
  EXPECT_EQ(err, "ziggyview: --where: at 24: expected a value after '>='\n");
  EXPECT_TRUE(out.empty());
}

TEST(ZiggyviewTest, NoDaemonIsAClearError) {
  std::string out, err;
  const int code = RunCommand({Viewer(), "-H", "127.0.0.1:1", "--timeout=0.2"},
                              &out, &err, absl::Seconds(10));
  EXPECT_EQ(code, 1);
  EXPECT_TRUE(absl::StrContains(err, "ziggyview: ")) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

TEST(ZiggyviewTest, DamagedFileExitsTwo) {
  const std::string logs = TempDir("logs");
  auto ziggyd = DaemonWithEvents(logs, 10);
  ASSERT_NE(ziggyd, nullptr);
  const std::string file = logs + "/20231114/request-20231114.log";
  const std::string bytes = ReadFileOrEmpty(file);
  const std::string torn = TempDir("torn") + "/torn.log";
  {
    std::ofstream(torn, std::ios::binary) << bytes.substr(0, bytes.size() - 5);
  }
  std::string out, err;
  EXPECT_EQ(RunCommand({Viewer(), torn}, &out, &err), 2);
  EXPECT_EQ(JsonLines(out).size(), 4u);
  EXPECT_TRUE(absl::StrContains(err, "torn tail")) << err;

  // The second event's length and the fourth's contents damaged: the others
  // are printed and each damage is one line with its byte range.
  const size_t size = bytes.size() / 5;  // the five events are the same size
  std::string damaged = bytes;
  damaged[size + 3] = '\x7f';
  damaged[3 * size + 4] = '\x42';  // the first element's type byte
  const std::string path = TempDir("damaged") + "/damaged.log";
  { std::ofstream(path, std::ios::binary) << damaged; }
  EXPECT_EQ(RunCommand({Viewer(), path}, &out, &err), 2);
  EXPECT_EQ(JsonLines(out).size(), 3u);
  EXPECT_TRUE(absl::StrContains(
      err, absl::StrCat("damaged.log: bytes ", size, "-", 2 * size,
                        " skipped: corrupt document")))
      << err;
  EXPECT_TRUE(absl::StrContains(
      err, absl::StrCat("damaged.log: bytes ", 3 * size, "-", 4 * size,
                        " skipped: not a valid event")))
      << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 2) << err;
}

TEST(ZiggyviewTest, DirectoryIsUnreadableInput) {
  std::string out, err;
  EXPECT_EQ(RunCommand({Viewer(), TempDir("dir")}, &out, &err), 1);
  EXPECT_TRUE(absl::StrContains(err, "Is a directory")) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

// A number from /proc/<pid>/<file>'s "<key>: <n>" line (-1 if none).
int64_t ProcNumber(pid_t pid, const std::string& file, const std::string& key) {
  const std::string text =
      ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/", file));
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, key + ":")) continue;
    int64_t n;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &n)) return n;
  }
  return -1;
}

// SIGINT and SIGTERM stop a viewer reading input that never ends: a file
// that never ends, and a pipe nobody writes to.
TEST(ZiggyviewTest, SignalsStopFileAndStdinReading) {
  auto zero = Subprocess::Start({Viewer(), "/dev/zero"});
  ASSERT_NE(zero, nullptr);
  ASSERT_TRUE(WaitFor(
      [&] { return ProcNumber(zero->pid(), "io", "rchar") > (8 << 20); }));
  zero->Signal(SIGTERM);
  EXPECT_EQ(zero->Wait(absl::Seconds(10)), 130);
  EXPECT_TRUE(absl::StrContains(zero->Stderr(), "interrupted"))
      << zero->Stderr();

  const std::string fifo = TempDir("fifo") + "/stdin";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const int writer = open(fifo.c_str(), O_RDWR);  // open, never written
  ASSERT_GE(writer, 0);
  auto piped = Subprocess::Start({Viewer()}, fifo);
  ASSERT_NE(piped, nullptr);
  // The signal thread is up once there are two threads.
  ASSERT_TRUE(WaitFor(
      [&] { return ProcNumber(piped->pid(), "status", "Threads") >= 2; }));
  piped->Signal(SIGINT);
  EXPECT_EQ(piped->Wait(absl::Seconds(10)), 130);
  EXPECT_TRUE(absl::StrContains(piped->Stderr(), "interrupted"))
      << piped->Stderr();
  close(writer);
}

// The collector files every type apart and every day apart; --group must
// still print each parent with all its sub-events, whatever their files.
TEST(ZiggyviewTest, GroupAcrossPerTypeFilesAndDays) {
  const std::string logs = TempDir("logs");
  auto ziggyd = Ziggyd::Start(logs, {absl::StrCat("--fake-time=", kDayStart)});
  ASSERT_NE(ziggyd, nullptr);
  Sender sender(ziggyd->collect());
  int sent = 0;
  auto send = [&](const std::string& type, int group, double end) {
    Event e;
    e.type = type;
    e.id = absl::StrFormat("%032d", group);
    e.end = end;
    sender.Send(EncodeEvent(e));
    ++sent;
  };
  // Requests with SQL and log lines, jobs with steps, interleaved: the
  // sub-events of request r end before it; the jobs' ids are 1000 + r.
  auto send_groups = [&](int from, int to, double day) {
    for (int r = from; r < to; ++r) {
      const double t = day + 10 * r;
      send("request.sql", r, t + 1);
      send("job.step", 1000 + r, t + 2);
      send("request.log", r, t + 3);
      send("request", r, t + 4);
      send("job", 1000 + r, t + 5);
    }
  };
  send_groups(0, 10, kDayStart);
  // A request whose SQL is filed on the first day and the rest on the next.
  send("request.sql", 99, kDayStart + 86399);
  ASSERT_TRUE(ziggyd->WaitWritten(sent));
  ASSERT_TRUE(ziggyd->Call("ADVANCE_CLOCK", {{"seconds", 86400}}).ok());
  send("request.log", 99, kDayStart + 86400.5);
  send("request", 99, kDayStart + 86401);
  send_groups(10, 15, kDayStart + 86400);
  ASSERT_TRUE(ziggyd->WaitWritten(sent));
  const std::vector<std::string> files = ListFiles(logs);
  EXPECT_NE(std::find(files.begin(), files.end(),
                      "20231115/request.log-20231115.log"),
            files.end())
      << absl::StrJoin(files, " ");

  std::string out, err;
  ASSERT_EQ(RunCommand({Viewer(), "--group", "--log-path=" + logs}, &out, &err),
            0)
      << err;
  // type of the parent -> sub-event types, one line per group.
  std::map<std::string, int> shapes;
  const auto groups = JsonLines(out);
  for (const auto& group : groups) {
    ASSERT_FALSE(group["parent"].is_null()) << group.dump();
    std::string shape = group["parent"]["type"];
    for (const auto& child : group["children"]) {
      EXPECT_EQ(child["id"], group["id"]);
      shape += " " + child["type"].get<std::string>();
    }
    ++shapes[shape];
  }
  EXPECT_EQ(shapes,
            (std::map<std::string, int>{{"request request.sql request.log", 16},
                                        {"job job.step", 15}}));

  ASSERT_EQ(RunCommand({Viewer(), "--group", "--log-path=" + logs,
                        "--type-name=request", "--start-date=20231115"},
                       &out, &err),
            0)
      << err;
  // The first day's SQL of request 99 is outside the dates.
  const auto requests = JsonLines(out);
  ASSERT_EQ(requests.size(), 6u);
  for (const auto& group : requests) {
    EXPECT_EQ(group["parent"]["type"], "request");
    EXPECT_EQ(group["children"].size(),
              group["id"] == absl::StrFormat("%032d", 99) ? 1u : 2u);
  }
}

// Types beyond ziggyd's --max-types-per-day share one overflow file; the
// viewer reads it like any other, filtering its events by their own types,
// and groups its sub-events with parents filed elsewhere.
TEST(ZiggyviewTest, ReadsTheOverflowFileWithAndWithoutATypeFilter) {
  const std::string logs = TempDir("logs");
  auto ziggyd = Ziggyd::Start(
      logs, {absl::StrCat("--fake-time=", kDayStart), "--max-types-per-day=2"});
  ASSERT_NE(ziggyd, nullptr);
  Sender sender(ziggyd->collect());
  constexpr int kGroups = 5;
  for (int r = 0; r < kGroups; ++r) {
    // "request" and "job" get files; "request.sql" and "late" overflow.
    for (const char* type : {"job", "request.sql", "late", "request"}) {
      Event e;
      e.type = type;
      e.id = absl::StrFormat("%032d", r);
      e.end = kDayStart + r + (e.type == "request" ? 0.5 : 0.0);
      e.body = Value(Value::Map{{"sender", 0}, {"seq", r}});
      sender.Send(EncodeEvent(e));
    }
  }
  ASSERT_TRUE(ziggyd->WaitWritten(4 * kGroups));
  ASSERT_TRUE(absl::StrContains(absl::StrJoin(ListFiles(logs), " "),
                                "20231114/~overflow-20231114.log"))
      << absl::StrJoin(ListFiles(logs), " ");
  auto count_types = [&](std::vector<std::string> flags) {
    flags.insert(flags.begin(), {Viewer(), "--log-path=" + logs});
    std::string out, err;
    EXPECT_EQ(RunCommand(flags, &out, &err), 0) << err;
    std::map<std::string, int> types;
    for (const auto& line : JsonLines(out)) ++types[line["type"]];
    return types;
  };
  EXPECT_EQ(count_types({}),
            (std::map<std::string, int>{{"job", kGroups},
                                        {"late", kGroups},
                                        {"request", kGroups},
                                        {"request.sql", kGroups}}));
  EXPECT_EQ(count_types({"--type-name=late"}),
            (std::map<std::string, int>{{"late", kGroups}}));
  EXPECT_EQ(count_types({"--type-name=request*"}),
            (std::map<std::string, int>{{"request", kGroups},
                                        {"request.sql", kGroups}}));
  EXPECT_EQ(count_types({"--type-name=job"}),
            (std::map<std::string, int>{{"job", kGroups}}));
  std::string out, err;
  ASSERT_EQ(RunCommand({Viewer(), "--log-path=" + logs, "--group",
                        "--type-name=request"},
                       &out, &err),
            0)
      << err;
  const auto groups = JsonLines(out);
  ASSERT_EQ(groups.size(), static_cast<size_t>(kGroups));
  for (const auto& group : groups) {
    EXPECT_EQ(group["parent"]["type"], "request") << group.dump();
    ASSERT_EQ(group["children"].size(), 1u) << group.dump();
    EXPECT_EQ(group["children"][0]["type"], "request.sql");
  }
}

// Under `bazel run` the viewer runs in its runfiles tree; relative paths are
// the caller's, from BUILD_WORKING_DIRECTORY.
TEST(ZiggyviewTest, RelativePathsResolveAgainstBuildWorkingDirectory) {
  const std::string logs = TempDir("logs");
  auto ziggyd = DaemonWithEvents(logs, 10);
  ASSERT_NE(ziggyd, nullptr);
  const size_t slash = logs.rfind('/');
  const std::string caller = "BUILD_WORKING_DIRECTORY=" + logs.substr(0, slash);
  const std::string relative = logs.substr(slash + 1);
  std::string out, err;
  // env -C /: the viewer's own directory is elsewhere.
  ASSERT_EQ(RunCommand({"env", "-C", "/", caller, Viewer(),
                        "--log-path=" + relative, "--type-name=request"},
                       &out, &err),
            0)
      << err;
  EXPECT_EQ(JsonLines(out).size(), 5u);
  ASSERT_EQ(RunCommand({"env", "-C", "/", caller, Viewer(),
                        "./" + relative + "/20231114/other-20231114.log"},
                       &out, &err),
            0)
      << err;
  EXPECT_EQ(JsonLines(out).size(), 5u);
}

// Live --stats against a real ziggyd: every interval prints the events of
// that interval, each counted once, with its fields.
TEST(ZiggyviewTest, LiveStatsPrintsEveryIntervalAndCountsEachEventOnce) {
  auto ziggyd = Ziggyd::Start(TempDir("logs"));
  ASSERT_NE(ziggyd, nullptr);
  auto viewer = Subprocess::Start(
      {Viewer(), "-H", ziggyd->control(), "--stats", "--interval=1", "--json"});
  ASSERT_NE(viewer, nullptr);
  Sender sender(ziggyd->collect());
  auto event = [](const std::string& type, int v) {
    Event e;
    e.type = type;
    e.body = Value(Value::Map{{"v", v}});
    return EncodeEvent(e);
  };
  // Subscribed once a warm-up event shows in a printed row.
  ASSERT_TRUE(WaitFor(
      [&] {
        sender.Send(event("warm", 0));
        return absl::StrContains(viewer->Stdout(), "\"type\":\"warm\"");
      },
      absl::Seconds(30), absl::Milliseconds(100)))
      << viewer->Stderr();
  constexpr int kEvents = 200;
  for (int i = 0; i < kEvents; ++i) sender.Send(event("stat", i));
  // The sums of the "stat" rows over the intervals printed so far.
  int64_t events = 0, values = 0;
  double max = -1;
  auto sum = [&] {
    events = values = 0;
    for (const auto& row : JsonLines(viewer->Stdout())) {
      if (row["type"] != "stat") continue;
      EXPECT_EQ(row["span"], 1) << row;
      EXPECT_TRUE(row["by"].is_null());
      if (row["field"].is_null()) {
        events += row["count"].get<int64_t>();
        EXPECT_EQ(row["rate"], row["count"]) << row;  // count / 1 s
      } else {
        EXPECT_EQ(row["field"], "body.v");
        values += row["count"].get<int64_t>();
        max = std::max(max, row["max"].get<double>());
      }
    }
    return events >= kEvents;
  };
  EXPECT_TRUE(WaitFor(sum, absl::Seconds(30), absl::Milliseconds(100)))
      << events << "\n"
      << viewer->Stdout() << viewer->Stderr();
  EXPECT_EQ(events, kEvents);
  EXPECT_EQ(values, kEvents);
  EXPECT_EQ(max, kEvents - 1);
  viewer->Signal(SIGINT);
  EXPECT_EQ(viewer->Wait(), 0);
}

// Two days of request, request.sql and other events in six-hour blocks (8
// of each type per block), written by a real ziggyd (stopped, so its files
// are closed).
std::string TwoDaysOfEvents() {
  const std::string logs = TempDir("logs");
  auto ziggyd = Ziggyd::Start(
      logs, {absl::StrCat("--fake-time=", kDayStart), "--rotate-hours=6"});
  EXPECT_NE(ziggyd, nullptr);
  if (ziggyd == nullptr) return logs;
  Sender sender(ziggyd->collect());
  const char* types[] = {"request", "request.sql", "other"};
  int sent = 0;
  for (int block = 0; block < 8; ++block) {  // 2 days of 4 blocks
    for (int i = 0; i < 24; ++i, ++sent) {
      // Groups of 3 sharing an id; the request's SQL ends before it.
      const double end = kDayStart + 21600 * block + 600 * (i / 3) + 2 - i % 3;
      sender.Send(DayEvent(types[(i + 2) % 3], 1000 * block + i / 3,
                           i % 7 ? 200 : 503, end));
    }
    EXPECT_TRUE(ziggyd->WaitWritten(sent));
    EXPECT_TRUE(ziggyd->Call("ADVANCE_CLOCK", {{"seconds", 21600}}).ok());
  }
  ziggyd->process().Signal(SIGTERM);
  EXPECT_EQ(ziggyd->process().Wait(), 0);
  return logs;
}

// A copy of `logs` with the first day's files replaced by zstd frames of
// their bytes, a twin `.zst` left beside one of the second day's files (a
// compression cut short: it must not be read) and a `.zst.tmp` (ignored).
std::string MixedCopy(const std::string& logs) {
  const std::string mixed = TempDir("mixed");
  for (const std::string& name : ListFiles(logs)) {
    mkdir(absl::StrCat(mixed, "/", name.substr(0, name.find('/'))).c_str(),
          0755);
    const std::string bytes = ReadFileOrEmpty(absl::StrCat(logs, "/", name));
    std::string path = absl::StrCat(mixed, "/", name);
    std::string written = bytes;
    if (absl::StartsWith(name, "20231114/")) {
      path += ".zst";
      written = ZstdFrames(bytes, /*frame_size=*/1000);
    } else if (absl::StrContains(name, "request-")) {
      std::ofstream(path + ".zst", std::ios::binary)
          << ZstdFrames(bytes.substr(0, bytes.size() / 2));
      std::ofstream(path + ".zst.tmp", std::ios::binary) << "not zstd";
    }
    std::ofstream(path, std::ios::binary) << written;
  }
  return mixed;
}

// ziggyview's stdout for `flags` over `log_path`, expecting exit 0.
std::string ViewLogPath(const std::string& log_path,
                        std::vector<std::string> flags) {
  flags.insert(flags.begin(), {Viewer(), "--log-path=" + log_path});
  std::string out, err;
  EXPECT_EQ(RunCommand(flags, &out, &err), 0) << err;
  EXPECT_EQ(err, "");
  return out;
}

// Some days compressed, some not, twins and temporary files: every reading
// path prints what the uncompressed log path gives.
TEST(ZiggyviewTest, CompressedDaysReadLikeUncompressedOnes) {
  const std::string logs = TwoDaysOfEvents();
  const std::string mixed = MixedCopy(logs);
  const std::string files = absl::StrJoin(ListFiles(mixed), " ");
  ASSERT_TRUE(absl::StrContains(files, "20231114/request-20231114-00.log.zst"))
      << files;
  ASSERT_TRUE(absl::StrContains(files, "20231115/request-20231115-00.log "))
      << files;
  const std::vector<std::vector<std::string>> flag_sets = {
      {},
      {"--group"},
      {"--group", "--type-name=request", "--start-date=20231114 05:00"},
      {"--stats"},
      {"--stats", "--json", "--by=body.status"},
      {"--where=body.status >= 500 and type =~ \"^request\""},
      {"--type-name=request*", "--start-date=20231114 12:00",
       "--end-date=20231115 06:00"}};
  for (const auto& flags : flag_sets) {
    SCOPED_TRACE(absl::StrJoin(flags, " "));
    const std::string expected = ViewLogPath(logs, flags);
    EXPECT_GT(std::count(expected.begin(), expected.end(), '\n'), 1);
    EXPECT_EQ(ViewLogPath(mixed, flags), expected);
  }
  EXPECT_EQ(JsonLines(ViewLogPath(mixed, {})).size(), 192u);
  // Standard input, compressed or not, and file arguments.
  const std::string day = "/20231114/request.sql-20231114-06.log";
  std::string plain_out, zst_out, err;
  ASSERT_EQ(
      RunCommand({Viewer()}, &plain_out, &err, absl::Seconds(30), logs + day),
      0);
  ASSERT_EQ(RunCommand({Viewer()}, &zst_out, &err, absl::Seconds(30),
                       mixed + day + ".zst"),
            0)
      << err;
  EXPECT_EQ(zst_out, plain_out);
  EXPECT_EQ(JsonLines(zst_out).size(), 8u);
  ASSERT_EQ(RunCommand({Viewer(), mixed + day + ".zst"}, &zst_out, &err), 0);
  EXPECT_EQ(zst_out, plain_out);
}

// A damaged compressed file: the events before the damage, then one line
// naming the file and the (decompressed) offsets, exit 2.
TEST(ZiggyviewTest, TruncatedCompressedFileExitsTwo) {
  const std::string logs = TwoDaysOfEvents();
  const std::string bytes =
      ReadFileOrEmpty(logs + "/20231114/other-20231114-00.log");
  const std::string zst = ZstdFrames(bytes, bytes.size() / 2 + 1);
  const std::string path = TempDir("truncated") + "/other.log.zst";
  { std::ofstream(path, std::ios::binary) << zst.substr(0, zst.size() - 3); }
  std::string out, err;
  EXPECT_EQ(RunCommand({Viewer(), path}, &out, &err), 2);
  EXPECT_FALSE(JsonLines(out).empty());
  EXPECT_LT(JsonLines(out).size(), 8u);
  EXPECT_TRUE(absl::StrContains(err, "other.log.zst: bytes ")) << err;
  EXPECT_TRUE(absl::StrContains(err,
                                "truncated zstd stream at decompressed "
                                "offset"))
      << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

// --raw writes the selected events' documents as stored: a file, a date
// range of a log path with a filter, and standard input cut into files
// that read back the same.
TEST(ZiggyviewTest, RawRoundTripsFilesRangesAndStdin) {
  const std::string logs = TwoDaysOfEvents();
  const std::string mixed = MixedCopy(logs);
  const std::string file = "/20231114/request-20231114-06.log";
  const std::string original = ReadFileOrEmpty(logs + file);
  ASSERT_FALSE(original.empty());
  std::string out, err;
  ASSERT_EQ(RunCommand({Viewer(), "--raw", logs + file}, &out, &err), 0);
  EXPECT_EQ(out, original);
  ASSERT_EQ(RunCommand({Viewer(), "--raw"}, &out, &err, absl::Seconds(30),
                       mixed + file + ".zst"),
            0)
      << err;
  EXPECT_EQ(out, original);
  // A whole day of one type: its files' bytes, in order.
  std::string day;
  for (const char* hour : {"00", "06", "12", "18"}) {
    day += ReadFileOrEmpty(
        absl::StrCat(logs, "/20231114/request-20231114-", hour, ".log"));
  }
  EXPECT_EQ(ViewLogPath(
                mixed, {"--raw", "--type-name=request", "--end-date=20231114"}),
            day);
  // A range with a filter, cut into a file: reads back as the selection.
  const std::vector<std::string> selection = {
      "--type-name=request*", "--start-date=20231114 08:00",
      "--end-date=20231115 10:00", "--where=body.status == 503"};
  std::vector<std::string> raw_flags = selection;
  raw_flags.push_back("--raw");
  const std::string cut = TempDir("cut") + "/cut.log";
  { std::ofstream(cut, std::ios::binary) << ViewLogPath(mixed, raw_flags); }
  const std::string expected = ViewLogPath(logs, selection);
  ASSERT_GT(JsonLines(expected).size(), 2u);
  ASSERT_EQ(RunCommand({Viewer(), cut}, &out, &err), 0) << err;
  EXPECT_EQ(out, expected);
  ASSERT_EQ(RunCommand({Viewer(), "--raw", cut}, &out, &err), 0) << err;
  EXPECT_EQ(out, ReadFileOrEmpty(cut));
}

// --raw on the live stream: the selected events' documents as they come.
TEST(ZiggyviewTest, RawLive) {
  const std::string logs = TempDir("logs");
  auto ziggyd = Ziggyd::Start(logs, {absl::StrCat("--fake-time=", kDayStart)});
  ASSERT_NE(ziggyd, nullptr);
  auto viewer = Subprocess::Start(
      {Viewer(), "-H", ziggyd->control(), "--raw", "--type-name=request"});
  ASSERT_NE(viewer, nullptr);
  Sender sender(ziggyd->collect());
  int seq = 0;
  ASSERT_TRUE(WaitFor([&] {  // until subscribed
    sender.Send(DayEvent("request", seq++));
    return !viewer->Stdout().empty();
  })) << viewer->Stderr();
  const std::string last = DayEvent("request", 999999);
  sender.Send(DayEvent("other", seq++));
  sender.Send(last);
  ASSERT_TRUE(
      WaitFor([&] { return absl::StrContains(viewer->Stdout(), last); }));
  viewer->Signal(SIGINT);
  EXPECT_EQ(viewer->Wait(), 0);
  const std::string out = viewer->Stdout();
  DocumentReader reader(out);
  absl::string_view doc;
  std::vector<std::string> docs;
  while (reader.Next(&doc)) {
    EXPECT_EQ(DecodeEvent(doc)->type, "request");
    docs.emplace_back(doc);
  }
  EXPECT_TRUE(reader.status().ok()) << reader.status();
  ASSERT_FALSE(docs.empty());
  EXPECT_EQ(docs.back(), last);
}

// Runs `argv` with standard output and error on a new pseudo-terminal;
// returns the exit code (-1 on timeout) and what the terminal got.
int RunOnTerminal(const std::vector<std::string>& argv, std::string* shown) {
  const int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) return -1;
  const std::string terminal = ptsname(master);
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(terminal.c_str(), O_RDWR | O_NOCTTY);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> args;
    for (const std::string& arg : argv)
      args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  shown->clear();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  char buffer[4096];
  while (absl::Now() < deadline) {
    pollfd p{master, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = read(master, buffer, sizeof buffer);
    if (n <= 0) break;  // EIO: the terminal's last user is gone
    shown->append(buffer, static_cast<size_t>(n));
  }
  close(master);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST(ZiggyviewTest, RawIsRefusedOnATerminalAndWithJsonFlags) {
  const std::string logs = TwoDaysOfEvents();
  const std::string file = logs + "/20231114/request-20231114-06.log";
  std::string shown;
  EXPECT_EQ(RunOnTerminal({Viewer(), "--raw", file}, &shown), 1);
  EXPECT_TRUE(absl::StrContains(shown, "not writing BSON to a terminal"))
      << shown;
  EXPECT_EQ(std::count(shown.begin(), shown.end(), '\n'), 1) << shown;
  // Without --raw the terminal gets JSON.
  EXPECT_EQ(RunOnTerminal({Viewer(), file}, &shown), 0);
  EXPECT_TRUE(absl::StrContains(shown, "\"type\":\"request\"")) << shown;
  for (const char* flag : {"--pretty", "--stats", "--group", "--fields=id"}) {
    std::string out, err;
    EXPECT_EQ(RunCommand({Viewer(), "--raw", flag, file}, &out, &err), 1)
        << flag;
    EXPECT_TRUE(out.empty());
    EXPECT_TRUE(absl::StrContains(err, "--raw")) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  }
}

// An event of `type` in the fake day with a body of ~500 bytes of words
// (text that compresses as logs do, so compressing takes a while).
std::string WordyEvent(const std::string& type, int seq) {
  static const char* kWords[] = {"select", "items", "where", "user",
                                 "cache",  "miss",  "42",    "/api/v1"};
  std::string words;
  for (uint32_t x = seq * 2654435761u; words.size() < 500; x = x * 69069 + 1) {
    absl::StrAppend(&words, kWords[x >> 29], " ");
  }
  Event e;
  e.id = absl::StrFormat("%032d", seq);
  e.type = type;
  e.host = "test-host";
  e.end = kDayStart + 60 + seq % 80000;
  e.start = e.end - 0.5;
  e.body = Value(Value::Map{{"seq", seq}, {"words", words}});
  return EncodeEvent(e);
}

// The body.seq of every JSON line of `out`, sorted.
std::vector<int> SeqsOfLines(const std::string& out) {
  std::vector<int> seqs;
  constexpr absl::string_view kKey = "\"seq\":";
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    const size_t at = line.find(kKey);
    int seq = -1;
    if (at != line.npos) {
      absl::string_view rest = line.substr(at + kKey.size());
      (void)absl::SimpleAtoi(rest.substr(0, rest.find_first_of(",}")), &seq);
    }
    seqs.push_back(seq);
  }
  std::sort(seqs.begin(), seqs.end());
  return seqs;
}

// ziggyview --log-path, run again and again while ziggyd compresses the
// day it read (--compress-after-days=1): files are renamed and unlinked
// under it, and every run still prints every event exactly once.
TEST(ZiggyviewTest, ReadingWhileZiggydCompressesSeesEveryEventOnce) {
  constexpr int kTypes = 12, kEvents = 120000;  // ~80 MB
  const std::string logs = TempDir("compressing");
  auto ziggyd = Ziggyd::Start(logs, {absl::StrCat("--fake-time=", kDayStart),
                                     "--compress-after-days=1"});
  ASSERT_NE(ziggyd, nullptr);
  Sender sender(ziggyd->collect());
  for (int seq = 0; seq < kEvents; ++seq) {
    sender.Send(WordyEvent(absl::StrCat("type", seq % kTypes), seq));
  }
  ASSERT_TRUE(ziggyd->WaitWritten(kEvents, absl::Seconds(60)));
  std::vector<int> all(kEvents);
  std::iota(all.begin(), all.end(), 0);
  // The next day: the lifecycle starts compressing the first one's files.
  ASSERT_TRUE(ziggyd->Call("ADVANCE_CLOCK", {{"seconds", 86400}}).ok());
  int overlapped = 0;  // runs during which files were being compressed
  for (int run = 0; run < 50; ++run) {
    const double before = ziggyd->StatusNumber("disk.files_compressed");
    std::string out, err;
    ASSERT_EQ(RunCommand({Viewer(), "--log-path=" + logs}, &out, &err,
                         absl::Seconds(60)),
              0)
        << err;
    EXPECT_EQ(err, "");
    ASSERT_EQ(SeqsOfLines(out), all) << "run " << run;
    if (before < kTypes) ++overlapped;
    if (before == kTypes) break;
  }
  EXPECT_GT(overlapped, 0);
  EXPECT_EQ(ziggyd->StatusNumber("disk.files_compressed"), kTypes);
  for (const std::string& name : ListFiles(logs)) {
    EXPECT_TRUE(absl::EndsWith(name, ".log.zst") ||
                !absl::StartsWith(name, "20231114/"))
        << name;
  }
}

}  // namespace
}  // namespace ziggy::testing
