// DaemonSockets' control port over real ZeroMQ: built-in commands, commands
// and STATUS parts the daemon registers, in the order STATUS promises.

#include "common/daemon_sockets.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "client/format/value.h"
#include "client/net/endpoint.h"
#include "common/control_request.h"
#include "gtest/gtest.h"
#include "zmq.hpp"

namespace ziggy {
namespace {

std::vector<std::string> Keys(const Value& map) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : map.AsMap()) keys.push_back(key);
  return keys;
}

class DaemonSocketsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        sockets_.Bind({"127.0.0.1:0", "127.0.0.1:0", "", QueueLimits{}, {}})
            .ok());
    client_.set(zmq::sockopt::linger, 0);
    client_.connect(sockets_.control_endpoint());
  }

  // Sends `request` to the control port and serves until the reply comes
  // (or 10 s pass: a null Value).
  Value Call(const std::string& request) {
    client_.send(zmq::buffer(request), zmq::send_flags::none);
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    zmq::message_t reply;
    while (absl::Now() < deadline) {
      std::vector<zmq::pollitem_t> items = sockets_.PollItems(false);
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(5));
      served_stop_ = sockets_.Serve(items, nullptr) || served_stop_;
      if (client_.recv(reply, zmq::recv_flags::dontwait)) {
        absl::StatusOr<Value> doc =
            DecodeDocument(absl::string_view(reply.data<char>(), reply.size()));
        EXPECT_TRUE(doc.ok()) << doc.status();
        return doc.ok() ? *doc : Value();
      }
    }
    ADD_FAILURE() << "no reply to " << request;
    return Value();
  }

  DaemonSockets sockets_{"testd", 1 << 20};
  zmq::socket_t client_{sockets_.context(), zmq::socket_type::req};
  bool served_stop_ = false;  // Serve() returned true
};

TEST_F(DaemonSocketsTest, RegisteredCommandsAreServedWithTheirRequest) {
  sockets_.AddCommand("ECHO", [](const ControlRequest& request) {
    const Value* text = request.args.Get("text");
    return EncodeDocument(Value(Value::Map{
        {"echo", text == nullptr ? std::string("-") : text->AsString()}}));
  });
  const Value reply = Call(
      EncodeDocument(Value(Value::Map{{"cmd", "echo"}, {"text", "hello"}})));
  ASSERT_NE(reply.Get("echo"), nullptr);
  EXPECT_EQ(reply.Get("echo")->AsString(), "hello");
  EXPECT_EQ(Call("ECHO").Get("echo")->AsString(), "-");
}

TEST_F(DaemonSocketsTest, UnknownCommandAndBadRequestGetErrors) {
  const Value unknown = Call("FROB");
  ASSERT_NE(unknown.Get("error"), nullptr);
  EXPECT_EQ(unknown.Get("error")->AsString(), "unknown command 'FROB'");
  const Value bad = Call("not a command!");
  ASSERT_NE(bad.Get("error"), nullptr);
}

TEST_F(DaemonSocketsTest, PortsAreServedAndListed) {
  sockets_.AddPort("relay", "tcp://127.0.0.1:4321");
  EXPECT_EQ(Call("SOCK_RELAY").Get("port")->AsInt(), 4321);
  EXPECT_EQ(Call("SOCK_COLLECT").Get("port")->AsInt(),
            EndpointPort(sockets_.collect_endpoint()));
  EXPECT_EQ(Call("SOCK_CONTROL").Get("port")->AsInt(),
            EndpointPort(sockets_.control_endpoint()));
  EXPECT_EQ(Call("SOCK_STREAM").Get("port")->AsInt(),
            EndpointPort(sockets_.stream_endpoint()));
  const Value status = Call("STATUS");
  EXPECT_EQ(
      Keys(*status.Get("ports")),
      (std::vector<std::string>{"control", "collect", "stream", "relay"}));
  EXPECT_EQ(status.Get("ports")->Get("relay")->AsInt(), 4321);
}

