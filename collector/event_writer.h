// EventWriter: the collector's writer thread. It takes batches of received
// events, appends them to their files through an EventStore, opens the files
// new types wait for in slices between batches (EventStore::
// OpenWaitingFiles), and ticks the store every flush interval (so data
// reaches the kernel at least that often and idle files close). A relayed
// batch's acknowledgement waits until none of the events appended before it
// waits for a file.
//
// Thread-safety: every method may be called from any thread.

#ifndef ZIGGY_COLLECTOR_EVENT_WRITER_H_
#define ZIGGY_COLLECTOR_EVENT_WRITER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/format/byte_buffer.h"
#include "collector/event_store.h"
#include "collector/free_space.h"
#include "collector/relay_state.h"
#include "collector/stats.h"
#include "common/clock.h"

namespace ziggy {

// Events received together: their BSON documents back to back, and for each
// its place and its type (a view into the document itself).
class EventBatch {
 public:
  // Bytes past which a batch is full: its filler submits it and starts
  // another, so bursts of megabytes go to the writer in pieces it starts on
  // sooner, and each buffer stays small enough to be recycled (NewBatch)
  // instead of being allocated, grown and page-faulted afresh per burst.
  static constexpr size_t kFullBytes = 512 << 10;

  void Add(absl::string_view doc, size_t type_offset, size_t type_size);
  bool full() const { return bytes_.size() >= kFullBytes; }
  // Room for `events` more events of `bytes` in all, so Add() neither
  // allocates nor grows (copying) for them.
  void Reserve(size_t bytes, size_t events) {
    bytes_.Reserve(bytes);
    entries_.reserve(entries_.size() + events);
  }
  void Clear();
  size_t size() const { return entries_.size(); }
  size_t bytes() const { return bytes_.size(); }
  size_t capacity() const { return bytes_.capacity(); }
  absl::string_view doc(size_t i) const;
  absl::string_view type(size_t i) const;

  absl::Time received;
  // Acknowledgements owed once this batch is durable (relayed batches).
  std::vector<RelayAck> acks;
  // Forwarders the receive thread forgot (RelayState::Forget).
  std::vector<std::string> forgotten;

 private:
  struct Entry {
    uint32_t offset;
    uint32_t size;
    uint32_t type_offset;  // from the document's start
    uint32_t type_size;
  };
  ByteBuffer bytes_;
  std::vector<Entry> entries_;
};

class EventWriter {
 public:
  // Takes the NATS acks (RelayAck::nats_sequence > 0) a checkpoint
  // released, on the writer thread.
  using NatsAckSink = std::function<void(std::vector<RelayAck>)>;

  // `relay` (may be null: no relay port) records checkpoints; when acks are
  // ready, the writer writes 1 to `ack_fd` (an eventfd) so the owner calls
  // TakeAcks(). While `free_space` (may be null) says no, the writer holds
  // its batch as it does for a disk that refuses writes. NATS acks go to
  // `nats_acks` instead (the NATS source; null: there are none).
  EventWriter(StoreOptions options, CollectorStats* stats, Clock* clock,
              absl::Duration flush_interval, RelayState* relay = nullptr,
              int ack_fd = -1, FreeSpaceGuard* free_space = nullptr,
              NatsAckSink nats_acks = nullptr);
  ~EventWriter();  // Finish()

  // An empty batch to fill (recycled when possible), its `received` set to
  // the clock's Now(). Until FillingDone(), UnwrittenSince() counts it as
  // pending from that time on.
  std::unique_ptr<EventBatch> NewBatch();
  // Every batch NewBatch() gave so far was submitted or dropped (the
  // receive thread calls it after each round of filling).
  void FillingDone();

  // Queues a batch. Never blocks: callers bound memory by watching
  // queued_bytes().
  void Submit(std::unique_ptr<EventBatch> batch);
  size_t queued_bytes() const;

