// StorageLifecycle's passes on real directories: retention removes exactly
// the days more than N days old (hour-block files too), leaves anything that
// is not a day directory or an event file, and skips directories with files
// in use; compression turns exactly the closed event files of old enough
// days into .zst; the start-up cleanup removes .tmp files and settles twins.

#include "collector/storage_lifecycle.h"

#include <sys/stat.h>
#include <zstd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/format/log_layout.h"
#include "collector/lifecycle_testing.h"
#include "common/durable_file.h"
#include "gtest/gtest.h"

namespace ziggy::testing {
namespace {

constexpr int64_t kToday = 19675;  // 2023-11-14

std::string DayName(int64_t day) {
  return absl::FormatTime("%Y%m%d", absl::FromUnixSeconds(day * 86400),
                          absl::UTCTimeZone());
}

// <root>/<day>/ with a daily and an hour-block event file; returns the dir.
std::string MakeDay(const std::string& root, int64_t day) {
  const std::string name = DayName(day);
  const std::string dir = absl::StrCat(root, "/", name);
  mkdir(dir.c_str(), 0755);
  Write(absl::StrCat(dir, "/request-", name, ".log"),
        std::string(5000, 'r') + name);
  Write(absl::StrCat(dir, "/sql-", name, "-06.log"),
        std::string(3000, 's') + name);
  return dir;
}

LifecycleOptions Options(const std::string& root, int retain, int compress) {
  LifecycleOptions options;
  options.root = root;
  options.retain_days = retain;
  options.compress_after_days = compress;
  return options;
}

TEST(StorageLifecycleTest, RetentionRemovesExactlyTheDaysBeyondN) {
  const std::string root = TestDir("retention");
  for (int64_t back = 0; back <= 10; ++back) MakeDay(root, kToday - back);
  StorageLifecycle lifecycle(Options(root, 7, 0));
  const std::vector<std::string> removed = lifecycle.PassForTest(kToday);
  EXPECT_EQ(removed,
            (std::vector<std::string>{DayName(kToday - 10), DayName(kToday - 9),
                                      DayName(kToday - 8)}));
  for (int64_t back = 0; back <= 10; ++back) {
    EXPECT_EQ(Exists(absl::StrCat(root, "/", DayName(kToday - back))),
              back <= 7)
        << back;  // N = 7 keeps today and the 7 days before it
  }
  EXPECT_EQ(lifecycle.stats().days_removed.load(), 3u);
  EXPECT_EQ(lifecycle.oldest_day(), DayName(kToday - 7));
  // The next day, the 7th day back goes too.
  EXPECT_EQ(lifecycle.PassForTest(kToday + 1),
            std::vector<std::string>{DayName(kToday - 7)});
}

TEST(StorageLifecycleTest, RetentionLeavesWhatIsNotADayOrAnEventFile) {
  const std::string root = TestDir("strangers");
  const std::string old = MakeDay(root, kToday - 30);
  Write(old + "/notes.txt", "mine");
  Write(old + "/request.log.corrupt-123", "set aside");
  for (const char* name : {"archive", "2023111", "20231399", "x20231101"}) {
    mkdir(absl::StrCat(root, "/", name).c_str(), 0755);
  }
  Write(root + "/.relay-state", "state");
  Write(root + "/20231101", "a file, not a directory");
  StorageLifecycle lifecycle(Options(root, 1, 0));
  EXPECT_TRUE(lifecycle.PassForTest(kToday).empty());
  // Its event files went; the directory stays for what else is in it.
  EXPECT_FALSE(
      Exists(absl::StrCat(old, "/request-", DayName(kToday - 30), ".log")));
  EXPECT_FALSE(
      Exists(absl::StrCat(old, "/sql-", DayName(kToday - 30), "-06.log")));
  EXPECT_EQ(Contents(old + "/notes.txt"), "mine");
  EXPECT_EQ(Contents(old + "/request.log.corrupt-123"), "set aside");
  for (const char* name : {"archive", "2023111", "20231399", "x20231101",
                           ".relay-state", "20231101"}) {
    EXPECT_TRUE(Exists(absl::StrCat(root, "/", name))) << name;
  }
}

TEST(StorageLifecycleTest, DirectoriesWithFilesInUseAreSkipped) {
  const std::string root = TestDir("in_use");
  const std::string busy = MakeDay(root, kToday - 20);
  MakeDay(root, kToday - 21);
  const std::string busy_file =
      absl::StrCat(busy, "/sql-", DayName(kToday - 20), "-06.log");
  LifecycleOptions options = Options(root, 2, 1);
  options.in_use = [&](const std::string& path) { return path == busy_file; };
  StorageLifecycle lifecycle(options);
  EXPECT_EQ(lifecycle.PassForTest(kToday),
            std::vector<std::string>{DayName(kToday - 21)});
  EXPECT_TRUE(Exists(busy_file));
  EXPECT_TRUE(
      Exists(absl::StrCat(busy, "/request-", DayName(kToday - 20), ".log")));
  // Compression skips the busy file but not its neighbour.
  StorageLifecycle compress_only([&] {
    LifecycleOptions o = options;
    o.retain_days = 0;
    return o;
  }());
  compress_only.PassForTest(kToday);
  EXPECT_TRUE(Exists(busy_file));
  EXPECT_FALSE(Exists(busy_file + ".zst"));
  EXPECT_TRUE(Exists(
      absl::StrCat(busy, "/request-", DayName(kToday - 20), ".log.zst")));
}

TEST(StorageLifecycleTest, CompressionTakesExactlyTheOldEnoughDays) {
  const std::string root = TestDir("compression");
  std::map<std::string, std::string> originals;
  for (int64_t back = 0; back <= 4; ++back) {
    const std::string dir = MakeDay(root, kToday - back);
    Write(dir + "/notes.log.txt", "not an event file");
    const absl::StatusOr<std::vector<std::string>> names =
        FileSystem::Default()->ListDirectory(dir);
    for (const std::string& name : *names) {
      originals[dir + "/" + name] = Contents(dir + "/" + name);
    }
  }
  StorageLifecycle lifecycle(Options(root, 0, 2));
  lifecycle.PassForTest(kToday);
  uint64_t saved = 0;
  for (const auto& [path, bytes] : originals) {
    const bool event = path.find(".log.txt") == std::string::npos;
    const bool old_enough =
        path.find(DayName(kToday - 2)) != std::string::npos ||
        path.find(DayName(kToday - 3)) != std::string::npos ||
        path.find(DayName(kToday - 4)) != std::string::npos;
    if (event && old_enough) {
      EXPECT_FALSE(Exists(path)) << path;
      const std::string zst = Contents(path + ".zst");
      EXPECT_EQ(Decompress(zst), bytes) << path;
      saved += bytes.size() - zst.size();
    } else {
      EXPECT_EQ(Contents(path), bytes) << path;
      EXPECT_FALSE(Exists(path + ".zst")) << path;
    }
  }
  EXPECT_EQ(lifecycle.stats().files_compressed.load(), 6u);
  EXPECT_EQ(lifecycle.stats().bytes_saved.load(), saved);
  EXPECT_EQ(lifecycle.stats().compression_errors.load(), 0u);
}

TEST(StorageLifecycleTest, StartUpRemovesTmpFilesAndSettlesTwins) {
  const std::string root = TestDir("startup");
  const std::string dir = MakeDay(root, kToday - 5);
  const std::string day = DayName(kToday - 5);
  const std::string same = absl::StrCat(dir, "/request-", day, ".log");
  const std::string differs = absl::StrCat(dir, "/sql-", day, "-06.log");
  const std::string same_bytes = Contents(same);
  const std::string differs_bytes = Contents(differs);
  // Twins as a crash between rename and unlink leaves them.
  StorageLifecycle compress(Options(root, 0, 1));
  compress.PassForTest(kToday);
  Write(same, same_bytes);
  Write(differs, differs_bytes + "rolled forward");
  Write(absl::StrCat(dir, "/other-", day, ".log.zst.tmp"), "half");
  Write(dir + "/mine.zst.tmp", "not ours");
  StorageLifecycle restarted(Options(root, 0, 0));
  restarted.SettleCrashLeftoversForTest();
  EXPECT_FALSE(Exists(same));
  EXPECT_EQ(Decompress(Contents(same + ".zst")), same_bytes);
  EXPECT_FALSE(Exists(differs + ".zst"));
  EXPECT_EQ(Contents(differs), differs_bytes + "rolled forward");
  EXPECT_FALSE(Exists(absl::StrCat(dir, "/other-", day, ".log.zst.tmp")));
  EXPECT_EQ(Contents(dir + "/mine.zst.tmp"), "not ours");
}

TEST(StorageLifecycleTest, ThreadPassesWhenPokedAndCountsBytes) {
  const std::string root = TestDir("thread");
  MakeDay(root, kToday - 3);
  MakeDay(root, kToday);
  ManualClock clock(absl::FromUnixSeconds(kToday * 86400 + 3600));
  LifecycleOptions options = Options(root, 3, 0);
  options.clock = &clock;
  uint64_t written = 0;
  options.written_bytes = [&written] { return written; };
  StorageLifecycle lifecycle(options);
  lifecycle.Start();
  auto wait_for = [](const std::function<bool()>& done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (!done() && absl::Now() < deadline)
      absl::SleepFor(absl::Milliseconds(10));
    return done();
  };
  ASSERT_TRUE(wait_for([&] { return lifecycle.stats().passes.load() >= 1; }));
  EXPECT_EQ(lifecycle.log_path_bytes(), 2u * (5008 + 3008));
  EXPECT_EQ(lifecycle.oldest_day(), DayName(kToday - 3));
  clock.Advance(absl::Hours(24));
  lifecycle.Poke();
  ASSERT_TRUE(
      wait_for([&] { return lifecycle.stats().days_removed.load() == 1; }));
  EXPECT_FALSE(Exists(absl::StrCat(root, "/", DayName(kToday - 3))));
  lifecycle.Stop();
  EXPECT_EQ(lifecycle.log_path_bytes(), 5008u + 3008u);
}

}  // namespace
}  // namespace ziggy::testing
