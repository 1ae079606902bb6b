// ziggy-forwarder and ziggyd together, under failure, with a conservation
// oracle: every test event carries (sender, seq); the collector's files must
// hold every event the forwarder accepted exactly once.

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/net/curve_key.h"
#include "client/net/socket.h"
#include "client/testing/curve_keys.h"
#include "client/testing/strict_bson.h"
#include "common/relay_protocol.h"
#include "gtest/gtest.h"
#include "tests/load.h"
#include "tests/process.h"
#include "tests/ziggyd.h"

namespace ziggy::testing {
namespace {

// Starts a collector writing under `logs` and a forwarder relaying to it
// with default flags; false when either did not start.
bool StartRelayPair(const std::string& logs, std::unique_ptr<Ziggyd>* collector,
                    std::unique_ptr<Ziggyd>* forwarder) {
  *collector = Ziggyd::Start(logs);
  if (*collector == nullptr) return false;
  *forwarder = Ziggyd::StartForwarder(TempDir("spool"), (*collector)->relay());
  return *forwarder != nullptr;
}

// A counter of one upstream in the forwarder's STATUS (relay.upstreams), 0
// when absent.
int64_t UpstreamCount(Ziggyd& forwarder, const std::string& upstream,
                      absl::string_view counter) {
  const Value status = forwarder.Status();
  const Value* upstreams = status.Find("relay.upstreams");
  const Value* up = upstreams == nullptr ? nullptr : upstreams->Get(upstream);
  const Value* n = up == nullptr ? nullptr : up->Get(counter);
  return n == nullptr ? 0 : n->AsInt();
}

// How the daemons of a chaos test talk: plain text, or CurveZMQ on every
// port (ziggyd --curve-key --curve-allow; the forwarder --curve-key,
// --curve-allow and --upstream-server-key for its relay; the test's load
// and control calls with a client key both daemons allow).
enum class Transport { kPlain, kCurve };

class TransportKeys {
 public:
  // With kCurve, writes the collector's, the forwarder's and the client's
  // key pairs under TEST_TMPDIR (the last two's .pub in the allow list).
  explicit TransportKeys(Transport transport) {
    if (transport == Transport::kPlain) return;
    const std::string dir = TempDir("keys");
    allow_dir_ = TempDir("allow");
    collector_key_ = dir + "/ziggyd.key";
    forwarder_key_ = allow_dir_ + "/forwarder.key";
    collector_ = NewKey(collector_key_);
    forwarder_ = NewKey(forwarder_key_);
    client_ = NewKey(allow_dir_ + "/client.key");
  }

  // `flags` plus what the collector / the forwarder needs.
  std::vector<std::string> Collector(std::vector<std::string> flags) const {
    if (!curve()) return flags;
    flags.push_back("--curve-key=" + collector_key_);
    flags.push_back("--curve-allow=" + allow_dir_);
    return flags;
  }
  std::vector<std::string> Forwarder(std::vector<std::string> flags) const {
    if (!curve()) return flags;
    flags.push_back("--curve-key=" + forwarder_key_);
    flags.push_back("--curve-allow=" + allow_dir_);
    flags.push_back("--upstream-server-key=" + collector_key_ + ".pub");
    return flags;
  }
  // The started `daemon` (null if it did not start), its control calls
  // made as the client.
  std::unique_ptr<Ziggyd> ControlCollector(std::unique_ptr<Ziggyd> d) const {
    if (d != nullptr && curve()) d->set_control_curve(ToServer(*collector_));
    return d;
  }
  std::unique_ptr<Ziggyd> ControlForwarder(std::unique_ptr<Ziggyd> d) const {
    if (d != nullptr && curve()) d->set_control_curve(ToForwarder());
    return d;
  }
  // How a client reaches the forwarder's ports (nullopt: plain).
  absl::optional<CurveSocketOptions> ToForwarder() const {
    if (!curve()) return absl::nullopt;
    return ToServer(*forwarder_);
  }
  bool curve() const { return client_.has_value(); }

 private:
  static CurveKeyPair NewKey(const std::string& path) {
    CurveKeyPair pair = NewCurveKeyPair();
    EXPECT_TRUE(WriteKeyPair(pair, path).ok()) << path;
    return pair;
  }
  CurveSocketOptions ToServer(const CurveKeyPair& server) const {
    return CurveSocketOptions::Client(*client_, server.public_key());
  }

