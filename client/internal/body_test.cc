#include "client/internal/body.h"

#include <string>

#include "absl/strings/str_cat.h"
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

// One-part keys take a fast path (no split) and keys are compared and
// copied a word at a time: check every length and every position of a '.',
// a NUL or a differing byte against what the general path does.
TEST(BodyTest, KeysOfEveryLengthAndSeparatorPosition) {
  for (size_t n = 1; n <= 40; ++n) {
    const std::string plain(n, 'k');
    Body body;
    ASSERT_TRUE(body.Set(plain, 1).ok());
    ASSERT_TRUE(body.AddInt(plain, 1).ok());
    EXPECT_EQ(Decode(body), Value(Value::Map{{plain, 2}})) << n;
    for (size_t p = 0; p < n; ++p) {
      std::string dotted = plain;
      dotted[p] = '.';
      Body nested;
      const absl::Status s = nested.Set(dotted, 1);
      if (p == 0 || p + 1 == n) {
        EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << dotted;
      } else {
        ASSERT_TRUE(s.ok()) << dotted;
        EXPECT_EQ(Decode(nested).Find(dotted)->AsInt(), 1) << dotted;
      }
      std::string with_nul = plain;
      with_nul[p] = '\0';
      EXPECT_EQ(nested.Set(with_nul, 1).code(),
                absl::StatusCode::kInvalidArgument)
          << n << " " << p;
      // Keys one byte apart are different fields.
      std::string other = plain;
      other[p] = 'x';
      Body two;
      ASSERT_TRUE(two.Set(plain, 1).ok());
      ASSERT_TRUE(two.Set(other, 2).ok());
      ASSERT_TRUE(two.Set(plain, 3).ok());
      EXPECT_EQ(Decode(two), Value(Value::Map{{plain, 3}, {other, 2}}));
    }
  }
}

// A key built at run time in one buffer, rewritten between calls: each
// call's bytes count, not the buffer's address.
TEST(BodyTest, ReusedKeyBufferWithNewBytes) {
  Body body;
  char key[8] = "a.x";
  ASSERT_TRUE(body.Set(absl::string_view(key, 3), 1).ok());
  key[2] = 'y';
  ASSERT_TRUE(body.Set(absl::string_view(key, 3), 2).ok());
  key[1] = 'b';  // "aby": now a one-part key
  ASSERT_TRUE(body.Set(absl::string_view(key, 3), 3).ok());
  EXPECT_EQ(
      Decode(body),
      Value(Value::Map{{"a", Value::Map{{"x", 1}, {"y", 2}}}, {"aby", 3}}));
}

// String values of every length round-trip (they are copied a word at a
// time), next to each other in the body's byte buffer.
TEST(BodyTest, StringValuesOfEveryLength) {
  Body body;
  Value::Map expected;
  for (size_t n = 0; n <= 40; ++n) {
    std::string value;
    for (size_t i = 0; i < n; ++i) value += static_cast<char>('a' + i % 26);
    const std::string key = absl::StrCat("v", n);
    ASSERT_TRUE(body.Set(key, value).ok());
    expected.emplace_back(key, value);
  }
  EXPECT_EQ(Decode(body), Value(expected));
}

