#include "tests/load.h"

#include <set>

#include "gtest/gtest.h"
#include "zmq.hpp"

namespace ziggy::testing {

Load::Load(std::string collect, int64_t sender,
           absl::optional<CurveSocketOptions> curve)
    : collect_(std::move(collect)), sender_(sender), curve_(std::move(curve)) {
  thread_ = std::thread([this] { Run(); });
}

void Load::Finish(int linger_ms) {
  {
    absl::MutexLock lock(&mu_);
    if (!stop_) linger_ms_ = linger_ms;
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool Load::Stopping(absl::Duration pace) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stop_), pace);
  return stop_;
}

void Load::Run() {
  zmq::context_t context;
  SocketOptions options;
  options.send_high_water_mark = 100;
  options.curve = curve_;
  zmq::socket_t push = MakeSocket(context, zmq::socket_type::push, options);
  push.connect("tcp://" + collect_);
  int64_t seq = 0;
  while (!Stopping(absl::Milliseconds(2))) {
    for (int i = 0; i < 20; ++i) {
      const std::string event = ForeignEvent("load", sender_, seq);
      if (!push.send(zmq::buffer(event), zmq::send_flags::dontwait)) break;
      sent_.store(++seq);
    }
  }
  absl::MutexLock lock(&mu_);
  push.set(zmq::sockopt::linger, linger_ms_);
}

// Waits until the forwarder has nothing unacknowledged.
bool Drained(Ziggyd& forwarder, absl::Duration timeout) {
  return WaitFor(
      [&] {
        const Value status = forwarder.Status();
        const Value* pending = status.Find("spool.pending");
        return pending != nullptr && pending->AsInt() == 0;
      },
      timeout);
}

int64_t Spooled(Ziggyd& forwarder) {
  return static_cast<int64_t>(forwarder.StatusNumber("spool.spooled"));
}

// Every seq 0..sent-1 of `sender` exactly once.
int64_t Accepted(Ziggyd& forwarder) {
  return Spooled(forwarder) -
         static_cast<int64_t>(forwarder.StatusNumber("spool.skipped"));
}

void ExpectExactlyOnce(const Sequences& seen, int64_t sender, int64_t sent) {
  int64_t missing = 0, duplicated = 0;
  for (int64_t seq = 0; seq < sent; ++seq) {
    const size_t n = seen.count({sender, seq});
    missing += n == 0;
    duplicated += n > 1;
  }
  EXPECT_EQ(missing, 0) << "of " << sent;
  EXPECT_EQ(duplicated, 0) << "of " << sent;
}

void ExpectNoDuplicates(const Sequences& seen) {
  const std::set<std::pair<int64_t, int64_t>> distinct(seen.begin(),
                                                       seen.end());
  EXPECT_EQ(distinct.size(), seen.size());
}

Sequences ReadPoolSequences(const std::vector<std::string>& log_paths) {
  Sequences all;
  for (const std::string& path : log_paths) {
    const Sequences one = ReadSequences(path);
    all.insert(one.begin(), one.end());
  }
  return all;
}

}  // namespace ziggy::testing
