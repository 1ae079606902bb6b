// The transport as a CurveZMQ client: a CurveZMQ PULL server made with
// MakeSocket receives what a client with the right keys sends, and nothing
// from one that was given another server key; keys also come from the
// environment through Configure().

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/format/wire.h"
#include "client/net/curve_key.h"
#include "client/net/socket.h"
#include "client/testing/batch_mode.h"
#include "client/testing/curve_keys.h"
#include "client/testing/pull_sink.h"
#include "client/ziggy.h"
#include "gtest/gtest.h"
#include "zmq.hpp"

namespace ziggy {
namespace {

using ::ziggy::testing::NewCurveKeyPair;

// A CurveZMQ PULL server on 127.0.0.1, any port.
class CurveSink {
 public:
  CurveSink(zmq::context_t& context, const CurveKeyPair& pair) {
    SocketOptions options;
    options.receive_timeout_ms = 100;
    options.curve = CurveSocketOptions::Server(pair);
    socket_ = MakeSocket(context, zmq::socket_type::pull, options);
    std::string endpoint;
    EXPECT_TRUE(BindSocket(socket_, "127.0.0.1:0", "test", &endpoint).ok());
    EXPECT_TRUE(
        absl::SimpleAtoi(endpoint.substr(endpoint.rfind(':') + 1), &port_));
  }
  int port() const { return port_; }

  // Counts events (split by the wire rule) until `count` arrived or
  // `timeout` passed.
  size_t Receive(size_t count, absl::Duration timeout) {
    std::vector<absl::string_view> events;
    const absl::Time deadline = absl::Now() + timeout;
    while (events.size() < count && absl::Now() < deadline) {
      zmq::message_t message;
      if (!socket_.recv(message)) continue;
      EXPECT_TRUE(SplitMessage(
          absl::string_view(message.data<char>(), message.size()), &events));
    }
    return events.size();
  }

