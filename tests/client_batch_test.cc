// The C++ client into real daemons, batched (its default) and with
// ZIGGY_BATCH=0: several threads record events of many sizes (some larger
// than a batch, which go alone) straight into ziggyd's collect port or
// through a forwarder's; every event is stored exactly once, none is counted
// malformed, and the client's counters show how many messages carried them.

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/testing/batch_mode.h"
#include "client/ziggy.h"
#include "gtest/gtest.h"
#include "tests/process.h"
#include "tests/ziggyd.h"

namespace ziggy::testing {
namespace {

constexpr int kThreads = 4;
constexpr int kPerThread = 1500;
constexpr int kEvents = kThreads * kPerThread;

// The port of a "host:port" address.
int PortOf(const std::string& address) {
  return std::stoi(address.substr(address.rfind(':') + 1));
}

// Records kPerThread events from each of kThreads threads: body.sender is
// the thread, body.seq counts; a pad of 0 to ~2 KB, and every 300th event
// 100 KiB (more than a 64 KiB batch).
void RecordFromThreads() {
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int seq = 0; seq < kPerThread; ++seq) {
        Context event("batch_test");
        event.Set("sender", t);
        event.Set("seq", seq);
        const size_t pad = seq % 300 == 11 ? 100 << 10 : (seq * 131) % 2000;
        event.Set("pad", std::string(pad, 'p'));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
}

// Parameters: batched or not (ZIGGY_BATCH=0); into ziggyd directly or
// through a forwarder.
class ClientBatchTest
    : public ::testing::TestWithParam<std::tuple<bool, bool>> {
 protected:
  ~ClientBatchTest() override { Shutdown(); }
  bool batched() const { return batch_mode_.batched(); }
  bool forwarded() const { return std::get<1>(GetParam()); }
  BatchMode batch_mode_{std::get<0>(GetParam())};
};

TEST_P(ClientBatchTest, EveryEventStoredOnce) {
  auto collector = Ziggyd::Start(TempDir("logs"));
  ASSERT_NE(collector, nullptr);
  std::unique_ptr<Ziggyd> forwarder;
  if (forwarded()) {
    forwarder = Ziggyd::StartForwarder(TempDir("spool"), collector->relay());
    ASSERT_NE(forwarder, nullptr);
  }
  Ziggyd& entry = forwarded() ? *forwarder : *collector;
  ASSERT_TRUE(Configure("127.0.0.1", PortOf(entry.collect())).ok());
  RecordFromThreads();
  ASSERT_TRUE(Flush(absl::Seconds(30)));
  const TransportStats stats = GetTransportStats();
  EXPECT_EQ(stats.sent, uint64_t{kEvents});
  EXPECT_EQ(stats.dropped_queue_full, 0u);
  if (batched()) {
    EXPECT_LT(stats.messages, stats.sent);
  } else {
    EXPECT_EQ(stats.messages, stats.sent);
  }

  ASSERT_TRUE(collector->WaitWritten(kEvents, absl::Seconds(60)))
      << collector->Status().DebugString();
  ASSERT_TRUE(collector->Call("FLUSH").ok());
  const std::multiset<std::pair<int64_t, int64_t>> stored =
      ReadSequences(collector->log_path());
  ASSERT_EQ(stored.size(), size_t{kEvents});
  for (int t = 0; t < kThreads; ++t) {
    for (int seq = 0; seq < kPerThread; ++seq) {
      ASSERT_EQ(stored.count({t, seq}), 1u) << t << "/" << seq;
    }
  }
  EXPECT_EQ(entry.StatusNumber("received"), kEvents);
  EXPECT_EQ(entry.StatusNumber("dropped.malformed"), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Client, ClientBatchTest,
    ::testing::Combine(::testing::Bool(), ::testing::Bool()),
    [](const ::testing::TestParamInfo<std::tuple<bool, bool>>& info) {
      return absl::StrCat(BatchMode::Name(std::get<0>(info.param)), "_",
                          std::get<1>(info.param) ? "forwarded" : "direct");
    });

}  // namespace
}  // namespace ziggy::testing
