#include "client/format/bson_validate.h"

#include <bson/bson.h>

#include <iterator>
#include <random>

#include "absl/strings/str_cat.h"
#include "client/format/bson_type.h"
#include "client/format/event.h"
#include "client/testing/bson_buffer.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

// One of every BSON type, nested.
std::string EveryType() {
  testing::BsonBuffer doc;
  bson_t* d = doc.get();
  BSON_APPEND_DOUBLE(d, "double", 1.5);
  BSON_APPEND_UTF8(d, "utf8", "text");
  bson_t child;
  BSON_APPEND_DOCUMENT_BEGIN(d, "doc", &child);
  BSON_APPEND_INT32(&child, "x", 1);
  bson_append_document_end(d, &child);
  BSON_APPEND_ARRAY_BEGIN(d, "array", &child);
  BSON_APPEND_INT64(&child, "0", 2);
  bson_append_array_end(d, &child);
  const uint8_t bin[] = {1, 2, 3};
  BSON_APPEND_BINARY(d, "binary", BSON_SUBTYPE_BINARY, bin, 3);
  BSON_APPEND_UNDEFINED(d, "undefined");
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, "0123456789abcdef01234567");
  BSON_APPEND_OID(d, "oid", &oid);
  BSON_APPEND_BOOL(d, "bool", true);
  BSON_APPEND_DATE_TIME(d, "date", 5);
  BSON_APPEND_NULL(d, "null");
  BSON_APPEND_REGEX(d, "regex", "a+", "i");
  BSON_APPEND_DBPOINTER(d, "dbpointer", "coll", &oid);
  BSON_APPEND_CODE(d, "code", "f()");
  BSON_APPEND_SYMBOL(d, "symbol", "sym");
  bson_t scope;
  bson_init(&scope);
  BSON_APPEND_INT32(&scope, "v", 1);
  BSON_APPEND_CODE_WITH_SCOPE(d, "cws", "g()", &scope);
  bson_destroy(&scope);
  BSON_APPEND_INT32(d, "int32", 7);
  BSON_APPEND_TIMESTAMP(d, "ts", 1, 2);
  BSON_APPEND_INT64(d, "int64", 8);
  bson_decimal128_t dec;
  bson_decimal128_from_string("1.5", &dec);
  BSON_APPEND_DECIMAL128(d, "dec", &dec);
  BSON_APPEND_MINKEY(d, "min");
  BSON_APPEND_MAXKEY(d, "max");
  return std::string(doc.bytes());
}

// {"b": binary subtype 2 of 4 + `inner` declared bytes}: the old binary
// form repeats the length inside, and libbson and pymongo refuse a document
// where the two disagree (found by the intake fuzzer).
std::string OldBinary(int32_t outer, int32_t inner) {
  std::string element(
      "\x05"
      "b\0",
      3);
  element.append(reinterpret_cast<const char*>(&outer), 4);
  element.push_back('\x02');
  element.append(reinterpret_cast<const char*>(&inner), 4);
  element.append(static_cast<size_t>(outer - 4), 'x');
  const int32_t total = static_cast<int32_t>(4 + element.size() + 1);
  std::string doc(reinterpret_cast<const char*>(&total), 4);
  return doc + element + std::string(1, '\0');
}

TEST(ValidateDocumentTest, OldBinaryLengthsMustAgree) {
  std::string why;
  EXPECT_TRUE(ValidateDocument(OldBinary(7, 3), 100, &why)) << why;
  EXPECT_FALSE(ValidateDocument(OldBinary(7, 4), 100, &why));
  EXPECT_NE(why.find("subtype 2"), std::string::npos) << why;
  EXPECT_FALSE(ValidateDocument(OldBinary(7, 2), 100, &why));
}

TEST(ValidateDocumentTest, AcceptsEveryType) {
  std::string why;
  EXPECT_TRUE(ValidateDocument(EveryType(), 10, &why)) << why;
  EXPECT_TRUE(ValidateDocument(absl::string_view("\x05\0\0\0\0", 5), 0, &why));
}

