// The transport against real ZeroMQ PULL sockets bound by the test.

#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "client/ziggy.h"
#include "gtest/gtest.h"
#include "zmq.hpp"

namespace ziggy {
namespace {

// A PULL socket on 127.0.0.1, port 0 unless one is given.
class Sink {
 public:
  explicit Sink(zmq::context_t& context, int port = 0)
      : socket_(context, zmq::socket_type::pull) {
    socket_.set(zmq::sockopt::rcvtimeo, 100);
    socket_.set(zmq::sockopt::linger, 0);
    const std::string address =
        absl::StrCat("tcp://127.0.0.1:", port == 0 ? "*" : absl::StrCat(port));
    // A port just released by another ZeroMQ socket is freed asynchronously.
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (true) {
      try {
        socket_.bind(address);
        break;
      } catch (const zmq::error_t& e) {
        if (e.num() != EADDRINUSE || absl::Now() > deadline) throw;
        absl::SleepFor(absl::Milliseconds(10));
      }
    }
    const std::string endpoint = socket_.get(zmq::sockopt::last_endpoint);
    EXPECT_TRUE(
        absl::SimpleAtoi(endpoint.substr(endpoint.rfind(':') + 1), &port_));
  }
  int port() const { return port_; }

  // Receives until `count` events arrived or `timeout` passed.
  std::vector<Event> Receive(size_t count,
                             absl::Duration timeout = absl::Seconds(20)) {
    std::vector<Event> events;
    const absl::Time deadline = absl::Now() + timeout;
    while (events.size() < count && absl::Now() < deadline) {
      zmq::message_t message;
      if (!socket_.recv(message)) continue;
      absl::StatusOr<Event> event =
          DecodeEvent(absl::string_view(message.data<char>(), message.size()));
      EXPECT_TRUE(event.ok()) << event.status();
      if (event.ok()) events.push_back(*std::move(event));
    }
    return events;
  }

 private:
  zmq::socket_t socket_;
  int port_ = 0;
};

// A port on which nothing listens: bound, then released. Terminating the
// private context waits until the listening socket is really closed.
int UnusedPort() {
  zmq::context_t context;
  const int port = Sink(context).port();
  context.close();
  return port;
}

class TransportTest : public ::testing::Test {
 protected:
  void TearDown() override { Shutdown(); }
  zmq::context_t context_;
};

TEST_F(TransportTest, EventsArriveAndDecode) {
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
  EXPECT_EQ(stats.dropped_queue_full, 0u);
}

TEST_F(TransportTest, ManyThreadsOneSocket) {
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

TEST_F(TransportTest, NoDaemonNeverBlocksAndCountsDrops) {
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
  EXPECT_LE(stats.pending_bytes, options.queue_bytes_per_thread);
  EXPECT_LE(stats.sent, stats.queued);
}

TEST_F(TransportTest, OversizedEventIsDroppedAndCounted) {
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

TEST_F(TransportTest, DeliversOnceTheDaemonAppearsAndAfterItRestarts) {
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

TEST_F(TransportTest, ShutdownLingersForPendingEvents) {
  Sink sink(context_);
  ASSERT_TRUE(Configure("127.0.0.1", sink.port()).ok());
  for (int i = 0; i < 500; ++i) Context c("request");
  Shutdown();
  EXPECT_FALSE(IsConfigured());
  EXPECT_EQ(sink.Receive(500).size(), 500u);
}

TEST_F(TransportTest, ShutdownWithNoDaemonIsBounded) {
  TransportOptions options;
  options.linger = absl::Milliseconds(200);
  ASSERT_TRUE(Configure("127.0.0.1", UnusedPort(), options).ok());
  for (int i = 0; i < 100; ++i) Context c("request");
  Shutdown();  // returns after about the linger; a hang fails the test
  EXPECT_FALSE(IsConfigured());
}

TEST_F(TransportTest, ConfigureRejectsBadAddresses) {
  EXPECT_EQ(Configure("", 3514).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Configure("127.0.0.1", 0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Configure("127.0.0.1", 70000).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(IsConfigured());
}

TEST_F(TransportTest, ConfigureFromEnvironment) {
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

}  // namespace
}  // namespace ziggy
