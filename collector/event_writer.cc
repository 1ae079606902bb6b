#include "collector/event_writer.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>

#include "glog/logging.h"

namespace ziggy {

// Batches kept for reuse, and the largest buffer one keeps: a burst of
// large events must not pin its memory for good. A full batch (kFullBytes)
// of small events fits: ByteBuffer doubles from 256 bytes to 1 MiB.
constexpr size_t kMaxFreeBatches = 8;
constexpr size_t kMaxFreeBatchBytes = 1 << 20;
static_assert(EventBatch::kFullBytes * 2 <= kMaxFreeBatchBytes);

void EventBatch::Add(absl::string_view doc, size_t type_offset,
                     size_t type_size) {
  entries_.push_back(
      {static_cast<uint32_t>(bytes_.size()), static_cast<uint32_t>(doc.size()),
       static_cast<uint32_t>(type_offset), static_cast<uint32_t>(type_size)});
  bytes_.Append(doc);
}

void EventBatch::Clear() {
  bytes_.Clear();
  entries_.clear();
}

absl::string_view EventBatch::doc(size_t i) const {
  return absl::string_view(bytes_.data() + entries_[i].offset,
                           entries_[i].size);
}

absl::string_view EventBatch::type(size_t i) const {
  const Entry& e = entries_[i];
  return absl::string_view(bytes_.data() + e.offset + e.type_offset,
                           e.type_size);
}

// With acks waiting and the queue not empty, checkpoint at least this often.
constexpr absl::Duration kMaxAckDelay = absl::Milliseconds(50);

EventWriter::EventWriter(StoreOptions options, CollectorStats* stats,
                         Clock* clock, absl::Duration flush_interval,
                         RelayState* relay, int ack_fd,
                         FreeSpaceGuard* free_space, NatsAckSink nats_acks)
    : stats_(stats),
      clock_(clock),
      flush_interval_(flush_interval),
      store_(std::move(options), stats),
      relay_(relay),
      ack_fd_(ack_fd),
      free_space_(free_space),
      nats_acks_(std::move(nats_acks)) {
  if (relay_ != nullptr) {
    store_.set_on_open([this](const std::string& path, off_t size) {
      relay_->FileOpened(path, size);
    });
    store_.set_on_close([this](const std::string& path, off_t size) {
      relay_->FileClosed(path, size);
    });
  }
  thread_ = std::thread(&EventWriter::Run, this);
}

void EventWriter::TakeAcks(std::vector<RelayAck>* acks) {
  absl::MutexLock lock(&mu_);
  for (RelayAck& ack : ready_acks_) acks->push_back(std::move(ack));
  ready_acks_.clear();
}

void EventWriter::Checkpoint() {
  last_checkpoint_ = absl::Now();
  std::vector<std::pair<std::string, off_t>> lengths;
  const bool synced = store_.SyncOpenFiles(&lengths);
  // Once an event was dropped (or a sync failed: what was written is
  // unsure), no checkpoint may be recorded again: the
  // receiver already counts its batch as seen, so acknowledging anything
  // after it would make the forwarder's resend look like a duplicate. A
  // restart rolls back to the last checkpoint and takes the resends.
  if (stats_->dropped_write_error.load() != 0 || store_.durability_lost()) {
    given_up_ = true;
  }
  if (store_.durability_lost()) durability_lost_.store(true);
  if (!synced || given_up_) return;
  // Single writer: nothing was appended since SyncOpenFiles() flushed.
  const uint64_t written = stats_->written.load();
  std::vector<RelayAck> acked;
  if (absl::Status s = relay_->Commit(lengths, &acked); !s.ok()) {
    stats_->write_errors.fetch_add(1);
    LOG_EVERY_N(ERROR, 10) << "relay checkpoint failed: " << s;
    return;
  }
  stats_->checkpoint_written.store(written);
  // Events still waiting for their files are appended after this
  // checkpoint: they need the next one.
  written_since_checkpoint_ = store_.waiting_events() > 0;
  DeliverAcks(std::move(acked));
}

void EventWriter::DeliverAcks(std::vector<RelayAck> acked) {
  std::vector<RelayAck> nats;
  {
    absl::MutexLock lock(&mu_);
    for (RelayAck& ack : acked) {
      (ack.nats_sequence != 0 ? nats : ready_acks_).push_back(std::move(ack));
    }
  }
  if (!nats.empty() && nats_acks_) nats_acks_(std::move(nats));
  const uint64_t one = 1;
  ssize_t ignored = write(ack_fd_, &one, sizeof one);
  (void)ignored;
}

bool EventWriter::Write(const EventBatch& batch) {
  for (size_t i = 0; i < batch.size(); ++i) {
    // The disk refuses (full, failing, unwritable): hold the batch and
    // retry, so the queue fills and the receiver stops reading: forwarders
    // keep their events spooled, and nothing is dropped. Only shutting down
    // gives up, after one last try. Too little free space (--min-free-disk)
    // holds it the same way, except at that last try: shutting down writes
    // what it holds rather than drop it.
    bool last_try = false;
    while (!(last_try || free_space_ == nullptr ||
             free_space_->MayWrite(batch.doc(i).size())) ||
           !store_.Append(batch.type(i), batch.doc(i), batch.received)) {
      if (last_try) {
        const size_t lost = batch.size() - i;
        stats_->dropped_write_error.fetch_add(lost);
        LOG(ERROR) << "shutting down with " << lost
                   << " events the disk refused";
        return false;
      }
      {
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(&finishing_), flush_interval_);
        last_try = finishing_;
      }
      store_.Tick(clock_->Now());
    }
  }
  return true;
}

