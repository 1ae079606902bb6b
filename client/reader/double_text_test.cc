#include "client/reader/double_text.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace ziggy {
namespace {

std::string Shortest(double d) {
  char buf[kDoubleTextMax];
  return std::string(buf, WriteShortestDouble(d, buf));
}

std::string ToChars(double d) {
  char buf[kDoubleTextMax];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, d).ptr);
}

// The value and its neighbours a few ulps either side, both signs.
void ExpectSameAround(double d) {
  for (int sign : {1, -1}) {
    double x = sign * d;
    for (int i = 0; i < 4; ++i) x = std::nextafter(x, -INFINITY);
    for (int i = 0; i < 9; ++i, x = std::nextafter(x, INFINITY)) {
      ASSERT_EQ(Shortest(x), ToChars(x)) << "bits of " << x;
    }
  }
}

TEST(DoubleTextTest, EventValuesAreWrittenAsToCharsWritesThem) {
  EXPECT_EQ(Shortest(1700000000.123456), "1700000000.123456");
  EXPECT_EQ(Shortest(0.25), "0.25");
  EXPECT_EQ(Shortest(-12.5), "-12.5");
  EXPECT_EQ(Shortest(0.001), "0.001");
  EXPECT_EQ(Shortest(0.0001), "1e-04");  // scientific is shorter
  EXPECT_EQ(Shortest(100000.0), "1e+05");
  EXPECT_EQ(Shortest(0.1 + 0.2), "0.30000000000000004");
}

TEST(DoubleTextTest, EdgesOfTheFastPathMatchToChars) {
  for (double d : {1e-3, 1e-3 + 1e-9, 0.999999, 1.0, 1.000001, 0.5, 1e-6,
                   4294967296.0, 4294967295.999999, 2147483648.000001, 1e6,
                   1e15, 1e16, 123456.7, 9007199254740992.0}) {
    ExpectSameAround(d);
  }
  for (double d : {0.0, -0.0, std::numeric_limits<double>::min(),
                   std::numeric_limits<double>::denorm_min(),
                   std::numeric_limits<double>::max(),
                   std::numeric_limits<double>::lowest()}) {
    EXPECT_EQ(Shortest(d), ToChars(d));
  }
}

TEST(DoubleTextTest, DecimalsOfEveryScaleMatchToChars) {
  std::mt19937_64 random(7);
  for (int decimals = 0; decimals <= 8; ++decimals) {
    const double scale = std::pow(10.0, decimals);
    for (int i = 0; i < 200000; ++i) {
      // Mantissas from one digit to sixteen, so values run from 1e-8 to
      // past 2^32.
      const int digits = 1 + static_cast<int>(random() % 16);
      const auto k = static_cast<int64_t>(
          random() % static_cast<uint64_t>(std::pow(10.0, digits)));
      const double d = (i % 2 ? -1 : 1) * static_cast<double>(k) / scale;
      ASSERT_EQ(Shortest(d), ToChars(d)) << k << " / 1e" << decimals;
    }
  }
}

TEST(DoubleTextTest, TimestampsAndRandomBitsMatchToChars) {
  std::mt19937_64 random(11);
  std::uniform_real_distribution<double> seconds(1.5e9, 2.5e9);
  std::uniform_real_distribution<double> exponent(-5.0, 10.0);
  for (int i = 0; i < 1000000; ++i) {
    const double timestamp = std::round(seconds(random) * 1e6) / 1e6;
    ASSERT_EQ(Shortest(timestamp), ToChars(timestamp));
    const double any = std::pow(10.0, exponent(random));
    ASSERT_EQ(Shortest(any), ToChars(any));
    const uint64_t bits = random();
    double raw;
    memcpy(&raw, &bits, sizeof raw);
    if (std::isfinite(raw)) {
      ASSERT_EQ(Shortest(raw), ToChars(raw));
    }
  }
}

}  // namespace
}  // namespace ziggy
