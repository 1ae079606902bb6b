#include "collector/event_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

// 2023-11-14 00:00:00 UTC.
const absl::Time kDay = absl::FromUnixSeconds(1699920000);

std::string Root(const std::string& name) {
  return absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
}

std::string Contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string Doc(absl::string_view type, int i) {
  Event e;
  e.type = std::string(type);
  e.body = Value(Value::Map{{"i", i}});
  return EncodeEvent(e);
}

TEST(EventStoreTest, PathsByDayAndHourBlock) {
  CollectorStats stats;
  StoreOptions daily{Root("paths"), 24};
  EventStore store(daily, &stats);
  EXPECT_EQ(store.PathFor("request", kDay + absl::Hours(23)),
            Root("paths") + "/20231114/request-20231114.log");
  EXPECT_EQ(store.PathFor("a/b", kDay),
            Root("paths") + "/20231114/a%2Fb-20231114.log");
  StoreOptions hourly{Root("paths"), 5};
  EventStore blocks(hourly, &stats);
  EXPECT_EQ(blocks.PathFor("t", kDay + absl::Hours(4)),
            Root("paths") + "/20231114/t-20231114-00.log");
  EXPECT_EQ(blocks.PathFor("t", kDay + absl::Hours(23)),
            Root("paths") + "/20231114/t-20231114-20.log");
  EXPECT_EQ(blocks.PathFor("t", kDay - absl::Seconds(1)),
            Root("paths") + "/20231113/t-20231113-20.log");
}

TEST(EventStoreTest, AppendsTickFlushesAndCountsWritten) {
  CollectorStats stats;
  EventStore store({Root("append"), 24}, &stats);
  EXPECT_TRUE(store.Append("a", Doc("a", 1), kDay));
  EXPECT_TRUE(store.Append("b", Doc("b", 2), kDay));
  EXPECT_TRUE(store.Append("a", Doc("a", 3), kDay));
  store.OpenWaitingFiles();
  EXPECT_EQ(stats.written.load(), 0u);
  EXPECT_EQ(stats.open_files.load(), 2u);
  store.Tick(kDay);
  EXPECT_EQ(stats.written.load(), 3u);
  EXPECT_EQ(Contents(store.PathFor("a", kDay)), Doc("a", 1) + Doc("a", 3));
  EXPECT_EQ(Contents(store.PathFor("b", kDay)), Doc("b", 2));
}

TEST(EventStoreTest, ClosesIdleFilesAndRotates) {
  CollectorStats stats;
  StoreOptions options{Root("idle"), 24};
  options.idle_close = absl::Seconds(10);
  EventStore store(options, &stats);
  EXPECT_TRUE(store.Append("a", Doc("a", 1), kDay));
  store.Tick(kDay + absl::Seconds(5));
  EXPECT_EQ(stats.open_files.load(), 1u);
  store.Tick(kDay + absl::Seconds(11));
  EXPECT_EQ(stats.open_files.load(), 0u);
  // The next day opens the next file; the old one is closed.
  EXPECT_TRUE(store.Append("a", Doc("a", 2), kDay));
  EXPECT_TRUE(store.Append("a", Doc("a", 3), kDay + absl::Hours(24)));
  store.OpenWaitingFiles();
  EXPECT_EQ(stats.open_files.load(), 1u);
  store.CloseAll(false);
  EXPECT_EQ(Contents(store.PathFor("a", kDay)), Doc("a", 1) + Doc("a", 2));
  EXPECT_EQ(Contents(store.PathFor("a", kDay + absl::Hours(24))), Doc("a", 3));
  EXPECT_EQ(stats.written.load(), 3u);
}

TEST(EventStoreTest, BoundsOpenFiles) {
  CollectorStats stats;
  StoreOptions options{Root("bound"), 24};
  options.max_open_files = 4;
  EventStore store(options, &stats);
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(store.Append(absl::StrCat("type", i), Doc("x", i),
                             kDay + absl::Seconds(i)));
  }
  EXPECT_LE(stats.open_files.load(), 4u);
  store.CloseAll(false);
  EXPECT_EQ(stats.written.load(), 20u);
  EXPECT_EQ(stats.open_files.load(), 0u);
}

