#include "client/reader/log_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "client/format/log_layout.h"
#include "client/format/type_name.h"

namespace ziggy {
namespace {

bool IsDigits(absl::string_view s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return absl::ascii_isdigit(static_cast<unsigned char>(c));
         });
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* entry = readdir(d)) names.emplace_back(entry->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

bool TypeMatches(absl::string_view filter, absl::string_view type) {
  if (filter.empty() || filter == "*") return true;
  if (absl::ConsumeSuffix(&filter, "*")) return absl::StartsWith(type, filter);
  return type == filter;
}

std::string SubscriptionPrefix(absl::string_view filter) {
  absl::ConsumeSuffix(&filter, "*");
  return std::string(filter);
}

absl::StatusOr<absl::Time> ParseDate(absl::string_view text,
                                     bool end_of_range) {
  const std::string s(absl::StripAsciiWhitespace(text));
  if (absl::optional<absl::Time> day = ParseDayName(s)) {
    return end_of_range ? *day + absl::Hours(24) - absl::Nanoseconds(1) : *day;
  }
  absl::optional<absl::Time> day;
  int hour, minute;
  if (s.size() == 14 && s[8] == ' ' && s[11] == ':' &&
      (day = ParseDayName(absl::string_view(s).substr(0, 8))) &&
      IsDigits(absl::string_view(s).substr(9, 2), 2) &&
      IsDigits(absl::string_view(s).substr(12, 2), 2) &&
      absl::SimpleAtoi(s.substr(9, 2), &hour) &&
      absl::SimpleAtoi(s.substr(12, 2), &minute) && hour < 24 && minute < 60) {
    const absl::Time t = *day + absl::Hours(hour) + absl::Minutes(minute);
    return end_of_range ? t + absl::Minutes(1) - absl::Nanoseconds(1) : t;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", text, "' is not YYYYMMDD or \"YYYYMMDD HH:MM\""));
}

absl::StatusOr<std::vector<LogFileInfo>> FindLogFiles(
    const LogFileQuery& query) {
  DIR* root = opendir(query.log_path.c_str());
  if (root == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", query.log_path, ": ", strerror(errno)));
  }
  closedir(root);
  std::vector<LogFileInfo> files;
  for (const std::string& day : ListDir(query.log_path)) {
    const absl::optional<absl::Time> day_start = ParseDayName(day);
    if (!day_start) continue;
    const absl::Time day_end = *day_start + absl::Hours(24);
    if (day_end <= query.start || *day_start > query.end) continue;
    // Per stem, the blocks present this day, to know where each one ends.
    std::map<std::pair<std::string, absl::Time>, LogFileInfo> day_files;
    const std::string dir = absl::StrCat(query.log_path, "/", day);
    for (const std::string& name : ListDir(dir)) {
      const absl::optional<LogFileName> parsed =
          ParseLogFileName(name, *day_start);
      if (!parsed) continue;
      absl::StatusOr<std::string> type = TypeFromFileStem(parsed->stem);
      if (!type.ok() &&
          type.status().code() != absl::StatusCode::kUnimplemented) {
        continue;  // not one of ours
      }
      const std::string known = type.ok() ? *type : "";
      if (type.ok() && !TypeMatches(query.type, known)) continue;
      // A compressed file's twin, when both exist, is the one to read.
      const auto [it, added] =
          day_files.try_emplace({parsed->stem, parsed->start},
                                LogFileInfo{absl::StrCat(dir, "/", name), known,
                                            parsed->start, day_end});
      if (!added && !parsed->compressed)
        it->second.path = absl::StrCat(dir, "/", name);
    }
    // An hour block ends where the next block of the same type starts.
    for (auto it = day_files.begin(); it != day_files.end(); ++it) {
      auto next = std::next(it);
      if (next != day_files.end() && next->first.first == it->first.first) {
        it->second.end = next->second.start;
      }
      if (it->second.start <= query.end && it->second.end > query.start) {
        files.push_back(it->second);
      }
    }
  }
  std::stable_sort(files.begin(), files.end(),
                   [](const LogFileInfo& a, const LogFileInfo& b) {
                     return a.start < b.start;
                   });
  return files;
}

int OpenLogFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0 || errno != ENOENT) return fd;
  const int compressed =
      open(absl::StrCat(path, kCompressedSuffix).c_str(), O_RDONLY | O_CLOEXEC);
  if (compressed >= 0) return compressed;
  errno = ENOENT;
  return -1;
}

}  // namespace ziggy
