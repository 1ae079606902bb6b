#include "client/format/value.h"

#include "gtest/gtest.h"

namespace ziggy {
namespace {

TEST(ValueTest, ScalarKinds) {
  EXPECT_EQ(Value().kind(), Value::Kind::kNull);
  EXPECT_EQ(Value(nullptr).kind(), Value::Kind::kNull);
  EXPECT_EQ(Value(true).kind(), Value::Kind::kBool);
  EXPECT_EQ(Value(7).AsInt(), 7);
  EXPECT_EQ(Value(int64_t{1} << 40).AsInt(), int64_t{1} << 40);
  EXPECT_EQ(Value(2.5).AsDouble(), 2.5);
  EXPECT_EQ(Value(3).AsDouble(), 3.0);
  EXPECT_EQ(Value("abc").AsString(), "abc");
  EXPECT_EQ(Value(std::string("x\0y", 3)).AsString().size(), 3u);
}

TEST(ValueTest, HugeUnsignedBecomesDouble) {
  const Value v(UINT64_MAX);
  EXPECT_EQ(v.kind(), Value::Kind::kDouble);
  EXPECT_EQ(Value(uint64_t{5}).kind(), Value::Kind::kInt);
}

TEST(ValueTest, FindWalksMapsAndLists) {
  Value::Map response{{"status", 200}, {"tags", Value::MakeList({"a", "b"})}};
  const Value root(Value::Map{{"response", Value(response)}});
  ASSERT_NE(root.Find("response.status"), nullptr);
  EXPECT_EQ(root.Find("response.status")->AsInt(), 200);
  EXPECT_EQ(root.Find("response.tags.1")->AsString(), "b");
  EXPECT_EQ(root.Find("response.tags.2"), nullptr);
  EXPECT_EQ(root.Find("response.status.x"), nullptr);
  EXPECT_EQ(root.Find("missing"), nullptr);
}

TEST(ValueTest, EqualityAndDebugString) {
  const Value a = Value::MakeList({1, "x", nullptr});
  EXPECT_EQ(a, Value::MakeList({1, "x", nullptr}));
  EXPECT_NE(a, Value::MakeList({1, "y", nullptr}));
  EXPECT_EQ(a.DebugString(), "[1, \"x\", null]");
}

}  // namespace
}  // namespace ziggy
