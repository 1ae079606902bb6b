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
// A failed Sync() is final: after a failed fdatasync() a later one may
// succeed without the lost writes reaching the disk (Linux reports a failed
// writeback once), so every later Sync() fails too (kDataLoss) and the
// file can never again be claimed durable. Reopening it (a new LogFile)
// starts afresh.
//
// Every file operation goes through the FileSystem given to Open().
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
#include "common/file_system.h"

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
  // still has it), or -1. `fs` must outlive the file.
  static absl::StatusOr<std::unique_ptr<LogFile>> Open(
      const std::string& path, off_t verified_size, OpenReport* report,
      FileSystem* fs = FileSystem::Default());
  ~LogFile() = default;

  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  void Append(absl::string_view record);

  // Writes every buffered record. On error returns it (kResourceExhausted
  // for a full disk, kUnavailable otherwise) and keeps what was not written.
  absl::Status Flush();

  // fdatasync(), then drops the synced whole pages from the page cache.
  // kDataLoss without trying once a sync has failed (see above).
  absl::Status Sync();
  // fdatasync() if anything was written since the last sync (or one
  // failed).
  absl::Status SyncIfWritten();
  // A Sync() failed: what was written may not be on the disk, ever.
  bool sync_failed() const { return sync_failed_; }

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
  LogFile(std::string path, FileSystem* fs, std::unique_ptr<File> file,
          off_t size, FileInfo identity)
      : path_(std::move(path)),
        fs_(fs),
        file_(std::move(file)),
        size_(size),
        identity_(identity) {}
  // Opens the file once: a damaged one is set aside and nullptr returned.
  static absl::StatusOr<std::unique_ptr<LogFile>> OpenOnce(
      const std::string& path, off_t verified_size, OpenReport* report,
      FileSystem* fs);
  // Drops the first `bytes` written bytes' whole records from the buffer.
  void Consume(size_t bytes);

  const std::string path_;
  FileSystem* const fs_;
  const std::unique_ptr<File> file_;
  off_t size_;
  off_t synced_size_ = -1;
  off_t dropped_until_ = 0;  // pages below were handed back to the kernel
  const FileInfo identity_;  // which file path_ named when opened
  bool sync_failed_ = false;
  ByteBuffer pending_;
  std::vector<uint32_t> record_ends_;  // offsets in pending_
  bool needs_repair_ = false;
  uint64_t last_flushed_records_ = 0;
};

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_LOG_FILE_H_