TEST(ValidateDocumentTest, RejectsTrailingOrMissingBytes) {
  const std::string doc = EveryType();
  std::string why;
  EXPECT_FALSE(ValidateDocument(doc + "x", 10, &why));
  EXPECT_FALSE(ValidateDocument(doc.substr(0, doc.size() - 1), 10, &why));
  EXPECT_FALSE(ValidateDocument("", 10, &why));
}

// Every prefix and every single-byte corruption: never a crash or an
// out-of-bounds read (run under ASan), and whenever it is accepted, libbson's
// iterators can walk all of it (DecodeDocument does).
TEST(ValidateDocumentTest, PrefixesAndByteFlipsAreSafe) {
  const std::string doc = EveryType();
  std::string why;
  for (size_t cut = 0; cut < doc.size(); ++cut) {
    EXPECT_FALSE(ValidateDocument(doc.substr(0, cut), 10, &why)) << cut;
  }
  std::mt19937 rng(42);
  for (size_t at = 0; at < doc.size(); ++at) {
    for (int flip = 0; flip < 8; ++flip) {
      std::string bad = doc;
      bad[at] = static_cast<char>(rng());
      // Exact-size heap copy so ASan sees any overread.
      std::unique_ptr<char[]> copy(new char[bad.size()]);
      memcpy(copy.get(), bad.data(), bad.size());
      if (ValidateDocument(absl::string_view(copy.get(), bad.size()), 10,
                           &why)) {
        EXPECT_TRUE(
            DecodeDocument(absl::string_view(copy.get(), bad.size())).ok())
            << "byte " << at;
      }
    }
  }
}

TEST(ValidateDocumentTest, VisitsTopLevelElements) {
  const std::string doc = EveryType();
  std::vector<std::string> keys;
  std::vector<BsonType> types;
  std::string utf8, sub;
  std::string why;
  ASSERT_TRUE(ValidateDocument(
      doc, 10, &why,
      [&](absl::string_view key, BsonType type, absl::string_view value) {
        keys.emplace_back(key);
        types.push_back(type);
        if (key == "utf8") utf8 = std::string(value);
        if (key == "doc") sub = std::string(value);
      }))
      << why;
  EXPECT_EQ(keys.size(), 21u);
  EXPECT_EQ(keys.front(), "double");
  EXPECT_EQ(keys.back(), "max");
  // The type bytes libbson wrote, named by BsonType in EveryType's order.
  const std::vector<BsonType> expected = {
      BsonType::kDouble,     BsonType::kString,    BsonType::kDocument,
      BsonType::kArray,      BsonType::kBinary,    BsonType::kUndefined,
      BsonType::kObjectId,   BsonType::kBool,      BsonType::kDateTime,
      BsonType::kNull,       BsonType::kRegex,     BsonType::kDbPointer,
      BsonType::kJavaScript, BsonType::kSymbol,    BsonType::kCodeWithScope,
      BsonType::kInt32,      BsonType::kTimestamp, BsonType::kInt64,
      BsonType::kDecimal128, BsonType::kMinKey,    BsonType::kMaxKey};
  EXPECT_EQ(types, expected);
  EXPECT_EQ(utf8, "text");
  EXPECT_TRUE(DecodeDocument(sub).ok());
  EXPECT_EQ(DecodeDocument(sub)->Find("x")->AsInt(), 1);
}