TEST(EventStoreTest, UnwritableRootHoldsEventsWithoutDropping) {
  CollectorStats stats;
  StoreOptions options{"/dev/null/not-a-dir", 24};
  options.max_pending_bytes = Doc("a", 1).size();
  EventStore store(options, &stats);
  EXPECT_TRUE(store.Append("a", Doc("a", 1), kDay));
  store.OpenWaitingFiles();
  EXPECT_GE(stats.write_errors.load(), 1u);
  EXPECT_EQ(store.waiting_events(), 1u);
  // Held, not dropped: the buffers are full, so the next event is refused.
  EXPECT_FALSE(store.Append("a", Doc("a", 2), kDay));
  EXPECT_EQ(stats.dropped_write_error.load(), 0u);
  // Giving up at the end counts what never reached a file.
  EXPECT_FALSE(store.CloseAll(false));
  EXPECT_EQ(stats.dropped_write_error.load(), 1u);
}

TEST(EventStoreTest, NewFilesOpenOffTheAppendPathInSlices) {
  CollectorStats stats;
  EventStore store({Root("slices"), 24}, &stats);
  ASSERT_TRUE(store.Append("known", Doc("known", 0), kDay));
  store.OpenWaitingFiles();
  ASSERT_EQ(stats.open_files.load(), 1u);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store.Append(absl::StrCat("new", i), Doc("new", i), kDay));
    ASSERT_TRUE(store.Append("known", Doc("known", i + 1), kDay));
  }
  // Appending opened nothing: the known type's events are in its buffer,
  // the new types' wait for their files.
  EXPECT_EQ(stats.open_files.load(), 1u);
  EXPECT_EQ(store.waiting_events(), 5u);
  EXPECT_TRUE(store.has_files_to_open());
  // A slice opens at least one file, however short.
  store.OpenWaitingFiles(absl::ZeroDuration());
  EXPECT_EQ(stats.open_files.load(), 2u);
  EXPECT_EQ(store.waiting_events(), 4u);
  store.Tick(kDay);
  EXPECT_EQ(store.waiting_events(), 0u);
  EXPECT_FALSE(store.has_files_to_open());
  EXPECT_EQ(stats.written.load(), 11u);
  EXPECT_EQ(Contents(store.PathFor("new3", kDay)), Doc("new", 3));
  std::string known;
  for (int i = 0; i <= 5; ++i) known += Doc("known", i);
  EXPECT_EQ(Contents(store.PathFor("known", kDay)), known);
}

// Tickets say which events are in their files' buffers: every event below
// oldest_waiting(), however the waiting files open out of order.
TEST(EventStoreTest, TicketsTellWhichEventsStillWait) {
  CollectorStats stats;
  EventStore store({Root("tickets"), 24}, &stats);
  ASSERT_TRUE(store.Append("known", Doc("known", 0), kDay));  // ticket 0
  store.OpenWaitingFiles();
  EXPECT_EQ(store.oldest_waiting(), 1u);
  ASSERT_TRUE(store.Append("a", Doc("a", 0), kDay));          // 1, waits
  ASSERT_TRUE(store.Append("known", Doc("known", 1), kDay));  // 2
  ASSERT_TRUE(store.Append("b", Doc("b", 0), kDay));          // 3, waits
  ASSERT_TRUE(store.Append("a", Doc("a", 1), kDay));          // 4, waits
  EXPECT_EQ(store.next_ticket(), 5u);
  EXPECT_EQ(store.oldest_waiting(), 1u);
  store.OpenWaitingFiles(absl::ZeroDuration());  // opens a: 1 and 4 go in
  EXPECT_EQ(store.oldest_waiting(), 3u);
  store.OpenWaitingFiles(absl::ZeroDuration());
  EXPECT_EQ(store.oldest_waiting(), 5u);
}

