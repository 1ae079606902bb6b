// FileSystem: the file operations of the spool, the collector's event files
// and durable small files, behind an interface (in the manner of LevelDB's
// Env), so that tests can inject the faults a disk produces: a failed
// fdatasync, a full disk, a short write, a failed rename.
//
// Errors are absl::Status with the canonical codes: kResourceExhausted for a
// full disk (ENOSPC, EDQUOT), kAlreadyExists from CreateDirectory when the
// name is taken, kUnavailable for every other I/O error (a missing file
// included); the message names the operation, the path and the errno text.
//
// Ownership: Default() lives for the whole process; a File belongs to
// whoever opened it and closes its descriptor when destroyed.
//
// Thread-safety: a FileSystem may be used from any number of threads at once.
// A File may be used from several threads (the spool syncs from one while it
// appends from another): every method is a single system call on its
// descriptor, except Append(), which one thread at a time may call.
//
//   FileSystem* fs = FileSystem::Default();
//   absl::StatusOr<std::unique_ptr<File>> file =
//       fs->Open(path, OpenOptions::Append(/*create=*/true));
//   size_t written;
//   if (file.ok()) status = (*file)->Append(bytes, &written);

#ifndef ZIGGY_COMMON_FILE_SYSTEM_H_
#define ZIGGY_COMMON_FILE_SYSTEM_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ziggy {

// What an open() asks for. Writes go to the end of the file.
struct OpenOptions {
  bool read = true;     // Read() allowed
  bool append = false;  // Append() and Truncate() allowed
  bool create = false;  // create a missing file with `mode` (less umask)
  // Empty an existing file. It is then written sequentially from its
  // start rather than with O_APPEND (same bytes): do not Truncate() it.
  bool truncate = false;
  mode_t mode = 0644;

  static OpenOptions ReadOnly() { return OpenOptions(); }
  // Append-only (O_WRONLY | O_APPEND), creating the file when asked.
  static OpenOptions Append(bool create);
};

// Which file a path or a descriptor names, and its size.
struct FileInfo {
  uint64_t size = 0;
  uint64_t device = 0;
  uint64_t inode = 0;

  bool SameFile(const FileInfo& other) const {
    return device == other.device && inode == other.inode;
  }
};

// An open file. See the thread-safety note above.
class File {
 public:
  virtual ~File() = default;

  // Appends `data` at the end of the file. *written (always set) is how
  // many bytes reached the file: all of them on success, a prefix (perhaps
  // empty) on error.
  virtual absl::Status Append(absl::string_view data, size_t* written) = 0;
  // Reads up to `n` bytes at `offset` into *out (fewer at the end of the
  // file, none past it).
  virtual absl::Status Read(uint64_t offset, size_t n, std::string* out) = 0;
  // fdatasync(): what was appended before it is on the disk when it
  // returns OK. After an error, what was appended before may be lost even if
  // a later Sync() succeeds (Linux reports a failed writeback only once).
  virtual absl::Status Sync() = 0;
  virtual absl::Status Truncate(uint64_t size) = 0;
  virtual absl::StatusOr<FileInfo> Stat() = 0;
  // Advice that [offset, offset + length) will not be read again soon, so
  // its cached pages may go (POSIX_FADV_DONTNEED). May do nothing.
  virtual void DropCache(uint64_t offset, uint64_t length) = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // The POSIX file system. Never null; never destroyed.
  static FileSystem* Default();

  virtual absl::StatusOr<std::unique_ptr<File>> Open(
      const std::string& path, const OpenOptions& options) = 0;
  // The whole file.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // rename(): atomically replaces `to` if it exists.
  virtual absl::Status Rename(const std::string& from,
                              const std::string& to) = 0;
  virtual absl::Status Truncate(const std::string& path, uint64_t size) = 0;
  virtual absl::Status Remove(const std::string& path) = 0;  // unlink()
  // The names in `dir` (without "." and ".."), in no particular order.
  virtual absl::StatusOr<std::vector<std::string>> ListDirectory(
      const std::string& dir) = 0;
  virtual absl::StatusOr<FileInfo> Stat(const std::string& path) = 0;
  // mkdir(path, 0755); kAlreadyExists when something has that name.
  virtual absl::Status CreateDirectory(const std::string& path) = 0;
  // fsync()s a directory, so entries created or renamed in it survive a
  // crash.
  virtual absl::Status SyncDirectory(const std::string& dir) = 0;
  // rmdir(): removes an empty directory. Not pure, so that file systems
  // written before it need not change: the default calls rmdir() itself.
  virtual absl::Status RemoveDirectory(const std::string& dir);
};

// A Status for a failed system call on `path`, from errno: see the codes
// above.
absl::Status ErrnoStatus(absl::string_view what, const std::string& path);

}  // namespace ziggy

#endif  // ZIGGY_COMMON_FILE_SYSTEM_H_
