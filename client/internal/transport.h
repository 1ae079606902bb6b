// Transport: hands encoded events to a ZeroMQ PUSH socket connected to a
// daemon's collect port, without ever blocking or throwing into the caller.
//
// Each recording thread gets its own bounded EventRing; one I/O thread drains
// every ring into the socket. When the daemon is away the socket queues up to
// its high-water mark, then the rings fill, then new events are dropped and
// counted. ZeroMQ reconnects by itself; queued events flow when the daemon
// returns. Shutdown() gives pending events a bounded linger.
//
// Thread-safety: Send() from any thread; everything else from any thread.

#ifndef ZIGGY_CLIENT_INTERNAL_TRANSPORT_H_
#define ZIGGY_CLIENT_INTERNAL_TRANSPORT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/internal/event_ring.h"
#include "client/ziggy.h"
#include "zmq.hpp"

namespace ziggy::internal {

class Transport {
 public:
  // Connects (asynchronously: the daemon need not be up) to a ZeroMQ
  // endpoint such as "tcp://127.0.0.1:3514" and starts the I/O thread.
  static absl::StatusOr<std::unique_ptr<Transport>> Connect(
      const std::string& endpoint, const TransportOptions& options);

  ~Transport();  // Shutdown()

  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Queues one encoded event. Never blocks; drops and counts when full.
  void Send(absl::string_view bson);

  // Waits until every event queued so far was handed to the socket, or the
  // timeout passes. Returns whether the queues emptied.
  bool Flush(absl::Duration timeout);

  // Hands what it can to the daemon within options.linger, then closes the
  // socket and stops the I/O thread. Later Send()s are dropped and counted.
  // Idempotent.
  void Shutdown();

  TransportStats stats() const;

 private:
  // One recording thread's queue and its producer-side counters.
  struct ThreadQueue {
    explicit ThreadQueue(size_t bytes) : ring(bytes) {}
    EventRing ring;
    std::atomic<uint64_t> queued{0};
    std::atomic<uint64_t> dropped_full{0};
    std::atomic<uint64_t> dropped_too_large{0};
  };

  Transport(std::string endpoint, const TransportOptions& options);
  ThreadQueue* QueueForThisThread();
  void Run(zmq::socket_t socket);
  // Moves records from every queue into the socket; returns how many.
  size_t Drain(zmq::socket_t& socket, bool* blocked);
  void RefreshQueues();
  TransportStats StatsLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Wake();

  const uint64_t id_;  // distinguishes transports in thread-local caches
  const std::string endpoint_;
  const TransportOptions options_;
  zmq::context_t context_;
  std::thread io_thread_;

  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<ThreadQueue>> queues_ ABSL_GUARDED_BY(mu_);
  uint64_t queues_version_ ABSL_GUARDED_BY(mu_) = 0;
  // Counters of queues whose threads exited and were drained.
  TransportStats retired_ ABSL_GUARDED_BY(mu_);
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> stopped_{false};
  absl::Mutex shutdown_mu_;

  // I/O thread only.
  std::vector<std::shared_ptr<ThreadQueue>> io_queues_;
  uint64_t io_queues_version_ = ~uint64_t{0};

  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> dropped_at_shutdown_{0};
  std::atomic<uint64_t> dropped_after_shutdown_{0};
};

}  // namespace ziggy::internal

#endif  // ZIGGY_CLIENT_INTERNAL_TRANSPORT_H_
