// "Seed" in test names: the original Python Ziggy, whose wire and file
// formats we keep.

#include "client/format/event.h"

#include <bson/bson.h>

#include "client/format/bson_type.h"
#include "client/testing/bson_buffer.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

Event SampleEvent() {
  Event event;
  event.id = "5f1d2a3b000102030405060708090a0b";
  event.type = "request.sql";
  event.host = "web-1";
  event.pid = 4242;
  event.start = 1700000000.25;
  event.end = 1700000000.5;
  event.body =
      Value(Value::Map{{"query", "select 1"},
                       {"rows", 3},
                       {"big", int64_t{1} << 40},
                       {"timing", Value(Value::Map{{"db", 0.125}})},
                       {"tags", Value::MakeList({"a", nullptr, false})}});
  return event;
}

TEST(EventTest, RoundTrip) {
  const Event event = SampleEvent();
  absl::StatusOr<Event> decoded = DecodeEvent(EncodeEvent(event));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->id, event.id);
  EXPECT_EQ(decoded->type, event.type);
  EXPECT_EQ(decoded->host, event.host);
  EXPECT_EQ(decoded->pid, event.pid);
  EXPECT_EQ(decoded->start, event.start);
  EXPECT_EQ(decoded->end, event.end);
  EXPECT_EQ(decoded->body, event.body) << decoded->body.DebugString();
}

// The stored record keeps the original Python Ziggy's shape (field order
// and types), readable by any BSON library.
TEST(EventTest, WireShapeIsTheSeeds) {
  const std::string bytes = EncodeEvent(SampleEvent());
  bson_t doc;
  ASSERT_TRUE(bson_init_static(
      &doc, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  bson_iter_t it;
  ASSERT_TRUE(bson_iter_init(&it, &doc));
  const std::vector<std::pair<std::string, bson_type_t>> expected = {
      {"id", BSON_TYPE_UTF8},      {"type", BSON_TYPE_UTF8},
      {"host", BSON_TYPE_UTF8},    {"pid", BSON_TYPE_INT32},
      {"start", BSON_TYPE_DOUBLE}, {"end", BSON_TYPE_DOUBLE},
      {"body", BSON_TYPE_DOCUMENT}};
  for (const auto& [key, type] : expected) {
    ASSERT_TRUE(bson_iter_next(&it));
    EXPECT_EQ(bson_iter_key(&it), key);
    EXPECT_EQ(bson_iter_type(&it), type) << key;
  }
  EXPECT_FALSE(bson_iter_next(&it));
  ASSERT_TRUE(bson_iter_init_find(&it, &doc, "body"));
  bson_iter_t body;
  ASSERT_TRUE(bson_iter_recurse(&it, &body));
  ASSERT_TRUE(bson_iter_find(&body, "rows"));
  EXPECT_EQ(bson_iter_type(&body), BSON_TYPE_INT32);
  ASSERT_TRUE(bson_iter_find(&body, "big"));
  EXPECT_EQ(bson_iter_type(&body), BSON_TYPE_INT64);
}

TEST(EventTest, RejectsWhatIsNotAnEvent) {
  EXPECT_EQ(DecodeEvent("").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeEvent("garbage bytes").status().code(),
            absl::StatusCode::kDataLoss);
  std::string bytes = EncodeEvent(SampleEvent());
  EXPECT_EQ(DecodeEvent(bytes.substr(0, bytes.size() - 1)).status().code(),
            absl::StatusCode::kDataLoss);

  testing::BsonBuffer no_type;
  BSON_APPEND_UTF8(no_type.get(), "id", "x");
  EXPECT_EQ(DecodeEvent(no_type.bytes()).status().code(),
            absl::StatusCode::kInvalidArgument);

  testing::BsonBuffer int_type;
  BSON_APPEND_INT32(int_type.get(), "type", 5);
  EXPECT_EQ(DecodeEvent(int_type.bytes()).status().code(),
            absl::StatusCode::kInvalidArgument);

  testing::BsonBuffer scalar_body;
  BSON_APPEND_UTF8(scalar_body.get(), "type", "t");
  BSON_APPEND_INT32(scalar_body.get(), "body", 1);
  EXPECT_EQ(DecodeEvent(scalar_body.bytes()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EventTest, MinimalForeignEventDecodes) {
  // What another language's client might send: int64 pid, int times, extras.
  testing::BsonBuffer doc;
  BSON_APPEND_UTF8(doc.get(), "type", "request");
  BSON_APPEND_INT64(doc.get(), "pid", 77);
  BSON_APPEND_INT32(doc.get(), "start", 10);
  BSON_APPEND_UTF8(doc.get(), "extra", "ignored");
  absl::StatusOr<Event> event = DecodeEvent(doc.bytes());
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, "request");
  EXPECT_EQ(event->pid, 77);
  EXPECT_EQ(event->start, 10.0);
  EXPECT_TRUE(event->body.AsMap().empty());
}

TEST(EventTest, ForeignBsonTypesAreMappedDeliberately) {
  testing::BsonBuffer doc;
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, "0123456789abcdef01234567");
  BSON_APPEND_OID(doc.get(), "oid", &oid);
  BSON_APPEND_DATE_TIME(doc.get(), "when", 1234);
  const uint8_t bin[] = {0, 1, 2};
  BSON_APPEND_BINARY(doc.get(), "bin", BSON_SUBTYPE_BINARY, bin, 3);
  BSON_APPEND_REGEX(doc.get(), "re", "^a", "i");
  BSON_APPEND_UNDEFINED(doc.get(), "undef");
  absl::StatusOr<Value> v = DecodeDocument(doc.bytes());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->Find("oid")->AsString(), "0123456789abcdef01234567");
  EXPECT_EQ(v->Find("when")->AsInt(), 1234);
  EXPECT_EQ(v->Find("bin")->AsString(), std::string("\0\1\2", 3));
  EXPECT_EQ(v->Find("re")->AsString(), "/^a/i");
  EXPECT_TRUE(v->Find("undef")->is_null());
}

// {"a": {"a": ... {}}} nested `depth` levels, built without libbson.
std::string NestedDocument(int depth) {
  std::string doc;
  for (int i = 0; i < depth; ++i) {
    const uint32_t len = 5 + 8 * static_cast<uint32_t>(depth - i);
    doc.append(reinterpret_cast<const char*>(&len), 4);
    doc.push_back(static_cast<char>(BsonType::kDocument));
    doc.append("a", 2);  // key "a" and its NUL
  }
  doc.append("\x05\0\0\0\0", 5);
  doc.append(static_cast<size_t>(depth), '\0');
  return doc;
}

TEST(EventTest, NestingUpToTheLimitDecodes) {
  EXPECT_TRUE(DecodeDocument(NestedDocument(kMaxDepth)).ok());
}

TEST(EventTest, HostileNestingIsRejectedNotACrash) {
  const absl::StatusOr<Value> v = DecodeDocument(NestedDocument(100000));
  EXPECT_FALSE(v.ok());
}

}  // namespace
}  // namespace ziggy
