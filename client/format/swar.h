// Byte scans eight bytes at a time (SIMD within a register), for the hot
// paths that look for a NUL in short strings (keys being set, keys being
// checked) or for bytes >= 0x80 (the ASCII fast path of utf8.h), and
// short compares (the daemons' per-type caches).

#ifndef ZIGGY_CLIENT_FORMAT_SWAR_H_
#define ZIGGY_CLIENT_FORMAT_SWAR_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/strings/string_view.h"

namespace ziggy {

// Bit 7 of every byte.
inline constexpr uint64_t kHighBits = 0x8080808080808080ull;

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

// The offset of the first byte in data[from, end) that is NUL or >= 0x80,
// or `end`: FindNul's cost, and for an ASCII key it is the key's end. A
// byte below the lowest flagged one is 0x01-0x7F, which neither borrows nor
// has bit 7, so the lowest flag is exact.
inline size_t FindNulOrNonAscii(const char* data, size_t from, size_t end) {
  size_t i = from;
  for (; i + 8 <= end; i += 8) {
    uint64_t word;
    memcpy(&word, data + i, 8);
    const uint64_t flags = ((word - 0x0101010101010101ull) | word) & kHighBits;
    if (flags != 0) return i + static_cast<size_t>(__builtin_ctzll(flags)) / 8;
  }
  while (i < end && data[i] != '\0' && static_cast<uint8_t>(data[i]) < 0x80) {
    ++i;
  }
  return i;
}

// Whether a[0, n) and b[0, n) hold the same bytes, for sizeof(Word) <= n
// <= 2 * sizeof(Word): their first and last words compared.
template <typename Word>
inline bool SameEnds(const char* a, const char* b, size_t n) {
  Word a0, a1, b0, b1;
  memcpy(&a0, a, sizeof a0);
  memcpy(&b0, b, sizeof b0);
  memcpy(&a1, a + n - sizeof a1, sizeof a1);
  memcpy(&b1, b + n - sizeof b1, sizeof b1);
  return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

// Whether a[0, n) and b[0, n) hold the same bytes: overlapping word loads
// up to 32 bytes (most type names and hosts), memcmp beyond.
inline bool SameBytes(const char* a, const char* b, size_t n) {
  if (n > 32) return memcmp(a, b, n) == 0;
  if (n > 16) {
    return SameEnds<uint64_t>(a, b, 16) &&
           SameEnds<uint64_t>(a + n - 16, b + n - 16, 16);
  }
  if (n >= 8) return SameEnds<uint64_t>(a, b, n);
  if (n >= 4) return SameEnds<uint32_t>(a, b, n);
  return n == 0 ||
         (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
}

// a == b, with SameBytes.
inline bool SameString(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && SameBytes(a.data(), b.data(), a.size());
}

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_FORMAT_SWAR_H_
