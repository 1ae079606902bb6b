// UTF-8 checking and repair: the one scanner behind the BSON writer's
// sanitising (bson_writer.h), the validator's UTF-8 check (bson_validate.h)
// and the daemons' repair of events (bson_repair.h), so all three agree on
// what a strict BSON reader (pymongo, libbson's bson_utf8_validate) accepts.
//
// Valid is well-formed UTF-8: no overlong form (C0 80 included, which
// libbson's allow_null mode lets through), no surrogate U+D800-DFFF, nothing
// above U+10FFFF, no truncated sequence. U+0000 is valid: a BSON string may
// hold NUL bytes (a key cannot, being a C string; its callers see to that).
//
// Repair replaces each maximal subpart of an invalid sequence with U+FFFD
// (EF BF BD), Unicode's recommended practice, as Python's
// decode(errors="replace") and the WHATWG decoder do: "\xE2\x82" cut short
// is one U+FFFD, "\xFF\xFE" two. The result is at most three times longer.
//
// Plain ASCII, the common case, is checked eight bytes at a time; bytes are
// decoded only from the first one >= 0x80.
//
// Thread-safety: reentrant.

#ifndef ZIGGY_CLIENT_FORMAT_UTF8_H_
#define ZIGGY_CLIENT_FORMAT_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/base/optimization.h"
#include "absl/strings/string_view.h"
#include "client/format/byte_buffer.h"
#include "client/format/swar.h"

namespace ziggy {

// True when no byte of data[0, n) is >= 0x80. Overlapping loads, so short
// strings (most keys) cost two loads and no byte loop.
inline bool IsAscii(const char* data, size_t n) {
  uint64_t seen = 0;
  if (n >= 8) {
    // Two accumulators, sixteen bytes a turn: the loads are independent.
    uint64_t word, other = 0;
    size_t i = 0;
    for (; i + 16 < n; i += 16) {
      memcpy(&word, data + i, 8);
      seen |= word;
      memcpy(&word, data + i + 8, 8);
      other |= word;
    }
    if (i + 8 < n) {
      memcpy(&word, data + i, 8);
      seen |= word;
    }
    memcpy(&word, data + n - 8, 8);
    seen |= word | other;
  } else if (n >= 4) {
    uint32_t head, tail;
    memcpy(&head, data, 4);
    memcpy(&tail, data + n - 4, 4);
    seen = head | tail;
  } else if (n > 0) {
    seen = static_cast<uint8_t>(data[0]) | static_cast<uint8_t>(data[n / 2]) |
           static_cast<uint8_t>(data[n - 1]);
  }
  return (seen & kHighBits) == 0;
}

// The length of the longest prefix of `s` that is valid UTF-8.
size_t ValidUtf8Prefix(absl::string_view s);

inline bool IsValidUtf8(absl::string_view s) {
  return ABSL_PREDICT_TRUE(IsAscii(s.data(), s.size())) ||
         ValidUtf8Prefix(s) == s.size();
}

// Appends `s` to *out with every invalid sequence replaced by U+FFFD.
void AppendRepairedUtf8(absl::string_view s, ByteBuffer* out);

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_FORMAT_UTF8_H_
