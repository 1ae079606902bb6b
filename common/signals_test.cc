#include "common/signals.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

// Waits until `value` reaches `want` (5 s at most).
bool Reaches(const std::atomic<int>& value, int want) {
  const absl::Time end = absl::Now() + absl::Seconds(5);
  while (value.load() < want && absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  return value.load() >= want;
}

// The test runs on the process's only thread, so the signals it sends
// itself can only reach TerminationSignals' thread.
TEST(TerminationSignalsTest, HangupCallsItsCallbackEachTimeThenTermStops) {
  TerminationSignals signals(TerminationSignals::Hangup::kCallback);
  std::atomic<int> hangups{0}, stopped_by{0};
  signals.Start([&](int signo) { stopped_by = signo; }, [&] { ++hangups; });
  ASSERT_EQ(kill(getpid(), SIGHUP), 0);
  ASSERT_TRUE(Reaches(hangups, 1));
  ASSERT_EQ(kill(getpid(), SIGHUP), 0);
  ASSERT_TRUE(Reaches(hangups, 2));
  EXPECT_EQ(stopped_by.load(), 0);
  ASSERT_EQ(kill(getpid(), SIGTERM), 0);
  ASSERT_TRUE(Reaches(stopped_by, SIGTERM));
  EXPECT_EQ(hangups.load(), 2);
}

TEST(TerminationSignalsTest, StopJoinsWithoutCallingBack) {
  TerminationSignals signals(TerminationSignals::Hangup::kCallback);
  std::atomic<int> calls{0};
  signals.Start([&](int) { ++calls; }, [&] { ++calls; });
  signals.Stop();
  signals.Stop();  // idempotent, as the destructor calls it again
  EXPECT_EQ(calls.load(), 0);
}

}  // namespace
}  // namespace ziggy
