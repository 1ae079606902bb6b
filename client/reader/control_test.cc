#include "client/reader/control.h"

#include <bson/bson.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "client/net/curve_key.h"
#include "client/net/endpoint.h"
#include "client/net/socket.h"
#include "client/testing/curve_keys.h"
#include "gtest/gtest.h"
#include "zmq.hpp"

namespace ziggy {
namespace {

// A daemon's control port (REP) that answers one request with a set reply,
// on its own thread, and keeps the request's bytes for the test to check.
class OneShotControlPort {
 public:
  // `curve`: a CurveZMQ server (CurveSocketOptions::Server) or plain text.
  explicit OneShotControlPort(std::string reply,
                              absl::optional<CurveSocketOptions> curve = {},
                              int receive_timeout_ms = 10000)
      : reply_(std::move(reply)),
        socket_(
            MakeSocket(context_, zmq::socket_type::rep,
                       ServerOptions(std::move(curve), receive_timeout_ms))) {
    socket_.bind("tcp://127.0.0.1:*");
    address_ = absl::StrCat(
        "127.0.0.1:", EndpointPort(socket_.get(zmq::sockopt::last_endpoint)));
    thread_ = std::thread([this] {
      zmq::message_t request;
      if (!socket_.recv(request)) return;
      request_ = request.to_string();
      socket_.send(zmq::buffer(reply_));
    });
  }
  ~OneShotControlPort() { Join(); }

  const std::string& address() const { return address_; }
  // The request as it came over the wire (after the reply was sent).
  const std::string& request() {
    Join();
    return request_;
  }

 private:
  static SocketOptions ServerOptions(absl::optional<CurveSocketOptions> curve,
                                     int receive_timeout_ms) {
    SocketOptions options;
    options.receive_timeout_ms = receive_timeout_ms;
    options.curve = std::move(curve);
    return options;
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  const std::string reply_;
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  std::string address_;
  std::string request_;
  std::thread thread_;
};

// The request's keys and string values in wire order, read with libbson
// (the reference decoder), not with our own.
std::vector<std::pair<std::string, std::string>> WireFields(
    const std::string& bytes) {
  std::vector<std::pair<std::string, std::string>> fields;
  bson_t doc;
  if (!bson_init_static(&doc, reinterpret_cast<const uint8_t*>(bytes.data()),
                        bytes.size())) {
    ADD_FAILURE() << "the request is not a BSON document";
    return fields;
  }
  bson_iter_t it;
  EXPECT_TRUE(bson_iter_init(&it, &doc));
  while (bson_iter_next(&it)) {
    EXPECT_EQ(bson_iter_type(&it), BSON_TYPE_UTF8) << bson_iter_key(&it);
    fields.emplace_back(bson_iter_key(&it),
                        BSON_ITER_HOLDS_UTF8(&it)
                            ? std::string(bson_iter_utf8(&it, nullptr))
                            : std::string());
  }
  EXPECT_EQ(it.off + 1, bytes.size()) << "bytes after the last field";
  return fields;
}

TEST(CallControlTest, SendsCmdThenArgumentsAndReturnsTheReply) {
  OneShotControlPort port(
      EncodeDocument(Value(Value::Map{{"upstreams", "a:1"}, {"n", 5}})));
  absl::StatusOr<Value> reply =
      CallControl(port.address(), "UPSTREAM_SET",
                  Value::Map{{"upstreams", "a:1,b:2"}, {"why", "test"}});
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_NE(reply->Get("n"), nullptr);
  EXPECT_EQ(*reply->Get("n"), Value(5));
  EXPECT_EQ(*reply->Get("upstreams"), Value("a:1"));
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"cmd", "UPSTREAM_SET"}, {"upstreams", "a:1,b:2"}, {"why", "test"}};
  EXPECT_EQ(WireFields(port.request()), expected);
}

TEST(CallControlTest, ABareCommandIsJustCmd) {
  OneShotControlPort port(EncodeDocument(Value(Value::Map{{"ok", true}})));
  ASSERT_TRUE(CallControl(port.address(), "STATUS").ok());
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"cmd", "STATUS"}};
  EXPECT_EQ(WireFields(port.request()), expected);
}

TEST(CallControlTest, AnErrorReplyIsFailedPreconditionWithItsText) {
  OneShotControlPort port(
      EncodeDocument(Value(Value::Map{{"error", "unknown command FROB"}})));
  absl::StatusOr<Value> reply = CallControl(port.address(), "FROB");
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(reply.status().message(),
            absl::StrCat(port.address(), ": unknown command FROB"));
}

