// The built ziggy-forwarder publishing to a real nats-server -js
// (--upstream=nats://...): every event it accepted is in the stream exactly
// once through kill -9s of the forwarder and a restart of nats-server (read
// back with libnats and split batch by batch); its flags, live upstream
// changes, STATUS, metrics and ziggyctl in NATS mode; bad flags and mixed
// lists refused with one line.

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "tests/nats_batches.h"
#include "tests/nats_server.h"
#include "tests/process.h"
#include "tests/ziggyd.h"
#include "zmq.hpp"

namespace ziggy::testing {
namespace {

std::unique_ptr<NatsServer> StartNats() {
  auto server = NatsServer::Start(TempDir("nats"));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

int64_t Spooled(Ziggyd& forwarder) {
  return static_cast<int64_t>(forwarder.StatusNumber("spool.spooled"));
}

// Waits until the spool's acked mark reaches its end (both in STATUS).
bool Drained(Ziggyd& forwarder, absl::Duration timeout = absl::Seconds(60)) {
  auto caught_up = [&] {
    const Value status = forwarder.Status();
    const Value* acked = status.Find("spool.acked");
    const Value* end = status.Find("spool.spooled");
    return acked != nullptr && end != nullptr && *acked == *end;
  };
  return WaitFor(caught_up, timeout);
}

// Sends `count` events of `sender` (seq 0..count-1) to the collect port,
// waiting while ZeroMQ's queue is full, and lets ZeroMQ deliver what it
// holds (up to 5 s). With `stop`: returns only once *stop (the forwarder
// was killed), giving up on what was not sent and dropping what ZeroMQ
// still holds (nothing would take it).
void Send(const std::string& collect, int64_t sender, int64_t count,
          const std::atomic<bool>* stop = nullptr) {
  zmq::context_t context;
  zmq::socket_t push(context, zmq::socket_type::push);
  push.connect("tcp://" + collect);
  for (int64_t seq = 0; seq < count;) {
    const std::string event = ForeignEvent("load", sender, seq);
    if (push.send(zmq::buffer(event), zmq::send_flags::dontwait)) {
      ++seq;
    } else if (stop != nullptr && stop->load()) {
      break;
    } else {
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  if (stop == nullptr) {
    push.set(zmq::sockopt::linger, 5000);
    return;
  }
  // What ZeroMQ holds is the forwarder's to take until it is killed.
  while (!stop->load()) absl::SleepFor(absl::Milliseconds(1));
  push.set(zmq::sockopt::linger, 0);
}

// The forwarder's batches are contiguous in the stream (first == the
// previous end: no overlap, no gap), and its events are each there once.
void ExpectChainAndNoDuplicates(const std::vector<StoredBatch>& batches) {
  int64_t end = -1;
  for (const StoredBatch& b : batches) {
    ASSERT_TRUE(b.error.empty()) << b.sequence << ": " << b.error;
    if (end >= 0) {
      EXPECT_EQ(b.header.first, end) << "sequence " << b.sequence;
    }
    end = b.header.end;
  }
  for (const auto& [key, n] : CountSequences(batches)) {
    EXPECT_EQ(n, 1) << "sender " << key.first << " seq " << key.second;
  }
}

TEST(NatsForwarderTest, KilledForwarderAndRestartedNatsExactlyOnce) {
  auto nats = StartNats();
  ASSERT_NE(nats, nullptr);
  const std::string spool = TempDir("spool");
  const std::vector<std::string> flags = {"--ack-timeout=1",
                                          "--relay-batch-events=300"};
  std::mt19937 random(17);
  for (int kill = 0; kill < 8; ++kill) {
    auto forwarder = Ziggyd::StartForwarder(spool, nats->url(), flags);
    ASSERT_NE(forwarder, nullptr) << kill;
    const int64_t before = Spooled(*forwarder);
    // Killed while publishing: after 200 to 2,500 of 3,000 events.
    const int64_t kill_at =
        std::uniform_int_distribution<int64_t>(200, 2500)(random);
    std::atomic<bool> killed{false};
    std::thread sender(
        [&] { Send(forwarder->collect(), 100 + kill, 3000, &killed); });
    const bool spooled =
        WaitFor([&] { return Spooled(*forwarder) >= before + kill_at; });
    if (!spooled) {
      killed = true;
      sender.join();
      FAIL() << kill << ": spooled " << Spooled(*forwarder) << ", before "
             << before << ", kill at " << kill_at << "\n"
             << forwarder->Status().DebugString() << "\n"
             << forwarder->process().Stderr();
    }
    if (kill == 3) {  // nats-server restarts once, while events arrive
      nats->Stop();
      ASSERT_TRUE(nats->Restart().ok());
    }
    forwarder->process().Signal(SIGKILL);
    forwarder->process().Wait();
    killed = true;
    sender.join();
  }
  auto forwarder = Ziggyd::StartForwarder(spool, nats->url(), flags);
  ASSERT_NE(forwarder, nullptr);
  Send(forwarder->collect(), 999, 2000);  // not killed: every one of them
  ASSERT_TRUE(WaitFor([&] {
    return forwarder->StatusNumber("received") >= 2000;
  })) << forwarder->Status().DebugString();
  ASSERT_TRUE(Drained(*forwarder)) << forwarder->Status().DebugString();
  auto batches = ReadStoredBatches(nats->url(), "ZIGGY");
  ASSERT_TRUE(batches.ok()) << batches.status();
  ExpectChainAndNoDuplicates(*batches);
  const auto counts = CountSequences(*batches);
  for (int64_t seq = 0; seq < 2000; ++seq) {
    EXPECT_EQ(counts.count({999, seq}), 1u) << seq;
  }
  // Every event the spool ever accepted, once: its indexes less those
  // given up after each kill.
  EXPECT_GT(forwarder->StatusNumber("spool.skipped"), 0);
  EXPECT_EQ(static_cast<int64_t>(counts.size()),
            Spooled(*forwarder) -
                static_cast<int64_t>(forwarder->StatusNumber("spool.skipped")));
  EXPECT_GE(forwarder->StatusNumber("relay.resyncs"), 1);
}

TEST(NatsForwarderTest, StatusZiggyctlAndLiveServerChanges) {
  auto nats = StartNats();
  ASSERT_NE(nats, nullptr);
  auto forwarder = Ziggyd::StartForwarder(
      TempDir("spool"), nats->url(),
      {"--nats-stream=LOGS", "--nats-subject=logs.b", "--compress=zstd"});
  ASSERT_NE(forwarder, nullptr);
  Send(forwarder->collect(), 1, 500);
  ASSERT_TRUE(WaitFor([&] { return Spooled(*forwarder) == 500; }));
  ASSERT_TRUE(Drained(*forwarder));
  // STATUS `relay` is refreshed every 100 ms.
  ASSERT_TRUE(
      WaitFor([&] { return forwarder->StatusNumber("relay.acked") == 500; }));
  const Value status = forwarder->Status();
  const std::string id = status.Find("spool.id")->AsString();
  EXPECT_EQ(status.Find("relay.mode")->AsString(), "nats");
  EXPECT_EQ(status.Find("relay.stream")->AsString(), "LOGS");
  EXPECT_EQ(status.Find("relay.subject")->AsString(), "logs.b." + id);
  EXPECT_EQ(status.Find("relay.server")->AsString(), nats->url());
  EXPECT_TRUE(status.Find("relay.connected")->AsBool());
  // The metrics (GET /metrics renders STATUS so) name the NATS server.
  const std::string metrics =
      PrometheusText(status.AsMap(), StatusSchema::kForwarder);
  EXPECT_TRUE(absl::StrContains(
      metrics,
      "ziggy_relay_current_upstream{upstream=\"" + nats->url() + "\"} 1"))
      << metrics;
  EXPECT_TRUE(absl::StrContains(metrics, "ziggy_relay_acked_events 500"))
      << metrics;
  auto batches = ReadStoredBatches(nats->url(), "LOGS");
  ASSERT_TRUE(batches.ok()) << batches.status();
  ASSERT_FALSE(batches->empty());
  EXPECT_TRUE(batches->front().header.zstd);
  EXPECT_EQ(CountSequences(*batches).size(), 500u);

  std::string out, err;
  ASSERT_EQ(RunCommand({RunfilesPath("ctl/ziggyctl"), "-H",
                        forwarder->control(), "status"},
                       &out, &err),
            0)
      << err;
  EXPECT_TRUE(absl::StrContains(out, "relay       to NATS " + nats->url() +
                                         ", stream LOGS subject logs.b." + id +
                                         " (zstd)"))
      << out;

  // Another kind of list, or a mixed one, is refused; NATS servers are taken.
  auto set = [&](const std::string& list) {
    return forwarder->Call("UPSTREAM_SET", {{"upstreams", list}});
  };
  auto relay = set("127.0.0.1:3515");
  EXPECT_TRUE(absl::StrContains(relay.status().message(), "publishes to NATS"))
      << relay.status();
  auto mixed = set(nats->url() + ",127.0.0.1:3515");
  EXPECT_TRUE(absl::StrContains(mixed.status().message(), "mixes"))
      << mixed.status();
  const std::string again =
      absl::StrCat("nats://localhost:", nats->port(), ",", nats->url());
  auto taken = set(again);
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(forwarder->Call("UPSTREAM")->Get("upstreams")->AsString(), again);
  Send(forwarder->collect(), 2, 300);
  ASSERT_TRUE(WaitFor([&] { return Spooled(*forwarder) == 800; }));
  ASSERT_TRUE(Drained(*forwarder));
  batches = ReadStoredBatches(nats->url(), "LOGS");
  ASSERT_TRUE(batches.ok());
  ExpectChainAndNoDuplicates(*batches);
  EXPECT_EQ(CountSequences(*batches).size(), 800u);
}

TEST(NatsForwarderTest, BadNatsFlagsAndMixedListsFailWithOneLine) {
  const std::string nats = "--upstream=nats://127.0.0.1:4222";
  const std::vector<std::vector<std::string>> bad = {
      {"--upstream=nats://127.0.0.1:4222,127.0.0.1:3515"},
      {"--upstream=127.0.0.1:3515,nats://127.0.0.1:4222"},
      {"--upstream=nats://127.0.0.1"},
      {nats, "--nats-max-age=forever"},
      {nats, "--nats-max-age=-1h"},
      {nats, "--nats-replicas=9"},
      {nats, "--nats-stream=A.B"},
      {nats, "--nats-subject=ziggy.*"},
      {nats, "--nats-max-bytes=-1"},
      {nats, "--upstream-server-key=/nonexistent.pub"},
  };
  for (const std::vector<std::string>& flags : bad) {
    std::vector<std::string> argv = {RunfilesPath("forwarder/ziggy-forwarder"),
                                     "--spool-path=" + TempDir("spool"),
                                     "--control=127.0.0.1:0",
                                     "--collect=127.0.0.1:0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    std::string out, err;
    EXPECT_EQ(RunCommand(argv, &out, &err), 1) << flags.back();
    EXPECT_TRUE(absl::StartsWith(err, "ziggy-forwarder: ")) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  }
}

}  // namespace
}  // namespace ziggy::testing
