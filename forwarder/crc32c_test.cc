#include "forwarder/crc32c.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace ziggy {
namespace {

// The check value of CRC-32C (RFC 3720 and every catalogue of CRCs).
TEST(Crc32cTest, KnownValues) {
  EXPECT_EQ(Crc32c(0, "123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(0, ""), 0u);
  EXPECT_EQ(Crc32c(0, std::string(32, '\0')), 0x8A9136AAu);  // RFC 3720 B.4
  EXPECT_EQ(Crc32c(0, std::string(32, '\xff')), 0x62A8AB43u);
}

TEST(Crc32cTest, ExtendsPieceByPiece) {
  const std::string data = "the quick brown fox jumps over the lazy dog";
  for (size_t cut = 0; cut <= data.size(); ++cut) {
    EXPECT_EQ(Crc32c(Crc32c(0, data.substr(0, cut)), data.substr(cut)),
              Crc32c(0, data));
  }
}

TEST(Crc32cTest, HardwareAndPortableAgree) {
  if (!crc32c_internal::HaveHardware()) GTEST_SKIP() << "no SSE4.2";
  std::mt19937 random(3);
  std::string data(4096 + 7, '\0');
  for (char& c : data) c = static_cast<char>(random());
  // Every length and alignment of the short ones, some long ones.
  for (size_t start = 0; start < 8; ++start) {
    for (size_t length = 0; length < 80; ++length) {
      const absl::string_view piece(data.data() + start, length);
      ASSERT_EQ(crc32c_internal::Hardware(17, piece),
                crc32c_internal::Portable(17, piece))
          << start << " " << length;
    }
  }
  EXPECT_EQ(crc32c_internal::Hardware(0, data),
            crc32c_internal::Portable(0, data));
}

}  // namespace
}  // namespace ziggy
