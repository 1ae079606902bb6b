#include "collector/event_store.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "client/event.h"
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

TEST(EventStoreTest, UnwritableRootRefusesWithoutDropping) {
  CollectorStats stats;
  EventStore store({"/dev/null/not-a-dir", 24}, &stats);
  EXPECT_FALSE(store.Append("a", Doc("a", 1), kDay));
  EXPECT_EQ(stats.dropped_write_error.load(), 0u);
  EXPECT_GE(stats.write_errors.load(), 1u);
}

}  // namespace
}  // namespace ziggy
