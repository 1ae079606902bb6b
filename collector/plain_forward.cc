#include "collector/plain_forward.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/net/endpoint.h"
#include "client/net/socket.h"
#include "common/daemon_sockets.h"
#include "glog/logging.h"

namespace ziggy {

absl::Status PlainForward::Connect(const std::string& address,
                                   size_t max_event_bytes) {
  absl::StatusOr<std::string> endpoint = TcpEndpoint(address);
  if (!endpoint.ok() || EndpointPort(*endpoint) <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--forward=", address,
                     ": give host:port of a collect "
                     "port"));
  }
  SocketOptions options;
  options.send_high_water_mark =
      std::min(MessagesIn(kQueueBytes, max_event_bytes), kMaxQueued);
  options.linger_ms = 1000;  // a bounded last try at exit
  socket_ = MakeSocket(context_, zmq::socket_type::push, options);
  if (absl::Status s = ConnectSocket(socket_, *endpoint); !s.ok()) return s;
  address_ = address;
  endpoint_ = *endpoint;
  return absl::OkStatus();
}

void PlainForward::Send(absl::string_view doc) {
  bool sent = false;
  try {
    sent = socket_
               .send(zmq::buffer(doc.data(), doc.size()),
                     zmq::send_flags::dontwait)
               .has_value();
  } catch (const zmq::error_t& e) {
    LOG_EVERY_N(WARNING, 1000) << "--forward: " << e.what();
  }
  if (sent) {
    ++sent_;
    return;
  }
  if (dropped_++ % 10000 == 0) {
    LOG(WARNING) << "--forward=" << address_
                 << " is not keeping up: " << dropped_
                 << " event(s) dropped so far";
  }
}

Value PlainForward::ToValue() const {
  return Value(
      Value::Map{{"to", address_}, {"sent", sent_}, {"dropped", dropped_}});
}

}  // namespace ziggy
