// Spool: the forwarder's durable, append-only queue of accepted events.
//
// Layout under the spool directory:
//   id                          this forwarder's id, made once
//   token                       its secret for the relay (RELAY.md), made
//                               once, mode 0600
//   acked                       {acked: N}: every index below N was
//                               acknowledged by a collector
//   seg-<first index, 20 digits>.log
//                               records [u32 size][u32 crc32c][u64 index]
//                               [event], little-endian; the CRC covers the
//                               index and the event
//   reserved                    {reserved: R, skipped: S}: no index at or
//                               above R was ever used
//   downstream                  a tier's downstream marks, snapshot
//                               (downstream_marks.h), mode 0600
// A tier's segments also hold mark records (index field kSpoolMarkIndex,
// no index of their own), each before the events of one downstream batch,
// written with them in one write() (AppendBatch(); RELAY.md, "Tiers").
// Every event gets the next index for good; the collector deduplicates by
// (forwarder id, index), so resending is always safe. Indexes are reserved
// durably 2^24 at a time before use; after an unclean stop (kill -9, power
// loss) the spool goes on from the reservation, never reusing an index that
// a lost record may have had and a collector may have seen.
//
// Durability: Append() stages a record in memory; Flush() write()s what is
// staged in one call (the kernel has it: a killed forwarder loses nothing
// flushed) and only then publishes the new end_index(), so nothing staged is
// ever read, relayed or counted as spooled. The receiver flushes after each
// burst of events it takes from its socket, so a kill -9 loses at most what
// it had taken from ZeroMQ's queue in that burst, as it would lose ZeroMQ's
// queue itself.
//
// Against power loss, a thread of the spool's own makes every flushed record
// durable within sync_interval (group commit), so the receiver never waits
// for the disk: a record is durable once fdatasync()ed here or acknowledged
// by a collector (which acknowledges only what it has synced to its own
// disk). Every quarter interval the thread fdatasync()s only if some record
// flushed at least three quarters of an interval ago is neither. So while
// the collector keeps up, the spool is never synced: its segments are
// deleted once acknowledged, and their pages leave the page cache without
// ever being written to disk. Sync() flushes and fdatasync()s at once.
// After a failed fdatasync() a later one may succeed without the lost
// writes reaching the disk (Linux reports a failed writeback only once), so
// the records a failed sync was for count as durable only once a collector
// acknowledges them: synced_index() stays below them until then.
//
// Open() keeps every whole record, truncates a torn tail of the last
// segment, and counts it. Damage inside a segment is found when reading: the
// bad bytes are skipped to the next sound record and counted. Both use one
// SegmentScanner (segment_scanner.h). Acknowledge()
// records the acked mark durably before deleting any segment whose records
// are all below it.
//
// Reading: the events of recently flushed records are also kept in memory
// (up to memory_bytes, until acknowledged), and Read() serves them from
// there, so a relay that keeps up never reads the file back. Older indexes,
// and everything after a restart, come from the segments.
//
// Full: once segments total max_bytes, Append() refuses new events
// (kResourceExhausted); what is spooled is kept, and space returns as the
// collector acknowledges.
//
// Every file operation goes through SpoolOptions::fs, so tests can inject
// disk faults.
//
// Thread-safety: Append(), Flush() and Sync() from one thread (the
// receiver); Read() and Acknowledge() from another (the relay); GroupCommit()
// and the accessors from any.

#ifndef ZIGGY_FORWARDER_SPOOL_H_
#define ZIGGY_FORWARDER_SPOOL_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/file_system.h"
#include "forwarder/downstream_marks.h"
#include "forwarder/segment_scanner.h"

