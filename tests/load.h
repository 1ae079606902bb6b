// Load: a steady stream of (sender, seq) test events to a collect port, and
// the conservation oracle's checks of the process tests (forwarder_test.cc,
// tier_test.cc).

#ifndef ZIGGY_TESTS_LOAD_H_
#define ZIGGY_TESTS_LOAD_H_

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client/net/socket.h"
#include "gtest/gtest.h"
#include "tests/process.h"
#include "tests/ziggyd.h"
#include "zmq.hpp"

namespace ziggy::testing {

using Sequences = std::multiset<std::pair<int64_t, int64_t>>;

// Sends (sender, seq) events to a collect port at a steady pace (at most 20
// every 2 ms) from its own thread, keeping the seqs that were handed to
// ZeroMQ.
class Load {
 public:
  // With `curve`, the collect port is reached over CurveZMQ.
  Load(std::string collect, int64_t sender,
       absl::optional<CurveSocketOptions> curve = absl::nullopt)
      : collect_(std::move(collect)),
        sender_(sender),
        curve_(std::move(curve)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Load() { Stop(); }
  // Stops sending; what ZeroMQ still holds is delivered (up to 2 s).
  void Stop() { Finish(2000); }
  // Stops sending and drops what ZeroMQ still holds: for a receiver that was
  // killed, where waiting would only let the time run out.
  void Abandon() { Finish(0); }
  int64_t sent() const { return sent_.load(); }

 private:
  void Finish(int linger_ms) {
    {
      absl::MutexLock lock(&mu_);
      if (!stop_) linger_ms_ = linger_ms;
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }
  // Waits `pace` or until Stop(); true when stopping.
  bool Stopping(absl::Duration pace) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stop_), pace);
    return stop_;
  }
  void Run() {
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

  const std::string collect_;
  const int64_t sender_;
  const absl::optional<CurveSocketOptions> curve_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int linger_ms_ ABSL_GUARDED_BY(mu_) = 2000;
  std::atomic<int64_t> sent_{0};
  std::thread thread_;
};

// Waits until the forwarder has nothing unacknowledged.
inline bool Drained(Ziggyd& forwarder,
                    absl::Duration timeout = absl::Seconds(60)) {
  return WaitFor(
      [&] {
        const Value status = forwarder.Status();
        const Value* pending = status.Find("spool.pending");
        return pending != nullptr && pending->AsInt() == 0;
      },
      timeout);
}

inline int64_t Spooled(Ziggyd& forwarder) {
  return static_cast<int64_t>(forwarder.StatusNumber("spool.spooled"));
}

// Events the forwarder's spool ever accepted: its indexes less those given
// up after unclean stops (never reused).
inline int64_t Accepted(Ziggyd& forwarder) {
  return Spooled(forwarder) -
         static_cast<int64_t>(forwarder.StatusNumber("spool.skipped"));
}

// Every seq 0..sent-1 of `sender` exactly once.
inline void ExpectExactlyOnce(const Sequences& seen, int64_t sender,
                              int64_t sent) {
  int64_t missing = 0, duplicated = 0;
  for (int64_t seq = 0; seq < sent; ++seq) {
    const size_t n = seen.count({sender, seq});
    missing += n == 0;
    duplicated += n > 1;
  }
  EXPECT_EQ(missing, 0) << "of " << sent;
  EXPECT_EQ(duplicated, 0) << "of " << sent;
}

inline void ExpectNoDuplicates(const Sequences& seen) {
  const std::set<std::pair<int64_t, int64_t>> distinct(seen.begin(),
                                                       seen.end());
  EXPECT_EQ(distinct.size(), seen.size());
}

// The (sender, seq) of every event under all of `log_paths` together.
inline Sequences ReadPoolSequences(const std::vector<std::string>& log_paths) {
  Sequences all;
  for (const std::string& path : log_paths) {
    const Sequences one = ReadSequences(path);
    all.insert(one.begin(), one.end());
  }
  return all;
}

// Restarts a collector on the same relay port and log path.
inline std::unique_ptr<Ziggyd> Restart(const std::string& logs,
                                       const std::string& relay,
                                       std::vector<std::string> flags = {}) {
  flags.push_back("--relay=" + relay);
  std::unique_ptr<Ziggyd> collector;
  WaitFor(
      [&] {
        collector = Ziggyd::Start(logs, flags);
        return collector != nullptr;
      },
      absl::Seconds(30), absl::Milliseconds(200));
  return collector;
}

}  // namespace ziggy::testing

#endif  // ZIGGY_TESTS_LOAD_H_
