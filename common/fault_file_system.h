// FaultFileSystem: for tests, a FileSystem that passes every call to a real
// one (FileSystem::Default() unless given) and fails the calls it is told
// to, the way a failing disk would: fdatasync() with EIO, a write with
// ENOSPC, a short write (part of the data reaches the file, then an error),
// a rename with EIO, a read with EIO, a truncate with EIO.
//
// It also keeps what a crash would keep: per file, the size at its last
// successful Sync(). SimulateCrash() cuts every file it saw written back to
// that, and, like Linux after a failed writeback, zeroes the bytes whose
// Sync() failed even when a later Sync() succeeded.
//
//   FaultFileSystem fs;
//   fs.Inject({FaultOp::kSync, EIO, /*path_contains=*/"seg-"});
//   ... code under test gets &fs ...
//   EXPECT_EQ(fs.injected(), 1);
//
// Thread-safety: every method may be called from any thread.

#ifndef ZIGGY_COMMON_FAULT_FILE_SYSTEM_H_
#define ZIGGY_COMMON_FAULT_FILE_SYSTEM_H_

#include <errno.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/file_system.h"

namespace ziggy {

enum class FaultOp { kAppend, kSync, kRename, kRead, kTruncate };

// Which calls fail, and how.
struct Fault {
  FaultOp op = FaultOp::kSync;
  int error = EIO;            // the errno the call fails with
  std::string path_contains;  // only on paths containing this ("": any)
  int skip = 0;               // matching calls that succeed first (N-1)
  int times = 1;              // matching calls that fail then (-1: all)
  // kAppend: bytes that reach the file before the error (a short write);
  // capped at the data's size.
  size_t write_first = 0;
};

class FaultFileSystem : public FileSystem {
 public:
  explicit FaultFileSystem(FileSystem* base = FileSystem::Default())
      : base_(base) {}

  // Adds a fault; faults are checked in the order they were added.
  void Inject(Fault fault);
  // Removes every fault (what was recorded for crashes stays).
  void Clear();
  // Calls failed so far.
  int injected() const;
  // Calls of `op` made so far (failed or not).
  int calls(FaultOp op) const;

  // Makes every file written through this file system hold only what a
  // power loss now would have left (see above).
  absl::Status SimulateCrash();

  absl::StatusOr<std::unique_ptr<File>> Open(
      const std::string& path, const OpenOptions& options) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Truncate(const std::string& path, uint64_t size) override;
  absl::Status Remove(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDirectory(
      const std::string& dir) override;
  absl::StatusOr<FileInfo> Stat(const std::string& path) override;
  absl::Status CreateDirectory(const std::string& path) override;
  absl::Status SyncDirectory(const std::string& dir) override;

  // For the files this opens: the fault (if any) that fails this call of
  // `op` on `path`; counts the call.
  bool ShouldFail(FaultOp op, const std::string& path, Fault* fault);
  // A file's Sync() succeeded at `size` / failed at `size`.
  void Synced(const std::string& path, uint64_t size);
  void SyncFailed(const std::string& path, uint64_t size);
  // A file was cut to `size` (bytes past it are no longer at risk).
  void Truncated(const std::string& path, uint64_t size);

 private:
  // What a crash keeps of one file.
  struct Durability {
    uint64_t synced = 0;  // size at the last successful sync
    // [from, to): written before a failed sync, lost in a crash.
    std::vector<std::pair<uint64_t, uint64_t>> lost;
  };
  absl::Status CrashFile(const std::string& path, const Durability& d);

  FileSystem* const base_;
  mutable absl::Mutex mu_;
  struct Armed {
    Fault fault;
    int seen;  // matching calls so far
  };
  std::vector<Armed> faults_ ABSL_GUARDED_BY(mu_);
  std::map<FaultOp, int> calls_ ABSL_GUARDED_BY(mu_);
  int injected_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, Durability> files_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ziggy

#endif  // ZIGGY_COMMON_FAULT_FILE_SYSTEM_H_