namespace ziggy {

struct SpoolOptions {
  std::string dir;
  uint64_t max_bytes = uint64_t{1} << 30;       // refuse events beyond
  uint64_t segment_bytes = uint64_t{64} << 20;  // start a new segment beyond
  // Every flushed record is durable (synced or acknowledged) within this;
  // zero: no group-commit thread (GroupCommit() and Sync() only).
  absl::Duration sync_interval = absl::Milliseconds(100);
  // Recently flushed events kept in memory for Read().
  size_t memory_bytes = size_t{32} << 20;
  // Every file operation; not owned, must outlive the spool.
  FileSystem* fs = FileSystem::Default();
  // A tier's spool (ziggy-forwarder --relay): Open() recovers the
  // downstream marks (downstream_marks.h) from the snapshot and every
  // segment, and Acknowledge() snapshots them before deleting segments.
  bool downstream = false;
  size_t max_downstream = 10000;  // marks kept in the snapshot at most
};

// Events read for one relay batch.
struct SpoolBatch {
  int64_t first = 0;   // the index the read started at
  int64_t end = 0;     // one past the last index read
  int32_t count = 0;   // events in `events` (fewer than end - first if damaged)
  std::string events;  // their BSON documents back to back
};

class Spool {
 public:
  static absl::StatusOr<std::unique_ptr<Spool>> Open(SpoolOptions options);
  ~Spool();

  const std::string& id() const { return id_; }
  const std::string& token() const { return token_; }

  // Stages one event; it is spooled at the next Flush(). kResourceExhausted
  // when full (counted in refused_full()), kUnavailable on I/O errors
  // (counted in write_failed()); the event was not staged then.
  absl::Status Append(absl::string_view event);
  // A tier's (options.downstream): spools a downstream forwarder's batch,
  // `events` with `forwarder`'s new `mark` (mark.at is filled in), as one
  // group in one write() after what is staged (downstream_marks.h), within
  // one segment. All or nothing: kResourceExhausted when full (nothing
  // counted: the downstream keeps the events and resends), kUnavailable on
  // I/O errors. Same thread as Append().
  absl::Status AppendBatch(absl::string_view forwarder, DownstreamMark mark,
                           const std::vector<absl::string_view>& events);
  // The downstream marks Open() recovered (with options.downstream).
  const DownstreamMarks& recovered_downstream() const {
    return recovered_downstream_;
  }
  // Asks the group-commit thread to sync now rather than at its next step
  // (a tier whose acknowledgements wait for synced_index()). Any thread.
  void SyncSoon();

  // Writes what is staged. On an I/O error the staged events are dropped
  // (counted in write_failed()) and the segment is left as it was.
  absl::Status Flush();
  // Flushes, then fdatasync()s. kDataLoss when the sync went through but
  // records an earlier failed sync was for are not acknowledged yet (see
  // above): synced_index() stays below them.
  absl::Status Sync();
  // One step of the group commit (the thread's, every quarter interval): if
  // a record flushed `grace` or longer before `now` is neither synced nor
  // acknowledged, fdatasync()s. Any thread.
  absl::Status GroupCommit(absl::Time now, absl::Duration grace);

  // Every index below this is durable: fdatasync()ed here, or acknowledged
  // by a collector.
  int64_t synced_index() const { return synced_.load(); }
  uint64_t syncs() const { return syncs_.load(); }
  uint64_t sync_errors() const { return sync_errors_.load(); }

  // Reads events with index >= from, at most max_events / about max_bytes.
  // An empty batch when there is nothing at or after `from` yet. When a
  // segment cannot be read, its error (an empty batch, nothing skipped: try
  // again).
  absl::Status Read(int64_t from, size_t max_events, size_t max_bytes,
                    SpoolBatch* batch);

  // Every index below `end` is acknowledged. Deletes segments that are
  // wholly acknowledged, after recording the mark durably.
  absl::Status Acknowledge(int64_t end);

  // One past the last index spooled. Indexes are never reused, and may
  // jump after an unclean stop (see skipped()).
  int64_t end_index() const { return end_.load(std::memory_order_acquire); }
  // Indexes given up after unclean stops: end_index() - skipped() records
  // were ever spooled.
  int64_t skipped() const { return skipped_; }
  int64_t acked() const { return acked_.load(std::memory_order_acquire); }
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  uint64_t refused_full() const { return refused_full_.load(); }
  uint64_t write_failed() const { return write_failed_.load(); }
  uint64_t damaged_records() const { return damaged_records_.load(); }
  uint64_t damaged_bytes() const { return damaged_bytes_.load(); }
  uint64_t repaired_tail_bytes() const { return repaired_tail_bytes_; }
  // Events Read() had to take from the segments rather than from memory.
  uint64_t read_from_disk() const { return read_from_disk_.load(); }
  uint64_t segments() const;

