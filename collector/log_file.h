// LogFile: one append-only event file of the collector, with buffered,
// record-aware writes and torn-tail repair.
//
// Open() checks an existing file before appending: a torn last record (the
// writer died mid-write) is truncated away, so readers never meet garbage
// between whole events; a file damaged anywhere else is renamed aside
// (<path>.corrupt-<unix seconds>) and a fresh file started, so nothing in it
// is destroyed and new events stay readable.
//
// Append() only buffers; Flush() hands the buffer to the kernel with as few
// write() calls as possible. If a write fails part-way, whole records that
// reached the file are dropped from the buffer, the rest is kept for the next
// try, and needs_repair() asks the owner to reopen (which truncates the torn
// record) first, so a failure neither loses nor duplicates events.
//
// Sync() also tells the kernel that the synced whole pages will not be
// read again soon (POSIX_FADV_DONTNEED): event files are written once, so
// their pages would only crowd the page cache, and pages given back are
// reused for the next writes, which is cheaper than taking fresh ones. The
// last, partly written page is kept, so appending never reads it back.
// Readers of the files (ziggyview) read them from disk.
//
// Thread-safety: none; owned by the collector's writer thread.

#ifndef ZIGGY_COLLECTOR_LOG_FILE_H_
#define ZIGGY_COLLECTOR_LOG_FILE_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/format/byte_buffer.h"

namespace ziggy {

// What Open() found and did.
struct OpenReport {
  uint64_t repaired_bytes = 0;  // torn tail truncated
  std::string set_aside;        // where a corrupt file went, if it did
  std::string damage;           // what was wrong, for the log
};

class LogFile {
 public:
  // Creates parent directories and the file as needed. `verified_size`: a
  // size this process itself left the file at (skips the scan when the file
  // still has it), or -1.
  static absl::StatusOr<std::unique_ptr<LogFile>> Open(const std::string& path,
                                                       off_t verified_size,
                                                       OpenReport* report);
  ~LogFile();

  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  void Append(absl::string_view record);

  // Writes every buffered record. On error returns it (kResourceExhausted
  // for a full disk, kUnavailable otherwise) and keeps what was not written.
  absl::Status Flush();

  // fdatasync(), then drops the synced whole pages from the page cache.
  absl::Status Sync();
  // fdatasync() if anything was written since the last sync.
  absl::Status SyncIfWritten();

  // True when the path no longer names this file (removed or replaced).
  bool Removed() const;

  // Set after a failed Flush: reopen before appending more.
  bool needs_repair() const { return needs_repair_; }

  const std::string& path() const { return path_; }
  size_t pending_bytes() const { return pending_.size(); }
  uint64_t pending_records() const { return record_ends_.size(); }
  // The file's size after the last successful Flush.
  off_t size() const { return size_; }
  // Records written by the last Flush() call (also when it failed midway).
  uint64_t last_flushed_records() const { return last_flushed_records_; }

  // Takes the buffered, unwritten records (to move them to a reopened file).
  void MovePendingTo(LogFile* other);

 private:
  LogFile(std::string path, int fd, off_t size, dev_t dev, ino_t ino)
      : path_(std::move(path)), fd_(fd), size_(size), dev_(dev), ino_(ino) {}
  // Drops the first `bytes` written bytes' whole records from the buffer.
  void Consume(size_t bytes);

  const std::string path_;
  const int fd_;
  off_t size_;
  off_t synced_size_ = -1;
  off_t dropped_until_ = 0;  // pages below were handed back to the kernel
  const dev_t dev_;
  const ino_t ino_;
  ByteBuffer pending_;
  std::vector<uint32_t> record_ends_;  // offsets in pending_
  bool needs_repair_ = false;
  uint64_t last_flushed_records_ = 0;
};

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_LOG_FILE_H_
