#include "client/reader/json.h"

#include <bson/bson.h>

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "client/testing/bson_buffer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ziggy {
namespace {

using ::nlohmann::json;

json Parse(absl::string_view bson, bool pretty = false) {
  std::string out;
  const absl::Status s = AppendJson(bson, &out, {pretty});
  EXPECT_TRUE(s.ok()) << s;
  return json::parse(out);  // throws, failing the test, on invalid JSON
}

TEST(JsonTest, EventRoundTripsThroughAJsonParser) {
  Event event;
  event.id = "abc";
  event.type = "request";
  event.host = "web-1";
  event.pid = 7;
  event.start = 1700000000.125;
  event.end = 0.1;
  event.body = Value(Value::Map{{"status", 200},
                                {"big", int64_t{1} << 53},
                                {"ok", true},
                                {"none", nullptr},
                                {"list", Value::MakeList({1, "two", 3.5})}});
  const json j = Parse(EncodeEvent(event));
  EXPECT_EQ(j["id"], "abc");
  EXPECT_EQ(j["pid"], 7);
  EXPECT_EQ(j["start"].get<double>(), 1700000000.125);
  EXPECT_EQ(j["end"].get<double>(), 0.1);  // shortest round-trip digits
  EXPECT_EQ(j["body"]["status"], 200);
  EXPECT_EQ(j["body"]["big"].get<int64_t>(), int64_t{1} << 53);
  EXPECT_EQ(j["body"]["ok"], true);
  EXPECT_TRUE(j["body"]["none"].is_null());
  EXPECT_EQ(j["body"]["list"], json::parse(R"([1, "two", 3.5])"));
}

TEST(JsonTest, HostileStringsStayValidJson) {
  testing::BsonBuffer doc;
  std::string controls;
  for (int c = 0; c < 0x20; ++c) controls.push_back(static_cast<char>(c));
  const std::string cases[] = {
      "quote \" backslash \\ slash /",
      controls,
      "\x7f",
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",  // valid UTF-8
      "bad \xff\xfe lone \x80 cut \xe2\x82",        // invalid UTF-8
      "surrogate \xed\xa0\x80 overlong \xc0\xaf",
      std::string("nul\0inside", 10),
  };
  int i = 0;
  for (const std::string& s : cases) {
    bson_append_utf8(doc.get(), std::to_string(i++).c_str(), -1, s.data(),
                     static_cast<int>(s.size()));
  }
  bson_append_utf8(doc.get(), "k\xff\"ey", -1, "v", 1);  // hostile key
  const json j = Parse(doc.bytes());
  EXPECT_EQ(j["0"], cases[0]);
  EXPECT_EQ(j["1"], controls);
  EXPECT_EQ(j["2"], "\x7f");
  EXPECT_EQ(j["3"], cases[3]);
  EXPECT_EQ(j["4"],
            "bad \xef\xbf\xbd\xef\xbf\xbd lone \xef\xbf\xbd cut "
            "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(j["6"], cases[6]);
  EXPECT_EQ(j["k\xef\xbf\xbd\"ey"], "v");
}

// How one byte of otherwise plain text is written, read byte by byte: a
// byte from 0x80 on alone is not UTF-8, so U+FFFD.
std::string EscapedByte(unsigned char c) {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
  }
  if (c < 0x20) return absl::StrCat("\\u00", absl::Hex(c, absl::kZeroPad2));
  if (c >= 0x80) return "\xef\xbf\xbd";
  return std::string(1, static_cast<char>(c));
}

// The printer scans strings a block at a time, into the rest of the
// document: every byte value at every position of strings up to past two
// blocks, with more of the document after them, comes out as a byte-at-a-
// time reading writes it.
TEST(JsonTest, EveryByteAtEveryPositionIsEscapedAsAlone) {
  for (size_t length = 1; length <= 40; ++length) {
    for (size_t at = 0; at < length; ++at) {
      for (int c = 0; c < 256; ++c) {
        std::string text(length, 'a');
        text[at] = static_cast<char>(c);
        testing::BsonBuffer doc;
        bson_append_utf8(doc.get(), "s", -1, text.data(),
                         static_cast<int>(text.size()));
        bson_append_utf8(doc.get(), "z", -1, "tail", -1);
        std::string out;
        ASSERT_TRUE(AppendJson(doc.bytes(), &out).ok());
        ASSERT_EQ(out, absl::StrCat("{\"s\":\"", std::string(at, 'a'),
                                    EscapedByte(static_cast<unsigned char>(c)),
                                    std::string(length - at - 1, 'a'),
                                    "\",\"z\":\"tail\"}"))
            << "byte " << c << " at " << at << " of " << length;
      }
    }
  }
}

TEST(JsonTest, NonFiniteDoublesAreStrings) {
  testing::BsonBuffer doc;
  BSON_APPEND_DOUBLE(doc.get(), "nan", std::nan(""));
  BSON_APPEND_DOUBLE(doc.get(), "inf", std::numeric_limits<double>::infinity());
  BSON_APPEND_DOUBLE(doc.get(), "ninf",
                     -std::numeric_limits<double>::infinity());
  BSON_APPEND_DOUBLE(doc.get(), "tiny", 5e-324);
  const json j = Parse(doc.bytes());
  EXPECT_EQ(j["nan"], "NaN");
  EXPECT_EQ(j["inf"], "Infinity");
  EXPECT_EQ(j["ninf"], "-Infinity");
  EXPECT_EQ(j["tiny"].get<double>(), 5e-324);
}

TEST(JsonTest, EveryOtherTypeIsExtendedJson) {
  testing::BsonBuffer doc;
  bson_t* d = doc.get();
  const uint8_t bin[] = {0xde, 0xad};
  BSON_APPEND_BINARY(d, "bin", BSON_SUBTYPE_UUID, bin, 2);
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, "0123456789abcdef01234567");
  BSON_APPEND_OID(d, "oid", &oid);
  BSON_APPEND_DATE_TIME(d, "date", -5);
  BSON_APPEND_REGEX(d, "re", "a\"b", "i");
  BSON_APPEND_TIMESTAMP(d, "ts", 1, 2);
  bson_decimal128_t dec;
  bson_decimal128_from_string("1.25", &dec);
  BSON_APPEND_DECIMAL128(d, "dec", &dec);
  BSON_APPEND_CODE(d, "code", "f()");
  BSON_APPEND_SYMBOL(d, "sym", "s");
  bson_t scope;
  bson_init(&scope);
  BSON_APPEND_INT32(&scope, "x", 1);
  BSON_APPEND_CODE_WITH_SCOPE(d, "cws", "g()", &scope);
  bson_destroy(&scope);
  BSON_APPEND_DBPOINTER(d, "ptr", "coll", &oid);
  BSON_APPEND_UNDEFINED(d, "undef");
  BSON_APPEND_MINKEY(d, "min");
  BSON_APPEND_MAXKEY(d, "max");
  bson_t arr;
  BSON_APPEND_ARRAY_BEGIN(d, "empty_array", &arr);
  bson_append_array_end(d, &arr);
  const json j = Parse(doc.bytes(), /*pretty=*/true);
  EXPECT_EQ(j["bin"],
            json::parse(R"({"$binary":{"base64":"3q0=","subType":"04"}})"));
  EXPECT_EQ(j["oid"]["$oid"], "0123456789abcdef01234567");
  EXPECT_EQ(j["date"]["$date"]["$numberLong"], "-5");
  EXPECT_EQ(j["re"]["$regularExpression"]["pattern"], "a\"b");
  EXPECT_EQ(j["ts"], json::parse(R"({"$timestamp":{"t":1,"i":2}})"));
  EXPECT_EQ(j["dec"]["$numberDecimal"], "1.25");
  EXPECT_EQ(j["code"]["$code"], "f()");
  EXPECT_EQ(j["sym"]["$symbol"], "s");
  EXPECT_EQ(j["cws"]["$scope"]["x"], 1);
  EXPECT_EQ(j["ptr"]["$dbPointer"]["$ref"], "coll");
  EXPECT_EQ(j["undef"]["$undefined"], true);
  EXPECT_EQ(j["min"]["$minKey"], 1);
  EXPECT_EQ(j["max"]["$maxKey"], 1);
  EXPECT_TRUE(j["empty_array"].is_array());
}

TEST(JsonTest, PrettyIsIndented) {
  testing::BsonBuffer doc;
  BSON_APPEND_INT32(doc.get(), "a", 1);
  std::string out;
  ASSERT_TRUE(AppendJson(doc.bytes(), &out, {true}).ok());
  EXPECT_EQ(out, "{\n  \"a\": 1\n}");
}

TEST(JsonTest, MalformedInputAppendsNothing) {
  std::string out = "keep";
  EXPECT_EQ(AppendJson("not bson", &out).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(out, "keep");
}

}  // namespace
}  // namespace ziggy
