// Byte scans eight bytes at a time (SIMD within a register), for the hot
// paths that look for a NUL in short strings: keys being set, keys being
// checked.

#ifndef ZIGGY_CLIENT_INTERNAL_SWAR_H_
#define ZIGGY_CLIENT_INTERNAL_SWAR_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ziggy::internal {

// Nonzero when any byte of `word` is zero (the classic test). Bytes above
// the first zero may be flagged falsely; the lowest flag is always right.
inline uint64_t HasZeroByte(uint64_t word) {
  return (word - 0x0101010101010101ull) & ~word & 0x8080808080808080ull;
}

// The offset of the first NUL in data[from, end), or `end`.
inline size_t FindNul(const char* data, size_t from, size_t end) {
  size_t i = from;
  for (; i + 8 <= end; i += 8) {
    uint64_t word;
    memcpy(&word, data + i, 8);  // little-endian: byte k is bits 8k..8k+7
    if (const uint64_t zero = HasZeroByte(word); zero != 0) {
      return i + static_cast<size_t>(__builtin_ctzll(zero)) / 8;
    }
  }
  while (i < end && data[i] != '\0') ++i;
  return i;
}

}  // namespace ziggy::internal

#endif  // ZIGGY_CLIENT_INTERNAL_SWAR_H_
