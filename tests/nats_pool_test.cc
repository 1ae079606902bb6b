// The pool: ziggy-forwarder publishing to NATS JetStream (a real
// `nats-server -js`), two ziggyd pulling through one shared durable
// consumer, and the conservation oracle over the union of both collectors'
// files: every (sender, seq) the forwarder accepted exactly once, through a
// kill -9 of a collector (restarted), kill -9 of the forwarder, and
// restarts of nats-server, with both collectors taking a share.

#include <signal.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "tests/load.h"
#include "tests/nats_server.h"
#include "tests/process.h"
#include "tests/ziggyd.h"

namespace ziggy::testing {
namespace {

// Unacknowledged messages of a killed collector go to another after the ack
// wait: short here, so tests do not wait the default 30 s.
const char kAckWait[] = "--nats-ack-wait=3s";

class Pool {
 public:
  // One nats-server, or with `certs` (a directory MakeTestCertificates
  // filled) the README's cluster of three with TLS, the daemons given
  // every URL, its CA and `flags`; and two collectors. False when any did
  // not start.
  bool Start(const std::string& certs = "",
             std::vector<std::string> flags = {}) {
    absl::StatusOr<std::vector<std::unique_ptr<NatsServer>>> nats;
    if (certs.empty()) {
      nats = std::vector<std::unique_ptr<NatsServer>>();
      auto one = NatsServer::Start(TempDir("nats"));
      if (one.ok()) nats->push_back(*std::move(one));
      if (!one.ok()) nats = one.status();
    } else {
      nats = NatsServer::StartReadmeCluster(certs);
      flags.push_back("--nats-tls-ca=" + certs + "/ca.pem");
    }
    if (!nats.ok()) {
      ADD_FAILURE() << nats.status();
      return false;
    }
    nats_ = *std::move(nats);
    std::vector<std::string> urls;
    for (const auto& server : nats_) urls.push_back(server->url());
    urls_ = absl::StrJoin(urls, ",");
    flags_ = std::move(flags);
    for (int i = 0; i < 2; ++i) {
      logs_.push_back(TempDir(absl::StrCat("logs", i)));
      collectors_.emplace_back();
      if (!StartCollector(i)) return false;
    }
    return StartForwarder();
  }

  bool StartCollector(int i) {
    WaitFor(
        [&] {
          std::vector<std::string> flags = flags_;
          flags.push_back("--source=" + urls_);
          flags.push_back(kAckWait);
          collectors_[i] = Ziggyd::Start(logs_[i], flags);
          return collectors_[i] != nullptr;
        },
        absl::Seconds(30), absl::Milliseconds(200));
    return collectors_[i] != nullptr;
  }
  void KillCollector(int i) { Kill(*collectors_[i]); }

  bool StartForwarder() {
    forwarder_ = Ziggyd::StartForwarder(spool_, urls_, flags_);
    return forwarder_ != nullptr;
  }
  void KillForwarder() { Kill(*forwarder_); }

  NatsServer& nats(int i = 0) { return *nats_[i]; }
  Ziggyd& forwarder() { return *forwarder_; }
  Ziggyd& collector(int i) { return *collectors_[i]; }

  // Waits until the forwarder has published everything and the collectors
  // hold at least `events` distinct ones; then their union.
  Sequences Settle(int64_t events) {
    EXPECT_TRUE(Drained(*forwarder_, absl::Seconds(120)))
        << forwarder_->Status().DebugString() << "\n"
        << forwarder_->process().Stderr();
    Sequences seen;
    EXPECT_TRUE(WaitFor(
        [&] {
          seen = ReadPoolSequences(logs_);
          const std::set<std::pair<int64_t, int64_t>> distinct(seen.begin(),
                                                               seen.end());
          return static_cast<int64_t>(distinct.size()) >= events;
        },
        absl::Seconds(120), absl::Milliseconds(250)))
        << seen.size() << " of " << events << "\n"
        << collectors_[0]->Status().DebugString() << "\n"
        << collectors_[1]->Status().DebugString();
    return ReadPoolSequences(logs_);
  }

