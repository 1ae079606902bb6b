// Forwarder tiers (forwarder/RELAY.md, "Tiers"): host forwarder -> tier
// forwarder (ziggy-forwarder --relay) -> ziggyd, with the conservation
// oracle: every (sender, seq) the host forwarder spooled lands in ziggyd's
// files exactly once, through kill -9 of each level under continuous
// sending; a downstream's resend after a tier kill is a duplicate there;
// hostile batches at the tier's relay port are refused and counted; a full
// tier spool refuses batches (no ack) and loses nothing.

#include <signal.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/net/curve_key.h"
#include "client/testing/curve_keys.h"
#include "common/metrics.h"
#include "common/relay_protocol.h"
#include "gtest/gtest.h"
#include "tests/load.h"
#include "tests/process.h"
#include "tests/ziggyd.h"

namespace ziggy::testing {
namespace {

constexpr char kToken[] = "0123456789abcdef0123456789abcdef";

// A tier: a forwarder with a relay port at `relay` (127.0.0.1:0 for any),
// relaying to `upstream`. Retried while the port is still held by a killed
// predecessor.
std::unique_ptr<Ziggyd> StartTier(const std::string& spool,
                                  const std::string& upstream,
                                  const std::string& relay,
                                  std::vector<std::string> flags = {}) {
  flags.push_back("--relay=" + relay);
  flags.push_back("--ack-timeout=1");
  std::unique_ptr<Ziggyd> tier;
  WaitFor(
      [&] {
        tier = Ziggyd::StartForwarder(spool, upstream, flags);
        return tier != nullptr;
      },
      absl::Seconds(30), absl::Milliseconds(200));
  return tier;
}

void Kill(Ziggyd& daemon) {
  daemon.process().Signal(SIGKILL);
  daemon.process().Wait();
}

// Events (sender 9, seq first..end-1) back to back: a batch's payload.
std::string Events(int64_t first, int64_t end) {
  std::string payload;
  for (int64_t seq = first; seq < end; ++seq) {
    payload += ForeignEvent("relayed", 9, seq);
  }
  return payload;
}

RelayHeader Header(int64_t first, int64_t end, const std::string& payload) {
  RelayHeader h;
  h.forwarder = "down-1";
  h.token = kToken;
  h.first = first;
  h.end = end;
  h.count = static_cast<int32_t>(end - first);
  h.size = static_cast<int64_t>(payload.size());
  return h;
}

int64_t Int(const Value& reply, absl::string_view key) {
  const Value* v = reply.Get(key);
  return v != nullptr && v->kind() == Value::Kind::kInt ? v->AsInt() : -1;
}

std::string Text(const Value& reply, absl::string_view key) {
  const Value* v = reply.Get(key);
  return v != nullptr && v->kind() == Value::Kind::kString ? v->AsString() : "";
}

bool IsError(const Value& reply) { return !Text(reply, "error").empty(); }

// Sends a batch for indexes [first, end) of sender 9 and returns the reply.
Value Batch(RelayPeer& peer, int64_t first, int64_t end) {
  const std::string payload = Events(first, end);
  peer.Send(Header(first, end, payload), payload);
  return peer.Reply();
}

// Seq 0..n-1 of sender 9, once each, and nothing else.
void ExpectSender9(const std::string& logs, int64_t n) {
  Sequences expected;
  for (int64_t seq = 0; seq < n; ++seq) expected.insert({9, seq});
  EXPECT_EQ(ReadSequences(logs), expected);
}

TEST(TierTest, ThreeLevelsExactlyOnceThroughKillsAtEachLevel) {
  const std::string logs = TempDir("logs");
  auto collector = Ziggyd::Start(logs);
  ASSERT_NE(collector, nullptr);
  const std::string center = collector->relay();
  const std::string tier_spool = TempDir("tier-spool");
  auto tier = StartTier(tier_spool, center, "127.0.0.1:0");
  ASSERT_NE(tier, nullptr);
  const std::string tier_relay = tier->relay();
  ASSERT_FALSE(tier_relay.empty());
  const std::string host_spool = TempDir("host-spool");
  const std::vector<std::string> host_flags = {"--ack-timeout=1"};
  auto host = Ziggyd::StartForwarder(host_spool, tier_relay, host_flags);
  ASSERT_NE(host, nullptr);
  int64_t sender = 100;
  auto load = std::make_unique<Load>(host->collect(), sender);
  std::mt19937 random(17);
  // Waits for 300 to 2,000 more events of the load.
  auto some_more = [&] {
    const int64_t at = load->sent() + std::uniform_int_distribution<int64_t>(
                                          300, 2000)(random);
    return WaitFor([&] { return load->sent() >= at; });
  };
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(some_more()) << round;
    Kill(*tier);
    tier = StartTier(tier_spool, center, tier_relay);
    ASSERT_NE(tier, nullptr) << round;
    ASSERT_TRUE(some_more()) << round;
    Kill(*collector);
    collector = Restart(logs, center);
    ASSERT_NE(collector, nullptr) << round;
    ASSERT_TRUE(some_more()) << round;
    Kill(*host);
    load->Abandon();
    host = Ziggyd::StartForwarder(host_spool, tier_relay, host_flags);
    ASSERT_NE(host, nullptr) << round;
    load = std::make_unique<Load>(host->collect(), ++sender);
  }
  ASSERT_TRUE(some_more());
  load->Stop();
  ASSERT_TRUE(Drained(*host)) << host->Status().DebugString();
  ASSERT_TRUE(Drained(*tier)) << tier->Status().DebugString();
  const Sequences seen = ReadSequences(logs);
  ExpectNoDuplicates(seen);
  // Every event the host's spool ever accepted, once: its indexes less those
  // given up after each kill (never reused).
  EXPECT_EQ(static_cast<int64_t>(seen.size()), Accepted(*host));
  EXPECT_GT(seen.size(), 3000u);
  EXPECT_EQ(tier->StatusNumber("relay_in.rejected"), 0);
  EXPECT_GT(tier->StatusNumber("relay_in.batches"), 0);
}

// The tier records a downstream's position with its spool append: after a
// kill -9 of the tier, the batch it acknowledged comes again and is a
// duplicate, acknowledged and not spooled twice; the id's token binding
// survives too.
TEST(TierTest, ResendAfterTierKillIsADuplicate) {
  const std::string logs = TempDir("logs");
  auto collector = Ziggyd::Start(logs);
  ASSERT_NE(collector, nullptr);
  const std::string spool = TempDir("tier-spool");
  auto tier = StartTier(spool, collector->relay(), "127.0.0.1:0");
  ASSERT_NE(tier, nullptr);
  const std::string relay = tier->relay();
  {
    RelayPeer peer(relay);
    EXPECT_EQ(Int(Batch(peer, 0, 3), "ack"), 3);
  }
  Kill(*tier);
  tier = StartTier(spool, collector->relay(), relay);
  ASSERT_NE(tier, nullptr);
  RelayPeer peer(relay);
  EXPECT_EQ(Int(Batch(peer, 0, 3), "ack"), 3);  // the resend
  EXPECT_EQ(tier->StatusNumber("relay_in.duplicates_dropped"), 3);
  EXPECT_EQ(Int(Batch(peer, 3, 5), "ack"), 5);
  EXPECT_EQ(tier->StatusNumber("relay_in.forwarders.down-1.next"), 5);
  // Another token for down-1 is refused: the binding was recovered.
  RelayPeer forger(relay);
  const std::string payload = Events(5, 6);
  RelayHeader forged = Header(5, 6, payload);
  forged.token = "ffffffffffffffffffffffffffffffff";
  forger.Send(forged, payload);
  EXPECT_EQ(Text(forger.Reply(), "reason"), "token");
  EXPECT_EQ(tier->StatusNumber("relay_in.refused_token"), 1);
  ASSERT_TRUE(Drained(*tier)) << tier->Status().DebugString();
  ExpectSender9(logs, 5);
}

// Hostile batches at the tier's relay port: each answered {error} and
// counted (relay_in.rejected), a malformed event inside a well-framed batch
// dropped and counted (dropped.malformed), a gap answered with a resend, and
// the good events around them relayed exactly once.
TEST(TierTest, HostileBatchesAtTheTierAreRefusedAndCounted) {
  const std::string logs = TempDir("logs");
  auto collector = Ziggyd::Start(logs);
  ASSERT_NE(collector, nullptr);
  auto tier =
      StartTier(TempDir("tier-spool"), collector->relay(), "127.0.0.1:0");
  ASSERT_NE(tier, nullptr);
  RelayPeer peer(tier->relay());
  EXPECT_EQ(Int(Batch(peer, 0, 3), "ack"), 3);
  const std::string next = Events(3, 5);
  const std::string torn = next + std::string(10, '\x01');
  RelayHeader zstd = Header(3, 5, next);
  zstd.zstd = true;
  const std::vector<std::vector<std::string>> hostile = {
      {"\x05\x00\x00\x00", next},
      {"hello", next},
      {EncodeRelayHeader(Header(3, 5, torn)), torn},
      {EncodeRelayHeader(Header(3, 5, next)), next, "x"},
      {EncodeRelayHeader(Header(3, 5, next))},
      {EncodeRelayHeader(zstd), next},
  };
  for (size_t i = 0; i < hostile.size(); ++i) {
    peer.SendFrames(hostile[i]);
    EXPECT_TRUE(IsError(peer.Reply())) << i;
  }
  EXPECT_EQ(tier->StatusNumber("relay_in.rejected"), hostile.size());
  EXPECT_EQ(Int(Batch(peer, 10, 12), "resend"), 3);
  // A malformed event, framed right, among good ones (indexes 3, 4, 5).
  std::string broken = ForeignEvent("relayed", 9, 999);
  std::fill(broken.begin() + 4, broken.end() - 1, '\x7e');
  const std::string mixed =
      ForeignEvent("relayed", 9, 3) + broken + ForeignEvent("relayed", 9, 4);
  peer.Send(Header(3, 6, mixed), mixed);
  EXPECT_EQ(Int(peer.Reply(), "ack"), 6);
  EXPECT_GE(tier->StatusNumber("dropped.malformed"), 1);
  ASSERT_TRUE(tier->process().running());
  ASSERT_TRUE(Drained(*tier)) << tier->Status().DebugString();
  ExpectSender9(logs, 5);
  // Every number of STATUS relay_in has its metric.
  EXPECT_EQ(UnexportedFields(tier->Status().AsMap(), StatusSchema::kForwarder),
            std::vector<std::string>{});
}

// A tier whose spool is full refuses downstream batches (no ack, counted in
// relay_in.refused_full); the host keeps spooling, and once the tier's own
// upstream comes, everything arrives exactly once.
TEST(TierTest, FullTierSpoolRefusesThenDeliversEverything) {
  const std::string logs = TempDir("logs");
  const std::string center = absl::StrCat("127.0.0.1:", UnusedPort());
  auto tier = StartTier(TempDir("tier-spool"), center, "127.0.0.1:0",
                        {"--spool-max-bytes=200000"});
  ASSERT_NE(tier, nullptr);
  auto host = Ziggyd::StartForwarder(TempDir("host-spool"), tier->relay(),
                                     {"--relay-batch-bytes=8192"});
  ASSERT_NE(host, nullptr);
  Load load(host->collect(), 5);
  ASSERT_TRUE(WaitFor([&] {
    return tier->StatusNumber("relay_in.refused_full") > 0;
  })) << tier->Status().DebugString();
  ASSERT_TRUE(WaitFor([&] { return load.sent() > 3000; }));
  load.Stop();
  ASSERT_TRUE(WaitFor([&] { return Spooled(*host) == load.sent(); }));
  EXPECT_GT(host->StatusNumber("spool.pending"), 0);
  auto collector = Restart(logs, center);
  ASSERT_NE(collector, nullptr);
  ASSERT_TRUE(Drained(*host)) << host->Status().DebugString();
  ASSERT_TRUE(Drained(*tier)) << tier->Status().DebugString();
  ExpectExactlyOnce(ReadSequences(logs), 5, load.sent());
}

// Over CurveZMQ (the tier's --curve-key): the host relays (zstd-compressed)
// with the tier's public key, the tier binds the host's id to the host's key,
// and another allowed key claiming that id is refused (reason "token").
TEST(TierTest, CurveTierBindsDownstreamsToTheirKeys) {
  const std::string keys = TempDir("keys");
  const std::string allow = TempDir("allow");
  const CurveKeyPair tier_key = NewCurveKeyPair();
  const CurveKeyPair host_key = NewCurveKeyPair();
  const CurveKeyPair other_key = NewCurveKeyPair();
  ASSERT_TRUE(WriteKeyPair(tier_key, keys + "/tier.key").ok());
  ASSERT_TRUE(WriteKeyPair(host_key, allow + "/host.key").ok());
  ASSERT_TRUE(WriteKeyPair(other_key, allow + "/other.key").ok());
  const std::string logs = TempDir("logs");
  auto collector = Ziggyd::Start(logs);
  ASSERT_NE(collector, nullptr);
  auto tier = StartTier(
      TempDir("tier-spool"), collector->relay(), "127.0.0.1:0",
      {"--curve-key=" + keys + "/tier.key", "--curve-allow=" + allow});
  ASSERT_NE(tier, nullptr);
  tier->set_control_curve(
      CurveSocketOptions::Client(other_key, tier_key.public_key()));
  auto host = Ziggyd::StartForwarder(
      TempDir("host-spool"), tier->relay(),
      {"--curve-key=" + allow + "/host.key", "--plain-collect",
       "--compress=zstd", "--upstream-server-key=" + keys + "/tier.key.pub"});
  ASSERT_NE(host, nullptr);
  host->set_control_curve(
      CurveSocketOptions::Client(other_key, host_key.public_key()));
  Load load(host->collect(), 3);
  ASSERT_TRUE(WaitFor([&] { return load.sent() > 1000; }));
  load.Stop();
  ASSERT_TRUE(Drained(*host)) << host->Status().DebugString();
  ASSERT_TRUE(Drained(*tier)) << tier->Status().DebugString();
  ExpectExactlyOnce(ReadSequences(logs), 3, load.sent());
  // Another allowed key speaking for the host's id, with any token.
  const Value status = host->Status();
  const Value* id = status.Find("spool.id");
  ASSERT_NE(id, nullptr);
  RelayPeer forger(tier->relay(), CurveSocketOptions::Client(
                                      other_key, tier_key.public_key()));
  const std::string payload = Events(0, 1);
  RelayHeader forged = Header(1 << 20, (1 << 20) + 1, payload);
  forged.forwarder = id->AsString();
  forger.Send(forged, payload);
  EXPECT_EQ(Text(forger.Reply(), "reason"), "token");
  EXPECT_EQ(tier->StatusNumber("relay_in.refused_token"), 1);
}

// Bad --relay and --max-forwarders values: one line on stderr naming the
// flag, exit 1, nothing bound.
TEST(TierTest, BadTierFlagsAreOneLineErrors) {
  const std::string spool = TempDir("spool");
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"--relay=127.0.0.1:notaport", "--relay"},
      {"--relay=0.0.0.0:0", "--relay=0.0.0.0:0 is not a loopback address"},
      {"--max-forwarders=0", "must be positive"},
  };
  for (const auto& [flag, says] : bad) {
    std::string out, err;
    const int code = RunCommand(
        {RunfilesPath("forwarder/ziggy-forwarder"), "--spool-path=" + spool,
         "--control=127.0.0.1:0", "--collect=127.0.0.1:0", flag},
        &out, &err);
    EXPECT_EQ(code, 1) << flag;
    EXPECT_NE(err.find(says), std::string::npos) << flag << ": " << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << flag << err;
  }
}

}  // namespace
}  // namespace ziggy::testing
