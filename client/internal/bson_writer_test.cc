#include "client/internal/bson_writer.h"

#include <bson/bson.h>

#include "client/testing/bson_buffer.h"
#include "gtest/gtest.h"

namespace ziggy::internal {
namespace {

// Our writer and libbson produce the same bytes for every element we write.
TEST(BsonWriterTest, MatchesLibbsonByteForByte) {
  BsonWriter ours;
  const size_t doc = ours.BeginDocument();
  ours.Double("d", -0.25);
  ours.Utf8("s", "text");
  ours.Utf8("empty", "");
  ours.Utf8("nul", absl::string_view("a\0b", 3));
  ours.Bool("t", true);
  ours.Bool("f", false);
  ours.Null("n");
  ours.Int32("i32", -7);
  ours.Int64("i64", int64_t{1} << 40);
  ours.Integer("small", 5);
  ours.Integer("large", -(int64_t{1} << 35));
  const size_t sub = ours.BeginSubdocument("sub");
  ours.Int32("x", 1);
  const size_t arr = ours.BeginArray("arr");
  char buf[16];
  for (uint32_t i = 0; i < 12; ++i) ours.Int32(BsonWriter::IndexKey(i, buf), i);
  ours.EndDocument(arr);
  ours.EndDocument(sub);
  const size_t empty = ours.BeginSubdocument("empty_doc");
  ours.EndDocument(empty);
  ours.EndDocument(doc);

  testing::BsonBuffer theirs;
  bson_t* t = theirs.get();
  BSON_APPEND_DOUBLE(t, "d", -0.25);
  BSON_APPEND_UTF8(t, "s", "text");
  BSON_APPEND_UTF8(t, "empty", "");
  bson_append_utf8(t, "nul", -1, "a\0b", 3);
  BSON_APPEND_BOOL(t, "t", true);
  BSON_APPEND_BOOL(t, "f", false);
  BSON_APPEND_NULL(t, "n");
  BSON_APPEND_INT32(t, "i32", -7);
  BSON_APPEND_INT64(t, "i64", int64_t{1} << 40);
  BSON_APPEND_INT32(t, "small", 5);
  BSON_APPEND_INT64(t, "large", -(int64_t{1} << 35));
  bson_t s, a, e;
  BSON_APPEND_DOCUMENT_BEGIN(t, "sub", &s);
  BSON_APPEND_INT32(&s, "x", 1);
  BSON_APPEND_ARRAY_BEGIN(&s, "arr", &a);
  for (uint32_t i = 0; i < 12; ++i) {
    const char* key;
    char kbuf[16];
    bson_uint32_to_string(i, &key, kbuf, sizeof kbuf);
    BSON_APPEND_INT32(&a, key, static_cast<int32_t>(i));
  }
  bson_append_array_end(&s, &a);
  bson_append_document_end(t, &s);
  BSON_APPEND_DOCUMENT_BEGIN(t, "empty_doc", &e);
  bson_append_document_end(t, &e);

  EXPECT_EQ(ours.bytes(), theirs.bytes());
}

TEST(BsonWriterTest, ClearKeepsCapacityAndGrowsForLargeValues) {
  BsonWriter w;
  size_t doc = w.BeginDocument();
  w.Utf8("big", std::string(100000, 'x'));
  w.EndDocument(doc);
  EXPECT_EQ(w.bytes().size(), 4u + 1 + 4 + 4 + 100001 + 1);
  const size_t capacity = w.capacity();
  w.Clear();
  doc = w.BeginDocument();
  w.EndDocument(doc);
  EXPECT_EQ(w.bytes(), absl::string_view("\x05\0\0\0\0", 5));
  EXPECT_EQ(w.capacity(), capacity);
}

TEST(BsonWriterTest, IndexKeys) {
  char buf[16];
  EXPECT_EQ(BsonWriter::IndexKey(0, buf), "0");
  EXPECT_EQ(BsonWriter::IndexKey(10, buf), "10");
  EXPECT_EQ(BsonWriter::IndexKey(4294967295u, buf), "4294967295");
}

}  // namespace
}  // namespace ziggy::internal