void EventWriter::ReleaseAcks() {
  if (given_up_) return;
  // In order: an ack covers every earlier index of its forwarder.
  const uint64_t appended = store_.oldest_waiting();
  while (!held_.empty() && held_.front().end_ticket <= appended) {
    HeldAcks& held = held_.front();
    relay_->Forget(held.forgotten);
    relay_->AddAcks(std::move(held.acks));
    held_.pop_front();
  }
}

EventWriter::~EventWriter() { Finish(); }

std::unique_ptr<EventBatch> EventWriter::NewBatch() {
  std::unique_ptr<EventBatch> batch;
  absl::MutexLock lock(&mu_);
  if (free_.empty()) {
    batch = std::make_unique<EventBatch>();
  } else {
    batch = std::move(free_.back());
    free_.pop_back();
  }
  // Under mu_: UnwrittenSince() sees it pending, or reads the clock first.
  batch->received = clock_->Now();
  filling_since_ = std::min(filling_since_, batch->received);
  return batch;
}

void EventWriter::FillingDone() {
  absl::MutexLock lock(&mu_);
  filling_since_ = absl::InfiniteFuture();
}

absl::Time EventWriter::UnwrittenSince() const {
  absl::MutexLock lock(&mu_);
  absl::Time oldest =
      std::min({filling_since_, writing_since_, waiting_since_, clock_->Now()});
  for (const std::unique_ptr<EventBatch>& batch : queue_) {
    oldest = std::min(oldest, batch->received);
  }
  return oldest;
}

void EventWriter::PublishWaiting() {
  const absl::Time waiting = store_.waiting_since();
  if (waiting == published_waiting_) return;
  published_waiting_ = waiting;
  absl::MutexLock lock(&mu_);
  waiting_since_ = waiting;
}

void EventWriter::Submit(std::unique_ptr<EventBatch> batch) {
  absl::MutexLock lock(&mu_);
  queued_bytes_ += batch->bytes();
  stats_->queued_bytes.store(queued_bytes_, std::memory_order_relaxed);
  queue_.push_back(std::move(batch));
  ++submitted_;
}

size_t EventWriter::queued_bytes() const {
  absl::MutexLock lock(&mu_);
  return queued_bytes_;
}

