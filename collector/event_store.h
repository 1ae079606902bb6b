// EventStore: routes events to one file per type per UTC day (or per hour
// block) under the log directory:
//   <root>/<YYYYMMDD>/<stem>-<YYYYMMDD>.log         (rotate_hours = 24)
//   <root>/<YYYYMMDD>/<stem>-<YYYYMMDD>-<HH>.log    (blocks of rotate_hours,
//                                                    HH = the block's first
//                                                    hour)
// where <stem> is TypeFileStem(type). Each file is a plain concatenation of
// the events' BSON documents.
//
// Type names are data from the network, so each one may cost a file and an
// inode only up to a limit: at most max_types_per_day types get files of
// their own each UTC day (a type that has one keeps it all day, in every
// hour block; counted since this process started, so a restart mid-day
// may let as many again). Events of further new types go whole, with their own
// `type` field, to one overflow file per day or hour block,
//   <root>/<YYYYMMDD>/~overflow-<YYYYMMDD>[-<HH>].log
// (kOverflowStem, a stem TypeFileStem never makes). Memory per type is
// bounded the same way: the day's admitted stems, and a slot per type with
// an open or waiting file, released when idle.
//
// Opening a file (and, with relay checkpoints, recording it durably) is
// slow, so Append() never opens one: an event whose file is not open waits
// in memory, in order, and OpenWaitingFiles() opens files in slices of at
// most open_slice, so a flood of new types cannot hold up events of types
// whose files are open.
//
// Writes are batched per file and handed to the kernel when a file's buffer
// reaches flush_bytes and at every Tick() (the collector ticks at least every
// second). Tick() also closes files idle for idle_close, reopens files whose
// path was removed or replaced, and retries failed writes. A file holding
// events the disk refused is neither rotated nor evicted until they are
// written.
//
// A failed fdatasync() is final (see log_file.h): the file is closed
// without being reported to on_close, durability_lost() turns true, and
// SyncOpenFiles() fails from then on, so no relay checkpoint can claim what
// was written as durable; a restart rolls the files back to the last
// checkpoint instead.
//
// Every file operation goes through StoreOptions::fs.
//
// Thread-safety: none; owned by the collector's writer thread.

#ifndef ZIGGY_COLLECTOR_EVENT_STORE_H_
#define ZIGGY_COLLECTOR_EVENT_STORE_H_

#include <sys/types.h>

#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/log_file.h"
#include "collector/stats.h"
#include "common/file_system.h"

namespace ziggy {

// The paths of the event files a store has open, for other threads to ask
// (the storage lifecycle must not touch them), and the files the lifecycle
// claimed while it compresses or removes them: the store waits to open a
// claimed file until it is released, and Wanted() tells the claimant to
// finish soon. So a file is never opened between the lifecycle's check and
// its unlink (a clock stepped back into an old day). Thread-safe; each call
// holds the lock for a lookup, but Add() waits out a claim.
class OpenFileSet {
 public:
  // The store, before it opens `path`: waits while it is claimed.
  void Add(const std::string& path);
  void Remove(const std::string& path);
  bool Contains(const std::string& path) const;

  // Claims `path` when it is neither open nor claimed; false otherwise.
  bool TryClaim(const std::string& path);
  void Release(const std::string& path);
  // Whether the store waits in Add() for the claimed `path`.
  bool Wanted(const std::string& path) const;

