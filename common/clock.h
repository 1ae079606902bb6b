// Clock: where daemons read the time, so tests can move it (file rotation
// by day and hour block is decided by the collector's clock).

#ifndef ZIGGY_COMMON_CLOCK_H_
#define ZIGGY_COMMON_CLOCK_H_

#include <atomic>
#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace ziggy {

// Unix seconds as the event record and STATUS carry them.
inline double UnixSeconds(absl::Time t) {
  return absl::ToDoubleSeconds(t - absl::UnixEpoch());
}

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // The process's real clock.
  static Clock* Real();
};

// A clock that stands still until moved. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start) : nanos_(absl::ToUnixNanos(start)) {}
  absl::Time Now() const override {
    return absl::FromUnixNanos(nanos_.load(std::memory_order_acquire));
  }
  void Advance(absl::Duration d) {
    nanos_.fetch_add(absl::ToInt64Nanoseconds(d), std::memory_order_acq_rel);
  }

 private:
  std::atomic<int64_t> nanos_;
};

}  // namespace ziggy

#endif  // ZIGGY_COMMON_CLOCK_H_