 private:
  zmq::socket_t socket_;
  int port_ = 0;
};

// Every test runs twice: batched (the default options) and with
// ZIGGY_BATCH=0, one event per message.
class CurveTransportTest : public ::testing::TestWithParam<bool> {
 protected:
  void TearDown() override {
    Shutdown();
    unsetenv("ZIGGY_CURVE_SERVER_KEY");
    unsetenv("ZIGGY_CURVE_KEY");
    unsetenv("ZIGGY_HOST");
  }
  // A path under TEST_TMPDIR of this run's own (each mode writes its keys).
  std::string TempPath(absl::string_view name) const {
    return absl::StrCat(getenv("TEST_TMPDIR"), "/", name, "_",
                        testing::BatchMode::Name(GetParam()));
  }
  // Writes a fresh pair as TempPath(name) and TempPath(name).pub.
  std::string WritePair(const std::string& name, CurveKeyPair* pair) {
    *pair = NewCurveKeyPair();
    const std::string path = TempPath(name);
    EXPECT_TRUE(WriteKeyPair(*pair, path).ok());
    return path;
  }
  void Record(int events) {
    for (int i = 0; i < events; ++i) {
      Context c("request");
      ASSERT_TRUE(Set("seq", i).ok());
    }
  }
  testing::BatchMode batch_mode_{GetParam()};
  zmq::context_t context_;
  const CurveKeyPair server_pair_ = NewCurveKeyPair();
};

TEST_P(CurveTransportTest, RightKeysDeliver) {
  CurveSink sink(context_, server_pair_);
  TransportOptions options;
  options.curve_key = NewCurveKeyPair();
  options.curve_server_key = server_pair_.public_key();
  ASSERT_TRUE(Configure("127.0.0.1", sink.port(), options).ok());
  Record(100);
  EXPECT_EQ(sink.Receive(100, absl::Seconds(20)), 100u);
  // The sink can hold a batch before the sending thread has counted it:
  // Flush waits for the count.
  ASSERT_TRUE(Flush(absl::Seconds(20)));
  EXPECT_EQ(GetTransportStats().sent, 100u);
}

TEST_P(CurveTransportTest, WrongServerKeyDeliversNothingAndDoesNotHang) {
  CurveSink sink(context_, server_pair_);
  TransportOptions options;
  options.send_high_water_mark = 10;
  options.linger = absl::Milliseconds(200);
  options.curve_key = NewCurveKeyPair();
  options.curve_server_key =
      NewCurveKeyPair().public_key();  // not the server's
  ASSERT_TRUE(Configure("127.0.0.1", sink.port(), options).ok());
  Record(100);
  EXPECT_EQ(sink.Receive(1, absl::Seconds(2)), 0u);
  // As with an absent daemon: the socket holds its high-water mark, the
  // rest stays queued (or dropped when the queue is full), never lost
  // silently.
  const TransportStats stats = GetTransportStats();
  EXPECT_EQ(stats.queued + stats.dropped_queue_full, 100u);
  EXPECT_LE(stats.sent, stats.queued);
  const absl::Time start = absl::Now();
  Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_FALSE(IsConfigured());
}

TEST_P(CurveTransportTest, OneKeyAloneIsRejected) {
  TransportOptions options;
  options.curve_key = NewCurveKeyPair();
  EXPECT_EQ(Configure("127.0.0.1", 3514, options).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(IsConfigured());
}

TEST_P(CurveTransportTest, ConfigureReadsKeyFilesFromEnvironment) {
  CurveSink sink(context_, server_pair_);
  const std::string server_path = TempPath("env_server");
  ASSERT_TRUE(WriteKeyPair(server_pair_, server_path).ok());
  CurveKeyPair client = NewCurveKeyPair();
  const std::string client_path = WritePair("env_client", &client);
  setenv("ZIGGY_HOST", absl::StrCat("127.0.0.1:", sink.port()).c_str(), 1);
  setenv("ZIGGY_CURVE_SERVER_KEY", (server_path + ".pub").c_str(), 1);
  setenv("ZIGGY_CURVE_KEY", client_path.c_str(), 1);
  ASSERT_TRUE(Configure().ok());
  Record(10);
  EXPECT_EQ(sink.Receive(10, absl::Seconds(20)), 10u);
}

TEST_P(CurveTransportTest, ConfigureRejectsHalfOrBadKeysClearly) {
  CurveKeyPair client = NewCurveKeyPair();
  const std::string client_path = WritePair("bad_client", &client);
  setenv("ZIGGY_CURVE_KEY", client_path.c_str(), 1);
  absl::Status half = Configure();
  EXPECT_EQ(half.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(half.message(), "ZIGGY_CURVE_SERVER_KEY"));

  const std::string missing = absl::StrCat(getenv("TEST_TMPDIR"), "/nope.pub");
  setenv("ZIGGY_CURVE_SERVER_KEY", missing.c_str(), 1);
  absl::Status bad = Configure();
  EXPECT_EQ(bad.code(), absl::StatusCode::kNotFound) << bad;
  EXPECT_TRUE(absl::StrContains(bad.message(), "ZIGGY_CURVE_SERVER_KEY"));
  EXPECT_TRUE(absl::StrContains(bad.message(), missing));

  // A public key where the secret key belongs: refused, the key unquoted.
  setenv("ZIGGY_CURVE_SERVER_KEY", (client_path + ".pub").c_str(), 1);
  setenv("ZIGGY_CURVE_KEY", missing.c_str(), 1);
  absl::Status wrong = Configure();
  EXPECT_FALSE(wrong.ok());
  EXPECT_TRUE(absl::StrContains(wrong.message(), "ZIGGY_CURVE_KEY"));
  EXPECT_FALSE(absl::StrContains(wrong.message(), client.secret_z85()));
  EXPECT_FALSE(IsConfigured());
}

INSTANTIATE_TEST_SUITE_P(Batch, CurveTransportTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return testing::BatchMode::Name(info.param);
                         });

}  // namespace
}  // namespace ziggy
