#include "client/format/bson_writer.h"

#include <bson/bson.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "client/testing/bson_buffer.h"
#include "client/testing/strict_bson.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

using ::ziggy::testing::StrictlyValid;

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

// Keys and strings that are not UTF-8 are written repaired (each invalid
// sequence one U+FFFD), as libbson would write the repaired text; valid
// text, multi-byte or with NULs inside a string, byte for byte.
TEST(BsonWriterTest, SanitisesInvalidUtf8) {
  BsonWriter ours;
  const size_t doc = ours.BeginDocument();
  ours.Utf8("k\xFF", "v\xE2\x82");
  ours.Utf8("caf\xC3\xA9", "\xF0\x9F\x98\x80");
  ours.Utf8("nul", absl::string_view("a\0\xC0\x80", 4));
  const size_t sub = ours.BeginSubdocument("s\xED\xA0\x80");
  ours.Int32("i\x80", 1);
  const size_t arr = ours.BeginArray("a\xF4\x90\x80\x80");
  ours.Utf8("0", std::string(20, 'x') + "\xFE");
  ours.EndDocument(arr);
  ours.EndDocument(sub);
  ours.EndDocument(doc);

  const std::string r = "\xEF\xBF\xBD";  // U+FFFD
  testing::BsonBuffer theirs;
  bson_t* t = theirs.get();
  BSON_APPEND_UTF8(t, ("k" + r).c_str(), ("v" + r).c_str());
  BSON_APPEND_UTF8(t, "caf\xC3\xA9", "\xF0\x9F\x98\x80");
  const std::string nul = std::string("a\0", 2) + r + r;
  bson_append_utf8(t, "nul", -1, nul.data(), static_cast<int>(nul.size()));
  bson_t s, a;
  BSON_APPEND_DOCUMENT_BEGIN(t, ("s" + r + r + r).c_str(), &s);
  BSON_APPEND_INT32(&s, ("i" + r).c_str(), 1);
  BSON_APPEND_ARRAY_BEGIN(&s, ("a" + r + r + r + r).c_str(), &a);
  BSON_APPEND_UTF8(&a, "0", (std::string(20, 'x') + r).c_str());
  bson_append_array_end(&s, &a);
  bson_append_document_end(t, &s);

  EXPECT_EQ(ours.bytes(), theirs.bytes());
  EXPECT_TRUE(StrictlyValid(ours.bytes(), /*allow_nul=*/true));
}

// Every encoder goes through the writer: events, STATUS and control
// replies built from names that came off the network stay readable.
TEST(BsonWriterTest, EncodersNeverWriteInvalidUtf8) {
  Event event;
  event.type = "t\xFF";
  event.host = "h\xC3";
  event.body = Value(Value::Map{{"k\x80", "v\xE0\x80\xAF"}});
  EXPECT_TRUE(StrictlyValid(EncodeEvent(event)));
  EXPECT_TRUE(StrictlyValid(EncodeDocument(Value(Value::Map{
      {"hosts", Value(Value::Map{{"bad\xFE", Value(Value::Map{{"last", 1}})}})},
      {"error", "unknown command \xFF"}}))));
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

// The event encoders written for flat bodies (an event's prefix written
// ahead of its elements, then closed; EncodeEventWithBody) give exactly
// EncodeEventTo's bytes, for every body size from empty up.
TEST(BsonWriterTest, EventPrefixAndCloseMatchEncodeEventTo) {
  BsonWriter host_pid;
  HostPidElements("web-1", 4242, &host_pid);
  for (const absl::string_view id :
       {absl::string_view("5f1d2a3b000102030405060708090a0b"),
        absl::string_view(""), absl::string_view("x")}) {
    for (int fields = 0; fields < 4; ++fields) {
      BsonWriter elements;
      for (int i = 0; i < fields; ++i) {
        elements.Integer(absl::StrCat("k", i), i);
        elements.Utf8("s", std::string(i * 7, 'v'));
      }
      const EventHeader h{
          id,           "request.sql",   "web-1", 4242, 1700000000.25,
          1700000000.5, host_pid.bytes()};
      BsonWriter expected;
      EncodeEventTo(&expected, h,
                    [&](BsonWriter* b) { b->Raw(elements.bytes()); });

      const size_t prefix = EventPrefixSize(h);
      const size_t size = prefix + elements.bytes().size() + kEventSuffixSize;
      std::string framed(size, '?');
      const EventHeader at_start{
          h.id, h.type, h.host, h.pid, h.start, h.start, h.host_pid_elements};
      WriteEventPrefix(&framed[0], at_start);  // end written later
      framed.replace(prefix, elements.bytes().size(),
                     std::string(elements.bytes()));
      CloseEvent(&framed[0], prefix, size, h.end);
      EXPECT_EQ(framed, expected.bytes()) << id << " " << fields;

      BsonWriter with_body;
      ASSERT_TRUE(EncodeEventWithBody(&with_body, h, elements.bytes()));
      EXPECT_EQ(with_body.bytes(), expected.bytes()) << id << " " << fields;
    }
  }
}

// CopySmall copies exactly n bytes for every n around its word sizes and
// beyond its inline limit, and writes nothing outside them.
TEST(BsonWriterTest, CopySmallCopiesExactly) {
  std::string from(130, '\0');
  for (size_t i = 0; i < from.size(); ++i) from[i] = static_cast<char>(i + 1);
  for (size_t n = 0; n <= 129; ++n) {
    std::string to(n + 16, '#');
    CopySmall(&to[8], from.data(), n);
    EXPECT_EQ(to.substr(0, 8), std::string(8, '#')) << n;
    EXPECT_EQ(to.substr(8, n), from.substr(0, n)) << n;
    EXPECT_EQ(to.substr(8 + n), std::string(8, '#')) << n;
  }
}

}  // namespace
}  // namespace ziggy
