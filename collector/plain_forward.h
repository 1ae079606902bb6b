// PlainForward: `ziggyd --forward=host:port`, as the original Python Ziggy
// had it: every event the collector accepts is also pushed to another daemon's
// collect port, best effort. Nothing is spooled or acknowledged: while the
// other end is down or slow, up to kQueueBytes (at most kMaxQueued events) wait
// in ZeroMQ and later ones are dropped and counted (`forwarded.dropped`). For
// delivery that survives crashes and outages, run ziggy-forwarder instead
// (forwarder/RELAY.md).
//
// Thread-safety: none; the collector's receive thread owns it.

#ifndef ZIGGY_COLLECTOR_PLAIN_FORWARD_H_
#define ZIGGY_COLLECTOR_PLAIN_FORWARD_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "client/format/value.h"
#include "zmq.hpp"

namespace ziggy {

class PlainForward {
 public:
  static constexpr size_t kQueueBytes = 256 << 20;
  static constexpr int kMaxQueued = 1000;

  explicit PlainForward(zmq::context_t& context) : context_(context) {}

  // Connects to `address` (host:port), for events of up to
  // `max_event_bytes`. kInvalidArgument for a bad address.
  absl::Status Connect(const std::string& address, size_t max_event_bytes);
  bool on() const { return !endpoint_.empty(); }

  // Queues one event without blocking; counts it sent or dropped.
  // REQUIRES: on().
  void Send(absl::string_view doc);

  // STATUS `forwarded`: {to, sent, dropped}.
  Value ToValue() const;

 private:
  zmq::context_t& context_;
  zmq::socket_t socket_;  // made by Connect
  std::string address_, endpoint_;
  uint64_t sent_ = 0, dropped_ = 0;
};

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_PLAIN_FORWARD_H_
