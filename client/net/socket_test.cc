#include "client/net/socket.h"

#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "zmq.hpp"

namespace ziggy {
namespace {

TEST(MakeSocketTest, AppliesEveryOption) {
  zmq::context_t context;
  SocketOptions options;
  options.linger_ms = 1234;
  options.send_high_water_mark = 7;
  options.receive_high_water_mark = 9;
  options.max_message_bytes = 4096;
  options.send_timeout_ms = 50;
  options.receive_timeout_ms = 60;
  options.reconnect_interval_ms = 100;
  options.reconnect_interval_max_ms = 2000;
  options.immediate = true;
  zmq::socket_t socket = MakeSocket(context, zmq::socket_type::dealer, options);
  EXPECT_EQ(socket.get(zmq::sockopt::linger), 1234);
  EXPECT_EQ(socket.get(zmq::sockopt::sndhwm), 7);
  EXPECT_EQ(socket.get(zmq::sockopt::rcvhwm), 9);
  EXPECT_EQ(socket.get(zmq::sockopt::maxmsgsize), 4096);
  EXPECT_EQ(socket.get(zmq::sockopt::sndtimeo), 50);
  EXPECT_EQ(socket.get(zmq::sockopt::rcvtimeo), 60);
  EXPECT_EQ(socket.get(zmq::sockopt::reconnect_ivl), 100);
  EXPECT_EQ(socket.get(zmq::sockopt::reconnect_ivl_max), 2000);
  EXPECT_EQ(socket.get(zmq::sockopt::immediate), 1);
  EXPECT_EQ(socket.get(zmq::sockopt::ipv6), 1);
}

TEST(MakeSocketTest, LeavesZeroMqDefaultsAlone) {
  zmq::context_t context;
  zmq::socket_t fresh(context, zmq::socket_type::push);
  zmq::socket_t made = MakeSocket(context, zmq::socket_type::push, {});
  EXPECT_EQ(made.get(zmq::sockopt::linger), 0);  // never hang at exit
  EXPECT_EQ(made.get(zmq::sockopt::sndhwm), fresh.get(zmq::sockopt::sndhwm));
  EXPECT_EQ(made.get(zmq::sockopt::maxmsgsize),
            fresh.get(zmq::sockopt::maxmsgsize));
  EXPECT_EQ(made.get(zmq::sockopt::rcvtimeo),
            fresh.get(zmq::sockopt::rcvtimeo));
  EXPECT_EQ(made.get(zmq::sockopt::immediate), 0);
}

TEST(ConnectSocketTest, ReportsARefusedEndpoint) {
  zmq::context_t context;
  zmq::socket_t socket = MakeSocket(context, zmq::socket_type::push, {});
  EXPECT_TRUE(ConnectSocket(socket, "tcp://127.0.0.1:1").ok());  // lazy
  const absl::Status bad = ConnectSocket(socket, "nonsense");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.message(), "nonsense")) << bad;
}

TEST(BindSocketTest, BindsPortZeroAndSaysWhere) {
  zmq::context_t context;
  zmq::socket_t socket = MakeSocket(context, zmq::socket_type::pull, {});
  std::string endpoint;
  ASSERT_TRUE(BindSocket(socket, "127.0.0.1:0", "collect", &endpoint).ok());
  EXPECT_TRUE(absl::StartsWith(endpoint, "tcp://127.0.0.1:")) << endpoint;
  EXPECT_EQ(socket.get(zmq::sockopt::ipv6), 0);  // IPv4 peers read a.b.c.d

  zmq::socket_t same = MakeSocket(context, zmq::socket_type::pull, {});
  const std::string port = endpoint.substr(endpoint.rfind(':') + 1);
  std::string unused;
  const absl::Status taken =
      BindSocket(same, "127.0.0.1:" + port, "collect", &unused);
  EXPECT_EQ(taken.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(taken.message(), "--collect=127.0.0.1:"))
      << taken;
}

TEST(BindSocketTest, AnIpv6AddressTurnsIpv6On) {
  zmq::context_t context;
  zmq::socket_t socket = MakeSocket(context, zmq::socket_type::pull, {});
  socket.set(zmq::sockopt::ipv6, 0);
  std::string endpoint;
  const absl::Status s = BindSocket(socket, "[::1]:0", "control", &endpoint);
  EXPECT_EQ(socket.get(zmq::sockopt::ipv6), 1);
  if (s.ok()) {
    EXPECT_TRUE(absl::StartsWith(endpoint, "tcp://[::1]:"));
  }
}

TEST(BindSocketTest, NamesTheFlagOfABadAddress) {
  zmq::context_t context;
  zmq::socket_t socket = MakeSocket(context, zmq::socket_type::pull, {});
  std::string endpoint;
  const absl::Status s = BindSocket(socket, "no-port", "stream", &endpoint);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(s.message(), "--stream: ")) << s;
  EXPECT_TRUE(endpoint.empty());
}

CurveKeyPair NewPair() {
  absl::StatusOr<CurveKeyPair> pair = GenerateKeyPair();
  EXPECT_TRUE(pair.ok()) << pair.status();
  return *std::move(pair);
}

// A PULL socket bound to port 0 with `options`, and where it is.
struct BoundPull {
  BoundPull(zmq::context_t& context, const SocketOptions& options)
      : socket(MakeSocket(context, zmq::socket_type::pull, options)) {
    EXPECT_TRUE(BindSocket(socket, "127.0.0.1:0", "collect", &endpoint).ok());
  }
  zmq::socket_t socket;
  std::string endpoint;
};

