#include "client/format/log_layout.h"

#include "absl/time/civil_time.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

absl::Time Utc(int y, int m, int d, int h = 0) {
  return absl::FromCivil(absl::CivilHour(y, m, d, h), absl::UTCTimeZone());
}

TEST(LogLayoutTest, DayAndHourPaths) {
  EXPECT_EQ(LogFilePath("/logs", "request", Utc(2023, 11, 14), false),
            "/logs/20231114/request-20231114.log");
  EXPECT_EQ(LogFilePath("/logs", "request", Utc(2023, 11, 14, 15), true),
            "/logs/20231114/request-20231114-15.log");
  EXPECT_EQ(LogFilePath("/logs", "~overflow", Utc(1969, 12, 31, 23), true),
            "/logs/19691231/~overflow-19691231-23.log");
}

// And the same names compressed, "<name>.zst".
TEST(LogLayoutTest, ParsesWhatItWrites) {
  for (bool hourly : {false, true}) {
    for (bool compressed : {false, true}) {
      const absl::Time start = hourly ? Utc(2024, 2, 29, 7) : Utc(2024, 2, 29);
      const std::string path = LogFilePath("", "a-b-20240229", start, hourly);
      const std::string name = path.substr(path.rfind('/') + 1) +
                               (compressed ? kCompressedSuffix : "");
      const absl::optional<LogFileName> parsed =
          ParseLogFileName(name, Utc(2024, 2, 29));
      ASSERT_TRUE(parsed.has_value()) << name;
      EXPECT_EQ(parsed->stem, "a-b-20240229");
      EXPECT_EQ(parsed->start, start);
      EXPECT_EQ(parsed->hourly, hourly);
      EXPECT_EQ(parsed->compressed, compressed);
    }
  }
}

TEST(LogLayoutTest, RejectsOtherNames) {
  const absl::Time day = Utc(2023, 11, 14);
  for (const char* name :
       {"request-20231114.txt", "-20231114.log", "request-20231115.log",
        "request-20231114-24.log", "request-20231114-7.log", "request.log",
        "20231114.log", ".log", "", "request-20231114.log.zst.tmp",
        "request-20231114.zst", "request-20231114.log.zst.zst",
        "request-20231114.log.tmp"}) {
    EXPECT_FALSE(ParseLogFileName(name, day).has_value()) << name;
  }
}

TEST(LogLayoutTest, DayNames) {
  EXPECT_EQ(ParseDayName("20231114"), Utc(2023, 11, 14));
  EXPECT_EQ(ParseDayName("20240229"), Utc(2024, 2, 29));
  for (const char* name : {"20231301", "20230229", "2023111", "202311140",
                           "2023-11-14", "abcdefgh", ""}) {
    EXPECT_FALSE(ParseDayName(name).has_value()) << name;
  }
}

}  // namespace
}  // namespace ziggy
