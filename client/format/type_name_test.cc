#include "client/format/type_name.h"

#include "gtest/gtest.h"

namespace ziggy {
namespace {

TEST(TypeNameTest, SafeNamesAreKept) {
  EXPECT_EQ(TypeFileStem("request"), "request");
  EXPECT_EQ(TypeFileStem("request.sql"), "request.sql");
  EXPECT_EQ(TypeFileStem("a_b-C9"), "a_b-C9");
}

TEST(TypeNameTest, HostileNamesAreEscaped) {
  EXPECT_EQ(TypeFileStem("../x"), "%2E.%2Fx");
  EXPECT_EQ(TypeFileStem("."), "%2E");
  EXPECT_EQ(TypeFileStem(".."), "%2E.");
  EXPECT_EQ(TypeFileStem("a/b"), "a%2Fb");
  EXPECT_EQ(TypeFileStem("100%"), "100%25");
  EXPECT_EQ(TypeFileStem(absl::string_view("n\0l", 3)), "n%00l");
  EXPECT_EQ(TypeFileStem("caf\xc3\xa9"), "caf%C3%A9");
  EXPECT_EQ(TypeFileStem("\xff"), "%FF");
}

TEST(TypeNameTest, StemsNeverHoldASlashOrStartWithADot) {
  for (int c = 0; c < 256; ++c) {
    for (const std::string& type : {std::string(1, static_cast<char>(c)),
                                    std::string(2, static_cast<char>(c))}) {
      const std::string stem = TypeFileStem(type);
      EXPECT_EQ(stem.find('/'), std::string::npos) << c;
      EXPECT_EQ(stem.find('\0'), std::string::npos) << c;
      EXPECT_NE(stem.front(), '.') << c;
      EXPECT_EQ(*TypeFromFileStem(stem), type) << c;
    }
  }
}

TEST(TypeNameTest, LongNamesAreCutAndHashed) {
  const std::string long_type(300, 'x');
  const std::string stem = TypeFileStem(long_type);
  EXPECT_LE(stem.size(), kMaxStem);
  EXPECT_NE(stem.find('~'), std::string::npos);
  EXPECT_NE(TypeFileStem(std::string(300, 'y')), stem);
  EXPECT_NE(TypeFileStem(long_type + "z"), stem);
  EXPECT_EQ(TypeFromFileStem(stem).status().code(),
            absl::StatusCode::kUnimplemented);
  // Exactly kMaxStem is not cut; escapes are never split.
  EXPECT_EQ(TypeFileStem(std::string(kMaxStem, 'a')),
            std::string(kMaxStem, 'a'));
  const std::string slashes = TypeFileStem(std::string(100, '/'));
  EXPECT_LE(slashes.size(), kMaxStem);
  EXPECT_EQ(slashes.substr(0, slashes.find('~')).size() % 3, 0u);
}

TEST(TypeNameTest, ReverseRejectsForeignStems) {
  EXPECT_FALSE(TypeFromFileStem("").ok());
  EXPECT_FALSE(TypeFromFileStem("a/b").ok());
  EXPECT_FALSE(TypeFromFileStem("%zz").ok());
  EXPECT_FALSE(TypeFromFileStem("%2e").ok());  // lowercase is not ours
  EXPECT_FALSE(TypeFromFileStem(".hidden").ok());
  EXPECT_EQ(*TypeFromFileStem("a%20b"), "a b");
}

}  // namespace
}  // namespace ziggy
