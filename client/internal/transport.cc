#include "client/internal/transport.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/format/wire.h"
#include "client/net/socket.h"

namespace ziggy::internal {
namespace {

std::atomic<uint64_t> next_transport_id{1};

// The calling thread's queue in the transport it last sent through. The
// queue outlives the thread: the I/O thread drains it after Close().
struct ThreadQueueRef {
  uint64_t transport_id = 0;
  std::shared_ptr<void> queue;  // ThreadQueue, typed by the owner
  EventRing* ring = nullptr;
  ~ThreadQueueRef() {
    if (ring != nullptr) ring->Close();
  }
};
thread_local ThreadQueueRef this_thread_queue;

constexpr absl::Duration kMinIdleWait = absl::Microseconds(100);
constexpr absl::Duration kMaxIdleWait = absl::Milliseconds(5);
// While a batch waits for more events, how often the I/O thread looks.
constexpr absl::Duration kHoldPoll = absl::Microseconds(200);
// Sent batches' buffers kept for reuse: enough for the ones in flight in
// ZeroMQ's I/O thread while the next fills.
constexpr size_t kIdleBatchBuffers = 4;

size_t CappedBatchBytes(const TransportOptions& options) {
  return std::min(options.batch_bytes, kMaxBatchBytes);
}

// The socket's high-water mark in messages (see TransportOptions).
int MessageHighWaterMark(const TransportOptions& options) {
  const size_t batch = CappedBatchBytes(options);
  if (batch == 0 || options.send_high_water_mark <= 0) {
    return options.send_high_water_mark;
  }
  const uint64_t messages =
      static_cast<uint64_t>(options.send_high_water_mark) * 1024 / batch;
  return static_cast<int>(std::max<uint64_t>(4, messages));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> Transport::Connect(
    const std::string& endpoint, const TransportOptions& options) {
  std::unique_ptr<Transport> transport(new Transport(endpoint, options));
  SocketOptions socket_options;
  socket_options.send_high_water_mark = MessageHighWaterMark(options);
  if (options.curve_key.has_value() != options.curve_server_key.has_value()) {
    return absl::InvalidArgumentError(
        "CurveZMQ needs both curve_key and curve_server_key, or neither");
  }
  if (options.curve_key.has_value()) {
    socket_options.curve = CurveSocketOptions::Client(
        *options.curve_key, *options.curve_server_key);
  }
  zmq::socket_t socket =
      MakeSocket(transport->context_, zmq::socket_type::push, socket_options);
  if (absl::Status s = ConnectSocket(socket, endpoint); !s.ok()) return s;
  transport->io_thread_ =
      std::thread(&Transport::Run, transport.get(), std::move(socket));
  return transport;
}

Transport::Transport(std::string endpoint, const TransportOptions& options)
    : id_(next_transport_id.fetch_add(1)),
      endpoint_(std::move(endpoint)),
      options_(options),
      batch_bytes_(CappedBatchBytes(options)),
      batch_buffers_(batch_bytes_, kIdleBatchBuffers),
      context_(1) {}

Transport::~Transport() { Shutdown(); }

Transport::ThreadQueue* Transport::QueueForThisThread() {
  ThreadQueueRef& ref = this_thread_queue;
  if (ref.transport_id != id_) {
    if (ref.ring != nullptr) ref.ring->Close();
    auto queue = std::make_shared<ThreadQueue>(options_.queue_bytes_per_thread);
    {
      absl::MutexLock lock(&mu_);
      queues_.push_back(queue);
      ++queues_version_;
    }
    ref.transport_id = id_;
    ref.ring = &queue->ring;
    ref.queue = std::move(queue);
  }
  return static_cast<ThreadQueue*>(ref.queue.get());
}

void Transport::Send(absl::string_view bson) {
  if (stopping_.load(std::memory_order_relaxed)) {
    dropped_after_shutdown_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ThreadQueue* queue = QueueForThisThread();
  // Only this thread writes its queue's counters: plain load + store.
  auto bump = [](std::atomic<uint64_t>& counter) {
    counter.store(counter.load(std::memory_order_relaxed) + 1,
                  std::memory_order_relaxed);
  };
  if (bson.size() > queue->ring.max_record_size()) {
    bump(queue->dropped_too_large);
  } else if (queue->ring.TryPush(bson)) {
    bump(queue->queued);
    WakeIfIdle();
  } else {
    bump(queue->dropped_full);
  }
}

void Transport::RefreshQueues() {
  absl::MutexLock lock(&mu_);
  // Retire queues whose thread exited and that are drained.
  auto kept = queues_.begin();  // the queues kept end here
  for (std::shared_ptr<ThreadQueue>& q : queues_) {
    if (q->ring.closed() && q->ring.empty()) {
      retired_.queued += q->queued.load();
      retired_.dropped_queue_full += q->dropped_full.load();
      retired_.dropped_too_large += q->dropped_too_large.load();
    } else {
      if (&*kept != &q) *kept = std::move(q);
      ++kept;
    }
  }
  if (kept != queues_.end()) {
    queues_.erase(kept, queues_.end());
    ++queues_version_;
  }
  if (io_queues_version_ != queues_version_) {
    io_queues_ = queues_;
    io_queues_version_ = queues_version_;
  }
}

size_t Transport::Drain(zmq::socket_t& socket, bool force, bool* blocked) {
  size_t moved = 0;
  *blocked = false;
  for (const auto& queue : io_queues_) {
    if (!DrainQueue(socket, queue->ring, &moved)) {
      *blocked = true;
      return moved;
    }
  }
  if (batch_.events > 0 && (force || absl::Now() >= batch_.deadline)) {
    if (!SendBatch(socket)) {
      *blocked = true;
      return moved;
    }
    ++moved;
  }
  return moved;
}

bool Transport::DrainQueue(zmq::socket_t& socket, EventRing& ring,
                           size_t* moved) {
  absl::string_view record;
  while (ring.Peek(&record)) {
    if (record.size() > batch_bytes_) {
      // Alone, after the batch so far (which may hold this thread's earlier
      // events).
      if (!SendBatch(socket)) return false;
      zmq::message_t alone(record.data(), record.size());
      if (!SendMessage(socket, alone, 1)) return false;
    } else {
      if (batch_.buffer != nullptr && record.size() > batch_.buffer->room() &&
          !SendBatch(socket)) {
        return false;
      }
      AppendToBatch(record);
    }
    ring.Pop();
    ++*moved;
  }
  return true;
}

bool Transport::SendMessage(zmq::socket_t& socket, zmq::message_t& message,
                            uint64_t events) {
  zmq::send_result_t sent;
  try {
    sent = socket.send(message, zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
    sent.reset();
  }
  if (!sent) return false;
  // Only this thread writes these counters: plain load + store.
  sent_.store(sent_.load(std::memory_order_relaxed) + events,
              std::memory_order_relaxed);
  messages_.store(messages_.load(std::memory_order_relaxed) + 1,
                  std::memory_order_relaxed);
  return true;
}

bool Transport::SendBatch(zmq::socket_t& socket) {
  if (batch_.events == 0) return true;
  // A refused message drops its reference; the batch keeps the buffer.
  zmq::message_t message = batch_.buffer->ToMessage();
  if (!SendMessage(socket, message, batch_.events)) return false;
  ReleaseBatch();
  return true;
}

void Transport::AppendToBatch(absl::string_view record) {
  if (batch_.events == 0) {
    batch_.deadline = absl::Now() + options_.batch_delay;
    batch_.buffer = batch_buffers_.Take();
  }
  batch_.buffer->Append(record);
  ++batch_.events;
  // Published before the ring's Pop(): Flush() finds the event in its ring
  // or in the batch, never in neither.
  PublishBatch();
}

void Transport::PublishBatch() {
  batch_events_.store(batch_.events, std::memory_order_relaxed);
  batch_size_.store(batch_.buffer == nullptr ? 0 : batch_.buffer->size(),
                    std::memory_order_relaxed);
}

void Transport::ReleaseBatch() {
  if (batch_.buffer != nullptr) batch_.buffer->Release();
  batch_.buffer = nullptr;
  batch_.events = 0;
  PublishBatch();
}

bool Transport::AnyQueued() const {
  return std::any_of(io_queues_.begin(), io_queues_.end(),
                     [](const auto& q) { return !q->ring.empty(); });
}

void Transport::WaitForWork(absl::Duration timeout, bool idle) {
  if (idle) {
    // seq_cst: a producer that pushes after this store and reads the flag
    // wakes us; one that pushed before it is seen by AnyQueued().
    io_idle_.store(true);
    if (AnyQueued()) {
      io_idle_.store(false, std::memory_order_relaxed);
      return;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&wake_), timeout);
    wake_ = false;
  }
  if (idle) io_idle_.store(false, std::memory_order_relaxed);
}

void Transport::Run(zmq::socket_t socket) {
  absl::Duration wait = kMinIdleWait;
  absl::Time deadline = absl::InfiniteFuture();
  while (true) {
    RefreshQueues();
    const bool stopping = stopping_.load();
    const bool force =
        stopping || (flush_requested_.load(std::memory_order_relaxed) &&
                     flush_requested_.exchange(false));
    bool blocked = false;
    const size_t moved = Drain(socket, force, &blocked);
    if (stopping) {
      if (deadline == absl::InfiniteFuture()) {
        deadline = absl::Now() + options_.linger;
      }
      const bool drained = batch_.events == 0 && !AnyQueued();
      if (drained || absl::Now() >= deadline) break;
    }
    if (moved > 0 && !blocked) {
      wait = kMinIdleWait;
    } else if (batch_.events > 0 && !blocked) {
      // Hold the batch for more events, up to its deadline.
      WaitForWork(std::min(batch_.deadline - absl::Now(), kHoldPoll), false);
    } else {
      // Producers wake an idle I/O thread only when batching: without it
      // the thread polls as it always did.
      WaitForWork(wait, !blocked && batch_bytes_ > 0);
      wait = std::min(wait * 2, kMaxIdleWait);
    }
  }
  DropLeftovers();
  // Let ZeroMQ push its own queue out for the rest of the linger.
  const absl::Duration rest =
      std::max(deadline - absl::Now(), absl::ZeroDuration());
  socket.set(zmq::sockopt::linger,
             static_cast<int>(absl::ToInt64Milliseconds(rest)));
  socket.close();
}

void Transport::DropLeftovers() {
  uint64_t left = batch_.events;
  ReleaseBatch();
  for (const auto& queue : io_queues_) {
    absl::string_view record;
    while (queue->ring.Peek(&record)) {
      queue->ring.Pop();
      ++left;
    }
  }
  dropped_at_shutdown_.fetch_add(left);
}

ABSL_ATTRIBUTE_NOINLINE void Transport::WakeIdle() {
  if (io_idle_.exchange(false)) Wake();
}

void Transport::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

bool Transport::Flush(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    bool empty = true;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& q : queues_) empty = empty && q->ring.empty();
      // After the rings: an event leaves its ring after entering the batch.
      empty = empty && batch_events_.load(std::memory_order_relaxed) == 0;
      if (!empty) flush_requested_.store(true);
      wake_ = true;
    }
    if (empty) return true;
    if (absl::Now() >= deadline || stopped_.load()) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
}

void Transport::Shutdown() {
  absl::MutexLock lock(&shutdown_mu_);
  if (stopped_.load()) return;
  stopping_.store(true);
  Wake();
  if (io_thread_.joinable()) io_thread_.join();
  context_.close();
  {
    // Free the rings now; keep their counters.
    absl::MutexLock lock(&mu_);
    retired_ = StatsLocked();
    retired_.pending_bytes = 0;
    queues_.clear();
    ++queues_version_;
  }
  stopped_.store(true);
}

TransportStats Transport::stats() const {
  absl::MutexLock lock(&mu_);
  return StatsLocked();
}

TransportStats Transport::StatsLocked() const {
  TransportStats stats = retired_;
  for (const auto& q : queues_) {
    stats.queued += q->queued.load(std::memory_order_relaxed);
    stats.dropped_queue_full += q->dropped_full.load(std::memory_order_relaxed);
    stats.dropped_too_large +=
        q->dropped_too_large.load(std::memory_order_relaxed);
    stats.pending_bytes += q->ring.used_bytes();
  }
  stats.pending_bytes += batch_size_.load(std::memory_order_relaxed);
  stats.sent = sent_.load();
  stats.messages = messages_.load();
  stats.dropped_at_shutdown =
      dropped_at_shutdown_.load() + dropped_after_shutdown_.load();
  return stats;
}

}  // namespace ziggy::internal