  // The receipt time of the oldest event not yet appended to its file, in
  // a batch being filled (since NewBatch(), until FillingDone()), queued,
  // being written or held (a refusing disk, --min-free-disk), or waiting in
  // the EventStore for its file; the clock's Now() when none is (what the
  // next batch would get). No event appended after this returns was
  // received before it (for a clock that does not go back). For the
  // storage lifecycle: a day is not done while it may still be written.
  // Cheap: one lock, a walk of the queue.
  absl::Time UnwrittenSince() const;

  // Waits until everything submitted so far is in the kernel. False on
  // timeout.
  bool Flush(absl::Duration timeout);

  // Writes out every queued batch, fdatasync()s and closes the files, and
  // stops the thread. Idempotent.
  void Finish();

  // Acknowledgements whose batches are durable, to send.
  void TakeAcks(std::vector<RelayAck>* acks);

  // True once a failed fdatasync() left what was written unsure while relay
  // checkpoints are on: no checkpoint can be recorded again, so a restart
  // will roll the files back to the last one, and every event accepted
  // from now on would be undone by it. The collector stops instead.
  bool durability_lost() const { return durability_lost_.load(); }

 private:
  void Run();
  // Appends the batch's events, waiting out a disk that refuses them.
  // False when shutting down made it give up on some (dropped, counted).
  bool Write(const EventBatch& batch);
  // Writes one batch from the queue, holds its acks, recycles it; returns
  // whether the queue is empty now.
  bool Process(std::unique_ptr<EventBatch> batch);
  // Makes everything appended durable and releases the pending acks.
  void Checkpoint();
  // Hands the acks a checkpoint released to their owners.
  void DeliverAcks(std::vector<RelayAck> acked);
  // Hands the held acks to the relay state once no event waits for its
  // file (only then are their batches wholly in files a checkpoint covers).
  void ReleaseAcks();
  // Publishes the store's waiting_since() for UnwrittenSince() when it
  // moved (after files opened).
  void PublishWaiting();

  CollectorStats* const stats_;
  Clock* const clock_;
  const absl::Duration flush_interval_;
  EventStore store_;  // writer thread only
  RelayState* const relay_;
  const int ack_fd_;
  FreeSpaceGuard* const free_space_;
  const NatsAckSink nats_acks_;
  absl::Time last_checkpoint_ = absl::InfinitePast();
  // Events were appended since the last checkpoint. Once relay checkpoints
  // are on, a restart rolls every file back to its checkpointed length, so
  // events from the plain collect port must be checkpointed too, at every
  // tick, or a crash would undo everything written since the forwarders
  // went quiet.
  bool written_since_checkpoint_ = false;
  // Set once events were dropped or a file could not be made durable at
  // the end: no checkpoint is recorded after that (see Checkpoint()).
  bool given_up_ = false;
  std::atomic<bool> durability_lost_{false};
  // Acks (and forgotten forwarders) of written batches, in batch order,
  // until every event of their batch has left the store's waiting state
  // (EventStore::oldest_waiting()).
  struct HeldAcks {
    std::vector<std::string> forgotten;
    std::vector<RelayAck> acks;
    uint64_t end_ticket;  // the store's next_ticket() after its batch
  };
  std::deque<HeldAcks> held_;

  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<EventBatch>> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<EventBatch>> free_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t submitted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t flushed_ ABSL_GUARDED_BY(mu_) = 0;  // batches in the kernel
  bool flush_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<RelayAck> ready_acks_ ABSL_GUARDED_BY(mu_);
  // For UnwrittenSince(), InfiniteFuture() when none: the oldest batch
  // given out since FillingDone(), the batch the writer thread has, and the
  // store's waiting_since() (also kept by the writer thread, unguarded, in
  // published_waiting_).
  absl::Time filling_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time writing_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time waiting_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time published_waiting_ = absl::InfiniteFuture();
  std::thread thread_;
};

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_EVENT_WRITER_H_
