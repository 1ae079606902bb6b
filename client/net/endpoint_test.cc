#include "client/net/endpoint.h"

#include "gtest/gtest.h"

namespace ziggy {
namespace {

TEST(EndpointTest, HostPortFormsBecomeTcpEndpoints) {
  EXPECT_EQ(*TcpEndpoint("127.0.0.1:3514"), "tcp://127.0.0.1:3514");
  EXPECT_EQ(*TcpEndpoint("logs.example.com:3515"),
            "tcp://logs.example.com:3515");
  EXPECT_EQ(*TcpEndpoint("*:3514"), "tcp://*:3514");
  EXPECT_EQ(*TcpEndpoint("*:0"), "tcp://*:*");  // any free port
  EXPECT_EQ(*TcpEndpoint("[::1]:3514"), "tcp://[::1]:3514");
  EXPECT_EQ(*TcpEndpoint("::1:3514"), "tcp://[::1]:3514");
  EXPECT_EQ(*TcpEndpoint("fe80::1:0"), "tcp://[fe80::1]:*");
  EXPECT_EQ(*TcpEndpoint("127.0.0.1", 0), "tcp://127.0.0.1:*");
}

TEST(EndpointTest, BadFormsNameTheProblem) {
  for (const char* bad : {"", "3514", ":3514", "host:", "host:port", "host:-1",
                          "host:65536", "host:35 14"}) {
    const absl::StatusOr<std::string> endpoint = TcpEndpoint(bad);
    ASSERT_FALSE(endpoint.ok()) << bad;
    EXPECT_EQ(endpoint.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(endpoint.status().message().find(bad), absl::string_view::npos)
        << endpoint.status();
  }
  EXPECT_FALSE(TcpEndpoint("", 1).ok());
  EXPECT_FALSE(TcpEndpoint("host", 70000).ok());
}

TEST(EndpointTest, PortOfABoundEndpoint) {
  EXPECT_EQ(EndpointPort("tcp://127.0.0.1:41234"), 41234);
  EXPECT_EQ(EndpointPort("tcp://[::1]:41234"), 41234);
  EXPECT_EQ(EndpointPort("tcp://0.0.0.0:1"), 1);
  EXPECT_EQ(EndpointPort(""), -1);
  EXPECT_EQ(EndpointPort("tcp://host"), -1);
  EXPECT_EQ(EndpointPort("tcp://host:*"), -1);
}

}  // namespace
}  // namespace ziggy
