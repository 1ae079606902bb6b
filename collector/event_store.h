// EventStore: routes events to one file per type per UTC day (or per hour
// block) under the log directory:
//   <root>/<YYYYMMDD>/<stem>-<YYYYMMDD>.log         (rotate_hours = 24)
//   <root>/<YYYYMMDD>/<stem>-<YYYYMMDD>-<HH>.log    (blocks of rotate_hours,
//                                                    HH = the block's first
//                                                    hour)
// where <stem> is TypeFileStem(type). Each file is a plain concatenation of
// the events' BSON documents.
//
// Writes are batched per file and handed to the kernel when a file's buffer
// reaches flush_bytes and at every Tick() (the collector ticks at least every
// second). Tick() also closes files idle for idle_close, reopens files whose
// path was removed or replaced, and retries failed writes. A file holding
// events the disk refused is neither rotated nor evicted until they are
// written.
//
// Thread-safety: none; owned by the collector's writer thread.

#ifndef ZIGGY_COLLECTOR_EVENT_STORE_H_
#define ZIGGY_COLLECTOR_EVENT_STORE_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "collector/log_file.h"
#include "collector/stats.h"

namespace ziggy {

struct StoreOptions {
  std::string root;                      // the log directory
  int rotate_hours = 24;                 // 1-24
  size_t flush_bytes = 1 << 20;          // per-file buffer
  // Events the disk refused, held in the files' buffers (all files); the
  // writer's queue holds what comes after them.
  size_t max_pending_bytes = 16 << 20;
  absl::Duration idle_close = absl::Seconds(60);
  size_t max_open_files = 256;
};

class EventStore {
 public:
  EventStore(StoreOptions options, CollectorStats* stats);
  ~EventStore();  // CloseAll(false)

  // Queues one event of `type` received at `received`. False when it cannot
  // be taken now: its file cannot be opened, or the buffers are full of
  // events the disk refused. Nothing is dropped then; the caller holds the
  // event and tries again after a Tick() (which retries the writes), so a
  // full or failing disk pushes back instead of losing events.
  // REQUIRES: !type.empty().
  bool Append(absl::string_view type, absl::string_view doc,
              absl::Time received);

  // Flushes every file, retries failures, closes idle files and reopens
  // removed ones.
  void Tick(absl::Time now);

  // Flushes, optionally fdatasync()s, and closes every file. False if any
  // of it failed (events were dropped or a file was not synced).
  bool CloseAll(bool sync);

  // Flushes and fdatasync()s every open file written since its last sync;
  // *lengths gets every open file's path and size. False if any failed.
  bool SyncOpenFiles(std::vector<std::pair<std::string, off_t>>* lengths);

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

  // The path an event of `type` received at `t` goes to.
  std::string PathFor(absl::string_view type, absl::Time t) const;

 private:
  struct Slot {
    int64_t block = -1;  // days*24 + first hour of the block
    std::unique_ptr<LogFile> file;
    absl::Time last_append;
  };

  int64_t BlockOf(absl::Time t) const;
  LogFile* FileFor(Slot& slot, absl::string_view type, absl::Time t);
  std::unique_ptr<LogFile> OpenFile(const std::string& path);
  // Flushes `file` and accounts for it; false on failure.
  bool FlushFile(LogFile& file);
  // Flushes, syncs if `sync` or on_close_ is set, and closes *file (then
  // null). A file whose sync fails stays open, and false is returned; so is
  // false when records could not be written (then dropped and counted).
  bool CloseFile(std::unique_ptr<LogFile>& file, bool sync);
  // Closes the least recently used file once what it holds is written; if
  // the disk refuses that, none (max_open_files is exceeded until it
  // recovers, rather than losing events).
  void EvictOldest();
  // Reopens (repairing) a file that needs it, keeping its pending records.
  void Reopen(Slot& slot);

  const StoreOptions options_;
  CollectorStats* const stats_;
  absl::node_hash_map<std::string, Slot> slots_;  // by type
  absl::string_view last_type_;  // the last Append's slot, while it lives
  Slot* last_slot_ = nullptr;
  // Sizes this process left files at, so reopening skips the scan.
  absl::flat_hash_map<std::string, off_t> verified_sizes_;
  size_t pending_bytes_ = 0;
  std::function<void(const std::string&, off_t)> on_open_;
  std::function<void(const std::string&, off_t)> on_close_;
};

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_EVENT_STORE_H_
