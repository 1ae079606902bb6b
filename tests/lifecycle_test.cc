// ziggyd's storage lifecycle end to end (issue #16): the built binary, its
// fake clock moved by ADVANCE_CLOCK, real files under TEST_TMPDIR.
//   --retain-days: old day directories go at start and when the clock
//     moves; today's and what is not a day directory stay.
//   --compress-after-days: closed files of old days become .zst that the
//     zstd CLI and libzstd decompress to the very bytes they replaced, also
//     when ziggyd is killed -9 while compressing, again and again.
//   --min-free-disk (with a fake free-space file): below it nothing is
//     written, STATUS says so, and what was sent meanwhile lands once space
//     returns, none lost.
//   Bad values of the flags: one clear line and a non-zero exit.

#include <signal.h>
#include <sys/stat.h>
#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/reader/log_files.h"
#include "collector/lifecycle_testing.h"
#include "gtest/gtest.h"
#include "tests/process.h"
#include "tests/ziggyd.h"

namespace ziggy::testing {
namespace {

// 2023-11-14 00:00:00 UTC (directory 20231114), and a day in seconds.
constexpr int64_t kDayStart = 1699920000;
constexpr int64_t kDay = 86400;

std::string FakeTime(int64_t unix_seconds) {
  return absl::StrCat("--fake-time=", unix_seconds);
}

void WriteFile(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".new";
  std::ofstream(tmp, std::ios::binary) << bytes;
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

// (sender, seq) of every event under `logs`, .zst files decompressed here.
std::multiset<std::pair<int64_t, int64_t>> AllSequences(
    const std::string& logs) {
  std::multiset<std::pair<int64_t, int64_t>> seen;
  const std::string scratch = TempDir("decompressed") + "/file.log";
  for (const std::string& file : ListFiles(logs)) {
    std::string path = logs + "/" + file;
    if (absl::EndsWith(file, ".log.zst")) {
      WriteFile(scratch, Decompress(Contents(path)));
      path = scratch;
    } else if (!absl::EndsWith(file, ".log") || !absl::ascii_isdigit(file[0])) {
      continue;
    }
    std::string damage;
    for (const Event& e : ReadEvents(path, &damage)) {
      seen.insert(
          {e.body.Find("sender")->AsInt(), e.body.Find("seq")->AsInt()});
    }
    EXPECT_EQ(damage, "") << file;
  }
  return seen;
}

std::multiset<std::pair<int64_t, int64_t>> Expected(int64_t sender, int from,
                                                    int to) {
  std::multiset<std::pair<int64_t, int64_t>> expected;
  for (int i = from; i < to; ++i) expected.insert({sender, i});
  return expected;
}

// Text that compresses like real log text: words from a small vocabulary.
std::string Words(int64_t seed, size_t bytes) {
  static const char* const kWords[] = {
      "GET",      "POST",    "/api/v1/users", "/api/v2/orders", "200",
      "404",      "ms",      "cache",         "miss",           "hit",
      "db",       "select",  "from",          "where",          "id",
      "=",        "session", "token",         "expired",        "retry",
      "upstream", "timeout"};
  std::string text;
  uint64_t x = static_cast<uint64_t>(seed) * 6364136223846793005u + 1;
  while (text.size() < bytes) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    absl::StrAppend(&text, kWords[(x >> 33) % 22], " ", (x >> 40) % 1000, " ");
  }
  return text;
}

void Send(Ziggyd& ziggyd, const std::string& type, int64_t sender, int from,
          int to, size_t text_bytes = 0) {
  Sender out(ziggyd.collect());
  for (int i = from; i < to; ++i) {
    out.Send(ForeignEvent(type, sender, i, "test-host",
                          text_bytes > 0 ? "text" : "",
                          text_bytes > 0 ? Words(i, text_bytes) : ""));
  }
}

bool Advance(Ziggyd& ziggyd, int64_t seconds) {
  return ziggyd.Call("ADVANCE_CLOCK", {{"seconds", seconds}}).ok();
}

std::string DiskText(Ziggyd& ziggyd, const std::string& field) {
  const Value status = ziggyd.Status();
  const Value* v = status.Find("disk." + field);
  return v != nullptr && v->kind() == Value::Kind::kString ? v->AsString() : "";
}

bool Accepting(Ziggyd& ziggyd) {
  const Value status = ziggyd.Status();
  const Value* v = status.Find("disk.accepting");
  return v != nullptr && v->kind() == Value::Kind::kBool && v->AsBool();
}

TEST(LifecycleTest, RetentionRemovesOldDaysAtStartAndAsTheClockMoves) {
  const std::string logs = TempDir("retention");
  for (const char* dir : {"20231101", "20231113", "archive"}) {
    mkdir(absl::StrCat(logs, "/", dir).c_str(), 0755);
  }
  WriteFile(logs + "/20231101/old-20231101.log", "");
  WriteFile(logs + "/20231113/old-20231113.log", "");
  WriteFile(logs + "/archive/keep-20231101.log", "mine");
  auto ziggyd =
      Ziggyd::Start(logs, {FakeTime(kDayStart + 3600), "--retain-days=2"});
  ASSERT_NE(ziggyd, nullptr);
  // At start: 13 days before today goes, yesterday stays.
  ASSERT_TRUE(WaitFor([&] { return !Exists(logs + "/20231101"); }));
  EXPECT_TRUE(Exists(logs + "/20231113/old-20231113.log"));
  int sent = 0;
  for (int day = 0; day < 4; ++day) {  // the 14th to the 17th
    if (day > 0) {
      ASSERT_TRUE(Advance(*ziggyd, kDay));
    }
    Send(*ziggyd, "r", 0, sent, sent + 10);
    sent += 10;
    ASSERT_TRUE(ziggyd->WaitWritten(sent));
  }
  // Today is the 17th: the 14th (3 days back) and the 13th go; the 15th (2
  // days back), the 16th and today stay, and so does what is not a day.
  ASSERT_TRUE(WaitFor([&] { return !Exists(logs + "/20231114"); }))
      << ziggyd->Status().DebugString();
  EXPECT_FALSE(Exists(logs + "/20231113"));
  EXPECT_EQ(ListFiles(logs),
            (std::vector<std::string>{
                "20231115/r-20231115.log", "20231116/r-20231116.log",
                "20231117/r-20231117.log", "archive/keep-20231101.log"}));
  EXPECT_EQ(AllSequences(logs), Expected(0, 10, 40));
  EXPECT_EQ(ziggyd->StatusNumber("disk.days_removed"), 3);
  EXPECT_EQ(DiskText(*ziggyd, "oldest_day"), "20231115");
}

TEST(LifecycleTest, CompressedFilesDecompressToTheOriginalBytes) {
  const std::string logs = TempDir("compression");
  auto ziggyd = Ziggyd::Start(
      logs, {FakeTime(kDayStart + 3600), "--compress-after-days=1"});
  ASSERT_NE(ziggyd, nullptr);
  for (int type = 0; type < 3; ++type) {
    Send(*ziggyd, absl::StrCat("t", type), type, 0, 500, 300);
  }
  ASSERT_TRUE(ziggyd->WaitWritten(1500));
  ASSERT_TRUE(Advance(*ziggyd, 600));  // the files close, idle
  ASSERT_TRUE(ziggyd->Call("FLUSH").ok());
  std::map<std::string, std::string> originals;
  for (const std::string& file : ListFiles(logs)) {
    originals[file] = Contents(logs + "/" + file);
  }
  ASSERT_EQ(originals.size(), 3u);
  // Still today: nothing is compressed.
  EXPECT_EQ(ziggyd->StatusNumber("disk.files_compressed"), 0);
  ASSERT_TRUE(Advance(*ziggyd, kDay));
  Send(*ziggyd, "t0", 0, 500, 510, 300);
  ASSERT_TRUE(WaitFor([&] {
    return ziggyd->StatusNumber("disk.files_compressed") == 3;
  })) << ziggyd->Status().DebugString();
  ASSERT_TRUE(ziggyd->WaitWritten(1510));
  uint64_t saved = 0;
  for (const auto& [file, bytes] : originals) {
    EXPECT_FALSE(Exists(logs + "/" + file)) << file;
    const std::string zst = logs + "/" + file + ".zst";
    std::string out, err;
    ASSERT_EQ(RunCommand({"zstd", "-dc", zst}, &out, &err), 0) << err;
    EXPECT_TRUE(out == bytes) << file << ": zstd -dc differs";
    EXPECT_TRUE(Decompress(Contents(zst)) == bytes) << file;
    saved += bytes.size() - Contents(zst).size();
  }
  EXPECT_TRUE(Exists(logs + "/20231115/t0-20231115.log"));  // today's
  EXPECT_EQ(ziggyd->StatusNumber("disk.bytes_saved"), saved);
  EXPECT_GT(saved, 0u);
  uint64_t on_disk = 0;
  for (const std::string& file : ListFiles(logs)) {
    on_disk += Contents(logs + "/" + file).size();
  }
  EXPECT_TRUE(WaitFor([&] {
    return ziggyd->StatusNumber("disk.log_path_bytes") == on_disk;
  })) << on_disk
      << " " << ziggyd->Status().DebugString();
  std::multiset<std::pair<int64_t, int64_t>> expected = Expected(0, 0, 510);
  for (int type = 1; type < 3; ++type) {
    const auto more = Expected(type, 0, 500);
    expected.insert(more.begin(), more.end());
  }
  EXPECT_EQ(AllSequences(logs), expected);
}

// Every original file is there, or its .zst, or both; a .zst that is there
// decompresses to the original; no .zst.tmp counts as either.
void ExpectOriginalOrZst(const std::string& logs,
                         const std::map<std::string, std::string>& originals,
                         const std::string& moment) {
  for (const auto& [file, bytes] : originals) {
    const std::string path = logs + "/" + file;
    const bool original = Exists(path), zst = Exists(path + ".zst");
    EXPECT_TRUE(original || zst) << file << " lost " << moment;
    if (original) {
      EXPECT_TRUE(Contents(path) == bytes) << file << moment;
    }
    if (zst) {
      EXPECT_TRUE(Decompress(Contents(path + ".zst")) == bytes)
          << file << ".zst is not the original " << moment;
    }
  }
}

// A day of large files, ziggyd killed -9 at several moments of compressing
// them, restarted each time, then stopped with SIGTERM in the middle of one.
TEST(LifecycleTest, KillNineWhileCompressingNeverLosesAFile) {
  const std::string logs = TempDir("kill");
  constexpr int kTypes = 2, kEvents = 16000;  // ~16 MB per file
  {
    auto ziggyd = Ziggyd::Start(logs, {FakeTime(kDayStart + 3600)});
    ASSERT_NE(ziggyd, nullptr);
    for (int type = 0; type < kTypes; ++type) {
      Send(*ziggyd, absl::StrCat("big", type), type, 0, kEvents, 1000);
    }
    ASSERT_TRUE(ziggyd->WaitWritten(kTypes * kEvents, absl::Seconds(120)));
    ziggyd->process().Signal(SIGTERM);
    ASSERT_EQ(ziggyd->process().Wait(), 0);
  }
  std::map<std::string, std::string> originals;
  for (const std::string& file : ListFiles(logs)) {
    originals[file] = Contents(logs + "/" + file);
  }
  ASSERT_EQ(originals.size(), static_cast<size_t>(kTypes));
  const std::string dir = logs + "/20231114/";
  const std::string first = dir + "big0-20231114.log";
  // The moments: a .tmp just begun, a .tmp a megabyte in, the second
  // file's .tmp (the first one done). A .tmp the last kill left is there
  // until the restart removes it: a megabyte more than it was is a new one.
  size_t stale = 0;
  const std::vector<std::pair<std::string, std::function<bool()>>> moments = {
      {"at the first .tmp", [&] { return Exists(first + ".zst.tmp"); }},
      {"a megabyte in",
       [&] { return Contents(first + ".zst.tmp").size() > stale + (1 << 20); }},
      {"at the second file",
       [&] { return Exists(dir + "big1-20231114.log.zst.tmp"); }},
  };
  const std::vector<std::string> flags = {FakeTime(kDayStart + kDay + 3600),
                                          "--compress-after-days=1"};
  for (const auto& [moment, reached] : moments) {
    stale = Contents(first + ".zst.tmp").size();
    auto ziggyd = Ziggyd::Start(logs, flags);
    ASSERT_NE(ziggyd, nullptr);
    const bool caught =
        WaitFor(reached, absl::Seconds(60), absl::Milliseconds(1));
    ziggyd->process().Signal(SIGKILL);
    ziggyd->process().Wait();
    EXPECT_TRUE(caught) << "never saw the moment " << moment;
    ExpectOriginalOrZst(logs, originals, "after a kill -9 " + moment);
  }
  {  // SIGTERM while compressing: a prompt, clean stop that removes its .tmp
    const std::string second = dir + "big1-20231114.log.zst.tmp";
    stale = Contents(second).size();
    auto ziggyd = Ziggyd::Start(logs, flags);
    ASSERT_NE(ziggyd, nullptr);
    ASSERT_TRUE(
        WaitFor([&] { return Contents(second).size() > stale + (256 << 10); },
                absl::Seconds(60), absl::Milliseconds(1)));
    ziggyd->process().Signal(SIGTERM);
    EXPECT_EQ(ziggyd->process().Wait(absl::Seconds(5)), 0);
    EXPECT_FALSE(Exists(second));
    ExpectOriginalOrZst(logs, originals, "after SIGTERM");
  }
  auto ziggyd = Ziggyd::Start(logs, flags);
  ASSERT_NE(ziggyd, nullptr);
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& [file, bytes] : originals) {
          if (Exists(logs + "/" + file)) return false;
        }
        return true;
      },
      absl::Seconds(120)));
  ExpectOriginalOrZst(logs, originals, "after the restart");
  std::vector<std::string> compressed;
  for (const auto& [file, bytes] : originals) {
    compressed.push_back(file + ".zst");
  }
  EXPECT_EQ(ListFiles(logs), compressed);  // no .tmp, no original
  std::multiset<std::pair<int64_t, int64_t>> expected;
  for (int type = 0; type < kTypes; ++type) {
    const auto each = Expected(type, 0, kEvents);
    expected.insert(each.begin(), each.end());
  }
  EXPECT_EQ(AllSequences(logs), expected);
}

