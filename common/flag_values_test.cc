#include "common/flag_values.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ziggy {
namespace {

using Strings = std::vector<std::string>;

Strings Values(Strings args,
               std::function<bool(absl::string_view)> keep_whole = nullptr) {
  std::vector<const char*> argv = {"prog"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  return FlagValues(static_cast<int>(argv.size()), argv.data(), {"H", "host"},
                    keep_whole);
}

TEST(FlagValuesTest, RepeatedAndCommaSeparatedInEveryForm) {
  EXPECT_EQ(Values({"-H", "a:1", "--host=b:2,c:3", "--H", "d:4", "-host=e:5",
                    "--pretty", "file.log", "-H=f:6"}),
            (Strings{"a:1", "b:2", "c:3", "d:4", "e:5", "f:6"}));
}

TEST(FlagValuesTest, OtherFlagsAndPositionalsAreLeftAlone) {
  EXPECT_EQ(Values({"--hosts=x", "--Host=y", "-Hx", "H", "--type-name=a"}),
            Strings{});
}

TEST(FlagValuesTest, EmptyPiecesDropped) {
  EXPECT_EQ(Values({"-H", ",a:1,,b:2,", "--host="}), (Strings{"a:1", "b:2"}));
}

TEST(FlagValuesTest, AValueGivenTwiceIsKeptOnce) {
  EXPECT_EQ(Values({"-H", "a:1,b:2", "--host=a:1", "-H", "b:2,c:3"}),
            (Strings{"a:1", "b:2", "c:3"}));
}

TEST(FlagValuesTest, StopsAtDoubleDashAndAMissingValue) {
  EXPECT_EQ(Values({"-H", "a:1", "--", "-H", "b:2"}), Strings{"a:1"});
  EXPECT_EQ(Values({"-H", "a:1", "-H"}), Strings{"a:1"});
}

TEST(FlagValuesTest, KeepWholeKeepsACommaInAName) {
  auto exists = [](absl::string_view v) { return v == "/logs/a,b"; };
  EXPECT_EQ(Values({"--host=/logs/a,b", "-H", "/x,/y"}, exists),
            (Strings{"/logs/a,b", "/x", "/y"}));
}

}  // namespace
}  // namespace ziggy