  std::string allow_dir_, collector_key_, forwarder_key_;
  absl::optional<CurveKeyPair> collector_, forwarder_, client_;
};

const char* TransportName(Transport transport) {
  return transport == Transport::kCurve ? "curve" : "plain";
}

// A long collector outage under load: the forwarder gives the collector up
// again and again (each time after an ack timeout and a growing backoff),
// keeps accepting and spooling meanwhile, and once the collector is back
// delivers every event exactly once while the load goes on.
TEST(ForwarderTest, CollectorDownUnderLoadLosesNothing) {
  const std::string logs = TempDir("logs");
  auto collector = Ziggyd::Start(logs);
  ASSERT_NE(collector, nullptr);
  const std::string relay = collector->relay();
  auto forwarder =
      Ziggyd::StartForwarder(TempDir("spool"), relay, {"--ack-timeout=0.5"});
  ASSERT_NE(forwarder, nullptr);
  Load load(forwarder->collect(), 1);
  ASSERT_TRUE(
      WaitFor([&] { return collector->StatusNumber("written") > 100; }));
  collector->process().Signal(SIGTERM);
  ASSERT_EQ(collector->process().Wait(), 0);
  // The outage, under load: three timeouts and thousands of events.
  const int64_t sent_before = load.sent();
  ASSERT_TRUE(WaitFor([&] {
    return UpstreamCount(*forwarder, relay, "timeouts") >= 3 &&
           load.sent() > sent_before + 5000;
  })) << forwarder->Status().DebugString();
  EXPECT_GT(forwarder->StatusNumber("spool.pending"), 1000);
  collector = Restart(logs, relay);
  ASSERT_NE(collector, nullptr);
  ASSERT_TRUE(
      WaitFor([&] { return collector->StatusNumber("written") > 1000; }));
  load.Stop();
  ASSERT_TRUE(WaitFor([&] { return Spooled(*forwarder) == load.sent(); }));
  ASSERT_TRUE(Drained(*forwarder)) << forwarder->Status().DebugString();
  ExpectExactlyOnce(ReadSequences(logs), 1, load.sent());
}

class ForwarderKillTest : public ::testing::TestWithParam<Transport> {};

TEST_P(ForwarderKillTest, ForwarderKilledTwentyTimesLosesNothingAccepted) {
  const TransportKeys keys(GetParam());
  const std::string logs = TempDir("logs");
  auto collector =
      keys.ControlCollector(Ziggyd::Start(logs, keys.Collector({})));
  ASSERT_NE(collector, nullptr);
  const std::string spool = TempDir("spool");
  const std::vector<std::string> flags = keys.Forwarder({"--ack-timeout=1"});
  std::mt19937 random(7);
  int64_t sender = 100;
  std::unique_ptr<Ziggyd> forwarder;
  for (int kill = 0; kill < 20; ++kill) {
    forwarder = keys.ControlForwarder(
        Ziggyd::StartForwarder(spool, collector->relay(), flags));
    ASSERT_NE(forwarder, nullptr) << kill;
    // Killed at a random point of a load (after 200 to 3,000 events).
    Load load(forwarder->collect(), sender++, keys.ToForwarder());
    const int64_t kill_at =
        std::uniform_int_distribution<int64_t>(200, 3000)(random);
    ASSERT_TRUE(WaitFor([&] { return load.sent() >= kill_at; })) << kill;
    forwarder->process().Signal(SIGKILL);
    forwarder->process().Wait();
    load.Abandon();
  }
  forwarder = keys.ControlForwarder(
      Ziggyd::StartForwarder(spool, collector->relay(), flags));
  ASSERT_NE(forwarder, nullptr);
  ASSERT_TRUE(Drained(*forwarder)) << forwarder->Status().DebugString();
  const Sequences seen = ReadSequences(logs);
  ExpectNoDuplicates(seen);
  // Every event the spool ever accepted is in the files once: its indexes,
  // less those given up after each kill (never reused).
  EXPECT_GT(forwarder->StatusNumber("spool.skipped"), 0);
  EXPECT_EQ(static_cast<int64_t>(seen.size()), Accepted(*forwarder));
  EXPECT_GT(seen.size(), 1000u);
  // STATUS has auth (clients accepted) only where CurveZMQ is on.
  EXPECT_EQ(collector->StatusNumber("auth.accepted") > 0, keys.curve());
}

INSTANTIATE_TEST_SUITE_P(Transport, ForwarderKillTest,
                         ::testing::Values(Transport::kPlain,
                                           Transport::kCurve),
                         [](const ::testing::TestParamInfo<Transport>& info) {
                           return TransportName(info.param);
                         });

// A power loss on the forwarder's host, played with a copy of its spool
// taken while it runs (what the disk held then) and restarted after the
// collector has acknowledged more: the spool lost records whose indexes the
// collector has seen. Events accepted after the restart must not reuse
// those indexes (the collector would drop them as duplicates).
TEST(ForwarderTest, RestartFromAnOlderSpoolNeverReusesSeenIndexes) {
  const std::string logs = TempDir("logs");
  auto collector = Ziggyd::Start(logs);
  ASSERT_NE(collector, nullptr);
  const std::string spool = TempDir("spool");
  auto forwarder =
      Ziggyd::StartForwarder(spool, collector->relay(), {"--ack-timeout=1"});
  ASSERT_NE(forwarder, nullptr);
  {
    Load before(forwarder->collect(), 21);
    ASSERT_TRUE(
        WaitFor([&] { return collector->StatusNumber("written") > 500; }));
    const std::string snapshot = spool + "-at-power-loss";
    std::string out, err;
    ASSERT_EQ(RunCommand({"cp", "-r", spool, snapshot}, &out, &err), 0) << err;
    const double written = collector->StatusNumber("written");
    ASSERT_TRUE(WaitFor(
        [&] { return collector->StatusNumber("written") > written + 500; }));
    forwarder->process().Signal(SIGKILL);
    forwarder->process().Wait();
    before.Abandon();
    forwarder = Ziggyd::StartForwarder(snapshot, collector->relay(),
                                       {"--ack-timeout=1"});
    ASSERT_NE(forwarder, nullptr);
  }
  Load after(forwarder->collect(), 22);
  ASSERT_TRUE(WaitFor([&] { return after.sent() > 2000; }));
  after.Stop();
  ASSERT_TRUE(WaitFor(
      [&] { return forwarder->StatusNumber("received") == after.sent(); }));
  EXPECT_GT(forwarder->StatusNumber("spool.skipped"), 0);
  ASSERT_TRUE(Drained(*forwarder)) << forwarder->Status().DebugString();
  const Sequences seen = ReadSequences(logs);
  ExpectExactlyOnce(seen, 22, after.sent());
  ExpectNoDuplicates(seen);
}

// Parameters: the relay's --compress and the daemons' transport.
using KillParam = std::tuple<const char*, Transport>;
class CollectorKillTest : public ::testing::TestWithParam<KillParam> {};

TEST_P(CollectorKillTest, CollectorKilledTwentyTimesExactlyOnce) {
  const auto [compress, transport] = GetParam();
  const TransportKeys keys(transport);
  const std::string logs = TempDir("logs");
  auto collector =
      keys.ControlCollector(Ziggyd::Start(logs, keys.Collector({})));
  ASSERT_NE(collector, nullptr);
  const std::string relay = collector->relay();
  auto forwarder = keys.ControlForwarder(Ziggyd::StartForwarder(
      TempDir("spool"), relay,
      keys.Forwarder(
          {"--ack-timeout=1", absl::StrCat("--compress=", compress)})));
  ASSERT_NE(forwarder, nullptr);
  Load load(forwarder->collect(), 7, keys.ToForwarder());
  std::mt19937 random(11);
  for (int kill = 0; kill < 20; ++kill) {
    // Killed at a random point of the load (after 500 to 3,000 more events).
    const int64_t kill_at =
        load.sent() + std::uniform_int_distribution<int64_t>(500, 3000)(random);
    ASSERT_TRUE(WaitFor([&] { return load.sent() >= kill_at; })) << kill;
    collector->process().Signal(SIGKILL);
    collector->process().Wait();
    collector = keys.ControlCollector(Restart(logs, relay, keys.Collector({})));
    ASSERT_NE(collector, nullptr) << kill;
  }
  load.Stop();
  ASSERT_TRUE(WaitFor([&] { return Spooled(*forwarder) == load.sent(); }));
  ASSERT_TRUE(Drained(*forwarder)) << forwarder->Status().DebugString();
  ExpectExactlyOnce(ReadSequences(logs), 7, load.sent());
  EXPECT_GT(load.sent(), 1000);
  // STATUS has auth (clients accepted) only where CurveZMQ is on.
  EXPECT_EQ(collector->StatusNumber("auth.accepted") > 0, keys.curve());
}

INSTANTIATE_TEST_SUITE_P(
    CompressionAndTransport, CollectorKillTest,
    ::testing::Combine(::testing::Values("none", "zstd"),
                       ::testing::Values(Transport::kPlain, Transport::kCurve)),
    [](const ::testing::TestParamInfo<KillParam>& info) {
      return absl::StrCat(std::get<0>(info.param), "_",
                          TransportName(std::get<1>(info.param)));
    });

TEST(ForwarderTest, FailsOverAndBackAndTakesUpstreamsLive) {
  const std::string logs_a = TempDir("logs_a"), logs_b = TempDir("logs_b"),
                    logs_c = TempDir("logs_c");
  auto a = Ziggyd::Start(logs_a);
  auto b = Ziggyd::Start(logs_b);
  auto c = Ziggyd::Start(logs_c);
  ASSERT_TRUE(a && b && c);
  const std::string relay_a = a->relay();
  auto forwarder = Ziggyd::StartForwarder(
      TempDir("spool"), absl::StrCat(relay_a, ",", b->relay()),
      {"--ack-timeout=0.5", "--failback-interval=0.2"});
  ASSERT_NE(forwarder, nullptr);
  Load load(forwarder->collect(), 3);
  ASSERT_TRUE(WaitFor([&] { return a->StatusNumber("written") > 100; }));
  // A goes down: B takes over.
  a->process().Signal(SIGTERM);
  ASSERT_EQ(a->process().Wait(), 0);
  ASSERT_TRUE(WaitFor([&] { return b->StatusNumber("written") > 100; }));
  // A comes back: the forwarder returns to it.
  a = Restart(logs_a, relay_a);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(WaitFor([&] { return a->StatusNumber("written") > 100; },
                      absl::Seconds(60)));
  // A live change to C, through ziggyctl.
  std::string out, err;
  ASSERT_EQ(RunCommand({RunfilesPath("ctl/ziggyctl"), "-H",
                        forwarder->control(), "upstream", "set", c->relay()},
                       &out, &err),
            0)
      << err;
  ASSERT_TRUE(WaitFor([&] { return c->StatusNumber("written") > 100; }));
  ASSERT_EQ(RunCommand({RunfilesPath("ctl/ziggyctl"), "-H",
                        forwarder->control(), "upstream"},
                       &out, &err),
            0);
  EXPECT_EQ(out, c->relay() + "\n");
  load.Stop();
  ASSERT_TRUE(WaitFor([&] { return Spooled(*forwarder) == load.sent(); }));
  ASSERT_TRUE(Drained(*forwarder));
  // Across the three collectors: nothing lost (failover may duplicate only
  // what was in flight when A went away).
  Sequences all = ReadSequences(logs_a);
  for (const auto& s : ReadSequences(logs_b)) all.insert(s);
  for (const auto& s : ReadSequences(logs_c)) all.insert(s);
  for (int64_t seq = 0; seq < load.sent(); ++seq) {
    ASSERT_GE(all.count({3, seq}), 1u) << seq;
  }
}

// Once a forwarder was seen, a restart after a crash rolls files back to the
// last relay checkpoint. Events sent straight to the collect port after the
// forwarders went quiet must be checkpointed too: a kill -9 seconds later
// loses none of them, and the relayed ones stay exactly once.
TEST(ForwarderTest, CollectorKilledAfterQuietForwarderKeepsDirectEvents) {
  const std::string logs = TempDir("logs");
  auto collector = Ziggyd::Start(logs);
  ASSERT_NE(collector, nullptr);
  const std::string relay = collector->relay();
  auto forwarder = Ziggyd::StartForwarder(TempDir("spool"), relay);
  ASSERT_NE(forwarder, nullptr);
  {
    Sender via_forwarder(forwarder->collect());
    for (int seq = 0; seq < 20; ++seq) {
      via_forwarder.Send(ForeignEvent("relayed", 1, seq));
    }
  }
  ASSERT_TRUE(WaitFor([&] { return Spooled(*forwarder) == 20; }));
  ASSERT_TRUE(Drained(*forwarder)) << forwarder->Status().DebugString();
  forwarder.reset();  // quiet from now on

  constexpr int kDirect = 3000;
  {
    Sender direct(collector->collect());
    for (int seq = 0; seq < kDirect; ++seq) {
      direct.Send(ForeignEvent("direct", 2, seq));
    }
  }
  ASSERT_TRUE(collector->WaitWritten(20 + kDirect));
  EXPECT_TRUE(WaitFor([&] {
    return collector->StatusNumber("relay.checkpoint_written") >= 20 + kDirect;
  })) << collector->Status().DebugString();
  collector->process().Signal(SIGKILL);
  collector->process().Wait();
  collector = Restart(logs, relay);
  ASSERT_NE(collector, nullptr);
  EXPECT_EQ(collector->StatusNumber("relay.rolled_back_bytes"), 0);
  const Sequences seen = ReadSequences(logs);
  ExpectExactlyOnce(seen, 1, 20);
  ExpectExactlyOnce(seen, 2, kDirect);
}

// A peer that read a real forwarder's id from STATUS forges a batch far
// ahead for it: refused (the id is bound to the forwarder's token), and
// every real event still lands exactly once, also across a restart.
TEST(ForwarderTest, ForgedBatchForARealForwarderIsRefused) {
  const std::string logs = TempDir("logs");
  auto collector = Ziggyd::Start(logs);
  ASSERT_NE(collector, nullptr);
  const std::string relay = collector->relay();
  auto forwarder =
      Ziggyd::StartForwarder(TempDir("spool"), relay, {"--ack-timeout=1"});
  ASSERT_NE(forwarder, nullptr);
  Sender sender(forwarder->collect());
  int64_t sent = 0;
  auto send = [&](int n) {
    for (int i = 0; i < n; ++i) sender.Send(ForeignEvent("real", 8, sent++));
    ASSERT_TRUE(WaitFor([&] { return Spooled(*forwarder) == sent; }));
    ASSERT_TRUE(Drained(*forwarder)) << forwarder->Status().DebugString();
  };
  send(10);
  const Value status = forwarder->Status();
  const Value* id = status.Find("spool.id");
  ASSERT_NE(id, nullptr);
  RelayPeer forger(relay);
  const std::string event = ForeignEvent("forged", 666, 0);
  RelayHeader forged;
  forged.forwarder = id->AsString();
  forged.token = "00000000000000000000000000000000";
  forged.first = forged.acked = int64_t{1} << 62;
  forged.end = forged.first + 1;
  forged.count = 1;
  forged.size = static_cast<int64_t>(event.size());
  forger.Send(forged, event);
  const Value refusal = forger.Reply();
  EXPECT_NE(refusal.Get("error"), nullptr) << refusal.DebugString();
  EXPECT_EQ(collector->StatusNumber("relay.refused_token"), 1)
      << refusal.DebugString();
  send(50);
  collector->process().Signal(SIGTERM);
  ASSERT_EQ(collector->process().Wait(), 0);
  collector = Restart(logs, relay);
  ASSERT_NE(collector, nullptr);
  forger.Send(forged, event);  // the binding survived the restart
  EXPECT_NE(forger.Reply().Get("error"), nullptr);
  send(10);
  const Sequences seen = ReadSequences(logs);
  ExpectExactlyOnce(seen, 8, sent);
  EXPECT_EQ(seen.count({666, 0}), 0u);
}

// A forwarder whose id the collector binds to another token is refused:
// it counts and reports the refusals (STATUS, ziggyctl), backs off, keeps
// everything spooled, and delivers nothing twice.
TEST(ForwarderTest, RefusedForwarderBacksOffAndReportsIt) {
  const std::string relay = absl::StrCat("127.0.0.1:", UnusedPort());
  auto forwarder =
      Ziggyd::StartForwarder(TempDir("spool"), relay, {"--ack-timeout=1"});
  ASSERT_NE(forwarder, nullptr);
  const Value status = forwarder->Status();
  const Value* id = status.Find("spool.id");
  ASSERT_NE(id, nullptr);
  const std::string logs = TempDir("logs");
  auto collector = Restart(logs, relay);
  ASSERT_NE(collector, nullptr);
  RelayPeer squatter(relay);
  RelayHeader claim;
  claim.forwarder = id->AsString();
  claim.token = "0123456789abcdef";
  claim.end = 1;  // a batch of no events
  squatter.Send(claim);
  ASSERT_NE(squatter.Reply().Get("ack"), nullptr);
  Sender sender(forwarder->collect());
  for (int i = 0; i < 10; ++i) sender.Send(ForeignEvent("refused", 5, i));
  auto refusals = [&] { return UpstreamCount(*forwarder, relay, "refusals"); };
  ASSERT_TRUE(WaitFor([&] { return refusals() >= 2; }));
  EXPECT_EQ(forwarder->StatusNumber("spool.pending"), 10);
  // Both count every refusal (the forwarder's STATUS is at most 100 ms old).
  EXPECT_TRUE(WaitFor([&] {
    return collector->StatusNumber("relay.refused_token") == refusals();
  })) << refusals();
  // Backing off: far fewer refusals than tries without a pause would make.
  const int64_t before = refusals();
  std::string out, err;
  ASSERT_EQ(RunCommand({RunfilesPath("ctl/ziggyctl"), "-H",
                        forwarder->control(), "status"},
                       &out, &err),
            0)
      << err;
  EXPECT_TRUE(absl::StrContains(out, "bound to another token")) << out;
  EXPECT_LT(refusals() - before, 20);
  EXPECT_TRUE(ReadSequences(logs).empty());
}

// Ten times as many made-up forwarder ids (each a batch of no events) as the
// collector's table holds (--max-forwarders) overflow it; a new, real
// forwarder still delivers everything. (The table is 1,000 here, not the
// default 10,000: each relay checkpoint records the whole table.)
TEST(ForwarderTest, NewForwarderDeliversAfterAFloodOfBogusIds) {
  constexpr int kTable = 1000, kFlood = 10 * kTable;
  const std::string logs = TempDir("logs");
  auto collector =
      Ziggyd::Start(logs, {absl::StrCat("--max-forwarders=", kTable)});
  ASSERT_NE(collector, nullptr);
  {
    RelayPeer flood(collector->relay());
    RelayHeader bogus;
    bogus.token = "0123456789abcdef";
    bogus.end = 1;
    for (int i = 0; i < kFlood; ++i) {
      bogus.forwarder = absl::StrCat("bogus-", i);
      flood.Send(bogus);
    }
    ASSERT_TRUE(WaitFor([&] {
      return collector->StatusNumber("relay.batches") >= kFlood;
    })) << collector->Status().DebugString();
  }
  EXPECT_EQ(collector->StatusNumber("relay.forwarders_known"), kTable);
  auto forwarder = Ziggyd::StartForwarder(TempDir("spool"), collector->relay(),
                                          {"--ack-timeout=1"});
  ASSERT_NE(forwarder, nullptr);
  Sender sender(forwarder->collect());
  for (int i = 0; i < 100; ++i) sender.Send(ForeignEvent("real", 4, i));
  ASSERT_TRUE(WaitFor([&] { return Spooled(*forwarder) == 100; }));
  ASSERT_TRUE(Drained(*forwarder, absl::Seconds(20)))
      << collector->Status().DebugString().substr(0, 3000) << "\n"
      << collector->process().Stderr();
  ExpectExactlyOnce(ReadSequences(logs), 4, 100);
  // The flood forgot all but the newest kTable ids; the real one, one more.
  EXPECT_EQ(collector->StatusNumber("relay.forgotten"), kFlood - kTable + 1);
  EXPECT_EQ(collector->StatusNumber("relay.forwarders_known"), kTable);
}

// The collector's disk refuses writes (a file size limit set on the running
// process: EFBIG, as a full disk gives ENOSPC) under relayed load, and the
// day changes meanwhile (a file due for rotation still holds refused
// events): it holds what it has, acknowledges nothing, drops nothing, and
// once writes succeed again every event lands exactly once.
TEST(ForwarderTest, CollectorDiskRefusingWritesLosesAndDuplicatesNothing) {
  const std::string logs = TempDir("logs");
  auto collector = Ziggyd::Start(logs, {"--fake-time=1700000000"});
  ASSERT_NE(collector, nullptr);
  auto forwarder = Ziggyd::StartForwarder(TempDir("spool"), collector->relay(),
                                          {"--ack-timeout=1"});
  ASSERT_NE(forwarder, nullptr);
  Load load(forwarder->collect(), 11);
  ASSERT_TRUE(
      WaitFor([&] { return collector->StatusNumber("written") > 100; }));
  LimitFileSize(collector->process().pid(), 64 << 10);
  ASSERT_TRUE(
      WaitFor([&] { return collector->StatusNumber("write_errors") > 0; }));
  // The disk stays "full" under load for a while (thousands of events, and
  // the writer retrying across the day change): acknowledgements stop, the
  // forwarder keeps what it accepted.
  const double acked = forwarder->StatusNumber("spool.acked");
  const int64_t spooled = Spooled(*forwarder);
  ASSERT_TRUE(WaitFor([&] { return Spooled(*forwarder) > spooled + 5000; }));
  ASSERT_TRUE(collector->Call("ADVANCE_CLOCK", {{"seconds", 86400}}).ok());
  const double errors = collector->StatusNumber("write_errors");
  ASSERT_TRUE(WaitFor([&] {
    return Spooled(*forwarder) > spooled + 10000 &&
           collector->StatusNumber("write_errors") > errors + 2;
  }));
  EXPECT_GT(forwarder->StatusNumber("spool.pending"), 100);
  EXPECT_LE(forwarder->StatusNumber("spool.acked"), acked + 4000);
  EXPECT_EQ(collector->StatusNumber("dropped.write_error"), 0);
  LimitFileSize(collector->process().pid(), 0);
  load.Stop();
  ASSERT_TRUE(WaitFor([&] { return Spooled(*forwarder) == load.sent(); }));
  ASSERT_TRUE(Drained(*forwarder)) << forwarder->Status().DebugString();
  ExpectExactlyOnce(ReadSequences(logs), 11, load.sent());
  EXPECT_EQ(collector->StatusNumber("dropped.write_error"), 0);
}

// A forwarder takes seed and batched messages alike: each event spooled
// and relayed once, in each sender's order; a broken batch dropped whole.
TEST(ForwarderTest, SeedAndBatchedSendersAreRelayedExactlyOnce) {
  const std::string logs = TempDir("logs");
  std::unique_ptr<Ziggyd> collector, forwarder;
  ASSERT_TRUE(StartRelayPair(logs, &collector, &forwarder));
  constexpr int kSenders = 6, kPerSender = 500;
  SendSeedAndBatched(forwarder->collect(), kSenders, kPerSender);
  ASSERT_TRUE(collector->WaitWritten(kSenders * kPerSender))
      << forwarder->Status().DebugString();
  ASSERT_TRUE(Drained(*forwarder));
  EXPECT_EQ(Spooled(*forwarder), kSenders * kPerSender);
  EXPECT_EQ(forwarder->StatusNumber("dropped.malformed"), kSenders / 2);
  ExpectSeedAndBatched(logs, kSenders, kPerSender);
}

// The forwarder's own ports take hostile input as the collector's do:
// malformed events dropped and counted there (never spooled or relayed),
// garbage on the control port answered with an error, and the good events
// around them relayed exactly once.
TEST(ForwarderTest, MalformedInputIsCountedAndNeverRelayed) {
  const std::string logs = TempDir("logs");
  auto collector = Ziggyd::Start(logs);
  ASSERT_NE(collector, nullptr);
  auto forwarder = Ziggyd::StartForwarder(TempDir("spool"), collector->relay(),
                                          {"--max-event-bytes=4096"});
  ASSERT_NE(forwarder, nullptr);
  Sender sender(forwarder->collect());
  int good = 0;
  auto send_good = [&] { sender.Send(ForeignEvent("good", 0, good++)); };
  SendMalformedMix(sender, send_good);
  {
    zmq::context_t context;
    zmq::socket_t control(context, zmq::socket_type::req);
    control.set(zmq::sockopt::rcvtimeo, 10000);
    control.connect("tcp://" + forwarder->control());
    control.send(zmq::buffer(std::string("\x05\x00\x00\x00garbage")));
    zmq::message_t reply;
    ASSERT_TRUE(control.recv(reply));
    absl::StatusOr<Value> doc =
        DecodeDocument(absl::string_view(reply.data<char>(), reply.size()));
    ASSERT_TRUE(doc.ok());
    EXPECT_NE(doc->Get("error"), nullptr) << doc->DebugString();
  }
  send_good();
  ASSERT_TRUE(collector->WaitWritten(good))
      << forwarder->Status().DebugString();
  ASSERT_TRUE(Drained(*forwarder));
  for (const auto& [counter, count] : kMalformedMixDrops) {
    EXPECT_EQ(forwarder->StatusNumber(counter), count) << counter;
  }
  EXPECT_EQ(Spooled(*forwarder), good);  // only the good ones were spooled
  EXPECT_EQ(collector->StatusNumber("dropped.malformed"), 0);
  ExpectExactlyOnce(ReadSequences(logs), 0, good);
  EXPECT_TRUE(forwarder->process().running());
}

// The forwarder repairs text that is not UTF-8 before spooling: what it
// relays is already valid, so the collector repairs nothing and stores only
// documents strict readers accept.
TEST(ForwarderTest, InvalidUtf8IsRepairedBeforeItIsSpooled) {
  const std::string logs = TempDir("logs");
  std::unique_ptr<Ziggyd> collector, forwarder;
  ASSERT_TRUE(StartRelayPair(logs, &collector, &forwarder));
  Sender sender(forwarder->collect());
  int good = 0;
  auto send_good = [&] { sender.Send(ForeignEvent("good", 0, good++)); };
  SendInvalidUtf8(sender, send_good);
  ASSERT_TRUE(collector->WaitWritten(good + kInvalidUtf8Events))
      << forwarder->Status().DebugString();
  EXPECT_EQ(forwarder->StatusNumber("repaired.utf8"), kInvalidUtf8Events);
  EXPECT_EQ(collector->StatusNumber("repaired.utf8"), 0);
  EXPECT_TRUE(StrictlyValid(forwarder->StatusBytes()));
  for (const std::string& file : ListFiles(logs)) {
    for (const std::string& doc : ReadDocuments(logs + "/" + file)) {
      EXPECT_TRUE(StrictlyValid(doc)) << file;
    }
  }
  ExpectExactlyOnce(ReadSequences(logs), 0, good);
  ExpectExactlyOnce(ReadSequences(logs), 1, kInvalidUtf8Events);
}

TEST(ForwarderTest, FullSpoolRefusesThenRecovers) {
  const std::string logs = TempDir("logs");
  // No collector yet: the spool fills.
  const int relay_port = UnusedPort();
  const std::string relay = absl::StrCat("127.0.0.1:", relay_port);
  auto forwarder = Ziggyd::StartForwarder(
      TempDir("spool"), relay, {"--spool-max-bytes=200000", "--ack-timeout=1"});
  ASSERT_NE(forwarder, nullptr);
  Sender sender(forwarder->collect());
  for (int i = 0; i < 3000; ++i) sender.Send(ForeignEvent("t", 5, i));
  ASSERT_TRUE(
      WaitFor([&] { return forwarder->StatusNumber("received") >= 3000; }));
  const int64_t spooled = Spooled(*forwarder);
  EXPECT_LT(spooled, 3000);
  EXPECT_EQ(forwarder->StatusNumber("dropped.spool_full"), 3000 - spooled);
  EXPECT_EQ(forwarder->StatusNumber("spool.refused_full"), 3000 - spooled);
  EXPECT_LE(forwarder->StatusNumber("spool.bytes"), 200000);
  // The collector arrives: the spool drains, and events are accepted again.
  auto collector = Restart(logs, relay);
  ASSERT_NE(collector, nullptr);
  ASSERT_TRUE(Drained(*forwarder));
  // Acknowledged segments go once the acked mark is durable, just after.
  ASSERT_TRUE(WaitFor(
      [&] { return forwarder->StatusNumber("spool.bytes") <= 100000; }));
  for (int i = 3000; i < 3100; ++i) sender.Send(ForeignEvent("t", 5, i));
  ASSERT_TRUE(WaitFor([&] { return Spooled(*forwarder) == spooled + 100; }));
  ASSERT_TRUE(Drained(*forwarder));
  const Sequences seen = ReadSequences(logs);
  ExpectNoDuplicates(seen);
  EXPECT_EQ(static_cast<int64_t>(seen.size()), spooled + 100);
  // ziggyctl shows the spool and the relay readably, on both daemons.
  std::string out, err;
  ASSERT_EQ(RunCommand({RunfilesPath("ctl/ziggyctl"), "-H",
                        forwarder->control(), "status"},
                       &out, &err),
            0)
      << err;
  EXPECT_TRUE(absl::StrContains(out, "ziggy-forwarder on")) << out;
  EXPECT_TRUE(absl::StrContains(out, " refused full")) << out;
  EXPECT_TRUE(absl::StrContains(out, "(spool_full ")) << out;
  EXPECT_FALSE(absl::StrContains(out, "written ")) << out;  // collectors only
  EXPECT_TRUE(absl::StrContains(out, "relay       to " + relay)) << out;
  ASSERT_EQ(RunCommand({RunfilesPath("ctl/ziggyctl"), "-H",
                        collector->control(), "status"},
                       &out, &err),
            0)
      << err;
  EXPECT_TRUE(absl::StrContains(out, " duplicates dropped")) << out;
  for (int i = 0; i < spooled; ++i) EXPECT_EQ(seen.count({5, i}), 1u) << i;
}

// ziggyctl ports and flush on both daemons: the collector lists its relay
// port and counts what its files hold; the forwarder says its spool is
// synced (it has no files, so no "0 events written").
TEST(ForwarderTest, ZiggyctlPortsAndFlushSayWhatEachDaemonHas) {
  auto collector = Ziggyd::Start(TempDir("logs"));
  ASSERT_NE(collector, nullptr);
  auto forwarder = Ziggyd::StartForwarder(TempDir("spool"), collector->relay());
  ASSERT_NE(forwarder, nullptr);
  Sender sender(forwarder->collect());
  for (int i = 0; i < 5; ++i) sender.Send(ForeignEvent("t", 6, i));
  ASSERT_TRUE(WaitFor([&] { return Spooled(*forwarder) == 5; }));
  ASSERT_TRUE(collector->WaitWritten(5));
  const std::string ctl = RunfilesPath("ctl/ziggyctl");
  const auto port = [](const std::string& address) {
    return address.substr(address.rfind(':') + 1);
  };
  std::string out, err;
  ASSERT_EQ(RunCommand({ctl, "-H", collector->control(), "ports"}, &out, &err),
            0)
      << err;
  EXPECT_EQ(out, absl::StrCat("control ", port(collector->control()),
                              "\ncollect ", port(collector->collect()),
                              "\nstream ", port(collector->stream()),
                              "\nrelay ", port(collector->relay()), "\n"));
  ASSERT_EQ(RunCommand({ctl, "-H", forwarder->control(), "ports"}, &out, &err),
            0)
      << err;
  EXPECT_FALSE(absl::StrContains(out, "relay")) << out;
  ASSERT_EQ(RunCommand({ctl, "-H", collector->control(), "flush"}, &out, &err),
            0)
      << err;
  EXPECT_EQ(out, "flushed: 5 events written\n");
  ASSERT_EQ(RunCommand({ctl, "-H", forwarder->control(), "flush"}, &out, &err),
            0)
      << err;
  EXPECT_TRUE(absl::StartsWith(out, "flushed: spool synced")) << out;
  EXPECT_FALSE(absl::StrContains(out, "events written")) << out;
}

TEST(ForwarderTest, CorruptSegmentDeliversWholeRecordsAroundTheDamage) {
  const std::string spool = TempDir("spool");
  const int relay_port = UnusedPort();
  const std::string relay = absl::StrCat("127.0.0.1:", relay_port);
  {
    auto forwarder = Ziggyd::StartForwarder(spool, relay);
    ASSERT_NE(forwarder, nullptr);
    Sender sender(forwarder->collect());
    for (int i = 0; i < 1000; ++i) sender.Send(ForeignEvent("t", 9, i));
    ASSERT_TRUE(WaitFor([&] { return Spooled(*forwarder) == 1000; }));
    forwarder->process().Signal(SIGTERM);
    ASSERT_EQ(forwarder->process().Wait(), 0);
  }
  // Scribble over the middle of the segment.
  const std::string segment = spool + "/seg-00000000000000000000.log";
  struct stat st;
  ASSERT_EQ(stat(segment.c_str(), &st), 0);
  {
    std::fstream f(segment, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(st.st_size / 2);
    f.write(std::string(100, '\xab').data(), 100);
  }
  const std::string logs = TempDir("logs");
  auto collector = Restart(logs, relay);
  ASSERT_NE(collector, nullptr);
  auto forwarder = Ziggyd::StartForwarder(spool, relay, {"--ack-timeout=1"});
  ASSERT_NE(forwarder, nullptr);
  ASSERT_TRUE(Drained(*forwarder)) << forwarder->Status().DebugString();
  const Sequences seen = ReadSequences(logs);
  ExpectNoDuplicates(seen);
  EXPECT_GE(seen.size(), 990u);  // at most the records the 100 bytes touched
  EXPECT_LT(seen.size(), 1000u);
  EXPECT_EQ(seen.count({9, 0}), 1u);
  EXPECT_EQ(seen.count({9, 999}), 1u);
  EXPECT_GE(forwarder->StatusNumber("spool.damaged_records"), 1);
  EXPECT_TRUE(
      absl::StrContains(forwarder->process().Stderr(), "damaged bytes"));
}

}  // namespace
}  // namespace ziggy::testing
