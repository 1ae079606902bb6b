// Secure by default: ziggyd and ziggy-forwarder, as real processes, refuse a
// plain control, stream or relay port off loopback unless --insecure, and
// allow any port with --curve-key (common/exposure.h).

#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/net/curve_key.h"
#include "client/net/endpoint.h"
#include "client/net/socket.h"
#include "client/reader/control.h"
#include "client/testing/curve_keys.h"
#include "gtest/gtest.h"
#include "tests/process.h"
#include "tests/ziggyd.h"
#include "zmq.hpp"

namespace ziggy::testing {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// Whether `log` (glog on stderr) has a WARNING line holding `text`.
bool LoggedWarning(const std::string& log, absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (absl::StartsWith(line, "W") && absl::StrContains(line, text)) {
      return true;
    }
  }
  return false;
}

// A loopback port the test holds bound, so a daemon that tried to bind it
// would fail with "cannot bind" instead of the refusal.
class HeldPort {
 public:
  HeldPort() : socket_(context_, zmq::socket_type::pull) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:*");
  }
  std::string address() {
    return absl::StrCat("127.0.0.1:",
                        EndpointPort(socket_.get(zmq::sockopt::last_endpoint)));
  }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
};

// Runs a daemon whose collect port is held by the test and whose other
// ports are loopback unless `flags` (given last, so they win) say
// otherwise, and expects it to refuse `refused` (e.g. "--control=0.0.0.0:0")
// before binding anything or creating its directory.
void ExpectRefused(const std::string& binary, std::vector<std::string> argv,
                   const std::string& dir, const std::string& refused) {
  SCOPED_TRACE(binary + " " + refused);
  HeldPort collect;
  argv.insert(argv.begin(), RunfilesPath(binary));
  argv.push_back("--control=127.0.0.1:0");
  argv.push_back("--collect=" + collect.address());
  argv.push_back(refused);
  std::string out, err;
  EXPECT_EQ(RunCommand(argv, &out, &err), 1) << err;
  EXPECT_TRUE(absl::StrContains(
      err, absl::StrCat(refused,
                        " is not a loopback address; without "
                        "--curve-key anyone who reaches it can ")))
      << err;
  EXPECT_TRUE(absl::StrContains(err, "--insecure")) << err;
  EXPECT_FALSE(absl::StrContains(err, "cannot bind")) << err;
  EXPECT_FALSE(absl::StrContains(err, "listening")) << err;
  EXPECT_FALSE(Exists(dir)) << dir;
}

void ExpectZiggydRefuses(const std::string& refused) {
  const std::string logs = TempDir("refused") + "/logs";
  ExpectRefused("collector/ziggyd",
                {"--log-path=" + logs, "--relay=127.0.0.1:0"}, logs, refused);
}

void ExpectForwarderRefuses(const std::string& refused) {
  const std::string spool = TempDir("refused") + "/spool";
  ExpectRefused("forwarder/ziggy-forwarder",
                {"--spool-path=" + spool,
                 absl::StrCat("--upstream=127.0.0.1:", UnusedPort())},
                spool, refused);
}

TEST(SecureDefaultTest, ZiggydRefusesPlainPortsOffLoopback) {
  ExpectZiggydRefuses("--control=0.0.0.0:0");
  ExpectZiggydRefuses("--control=*:0");
  ExpectZiggydRefuses("--stream=0.0.0.0:0");
  ExpectZiggydRefuses("--relay=0.0.0.0:0");
}

TEST(SecureDefaultTest, ForwarderRefusesPlainPortsOffLoopback) {
  ExpectForwarderRefuses("--control=0.0.0.0:0");
  ExpectForwarderRefuses("--stream=0.0.0.0:0");
}