// A one-part key set first, then reached as the head of dotted keys, and
// the same name inside a list element.
TEST(BodyTest, PlainThenDottedThenListKeys) {
  Body body;
  ASSERT_TRUE(body.Set("response", Value::MakeMap()).ok());
  ASSERT_TRUE(body.Set("response.status", 200).ok());
  ASSERT_TRUE(body.Append("items", Value::MakeMap()).ok());
  ASSERT_TRUE(body.Set("items.0.response", 1).ok());
  ASSERT_TRUE(body.Set("items.1.response", 2).ok());
  EXPECT_EQ(body.Set("items.3.response", 3).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(body.Set("items.x", 3).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(body.Set("response.status.code", 3).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      Decode(body),
      Value(Value::Map{{"response", Value::Map{{"status", 200}}},
                       {"items", Value::List{Value::Map{{"response", 1}},
                                             Value::Map{{"response", 2}}}}}));
}

// The event a framed body closes into: the header written at its start,
// the fields as they were set, the end time at the close.
std::string FramedEvent(Body& body, const void* owner, double end) {
  absl::string_view event;
  EXPECT_TRUE(body.CloseFrame(owner, end, &event));
  return std::string(event);
}

// What EncodeEventTo writes for the same header and body.
std::string Expected(const EventHeader& h, const Body& body) {
  BsonWriter out;
  EncodeEventTo(&out, h, [&](BsonWriter* b) { body.AppendTo(b); });
  return std::string(out.bytes());
}

EventHeader TestHeader(const BsonWriter& host_pid, double start, double end) {
  return {"5f1d2a3b000102030405060708090a0b",
          "request",
          "web-1",
          7,
          start,
          end,
          host_pid.bytes()};
}

char* BeginTestFrame(Body& body, const EventHeader& h, const void* owner) {
  char* at = body.BeginFrame(EventPrefixSize(h), owner);
  WriteEventPrefix(at, h);
  return at;
}

TEST(BodyTest, FrameHoldsTheWholeEvent) {
  BsonWriter host_pid;
  HostPidElements("web-1", 7, &host_pid);
  const int owner = 0;
  for (int fields = 0; fields < 5; ++fields) {
    Body body;
    BeginTestFrame(body, TestHeader(host_pid, 10.5, 10.5), &owner);
    EXPECT_TRUE(body.framed());
    for (int i = 0; i < fields; ++i) {
      ASSERT_TRUE(body.Set(absl::StrCat("f", i), "value").ok());
    }
    for (int i = 0; i < fields; ++i) {
      ASSERT_TRUE(body.Set(absl::StrCat("m.k", i), i).ok());
      ASSERT_TRUE(body.AddInt("m.n", 1).ok());
    }
    EXPECT_TRUE(body.framed());  // all of it flat
    const std::string expected = Expected(TestHeader(host_pid, 10.5, 11), body);
    EXPECT_EQ(FramedEvent(body, &owner, 11), expected) << fields;
    // Cleared, the body is empty and unframed, ready for the next event.
    body.Clear();
    EXPECT_FALSE(body.framed());
    absl::string_view event;
    EXPECT_FALSE(body.CloseFrame(&owner, 11, &event));
  }
}

TEST(BodyTest, FrameRefusedAfterTheTreeOrForAnotherOwner) {
  BsonWriter host_pid;
  HostPidElements("web-1", 7, &host_pid);
  const int owner = 0, other = 0;
  Body body;
  BeginTestFrame(body, TestHeader(host_pid, 1, 1), &owner);
  ASSERT_TRUE(body.Set("a", 1).ok());
  absl::string_view event;
  EXPECT_FALSE(body.CloseFrame(&other, 2, &event));
  // Refusing changed nothing: the body still closes for its owner.
  EXPECT_EQ(FramedEvent(body, &owner, 2),
            Expected(TestHeader(host_pid, 1, 2), body));

  body.Clear();
  BeginTestFrame(body, TestHeader(host_pid, 1, 1), &owner);
  ASSERT_TRUE(body.Set("a", 1).ok());
  ASSERT_TRUE(body.Append("list", 2).ok());  // the tree's
  EXPECT_FALSE(body.framed());
  EXPECT_FALSE(body.CloseFrame(&owner, 2, &event));
  // The fields are all in the tree, the header in none of them.
  absl::string_view elements;
  EXPECT_FALSE(body.FlatElements(&elements));
  const Value v = Decode(body);
  ASSERT_EQ(v.AsMap().size(), 2u);
  EXPECT_EQ(v.Find("a")->AsInt(), 1);
}

}  // namespace
}  // namespace ziggy::internal
