#include "client/reader/stream.h"

#include <string.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/net/endpoint.h"
#include "client/net/socket.h"
#include "client/reader/control.h"
#include "client/reader/log_files.h"
#include "zmq.hpp"
#include "zmq_addon.hpp"

namespace ziggy {

// The SUB socket, with a monitor that tells whether its TCP connection is
// up (ZeroMQ itself retries a refused connect in silence).
class StreamSubscriber::Socket {
 public:
  Socket(const std::string& endpoint, const std::string& prefix,
         const absl::optional<CurveSocketOptions>& curve)
      : endpoint_(endpoint),
        socket_(MakeSocket(context_, zmq::socket_type::sub, Options(curve))),
        monitor_(MakeSocket(context_, zmq::socket_type::pair, {})) {
    socket_.set(zmq::sockopt::subscribe, prefix);
    if (zmq_socket_monitor(socket_.handle(), "inproc://stream-monitor",
                           ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED) != 0) {
      throw zmq::error_t();
    }
    monitor_.connect("inproc://stream-monitor");
    socket_.connect(endpoint);
  }
  static SocketOptions Options(
      const absl::optional<CurveSocketOptions>& curve) {
    SocketOptions options;
    options.curve = curve;
    return options;
  }
  zmq::socket_t& get() { return socket_; }
  const std::string& endpoint() const { return endpoint_; }

  // Reads the monitor's pending events; true while connected.
  bool Connected() {
    std::vector<zmq::message_t> frames;
    while (zmq::recv_multipart(monitor_, std::back_inserter(frames),
                               zmq::recv_flags::dontwait)) {
      // Frame 1: u16 event, u32 value; frame 2: the endpoint.
      uint16_t event = 0;
      if (!frames.empty() && frames[0].size() >= sizeof event) {
        memcpy(&event, frames[0].data(), sizeof event);
        if (event == ZMQ_EVENT_CONNECTED) connected_ = true;
        if (event == ZMQ_EVENT_DISCONNECTED) connected_ = false;
      }
      frames.clear();
    }
    return connected_;
  }

 private:
  const std::string endpoint_;
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  zmq::socket_t monitor_;
  bool connected_ = false;
};

StreamSubscriber::StreamSubscriber(StreamOptions options)
    : options_(std::move(options)) {
  const size_t colon = options_.control.rfind(':');
  host_ = colon == std::string::npos ? options_.control
                                     : options_.control.substr(0, colon);
}

StreamSubscriber::~StreamSubscriber() = default;

absl::Status StreamSubscriber::Discover(absl::Duration timeout) {
  absl::StatusOr<Value> reply =
      CallControl(options_.control, "SOCK_STREAM", {},
                  ControlOptions{timeout, options_.curve});
  if (!reply.ok()) return reply.status();
  const Value* port = reply->Get("port");
  if (port == nullptr || port->kind() != Value::Kind::kInt) {
    return absl::DataLossError(
        absl::StrCat(options_.control, " answered SOCK_STREAM without a port"));
  }
  if (port->AsInt() == port_ && socket_ != nullptr) return absl::OkStatus();
  absl::StatusOr<std::string> endpoint =
      TcpEndpoint(host_, static_cast<int>(port->AsInt()));
  if (!endpoint.ok()) return endpoint.status();
  try {
    socket_ = std::make_unique<Socket>(
        *endpoint, SubscriptionPrefix(options_.type), options_.curve);
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot subscribe to ", *endpoint, ": ", e.what()));
  }
  if (port_ >= 0) ++reconnects_;
  port_ = static_cast<int>(port->AsInt());
  unconnected_since_ = absl::Now();
  return absl::OkStatus();
}

absl::Status StreamSubscriber::Health() {
  if (socket_ == nullptr || socket_->Connected()) {
    unconnected_since_ = absl::InfiniteFuture();
    return absl::OkStatus();
  }
  if (unconnected_since_ == absl::InfiniteFuture()) {
    unconnected_since_ = absl::Now();  // connected before, dropped now
  }
  if (absl::Now() - unconnected_since_ < options_.control_timeout) {
    return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat(
      options_.control, " names its stream ", socket_->endpoint(),
      ", which this host cannot connect to (is the daemon's --stream bound "
      "to an interface reachable from here?)"));
}

absl::Status StreamSubscriber::Connect() {
  quiet_since_ = absl::Now();
  return Discover(options_.control_timeout);
}

bool StreamSubscriber::Next(std::string* type, std::string* bson,
                            absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const absl::Time now = absl::Now();
    if (now - quiet_since_ >= options_.rediscover_after) {
      // Quiet: the daemon may have restarted on another port.
      Discover(absl::Milliseconds(500)).IgnoreError();
      quiet_since_ = absl::Now();
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    const auto wait = std::min(left, options_.rediscover_after);
    zmq::pollitem_t item{socket_->get().handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1,
              std::chrono::milliseconds(absl::ToInt64Milliseconds(wait) + 1));
    if (!(item.revents & ZMQ_POLLIN)) continue;
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(socket_->get(), std::back_inserter(frames),
                             zmq::recv_flags::dontwait) ||
        frames.size() != 2) {
      continue;
    }
    quiet_since_ = absl::Now();
    const absl::string_view t(frames[0].data<char>(), frames[0].size());
    if (!TypeMatches(options_.type, t)) continue;
    type->assign(t.data(), t.size());
    bson->assign(frames[1].data<char>(), frames[1].size());
    return true;
  }
}

}  // namespace ziggy