// waiting_since() is the oldest block an event waits for its file in: the
// writer's watermark for the storage lifecycle.
TEST(EventStoreTest, WaitingSinceIsTheOldestWaitingBlock) {
  CollectorStats stats;
  EventStore store({Root("waiting_since"), 6}, &stats);
  EXPECT_EQ(store.waiting_since(), absl::InfiniteFuture());
  const absl::Time late = kDay + absl::Hours(13) + absl::Minutes(5);
  ASSERT_TRUE(store.Append("a", Doc("a", 0), late));
  EXPECT_EQ(store.waiting_since(), kDay + absl::Hours(12));
  ASSERT_TRUE(store.Append("b", Doc("b", 0), kDay + absl::Hours(1)));
  ASSERT_TRUE(store.Append("b", Doc("b", 1), kDay + absl::Hours(2)));
  EXPECT_EQ(store.waiting_since(), kDay);
  store.OpenWaitingFiles(absl::ZeroDuration());  // opens a
  EXPECT_EQ(store.waiting_since(), kDay);
  store.OpenWaitingFiles(absl::ZeroDuration());  // opens b
  EXPECT_EQ(store.waiting_since(), absl::InfiniteFuture());
  EXPECT_EQ(store.waiting_events(), 0u);
}

// At shutdown one file that cannot be opened costs only its own events.
TEST(EventStoreTest, CloseAllTriesEveryWaitingFile) {
  CollectorStats stats;
  EventStore store({Root("close_all"), 24}, &stats);
  ASSERT_TRUE(store.Append("blocked", Doc("blocked", 0), kDay));
  ASSERT_TRUE(store.Append("fine", Doc("fine", 0), kDay));
  // A directory where the first type's file should go: it cannot open.
  ASSERT_EQ(mkdir(Root("close_all").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((Root("close_all") + "/20231114").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(store.PathFor("blocked", kDay).c_str(), 0755), 0);
  EXPECT_FALSE(store.CloseAll(/*sync=*/false));
  EXPECT_EQ(stats.dropped_write_error.load(), 1u);
  EXPECT_EQ(Contents(store.PathFor("fine", kDay)), Doc("fine", 0));
}

TEST(EventStoreTest, TypesBeyondTheDailyLimitGoToTheOverflowFile) {
  CollectorStats stats;
  StoreOptions options{Root("overflow"), 24};
  options.max_types_per_day = 2;
  options.idle_close = absl::Seconds(1);
  EventStore store(options, &stats);
  std::vector<std::string> opened;
  store.set_on_open(
      [&](const std::string& path, off_t) { opened.push_back(path); });
  for (const char* type : {"a", "b", "c", "d", "a", "c"}) {
    ASSERT_TRUE(store.Append(type, Doc(type, 0), kDay));
  }
  // A type with a file today keeps it, even once its slot was released.
  store.Tick(kDay + absl::Seconds(5));
  ASSERT_TRUE(store.Append("b", Doc("b", 1), kDay + absl::Seconds(6)));
  EXPECT_EQ(stats.overflowed.load(), 3u);
  EXPECT_EQ(stats.types_today.load(), 2u);
  // Another day, another budget.
  const absl::Time next_day = kDay + absl::Hours(24);
  ASSERT_TRUE(store.Append("c", Doc("c", 1), next_day));
  store.CloseAll(false);
  const std::string overflow =
      Root("overflow") + "/20231114/~overflow-20231114.log";
  EXPECT_EQ(store.PathFor("", kDay), overflow);
  EXPECT_EQ(Contents(overflow), Doc("c", 0) + Doc("d", 0) + Doc("c", 0));
  EXPECT_EQ(Contents(store.PathFor("a", kDay)), Doc("a", 0) + Doc("a", 0));
  EXPECT_EQ(Contents(store.PathFor("b", kDay)), Doc("b", 0) + Doc("b", 1));
  EXPECT_EQ(Contents(store.PathFor("c", next_day)), Doc("c", 1));
  // Opened like any file, so relay checkpoints record it.
  EXPECT_NE(std::find(opened.begin(), opened.end(), overflow), opened.end());
  EXPECT_EQ(stats.written.load(), 8u);
  StoreOptions hourly{Root("overflow"), 6};
  EXPECT_EQ(EventStore(hourly, &stats).PathFor("", kDay + absl::Hours(7)),
            Root("overflow") + "/20231114/~overflow-20231114-06.log");
}

// Types taken in turn (as a client sends request and request.sql), across
// hour blocks and past the day's type limit: each event still lands in its
// own type's file of its own block, or in the overflow file.
TEST(EventStoreTest, InterleavedTypesAcrossBlocksAndOverflow) {
  CollectorStats stats;
  StoreOptions options{Root("interleaved"), 1};
  options.max_types_per_day = 2;
  EventStore store(options, &stats);
  const absl::Time later = kDay + absl::Hours(1);
  int i = 0;
  for (absl::Time t : {kDay, kDay, later, later, kDay}) {
    for (const char* type : {"a", "b", "c", "a", "b", "a"}) {
      ASSERT_TRUE(store.Append(type, Doc(type, i++), t));
    }
    store.OpenWaitingFiles();
  }
  // Every file opened off the append path, not only at CloseAll.
  store.Tick(kDay);
  EXPECT_EQ(store.waiting_events(), 0u);
  EXPECT_EQ(stats.written.load(), 30u);
  store.CloseAll(false);
  // Per block, the indices each file holds.
  auto events = [](const char* type, std::vector<int> indices) {
    std::string all;
    for (int index : indices) all += Doc(type, index);
    return all;
  };
  EXPECT_EQ(Contents(store.PathFor("a", kDay)),
            events("a", {0, 3, 5, 6, 9, 11, 24, 27, 29}));
  EXPECT_EQ(Contents(store.PathFor("b", kDay)),
            events("b", {1, 4, 7, 10, 25, 28}));
  EXPECT_EQ(Contents(store.PathFor("a", later)),
            events("a", {12, 15, 17, 18, 21, 23}));
  EXPECT_EQ(Contents(store.PathFor("b", later)), events("b", {13, 16, 19, 22}));
  EXPECT_EQ(Contents(store.PathFor("", kDay)), events("c", {2, 8, 26}));
  EXPECT_EQ(Contents(store.PathFor("", later)), events("c", {14, 20}));
  EXPECT_EQ(stats.overflowed.load(), 5u);
}

// A claimed file cannot be opened until its claim is released (the store
// waits, and the claimant sees it wanted); an open file cannot be claimed.
TEST(OpenFileSetTest, ClaimsKeepTheStoreOutUntilReleased) {
  OpenFileSet files;
  files.Add("/logs/open.log");
  EXPECT_FALSE(files.TryClaim("/logs/open.log"));
  ASSERT_TRUE(files.TryClaim("/logs/old.log"));
  EXPECT_FALSE(files.TryClaim("/logs/old.log"));
  std::atomic<bool> opened{false};
  std::thread store([&] {
    files.Add("/logs/old.log");
    opened = true;
  });
  while (!files.Wanted("/logs/old.log")) std::this_thread::yield();
  EXPECT_FALSE(opened.load());
  EXPECT_FALSE(files.Contains("/logs/old.log"));
  files.Release("/logs/old.log");
  store.join();
  EXPECT_TRUE(opened.load());
  EXPECT_TRUE(files.Contains("/logs/old.log"));
  EXPECT_FALSE(files.Wanted("/logs/old.log"));
  EXPECT_FALSE(files.TryClaim("/logs/old.log"));
  files.Remove("/logs/old.log");
  EXPECT_TRUE(files.TryClaim("/logs/old.log"));
}

}  // namespace
}  // namespace ziggy
