// Transport: hands encoded events to a ZeroMQ PUSH socket connected to a
// daemon's collect port, without ever blocking or throwing into the caller.
//
// Each recording thread gets its own bounded EventRing; one I/O thread drains
// every ring into the socket. When the daemon is away the socket queues up to
// its high-water mark, then the rings fill, then new events are dropped and
// counted. ZeroMQ reconnects by itself; queued events flow when the daemon
// returns. Shutdown() gives pending events a bounded linger.
//
// Batching (options.batch_bytes > 0): the I/O thread copies queued events
// back to back into a buffer (each event is a whole BSON document that
// starts with its own length) and hands the buffer itself to the socket as
// one message (no copy; batch_buffer.h) when it is full, when its first event
// has waited options.batch_delay, or at Flush/Shutdown. A recording thread
// wakes the I/O thread only when it sleeps idle (nothing queued, no batch
// open), so a busy I/O thread, or one holding a batch, costs producers no
// syscalls: at most one wake-up per batch. A rare lost wake-up (the producer's
// check races the I/O thread going idle) delays an event by at most the idle
// poll interval (5 ms). Without batching there are no wake-ups: the idle I/O
// thread polls (100 us doubling to 5 ms), as before batching existed.
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

#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/internal/batch_buffer.h"
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

  // The message being filled (I/O thread only).
  struct Batch {
    BatchBuffer* buffer = nullptr;  // whole documents back to back, or none
    uint64_t events = 0;
    absl::Time deadline;  // when its first event has waited batch_delay
  };

  Transport(std::string endpoint, const TransportOptions& options);
  ThreadQueue* QueueForThisThread();
  void Run(zmq::socket_t socket);
  // Moves records from every queue into the batch or the socket; sends the
  // batch when it is full, or when `force` or its deadline says so. Returns
  // how many records left the queues or the batch.
  size_t Drain(zmq::socket_t& socket, bool force, bool* blocked);
  // Moves one queue's records; false when the socket would block.
  bool DrainQueue(zmq::socket_t& socket, EventRing& ring, size_t* moved);
  // Hands `message` (holding `events` events) to the socket without
  // blocking; a refused message is left as it was.
  bool SendMessage(zmq::socket_t& socket, zmq::message_t& message,
                   uint64_t events);
  // Sends the batch if it holds anything; false when the socket would block.
  bool SendBatch(zmq::socket_t& socket);
  void AppendToBatch(absl::string_view record);
  // Empties the batch, giving up its buffer.
  void ReleaseBatch();
  void PublishBatch();
  // Sleeps up to `timeout` or until woken; `idle` lets producers wake it.
  void WaitForWork(absl::Duration timeout, bool idle);
  bool AnyQueued() const;
  // Counts what will never be sent (at the end of Run).
  void DropLeftovers();
  void RefreshQueues();
  TransportStats StatsLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Wake();
  // Producer side: one relaxed load unless the I/O thread sleeps idle.
  void WakeIfIdle() {
    if (ABSL_PREDICT_FALSE(io_idle_.load(std::memory_order_relaxed))) {
      WakeIdle();
    }
  }
  void WakeIdle();  // out of line: keeps Send()'s fast path short

  const uint64_t id_;  // distinguishes transports in thread-local caches
  const std::string endpoint_;
  const TransportOptions options_;
  const size_t batch_bytes_;  // options_.batch_bytes, capped; 0 = off
  // Before context_: messages of its buffers are released when the context
  // closes.
  BatchBufferPool batch_buffers_;
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

  std::atomic<bool> flush_requested_{false};
  // Set by the I/O thread while it sleeps with nothing to do; on its own
  // cache line, since every Send() reads it.
  alignas(64) std::atomic<bool> io_idle_{false};

  // I/O thread only.
  alignas(64) std::vector<std::shared_ptr<ThreadQueue>> io_queues_;
  uint64_t io_queues_version_ = ~uint64_t{0};
  Batch batch_;
  // The batch's events and bytes, published for Flush() and stats().
  std::atomic<uint64_t> batch_events_{0};
  std::atomic<uint64_t> batch_size_{0};

  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> messages_{0};
  std::atomic<uint64_t> dropped_at_shutdown_{0};
  std::atomic<uint64_t> dropped_after_shutdown_{0};
};

}  // namespace ziggy::internal

#endif  // ZIGGY_CLIENT_INTERNAL_TRANSPORT_H_
