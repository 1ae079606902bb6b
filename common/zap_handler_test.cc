#include "common/zap_handler.h"

#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "absl/time/clock.h"
#include "client/net/socket.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

// A CURVE server PULL socket in `context`, bound to a free loopback port.
struct Server {
  Server(zmq::context_t& context, const CurveKeyPair& key) {
    SocketOptions options;
    options.curve = CurveSocketOptions::Server(key);
    options.receive_timeout_ms = 200;
    socket = MakeSocket(context, zmq::socket_type::pull, options);
    socket.bind("tcp://127.0.0.1:*");
    endpoint = socket.get(zmq::sockopt::last_endpoint);
  }
  zmq::socket_t socket;
  std::string endpoint;
};

// Whether a PUSH client with `own` key, trusting `server`, gets "hello"
// through to `server` within the deadline (it is resent until then).
bool Delivers(Server& server, const CurveKeyPair& own,
              const CurvePublicKey& server_key, absl::Duration deadline) {
  zmq::context_t context;
  SocketOptions options;
  options.curve = CurveSocketOptions::Client(own, server_key);
  options.send_timeout_ms = 100;
  zmq::socket_t client = MakeSocket(context, zmq::socket_type::push, options);
  client.connect(server.endpoint);
  const absl::Time end = absl::Now() + deadline;
  zmq::message_t message;
  while (absl::Now() < end) {
    (void)client.send(zmq::str_buffer("hello"), zmq::send_flags::dontwait);
    if (server.socket.recv(message)) return message.to_string() == "hello";
  }
  return false;
}

// Waits until `value()` reaches `want` (5 s at most).
template <typename F>
bool Reaches(F value, uint64_t want) {
  const absl::Time end = absl::Now() + absl::Seconds(5);
  while (value() < want && absl::Now() < end)
    absl::SleepFor(absl::Milliseconds(5));
  return value() >= want;
}

TEST(ZapHandlerTest, AcceptsOnlyListedKeys) {
  const CurveKeyPair server_key = *GenerateKeyPair();
  const CurveKeyPair allowed = *GenerateKeyPair();
  const CurveKeyPair stranger = *GenerateKeyPair();
  zmq::context_t context;
  absl::StatusOr<std::unique_ptr<ZapHandler>> zap = ZapHandler::Start(
      context, std::vector<CurvePublicKey>{allowed.public_key()});
  ASSERT_TRUE(zap.ok()) << zap.status();
  {
    Server server(context, server_key);
    EXPECT_FALSE(
        Delivers(server, stranger, server_key.public_key(), absl::Seconds(1)));
    EXPECT_TRUE(Reaches([&] { return (*zap)->refused(); }, 1));
    EXPECT_EQ((*zap)->accepted(), 0u);
    EXPECT_TRUE(
        Delivers(server, allowed, server_key.public_key(), absl::Seconds(10)));
    EXPECT_EQ((*zap)->accepted(), 1u);
  }
  zap->reset();
}

TEST(ZapHandlerTest, WithoutAllowListAcceptsEveryCurveClient) {
  const CurveKeyPair server_key = *GenerateKeyPair();
  zmq::context_t context;
  absl::StatusOr<std::unique_ptr<ZapHandler>> zap =
      ZapHandler::Start(context, absl::nullopt);
  ASSERT_TRUE(zap.ok()) << zap.status();
  {
    Server server(context, server_key);
    EXPECT_TRUE(Delivers(server, *GenerateKeyPair(), server_key.public_key(),
                         absl::Seconds(10)));
    EXPECT_EQ((*zap)->accepted(), 1u);
    EXPECT_EQ((*zap)->refused(), 0u);
  }
  zap->reset();
}

TEST(ZapHandlerTest, OneHandlerPerContext) {
  zmq::context_t context;
  absl::StatusOr<std::unique_ptr<ZapHandler>> first =
      ZapHandler::Start(context, absl::nullopt);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(ZapHandler::Start(context, absl::nullopt).status().code(),
            absl::StatusCode::kUnavailable);
  first->reset();
}

TEST(LoadCurveServerOptionsTest, FlagsNeedTheKey) {
  absl::StatusOr<absl::optional<CurveServerOptions>> none =
      LoadCurveServerOptions("", "", false);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(LoadCurveServerOptions("", "/tmp", false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadCurveServerOptions("", "", true).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LoadCurveServerOptionsTest, LoadsKeyAndAllowList) {
  const std::string dir = std::string(getenv("TEST_TMPDIR")) + "/load";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  const std::string allow = dir + "/allow";
  ASSERT_EQ(mkdir(allow.c_str(), 0755), 0);
  const CurveKeyPair server = *GenerateKeyPair();
  const CurveKeyPair client = *GenerateKeyPair();
  ASSERT_TRUE(WriteKeyPair(server, dir + "/server.key").ok());
  ASSERT_TRUE(WriteKeyPair(client, allow + "/client.key").ok());
  absl::StatusOr<absl::optional<CurveServerOptions>> loaded =
      LoadCurveServerOptions(dir + "/server.key", allow, true);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->key.public_key(), server.public_key());
  ASSERT_TRUE((*loaded)->allowed.has_value());
  ASSERT_EQ((*loaded)->allowed->size(), 1u);  // client.key is not *.pub
  EXPECT_EQ((*loaded)->allowed->front(), client.public_key());
  EXPECT_TRUE((*loaded)->plain_collect);
  absl::Status missing =
      LoadCurveServerOptions(dir + "/absent.key", "", false).status();
  EXPECT_FALSE(missing.ok());
  EXPECT_EQ(std::string(missing.message()).rfind("--curve-key", 0), 0u);
}

}  // namespace
}  // namespace ziggy
