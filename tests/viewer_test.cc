// ziggyview end to end against real ziggyd processes.

#include <signal.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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

// A ziggyd with `events` of type "request" and "other" on disk.
std::unique_ptr<Ziggyd> DaemonWithEvents(const std::string& logs, int events) {
  auto ziggyd = Ziggyd::Start(logs, {absl::StrCat("--fake-time=", kDayStart)});
  if (ziggyd == nullptr) return nullptr;
  Sender sender(ziggyd->collect());
  for (int i = 0; i < events; ++i) {
    sender.Send(ForeignEvent(i % 2 ? "other" : "request", 0, i));
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

TEST(ZiggyviewTest, NoDaemonIsAClearError) {
  std::string out, err;
  const int code = RunCommand({Viewer(), "-H", "127.0.0.1:1", "--timeout=1"},
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
}

}  // namespace
}  // namespace ziggy::testing
