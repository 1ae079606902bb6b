// Byte scans eight bytes at a time (SIMD within a register), for the hot
// paths that look for a NUL in short strings (keys being set, keys being
// checked) or for bytes >= 0x80 (the ASCII fast path of utf8.h).

#ifndef ZIGGY_CLIENT_INTERNAL_SWAR_H_
#define ZIGGY_CLIENT_INTERNAL_SWAR_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ziggy::internal {

// Nonzero when any byte of `word` is zero (the classic test). Bytes above
// the first zero may be flagged falsely; the lowest flag is always right.
inline constexpr uint64_t kHighBits = 0x8080808080808080ull;

inline uint64_t HasZeroByte(uint64_t word) {
  return (word - 0x0101010101010101ull) & ~word & 0x8080808080808080ull;
}

// The offset of the first NUL in data[from, end), or `end`. ORs every byte
// before it into *seen, so (*seen & kHighBits) tells whether one is >= 0x80
// (the UTF-8 check's fast path: a key that is all ASCII needs no decoding).
inline size_t FindNul(const char* data, size_t from, size_t end,
                      uint64_t* seen) {
  size_t i = from;
  uint64_t acc = 0;
  for (; i + 8 <= end; i += 8) {
    uint64_t word;
    memcpy(&word, data + i, 8);  // little-endian: byte k is bits 8k..8k+7
    if (const uint64_t zero = HasZeroByte(word); zero != 0) {
      *seen |= acc | (word & ((zero & -zero) - 1));  // the bytes below it
      return i + static_cast<size_t>(__builtin_ctzll(zero)) / 8;
    }
    acc |= word;
  }
  while (i < end && data[i] != '\0') acc |= static_cast<uint8_t>(data[i++]);
  *seen |= acc;
  return i;
}

inline size_t FindNul(const char* data, size_t from, size_t end) {
  uint64_t unused = 0;
  return FindNul(data, from, end, &unused);
}

}  // namespace ziggy::internal

#endif  // ZIGGY_CLIENT_INTERNAL_SWAR_H_