 private:
  mutable absl::Mutex mu_;
  absl::CondVar released_;
  absl::flat_hash_map<std::string, int> open_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> claimed_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> wanted_ ABSL_GUARDED_BY(mu_);
};

struct StoreOptions {
  std::string root;              // the log directory
  int rotate_hours = 24;         // 1-24
  size_t flush_bytes = 1 << 20;  // per-file buffer
  // Events the disk refused, held in the files' buffers (all files); the
  // writer's queue holds what comes after them.
  size_t max_pending_bytes = 16 << 20;
  absl::Duration idle_close = absl::Seconds(60);
  size_t max_open_files = 256;
  // Types given files of their own per UTC day; the rest overflow.
  size_t max_types_per_day = 10000;
  // Time OpenWaitingFiles() may spend per call (it opens at least one).
  absl::Duration open_slice = absl::Milliseconds(20);
  // Every file operation; not owned, must outlive the store.
  FileSystem* fs = FileSystem::Default();
  // When set, every file open in the store is in it. Not owned.
  OpenFileSet* open_files = nullptr;
};

class EventStore {
 public:
  EventStore(StoreOptions options, CollectorStats* stats);
  ~EventStore();  // CloseAll(false)

  // Queues one event of `type` received at `received`: in its file's
  // buffer when the file is open, else waiting for OpenWaitingFiles(). False
  // when it cannot be taken now: the buffers are full (of events the disk
  // refused or of events waiting for files), or rotating the type's file
  // failed. Nothing is dropped then; the caller holds the event and tries
  // again after a Tick() (which retries writes and opens), so a full or
  // failing disk pushes back instead of losing events.
  // REQUIRES: !type.empty().
  bool Append(absl::string_view type, absl::string_view doc,
              absl::Time received);

  // Opens files that events wait for, oldest first, for about open_slice
  // (InfiniteDuration(): all of them), and appends those events. After a
  // failed open it stops and tries again no sooner than a tick later.
  void OpenWaitingFiles(absl::Duration budget);
  void OpenWaitingFiles() { OpenWaitingFiles(options_.open_slice); }
  // True when OpenWaitingFiles() has files to open now.
  bool has_files_to_open() const;
  // Events appended but waiting for their files.
  uint64_t waiting_events() const { return waiting_events_; }
  // No event waiting for its file was received before this (the start of
  // the oldest block one waits in); InfiniteFuture() when none waits.
  absl::Time waiting_since() const;

  // Every Append() that returned true took the next ticket (0, 1, ...).
  // Every event whose ticket is below oldest_waiting() is in its file's
  // buffer (or written); events may leave the waiting state out of order.
  uint64_t next_ticket() const { return next_ticket_; }
  uint64_t oldest_waiting() const {
    return waiting_tickets_.empty() ? next_ticket_ : *waiting_tickets_.begin();
  }

  // Opens waiting files (one slice), flushes every file, retries failures,
  // closes idle files and reopens removed ones.
  void Tick(absl::Time now);

  // Opens every waiting file, then flushes, optionally fdatasync()s, and
  // closes every file. False if any of it failed (events were dropped or a
  // file was not synced).
  bool CloseAll(bool sync);

  // Flushes and fdatasync()s every open file written since its last sync;
  // *lengths gets every open file's path and size. False if any failed,
  // and always once durability_lost().
  bool SyncOpenFiles(std::vector<std::pair<std::string, off_t>>* lengths);

  // A file's fdatasync() failed: what this process wrote may not be on the
  // disk, whatever later syncs say. Stays true.
  bool durability_lost() const { return durability_lost_; }

  // Called with each file's path and size when it is opened, before
  // anything is appended to it.
  void set_on_open(std::function<void(const std::string&, off_t)> on_open) {
    on_open_ = std::move(on_open);
  }
  // Called with each file's path and final size when it is closed; files
  // are fdatasync()ed before it when it is set.
  void set_on_close(std::function<void(const std::string&, off_t)> on_close) {
    on_close_ = std::move(on_close);
  }

  // The path of the file of `type` (or, for an empty type, the overflow
  // file) for events received at `t`.
  std::string PathFor(absl::string_view type, absl::Time t) const;

 private:
  struct Slot {
    int64_t block = -1;  // days*24 + first hour of the block
    std::unique_ptr<LogFile> file;
    absl::Time last_append;
    // Events waiting for the block's file, back to back, and their sizes.
    std::string waiting;
    std::vector<uint32_t> waiting_sizes;
    uint64_t first_waiting_ticket = 0;  // while waiting_sizes is not empty
  };