 private:
  struct Segment {
    std::string path;
    uint64_t size = 0;
  };
  // A read of the segments: what Read() asked for, and `end`, the published
  // end when it started.
  struct BatchRequest {
    int64_t from;
    int64_t end;
    size_t max_events;
    size_t max_bytes;
  };
  explicit Spool(SpoolOptions options) : options_(std::move(options)) {}
  absl::Status Recover();
  absl::Status LoadIdentity();  // id_ and token_, made on first use
  void ListSegments() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Deletes segments whose records are all below `acked`.
  absl::Status DropAcknowledgedSegments(int64_t acked)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cuts a torn tail off the last segment; returns one past its last index.
  absl::StatusOr<int64_t> RepairLastSegment(MarkGroups* groups)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Opens the last segment for appending, or starts one at `end`.
  absl::Status OpenActiveSegment(int64_t end, bool continue_last)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // fdatasync()s the active segment up to what was flushed; any thread.
  absl::Status DataSync();
  // Cuts what a failed append left past active_size_ (torn_); until that
  // succeeds nothing more is appended, so no record can follow the torn
  // bytes (where readers and recovery would take them for damage).
  absl::Status CutTornAppend();
  // Drops the staged events, counted as write_failed, and returns `why`.
  absl::Status RefuseStaged(absl::Status why);
  // How far a sync that reached `end` makes the records durable: not past
  // those an earlier failed sync was for, until they are acknowledged.
  int64_t DurableEnd(int64_t end);
  // Read() from the in-memory copies; false if `from` is not among them.
  bool ReadRecent(int64_t from, size_t max_events, size_t max_bytes,
                  SpoolBatch* batch);
  absl::Status ReadSegment(const BatchRequest& request, SpoolBatch* batch);
  // Adds the events of the scanned records to *batch until it is full.
  // *stop: where the next read of the segment starts; *done: the batch
  // ended before the segment did.
  absl::Status FillBatch(SegmentScanner& scanner, const std::string& path,
                         bool active, const BatchRequest& request,
                         SpoolBatch* batch, uint64_t* stop, bool* done);
  void CountDamage(const std::string& path, uint64_t bytes,
                   absl::string_view where);
  absl::Status SyncAll();  // every segment and the directory, on opening
  void CloseAcknowledgedSealed();
  void GroupCommitEvery(absl::Duration interval);  // the thread
  absl::Status StartSegment(int64_t first) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteAckedMark(int64_t acked);
  // Stages a record (index field `index`) holding `body`.
  void StageRecord(uint64_t index, absl::string_view body);
  // AppendBatch()'s checks: room, the segment, reserved indexes.
  absl::Status PrepareGroup(size_t bytes, size_t events);
  using MarkList = std::vector<std::pair<std::string, DownstreamMark>>;
  // Open()'s for a tier: reads the snapshot and the marks of whole groups
  // in every segment but the last (RepairLastSegment() scans that one).
  absl::Status ScanEarlierMarks() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ScanMarks(const Segment& segment, MarkGroups* groups);
  // recovered_downstream_: the snapshot, then every segment's marks.
  void CollectRecoveredMarks() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The marks of segments about to be deleted (oldest first) go into the
  // snapshot, durably, first.
  absl::Status FoldIntoSnapshot(const MarkList& marks);
  // Records durably that indexes below `reserved` may be in use.
  absl::Status Reserve(int64_t reserved);

  const SpoolOptions options_;
  DownstreamMarks recovered_downstream_;  // set by Open()
  // The durable snapshot's marks (the relay thread's, after Open()).
  DownstreamMarks snapshot_;
  // The marks of whole groups in each segment, by its first index.
  std::map<int64_t, MarkList> segment_marks_ ABSL_GUARDED_BY(mu_);
  std::string id_;
  std::string token_;

  mutable absl::Mutex mu_;
  std::map<int64_t, Segment> segments_ ABSL_GUARDED_BY(mu_);  // by first index