// (sender, seq) of every event as the readers see them: the files
// FindLogFiles() lists (an original, not its .zst twin, when both exist),
// .zst files decompressed here.
std::multiset<std::pair<int64_t, int64_t>> ReaderSequences(
    const std::string& logs) {
  std::multiset<std::pair<int64_t, int64_t>> seen;
  const std::string scratch = TempDir("reader_decompressed") + "/file.log";
  LogFileQuery query;
  query.log_path = logs;
  absl::StatusOr<std::vector<LogFileInfo>> files = FindLogFiles(query);
  EXPECT_TRUE(files.ok()) << files.status();
  for (const LogFileInfo& file : files.value_or(std::vector<LogFileInfo>())) {
    std::string path = file.path;
    if (absl::EndsWith(path, ".zst")) {
      WriteFile(scratch, Decompress(Contents(path)));
      path = scratch;
    }
    for (const Event& e : ReadEvents(path)) {
      seen.insert(
          {e.body.Find("sender")->AsInt(), e.body.Find("seq")->AsInt()});
    }
  }
  return seen;
}

// The clock steps back across midnight (NTP, a VM resumed, a fixed RTC)
// after yesterday's file was compressed: events received then belong to
// yesterday again. None of them, nor of what was compressed, may vanish
// from the readers, before or after a restart.
TEST(LifecycleTest, ClockSteppingBackAfterCompressionHidesNoEvent) {
  const std::string logs = TempDir("clock_back");
  const std::vector<std::string> flags = {FakeTime(kDayStart + kDay - 600),
                                          "--compress-after-days=1"};
  {
    auto ziggyd = Ziggyd::Start(logs, flags);
    ASSERT_NE(ziggyd, nullptr);
    Send(*ziggyd, "t", 0, 0, 10);
    ASSERT_TRUE(ziggyd->WaitWritten(10));
    ASSERT_TRUE(Advance(*ziggyd, 300));  // the file closes, idle
    ASSERT_TRUE(ziggyd->Call("FLUSH").ok());
    ASSERT_TRUE(Advance(*ziggyd, 330));  // 00:00:30 of the 15th
    ASSERT_TRUE(WaitFor([&] {
      return ziggyd->StatusNumber("disk.files_compressed") == 1;
    })) << ziggyd->Status().DebugString();
    ASSERT_TRUE(Advance(*ziggyd, -60));  // 23:59:30 of the 14th again
    Send(*ziggyd, "t", 0, 10, 20);
    ASSERT_TRUE(ziggyd->WaitWritten(20));
    ASSERT_TRUE(ziggyd->Call("FLUSH").ok());
    EXPECT_EQ(ReaderSequences(logs), Expected(0, 0, 20)) << "while running";
    ziggyd->process().Signal(SIGTERM);
    ASSERT_EQ(ziggyd->process().Wait(), 0);
  }
  auto ziggyd = Ziggyd::Start(
      logs, {FakeTime(kDayStart + kDay + 3600), "--compress-after-days=1"});
  ASSERT_NE(ziggyd, nullptr);
  const std::string file = logs + "/20231114/t-20231114.log";
  // Settled: no original beside its .zst.
  ASSERT_TRUE(WaitFor([&] { return !Exists(file) || !Exists(file + ".zst"); }))
      << ziggyd->Status().DebugString();
  EXPECT_EQ(ReaderSequences(logs), Expected(0, 0, 20)) << "after a restart";
}

