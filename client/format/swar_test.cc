// The SWAR scans against a byte-at-a-time reading of the same rule: every
// byte value at every position of a word-and-a-half, behind runs of plain
// bytes and after other special bytes, and random buffers.

#include "client/format/swar.h"

#include <cstdint>
#include <functional>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace ziggy {
namespace {

using Scan = std::function<size_t(const char*, size_t, size_t)>;
using IsSpecial = std::function<bool(uint8_t)>;

// The first special byte in data[from, end), or end, one byte at a time.
size_t Reference(const std::string& data, size_t from, size_t end,
                 const IsSpecial& special) {
  while (from < end && !special(static_cast<uint8_t>(data[from]))) ++from;
  return from;
}

void ExpectLikeReference(const Scan& scan, const IsSpecial& special) {
  for (int value = 0; value < 256; ++value) {
    for (size_t at = 0; at < 12; ++at) {
      for (size_t from = 0; from <= at; ++from) {
        std::string data(12, 'a');
        data[at] = static_cast<char>(value);
        ASSERT_EQ(scan(data.data(), from, data.size()),
                  Reference(data, from, data.size(), special))
            << "byte " << value << " at " << at << " from " << from;
      }
    }
  }
  std::mt19937 random(7);
  for (int round = 0; round < 20000; ++round) {
    std::string data(1 + random() % 40, '\0');
    for (char& c : data) {
      // Mostly plain letters, sometimes anything.
      c = static_cast<char>(random() % 8 ? 'a' + random() % 26 : random());
    }
    const size_t from = random() % data.size();
    ASSERT_EQ(scan(data.data(), from, data.size()),
              Reference(data, from, data.size(), special))
        << "round " << round;
  }
}

TEST(SwarTest, FindNul) {
  ExpectLikeReference(FindNul, [](uint8_t c) { return c == 0; });
}

TEST(SwarTest, FindNulOrNonAscii) {
  ExpectLikeReference(FindNulOrNonAscii,
                      [](uint8_t c) { return c == 0 || c >= 0x80; });
}

// Every length to 40 (each branch: 0-3, 4-7, 8-16, 17-32, memcmp), equal and
// differing at each place, against memcmp.
TEST(SwarTest, SameBytes) {
  for (size_t n = 0; n <= 40; ++n) {
    const std::string a(n, 'k');
    EXPECT_TRUE(SameBytes(a.data(), std::string(a).data(), n)) << n;
    EXPECT_TRUE(SameString(a, std::string(a))) << n;
    for (size_t i = 0; i < n; ++i) {
      std::string b = a;
      b[i] = '\x80';
      EXPECT_FALSE(SameBytes(a.data(), b.data(), n)) << n << " at " << i;
      EXPECT_FALSE(SameString(a, b)) << n << " at " << i;
    }
    EXPECT_FALSE(SameString(a, a + "k")) << n;
  }
}

}  // namespace
}  // namespace ziggy
