#include "client/internal/event_ring.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace ziggy::internal {
namespace {

TEST(EventRingTest, FifoAcrossWrapAround) {
  EventRing ring(4096);
  uint64_t pushed = 0, popped = 0;
  for (int round = 0; round < 2000; ++round) {
    const std::string record(1 + (round * 37) % 500, 'a' + round % 26);
    ASSERT_TRUE(ring.TryPush(record)) << round;
    ++pushed;
    absl::string_view got;
    ASSERT_TRUE(ring.Peek(&got));
    EXPECT_EQ(got, record);
    ring.Pop();
    ++popped;
  }
  EXPECT_TRUE(ring.empty());
  absl::string_view got;
  EXPECT_FALSE(ring.Peek(&got));
}

TEST(EventRingTest, RefusesWhenFullAndRecovers) {
  EventRing ring(4096);
  const std::string record(100, 'x');
  int accepted = 0;
  while (ring.TryPush(record)) ++accepted;
  EXPECT_GT(accepted, 30);
  EXPECT_LE(accepted * 104, 4096);
  absl::string_view got;
  ASSERT_TRUE(ring.Peek(&got));
  ring.Pop();
  EXPECT_TRUE(ring.TryPush(record));
  EXPECT_FALSE(ring.TryPush(std::string(ring.max_record_size() + 1, 'y')));
}

TEST(EventRingTest, EmptyRecords) {
  EventRing ring(4096);
  ASSERT_TRUE(ring.TryPush(""));
  absl::string_view got = "not empty";
  ASSERT_TRUE(ring.Peek(&got));
  EXPECT_TRUE(got.empty());
}

TEST(EventRingTest, ProducerAndConsumerThreads) {
  EventRing ring(8192);
  constexpr int kRecords = 200000;
  std::thread producer([&] {
    for (int i = 0; i < kRecords;) {
      if (ring.TryPush(absl::StrCat(i, std::string(i % 300, '.')))) ++i;
    }
  });
  for (int i = 0; i < kRecords;) {
    absl::string_view got;
    if (!ring.Peek(&got)) continue;
    ASSERT_EQ(got, absl::StrCat(i, std::string(i % 300, '.')));
    ring.Pop();
    ++i;
  }
  producer.join();
  EXPECT_TRUE(ring.empty());
}

}  // namespace
}  // namespace ziggy::internal
