// DaemonSockets as the daemons use it: the helpers, binding, the control
// port, the collect port and the stream, over real sockets.

#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "client/net/endpoint.h"
#include "client/reader/control.h"
#include "common/daemon_sockets.h"
#include "gtest/gtest.h"
#include "zmq.hpp"
#include "zmq_addon.hpp"

namespace ziggy {
namespace {

constexpr absl::Duration kPatience = absl::Seconds(10);

std::string HostPort(const std::string& endpoint) {
  return absl::StrCat("127.0.0.1:", EndpointPort(endpoint));
}

std::string Event(absl::string_view type, int seq, size_t pad = 0) {
  return EncodeDocument(Value(Value::Map{{"type", std::string(type)},
                                         {"seq", seq},
                                         {"pad", std::string(pad, 'p')}}));
}

TEST(DaemonSocketsTest, DefaultStreamAddressKeepsTheControlHost) {
  EXPECT_EQ(DefaultStreamAddress("*:3513"), "*:0");
  EXPECT_EQ(DefaultStreamAddress("127.0.0.1:3513"), "127.0.0.1:0");
  EXPECT_EQ(DefaultStreamAddress("[::1]:3513"), "[::1]:0");
  EXPECT_EQ(DefaultStreamAddress("::1:3513"), "::1:0");
  EXPECT_EQ(DefaultStreamAddress("localhost"), "localhost:0");
}

TEST(DaemonSocketsTest, MessagesInClampsTo16Through100000) {
  EXPECT_EQ(MessagesIn(size_t{1} << 20, 1024), 1024);
  EXPECT_EQ(MessagesIn(0, 1024), 16);
  EXPECT_EQ(MessagesIn(1000, 1000), 16);
  EXPECT_EQ(MessagesIn(size_t{1} << 30, 1), 100000);
  EXPECT_EQ(MessagesIn(size_t{1} << 30, 0), 100000);  // no division by zero
  EXPECT_EQ(MessagesIn(SIZE_MAX, 1), 100000);
  EXPECT_EQ(MessagesIn(SIZE_MAX, SIZE_MAX), 16);
}

TEST(DaemonSocketsTest, PortReplyIsAPortDocument) {
  for (const auto& [endpoint, port] : std::vector<std::pair<std::string, int>>{
           {"tcp://127.0.0.1:41234", 41234},
           {"tcp://[::1]:6", 6},
           {"garbage", -1}}) {
    absl::StatusOr<Value> doc = DecodeDocument(PortReply(endpoint));
    ASSERT_TRUE(doc.ok()) << doc.status();
    EXPECT_EQ(*doc, Value(Value::Map{{"port", port}})) << endpoint;
  }
}

TEST(DaemonSocketsTest, BindSocketNamesTheFlagOnBadAddresses) {
  zmq::context_t context(1);
  zmq::socket_t first(context, zmq::socket_type::pull);
  zmq::socket_t second(context, zmq::socket_type::pull);
  first.set(zmq::sockopt::linger, 0);
  second.set(zmq::sockopt::linger, 0);
  std::string endpoint;
  ASSERT_TRUE(BindSocket(first, "127.0.0.1:0", "collect", &endpoint).ok());
  EXPECT_GT(EndpointPort(endpoint), 0);
  EXPECT_EQ(endpoint.rfind("tcp://127.0.0.1:", 0), 0u) << endpoint;

  for (const char* bad :
       {"nonsense", "127.0.0.1:65536", ":3514", "1.2.3.4:x"}) {
    const absl::Status s = BindSocket(second, bad, "collect", &endpoint);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message().rfind("--collect: ", 0), 0u) << s;
  }
  const std::string taken = HostPort(endpoint);
  const absl::Status in_use = BindSocket(second, taken, "collect", &endpoint);
  EXPECT_EQ(in_use.code(), absl::StatusCode::kUnavailable) << in_use;
  EXPECT_NE(in_use.message().find("cannot bind --collect=" + taken),
            absl::string_view::npos)
      << in_use;
  // Not an address of this host (TEST-NET-1).
  EXPECT_EQ(BindSocket(second, "192.0.2.1:0", "collect", &endpoint).code(),
            absl::StatusCode::kUnavailable);
}

TEST(DaemonSocketsTest, BindFailsOnABadAddressNamingItsFlag) {
  DaemonSockets sockets("testd", 1 << 20);
  const absl::Status s =
      sockets.Bind({"127.0.0.1:0", "not an address", "", QueueLimits(), {}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("--collect"), absl::string_view::npos) << s;
}

// DaemonSockets bound on port 0, served by its own receive thread as a
// daemon does: STATUS answered from Status(), every good event published.
class RunningDaemon {
 public:
  explicit RunningDaemon(QueueLimits limits = QueueLimits())
      : sockets_("testd", 1 << 20) {
    bound_ = sockets_.Bind({"127.0.0.1:0", "127.0.0.1:0", "", limits, {}});
    if (bound_.ok()) thread_ = std::thread([this] { Loop(); });
  }
  ~RunningDaemon() {
    if (!thread_.joinable()) return;
    sockets_.Wake();
    thread_.join();
  }

  const absl::Status& bound() const { return bound_; }
  std::string control() const { return HostPort(sockets_.control_endpoint()); }
  const DaemonSockets& sockets() const { return sockets_; }

  // Waits until on_event has seen `n` events; all it has seen.
  std::vector<std::string> WaitForEvents(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait_for(lock, absl::ToChronoSeconds(kPatience),
                      [&] { return events_.size() >= n; });
    return events_;
  }
  Value Status() {
    absl::StatusOr<Value> status = CallControl(control(), "STATUS");
    EXPECT_TRUE(status.ok()) << status.status();
    return status.ok() ? *status : Value();
  }
  // Waits until STATUS `path` reads `want`.
  bool WaitForStatus(absl::string_view path, const Value& want) {
    const absl::Time deadline = absl::Now() + kPatience;
    while (absl::Now() < deadline) {
      const Value status = Status();
      if (status.Find(path) != nullptr && *status.Find(path) == want) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

 private:
  void Loop() {
    const DaemonSockets::OnEvent on_event = [this](absl::string_view doc,
                                                   const EventFields& fields) {
      sockets_.Publish(fields.type, doc);
      std::lock_guard<std::mutex> lock(mu_);
      events_.emplace_back(doc);
      changed_.notify_all();
    };
    while (true) {
      std::vector<zmq::pollitem_t> items = sockets_.PollItems(true);
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(-1));
      if (sockets_.Serve(items, on_event)) return;
    }
  }

  DaemonSockets sockets_;
  absl::Status bound_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::string> events_;
};

TEST(DaemonSocketsTest, ServesItsPortsAndStatusOverTheControlPort) {
  RunningDaemon daemon;
  ASSERT_TRUE(daemon.bound().ok()) << daemon.bound();
  const DaemonSockets& s = daemon.sockets();
  for (const auto& [command, endpoint] :
       std::vector<std::pair<std::string, std::string>>{
           {"SOCK_STREAM", s.stream_endpoint()},
           {"SOCK_COLLECT", s.collect_endpoint()},
           {"SOCK_CONTROL", s.control_endpoint()}}) {
    absl::StatusOr<Value> reply = CallControl(daemon.control(), command);
    ASSERT_TRUE(reply.ok()) << command << ": " << reply.status();
    EXPECT_GT(EndpointPort(endpoint), 0) << endpoint;
    EXPECT_EQ(*reply, Value(Value::Map{{"port", EndpointPort(endpoint)}}))
        << command;
  }
  // The stream listens on the control port's interface by default.
  EXPECT_EQ(s.stream_endpoint().rfind("tcp://127.0.0.1:", 0), 0u);

  const Value status = daemon.Status();
  EXPECT_EQ(*status.Get("daemon"), Value("testd"));
  EXPECT_EQ(*status.Get("pid"), Value(static_cast<int64_t>(getpid())));
  EXPECT_EQ(*status.Get("ports"),
            Value(Value::Map{{"control", EndpointPort(s.control_endpoint())},
                             {"collect", EndpointPort(s.collect_endpoint())},
                             {"stream", EndpointPort(s.stream_endpoint())}}));
  EXPECT_EQ(*status.Get("stream_subscribers"), Value(0));
  EXPECT_EQ(CallControl(daemon.control(), "FROB").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// A raw REQ on the control port: the reply to `frames`, or "" for none
// within `timeout`.
std::string RawRequest(const std::string& control,
                       const std::vector<std::string>& frames,
                       absl::Duration timeout) {
  zmq::context_t context(1);
  zmq::socket_t req(context, zmq::socket_type::req);
  req.set(zmq::sockopt::linger, 0);
  req.set(zmq::sockopt::rcvtimeo,
          static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  req.connect(*TcpEndpoint(control));
  std::vector<zmq::const_buffer> buffers;
  for (const std::string& f : frames) buffers.push_back(zmq::buffer(f));
  zmq::send_multipart(req, buffers);
  zmq::message_t reply;
  if (!req.recv(reply)) return "";
  return reply.to_string();
}

bool IsErrorReply(const std::string& reply) {
  absl::StatusOr<Value> doc = DecodeDocument(reply);
  return doc.ok() && doc->Get("error") != nullptr;
}

TEST(DaemonSocketsTest, BadControlRequestsAreAnsweredOrCutOff) {
  RunningDaemon daemon;
  ASSERT_TRUE(daemon.bound().ok()) << daemon.bound();
  const std::string control = daemon.control();
  EXPECT_TRUE(IsErrorReply(RawRequest(control, {"not bson!"}, kPatience)));
  // The largest request taken is answered (here: an error, not BSON).
  const std::string largest(kMaxControlRequestBytes, 'x');
  EXPECT_TRUE(IsErrorReply(RawRequest(control, {largest}, kPatience)));
  // One more byte and ZeroMQ cuts the connection: no reply ...
  EXPECT_EQ(RawRequest(control, {largest + "x"}, absl::Milliseconds(300)), "");
  // ... and the daemon goes on serving everyone else.
  const std::string status =
      EncodeDocument(Value(Value::Map{{"cmd", "STATUS"}}));
  EXPECT_FALSE(IsErrorReply(RawRequest(control, {status}, kPatience)));
  // Several frames get one reply, to the last.
  EXPECT_FALSE(IsErrorReply(RawRequest(control, {"x", status}, kPatience)));
  EXPECT_EQ(*daemon.Status().Get("daemon"), Value("testd"));
}

// A PUSH socket on the collect port, as a producer sends.
class Producer {
 public:
  explicit Producer(const std::string& collect)
      : socket_(context_, zmq::socket_type::push) {
    socket_.set(zmq::sockopt::linger, 1000);
    socket_.connect(collect);
  }
  void Send(const std::vector<std::string>& frames) {
    std::vector<zmq::const_buffer> buffers;
    for (const std::string& f : frames) buffers.push_back(zmq::buffer(f));
    ASSERT_TRUE(zmq::send_multipart(socket_, buffers));
  }

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_;
};

TEST(DaemonSocketsTest, GoodCollectedEventsReachOnEventOthersAreCounted) {
  RunningDaemon daemon;
  ASSERT_TRUE(daemon.bound().ok()) << daemon.bound();
  Producer producer(daemon.sockets().collect_endpoint());
  producer.Send({"not bson"});
  producer.Send({Event("a", 0), Event("a", 0)});  // one event is one frame
  producer.Send({EncodeDocument(Value(Value::Map{{"seq", 1}}))});  // no type
  for (int i = 1; i <= 3; ++i) producer.Send({Event("a", i)});
  const std::vector<std::string> events = daemon.WaitForEvents(3);
  EXPECT_EQ(events, (std::vector<std::string>{Event("a", 1), Event("a", 2),
                                              Event("a", 3)}));
  const Value status = daemon.Status();
  EXPECT_EQ(*status.Get("received"), Value(3));
  EXPECT_EQ(*status.Find("dropped.malformed"), Value(1));
  EXPECT_EQ(*status.Find("dropped.multipart"), Value(1));
  EXPECT_EQ(*status.Find("dropped.no_type"), Value(1));
  EXPECT_EQ(*status.Get("published"), Value(0));  // nobody subscribed
}

TEST(DaemonSocketsTest, PublishReachesSubscribersAndSkipsTooLargeEvents) {
  QueueLimits limits;
  limits.max_stream_event_bytes = 256;
  RunningDaemon daemon(limits);
  ASSERT_TRUE(daemon.bound().ok()) << daemon.bound();
  zmq::context_t context(1);
  zmq::socket_t sub(context, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::rcvtimeo,
          static_cast<int>(absl::ToInt64Milliseconds(kPatience)));
  sub.set(zmq::sockopt::subscribe, "a");
  sub.connect(daemon.sockets().stream_endpoint());
  ASSERT_TRUE(daemon.WaitForStatus("stream_subscribers", Value(1)));

  Producer producer(daemon.sockets().collect_endpoint());
  const std::string large = Event("a", 2, 300);
  ASSERT_GT(large.size(), limits.max_stream_event_bytes);
  for (const std::string& event :
       {Event("a", 1), large, Event("b", 3), Event("a", 4)}) {
    producer.Send({event});
  }
  for (const std::string& want : {Event("a", 1), Event("a", 4)}) {
    std::vector<zmq::message_t> frames;
    ASSERT_TRUE(zmq::recv_multipart(sub, std::back_inserter(frames)));
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0].to_string(), "a");
    EXPECT_EQ(frames[1].to_string(), want);
  }
  EXPECT_EQ(daemon.WaitForEvents(4).size(), 4u);
  const Value status = daemon.Status();
  EXPECT_EQ(*status.Find("stream_dropped.too_large"), Value(1));
  // "b" too: XPUB counts what it sent, not who took it.
  EXPECT_EQ(*status.Get("published"), Value(3));
}

}  // namespace
}  // namespace ziggy