TEST(SecureDefaultTest, ZiggydWithInsecureServesAndWarns) {
  // --stream empty: the stream follows the control port's host.
  auto ziggyd = Ziggyd::Start(
      TempDir("logs"), {"--control=0.0.0.0:0", "--stream=", "--insecure"});
  ASSERT_NE(ziggyd, nullptr);
  EXPECT_TRUE(absl::StartsWith(ziggyd->control(), "0.0.0.0:"))
      << ziggyd->control();
  EXPECT_TRUE(absl::StartsWith(ziggyd->stream(), "0.0.0.0:"))
      << ziggyd->stream();
  EXPECT_EQ(ziggyd->Status().Find("daemon")->AsString(), "ziggyd");
  EXPECT_TRUE(LoggedWarning(
      ziggyd->process().Stderr(),
      "--insecure: plain text on a non-loopback address: "
      "--control=0.0.0.0:0 and the stream (0.0.0.0:0, on --control's host)"))
      << ziggyd->process().Stderr();
}

TEST(SecureDefaultTest, ForwarderWithInsecureServesAndWarns) {
  auto forwarder = Ziggyd::StartForwarder(
      TempDir("spool"), absl::StrCat("127.0.0.1:", UnusedPort()),
      {"--control=0.0.0.0:0", "--stream=0.0.0.0:0", "--insecure"});
  ASSERT_NE(forwarder, nullptr);
  EXPECT_EQ(forwarder->Status().Find("daemon")->AsString(), "ziggy-forwarder");
  EXPECT_TRUE(LoggedWarning(forwarder->process().Stderr(),
                            "--insecure: plain text on a non-loopback "
                            "address: --control=0.0.0.0:0 and "
                            "--stream=0.0.0.0:0"))
      << forwarder->process().Stderr();
}

TEST(SecureDefaultTest, PlainCollectOffLoopbackStartsWithAWarning) {
  auto ziggyd = Ziggyd::Start(TempDir("logs"), {"--collect=0.0.0.0:0"});
  ASSERT_NE(ziggyd, nullptr);
  EXPECT_EQ(ziggyd->Status().Find("daemon")->AsString(), "ziggyd");
  const std::string log = ziggyd->process().Stderr();
  EXPECT_TRUE(LoggedWarning(log,
                            "--collect=0.0.0.0:0 is plain text on a "
                            "non-loopback address: anyone who can reach it "
                            "can write events"))
      << log;
  EXPECT_FALSE(absl::StrContains(log, "--insecure")) << log;
}

// Every port off loopback, CurveZMQ: no refusal, no warning, and a client
// holding the server's public key gets STATUS.
TEST(SecureDefaultTest, CurveKeyAllowsEveryPortOffLoopback) {
  const std::string keys = TempDir("keys");
  const CurveKeyPair server = NewCurveKeyPair();
  ASSERT_TRUE(WriteKeyPair(server, keys + "/server.key").ok());
  const std::vector<std::string> open = {
      "--curve-key=" + keys + "/server.key", "--control=0.0.0.0:0",
      "--stream=0.0.0.0:0", "--collect=0.0.0.0:0"};
  std::vector<std::string> ziggyd_flags = open;
  ziggyd_flags.push_back("--relay=0.0.0.0:0");
  auto ziggyd = Ziggyd::Start(TempDir("logs"), ziggyd_flags);
  ASSERT_NE(ziggyd, nullptr);
  auto forwarder = Ziggyd::StartForwarder(
      TempDir("spool"), absl::StrCat("127.0.0.1:", UnusedPort()), open);
  ASSERT_NE(forwarder, nullptr);
  ControlOptions options;
  options.timeout = absl::Seconds(5);
  options.curve =
      CurveSocketOptions::Client(NewCurveKeyPair(), server.public_key());
  for (Ziggyd* daemon : {ziggyd.get(), forwarder.get()}) {
    absl::StatusOr<Value> status =
        CallControl(daemon->control(), "STATUS", {}, options);
    ASSERT_TRUE(status.ok()) << status.status();
    EXPECT_NE(status->Find("auth"), nullptr);
    const std::string log = daemon->process().Stderr();
    EXPECT_FALSE(absl::StrContains(log, "non-loopback")) << log;
  }
}

}  // namespace
}  // namespace ziggy::testing
