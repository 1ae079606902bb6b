// ParseByteSize (--min-free-disk's values) and FreeSpaceGuard's decisions
// against a fake free-space file.

#include "collector/free_space.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

TEST(ParseByteSizeTest, BytesAndPowersOf1024) {
  EXPECT_EQ(*ParseByteSize("0"), 0u);
  EXPECT_EQ(*ParseByteSize("123"), 123u);
  EXPECT_EQ(*ParseByteSize("4K"), 4096u);
  EXPECT_EQ(*ParseByteSize("4k"), 4096u);
  EXPECT_EQ(*ParseByteSize("3M"), 3u << 20);
  EXPECT_EQ(*ParseByteSize("2G"), uint64_t{2} << 30);
  EXPECT_EQ(*ParseByteSize("1T"), uint64_t{1} << 40);
  for (const char* bad : {"", "G", "-1", "1.5G", "12X", "1GB", " 1", "1 ", "+5",
                          "99999999999T"}) {
    EXPECT_FALSE(ParseByteSize(bad).ok()) << bad;
  }
}

void SetFree(const std::string& path, uint64_t bytes) {
  std::ofstream(path) << bytes << "\n";
}

TEST(FreeSpaceGuardTest, StopsBelowTheMinimumAndResumes) {
  const std::string fake =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/free_bytes");
  SetFree(fake, 10 << 20);
  FreeSpaceGuard guard({std::getenv("TEST_TMPDIR"), 5 << 20, fake});
  EXPECT_TRUE(guard.MayWrite(100));
  EXPECT_EQ(guard.FreeBytes(), 10u << 20);
  SetFree(fake, 4 << 20);
  // Measured again within a megabyte written.
  bool refused = false;
  for (int i = 0; i < 20 && !refused; ++i) refused = !guard.MayWrite(64 << 10);
  EXPECT_TRUE(refused);
  EXPECT_FALSE(guard.accepting());
  EXPECT_EQ(guard.pauses(), 1u);
  EXPECT_FALSE(guard.MayWrite(1));  // still low: still no
  SetFree(fake, 6 << 20);
  EXPECT_TRUE(guard.MayWrite(1));  // asked again while held back
  EXPECT_TRUE(guard.accepting());
  EXPECT_EQ(guard.pauses(), 1u);
}

TEST(FreeSpaceGuardTest, OffAlwaysAcceptsAndStatvfsReportsSomething) {
  FreeSpaceGuard guard({std::getenv("TEST_TMPDIR"), 0, ""});
  EXPECT_TRUE(guard.MayWrite(1 << 30));
  EXPECT_GT(guard.FreeBytes(), 0u);
}

}  // namespace
}  // namespace ziggy