  // Every collector wrote some of `seen`.
  // On failure DumpLogs() (which server led the consumer, routes,
  // elections).
  void ExpectBothTookAShare() {
    bool all = true;
    for (size_t i = 0; i < logs_.size(); ++i) {
      const bool took = !ReadSequences(logs_[i]).empty();
      EXPECT_TRUE(took) << "collector " << i << " wrote nothing";
      all &= took;
    }
    if (!all) DumpLogs();
  }

  // The events of `sender` below `sent`: none missing, none written twice
  // by one collector (it drops a redelivery of what it wrote, its ack
  // confirmed or not); returns how many each of two collectors wrote once,
  // which RELAY.md's table allows when a NATS cluster loses acks.
  int64_t ExpectNoLossNoDuplicateWithin(int64_t sender, int64_t sent) {
    std::vector<std::map<int64_t, int>> counts(logs_.size());
    for (size_t i = 0; i < logs_.size(); ++i) {
      for (const auto& [s, seq] : ReadSequences(logs_[i])) {
        if (s == sender) ++counts[i][seq];
      }
    }
    int64_t missing = 0, across = 0;
    std::vector<int64_t> within(logs_.size());
    for (int64_t seq = 0; seq < sent; ++seq) {
      int writers = 0;
      for (size_t i = 0; i < counts.size(); ++i) {
        const auto it = counts[i].find(seq);
        if (it == counts[i].end()) continue;
        ++writers;
        within[i] += it->second - 1;
      }
      missing += writers == 0;
      across += writers > 1;
    }
    EXPECT_EQ(missing, 0) << "of " << sent;
    EXPECT_EQ(*std::max_element(within.begin(), within.end()), 0)
        << "written again by one collector: " << absl::StrJoin(within, ", ");
    return across;
  }

  // Every collector's STATUS and log, and the NATS servers' logs, as test
  // failures (for a failure seen only now and then).
  void DumpLogs() {
    for (size_t i = 0; i < collectors_.size(); ++i) {
      ADD_FAILURE() << "collector " << i << ": "
                    << collectors_[i]->Status().DebugString() << "\n"
                    << collectors_[i]->process().Stderr();
    }
    for (size_t i = 0; i < nats_.size(); ++i) {
      ADD_FAILURE() << "nats-server " << i << " (" << nats_[i]->url() << "):\n"
                    << nats_[i]->Log();
    }
  }

 private:
  static void Kill(Ziggyd& daemon) {
    daemon.process().Signal(SIGKILL);
    daemon.process().Wait();
  }