  // Appender.
  // The active segment; changed under mu_. Shared with DataSync(), which
  // may sync it while the appender seals it for a new segment.
  std::shared_ptr<File> file_;
  // Full segments written since the last sync: fdatasync()ed by the next
  // sync unless acknowledged by then.
  struct Sealed {
    std::shared_ptr<File> file;
    int64_t end;  // one past its last index
    bool active;  // the active segment, within DataSync()
  };
  std::vector<Sealed> sealed_ ABSL_GUARDED_BY(mu_);
  bool new_segments_ ABSL_GUARDED_BY(mu_) = false;  // directory to sync
  // Records [doubt_from_, doubt_end_) were written before a failed sync:
  // durable only once acknowledged.
  int64_t doubt_from_ ABSL_GUARDED_BY(mu_) = INT64_MAX;
  int64_t doubt_end_ ABSL_GUARDED_BY(mu_) = INT64_MIN;
  int64_t active_first_ = 0;
  uint64_t active_size_ = 0;  // written to fd_
  bool torn_ = false;         // a failed append left bytes past active_size_
  std::string staged_;        // records not yet written
  std::vector<uint32_t> staged_starts_;  // where each starts in staged_
  int64_t next_ = 0;                     // the index of the next record staged
  int64_t reserved_ = 0;  // durably reserved: next_ stays below it
  int64_t skipped_ = 0;   // see skipped(); changed only by Open()
  bool opened_ = false;   // Open() succeeded: a clean close may record it

  // Reader's cursor: where index `cursor_index_` starts.
  int64_t cursor_segment_ = -1;
  uint64_t cursor_offset_ = 0;
  int64_t cursor_index_ = -1;
  absl::Time last_persist_ = absl::InfinitePast();
  std::string read_buffer_;

  std::atomic<int64_t> end_{0};
  std::atomic<int64_t> acked_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> refused_full_{0};
  std::atomic<uint64_t> write_failed_{0};
  std::atomic<uint64_t> damaged_records_{0};
  std::atomic<uint64_t> damaged_bytes_{0};
  uint64_t repaired_tail_bytes_ = 0;
  std::atomic<uint64_t> read_from_disk_{0};

  // Records of indexes [first, end), back to back, in index order without
  // gaps: the bytes Flush() wrote lately (kept as written, so an event is
  // copied once on its way in). Event first + i is in the record starting
  // at starts[i]; a tier's mark records may sit between them.
  struct Recent {
    int64_t first;
    int64_t end;
    std::string records;
    std::vector<uint32_t> starts;  // of record first + i in `records`
  };
  // Appends the events of block's records from the i-th on to *batch until
  // it is full; returns one past the last record taken.
  static size_t TakeRecords(const Recent& block, size_t i, size_t max_events,
                            size_t max_bytes, SpoolBatch* batch);
  // Flush(): what was staged becomes the newest block of recent_, and
  // staging goes on in a spare block's buffers.
  void KeepRecent() ABSL_LOCKS_EXCLUDED(recent_mu_);
  // Drops recent_'s oldest block, keeping its buffers as a spare.
  void DropOldestRecent() ABSL_EXCLUSIVE_LOCKS_REQUIRED(recent_mu_);
  absl::Mutex recent_mu_;
  std::deque<Recent> recent_ ABSL_GUARDED_BY(recent_mu_);
  size_t recent_bytes_ ABSL_GUARDED_BY(recent_mu_) = 0;
  std::vector<Recent> spare_ ABSL_GUARDED_BY(recent_mu_);

  std::atomic<int64_t> synced_{0};
  std::atomic<uint64_t> syncs_{0};
  std::atomic<uint64_t> sync_errors_{0};
  absl::Mutex sync_mu_;  // held through DataSync()
  absl::Mutex commit_mu_;
  // end_index() as seen by recent steps, oldest first.
  std::deque<std::pair<absl::Time, int64_t>> commit_seen_
      ABSL_GUARDED_BY(commit_mu_);
  absl::Notification stop_syncing_;
  absl::Mutex wake_mu_;
  bool sync_soon_ ABSL_GUARDED_BY(wake_mu_) = false;
  std::thread syncer_;
};

}  // namespace ziggy

#endif  // ZIGGY_FORWARDER_SPOOL_H_
