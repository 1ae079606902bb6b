#include "client/internal/body.h"

#include "client/format/event.h"
#include "gtest/gtest.h"

namespace ziggy::internal {
namespace {

Value Decode(const Body& body) {
  BsonWriter out;
  const size_t start = out.BeginDocument();
  body.AppendTo(&out);
  out.EndDocument(start);
  absl::StatusOr<Value> value = DecodeDocument(out.bytes());
  EXPECT_TRUE(value.ok()) << value.status();
  return value.ok() ? *value : Value();
}

TEST(BodyTest, ScalarsAndDottedKeys) {
  Body body;
  ASSERT_TRUE(body.Set("user_agent", "curl").ok());
  ASSERT_TRUE(body.Set("response.status", 200).ok());
  ASSERT_TRUE(body.Set("response.size", int64_t{5} << 33).ok());
  ASSERT_TRUE(body.Set("response.ok", true).ok());
  ASSERT_TRUE(body.Set("ratio", 0.5).ok());
  ASSERT_TRUE(body.Set("nothing", nullptr).ok());
  const Value v = Decode(body);
  EXPECT_EQ(v.Find("user_agent")->AsString(), "curl");
  EXPECT_EQ(v.Find("response.status")->AsInt(), 200);
  EXPECT_EQ(v.Find("response.size")->AsInt(), int64_t{5} << 33);
  EXPECT_TRUE(v.Find("response.ok")->AsBool());
  EXPECT_EQ(v.Find("ratio")->AsDouble(), 0.5);
  EXPECT_TRUE(v.Find("nothing")->is_null());
  // Insertion order is kept: response is one map, second key.
  EXPECT_EQ(v.AsMap()[1].first, "response");
  EXPECT_EQ(v.Find("response")->AsMap().size(), 3u);
}

TEST(BodyTest, SetOverwrites) {
  Body body;
  ASSERT_TRUE(body.Set("a", 1).ok());
  ASSERT_TRUE(body.Set("a", "two").ok());
  EXPECT_EQ(Decode(body), Value(Value::Map{{"a", "two"}}));
}

TEST(BodyTest, KeyThroughScalarIsAnErrorAndChangesNothing) {
  Body body;
  ASSERT_TRUE(body.Set("response", 200).ok());
  const absl::Status s = body.Set("response.status", 404);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(body.Append("response.tags", 1).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(body.AddInt("response.count", 1).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Decode(body), Value(Value::Map{{"response", 200}}));
}

TEST(BodyTest, MalformedKeys) {
  Body body;
  for (absl::string_view key : {"", ".", "a.", ".a", "a..b"}) {
    EXPECT_EQ(body.Set(key, 1).code(), absl::StatusCode::kInvalidArgument)
        << key;
  }
  EXPECT_EQ(body.Set(absl::string_view("a\0b", 3), 1).code(),
            absl::StatusCode::kInvalidArgument);
  std::string deep = "p";
  for (size_t i = 1; i < Body::kMaxParts; ++i) deep += ".p";
  EXPECT_TRUE(body.Set(deep, 1).ok());
  body.Clear();
  EXPECT_EQ(body.Set(deep + ".p", 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Decode(body).AsMap().empty());
}

TEST(BodyTest, AppendBuildsListsAndNumericPartsIndexThem) {
  Body body;
  ASSERT_TRUE(body.Append("queries", "select 1").ok());
  ASSERT_TRUE(body.Append("queries", "select 2").ok());
  ASSERT_TRUE(body.Set("queries.0", "replaced").ok());
  ASSERT_TRUE(body.Set("queries.2", "appended").ok());
  EXPECT_EQ(body.Set("queries.9", "x").code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(body.Set("queries.x", "y").code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(body.Append("rows", Value::MakeList({1, 2})).ok());
  ASSERT_TRUE(body.Set("rows.0.1", 3).ok());
  ASSERT_TRUE(body.Set("rows.0.2", 4).ok());
  // A numeric part under a map is a plain key.
  ASSERT_TRUE(body.Set("codes.404", 7).ok());
  const Value v = Decode(body);
  EXPECT_EQ(*v.Find("queries"),
            Value::MakeList({"replaced", "select 2", "appended"}));
  EXPECT_EQ(*v.Find("rows"), Value::MakeList({Value::MakeList({1, 3, 4})}));
  EXPECT_EQ(v.Find("codes")->AsMap()[0].first, "404");
}

TEST(BodyTest, AddAccumulates) {
  Body body;
  ASSERT_TRUE(body.AddInt("hits", 2).ok());
  ASSERT_TRUE(body.AddInt("hits", 3).ok());
  ASSERT_TRUE(body.AddInt("mixed", 1).ok());
  ASSERT_TRUE(body.AddDouble("mixed", 0.5).ok());
  ASSERT_TRUE(body.AddInt("big", INT64_MAX).ok());
  ASSERT_TRUE(body.AddInt("big", 1).ok());  // overflows into a double
  ASSERT_TRUE(body.Set("name", "x").ok());
  EXPECT_EQ(body.AddInt("name", 1).code(),
            absl::StatusCode::kFailedPrecondition);
  const Value v = Decode(body);
  EXPECT_EQ(v.Find("hits")->kind(), Value::Kind::kInt);
  EXPECT_EQ(v.Find("hits")->AsInt(), 5);
  EXPECT_EQ(v.Find("mixed")->AsDouble(), 1.5);
  EXPECT_EQ(v.Find("big")->kind(), Value::Kind::kDouble);
  EXPECT_DOUBLE_EQ(v.Find("big")->AsDouble(), 9223372036854775808.0);
}

TEST(BodyTest, CompositeValues) {
  Body body;
  Value::Map nested{{"list", Value::MakeList({true, nullptr, 1.5, "s"})},
                    {"inner", Value(Value::Map{{"k", 1}})}};
  ASSERT_TRUE(body.Set("data", Value(nested)).ok());
  ASSERT_TRUE(body.Set("data.inner.j", 2).ok());
  const Value v = Decode(body);
  EXPECT_EQ(*v.Find("data.list"), Value::MakeList({true, nullptr, 1.5, "s"}));
  EXPECT_EQ(v.Find("data.inner.j")->AsInt(), 2);
  // Replacing a map with a scalar drops its fields.
  ASSERT_TRUE(body.Set("data", 0).ok());
  EXPECT_EQ(*Decode(body).Find("data"), Value(0));
}

TEST(BodyTest, NulInACompositeValuesKeyIsRejected) {
  Body body;
  const Value bad(Value::Map{{std::string("a\0b", 3), 1}});
  EXPECT_EQ(body.Set("x", bad).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(body.Append("x", Value::MakeList({bad})).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Decode(body).AsMap().empty());
}

TEST(BodyTest, ClearEmptiesAndIsReusable) {
  Body body;
  ASSERT_TRUE(body.Set("a.b", "c").ok());
  body.Clear();
  EXPECT_TRUE(Decode(body).AsMap().empty());
  ASSERT_TRUE(body.Set("x", 1).ok());
  EXPECT_EQ(Decode(body), Value(Value::Map{{"x", 1}}));
}

}  // namespace
}  // namespace ziggy::internal