  std::vector<std::unique_ptr<NatsServer>> nats_;
  std::string urls_;  // every server's, comma-separated
  std::vector<std::string> flags_;
  std::vector<std::string> logs_;
  std::vector<std::unique_ptr<Ziggyd>> collectors_;
  const std::string spool_ = TempDir("spool");
  std::unique_ptr<Ziggyd> forwarder_;
};

// Waits until `load` has sent between `min` and `max` more events (random).
void SendSome(Load& load, std::mt19937& random, int64_t min, int64_t max) {
  const int64_t until =
      load.sent() + std::uniform_int_distribution<int64_t>(min, max)(random);
  ASSERT_TRUE(WaitFor([&] { return load.sent() >= until; }));
}

TEST(NatsPoolTest, CollectorsKilledAndRestartedExactlyOnceBothTakeAShare) {
  Pool pool;
  ASSERT_TRUE(pool.Start());
  Load load(pool.forwarder().collect(), 1);
  std::mt19937 random(17);
  for (int kill = 0; kill < 6; ++kill) {
    SendSome(load, random, 500, 3000);
    pool.KillCollector(kill % 2);
    ASSERT_TRUE(pool.StartCollector(kill % 2)) << kill;
  }
  SendSome(load, random, 500, 1000);
  load.Stop();
  ASSERT_TRUE(
      WaitFor([&] { return Spooled(pool.forwarder()) == load.sent(); }));
  const Sequences seen = pool.Settle(load.sent());
  ExpectExactlyOnce(seen, 1, load.sent());
  pool.ExpectBothTookAShare();
  EXPECT_GT(load.sent(), 3000);
}

TEST(NatsPoolTest, ForwarderKilledLosesAndDuplicatesNothingAccepted) {
  Pool pool;
  ASSERT_TRUE(pool.Start());
  std::mt19937 random(23);
  for (int kill = 0; kill < 8; ++kill) {
    Load load(pool.forwarder().collect(), 100 + kill);
    SendSome(load, random, 200, 3000);
    pool.KillForwarder();
    load.Abandon();
    ASSERT_TRUE(pool.StartForwarder()) << kill;
  }
  ASSERT_TRUE(Drained(pool.forwarder(), absl::Seconds(120)));
  // Every event the spool ever accepted, once.
  const int64_t accepted = Accepted(pool.forwarder());
  const Sequences seen = pool.Settle(accepted);
  ExpectNoDuplicates(seen);
  EXPECT_EQ(static_cast<int64_t>(seen.size()), accepted);
  EXPECT_GT(seen.size(), 1000u);
  pool.ExpectBothTookAShare();
}

TEST(NatsPoolTest, NatsServerRestartedExactlyOnce) {
  Pool pool;
  ASSERT_TRUE(pool.Start());
  Load load(pool.forwarder().collect(), 3);
  std::mt19937 random(29);
  for (int restart = 0; restart < 3; ++restart) {
    SendSome(load, random, 1000, 4000);
    ASSERT_TRUE(pool.nats().Restart().ok()) << pool.nats().Log();
  }
  SendSome(load, random, 500, 1000);
  load.Stop();
  ASSERT_TRUE(
      WaitFor([&] { return Spooled(pool.forwarder()) == load.sent(); }));
  ExpectExactlyOnce(pool.Settle(load.sent()), 3, load.sent());
  pool.ExpectBothTookAShare();
}

// The README's cluster of three (docs/nats-server.conf, TLS for clients and
// between servers) with the stream replicated three times: each server in
// turn is killed (SIGKILL) and started again under load; libnats fails the
// daemons over to the others.
TEST(NatsPoolTest, ReadmeClusterOfThreeLosesNothingWhenAServerDies) {
  const std::string certs = TempDir("certs");
  ASSERT_TRUE(MakeTestCertificates(certs));
  Pool pool;
  ASSERT_TRUE(pool.Start(certs, {"--nats-replicas=3"}));
  // The cluster elects the consumer's leader in seconds: both collectors
  // pull from then on (before it, one could take a whole backlog).
  const auto subscribed = [&](int i) {
    const Value status = pool.collector(i).Status();
    const Value* v = status.Find("nats.subscribed");
    return v != nullptr && v->kind() == Value::Kind::kBool && v->AsBool();
  };
  ASSERT_TRUE(WaitFor([&] { return subscribed(0) && subscribed(1); }));
  Load load(pool.forwarder().collect(), 5);
  std::mt19937 random(37);
  for (int i = 0; i < 3; ++i) {
    SendSome(load, random, 1000, 3000);
    pool.nats(i).Kill();
    SendSome(load, random, 1000, 3000);
    ASSERT_TRUE(pool.nats(i).Restart().ok()) << pool.nats(i).Log();
  }
  // The cluster whole again (its consumer without a leader for up to tens
  // of seconds, the forwarder spooling meanwhile: a backlog of a few large
  // batches may go to one collector), traffic is shared again.
  ASSERT_TRUE(WaitFor([&] { return subscribed(0) && subscribed(1); },
                      absl::Seconds(60)));
  SendSome(load, random, 2000, 3000);
  load.Stop();
  ASSERT_TRUE(
      WaitFor([&] { return Spooled(pool.forwarder()) == load.sent(); }));
  pool.Settle(load.sent());
  // nats-server 2.9 confirms acks before storing them (RELAY.md): a
  // consumer leader killed can give another collector what one wrote.
  const int64_t across = pool.ExpectNoLossNoDuplicateWithin(5, load.sent());
  RecordProperty("duplicates_across_collectors", static_cast<int>(across));
  std::cerr << across << " of " << load.sent()
            << " events written by both collectors\n";
  if (HasFailure()) pool.DumpLogs();
  pool.ExpectBothTookAShare();
}

// Credentials in the URLs work and never show (STATUS, logs); plain text
// to a NATS server off this host is refused without --insecure.
TEST(NatsPoolTest, UrlPasswordsNeverShowAndPlainTextOffHostIsRefused) {
  auto nats = NatsServer::Start(TempDir("nats"),
                                {"--user", "ziggy", "--pass", "s3cret"});
  ASSERT_TRUE(nats.ok()) << nats.status();
  const std::string url =
      absl::StrCat("nats://ziggy:s3cret@127.0.0.1:", (*nats)->port());
  const std::string logs = TempDir("logs");
  auto collector = Ziggyd::Start(logs, {"--source=" + url});
  ASSERT_NE(collector, nullptr);
  auto forwarder = Ziggyd::StartForwarder(TempDir("spool"), url);
  ASSERT_NE(forwarder, nullptr);
  {
    Load load(forwarder->collect(), 9);
    ASSERT_TRUE(WaitFor([&] { return load.sent() >= 500; }));
    load.Stop();
    ASSERT_TRUE(WaitFor([&] { return Spooled(*forwarder) == load.sent(); }));
    ASSERT_TRUE(Drained(*forwarder));
    ASSERT_TRUE(WaitFor([&] {
      return static_cast<int64_t>(ReadSequences(logs).size()) >= load.sent();
    }));
    ExpectExactlyOnce(ReadSequences(logs), 9, load.sent());
  }
  for (Ziggyd* daemon : {collector.get(), forwarder.get()}) {
    const std::string status = daemon->StatusBytes();
    EXPECT_NE(status.find("nats://***@127.0.0.1"), std::string::npos);
    EXPECT_EQ(status.find("s3cret"), std::string::npos);
    EXPECT_EQ(daemon->process().Stderr().find("s3cret"), std::string::npos);
  }

  const std::string remote = "--source=nats://u:s3cret@nats.example.com:4222";
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{RunfilesPath("collector/ziggyd"),
                                 "--log-path=" + TempDir("refused"), remote},
        std::vector<std::string>{
            RunfilesPath("forwarder/ziggy-forwarder"),
            "--spool-path=" + TempDir("refused"),
            "--upstream=nats://u:s3cret@nats.example.com:4222"}}) {
    std::string out, err;
    EXPECT_NE(RunCommand(argv, &out, &err), 0) << argv[0];
    EXPECT_NE(err.find("refusing to send events in plain text to NATS server "
                       "nats://***@nats.example.com:4222"),
              std::string::npos)
        << err;
    EXPECT_EQ(err.find("s3cret"), std::string::npos) << err;
  }
}

