// ziggyd and ziggy-forwarder serving CurveZMQ (--curve-key, --curve-allow,
// --curve-admin, --plain-collect, SIGHUP), as real processes with keys
// under TEST_TMPDIR.

#include <signal.h>

#include <cstdio>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/net/curve_key.h"
#include "client/net/socket.h"
#include "client/reader/control.h"
#include "common/relay_protocol.h"
#include "gtest/gtest.h"
#include "tests/process.h"
#include "tests/ziggyd.h"
#include "zmq.hpp"

namespace ziggy::testing {
namespace {

using Sequences = std::multiset<std::pair<int64_t, int64_t>>;

// A key pair written to `path` (and `path`.pub).
CurveKeyPair NewKey(const std::string& path) {
  CurveKeyPair pair = *GenerateKeyPair();
  EXPECT_TRUE(WriteKeyPair(pair, path).ok()) << path;
  return pair;
}

// A daemon's server key, the client keys allowed to reach it (their .pub
// files in allow_dir) and one that is not.
struct Keys {
  Keys()
      : dir(TempDir("keys")),
        allow_dir(TempDir("allow")),
        server(NewKey(dir + "/ziggyd.key")),
        client(NewKey(allow_dir + "/client.key")),
        forwarder(NewKey(allow_dir + "/forwarder.key")),
        stranger(NewKey(dir + "/stranger.key")) {}

