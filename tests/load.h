// Load and the conservation oracle of the pipeline's process tests: every
// test event carries (sender, seq); whatever is killed on the way, the
// collectors' files must hold every event accepted exactly once.

#ifndef ZIGGY_TESTS_LOAD_H_
#define ZIGGY_TESTS_LOAD_H_

#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client/net/socket.h"
#include "tests/ziggyd.h"

namespace ziggy::testing {

using Sequences = std::multiset<std::pair<int64_t, int64_t>>;

// Sends (sender, seq) events to a collect port at a steady pace (at most 20
// every 2 ms) from its own thread, keeping the seqs that were handed to
// ZeroMQ.
class Load {
 public:
  // With `curve`, the collect port is reached over CurveZMQ.
  Load(std::string collect, int64_t sender,
       absl::optional<CurveSocketOptions> curve = absl::nullopt);
  ~Load() { Stop(); }
  // Stops sending; what ZeroMQ still holds is delivered (up to 2 s).
  void Stop() { Finish(2000); }
  // Stops sending and drops what ZeroMQ still holds: for a receiver that was
  // killed, where waiting would only let the time run out.
  void Abandon() { Finish(0); }
  int64_t sent() const { return sent_.load(); }

 private:
  void Finish(int linger_ms);
  // Waits `pace` or until Stop(); true when stopping.
  bool Stopping(absl::Duration pace);
  void Run();

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
bool Drained(Ziggyd& forwarder, absl::Duration timeout = absl::Seconds(60));

// STATUS spool.spooled of a forwarder.
int64_t Spooled(Ziggyd& forwarder);

// Events the forwarder's spool ever accepted: its indexes less those given
// up after unclean stops (spool.spooled - spool.skipped).
int64_t Accepted(Ziggyd& forwarder);

// Every seq 0..sent-1 of `sender` exactly once (gtest expectations).
void ExpectExactlyOnce(const Sequences& seen, int64_t sender, int64_t sent);

// No (sender, seq) twice (a gtest expectation).
void ExpectNoDuplicates(const Sequences& seen);

// The (sender, seq) of every event under all of `log_paths` together.
Sequences ReadPoolSequences(const std::vector<std::string>& log_paths);

}  // namespace ziggy::testing

#endif  // ZIGGY_TESTS_LOAD_H_
