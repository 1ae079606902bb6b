#include "client/reader/stream.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "client/net/curve_key.h"
#include "client/net/endpoint.h"
#include "client/net/socket.h"
#include "client/testing/curve_keys.h"
#include "gtest/gtest.h"
#include "zmq.hpp"
#include "zmq_addon.hpp"

namespace ziggy {
namespace {

constexpr absl::Duration kPatience = absl::Seconds(10);

std::string Doc(absl::string_view type, int seq) {
  return EncodeDocument(
      Value(Value::Map{{"type", std::string(type)}, {"seq", seq}}));
}

int BoundPort(const zmq::socket_t& socket) {
  return EndpointPort(socket.get(zmq::sockopt::last_endpoint));
}

// A daemon as a StreamSubscriber sees it: a control port (REP) answering
// SOCK_STREAM with {port}, and an XPUB stream publishing [type, bson]
// frames. One thread owns both sockets; tests queue messages to publish and
// wait for what the daemon saw (requests, subscriptions).
class FakeDaemon {
 public:
  // `curve`: both ports are CurveZMQ servers with it; unset = plain text.
  explicit FakeDaemon(absl::optional<CurveSocketOptions> curve = {})
      : curve_(std::move(curve)),
        control_(MakeSocket(context_, zmq::socket_type::rep, Options())) {
    control_.bind("tcp://127.0.0.1:*");
    OpenStream();
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeDaemon() {
    Update([this] { stop_ = true; });
    thread_.join();
  }

  std::string control() const {
    return absl::StrCat("127.0.0.1:", BoundPort(control_));
  }
  // One message of `frames` on the stream.
  void Publish(std::vector<std::string> frames) {
    Update([&] { outbox_.push_back(std::move(frames)); });
  }
  // Replaces the stream by one on a new port, as a restarted daemon would.
  // Returns once the old stream is closed.
  void MoveStream() {
    std::unique_lock<std::mutex> lock(mu_);
    move_ = true;
    changed_.wait(lock, [this] { return !move_; });
  }
  // What SOCK_STREAM is answered with instead of {port}.
  void AnswerSockStream(std::string reply) {
    Update([&] { sock_stream_reply_ = std::move(reply); });
  }
  // Waits until the current stream socket has a subscriber; its prefix.
  bool WaitForSubscriber(std::string* prefix = nullptr) {
    std::unique_lock<std::mutex> lock(mu_);
    const bool ok = changed_.wait_for(lock, absl::ToChronoSeconds(kPatience),
                                      [this] { return !prefixes_.empty(); });
    if (ok && prefix != nullptr) *prefix = prefixes_.front();
    return ok;
  }
  bool HasSubscriber() {
    std::lock_guard<std::mutex> lock(mu_);
    return !prefixes_.empty();
  }
  int sock_stream_requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return sock_stream_requests_;
  }