  // The slot's waiting events were appended or given up on.
  void StopWaiting(Slot& slot);

  // The block of `t`; the last one asked is remembered (a batch's events
  // share their receipt time), sparing its divisions.
  int64_t BlockOf(absl::Time t);
  int64_t Block(absl::Time t) const;
  std::string PathOf(absl::string_view key, int64_t block) const;
  // The slot of `type`, or of the overflow file (key "") when `type` has no
  // file this block and the day's types are used up. Remembered in recent_
  // until ForgetRecent() (slots may go).
  Slot& SlotFor(absl::string_view type, int64_t block);
  void ForgetRecent();
  // Whether `type` may have a file on the day of `block` (counting it).
  bool Admit(absl::string_view type, int64_t block);
  // Moves `slot` to `block`: its waiting events are written and its file
  // closed first. False if that failed (nothing changed then).
  bool Rotate(absl::string_view key, Slot& slot, int64_t block);
  // Opens the file `slot` waits for and appends its waiting events.
  bool OpenNow(absl::string_view key, Slot& slot);
  // Opens `path` for appending, counted in options_.open_files (waiting out
  // a lifecycle claim); null on failure (counted, logged).
  std::unique_ptr<LogFile> OpenFile(const std::string& path);
  // OpenFile() once `path` is counted open.
  std::unique_ptr<LogFile> OpenClaimed(const std::string& path);
  // Flushes `file` and accounts for it; false on failure.
  bool FlushFile(LogFile& file);
  // Flushes, syncs if `sync` or on_close_ is set, and closes *file (then
  // null). False when records could not be written (then dropped and
  // counted) or the sync failed (then on_close_ is not called: no later
  // sync could vouch for the file).
  bool CloseFile(std::unique_ptr<LogFile>& file, bool sync);
  // SyncIfWritten(), counting a failure; false then.
  bool SyncFile(LogFile& file);
  // Closes the least recently used file once what it holds is written; if
  // the disk refuses that, none (max_open_files is exceeded until it
  // recovers, rather than losing events).
  void EvictOldest();
  // Reopens (repairing) a file that needs it, keeping its pending records.
  void Reopen(Slot& slot);

  const StoreOptions options_;
  CollectorStats* const stats_;
  // By type; "" is the overflow file's. Bounded by the day's admitted
  // types: slots without a file or waiting events go at the next Tick().
  absl::node_hash_map<std::string, Slot> slots_;
  // The slots of the last two types appended, most recent first, while
  // they live (a client sends request and request.sql events in turn).
  struct Recent {
    absl::string_view type;
    Slot* slot = nullptr;
  };
  Recent recent_[2];
  absl::Time last_time_ = absl::InfinitePast();
  int64_t last_block_ = 0;  // BlockOf(last_time_)
  // Keys of slots waiting for a file, oldest first (an entry whose slot no
  // longer waits is skipped).
  std::deque<std::string> to_open_;
  uint64_t waiting_events_ = 0;
  uint64_t next_ticket_ = 0;
  std::set<uint64_t> waiting_tickets_;     // each waiting slot's first
  std::multiset<int64_t> waiting_blocks_;  // each waiting slot's block
  absl::Time next_open_try_ = absl::InfinitePast();  // after a failed open
  // Stems of the types with files on day `today_` (days since 1970).
  absl::flat_hash_set<std::string> types_today_;
  int64_t today_ = INT64_MIN;
  // Sizes this process left files at, so reopening skips the scan.
  absl::flat_hash_map<std::string, off_t> verified_sizes_;
  size_t pending_bytes_ = 0;
  bool durability_lost_ = false;
  std::function<void(const std::string&, off_t)> on_open_;
  std::function<void(const std::string&, off_t)> on_close_;
};

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_EVENT_STORE_H_
