// Small files replaced atomically and durably (state snapshots, marks).

#ifndef ZIGGY_COMMON_DURABLE_FILE_H_
#define ZIGGY_COMMON_DURABLE_FILE_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ziggy {

// Makes <dir>/<name> hold `bytes`, surviving a crash at any point either as
// before or as after: writes <name>.tmp, fdatasync()s it, renames it over
// <name> and fsync()s the directory. kResourceExhausted when the disk is
// full, kUnavailable for other I/O errors. A new file gets `mode` (less the
// umask); 0600 keeps a secret from other users from the start.
absl::Status ReplaceFileDurably(const std::string& dir, const std::string& name,
                                absl::string_view bytes, mode_t mode = 0644);

// fsync()s a directory, so entries created or renamed in it survive a
// crash.
absl::Status SyncDirectory(const std::string& dir);

// A Status for a failed system call on `path` (errno): kResourceExhausted
// when the disk is full, kUnavailable otherwise.
absl::Status ErrnoStatus(absl::string_view what, const std::string& path);

// mkdir -p: creates `path` and its missing parents.
absl::Status MakeDirectories(const std::string& path);

// The whole file, or "" when it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

}  // namespace ziggy

#endif  // ZIGGY_COMMON_DURABLE_FILE_H_
