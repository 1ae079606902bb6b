#include "client/format/log_layout.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"

namespace ziggy {
namespace {

bool IsDigits(absl::string_view s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return absl::ascii_isdigit(static_cast<unsigned char>(c));
         });
}

std::string DayName(absl::Time t) {
  return absl::FormatTime("%Y%m%d", t, absl::UTCTimeZone());
}

// "-HH" at the end of `rest` (an hour of the day), removed; -1 if none.
int ConsumeHour(absl::string_view* rest) {
  if (rest->size() < 3) return -1;
  const absl::string_view suffix = rest->substr(rest->size() - 3);
  int hour;
  if (suffix[0] != '-' || !IsDigits(suffix.substr(1), 2) ||
      !absl::SimpleAtoi(suffix.substr(1), &hour) || hour > 23) {
    return -1;
  }
  rest->remove_suffix(3);
  return hour;
}

}  // namespace

absl::optional<absl::Time> ParseDayName(absl::string_view name) {
  // Split by hand: absl's %Y is greedy.
  int year, month, day;
  if (!IsDigits(name, 8) || !absl::SimpleAtoi(name.substr(0, 4), &year) ||
      !absl::SimpleAtoi(name.substr(4, 2), &month) ||
      !absl::SimpleAtoi(name.substr(6, 2), &day)) {
    return absl::nullopt;
  }
  const absl::CivilDay civil(year, month, day);
  if (civil.year() != year || civil.month() != month || civil.day() != day) {
    return absl::nullopt;  // e.g. month 13, which CivilDay would normalize
  }
  return absl::FromCivil(civil, absl::UTCTimeZone());
}

std::string LogFilePath(absl::string_view root, absl::string_view stem,
                        absl::Time block_start, bool hourly) {
  const std::string day = DayName(block_start);
  const std::string hour =
      hourly ? absl::StrFormat(
                   "-%02d",
                   absl::ToCivilHour(block_start, absl::UTCTimeZone()).hour())
             : "";
  return absl::StrCat(root, "/", day, "/", stem, "-", day, hour, ".log");
}

absl::optional<LogFileName> ParseLogFileName(absl::string_view name,
                                             absl::Time day_start) {
  const std::string day_suffix = absl::StrCat("-", DayName(day_start));
  absl::string_view rest = name;
  LogFileName parsed;
  parsed.compressed = absl::ConsumeSuffix(&rest, kCompressedSuffix);
  if (!absl::ConsumeSuffix(&rest, ".log")) return absl::nullopt;
  parsed.start = day_start;
  absl::string_view before_hour = rest;
  const int hour = ConsumeHour(&before_hour);
  if (hour >= 0 && absl::EndsWith(before_hour, day_suffix)) {
    rest = before_hour;
    parsed.hourly = true;
    parsed.start = day_start + absl::Hours(hour);
  }
  if (!absl::ConsumeSuffix(&rest, day_suffix) || rest.empty()) {
    return absl::nullopt;
  }
  parsed.stem = std::string(rest);
  return parsed;
}

}  // namespace ziggy