 private:
  template <typename F>
  void Update(F f) {
    std::lock_guard<std::mutex> lock(mu_);
    f();
  }
  SocketOptions Options() const {
    SocketOptions options;
    options.curve = curve_;
    return options;
  }
  void OpenStream() {
    stream_ = std::make_unique<zmq::socket_t>(
        MakeSocket(context_, zmq::socket_type::xpub, Options()));
    stream_->bind("tcp://127.0.0.1:*");
    stream_port_ = BoundPort(*stream_);
    prefixes_.clear();
  }
  void Loop() {
    while (true) {
      zmq::pollitem_t items[] = {{control_.handle(), 0, ZMQ_POLLIN, 0},
                                 {stream_->handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, std::chrono::milliseconds(2));
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      if (items[0].revents & ZMQ_POLLIN) ServeControl();
      if (items[1].revents & ZMQ_POLLIN) ReadSubscriptions();
      for (std::vector<std::string>& frames : outbox_) {
        std::vector<zmq::const_buffer> buffers;
        for (const std::string& f : frames) buffers.push_back(zmq::buffer(f));
        zmq::send_multipart(*stream_, buffers);
      }
      outbox_.clear();
      if (move_) {
        OpenStream();
        move_ = false;
        changed_.notify_all();
      }
    }
  }
  void ServeControl() {
    zmq::message_t request;
    if (!control_.recv(request)) return;
    absl::StatusOr<Value> doc =
        DecodeDocument(absl::string_view(request.data<char>(), request.size()));
    const Value* cmd = doc.ok() ? doc->Get("cmd") : nullptr;
    std::string reply = EncodeDocument(Value(Value::Map{{"error", "?"}}));
    if (cmd != nullptr && *cmd == Value("SOCK_STREAM")) {
      ++sock_stream_requests_;
      reply = sock_stream_reply_.empty()
                  ? EncodeDocument(Value(Value::Map{{"port", stream_port_}}))
                  : sock_stream_reply_;
    }
    control_.send(zmq::buffer(reply));
  }
  void ReadSubscriptions() {
    zmq::message_t message;
    while (stream_->recv(message, zmq::recv_flags::dontwait)) {
      if (message.size() > 0 && message.data<char>()[0] == 1) {
        prefixes_.emplace_back(message.data<char>() + 1, message.size() - 1);
        changed_.notify_all();
      }
    }
  }

  const absl::optional<CurveSocketOptions> curve_;
  zmq::context_t context_{1};
  zmq::socket_t control_;
  std::unique_ptr<zmq::socket_t> stream_;
  int stream_port_ = 0;
  std::thread thread_;

  std::mutex mu_;
  std::condition_variable changed_;
  bool stop_ = false;
  bool move_ = false;
  std::deque<std::vector<std::string>> outbox_;
  std::string sock_stream_reply_;
  std::vector<std::string> prefixes_;  // of the current stream socket
  int sock_stream_requests_ = 0;
};

struct Received {
  std::string type;
  std::string bson;
};

// The next event, or a failure after kPatience.
Received NextOf(StreamSubscriber& stream) {
  Received r;
  EXPECT_TRUE(stream.Next(&r.type, &r.bson, kPatience)) << "no event";
  return r;
}

StreamOptions OptionsFor(const FakeDaemon& daemon, std::string type,
                         absl::Duration rediscover_after = absl::Seconds(1)) {
  StreamOptions options;
  options.control = daemon.control();
  options.type = std::move(type);
  options.rediscover_after = rediscover_after;
  return options;
}

struct FilterCase {
  std::string filter;
  std::string prefix;                  // what the daemon sees subscribed
  std::vector<std::string> delivered;  // of kPublished, in order
};

// The types every filter case publishes, in this order.
const std::vector<std::string> kPublished = {"request.sql", "other", "request",
                                             "requests", "a"};

// The subscriber subscribes by the filter's prefix, so ZeroMQ drops most
// types at the daemon; it drops the rest ("request.sql" for "request").
TEST(StreamSubscriberTest, FiltersByTypeAndSubscribesByPrefix) {
  const std::vector<FilterCase> cases = {
      {"request", "request", {"request"}},
      {"request*", "request", {"request.sql", "request", "requests"}},
      {"", "", kPublished},
      {"*", "", kPublished},
  };
  for (const FilterCase& c : cases) {
    SCOPED_TRACE(c.filter);
    FakeDaemon daemon;
    StreamSubscriber stream(OptionsFor(daemon, c.filter));
    ASSERT_TRUE(stream.Connect().ok());
    std::string prefix = "unset";
    ASSERT_TRUE(daemon.WaitForSubscriber(&prefix));
    EXPECT_EQ(prefix, c.prefix);
    for (int i = 0; i < static_cast<int>(kPublished.size()); ++i) {
      daemon.Publish({kPublished[i], Doc(kPublished[i], i)});
    }
    for (const std::string& type : c.delivered) {
      const Received got = NextOf(stream);
      EXPECT_EQ(got.type, type);
      const auto index = std::find(kPublished.begin(), kPublished.end(), type);
      EXPECT_EQ(got.bson,
                Doc(type, static_cast<int>(index - kPublished.begin())));
    }
    std::string type, bson;
    EXPECT_FALSE(stream.Next(&type, &bson, absl::Milliseconds(100))) << type;
  }
}

using ::ziggy::testing::NewCurveKeyPair;

TEST(StreamSubscriberTest, CurveWithTheServersKeyStreams) {
  const CurveKeyPair server = NewCurveKeyPair();
  FakeDaemon daemon(CurveSocketOptions::Server(server));
  StreamOptions options = OptionsFor(daemon, "tick");
  options.curve =
      CurveSocketOptions::Client(NewCurveKeyPair(), server.public_key());
  StreamSubscriber stream(options);
  ASSERT_TRUE(stream.Connect().ok());
  ASSERT_TRUE(daemon.WaitForSubscriber());
  daemon.Publish({"tick", Doc("tick", 7)});
  EXPECT_EQ(NextOf(stream).bson, Doc("tick", 7));
  EXPECT_TRUE(stream.Health().ok());
}

TEST(StreamSubscriberTest, CurveWithAWrongServerKeyFailsInTime) {
  FakeDaemon daemon(CurveSocketOptions::Server(NewCurveKeyPair()));
  StreamOptions options = OptionsFor(daemon, "tick");
  options.control_timeout = absl::Milliseconds(500);
  options.curve = CurveSocketOptions::Client(NewCurveKeyPair(),
                                             NewCurveKeyPair().public_key());
  StreamSubscriber stream(options);
  const absl::Time start = absl::Now();
  const absl::Status connected = stream.Connect();
  EXPECT_EQ(connected.code(), absl::StatusCode::kUnavailable) << connected;
  EXPECT_NE(connected.message().find("server key"), std::string::npos)
      << connected;
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(daemon.sock_stream_requests(), 0);
}

TEST(StreamSubscriberTest, ManyEventsArriveInOrder) {
  FakeDaemon daemon;
  StreamSubscriber stream(OptionsFor(daemon, "tick"));
  ASSERT_TRUE(stream.Connect().ok());
  ASSERT_TRUE(daemon.WaitForSubscriber());
  constexpr int kEvents = 500;
  for (int i = 0; i < kEvents; ++i) daemon.Publish({"tick", Doc("tick", i)});
  for (int i = 0; i < kEvents; ++i) {
    const Received got = NextOf(stream);
    ASSERT_EQ(got.bson, Doc("tick", i)) << i;
  }
}

// A message that is not [type, bson] is skipped; a body that is not BSON is
// handed on as sent (the caller validates events, and says so: ziggyview
// reports "not a valid event skipped"); neither stops the stream.
TEST(StreamSubscriberTest, MalformedMessagesDoNotStopTheStream) {
  FakeDaemon daemon;
  StreamSubscriber stream(OptionsFor(daemon, "request"));
  ASSERT_TRUE(stream.Connect().ok());
  ASSERT_TRUE(daemon.WaitForSubscriber());
  daemon.Publish({"request"});
  daemon.Publish({"request", Doc("request", 1), "a third frame"});
  daemon.Publish({"request", "", ""});
  daemon.Publish({"request", "not bson"});
  daemon.Publish({"request", Doc("request", 2)});
  EXPECT_EQ(NextOf(stream).bson, "not bson");
  EXPECT_EQ(NextOf(stream).bson, Doc("request", 2));
}

TEST(StreamSubscriberTest, NextReturnsFalseAtItsDeadlineAndRediscovers) {
  FakeDaemon daemon;
  StreamSubscriber stream(
      OptionsFor(daemon, "request", absl::Milliseconds(50)));
  ASSERT_TRUE(stream.Connect().ok());
  EXPECT_EQ(daemon.sock_stream_requests(), 1);
  std::string type, bson;
  const absl::Time start = absl::Now();
  EXPECT_FALSE(stream.Next(&type, &bson, absl::Milliseconds(400)));
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(400));
  EXPECT_LT(took, absl::Seconds(3));
  // A quiet stream asks the control port again (the daemon may have moved).
  EXPECT_GE(daemon.sock_stream_requests(), 2);
  EXPECT_EQ(stream.reconnects(), 0);  // same port: no new subscription
  EXPECT_TRUE(type.empty());
  EXPECT_TRUE(bson.empty());