// With `utf8`, text in any place that is not UTF-8 is reported without
// failing the document; binary data is not text.
TEST(ValidateDocumentTest, ChecksUtf8WhenAsked) {
  auto check = [](absl::string_view doc) {
    std::string why;
    bool utf8 = false;
    EXPECT_TRUE(ValidateDocument(
        doc, 10, &why, [](absl::string_view, BsonType, absl::string_view) {},
        &utf8))
        << why;
    return utf8;
  };
  EXPECT_TRUE(check(EveryType()));
  static constexpr char bad[] = "\xE2\x82";
  void (*const places[])(bson_t*) = {
      [](bson_t* d) { BSON_APPEND_UTF8(d, bad, "v"); },
      [](bson_t* d) { BSON_APPEND_UTF8(d, "k", bad); },
      [](bson_t* d) { BSON_APPEND_CODE(d, "k", bad); },
      [](bson_t* d) { BSON_APPEND_SYMBOL(d, "k", bad); },
      [](bson_t* d) { BSON_APPEND_REGEX(d, "k", bad, "i"); },
      [](bson_t* d) {
        bson_oid_t oid;
        bson_oid_init_from_string(&oid, "0123456789abcdef01234567");
        BSON_APPEND_DBPOINTER(d, "k", bad, &oid);
      },
      [](bson_t* d) {
        bson_t scope;
        bson_init(&scope);
        BSON_APPEND_INT32(&scope, "x", 1);
        BSON_APPEND_CODE_WITH_SCOPE(d, "k", bad, &scope);
        bson_destroy(&scope);
      },
      [](bson_t* d) {
        bson_t scope;
        bson_init(&scope);
        BSON_APPEND_UTF8(&scope, "x", bad);
        BSON_APPEND_CODE_WITH_SCOPE(d, "k", "f()", &scope);
        bson_destroy(&scope);
      },
      [](bson_t* d) {
        bson_t sub, array;
        BSON_APPEND_DOCUMENT_BEGIN(d, "k", &sub);
        BSON_APPEND_ARRAY_BEGIN(&sub, "a", &array);
        BSON_APPEND_UTF8(&array, "0", bad);
        bson_append_array_end(&sub, &array);
        bson_append_document_end(d, &sub);
      },
  };
  for (size_t i = 0; i < std::size(places); ++i) {
    testing::BsonBuffer doc;
    BSON_APPEND_INT32(doc.get(), "before", 1);
    places[i](doc.get());
    EXPECT_FALSE(check(doc.bytes())) << "place " << i;
  }
  testing::BsonBuffer binary;
  BSON_APPEND_BINARY(binary.get(), "b", BSON_SUBTYPE_BINARY,
                     reinterpret_cast<const uint8_t*>(bad), 2);
  EXPECT_TRUE(check(binary.bytes()));
}

// Keys are scanned eight bytes at a time for their end or a byte >= 0x80:
// a non-ASCII byte at every offset of keys of every length up to 20.
TEST(ValidateDocumentTest, ChecksEveryKeyOffset) {
  for (size_t n = 1; n <= 20; ++n) {
    for (size_t at = 0; at + 1 < n; ++at) {
      for (const bool valid : {true, false}) {
        std::string key(n, 'k');
        key[at] = valid ? '\xC3' : '\xFF';
        key[at + 1] = valid ? '\xA9' : 'x';
        testing::BsonBuffer doc;
        BSON_APPEND_INT32(doc.get(), key.c_str(), 1);
        BSON_APPEND_UTF8(doc.get(), "after", "v");
        std::string why;
        bool utf8 = !valid;
        ASSERT_TRUE(ValidateDocument(
            doc.bytes(), 1, &why,
            [](absl::string_view, BsonType, absl::string_view) {}, &utf8))
            << why;
        EXPECT_EQ(utf8, valid) << n << " " << at;
      }
    }
  }
}

TEST(ValidateDocumentTest, DepthLimit) {
  testing::BsonBuffer doc;
  bson_t a, b;
  BSON_APPEND_DOCUMENT_BEGIN(doc.get(), "a", &a);
  BSON_APPEND_ARRAY_BEGIN(&a, "b", &b);
  bson_append_array_end(&a, &b);
  bson_append_document_end(doc.get(), &a);
  std::string why;
  EXPECT_TRUE(ValidateDocument(doc.bytes(), 2, &why)) << why;
  EXPECT_FALSE(ValidateDocument(doc.bytes(), 1, &why));
  EXPECT_NE(why.find("nested deeper"), std::string::npos) << why;
}

TEST(ValidateDocumentTest, NestedLengthMustFitItsParent) {
  testing::BsonBuffer doc;
  bson_t a;
  BSON_APPEND_DOCUMENT_BEGIN(doc.get(), "a", &a);
  BSON_APPEND_INT32(&a, "x", 1);
  bson_append_document_end(doc.get(), &a);
  std::string bytes(doc.bytes());
  // The nested document's length is at offset 4 + 1 + 2.
  const uint32_t too_long = 100;
  memcpy(&bytes[7], &too_long, 4);
  std::string why;
  EXPECT_FALSE(ValidateDocument(bytes, 10, &why));
  EXPECT_NE(why.find("bad document length"), std::string::npos) << why;
}

}  // namespace
}  // namespace ziggy