TEST_F(DaemonSocketsTest, StatusAssemblesRegisteredPartsInOrder) {
  sockets_.AddDropReasons(
      [](Value::Map* dropped) { dropped->emplace_back("mine", 7); });
  sockets_.AddStatusFields(
      [](Value::Map* status) { status->emplace_back("first", 1); });
  sockets_.AddStatusSection("section", [](Value::Map* section) {
    section->emplace_back("a", 2);
    section->emplace_back("b", 3);
  });
  sockets_.AddStatusFields([](Value::Map* status) {
    status->emplace_back("last", "x");  // a second "last", after the intake's
  });
  const Value status = Call("STATUS");
  EXPECT_EQ(Keys(status), (std::vector<std::string>{"daemon",
                                                    "host",
                                                    "pid",
                                                    "uptime",
                                                    "fds",
                                                    "last",
                                                    "lag",
                                                    "lag_median",
                                                    "events",
                                                    "hosts",
                                                    "untracked",
                                                    "received",
                                                    "received_bytes",
                                                    "repaired",
                                                    "dropped",
                                                    "published",
                                                    "stream_dropped",
                                                    "stream_subscribers",
                                                    "ports",
                                                    "first",
                                                    "section",
                                                    "last"}));
  EXPECT_EQ(status.Get("daemon")->AsString(), "testd");
  EXPECT_EQ(Keys(*status.Get("dropped")),
            (std::vector<std::string>{"malformed", "no_type", "oversized",
                                      "multipart", "mine"}));
  EXPECT_EQ(status.Get("dropped")->Get("mine")->AsInt(), 7);
  EXPECT_EQ(Keys(*status.Get("section")), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(status.AsMap().back().second.AsString(), "x");
}

TEST_F(DaemonSocketsTest, ShutdownIsAnsweredAndStopsServing) {
  EXPECT_EQ(Call("STATUS").Get("error"), nullptr);
  EXPECT_FALSE(served_stop_);
  const Value reply = Call("SHUTDOWN");
  ASSERT_NE(reply.Get("ok"), nullptr);
  EXPECT_TRUE(reply.Get("ok")->AsBool());
  EXPECT_TRUE(served_stop_);
}

TEST_F(DaemonSocketsTest, WakeStopsServing) {
  sockets_.Wake();
  std::vector<zmq::pollitem_t> items = sockets_.PollItems(false);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  bool stopped = false;
  while (!stopped && absl::Now() < deadline) {
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(5));
    stopped = sockets_.Serve(items, nullptr);
  }
  EXPECT_TRUE(stopped);
}

TEST_F(DaemonSocketsTest, ASnapshotIsServedBetweenPollsWithoutStopping) {
  StatusSnapshots::Snapshot snapshot;
  absl::Notification got;
  std::thread reader([&] {
    snapshot = sockets_.status_snapshots().Get(absl::Seconds(10));
    got.Notify();
  });
  // The reader's wake-up ends a poll that would otherwise wait 10 s.
  std::vector<zmq::pollitem_t> items = sockets_.PollItems(false);
  const absl::Time start = absl::Now();
  zmq::poll(items.data(), items.size(), std::chrono::milliseconds(10000));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  bool stopped = sockets_.Serve(items, nullptr);
  // Served then, or (had the poll ended before the reader asked) soon.
  while (!got.WaitForNotificationWithTimeout(absl::Milliseconds(1)) &&
         absl::Now() - start < absl::Seconds(10)) {
    items = sockets_.PollItems(false);
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
    stopped = sockets_.Serve(items, nullptr) || stopped;
  }
  reader.join();
  ASSERT_NE(snapshot, nullptr);
  EXPECT_EQ(Value(*snapshot).Get("daemon")->AsString(), "testd");
  EXPECT_FALSE(stopped);
}

TEST(DaemonSocketsDeathTest, ACommandAddedTwiceIsABug) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  DaemonSockets sockets("testd", 1 << 20);
  EXPECT_DEATH(sockets.AddCommand("STATUS", nullptr), "added twice");
}

}  // namespace
}  // namespace ziggy
