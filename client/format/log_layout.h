// Where event files live: the one description of the collector's file
// layout, used by the collector that writes the files and by the tools that
// find them again.
//
//   <root>/<YYYYMMDD>/<stem>-<YYYYMMDD>.log       a UTC day's events
//   <root>/<YYYYMMDD>/<stem>-<YYYYMMDD>-<HH>.log  an hour block's, when files
//                                                 rotate more often than daily
//
// <stem> is TypeFileStem(type) (type_name.h), or kOverflowStem for the
// events of types beyond the collector's daily limit. <HH> is the UTC hour
// the block starts at.
//
// A closed file may be compressed: `<name>.zst` (kCompressedSuffix), zstd
// frames whose decompression is exactly the original's bytes, for the same
// type and block. While it is written it is `<name>.zst.tmp`, which is no
// event file; when both `<name>` and `<name>.zst` exist (a compression cut
// short), `<name>` is the one to read.
//
// Thread-safety: plain functions of their arguments.

#ifndef ZIGGY_CLIENT_FORMAT_LOG_LAYOUT_H_
#define ZIGGY_CLIENT_FORMAT_LOG_LAYOUT_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace ziggy {

// The start of the UTC day a directory name "YYYYMMDD" names; nullopt for
// any other name, including dates that do not exist (month 13, Feb 30).
absl::optional<absl::Time> ParseDayName(absl::string_view name);

// The path of the file holding `stem`'s events of the block that starts at
// `block_start`: the day's file, or with `hourly` the hour block's.
//   LogFilePath("/var/log/ziggy", "request", 2023-11-14 15:00 UTC, true)
//     == "/var/log/ziggy/20231114/request-20231114-15.log"
std::string LogFilePath(absl::string_view root, absl::string_view stem,
                        absl::Time block_start, bool hourly);

// The suffix of a compressed event file's name, after the original's.
inline constexpr char kCompressedSuffix[] = ".zst";
// The suffix of the file ziggyd writes while compressing one (renamed to
// kCompressedSuffix once whole; ParseLogFileName never takes it).
inline constexpr char kCompressingSuffix[] = ".zst.tmp";

// What a file name in a day's directory says.
struct LogFileName {
  std::string stem;
  absl::Time start;         // of the day, or of the hour block
  bool hourly = false;      // an hour block's file
  bool compressed = false;  // "<name>.zst"
};

// Parses `name`, found in the directory of the day starting at `day_start`:
// "<stem>-<YYYYMMDD>.log" or "<stem>-<YYYYMMDD>-<HH>.log" with that day's
// date and a non-empty stem, or either followed by kCompressedSuffix;
// nullopt for anything else (".tmp" names included).
absl::optional<LogFileName> ParseLogFileName(absl::string_view name,
                                             absl::Time day_start);

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_FORMAT_LOG_LAYOUT_H_
