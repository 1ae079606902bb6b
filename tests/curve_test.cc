// ziggyd and ziggy-forwarder serving CurveZMQ (--curve-key, --curve-allow,
// --plain-collect), as real processes with keys under TEST_TMPDIR.

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/net/curve_key.h"
#include "client/net/socket.h"
#include "client/reader/control.h"
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
                                absl::Duration timeout = absl::Seconds(5)) {
  ControlOptions options;
  options.timeout = timeout;
  options.curve = CurveSocketOptions::Client(own, server);
  return CallControl(daemon.control(), command, {}, options);
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
  // Queues events (sender, 0..count-1); never blocks.
  void SendEvents(int64_t sender, int count) {
    for (int seq = 0; seq < count; ++seq) {
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
  EXPECT_TRUE(WaitFor([&] {
    return CurveStatus(*ziggyd, "auth.refused", keys.client, server) >= 1;
  }));
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
  EXPECT_EQ(log.find(keys.stranger.public_key().z85()), std::string::npos);
  EXPECT_EQ(log.find(keys.server.secret_z85()), std::string::npos);
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

}  // namespace
}  // namespace ziggy::testing