  std::vector<std::string> Flags() const {
    return {"--curve-key=" + dir + "/ziggyd.key", "--curve-allow=" + allow_dir};
  }
  std::string dir, allow_dir;
  CurveKeyPair server, client, forwarder, stranger;
};

// A control call as `own`, trusting `server`.
absl::StatusOr<Value> CurveCall(Ziggyd& daemon, absl::string_view command,
                                const CurveKeyPair& own,
                                const CurvePublicKey& server,
                                absl::Duration timeout = absl::Seconds(5),
                                const Value::Map& args = {}) {
  ControlOptions options;
  options.timeout = timeout;
  options.curve = CurveSocketOptions::Client(own, server);
  return CallControl(daemon.control(), command, args, options);
}

// A number in STATUS at a dotted path, asked as `own` (-1 without reply).
double CurveStatus(Ziggyd& daemon, absl::string_view path,
                   const CurveKeyPair& own, const CurvePublicKey& server) {
  absl::StatusOr<Value> status = CurveCall(daemon, "STATUS", own, server);
  if (!status.ok()) return -1;
  const Value* v = status->Find(path);
  if (v == nullptr) return 0;
  return v->kind() == Value::Kind::kInt ? static_cast<double>(v->AsInt())
                                        : v->AsDouble();
}

// A PUSH client of a collect port: CurveZMQ with `curve`, else plain. One
// that is refused should not linger (what it queued never leaves).
class CurveSender {
 public:
  CurveSender(const std::string& collect,
              absl::optional<CurveSocketOptions> curve, int linger_ms) {
    SocketOptions options;
    options.linger_ms = linger_ms;
    options.curve = std::move(curve);
    socket_ = MakeSocket(context_, zmq::socket_type::push, options);
    socket_.connect("tcp://" + collect);
  }
  // Queues events (sender, first..first+count-1); never blocks.
  void SendEvents(int64_t sender, int count, int first = 0) {
    for (int seq = first; seq < first + count; ++seq) {
      (void)socket_.send(zmq::buffer(ForeignEvent("curve", sender, seq)),
                         zmq::send_flags::dontwait);
    }
  }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
};

// Whether a plain REQ gets any reply from `control` within a second.
bool PlainControlAnswers(const std::string& control) {
  zmq::context_t context;
  zmq::socket_t req(context, zmq::socket_type::req);
  req.set(zmq::sockopt::rcvtimeo, 1000);
  req.set(zmq::sockopt::linger, 0);
  req.connect("tcp://" + control);
  req.send(
      zmq::buffer(EncodeDocument(Value(Value::Map{{"command", "STATUS"}}))));
  zmq::message_t reply;
  return req.recv(reply).has_value();
}

// No key of `keys` (public or secret) appears in `log`.
void ExpectNoKeys(const std::string& log,
                  const std::vector<const CurveKeyPair*>& keys) {
  for (const CurveKeyPair* key : keys) {
    EXPECT_EQ(log.find(key->public_key().z85()), std::string::npos);
    EXPECT_EQ(log.find(key->secret_z85()), std::string::npos);
  }
}

// The {error} text of a refused control call ("" when it was not refused).
std::string Refusal(const absl::StatusOr<Value>& reply) {
  if (reply.ok() ||
      reply.status().code() != absl::StatusCode::kFailedPrecondition) {
    return "";
  }
  const std::string message(reply.status().message());  // "host:port: text"
  const size_t text = message.find(": ");
  return text == std::string::npos ? message : message.substr(text + 2);
}

// Waits until STATUS (asked as `own`) has `path` >= `want`.
bool WaitStatus(Ziggyd& daemon, absl::string_view path, double want,
                const CurveKeyPair& own, const CurvePublicKey& server) {
  return WaitFor(
      [&] { return CurveStatus(daemon, path, own, server) >= want; });
}

// A collector on `relay` again (the port may linger a moment after a stop).
std::unique_ptr<Ziggyd> RestartOn(const std::string& logs,
                                  const std::string& relay,
                                  std::vector<std::string> flags) {
  flags.push_back("--relay=" + relay);
  std::unique_ptr<Ziggyd> collector;
  WaitFor([&] {
    collector = Ziggyd::Start(logs, flags);
    return collector != nullptr;
  });
  return collector;
}

// SIGTERM, and the daemon's clean exit.
void Stop(Ziggyd& daemon) {
  daemon.process().Signal(SIGTERM);
  EXPECT_EQ(daemon.process().Wait(), 0);
}

// A number in a CurveZMQ forwarder's STATUS, asked as `own`.
int64_t SpoolCount(Ziggyd& forwarder, absl::string_view path,
                   const CurveKeyPair& own, const CurvePublicKey& server) {
  return static_cast<int64_t>(CurveStatus(forwarder, path, own, server));
}

// Every (sender, seq) from `first` to `first + count - 1` of `sender`.
Sequences Expected(int64_t sender, int count) {
  Sequences all;
  for (int seq = 0; seq < count; ++seq) all.insert({sender, seq});
  return all;
}

TEST(CurveTest, OnlyAllowedKeysStoreEvents) {
  const Keys keys;
  const CurvePublicKey& server = keys.server.public_key();
  auto ziggyd = Ziggyd::Start(TempDir("logs"), keys.Flags());
  ASSERT_NE(ziggyd, nullptr);
  CurveSender plain(ziggyd->collect(), absl::nullopt, 0);
  plain.SendEvents(1, 5);
  CurveSender stranger(ziggyd->collect(),
                       CurveSocketOptions::Client(keys.stranger, server), 0);
  stranger.SendEvents(2, 5);
  EXPECT_TRUE(WaitStatus(*ziggyd, "auth.refused", 1, keys.client, server));
  // The plain client never reaches ZAP: its handshake fails first.
  EXPECT_TRUE(
      WaitStatus(*ziggyd, "auth.failed_handshakes", 1, keys.client, server));
  ASSERT_TRUE(CurveCall(*ziggyd, "FLUSH", keys.client, server).ok());
  EXPECT_TRUE(ReadSequences(ziggyd->log_path()).empty());
  EXPECT_EQ(CurveStatus(*ziggyd, "received", keys.client, server), 0);

  CurveSender allowed(ziggyd->collect(),
                      CurveSocketOptions::Client(keys.client, server), 5000);
  allowed.SendEvents(3, 50);
  EXPECT_TRUE(WaitFor([&] {
    return CurveStatus(*ziggyd, "written", keys.client, server) >= 50;
  }));
  ASSERT_TRUE(CurveCall(*ziggyd, "FLUSH", keys.client, server).ok());
  EXPECT_EQ(ReadSequences(ziggyd->log_path()), Expected(3, 50));
  EXPECT_GE(CurveStatus(*ziggyd, "auth.accepted", keys.client, server), 2);
  EXPECT_GE(CurveStatus(*ziggyd, "auth.refused", keys.client, server), 1);
  const std::string log = ziggyd->process().Stderr();
  EXPECT_NE(log.find("refused a client from"), std::string::npos);
  EXPECT_NE(log.find("a handshake on the collect port failed"),
            std::string::npos);
  EXPECT_EQ(log.find(keys.server.secret_z85()), std::string::npos);
  ExpectNoKeys(log, {&keys.stranger, &keys.client});
}

TEST(CurveTest, ControlPortAnswersOnlyCurveClients) {
  const Keys keys;
  const CurvePublicKey& server = keys.server.public_key();
  auto ziggyd = Ziggyd::Start(TempDir("logs"), keys.Flags());
  ASSERT_NE(ziggyd, nullptr);
  EXPECT_FALSE(PlainControlAnswers(ziggyd->control()));
  absl::StatusOr<Value> status =
      CurveCall(*ziggyd, "STATUS", keys.client, server);
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_NE(status->Find("daemon"), nullptr);
  EXPECT_EQ(status->Find("daemon")->AsString(), "ziggyd");
  EXPECT_FALSE(
      CurveCall(*ziggyd, "STATUS", keys.stranger, server, absl::Seconds(1))
          .ok());
}

// A stream subscriber (every type): CurveZMQ with `curve`, else plain.
zmq::socket_t Subscriber(zmq::context_t& context, const std::string& stream,
                         absl::optional<CurveSocketOptions> curve) {
  SocketOptions options;
  options.linger_ms = 0;
  options.curve = std::move(curve);
  zmq::socket_t sub = MakeSocket(context, zmq::socket_type::sub, options);
  sub.set(zmq::sockopt::subscribe, "");
  sub.connect("tcp://" + stream);
  return sub;
}

// Stream messages waiting on `sub` now.
int Drain(zmq::socket_t& sub) {
  int frames = 0;
  zmq::message_t frame;
  while (sub.recv(frame, zmq::recv_flags::dontwait)) frames += !frame.more();
  return frames;
}

// The live stream reaches allowed keys only: a subscriber with an unknown
// key or none gets nothing of what the allowed one gets.
TEST(CurveTest, StreamAnswersOnlyAllowedKeys) {
  const Keys keys;
  const CurvePublicKey& server = keys.server.public_key();
  auto ziggyd = Ziggyd::Start(TempDir("logs"), keys.Flags());
  ASSERT_NE(ziggyd, nullptr);
  zmq::context_t context;
  zmq::socket_t allowed =
      Subscriber(context, ziggyd->stream(),
                 CurveSocketOptions::Client(keys.client, server));
  zmq::socket_t stranger =
      Subscriber(context, ziggyd->stream(),
                 CurveSocketOptions::Client(keys.stranger, server));
  zmq::socket_t plain = Subscriber(context, ziggyd->stream(), absl::nullopt);
  ASSERT_TRUE(
      WaitStatus(*ziggyd, "stream_subscribers", 1, keys.client, server));
  ASSERT_TRUE(WaitStatus(*ziggyd, "auth.refused", 1, keys.client, server));
  ASSERT_TRUE(
      WaitStatus(*ziggyd, "auth.failed_handshakes", 1, keys.client, server));

  CurveSender sender(ziggyd->collect(),
                     CurveSocketOptions::Client(keys.client, server), -1);
  sender.SendEvents(5, 50);
  int received = 0;
  EXPECT_TRUE(WaitFor([&] { return (received += Drain(allowed)) >= 50; }));
  EXPECT_EQ(received, 50);
  EXPECT_EQ(Drain(stranger), 0);
  EXPECT_EQ(Drain(plain), 0);
  EXPECT_EQ(CurveStatus(*ziggyd, "stream_subscribers", keys.client, server), 1);
}

TEST(CurveTest, PlainCollectTakesSeedClients) {
  const Keys keys;
  const CurvePublicKey& server = keys.server.public_key();
  std::vector<std::string> flags = keys.Flags();
  flags.push_back("--plain-collect");
  auto ziggyd = Ziggyd::Start(TempDir("logs"), flags);
  ASSERT_NE(ziggyd, nullptr);
  EXPECT_NE(ziggyd->process().Stderr().find("--plain-collect"),
            std::string::npos);
  Sender plain(ziggyd->collect());
  for (int seq = 0; seq < 20; ++seq) plain.Send(ForeignEvent("seed", 4, seq));
  EXPECT_TRUE(WaitFor([&] {
    return CurveStatus(*ziggyd, "written", keys.client, server) >= 20;
  }));
  ASSERT_TRUE(CurveCall(*ziggyd, "FLUSH", keys.client, server).ok());
  EXPECT_EQ(ReadSequences(ziggyd->log_path()), Expected(4, 20));
  EXPECT_FALSE(PlainControlAnswers(ziggyd->control()));
}

TEST(CurveTest, ForwarderRelaysToCurveZiggydExactlyOnce) {
  const Keys keys;
  const CurvePublicKey& server = keys.server.public_key();
  auto ziggyd = Ziggyd::Start(TempDir("logs"), keys.Flags());
  ASSERT_NE(ziggyd, nullptr);
  auto forwarder = Ziggyd::StartForwarder(
      TempDir("spool"), ziggyd->relay(),
      {"--curve-key=" + keys.allow_dir + "/forwarder.key",
       "--upstream-server-key=" + keys.dir + "/ziggyd.key.pub"});
  ASSERT_NE(forwarder, nullptr);
  const CurvePublicKey& forwarder_key = keys.forwarder.public_key();
  EXPECT_FALSE(PlainControlAnswers(forwarder->control()));
  CurveSender sender(forwarder->collect(),
                     CurveSocketOptions::Client(keys.client, forwarder_key),
                     5000);
  sender.SendEvents(5, 300);
  EXPECT_TRUE(WaitFor([&] {
    return CurveStatus(*ziggyd, "written", keys.client, server) >= 300;
  }));
  ASSERT_TRUE(CurveCall(*ziggyd, "FLUSH", keys.client, server).ok());
  EXPECT_EQ(ReadSequences(ziggyd->log_path()), Expected(5, 300));
  EXPECT_GE(
      CurveStatus(*forwarder, "auth.accepted", keys.client, forwarder_key), 1);
}

// A plain-text client fails the handshake before ZAP is asked, on every
// CurveZMQ port (the relay port too): each is counted in STATUS
// auth.failed_handshakes (not as a key refused) and logged naming the port.
TEST(CurveTest, EveryPortCountsPlainClientsAsFailedHandshakes) {
  const Keys keys;
  auto ziggyd = Ziggyd::Start(TempDir("logs"), keys.Flags());
  ASSERT_NE(ziggyd, nullptr);
  zmq::context_t context;
  std::vector<zmq::socket_t> plain;
  const std::pair<zmq::socket_type, std::string> peers[] = {
      {zmq::socket_type::req, ziggyd->control()},
      {zmq::socket_type::sub, ziggyd->stream()},
      {zmq::socket_type::dealer, ziggyd->relay()}};
  for (const auto& [type, address] : peers) {
    plain.emplace_back(context, type);
    plain.back().set(zmq::sockopt::linger, 0);
    plain.back().connect("tcp://" + address);
  }
  for (const char* port : {"control", "stream", "relay"}) {
    EXPECT_TRUE(WaitFor([&] {
      return ziggyd->process().Stderr().find(
                 absl::StrCat("a handshake on the ", port, " port failed")) !=
             std::string::npos;
    })) << port;
  }
  const CurvePublicKey& server = keys.server.public_key();
  EXPECT_GE(CurveStatus(*ziggyd, "auth.failed_handshakes", keys.client, server),
            3);
  EXPECT_EQ(CurveStatus(*ziggyd, "auth.refused", keys.client, server), 0);
  ExpectNoKeys(ziggyd->process().Stderr(), {&keys.client});
}

// SIGHUP re-reads --curve-allow: a key added after start is refused until
// then and stores events after; a directory gone keeps the lists as they
// were.
TEST(CurveTest, SighupReloadsTheAllowList) {
  const Keys keys;
  const CurvePublicKey& server = keys.server.public_key();
  auto ziggyd = Ziggyd::Start(TempDir("logs"), keys.Flags());
  ASSERT_NE(ziggyd, nullptr);
  const CurveKeyPair late = NewKey(keys.allow_dir + "/late.key");
  {
    CurveSender early(ziggyd->collect(),
                      CurveSocketOptions::Client(late, server), 0);
    early.SendEvents(6, 5);
    EXPECT_TRUE(WaitStatus(*ziggyd, "auth.refused", 1, keys.client, server));
  }
  ASSERT_TRUE(CurveCall(*ziggyd, "FLUSH", keys.client, server).ok());
  EXPECT_TRUE(ReadSequences(ziggyd->log_path()).empty());
  ziggyd->process().Signal(SIGHUP);
  EXPECT_TRUE(WaitStatus(*ziggyd, "auth.reloads", 1, keys.client, server));
  CurveSender sender(ziggyd->collect(),
                     CurveSocketOptions::Client(late, server), 5000);
  sender.SendEvents(7, 50);
  EXPECT_TRUE(WaitStatus(*ziggyd, "written", 50, keys.client, server));
  ASSERT_TRUE(CurveCall(*ziggyd, "FLUSH", keys.client, server).ok());
  EXPECT_EQ(ReadSequences(ziggyd->log_path()), Expected(7, 50));

  ASSERT_EQ(
      std::rename(keys.allow_dir.c_str(), (keys.allow_dir + ".gone").c_str()),
      0);
  ziggyd->process().Signal(SIGHUP);
  EXPECT_TRUE(
      WaitStatus(*ziggyd, "auth.reload_failures", 1, keys.client, server));
  EXPECT_TRUE(CurveCall(*ziggyd, "STATUS", late, server).ok());
  const std::string log = ziggyd->process().Stderr();
  EXPECT_NE(log.find("CurveZMQ keys reloaded: 3 client keys may connect"),
            std::string::npos);
  EXPECT_NE(log.find("the key lists stay as they were"), std::string::npos);
  ExpectNoKeys(log, {&keys.client, &late});
}

// With --curve-admin, an allowed key reads STATUS but may not SHUTDOWN or
// FLUSH; an admin key (not in --curve-allow) may.
TEST(CurveTest, OnlyAdminKeysChangeState) {
  const Keys keys;
  const CurvePublicKey& server = keys.server.public_key();
  const std::string admin_dir = TempDir("admin");
  const CurveKeyPair admin = NewKey(admin_dir + "/admin.key");
  std::vector<std::string> flags = keys.Flags();
  flags.push_back("--curve-admin=" + admin_dir);
  auto ziggyd = Ziggyd::Start(TempDir("logs"), flags);
  ASSERT_NE(ziggyd, nullptr);
  EXPECT_TRUE(CurveCall(*ziggyd, "STATUS", keys.client, server).ok());
  EXPECT_TRUE(CurveCall(*ziggyd, "SOCK_STREAM", keys.client, server).ok());
  EXPECT_EQ(Refusal(CurveCall(*ziggyd, "SHUTDOWN", keys.client, server)),
            "SHUTDOWN needs an admin key (--curve-admin)");
  EXPECT_EQ(Refusal(CurveCall(*ziggyd, "FLUSH", keys.client, server)),
            "FLUSH needs an admin key (--curve-admin)");
  EXPECT_EQ(CurveStatus(*ziggyd, "auth.refused_admin", keys.client, server), 2);
  EXPECT_TRUE(ziggyd->process().running());
  EXPECT_TRUE(CurveCall(*ziggyd, "FLUSH", admin, server).ok());
  EXPECT_TRUE(CurveCall(*ziggyd, "SHUTDOWN", admin, server).ok());
  EXPECT_EQ(ziggyd->process().Wait(), 0);
  ExpectNoKeys(ziggyd->process().Stderr(), {&keys.client, &admin});
}

// The forwarder's upstream change is an admin command; reading it is not.
TEST(CurveTest, ForwarderUpstreamSetNeedsAnAdminKey) {
  const Keys keys;
  const std::string admin_dir = TempDir("admin");
  const CurveKeyPair admin = NewKey(admin_dir + "/admin.key");
  auto forwarder = Ziggyd::StartForwarder(
      TempDir("spool"), absl::StrCat("127.0.0.1:", UnusedPort()),
      {"--curve-key=" + keys.allow_dir + "/forwarder.key",
       "--curve-allow=" + keys.allow_dir, "--curve-admin=" + admin_dir});
  ASSERT_NE(forwarder, nullptr);
  const CurvePublicKey& server = keys.forwarder.public_key();
  const Value::Map args{{"upstreams", "127.0.0.1:1"}};
  EXPECT_EQ(Refusal(CurveCall(*forwarder, "UPSTREAM_SET", keys.client, server,
                              absl::Seconds(5), args)),
            "UPSTREAM_SET needs an admin key (--curve-admin)");
  EXPECT_TRUE(CurveCall(*forwarder, "UPSTREAM_SET", admin, server,
                        absl::Seconds(5), args)
                  .ok());
  absl::StatusOr<Value> upstream =
      CurveCall(*forwarder, "UPSTREAM", keys.client, server);
  ASSERT_TRUE(upstream.ok()) << upstream.status();
  EXPECT_EQ(upstream->Find("upstreams")->AsString(), "127.0.0.1:1");
}

// A peer with an allowed key B forges a batch for the id of a forwarder
// that relays with key A, even with that forwarder's own token: refused
// ({error, reason: "token"}), also after the collector restarts, and the
// forwarder's events all land exactly once.
TEST(CurveTest, ForgedBatchFromAnotherKeyIsRefused) {
  const Keys keys;
  const CurvePublicKey& server = keys.server.public_key();
  const CurveKeyPair forger = NewKey(keys.allow_dir + "/forger.key");
  const std::string logs = TempDir("logs"), spool = TempDir("spool");
  auto ziggyd = Ziggyd::Start(logs, keys.Flags());
  ASSERT_NE(ziggyd, nullptr);
  const std::string relay = ziggyd->relay();
  auto forwarder = Ziggyd::StartForwarder(
      spool, relay,
      {"--curve-key=" + keys.allow_dir + "/forwarder.key",
       "--upstream-server-key=" + keys.dir + "/ziggyd.key.pub",
       "--ack-timeout=1"});
  ASSERT_NE(forwarder, nullptr);
  const CurvePublicKey& forwarder_key = keys.forwarder.public_key();
  CurveSender sender(forwarder->collect(),
                     CurveSocketOptions::Client(keys.client, forwarder_key),
                     5000);
  sender.SendEvents(8, 10);
  ASSERT_TRUE(WaitStatus(*ziggyd, "written", 10, keys.client, server));

  RelayHeader forged;
  absl::StatusOr<Value> status =
      CurveCall(*forwarder, "STATUS", keys.client, forwarder_key);
  ASSERT_TRUE(status.ok()) << status.status();
  forged.forwarder = status->Find("spool.id")->AsString();
  forged.token = ReadFileOrEmpty(spool + "/token");
  forged.first = forged.acked = int64_t{1} << 62;
  forged.end = forged.first + 1;
  forged.count = 1;
  const std::string event = ForeignEvent("forged", 666, 0);
  forged.size = static_cast<int64_t>(event.size());
  RelayPeer peer(relay, CurveSocketOptions::Client(forger, server));
  peer.Send(forged, event);
  Value refusal = peer.Reply();
  ASSERT_NE(refusal.Get("reason"), nullptr) << refusal.DebugString();
  EXPECT_EQ(refusal.Get("reason")->AsString(), kRefusedToken);
  EXPECT_EQ(CurveStatus(*ziggyd, "relay.refused_token", keys.client, server),
            1);
  sender.SendEvents(8, 50, 10);
  ASSERT_TRUE(WaitStatus(*ziggyd, "written", 60, keys.client, server));

  Stop(*ziggyd);
  const std::string first_log = ziggyd->process().Stderr();
  ziggyd = RestartOn(logs, relay, keys.Flags());
  ASSERT_NE(ziggyd, nullptr);
  peer.Send(forged, event);  // the binding survived the restart
  refusal = peer.Reply();
  ASSERT_NE(refusal.Get("reason"), nullptr) << refusal.DebugString();
  EXPECT_EQ(refusal.Get("reason")->AsString(), kRefusedToken);
  sender.SendEvents(8, 10, 60);
  ASSERT_TRUE(WaitFor([&] {
    return SpoolCount(*forwarder, "spool.spooled", keys.client,
                      forwarder_key) == 70 &&
           SpoolCount(*forwarder, "spool.pending", keys.client,
                      forwarder_key) == 0;
  }));
  ASSERT_TRUE(CurveCall(*ziggyd, "FLUSH", keys.client, server).ok());
  EXPECT_EQ(ReadSequences(logs), Expected(8, 70));  // nothing of 666
  ExpectNoKeys(first_log + ziggyd->process().Stderr(),
               {&keys.client, &keys.forwarder, &forger});
}

// A forwarder that relayed in plain text turns CurveZMQ on and keeps its id
// and position (its token moves the binding to its key); with another key
// it is refused until it takes a new id (RELAY.md's way out), and then its
// spool arrives whole: every event exactly once.
TEST(CurveTest, ForwarderTurningCurveOnKeepsItsIdANewKeyNeedsANewId) {
  const Keys keys;
  const CurvePublicKey& server = keys.server.public_key();
  const CurveKeyPair rotated = NewKey(keys.allow_dir + "/rotated.key");
  const std::string logs = TempDir("logs"), spool = TempDir("spool");
  auto ziggyd = Ziggyd::Start(logs);
  ASSERT_NE(ziggyd, nullptr);
  const std::string relay = ziggyd->relay();
  auto forwarder = Ziggyd::StartForwarder(spool, relay, {"--ack-timeout=1"});
  ASSERT_NE(forwarder, nullptr);
  Sender plain(forwarder->collect());
  for (int seq = 0; seq < 10; ++seq) plain.Send(ForeignEvent("curve", 9, seq));
  ASSERT_TRUE(ziggyd->WaitWritten(10));
  Stop(*forwarder);
  Stop(*ziggyd);

  ziggyd = RestartOn(logs, relay, keys.Flags());
  ASSERT_NE(ziggyd, nullptr);
  // Relays with `key` (a file in allow_dir), gets 10 events from seq `first`
  // and spools them.
  auto relay_with = [&](const std::string& key, const CurveKeyPair& pair,
                        int first) {
    forwarder = Ziggyd::StartForwarder(
        spool, relay,
        {"--curve-key=" + keys.allow_dir + "/" + key,
         "--upstream-server-key=" + keys.dir + "/ziggyd.key.pub",
         "--ack-timeout=1"});
    ASSERT_NE(forwarder, nullptr);
    CurveSender sender(
        forwarder->collect(),
        CurveSocketOptions::Client(keys.client, pair.public_key()), 5000);
    sender.SendEvents(9, 10, first);
    ASSERT_TRUE(WaitFor([&] {
      return SpoolCount(*forwarder, "spool.spooled", keys.client,
                        pair.public_key()) == first + 10;
    }));
  };
  relay_with("forwarder.key", keys.forwarder, 10);
  EXPECT_TRUE(WaitStatus(*ziggyd, "written", 10, keys.client, server));
  EXPECT_NE(ziggyd->process().Stderr().find("relays over CurveZMQ now"),
            std::string::npos);
  Stop(*forwarder);

  relay_with("rotated.key", rotated, 20);
  EXPECT_TRUE(
      WaitStatus(*ziggyd, "relay.refused_token", 1, keys.client, server));
  Stop(*forwarder);
  ASSERT_EQ(std::remove((spool + "/id").c_str()), 0);
  ASSERT_EQ(std::remove((spool + "/token").c_str()), 0);
  relay_with("rotated.key", rotated, 30);
  EXPECT_TRUE(WaitFor([&] {
    return SpoolCount(*forwarder, "spool.pending", keys.client,
                      rotated.public_key()) == 0;
  }));
  ASSERT_TRUE(CurveCall(*ziggyd, "FLUSH", keys.client, server).ok());
  EXPECT_EQ(ReadSequences(logs), Expected(9, 40));
}

}  // namespace
}  // namespace ziggy::testing