  const absl::Time again = absl::Now();
  EXPECT_FALSE(stream.Next(&type, &bson, absl::ZeroDuration()));
  EXPECT_LT(absl::Now() - again, absl::Seconds(1));
}

TEST(StreamSubscriberTest, FollowsTheStreamToANewPort) {
  FakeDaemon daemon;
  StreamSubscriber stream(
      OptionsFor(daemon, "request", absl::Milliseconds(50)));
  ASSERT_TRUE(stream.Connect().ok());
  ASSERT_TRUE(daemon.WaitForSubscriber());
  daemon.Publish({"request", Doc("request", 1)});
  EXPECT_EQ(NextOf(stream).bson, Doc("request", 1));

  daemon.MoveStream();
  const absl::Time deadline = absl::Now() + kPatience;
  std::string type, bson;
  while (!daemon.HasSubscriber() && absl::Now() < deadline) {
    stream.Next(&type, &bson, absl::Milliseconds(50));
  }
  ASSERT_TRUE(daemon.HasSubscriber());
  EXPECT_EQ(stream.reconnects(), 1);
  daemon.Publish({"request", Doc("request", 2)});
  EXPECT_EQ(NextOf(stream).bson, Doc("request", 2));
}

TEST(StreamSubscriberTest, ConnectFailsWhenTheControlPortIsSilent) {
  zmq::context_t context(1);
  zmq::socket_t silent(context, zmq::socket_type::rep);  // never answers
  silent.set(zmq::sockopt::linger, 0);
  silent.bind("tcp://127.0.0.1:*");
  StreamOptions options;
  options.control = absl::StrCat("127.0.0.1:", BoundPort(silent));
  options.control_timeout = absl::Milliseconds(200);
  StreamSubscriber stream(options);
  const absl::Time start = absl::Now();
  const absl::Status status = stream.Connect();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST(StreamSubscriberTest, ConnectFailsOnAReplyWithoutAPort) {
  FakeDaemon daemon;
  for (const Value& reply :
       {Value(Value::Map{}), Value(Value::Map{{"port", "3515"}}),
        Value(Value::Map{{"port", 1.5}})}) {
    daemon.AnswerSockStream(EncodeDocument(reply));
    StreamSubscriber stream(OptionsFor(daemon, ""));
    const absl::Status status = stream.Connect();
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss)
        << reply.DebugString() << ": " << status;
  }
  daemon.AnswerSockStream(EncodeDocument(Value(Value::Map{{"error", "no"}})));
  StreamSubscriber stream(OptionsFor(daemon, ""));
  EXPECT_EQ(stream.Connect().code(), absl::StatusCode::kFailedPrecondition);
  daemon.AnswerSockStream("not bson");
  EXPECT_EQ(stream.Connect().code(), absl::StatusCode::kDataLoss);
}

TEST(StreamSubscriberTest, HealthNamesAStreamThatCannotBeReached) {
  FakeDaemon daemon;
  // Port 1 (tcpmux): refused on any test machine, and never taken by a
  // test running beside this one, as a just-closed port 0 could be.
  daemon.AnswerSockStream(EncodeDocument(Value(Value::Map{{"port", 1}})));
  StreamOptions options = OptionsFor(daemon, "");
  options.control_timeout = absl::Milliseconds(200);
  StreamSubscriber stream(options);
  ASSERT_TRUE(stream.Connect().ok());
  EXPECT_TRUE(stream.Health().ok());  // not yet control_timeout
  const absl::Time deadline = absl::Now() + kPatience;
  std::string type, bson;
  absl::Status health;
  while ((health = stream.Health()).ok() && absl::Now() < deadline) {
    EXPECT_FALSE(stream.Next(&type, &bson, absl::Milliseconds(50)));
  }
  EXPECT_EQ(health.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(health.message().find("names its stream tcp://127.0.0.1:1,"),
            absl::string_view::npos)
      << health;
}

TEST(StreamSubscriberTest, HealthStaysOkWhileConnected) {
  FakeDaemon daemon;
  StreamOptions options = OptionsFor(daemon, "");
  options.control_timeout = absl::Milliseconds(100);
  StreamSubscriber stream(options);
  ASSERT_TRUE(stream.Connect().ok());
  ASSERT_TRUE(daemon.WaitForSubscriber());  // the connection is up
  std::string type, bson;
  EXPECT_FALSE(stream.Next(&type, &bson, absl::Milliseconds(300)));
  EXPECT_TRUE(stream.Health().ok()) << stream.Health();
}

}  // namespace
}  // namespace ziggy
