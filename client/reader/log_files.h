// Finding the event files a collector wrote, by type and time, and the type
// filter syntax the tools share.
//
// The file layout itself is client/format/log_layout.h.

#ifndef ZIGGY_CLIENT_READER_LOG_FILES_H_
#define ZIGGY_CLIENT_READER_LOG_FILES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ziggy {

// "request" matches exactly that type; "request*" every type starting with
// "request"; "" and "*" every type.
bool TypeMatches(absl::string_view filter, absl::string_view type);

// The prefix a live-stream subscription needs for `filter`.
std::string SubscriptionPrefix(absl::string_view filter);

// Parses "YYYYMMDD" or "YYYYMMDD HH:MM" as UTC. A bare date stands for the
// start of that day, or with `end_of_range` for its last moment.
absl::StatusOr<absl::Time> ParseDate(absl::string_view text, bool end_of_range);

struct LogFileQuery {
  std::string log_path;
  std::string type;  // TypeMatches syntax
  absl::Time start = absl::InfinitePast();
  absl::Time end = absl::InfiniteFuture();
};

struct LogFileInfo {
  std::string path;
  std::string type;  // empty for a long type named by its hash, overflow
  absl::Time start;  // of the day or hour block
  absl::Time end;    // exclusive
};

// The files under query.log_path whose time span overlaps [start, end] and
// whose type matches, oldest first (then by type). Files whose stem names
// no one type are included whatever the filter, with an empty `type`, since
// their types are only known from the events inside: those of long, hashed
// type names and the overflow files (kOverflowStem, types beyond the
// collector's daily limit). kNotFound when log_path is missing.
absl::StatusOr<std::vector<LogFileInfo>> FindLogFiles(
    const LogFileQuery& query);

// open(path, O_RDONLY | O_CLOEXEC) for an event file, which ziggyd may
// compress between a listing and the open (--compress-after-days): when
// `path` is gone (ENOENT) and `<path>.zst` is there, that is opened
// instead. Its bytes decompress to exactly the original's, and readers
// recognise zstd input by its magic, so the events read are the same.
// Returns the descriptor, or -1 with errno from opening `path`.
int OpenLogFile(const std::string& path);

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_READER_LOG_FILES_H_
