// Small files replaced atomically and durably (state snapshots, marks), and
// the directory helpers their users need. Every function does its I/O
// through `fs` (FileSystem::Default() unless a test injects another).

#ifndef ZIGGY_COMMON_DURABLE_FILE_H_
#define ZIGGY_COMMON_DURABLE_FILE_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/file_system.h"

namespace ziggy {

// Makes <dir>/<name> hold `bytes`, surviving a crash at any point either as
// before or as after: writes <name>.tmp, fdatasync()s it, renames it over
// <name> and fsync()s the directory. kResourceExhausted when the disk is
// full, kUnavailable for other I/O errors; <name> is as before then (unless
// only the directory sync failed). A new file gets `mode` (less the umask);
// 0600 keeps a secret from other users from the start.
absl::Status ReplaceFileDurably(const std::string& dir, const std::string& name,
                                absl::string_view bytes, mode_t mode = 0644,
                                FileSystem* fs = FileSystem::Default());

// mkdir -p: creates `path` and its missing parents.
absl::Status MakeDirectories(const std::string& path,
                             FileSystem* fs = FileSystem::Default());

// The whole file, or "" when it cannot be read.
std::string ReadFileOrEmpty(const std::string& path,
                            FileSystem* fs = FileSystem::Default());

}  // namespace ziggy

#endif  // ZIGGY_COMMON_DURABLE_FILE_H_