// Only a string `error` is an error; a daemon's own counters named so are
// data.
TEST(CallControlTest, ANonStringErrorFieldIsData) {
  OneShotControlPort port(EncodeDocument(Value(Value::Map{{"error", 3}})));
  absl::StatusOr<Value> reply = CallControl(port.address(), "STATUS");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply->Get("error"), Value(3));
}

TEST(CallControlTest, AReplyThatIsNotBsonIsDataLoss) {
  const std::string doc = EncodeDocument(Value(Value::Map{{"a", "bcd"}}));
  std::string longer = doc;
  longer[0] = static_cast<char>(doc.size() + 10);  // length past the end
  const std::vector<std::string> garbage = {
      "",     "not bson",           doc.substr(0, doc.size() - 1),
      longer, std::string(5, '\0'), doc + "trailing"};
  for (const std::string& reply : garbage) {
    OneShotControlPort port(reply);
    absl::StatusOr<Value> got = CallControl(port.address(), "STATUS");
    EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss)
        << absl::CEscape(reply) << ": " << got.status();
    EXPECT_NE(got.status().message().find(port.address()), std::string::npos)
        << got.status();
  }
}

TEST(CallControlTest, NoReplyWithinTheTimeoutIsUnavailable) {
  zmq::context_t context(1);
  zmq::socket_t silent(context, zmq::socket_type::rep);  // takes, never answers
  silent.set(zmq::sockopt::linger, 0);
  silent.bind("tcp://127.0.0.1:*");
  const std::string address = absl::StrCat(
      "127.0.0.1:", EndpointPort(silent.get(zmq::sockopt::last_endpoint)));
  const absl::Time start = absl::Now();
  absl::StatusOr<Value> reply =
      CallControl(address, "STATUS", {}, absl::Milliseconds(300));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable)
      << reply.status();
  EXPECT_NE(reply.status().message().find("no answer from " + address),
            std::string::npos)
      << reply.status();
  EXPECT_GE(took, absl::Milliseconds(300));
  EXPECT_LT(took, absl::Seconds(3));
}

using ::ziggy::testing::NewCurveKeyPair;

TEST(CallControlTest, CurveWithTheServersKeyGetsTheReply) {
  const CurveKeyPair server = NewCurveKeyPair();
  OneShotControlPort port(EncodeDocument(Value(Value::Map{{"ok", 1}})),
                          CurveSocketOptions::Server(server));
  ControlOptions options;
  options.curve =
      CurveSocketOptions::Client(NewCurveKeyPair(), server.public_key());
  absl::StatusOr<Value> reply =
      CallControl(port.address(), "STATUS", {}, options);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->Get("ok")->AsInt(), 1);
  EXPECT_EQ(
      WireFields(port.request()),
      (std::vector<std::pair<std::string, std::string>>{{"cmd", "STATUS"}}));
}

TEST(CallControlTest, CurveWithAWrongServerKeyIsUnavailableInTime) {
  const CurveKeyPair server = NewCurveKeyPair();
  OneShotControlPort port(EncodeDocument(Value(Value::Map{{"ok", 1}})),
                          CurveSocketOptions::Server(server),
                          /*receive_timeout_ms=*/1000);
  ControlOptions options;
  options.timeout = absl::Milliseconds(500);
  options.curve = CurveSocketOptions::Client(NewCurveKeyPair(),
                                             NewCurveKeyPair().public_key());
  const absl::Time start = absl::Now();
  absl::StatusOr<Value> reply =
      CallControl(port.address(), "STATUS", {}, options);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable)
      << reply.status();
  EXPECT_NE(reply.status().message().find("server key"), std::string::npos)
      << reply.status();
  EXPECT_LT(took, absl::Seconds(3));
  EXPECT_TRUE(port.request().empty());  // the server never got the request
}

TEST(CallControlTest, PlainClientOfACurveServerIsUnavailable) {
  OneShotControlPort port(EncodeDocument(Value(Value::Map{{"ok", 1}})),
                          CurveSocketOptions::Server(NewCurveKeyPair()),
                          /*receive_timeout_ms=*/1000);
  EXPECT_EQ(CallControl(port.address(), "STATUS", {}, absl::Milliseconds(500))
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
}

TEST(CallControlTest, BadAddressesAreInvalidArgument) {
  for (const char* address :
       {"", "127.0.0.1", "127.0.0.1:0", "host:port", "127.0.0.1:70000"}) {
    EXPECT_EQ(CallControl(address, "STATUS").status().code(),
              absl::StatusCode::kInvalidArgument)
        << address;
  }
}

}  // namespace
}  // namespace ziggy
