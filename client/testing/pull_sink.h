// The receiving end of a collect port, for tests: a ZeroMQ PULL socket
// that receives messages and splits them by the wire rule
// (client/format/wire.h).
//
// Thread-safety: a PullSink is used by one thread at a time.

#ifndef ZIGGY_CLIENT_TESTING_PULL_SINK_H_
#define ZIGGY_CLIENT_TESTING_PULL_SINK_H_

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/format/wire.h"
#include "gtest/gtest.h"
#include "zmq.hpp"

namespace ziggy::testing {

// A PULL socket on 127.0.0.1, port 0 (any) unless one is given.
class PullSink {
 public:
  explicit PullSink(zmq::context_t& context, int port = 0)
      : socket_(context, zmq::socket_type::pull) {
    socket_.set(zmq::sockopt::rcvtimeo, 100);
    socket_.set(zmq::sockopt::linger, 0);
    Bind(port == 0 ? "tcp://127.0.0.1:*"
                   : absl::StrCat("tcp://127.0.0.1:", port));
  }
  int port() const { return port_; }

  // Receives until `count` documents arrived in this call or `timeout`
  // passed; returns them, in arrival order. A message that breaks the wire
  // rule fails the test.
  std::vector<std::string> Receive(size_t count,
                                   absl::Duration timeout = absl::Seconds(20)) {
    std::vector<std::string> documents;
    const absl::Time deadline = absl::Now() + timeout;
    while (documents.size() < count && absl::Now() < deadline) {
      zmq::message_t message;
      if (!socket_.recv(message)) continue;
      const absl::string_view bytes(message.data<char>(), message.size());
      std::vector<absl::string_view> split;
      EXPECT_TRUE(SplitMessage(bytes, &split)) << "message of " << bytes.size();
      for (absl::string_view doc : split) documents.emplace_back(doc);
      message_sizes_.push_back(bytes.size());
      message_documents_.push_back(split.size());
    }
    return documents;
  }

  // Every message received so far: its size and how many documents it held.
  const std::vector<size_t>& message_sizes() const { return message_sizes_; }
  const std::vector<size_t>& message_documents() const {
    return message_documents_;
  }

 private:
  void Bind(const std::string& address) {
    // A port just released by another ZeroMQ socket is freed asynchronously.
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (true) {
      try {
        socket_.bind(address);
        break;
      } catch (const zmq::error_t& e) {
        if (e.num() != EADDRINUSE || absl::Now() > deadline) throw;
        absl::SleepFor(absl::Milliseconds(10));
      }
    }
    const std::string endpoint = socket_.get(zmq::sockopt::last_endpoint);
    EXPECT_TRUE(
        absl::SimpleAtoi(endpoint.substr(endpoint.rfind(':') + 1), &port_));
  }

  zmq::socket_t socket_;
  int port_ = 0;
  std::vector<size_t> message_sizes_;
  std::vector<size_t> message_documents_;
};

// A port on which nothing listens: bound, then released. Terminating the
// private context waits until the listening socket is really closed.
inline int UnusedPort() {
  zmq::context_t context;
  const int port = PullSink(context).port();
  context.close();
  return port;
}

}  // namespace ziggy::testing

#endif  // ZIGGY_CLIENT_TESTING_PULL_SINK_H_
