#include "client/net/socket.h"

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

}  // namespace
}  // namespace ziggy
