// Crash-safe zstd compression of a closed event file, streaming in bounded
// buffers (never a whole file in memory), every step through a FileSystem
// so tests can fail each one.
//
// CompressFileDurably(path) makes `<path>.zst` (standard zstd frames whose
// decompression is exactly the bytes of `path`) and removes `path`:
//   1. write `<path>.zst.tmp`, fsync it;
//   2. verify it: decompress it and compare with `path`, both streaming;
//   3. rename it to `<path>.zst`, fsync the directory;
//   4. unlink `path`, fsync the directory.
// A crash at any moment leaves `path`, or `path` and `<path>.zst` (which
// ResolveTwin() settles at the next start), never neither and never a half
// file under the final name. A failure before the rename removes the .tmp
// and leaves `path` alone; after it, both stay.
//
// Thread-safety: plain functions; `path` must not be written meanwhile (a
// file appended to while it is compressed fails verification).

#ifndef ZIGGY_COLLECTOR_ZST_COMPRESS_H_
#define ZIGGY_COLLECTOR_ZST_COMPRESS_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/file_system.h"

namespace ziggy {

struct CompressOptions {
  FileSystem* fs = FileSystem::Default();  // not owned
  int level = 3;                           // ZSTD_CLEVEL_DEFAULT
  size_t chunk_bytes = 256 << 10;          // read (and written) at a time
  // Polled between chunks: true stops the compression (kCancelled; the
  // .tmp removed, `path` kept). Empty: never.
  std::function<bool()> stop;
};

struct CompressedFile {
  uint64_t original_bytes = 0;
  uint64_t compressed_bytes = 0;
};

// See the header comment. kCancelled when options.stop said so,
// kDataLoss when the verification found a difference, the FileSystem's
// errors otherwise.
absl::StatusOr<CompressedFile> CompressFileDurably(
    const std::string& path, const CompressOptions& options);

// Whether `zst` decompresses (streaming) to exactly the bytes of
// `original`: OK, kDataLoss when not, the FileSystem's errors.
absl::Status VerifyCompressed(const std::string& zst,
                              const std::string& original,
                              const CompressOptions& options);

// The suffix ResolveTwin() puts after `<path>.zst` (and a unix time) when
// it sets a differing .zst aside: `<path>.zst.conflict-<unix seconds>`. No
// reader, listing or lifecycle pass takes such a name (it is no event file:
// ParseLogFileName() refuses it), so it stays until an operator looks.
inline constexpr char kZstConflictSuffix[] = ".conflict-";

// `path` and `<path>.zst` both exist (after a crash, or a failure after
// CompressFileDurably()'s rename). Never deletes data:
//   - the .zst decompresses to exactly `path`: removes `path` (syncing the
//     directory); *kept_zst = true;
//   - the .zst differs in any way (the original grew, shrank or changed):
//     renames the .zst aside to `<path>.zst.conflict-<unix seconds>` (a
//     free such name, syncing the directory), keeps `path`;
//     *kept_zst = false and *set_aside (when not null) gets the new name.
// OK when settled either way; an error (both left as they were, or the
// failed step's state) when verifying, removing or renaming failed.
absl::Status ResolveTwin(const std::string& path,
                         const CompressOptions& options, bool* kept_zst,
                         std::string* set_aside = nullptr);

// Before ziggyd appends to the event file `path` again (the clock stepped
// back into a day whose file was compressed): when `<path>.zst` exists,
// makes `path` hold its events again, so new events follow them instead of
// hiding them (readers take an original over its .zst twin):
//   - both exist: ResolveTwin() first (an exact copy: the original goes;
//     a differing .zst is set aside, the original stays and is appended);
//   - only the .zst: decompressed (streaming) into `<path>.zst.tmp`,
//     fsynced, renamed to `path`, the directory fsynced, the .zst unlinked,
//     the directory fsynced. A crash leaves the .zst, or both as exact
//     copies (ResolveTwin() keeps the .zst), never neither. A .zst that
//     does not decompress is set aside as ResolveTwin() sets one aside.
// *restored_bytes (when not null) gets the bytes decompressed (0 when
// nothing was). OK when `path` may be appended to; an error when the .zst
// could not be read or the file made (then `path` must not be created).
absl::Status RestoreCompressedTwin(const std::string& path,
                                   const CompressOptions& options,
                                   uint64_t* restored_bytes = nullptr);

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_ZST_COMPRESS_H_