bool EventWriter::Flush(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const uint64_t target = submitted_;
  flush_requested_ = true;
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return flushed_ >= target;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

bool EventWriter::Process(std::unique_ptr<EventBatch> batch) {
  if (batch->size() > 0) written_since_checkpoint_ = true;
  if (!Write(*batch)) given_up_ = true;
  if (relay_ != nullptr && !given_up_ &&
      (!batch->acks.empty() || !batch->forgotten.empty())) {
    held_.push_back({std::move(batch->forgotten), std::move(batch->acks),
                     store_.next_ticket()});
  }
  batch->acks.clear();
  batch->forgotten.clear();
  batch->Clear();
  published_waiting_ = store_.waiting_since();
  absl::MutexLock lock(&mu_);
  // At once: its events are in files or waiting in the store now.
  writing_since_ = absl::InfiniteFuture();
  waiting_since_ = published_waiting_;
  if (free_.size() < kMaxFreeBatches &&
      batch->capacity() <= kMaxFreeBatchBytes) {
    free_.push_back(std::move(batch));
  }
  return queue_.empty();
}

void EventWriter::Run() {
  pthread_setname_np(pthread_self(), "ziggyd-writer");
  uint64_t processed = 0;
  absl::Time next_tick = absl::Now() + flush_interval_;
  while (true) {
    std::unique_ptr<EventBatch> batch;
    bool tick = false;
    bool finishing = false;
    // Until the next tick, not a whole interval from now: buffered events
    // must reach their files every flush interval, however the batches
    // before fell.
    const absl::Duration wait =
        store_.has_files_to_open()
            ? absl::ZeroDuration()
            : std::max(absl::ZeroDuration(), next_tick - absl::Now());
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !queue_.empty() || flush_requested_ || finishing_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), wait);
      if (!queue_.empty()) {
        batch = std::move(queue_.front());
        queue_.pop_front();
        writing_since_ = batch->received;
        queued_bytes_ -= batch->bytes();
        stats_->queued_bytes.store(queued_bytes_, std::memory_order_relaxed);
      }
      finishing = finishing_ && queue_.empty();
      // A flush waits for the queue to empty, then ticks.
      tick = queue_.empty() && flush_requested_;
      flush_requested_ = flush_requested_ && !tick;
    }
    bool queue_empty = true;
    if (batch != nullptr) {
      queue_empty = Process(std::move(batch));
      ++processed;
    }
    // New files open between batches, a slice at a time, so events of
    // types whose files are open never wait behind a flood of new types.
    store_.OpenWaitingFiles();
    PublishWaiting();
    ReleaseAcks();
    if (relay_ != nullptr && relay_->has_pending_acks() &&
        (queue_empty || finishing ||
         absl::Now() - last_checkpoint_ >= kMaxAckDelay)) {
      Checkpoint();
    }
    // The store's clock only decides idle closing; real time paces ticks.
    const absl::Time now = clock_->Now();
    if (tick || finishing || absl::Now() >= next_tick) {
      // Direct events get a checkpoint too (see written_since_checkpoint_):
      // a crash then loses at most about one flush interval of them.
      if (relay_ != nullptr && relay_->active() && written_since_checkpoint_) {
        Checkpoint();
      }
      store_.Tick(now);
      PublishWaiting();
      if (free_space_ != nullptr) free_space_->Tick();
      ReleaseAcks();
      next_tick = absl::Now() + flush_interval_;
      absl::MutexLock lock(&mu_);
      if (store_.waiting_events() == 0) flushed_ = processed;
    }
    if (finishing) break;
  }
  if (!store_.CloseAll(/*sync=*/true)) given_up_ = true;
  ReleaseAcks();
  if (relay_ != nullptr && relay_->active() && !given_up_) {
    // Record the final lengths, so a restart rolls nothing back.
    std::vector<RelayAck> acked;
    if (absl::Status s = relay_->Commit({}, &acked); !s.ok()) {
      LOG(ERROR) << "final relay checkpoint failed: " << s;
    }
    // The NATS source may still send its acks (the relay port is closed).
    DeliverAcks(std::move(acked));
  }
}

void EventWriter::Finish() {
  {
    absl::MutexLock lock(&mu_);
    finishing_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace ziggy