// Every fault of the tests above, interleaved at random, in one run.
TEST(NatsPoolTest, EveryFaultInOneRunExactlyOnce) {
  Pool pool;
  ASSERT_TRUE(pool.Start());
  std::mt19937 random(31);
  for (int fault = 0; fault < 9; ++fault) {
    Load load(pool.forwarder().collect(), 200 + fault);
    SendSome(load, random, 300, 2500);
    switch (fault % 3) {
      case 0:
        pool.KillCollector(fault % 2);
        ASSERT_TRUE(pool.StartCollector(fault % 2)) << fault;
        break;
      case 1:
        ASSERT_TRUE(pool.nats().Restart().ok()) << pool.nats().Log();
        break;
      case 2:
        pool.KillForwarder();
        load.Abandon();
        ASSERT_TRUE(pool.StartForwarder()) << fault;
        break;
    }
  }
  ASSERT_TRUE(Drained(pool.forwarder(), absl::Seconds(120)));
  // Every event the spool ever accepted, once.
  const int64_t accepted = Accepted(pool.forwarder());
  const Sequences seen = pool.Settle(accepted);
  ExpectNoDuplicates(seen);
  EXPECT_EQ(static_cast<int64_t>(seen.size()), accepted);
  pool.ExpectBothTookAShare();
}

}  // namespace
}  // namespace ziggy::testing
