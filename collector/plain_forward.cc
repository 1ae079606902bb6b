#include "collector/plain_forward.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/format/endpoint.h"
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
  socket_.set(zmq::sockopt::sndhwm,
              std::min(MessagesIn(kQueueBytes, max_event_bytes), kMaxQueued));
  socket_.set(zmq::sockopt::linger, 1000);  // a bounded last try at exit
  socket_.set(zmq::sockopt::ipv6, 1);
  socket_.connect(*endpoint);
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
