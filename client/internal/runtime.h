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
// Read at Configure() time.
// REQUIRES: a sink was installed at least once.
const ProcessInfo& Process();

}  // namespace ziggy::internal

#endif  // ZIGGY_CLIENT_INTERNAL_RUNTIME_H_
