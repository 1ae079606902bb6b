// The process-wide state behind Configure(): where finished events go, and
// the host and pid stamped on them.
//
// The sink pointer is read lock-free on every event. A replaced sink is shut
// down but never freed, because a thread may still be inside it; Configure is
// meant for start-up, and each reconfiguration costs one small retired object.

#ifndef ZIGGY_CLIENT_INTERNAL_RUNTIME_H_
#define ZIGGY_CLIENT_INTERNAL_RUNTIME_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/ziggy.h"

namespace ziggy::internal {

// Where encoded events go. Implementations are thread-safe and never block
// for long or throw.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // `bson` is one encoded event, valid only during the call.
  virtual void Record(absl::string_view bson) = 0;
  virtual bool Flush(absl::Duration timeout) { return true; }
  virtual void Shutdown() {}
  virtual TransportStats stats() const { return {}; }
};

extern std::atomic<EventSink*> current_sink;

inline EventSink* CurrentSink() {
  return current_sink.load(std::memory_order_acquire);
}

// Installs `sink` as Configure() does (nullptr: unconfigured). For
// benchmarks and tests that need a sink of their own.
void InstallSink(std::unique_ptr<EventSink> sink);

struct ProcessInfo {
  std::string host;
  int32_t pid;
};
extern std::atomic<const ProcessInfo*> process_info;
// Read at Configure() time.
// REQUIRES: a sink was installed at least once.
inline const ProcessInfo& Process() {
  return *process_info.load(std::memory_order_acquire);
}

// The clock of event times (wall, Unix nanoseconds) and timers (monotonic
// nanoseconds), read several times per event. Where the kernel's clock
// source is the CPU's time-stamp counter ("tsc"), a reading is the TSC
// scaled from this thread's anchor: an rdtsc between clock_gettime
// (CLOCK_MONOTONIC) and (CLOCK_REALTIME) readings, taken again once it is
// kAnchorNanos old (and re-taken when the thread was preempted in the
// middle). The TSC's rate is measured against CLOCK_MONOTONIC from the
// process's first anchor on; until that has run kCalibrationNanos, or
// without a TSC clock source, every reading is clock_gettime. So a reading
// is well within a microsecond of clock_gettime's, costs an rdtsc instead
// of a vDSO call, and a wall-clock step shows within kAnchorNanos. A
// thread's monotonic readings never decrease. The process's first reading
// also reads the clock source's name from sysfs, once. Thread-safe.
inline constexpr int64_t kAnchorNanos = 1000000;
inline constexpr int64_t kCalibrationNanos = 20000000;
int64_t WallNanos();
int64_t MonotonicNanos();
// Whether readings come from the TSC yet (for tests).
bool ClockUsesTsc();

}  // namespace ziggy::internal

#endif  // ZIGGY_CLIENT_INTERNAL_RUNTIME_H_
