#include "client/format/bson_repair.h"

#include <bson/bson.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client/format/bson_validate.h"
#include "client/format/utf8.h"
#include "client/testing/bson_buffer.h"
#include "client/testing/strict_bson.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

using ::ziggy::testing::StrictlyValid;

// EveryTextPlace holds a string with a NUL inside, which BSON allows.
constexpr bool kNul = true;

std::string Repaired(absl::string_view text) {
  ByteBuffer out;
  AppendRepairedUtf8(text, &out);
  return std::string(out.view());
}

// `text` (no NUL) in every place a strict reader decodes text, at the top,
// in documents and arrays and in a code-with-scope's scope, beside binary
// data `binary` (never text, never repaired) and values of other types.
std::string EveryTextPlace(const std::string& text, const std::string& binary) {
  testing::BsonBuffer doc;
  bson_t* d = doc.get();
  const char* t = text.c_str();
  const int n = static_cast<int>(text.size());
  BSON_APPEND_INT32(d, "before", 1);
  bson_append_utf8(d, ("key" + text).c_str(), -1, t, n);
  bson_append_binary(d, "binary", -1, BSON_SUBTYPE_BINARY,
                     reinterpret_cast<const uint8_t*>(binary.data()),
                     static_cast<uint32_t>(binary.size()));
  bson_append_code(d, "code", -1, t);
  bson_append_symbol(d, "symbol", -1, t, n);
  bson_append_regex(d, "regex", -1, t, "i");
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, "0123456789abcdef01234567");
  bson_append_dbpointer(d, "dbpointer", -1, t, &oid);
  bson_t scope;
  bson_init(&scope);
  bson_append_utf8(&scope, t, -1, t, n);
  bson_append_code_with_scope(d, "cws", -1, t, &scope);
  bson_destroy(&scope);
  bson_t sub, array, inner;
  BSON_APPEND_DOCUMENT_BEGIN(d, "sub", &sub);
  BSON_APPEND_DOUBLE(&sub, "x", 0.5);
  BSON_APPEND_ARRAY_BEGIN(&sub, "array", &array);
  bson_append_utf8(&array, "0", -1, t, n);
  BSON_APPEND_DOCUMENT_BEGIN(&array, "1", &inner);
  bson_append_utf8(&inner, t, -1, "v", 1);
  bson_append_document_end(&array, &inner);
  bson_append_array_end(&sub, &array);
  bson_append_utf8(&sub, "after", -1, t, n);
  bson_append_document_end(d, &sub);
  bson_append_utf8(d, "nul", -1, "a\0b", 3);  // U+0000: valid, kept
  BSON_APPEND_INT32(d, "after", 2);
  return std::string(doc.bytes());
}

// Each kind of invalid sequence, in each place: the repaired document is
// the one libbson builds from the repaired text, byte for byte (so every
// length is right), and strict readers accept it.
TEST(RepairUtf8Test, RepairsEveryPlaceAndUpdatesEveryLength) {
  const std::string binary = "\xFF\xC0\x80";
  const std::vector<std::string> bad = {
      "\x80",         "\xFF\xFE",         "\xC0\x80",
      "\xC1\xBF",     "\xE0\x80\xAF",     "\xED\xA0\x80",
      "\xF0\x8F\xBF", "\xF4\x90\x80\x80", "\xF5\x80",
      "\xC3",         "\xE2\x82",         "\xF0\x9F\x98",
      "a\xE2\x82z",   "caf\xC3\xA9\xFF",
  };
  for (const std::string& text : bad) {
    const std::string doc = EveryTextPlace(text, binary);
    const std::string want = EveryTextPlace(Repaired(text), binary);
    ASSERT_FALSE(StrictlyValid(doc, kNul)) << absl::CEscape(text);
    ByteBuffer out;
    ASSERT_TRUE(RepairUtf8(doc, &out)) << absl::CEscape(text);
    EXPECT_EQ(out.view(), want) << absl::CEscape(text);
    EXPECT_GE(out.size(), doc.size());  // "\xF0\x9F\x98": 3 bytes either way
    EXPECT_TRUE(StrictlyValid(out.view(), kNul)) << absl::CEscape(text);
  }
}

// Valid text in every place: nothing is written, nothing even allocated.
TEST(RepairUtf8Test, ValidInputIsLeftAloneWithoutACopy) {
  for (const std::string& text :
       {std::string("plain"), std::string(""),
        std::string("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80")}) {
    const std::string doc = EveryTextPlace(text, "\xFF");
    ASSERT_TRUE(StrictlyValid(doc, kNul));
    ByteBuffer out;
    EXPECT_FALSE(RepairUtf8(doc, &out));
    EXPECT_EQ(out.size(), 0u);
    EXPECT_EQ(out.capacity(), 0u);
  }
}

// Valid text cut at every byte, as a truncating client would send it.
TEST(RepairUtf8Test, EveryTruncationOfText) {
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    const std::string part = text.substr(0, cut);
    const std::string doc = EveryTextPlace(part, "");
    ByteBuffer out;
    const bool repaired = RepairUtf8(doc, &out);
    EXPECT_EQ(repaired, !IsValidUtf8(part)) << cut;
    EXPECT_EQ(repaired ? std::string(out.view()) : doc,
              EveryTextPlace(Repaired(part), ""))
        << cut;
  }
}

// A string deep down grows every document around it.
TEST(RepairUtf8Test, DeepNesting) {
  constexpr int kDepth = 50;
  auto build = [](const std::string& text) {
    bson_t levels[kDepth + 1];
    bson_init(&levels[0]);
    for (int i = 1; i <= kDepth; ++i) {
      if (i % 2 == 0) {
        BSON_APPEND_ARRAY_BEGIN(&levels[i - 1], "0", &levels[i]);
      } else {
        BSON_APPEND_DOCUMENT_BEGIN(&levels[i - 1], "d", &levels[i]);
      }
    }
    bson_append_utf8(&levels[kDepth], "s", -1, text.c_str(), -1);
    for (int i = kDepth; i >= 1; --i) {
      if (i % 2 == 0) {
        bson_append_array_end(&levels[i - 1], &levels[i]);
      } else {
        bson_append_document_end(&levels[i - 1], &levels[i]);
      }
    }
    std::string bytes(reinterpret_cast<const char*>(bson_get_data(&levels[0])),
                      levels[0].len);
    bson_destroy(&levels[0]);
    return bytes;
  };
  ByteBuffer out;
  ASSERT_TRUE(RepairUtf8(build("x\xFFy"), &out));
  EXPECT_EQ(out.view(), build("x\xEF\xBF\xBDy"));
}

TEST(RepairUtf8Test, MalformedInputIsNotTouched) {
  std::string doc = EveryTextPlace("\xFF", "");
  doc.pop_back();
  ByteBuffer out;
  EXPECT_FALSE(RepairUtf8(doc, &out));
  EXPECT_FALSE(RepairUtf8("", &out));
  EXPECT_EQ(out.size(), 0u);
}

// Appends after what *out holds, like every ByteBuffer user.
TEST(RepairUtf8Test, AppendsToTheBuffer) {
  ByteBuffer out;
  out.Append("prefix");
  ASSERT_TRUE(RepairUtf8(EveryTextPlace("\xFF", ""), &out));
  EXPECT_EQ(out.view(), "prefix" + EveryTextPlace(Repaired("\xFF"), ""));
}

}  // namespace
}  // namespace ziggy
