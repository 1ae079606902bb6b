#include "common/exposure.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// The daemons' defaults: everything on loopback, the stream following
// control.
PortAddresses Loopback() {
  return {"127.0.0.1:3513", "127.0.0.1:3514", "", "127.0.0.1:3515", ""};
}

PortAddresses WithControl(const std::string& control) {
  PortAddresses ports = Loopback();
  ports.control = control;
  return ports;
}

// The one-line refusal for `ports` without keys or --insecure ("" if none).
std::string Refusal(const PortAddresses& ports) {
  const absl::StatusOr<std::vector<std::string>> checked =
      CheckExposure(ports, {});
  if (checked.ok()) return "";
  EXPECT_EQ(checked.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(checked.status().message());
}

TEST(IsLoopbackHostTest, TheWhole127Range) {
  for (const char* host : {"127.0.0.1", "127.0.0.2", "127.1.2.3",
                           "127.255.255.255", "127.0.0.0"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"126.255.255.255", "128.0.0.1", "10.0.0.1",
                           "192.168.1.1", "1.127.0.0", "0.0.0.0"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

TEST(IsLoopbackHostTest, Ipv6LoopbackWithOrWithoutBrackets) {
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("0:0:0:0:0:0:0:1"));
  EXPECT_TRUE(IsLoopbackHost("::ffff:127.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_FALSE(IsLoopbackHost("::2"));
  EXPECT_FALSE(IsLoopbackHost("fe80::1"));
  EXPECT_FALSE(IsLoopbackHost("::ffff:10.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("::1%lo"));  // a zone: not a plain address
}

TEST(IsLoopbackHostTest, LocalhostOnlyAmongNames) {
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_TRUE(IsLoopbackHost("LocalHost"));
  for (const char* host :
       {"*", "", "lo", "eth0", "localhost.example.com", "example.com", "127.1",
        "127.0.0.1.", " 127.0.0.1", "0x7f.0.0.1"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

TEST(CheckExposureTest, LoopbackPortsNeedNothing) {
  for (const char* control : {"127.0.0.1:3513", "127.0.0.2:0", "localhost:3513",
                              "[::1]:3513", "::1:3513"}) {
    const auto checked = CheckExposure(WithControl(control), {});
    ASSERT_TRUE(checked.ok()) << control << ": " << checked.status();
    EXPECT_THAT(*checked, IsEmpty()) << control;
  }
}

TEST(CheckExposureTest, ControlOffLoopbackIsRefusedNamingInsecure) {
  for (const char* control :
       {"*:3513", "0.0.0.0:3513", "[::]:3513", ":::3513", "10.1.2.3:3513",
        "eth0:3513", "logs.example.com:3513", "[fe80::1]:0"}) {
    const std::string refusal = Refusal(WithControl(control));
    EXPECT_THAT(refusal,
                AllOf(HasSubstr(std::string("--control=") + control +
                                " is not a loopback address"),
                      HasSubstr("--curve-key"), HasSubstr("--insecure"),
                      HasSubstr("SHUTDOWN"), HasSubstr("Securing Ziggy")))
        << control;
    EXPECT_EQ(refusal.find('\n'), std::string::npos);
  }
}

TEST(CheckExposureTest, TheExactRefusal) {
  EXPECT_EQ(
      Refusal(WithControl("*:3513")),
      "--control=*:3513 is not a loopback address; without --curve-key "
      "anyone who reaches it can send this daemon SHUTDOWN and every other "
      "control command or read its live stream. Add --curve-key (see "
      "\"Securing Ziggy\" in README.md) or --insecure");
}

TEST(CheckExposureTest, EmptyStreamFollowsTheControlHost) {
  // Off loopback with control: its harm is named, not a flag never given.
  const std::string refusal = Refusal(WithControl("0.0.0.0:3513"));
  EXPECT_THAT(refusal, HasSubstr("read its live stream"));
  EXPECT_THAT(refusal, Not(HasSubstr("--stream")));
  // A stream given on loopback leaves only control's harm.
  PortAddresses ports = WithControl("0.0.0.0:3513");
  ports.stream = "127.0.0.1:0";
  EXPECT_THAT(Refusal(ports), Not(HasSubstr("stream")));
  // On loopback with control: fine.
  EXPECT_TRUE(CheckExposure(WithControl("127.0.0.9:0"), {}).ok());
}

TEST(CheckExposureTest, StreamOffLoopbackIsRefused) {
  for (const char* stream : {"*:0", "0.0.0.0:0", "[::]:0", "10.0.0.1:0"}) {
    PortAddresses ports = Loopback();
    ports.stream = stream;
    EXPECT_THAT(Refusal(ports),
                AllOf(HasSubstr(std::string("--stream=") + stream +
                                " is not a loopback address"),
                      HasSubstr("read its live stream"),
                      Not(HasSubstr("SHUTDOWN")), HasSubstr("--insecure")))
        << stream;
  }
}

TEST(CheckExposureTest, RelayOffLoopbackIsRefusedAndEmptyRelayIsOff) {
  PortAddresses ports = Loopback();
  ports.relay = "*:3515";
  EXPECT_THAT(
      Refusal(ports),
      AllOf(HasSubstr("--relay=*:3515 is not a loopback address"),
            HasSubstr("under any forwarder id"), HasSubstr("--insecure")));
  ports.relay = "";
  EXPECT_TRUE(CheckExposure(ports, {}).ok());
}

TEST(CheckExposureTest, EveryPortOffLoopbackIsNamedInOneLine) {
  const PortAddresses ports = {"*:3513", "127.0.0.1:3514", "0.0.0.0:0",
                               "[::]:3515", ""};
  EXPECT_THAT(
      Refusal(ports),
      HasSubstr("--control=*:3513, --stream=0.0.0.0:0 and "
                "--relay=[::]:3515 are not loopback addresses; "
                "without --curve-key anyone who reaches them can "
                "send this daemon SHUTDOWN and every other control command, "
                "read its live stream or relay events under any "
                "forwarder id."));
}

TEST(CheckExposureTest, MalformedAddressesAreLeftToBinding) {
  // BindSocket refuses these itself, binding nothing.
  EXPECT_TRUE(CheckExposure(WithControl("3513"), {}).ok());
  EXPECT_TRUE(CheckExposure(WithControl("*:port"), {}).ok());
  PortAddresses ports = Loopback();
  ports.relay = "*:99999";
  EXPECT_TRUE(CheckExposure(ports, {}).ok());
}

TEST(CheckExposureTest, CurveKeyAllowsEveryPort) {
  const PortAddresses open = {"*:3513", "*:3514", "*:0", "*:3515", ""};
  const auto checked = CheckExposure(open, {/*curve=*/true});
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_THAT(*checked, IsEmpty());
}

TEST(CheckExposureTest, PlainCollectOffLoopbackIsAWarningOnly) {
  PortAddresses ports = Loopback();
  ports.collect = "*:3514";
  const char* kWarning =
      "--collect=*:3514 is plain text on a non-loopback address: anyone who "
      "can reach it can write events";
  auto checked = CheckExposure(ports, {});
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_THAT(*checked, ElementsAre(kWarning));
  // --plain-collect keeps it plain under --curve-key.
  checked = CheckExposure(ports, {/*curve=*/true, /*plain_collect=*/true});
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_THAT(*checked, ElementsAre(kWarning));
  // Without --plain-collect it is a CurveZMQ server.
  checked = CheckExposure(ports, {/*curve=*/true});
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_THAT(*checked, IsEmpty());
}

TEST(CheckExposureTest, InsecureAllowsAndWarnsNamingEveryExposedPort) {
  PortAddresses ports = {"*:3513", "0.0.0.0:3514", "", "127.0.0.1:3515", ""};
  ExposureFlags flags;
  flags.insecure = true;
  const auto checked = CheckExposure(ports, flags);
  ASSERT_TRUE(checked.ok()) << checked.status();
  ASSERT_EQ(checked->size(), 2u);
  EXPECT_THAT((*checked)[0], HasSubstr("--collect=0.0.0.0:3514"));
  EXPECT_EQ(
      (*checked)[1],
      "--insecure: plain text on a non-loopback address: "
      "--control=*:3513 and the stream (*:0, on --control's host); "
      "anyone who reaches them can send this daemon SHUTDOWN and every other "
      "control command or read its live stream");
}

TEST(CheckExposureTest, MetricsOffLoopbackIsRefusedAndEmptyMetricsIsOff) {
  PortAddresses ports = Loopback();
  ports.metrics = "0.0.0.0:9100";
  EXPECT_THAT(Refusal(ports),
              AllOf(HasSubstr("--metrics=0.0.0.0:9100 is not a loopback "
                              "address"),
                    HasSubstr("read its metrics"), HasSubstr("--insecure")));
  ports.metrics = "127.0.0.1:9100";
  EXPECT_TRUE(CheckExposure(ports, {}).ok());
  ports.metrics = "";
  EXPECT_TRUE(CheckExposure(ports, {}).ok());
}

TEST(CheckExposureTest, InsecureAllowsMetricsOffLoopbackWithAWarning) {
  PortAddresses ports = Loopback();
  ports.metrics = "[::]:9100";
  ExposureFlags flags;
  flags.insecure = true;
  const auto checked = CheckExposure(ports, flags);
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_THAT(*checked,
              ElementsAre(HasSubstr("--insecure: plain text on a non-loopback "
                                    "address: --metrics=[::]:9100")));
}

TEST(CheckExposureTest, CurveKeyAllowsMetricsAnywhereWarningItIsPlainHttp) {
  for (const char* address : {"*:9100", "127.0.0.1:9100"}) {
    PortAddresses ports = Loopback();
    ports.metrics = address;
    const auto checked = CheckExposure(ports, {/*curve=*/true});
    ASSERT_TRUE(checked.ok()) << checked.status();
    EXPECT_THAT(*checked, ElementsAre(AllOf(
                              HasSubstr(std::string("--metrics=") + address),
                              HasSubstr("unauthenticated plain HTTP"))));
  }
  const auto checked = CheckExposure(Loopback(), {/*curve=*/true});
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_THAT(*checked, IsEmpty());
}

TEST(CheckExposureTest, InsecureOnLoopbackWarnsOfNothing) {
  ExposureFlags flags;
  flags.insecure = true;
  const auto checked = CheckExposure(Loopback(), flags);
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_THAT(*checked, IsEmpty());
}

}  // namespace
}  // namespace ziggy
