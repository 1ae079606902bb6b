// StorageLifecycle's passes on real directories: retention removes exactly
// the days more than N days old (hour-block files too), leaves anything that
// is not a day directory or an event file, and skips directories with files
// in use; compression turns exactly the closed event files of old enough
// days into .zst; the start-up cleanup removes .tmp files and settles twins.

#include "collector/storage_lifecycle.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "client/format/log_layout.h"
#include "collector/event_writer.h"
#include "collector/free_space.h"
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

// An event of type "t" (its file: t-<day>.log), numbered `i`.
std::string EventDoc(int i) {
  Event e;
  e.type = "t";
  e.body = Value(Value::Map{{"i", i}});
  return EncodeEvent(e);
}

void AddEvent(EventBatch* batch, const std::string& doc) {
  // The type's text follows the key "type\0" and its int32 length.
  batch->Add(doc, doc.find(std::string("type\0", 5)) + 5 + 4, 1);
}

std::vector<std::string> ListDir(const std::string& dir) {
  return FileSystem::Default()->ListDirectory(dir).value_or(
      std::vector<std::string>{});
}

bool WaitFor(const std::function<bool()>& done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

// Waits (up to 20 s) until `path` exists.
bool WaitForFile(const std::string& path) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!Exists(path)) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
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

// A file the store opens while it is being compressed (a clock stepped
// back to its day): the compression stops, the store gets the file only
// after it has, and finds the original whole (or, had it finished, only a
// whole .zst, which the store restores); never a file unlinked under it.
TEST(StorageLifecycleTest, ACompressionStopsForTheStoreAndHoldsItOffMeanwhile) {
  const std::string root = TestDir("claimed");
  const std::string name = DayName(kToday - 5);
  mkdir(absl::StrCat(root, "/", name).c_str(), 0755);
  const std::string path = absl::StrCat(root, "/", name, "/t-", name, ".log");
  std::string bytes;
  for (uint32_t x = 1; bytes.size() < (48 << 20); x = x * 1103515245 + 12345) {
    absl::StrAppend(&bytes, x >> 16, " ");
  }
  Write(path, bytes);
  OpenFileSet files;
  LifecycleOptions options = Options(root, 0, 1);
  options.files = &files;
  StorageLifecycle lifecycle(options);
  std::thread pass([&] { lifecycle.PassForTest(kToday); });
  ASSERT_TRUE(WaitForFile(path + ".zst.tmp"));
  files.Add(path);  // the store opening it
  EXPECT_FALSE(Exists(path + ".zst.tmp"));
  if (Exists(path)) {
    EXPECT_EQ(Contents(path), bytes);
    EXPECT_FALSE(Exists(path + ".zst"));
  } else {
    EXPECT_EQ(Decompress(Contents(path + ".zst")), bytes);
  }
  pass.join();
  EXPECT_EQ(lifecycle.stats().compression_errors.load(), 0u);
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

// The writer may be restoring a file of a day the clock came back to
// (RestoreCompressedTwin: its .zst.tmp, then the original beside the .zst
// for a moment): the start-up cleanup leaves today's directory alone.
TEST(StorageLifecycleTest, StartUpLeavesTodaysDirectoryToTheWriter) {
  const std::string root = TestDir("startup_today");
  const int64_t today = absl::ToUnixSeconds(absl::Now()) / 86400;
  const std::string dir = MakeDay(root, today);
  const std::string name =
      absl::StrCat(dir, "/request-", DayName(today), ".log");
  const std::string bytes = Contents(name);
  Write(name + ".zst.tmp", "being restored");
  std::string zst(ZSTD_compressBound(bytes.size()), '\0');
  zst.resize(
      ZSTD_compress(zst.data(), zst.size(), bytes.data(), bytes.size(), 3));
  Write(name + ".zst", zst);  // restored, the .zst not yet unlinked
  StorageLifecycle restarted(Options(root, 0, 0));
  restarted.SettleCrashLeftoversForTest();
  EXPECT_EQ(Contents(name), bytes);
  EXPECT_EQ(Contents(name + ".zst.tmp"), "being restored");
  EXPECT_TRUE(Exists(name + ".zst"));
}

// Hostile entries in the log path: a FIFO named like an event file must
// not block the lifecycle thread (and with it ziggyd's shutdown) in open(),
// and a day directory that is a symlink must not make retention delete
// files outside the log path.
TEST(StorageLifecycleTest, FifosAndSymlinkedDaysAreLeftAlone) {
  const std::string root = TestDir("hostile");
  const std::string outside = TestDir("hostile_outside");
  const std::string old = DayName(kToday - 30);
  const std::string dir = absl::StrCat(root, "/", DayName(kToday - 20));
  mkdir(dir.c_str(), 0755);
  const std::string fifo =
      absl::StrCat(dir, "/pipe-", DayName(kToday - 20), ".log");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  const std::string theirs = absl::StrCat(outside, "/keep-", old, ".log");
  Write(theirs, "not the collector's");
  ASSERT_EQ(symlink(outside.c_str(), absl::StrCat(root, "/", old).c_str()), 0);
  StorageLifecycle retain(Options(root, 25, 1));
  std::atomic<bool> done{false};
  std::thread pass([&] {
    retain.PassForTest(kToday);
    done = true;
  });
  const bool returned = WaitFor([&] { return done.load(); });
  if (!returned) {  // unblock the open() so the test can end
    const int fd = open(fifo.c_str(), O_WRONLY);
    if (fd >= 0) close(fd);
  }
  pass.join();
  EXPECT_TRUE(returned) << "the pass blocked on a FIFO";
  EXPECT_EQ(Contents(theirs), "not the collector's");
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
  // The differing .zst was set aside whole, counted, and is no event file:
  // later passes (compression, retention, scans) leave it alone.
  std::string aside;
  for (const std::string& name : ListDir(dir)) {
    if (absl::StartsWith(name, absl::StrCat("sql-", day, "-06.log.zst."))) {
      aside = name;
    }
  }
  ASSERT_TRUE(absl::StartsWith(
      aside, absl::StrCat("sql-", day, "-06.log.zst.conflict-")))
      << aside;
  EXPECT_EQ(Decompress(Contents(dir + "/" + aside)), differs_bytes);
  EXPECT_FALSE(ParseLogFileName(aside, *ParseDayName(day)).has_value());
  EXPECT_EQ(restarted.stats().compression_errors.load(), 1u);
  StorageLifecycle later(Options(root, 1, 1));
  later.PassForTest(kToday);
  EXPECT_EQ(Decompress(Contents(dir + "/" + aside)), differs_bytes);
}

// The writer holds a batch of an old day (--min-free-disk says no): the
// lifecycle, asking EventWriter::UnwrittenSince(), neither compresses nor
// removes that day, though the clock is days past it and its file is not
// open; once the batch is written (and the file closed) it does both.
TEST(StorageLifecycleTest, ADayIsLeftAloneWhileTheWriterHoldsItsEvents) {
  const std::string root = TestDir("held");
  const int64_t day = kToday - 3;
  const absl::Time received = absl::FromUnixSeconds(day * 86400 + 43200);
  const std::string dir = absl::StrCat(root, "/", DayName(day));
  const std::string file = absl::StrCat(dir, "/t-", DayName(day), ".log");
  mkdir(dir.c_str(), 0755);
  Write(file, EventDoc(1));  // written (and closed) earlier that day
  const std::string fake_free = root + "/free";
  Write(fake_free, "10");
  FreeSpaceGuard guard({root, 1000, fake_free});
  guard.Tick();  // measures: too little
  ASSERT_FALSE(guard.accepting());
  ManualClock clock(received);
  CollectorStats stats;
  OpenFileSet open_files;
  StoreOptions store;
  store.root = root;
  store.open_files = &open_files;
  EventWriter writer(store, &stats, &clock, absl::Milliseconds(10), nullptr, -1,
                     &guard);
  std::unique_ptr<EventBatch> batch = writer.NewBatch();
  AddEvent(batch.get(), EventDoc(2));
  writer.Submit(std::move(batch));
  writer.FillingDone();
  clock.Advance(absl::Hours(72));
  ASSERT_TRUE(WaitFor([&] { return writer.queued_bytes() == 0; }));
  EXPECT_EQ(writer.UnwrittenSince(), received);  // held by the writer
  auto lifecycle = [&](int retain, int compress) {
    LifecycleOptions options = Options(root, retain, compress);
    options.clock = &clock;
    options.files = &open_files;  // as ziggyd wires it
    options.unwritten_since = [&] { return writer.UnwrittenSince(); };
    return std::make_unique<StorageLifecycle>(options);
  };
  lifecycle(0, 1)->PassNowForTest();
  EXPECT_TRUE(lifecycle(1, 0)->PassNowForTest().empty());
  EXPECT_FALSE(Exists(file + ".zst"));
  EXPECT_EQ(Contents(file), EventDoc(1));
  // Space returns: the batch lands in the day's file, beside the first.
  Write(fake_free, "1000000000");
  ASSERT_TRUE(writer.Flush(absl::Seconds(30)));
  writer.Finish();  // closes the files
  EXPECT_EQ(writer.UnwrittenSince(), clock.Now());
  EXPECT_EQ(Contents(file), EventDoc(1) + EventDoc(2));
  lifecycle(0, 1)->PassNowForTest();
  EXPECT_FALSE(Exists(file));
  EXPECT_EQ(Decompress(Contents(file + ".zst")), EventDoc(1) + EventDoc(2));
  EXPECT_EQ(lifecycle(1, 0)->PassNowForTest(),
            std::vector<std::string>{DayName(day)});
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
