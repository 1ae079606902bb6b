#include "client/format/utf8.h"

#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

constexpr char kR[] = "\xEF\xBF\xBD";  // U+FFFD

std::string Repaired(absl::string_view s) {
  ByteBuffer out;
  AppendRepairedUtf8(s, &out);
  return std::string(out.view());
}

std::string R(int n) {
  std::string r;
  for (int i = 0; i < n; ++i) r.append(kR);
  return r;
}

// The definition, decoded the slow way: the longest valid prefix.
size_t ReferencePrefix(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t n;
    uint32_t cp, min;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return i;
    }
    if (s.size() - i < n) return i;
    for (size_t k = 1; k < n; ++k) {
      const auto b = static_cast<uint8_t>(s[i + k]);
      if ((b & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n;
  }
  return i;
}

void ExpectAgrees(const std::string& s) {
  const size_t want = ReferencePrefix(s);
  ASSERT_EQ(ValidUtf8Prefix(s), want) << absl::CEscape(s);
  ASSERT_EQ(IsValidUtf8(s), want == s.size()) << absl::CEscape(s);
}

// Every string of one, two and three bytes, and four-byte ones around every
// boundary, against the definition.
TEST(Utf8Test, AgreesWithTheDefinitionExhaustively) {
  std::string s;
  for (int a = 0; a < 256; ++a) {
    ExpectAgrees(std::string(1, static_cast<char>(a)));
    for (int b = 0; b < 256; ++b) {
      s = {static_cast<char>(a), static_cast<char>(b)};
      ExpectAgrees(s);
      if (a < 0xC0) continue;  // no longer sequence starts below C0
      for (int c = 0; c < 256; ++c) {
        s = {static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)};
        ExpectAgrees(s);
      }
    }
  }
  const int edges[] = {0x00, 0x7F, 0x80, 0x8F, 0x90,
                       0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
  for (int a = 0xF0; a < 0x100; ++a) {
    for (int b : edges) {
      for (int c : edges) {
        for (int d : edges) {
          s = {static_cast<char>(a), static_cast<char>(b), static_cast<char>(c),
               static_cast<char>(d)};
          ExpectAgrees(s);
        }
      }
    }
  }
}

// The eight-byte fast path: one bad byte at every offset of every length,
// so each lands in a whole word, the overlapping tail and the short paths.
TEST(Utf8Test, FindsABadByteAtEveryOffset) {
  for (size_t n = 1; n <= 40; ++n) {
    const std::string ascii(n, 'a');
    EXPECT_TRUE(IsAscii(ascii.data(), n));
    EXPECT_TRUE(IsValidUtf8(ascii));
    for (size_t at = 0; at < n; ++at) {
      std::string s = ascii;
      s[at] = '\x80';
      EXPECT_FALSE(IsAscii(s.data(), n)) << n << " " << at;
      EXPECT_FALSE(IsValidUtf8(s)) << n << " " << at;
      EXPECT_EQ(ValidUtf8Prefix(s), at);
      EXPECT_EQ(Repaired(s),
                absl::StrCat(ascii.substr(0, at), kR, ascii.substr(at + 1)));
    }
  }
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8(std::string("nul\0inside", 10)));  // U+0000
}

// One U+FFFD per maximal subpart, as Python's
// bytes.decode("utf-8", errors="replace") gives (each expectation is its
// output).
TEST(Utf8Test, RepairsLikePython) {
  const std::pair<std::string, std::string> cases[] = {
      {"plain", "plain"},
      {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",
       "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},
      {"\x80", R(1)},                  // lone continuation
      {"\xBF\x80", R(2)},              //
      {"\xC0\xAF", R(2)},              // overlong, never a lead
      {"\xC0\x80", R(2)},              // overlong NUL (libbson allows it)
      {"\xC1\xBF", R(2)},              //
      {"\xE0\x80\xAF", R(3)},          // overlong three-byte
      {"\xE0\x9F\xBF", R(3)},          //
      {"\xF0\x8F\xBF\xBF", R(4)},      // overlong four-byte
      {"\xED\xA0\x80", R(3)},          // surrogate
      {"\xED\xBF\xBF", R(3)},          //
      {"\xF4\x90\x80\x80", R(4)},      // above U+10FFFF
      {"\xF5\x80\x80\x80", R(4)},      //
      {"\xF8\x88\x80\x80\x80", R(5)},  // old five-byte form
      {"\xFF\xFE", R(2)},              //
      {"\xC3", R(1)},                  // truncated at the end
      {"\xE2\x82", R(1)},              //
      {"\xF0\x9F\x98", R(1)},          //
      {"\xE2\x82x", R(1) + "x"},       // truncated mid-string
      {"\xF0\x9Fx", R(1) + "x"},       //
      {"a\xC3(b", "a" + R(1) + "(b"},  //
      {"\xE2\x82\xE2\x82\xAC", R(1) + "\xE2\x82\xAC"},
      {std::string("nul\0\xFF\0", 6), std::string("nul\0", 4) + R(1) + '\0'},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(Repaired(in), want) << absl::CEscape(in);
    EXPECT_EQ(IsValidUtf8(in), in == want) << absl::CEscape(in);
    EXPECT_TRUE(IsValidUtf8(Repaired(in))) << absl::CEscape(in);
  }
}

// Every cut of valid text: a sequence cut short becomes one U+FFFD.
TEST(Utf8Test, EveryTruncation) {
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";
  const size_t starts[] = {0, 1, 3, 6, 10, 11};  // where characters begin
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    const std::string part = text.substr(0, cut);
    size_t whole = 0;
    for (size_t s : starts) {
      if (s <= cut) whole = s;
    }
    const bool split = whole != cut;
    EXPECT_EQ(ValidUtf8Prefix(part), whole) << cut;
    EXPECT_EQ(Repaired(part), part.substr(0, whole) + (split ? R(1) : ""))
        << cut;
  }
}

}  // namespace
}  // namespace ziggy
