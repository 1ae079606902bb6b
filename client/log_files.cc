#include "client/log_files.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "client/type_name.h"

namespace ziggy {
namespace {

bool IsDigits(absl::string_view s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return absl::ascii_isdigit(static_cast<unsigned char>(c));
         });
}

// "20231114" -> the start of that UTC day. (absl's %Y is greedy, so the
// digits are split by hand.)
bool ParseDay(absl::string_view day, absl::Time* t) {
  if (!IsDigits(day, 8)) return false;
  int year, month, mday;
  if (!absl::SimpleAtoi(day.substr(0, 4), &year) ||
      !absl::SimpleAtoi(day.substr(4, 2), &month) ||
      !absl::SimpleAtoi(day.substr(6, 2), &mday)) {
    return false;
  }
  const absl::CivilDay civil(year, month, mday);
  if (civil.year() != year || civil.month() != month || civil.day() != mday) {
    return false;  // e.g. month 13, which CivilDay would normalize
  }
  *t = absl::FromCivil(civil, absl::UTCTimeZone());
  return true;
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
  absl::Time t;
  const std::string s(absl::StripAsciiWhitespace(text));
  if (ParseDay(s, &t)) {
    return end_of_range ? t + absl::Hours(24) - absl::Nanoseconds(1) : t;
  }
  int hour, minute;
  if (s.size() == 14 && s[8] == ' ' && s[11] == ':' &&
      ParseDay(absl::string_view(s).substr(0, 8), &t) &&
      IsDigits(absl::string_view(s).substr(9, 2), 2) &&
      IsDigits(absl::string_view(s).substr(12, 2), 2) &&
      absl::SimpleAtoi(s.substr(9, 2), &hour) &&
      absl::SimpleAtoi(s.substr(12, 2), &minute) && hour < 24 && minute < 60) {
    t += absl::Hours(hour) + absl::Minutes(minute);
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
    absl::Time day_start;
    if (!ParseDay(day, &day_start)) continue;
    const absl::Time day_end = day_start + absl::Hours(24);
    if (day_end <= query.start || day_start > query.end) continue;
    // Per type, the blocks present this day, to know where each one ends.
    std::map<std::pair<std::string, absl::Time>, LogFileInfo> day_files;
    const std::string dir = absl::StrCat(query.log_path, "/", day);
    for (const std::string& name : ListDir(dir)) {
      absl::string_view rest = name;
      if (!absl::ConsumeSuffix(&rest, ".log")) continue;
      absl::Time start = day_start;
      const std::string hour_suffix =
          rest.size() > 3 ? std::string(rest.substr(rest.size() - 3)) : "";
      int hour = -1;
      if (hour_suffix.size() == 3 && hour_suffix[0] == '-' &&
          IsDigits(hour_suffix.substr(1), 2) &&
          absl::EndsWith(rest.substr(0, rest.size() - 3),
                         absl::StrCat("-", day))) {
        absl::SimpleAtoi(hour_suffix.substr(1), &hour);
        rest.remove_suffix(3);
        start = day_start + absl::Hours(hour);
      }
      if (!absl::ConsumeSuffix(&rest, absl::StrCat("-", day)) || rest.empty()) {
        continue;
      }
      absl::StatusOr<std::string> type = TypeFromFileStem(rest);
      if (!type.ok() &&
          type.status().code() != absl::StatusCode::kUnimplemented) {
        continue;  // not one of ours
      }
      const std::string known = type.ok() ? *type : "";
      if (type.ok() && !TypeMatches(query.type, known)) continue;
      day_files[{std::string(rest), start}] =
          LogFileInfo{absl::StrCat(dir, "/", name), known, start, day_end};
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

}  // namespace ziggy