TEST(LifecycleTest, BelowMinFreeDiskNothingIsWrittenAndNothingLost) {
  const std::string logs = TempDir("min_free");
  const std::string free_file = TempDir("fake_free") + "/bytes";
  WriteFile(free_file, "10737418240\n");  // 10 GiB
  auto ziggyd =
      Ziggyd::Start(logs, {FakeTime(kDayStart + 3600), "--min-free-disk=1G",
                           "--fake-free-disk-file=" + free_file});
  ASSERT_NE(ziggyd, nullptr);
  Send(*ziggyd, "r", 0, 0, 100);
  ASSERT_TRUE(ziggyd->WaitWritten(100));
  EXPECT_TRUE(Accepting(*ziggyd));
  EXPECT_EQ(ziggyd->StatusNumber("disk.free_bytes"), 10737418240.0);
  EXPECT_EQ(ziggyd->StatusNumber("disk.min_free_bytes"), 1073741824.0);

  WriteFile(free_file, "104857600\n");  // 100 MiB
  ASSERT_TRUE(WaitFor([&] { return !Accepting(*ziggyd); }, absl::Seconds(10)));
  EXPECT_EQ(ziggyd->StatusNumber("disk.low_disk_pauses"), 1);
  Sender sender(ziggyd->collect());  // open until the events land
  for (int i = 100; i < 600; ++i) sender.Send(ForeignEvent("r", 0, i));
  // Held back for as long as we look: nothing more reaches the files.
  EXPECT_FALSE(WaitFor([&] { return ziggyd->StatusNumber("written") > 100; },
                       absl::Seconds(2)));
  EXPECT_EQ(AllSequences(logs), Expected(0, 0, 100));
  EXPECT_FALSE(Accepting(*ziggyd));

  WriteFile(free_file, "10737418240\n");
  ASSERT_TRUE(ziggyd->WaitWritten(600)) << ziggyd->Status().DebugString();
  EXPECT_TRUE(Accepting(*ziggyd));
  EXPECT_EQ(AllSequences(logs), Expected(0, 0, 600));
  EXPECT_EQ(ziggyd->StatusNumber("disk.low_disk_pauses"), 1);
}

