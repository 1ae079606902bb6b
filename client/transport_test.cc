// The transport against real ZeroMQ PULL sockets bound by the test.

#include <algorithm>
#include <cstdlib>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "client/testing/batch_mode.h"
#include "client/testing/pull_sink.h"
#include "client/ziggy.h"
#include "gtest/gtest.h"
#include "zmq.hpp"

namespace ziggy {
namespace {

// A PULL socket on 127.0.0.1, port 0 unless one is given, that decodes the
// events of the messages it receives (split by the wire rule).
class Sink {
 public:
  explicit Sink(zmq::context_t& context, int port = 0) : pull_(context, port) {}
  int port() const { return pull_.port(); }

  // Receives until `count` events arrived or `timeout` passed.
  std::vector<Event> Receive(size_t count,
                             absl::Duration timeout = absl::Seconds(20)) {
    std::vector<Event> events;
    for (const std::string& document : pull_.Receive(count, timeout)) {
      absl::StatusOr<Event> event = DecodeEvent(document);
      EXPECT_TRUE(event.ok()) << event.status();
      if (event.ok()) events.push_back(*std::move(event));
    }
    return events;
  }
  const testing::PullSink& pull() const { return pull_; }

 private:
  testing::PullSink pull_;
};

using testing::UnusedPort;

// Every test runs twice: batched (the default options) and with
// ZIGGY_BATCH=0, one event per message.
class TransportTest : public ::testing::TestWithParam<bool> {
 protected:
  void TearDown() override { Shutdown(); }
  bool batched() const { return batch_mode_.batched(); }
  // Every message held one event, or (batched) some held several.
  void ExpectBatching(const Sink& sink) const {
    const std::vector<size_t>& docs = sink.pull().message_documents();
    const size_t most =
        docs.empty() ? 0 : *std::max_element(docs.begin(), docs.end());
    if (batched()) {
      EXPECT_GT(most, 1u);
    } else {
      EXPECT_EQ(most, 1u);
    }
  }
  testing::BatchMode batch_mode_{GetParam()};
  zmq::context_t context_;
};

TEST_P(TransportTest, EventsArriveAndDecode) {
  Sink sink(context_);
  ASSERT_TRUE(Configure("127.0.0.1", sink.port()).ok());
  constexpr int kEvents = 1000;
  for (int i = 0; i < kEvents; ++i) {
    Context request("request");
    ASSERT_TRUE(Set("seq", i).ok());
    Context sql(".sql");
    ASSERT_TRUE(Set("query", "select 1").ok());
  }
  const std::vector<Event> events = sink.Receive(2 * kEvents);
  ASSERT_EQ(events.size(), 2u * kEvents);
  std::set<int64_t> seqs;
  for (const Event& e : events) {
    if (e.type == "request") seqs.insert(e.body.Find("seq")->AsInt());
  }
  EXPECT_EQ(seqs.size(), static_cast<size_t>(kEvents));
  EXPECT_TRUE(Flush());
  const TransportStats stats = GetTransportStats();
  EXPECT_EQ(stats.queued, 2u * kEvents);
  EXPECT_EQ(stats.sent, 2u * kEvents);
  EXPECT_EQ(stats.messages, sink.pull().message_sizes().size());
  EXPECT_EQ(stats.dropped_queue_full, 0u);
  ExpectBatching(sink);
}

TEST_P(TransportTest, ManyThreadsOneSocket) {
  Sink sink(context_);
  ASSERT_TRUE(Configure("127.0.0.1", sink.port()).ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 500; ++i) {
        Context c(absl::StrCat("thread", t));
        ASSERT_TRUE(Set("i", i).ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(sink.Receive(2000).size(), 2000u);
}

TEST_P(TransportTest, NoDaemonNeverBlocksAndCountsDrops) {
  TransportOptions options;
  options.queue_bytes_per_thread = 64 << 10;
  options.send_high_water_mark = 10;
  options.linger = absl::Milliseconds(100);
  ASSERT_TRUE(Configure("127.0.0.1", UnusedPort(), options).ok());
  constexpr uint64_t kEvents = 100000;
  for (uint64_t i = 0; i < kEvents; ++i) {
    Context c("request");
    ASSERT_TRUE(Set("payload", std::string(100, 'x')).ok());
  }
  const TransportStats stats = GetTransportStats();
  EXPECT_EQ(stats.queued + stats.dropped_queue_full, kEvents);
  EXPECT_GT(stats.dropped_queue_full, kEvents / 2);
  // The thread's queue, and (batched) the batch the I/O thread holds.
  EXPECT_LE(stats.pending_bytes, options.queue_bytes_per_thread +
                                     (batched() ? options.batch_bytes : 0));
  EXPECT_LE(stats.sent, stats.queued);
}

TEST_P(TransportTest, OversizedEventIsDroppedAndCounted) {
  Sink sink(context_);
  TransportOptions options;
  options.queue_bytes_per_thread = 64 << 10;
  ASSERT_TRUE(Configure("127.0.0.1", sink.port(), options).ok());
  {
    Context big("big");
    ASSERT_TRUE(Set("blob", std::string(100 << 10, 'x')).ok());
  }
  { Context small("small"); }
  const std::vector<Event> events = sink.Receive(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "small");
  EXPECT_EQ(GetTransportStats().dropped_too_large, 1u);
}

TEST_P(TransportTest, DeliversOnceTheDaemonAppearsAndAfterItRestarts) {
  const int port = UnusedPort();
  ASSERT_TRUE(Configure("127.0.0.1", port).ok());
  // Queued while nobody listens, delivered when the daemon appears.
  for (int i = 0; i < 100; ++i) Context early("early");
  auto sink = std::make_unique<Sink>(context_, port);
  EXPECT_EQ(sink->Receive(100).size(), 100u);

  // The daemon restarts. Events sent into the dying connection may be lost
  // (fire-and-forget, which is why the forwarder exists); once the transport
  // has reconnected, everything arrives again.
  sink.reset();
  sink = std::make_unique<Sink>(context_, port);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  bool reconnected = false;
  while (!reconnected && absl::Now() < deadline) {
    { Context probe("probe"); }
    reconnected = !sink->Receive(1, absl::Milliseconds(100)).empty();
  }
  ASSERT_TRUE(reconnected);
  for (int i = 0; i < 100; ++i) Context late("late");
  int late = 0;
  for (const Event& e : sink->Receive(200, absl::Seconds(2))) {
    late += e.type == "late";
  }
  EXPECT_EQ(late, 100);
}

TEST_P(TransportTest, ShutdownLingersForPendingEvents) {
  Sink sink(context_);
  ASSERT_TRUE(Configure("127.0.0.1", sink.port()).ok());
  for (int i = 0; i < 500; ++i) Context c("request");
  Shutdown();
  EXPECT_FALSE(IsConfigured());
  EXPECT_EQ(sink.Receive(500).size(), 500u);
}

TEST_P(TransportTest, ShutdownWithNoDaemonIsBounded) {
  TransportOptions options;
  options.linger = absl::Milliseconds(200);
  ASSERT_TRUE(Configure("127.0.0.1", UnusedPort(), options).ok());
  for (int i = 0; i < 100; ++i) Context c("request");
  Shutdown();  // returns after about the linger; a hang fails the test
  EXPECT_FALSE(IsConfigured());
}

TEST_P(TransportTest, ConfigureRejectsBadAddresses) {
  EXPECT_EQ(Configure("", 3514).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Configure("127.0.0.1", 0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Configure("127.0.0.1", 70000).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(IsConfigured());
}

TEST_P(TransportTest, ConfigureFromEnvironment) {
  Sink sink(context_);
  setenv("ZIGGY_HOST", absl::StrCat("127.0.0.1:", sink.port()).c_str(), 1);
  ASSERT_TRUE(Configure().ok());
  { Context c("from_env"); }
  EXPECT_EQ(sink.Receive(1).size(), 1u);
  Shutdown();
  setenv("ZIGGY_HOST", "127.0.0.1:notaport", 1);
  EXPECT_EQ(Configure().code(), absl::StatusCode::kInvalidArgument);
  unsetenv("ZIGGY_HOST");
}

INSTANTIATE_TEST_SUITE_P(Batch, TransportTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return testing::BatchMode::Name(info.param);
                         });

}  // namespace
}  // namespace ziggy