// Whether `message` pushed by a socket made with `options` reaches `pull`
// within `timeout_ms`.
bool Delivers(zmq::context_t& context, const SocketOptions& options,
              BoundPull& pull, const std::string& message, int timeout_ms) {
  zmq::socket_t push = MakeSocket(context, zmq::socket_type::push, options);
  EXPECT_TRUE(ConnectSocket(push, pull.endpoint).ok());
  EXPECT_TRUE(push.send(zmq::buffer(message), zmq::send_flags::dontwait));
  pull.socket.set(zmq::sockopt::rcvtimeo, timeout_ms);
  zmq::message_t received;
  return pull.socket.recv(received) && received.to_string() == message;
}

TEST(MakeSocketTest, SetsCurveServerAndClientKeys) {
  zmq::context_t context;
  const CurveKeyPair server = NewPair(), client = NewPair();
  SocketOptions options;
  options.curve = CurveSocketOptions::Server(server);
  zmq::socket_t s = MakeSocket(context, zmq::socket_type::pull, options);
  EXPECT_EQ(s.get(zmq::sockopt::mechanism), ZMQ_CURVE);
  EXPECT_EQ(s.get(zmq::sockopt::curve_server), 1);
  EXPECT_EQ(s.get(zmq::sockopt::curve_secretkey), server.secret_z85());

  options.curve = CurveSocketOptions::Client(client, server.public_key());
  zmq::socket_t c = MakeSocket(context, zmq::socket_type::push, options);
  EXPECT_EQ(c.get(zmq::sockopt::mechanism), ZMQ_CURVE);
  EXPECT_EQ(c.get(zmq::sockopt::curve_server), 0);
  EXPECT_EQ(c.get(zmq::sockopt::curve_serverkey), server.public_key().z85());
  EXPECT_EQ(c.get(zmq::sockopt::curve_publickey), client.public_key().z85());
}

// A CurveZMQ PULL server made by MakeSocket, and client options for it.
class CurveServerTest : public ::testing::Test {
 protected:
  static SocketOptions ServerOptions(const CurveKeyPair& pair) {
    SocketOptions options;
    options.curve = CurveSocketOptions::Server(pair);
    return options;
  }
  static SocketOptions ClientOptions(const CurvePublicKey& server_key) {
    SocketOptions options;
    options.curve = CurveSocketOptions::Client(NewPair(), server_key);
    return options;
  }

  zmq::context_t context_;
  const CurveKeyPair server_ = NewPair();
  BoundPull pull_{context_, ServerOptions(server_)};
};

TEST_F(CurveServerTest, ACurveClientWithTheServersKeyTalks) {
  EXPECT_TRUE(Delivers(context_, ClientOptions(server_.public_key()), pull_,
                       "sealed", 10000));
}

TEST_F(CurveServerTest, PlainOrMisledClientsGetNothingThrough) {
  EXPECT_FALSE(Delivers(context_, {}, pull_, "plain", 500));
  EXPECT_FALSE(Delivers(context_, ClientOptions(NewPair().public_key()), pull_,
                        "misled", 500));
  // The server was listening all along: a client with its key gets through.
  EXPECT_TRUE(Delivers(context_, ClientOptions(server_.public_key()), pull_,
                       "sealed", 10000));
}

TEST(LoadCurveClientOptionsTest, BothNeitherOrAOneLineErrorNamingTheFlag) {
  const std::string dir = std::getenv("TEST_TMPDIR");
  const CurveKeyPair server = NewPair(), client = NewPair();
  ASSERT_TRUE(WriteKeyPair(server, dir + "/lcco_server").ok());
  ASSERT_TRUE(WriteKeyPair(client, dir + "/lcco_client").ok());

  absl::StatusOr<absl::optional<CurveSocketOptions>> none =
      LoadCurveClientOptions("", "--server", "", "--mine");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());

  absl::StatusOr<absl::optional<CurveSocketOptions>> both =
      LoadCurveClientOptions(dir + "/lcco_server.pub", "--server",
                             dir + "/lcco_client", "--mine");
  ASSERT_TRUE(both.ok()) << both.status();
  ASSERT_TRUE(both->has_value());
  EXPECT_EQ((*both)->server_key, server.public_key());
  EXPECT_EQ((*both)->own.public_key(), client.public_key());
  EXPECT_EQ((*both)->own.secret_z85(), client.secret_z85());

  absl::StatusOr<absl::optional<CurveSocketOptions>> half =
      LoadCurveClientOptions("", "--server", dir + "/lcco_client", "--mine");
  EXPECT_EQ(half.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(half.status().message(),
            "--server and --mine go together: give both (CurveZMQ) or "
            "neither");

  // The .pub file where the secret key belongs: its mode 0644 is refused,
  // and the message quotes no key.
  absl::StatusOr<absl::optional<CurveSocketOptions>> loose =
      LoadCurveClientOptions(dir + "/lcco_server.pub", "--server",
                             dir + "/lcco_client.pub", "--mine");
  EXPECT_EQ(loose.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StartsWith(loose.status().message(), "--mine: "))
      << loose.status();
  EXPECT_FALSE(
      absl::StrContains(loose.status().message(), client.public_key().z85()));

  absl::StatusOr<absl::optional<CurveSocketOptions>> missing =
      LoadCurveClientOptions(dir + "/nope.pub", "--server",
                             dir + "/lcco_client", "--mine");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StartsWith(missing.status().message(), "--server: "))
      << missing.status();
}

}  // namespace
}  // namespace ziggy