// Through a forwarder: below --min-free-disk the relay port is not read,
// so nothing is acknowledged and the forwarder keeps its spool; once space
// returns every event lands, once.
TEST(LifecycleTest, BelowMinFreeDiskTheRelayStopsAcknowledging) {
  const std::string logs = TempDir("min_free_relay");
  const std::string free_file = TempDir("fake_free_relay") + "/bytes";
  WriteFile(free_file, "100\n");
  auto ziggyd = Ziggyd::Start(
      logs, {"--min-free-disk=1K", "--fake-free-disk-file=" + free_file});
  ASSERT_NE(ziggyd, nullptr);
  ASSERT_TRUE(WaitFor([&] { return !Accepting(*ziggyd); }, absl::Seconds(10)));
  auto forwarder = Ziggyd::StartForwarder(TempDir("spool"), ziggyd->relay());
  ASSERT_NE(forwarder, nullptr);
  Send(*forwarder, "relayed", 7, 0, 300);
  ASSERT_TRUE(
      WaitFor([&] { return forwarder->StatusNumber("spool.pending") == 300; }));
  EXPECT_FALSE(WaitFor(
      [&] {
        return ziggyd->StatusNumber("written") > 0 ||
               forwarder->StatusNumber("spool.acked") > 0;
      },
      absl::Seconds(2)));
  WriteFile(free_file, "1000000\n");
  ASSERT_TRUE(ziggyd->WaitWritten(300)) << ziggyd->Status().DebugString();
  ASSERT_TRUE(
      WaitFor([&] { return forwarder->StatusNumber("spool.pending") == 0; }));
  EXPECT_EQ(AllSequences(logs), Expected(7, 0, 300));
  EXPECT_EQ(ziggyd->StatusNumber("disk.low_disk_pauses"), 1);
}

TEST(LifecycleTest, BadFlagValuesAreOneClearLine) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--min-free-disk=12X", "--min-free-disk"},
      {"--min-free-disk=-1", "--min-free-disk"},
      {"--min-free-disk=1.5G", "--min-free-disk"},
      {"--retain-days=-1", "--retain-days"},
      {"--compress-after-days=-3", "--compress-after-days"},
  };
  for (const auto& [flag, name] : cases) {
    std::string out, err;
    const int code = RunCommand(
        {RunfilesPath("collector/ziggyd"), flag,
         "--log-path=" + TempDir("bad_flags"), "--control=127.0.0.1:0",
         "--collect=127.0.0.1:0", "--relay="},
        &out, &err);
    EXPECT_NE(code, 0) << flag;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << flag << err;
    EXPECT_TRUE(absl::StartsWith(err, "ziggyd: " + name)) << flag << err;
  }
}

}  // namespace
}  // namespace ziggy::testing
