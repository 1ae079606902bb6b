#include "client/internal/transport.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
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

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> Transport::Connect(
    const std::string& endpoint, const TransportOptions& options) {
  std::unique_ptr<Transport> transport(new Transport(endpoint, options));
  SocketOptions socket_options;
  socket_options.send_high_water_mark = options.send_high_water_mark;
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

size_t Transport::Drain(zmq::socket_t& socket, bool* blocked) {
  size_t moved = 0;
  *blocked = false;
  for (const auto& queue : io_queues_) {
    absl::string_view record;
    while (queue->ring.Peek(&record)) {
      zmq::send_result_t sent;
      try {
        sent = socket.send(zmq::const_buffer(record.data(), record.size()),
                           zmq::send_flags::dontwait);
      } catch (const zmq::error_t&) {
        sent.reset();
      }
      if (!sent) {
        *blocked = true;
        break;
      }
      queue->ring.Pop();
      ++moved;
    }
  }
  sent_.fetch_add(moved, std::memory_order_relaxed);
  return moved;
}

void Transport::Run(zmq::socket_t socket) {
  absl::Duration wait = kMinIdleWait;
  absl::Time deadline = absl::InfiniteFuture();
  while (true) {
    RefreshQueues();
    bool blocked = false;
    const size_t moved = Drain(socket, &blocked);
    if (stopping_.load()) {
      if (deadline == absl::InfiniteFuture()) {
        deadline = absl::Now() + options_.linger;
      }
      const bool drained =
          std::all_of(io_queues_.begin(), io_queues_.end(),
                      [](const auto& q) { return q->ring.empty(); });
      if (drained || absl::Now() >= deadline) break;
    }
    if (moved > 0 && !blocked) {
      wait = kMinIdleWait;
      continue;
    }
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&wake_), wait);
    wake_ = false;
    wait = std::min(wait * 2, kMaxIdleWait);
  }
  // What is still queued will never be sent.
  uint64_t left = 0;
  for (const auto& queue : io_queues_) {
    absl::string_view record;
    while (queue->ring.Peek(&record)) {
      queue->ring.Pop();
      ++left;
    }
  }
  dropped_at_shutdown_.fetch_add(left);
  // Let ZeroMQ push its own queue out for the rest of the linger.
  const absl::Duration rest =
      std::max(deadline - absl::Now(), absl::ZeroDuration());
  socket.set(zmq::sockopt::linger,
             static_cast<int>(absl::ToInt64Milliseconds(rest)));
  socket.close();
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
  stats.sent = sent_.load();
  stats.dropped_at_shutdown =
      dropped_at_shutdown_.load() + dropped_after_shutdown_.load();
  return stats;
}

}  // namespace ziggy::internal
