#include "client/format/utf8.h"

namespace ziggy {
namespace {

// At s[i]: the length of the valid sequence starting there (> 0), or minus
// the length of the maximal subpart of an invalid one (< 0).
int SequenceAt(const uint8_t* s, size_t n, size_t i) {
  const uint8_t lead = s[i];
  if (lead < 0x80) return 1;
  // The second byte's range excludes overlongs (E0, F0), surrogates (ED)
  // and code points above U+10FFFF (F4); C0, C1 and F5-FF never lead.
  int length;
  uint8_t low = 0x80, high = 0xBF;
  if (lead < 0xC2) {
    return -1;
  } else if (lead < 0xE0) {
    length = 2;
  } else if (lead < 0xF0) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead < 0xF5) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return -1;
  }
  if (n - i < 2 || s[i + 1] < low || s[i + 1] > high) return -1;
  for (int k = 2; k < length; ++k) {
    if (n - i <= static_cast<size_t>(k) || (s[i + k] & 0xC0) != 0x80) {
      return -k;
    }
  }
  return length;
}

// Steps over plain ASCII from `i`, eight bytes at a time.
size_t SkipAscii(const uint8_t* s, size_t n, size_t i) {
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    memcpy(&word, s + i, 8);
    if (word & kHighBits) break;
  }
  while (i < n && s[i] < 0x80) ++i;
  return i;
}

}  // namespace

size_t ValidUtf8Prefix(absl::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = SkipAscii(s, n, 0);
  while (i < n) {
    const int length = SequenceAt(s, n, i);
    if (length < 0) return i;
    i = SkipAscii(s, n, i + static_cast<size_t>(length));
  }
  return i;
}

void AppendRepairedUtf8(absl::string_view text, ByteBuffer* out) {
  while (!text.empty()) {
    const size_t valid = ValidUtf8Prefix(text);
    out->Append(text.substr(0, valid));
    if (valid == text.size()) return;
    const int bad = -SequenceAt(reinterpret_cast<const uint8_t*>(text.data()),
                                text.size(), valid);
    memcpy(out->Extend(3), "\xEF\xBF\xBD", 3);  // U+FFFD
    text.remove_prefix(valid + static_cast<size_t>(bad));
  }
}

}  // namespace ziggy
