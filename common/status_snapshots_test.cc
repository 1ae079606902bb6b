// StatusSnapshots between a reader thread and a "receive thread" that
// serves snapshots only when woken.

#include "common/status_snapshots.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

// A receive thread: each wake-up serves a wanted snapshot holding the
// number of STATUS assemblies so far.
class ReceiveThread {
 public:
  explicit ReceiveThread(StatusSnapshots* snapshots)
      : snapshots_(snapshots), thread_([this] { Run(); }) {}
  ~ReceiveThread() {
    stop_ = true;
    thread_.join();
  }
  void Wake() { woken_ = true; }
  int assemblies() const { return assemblies_; }

 private:
  void Run() {
    while (!stop_) {
      if (woken_.exchange(false)) {
        snapshots_->ServeIfWanted([this] {
          return Value::Map{{"n", static_cast<int64_t>(++assemblies_)}};
        });
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
  }

  StatusSnapshots* const snapshots_;
  std::atomic<bool> woken_{false}, stop_{false};
  std::atomic<int> assemblies_{0};
  std::thread thread_;
};

int64_t N(const StatusSnapshots::Snapshot& snapshot) {
  return snapshot->front().second.AsInt();
}

TEST(StatusSnapshotsTest, AReaderGetsAFreshSnapshotFromTheReceiveThread) {
  ReceiveThread* receive = nullptr;
  StatusSnapshots snapshots([&] { receive->Wake(); }, absl::ZeroDuration());
  ReceiveThread thread(&snapshots);
  receive = &thread;
  StatusSnapshots::Snapshot first = snapshots.Get(absl::Seconds(10));
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(N(first), 1);
  // max_age zero: every Get asks again.
  StatusSnapshots::Snapshot second = snapshots.Get(absl::Seconds(10));
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(N(second), 2);
}

TEST(StatusSnapshotsTest, ASnapshotYoungerThanMaxAgeIsShared) {
  ReceiveThread* receive = nullptr;
  StatusSnapshots snapshots([&] { receive->Wake(); }, absl::Hours(1));
  ReceiveThread thread(&snapshots);
  receive = &thread;
  ASSERT_NE(snapshots.Get(absl::Seconds(10)), nullptr);
  ASSERT_NE(snapshots.Get(absl::Seconds(10)), nullptr);
  EXPECT_EQ(thread.assemblies(), 1);
}

TEST(StatusSnapshotsTest, NoReceiveThreadTimesOutAndCloseAnswersAtOnce) {
  int wakes = 0;
  StatusSnapshots snapshots([&] { ++wakes; });
  EXPECT_EQ(snapshots.Get(absl::Milliseconds(50)), nullptr);
  EXPECT_EQ(wakes, 1);
  snapshots.Close();
  const absl::Time start = absl::Now();
  EXPECT_EQ(snapshots.Get(absl::Seconds(30)), nullptr);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(wakes, 1);
}

TEST(StatusSnapshotsTest, ServeIfWantedDoesNothingUnasked) {
  StatusSnapshots snapshots([] {});
  bool assembled = false;
  snapshots.ServeIfWanted([&] {
    assembled = true;
    return Value::Map{};
  });
  EXPECT_FALSE(assembled);
}

}  // namespace
}  // namespace ziggy
