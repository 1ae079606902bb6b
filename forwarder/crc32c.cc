#include "forwarder/crc32c.h"

#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace ziggy {
namespace crc32c_internal {
namespace {

struct Table {
  uint32_t entries[8][256];
  Table() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
      entries[0][i] = c;
    }
    for (int t = 1; t < 8; ++t) {
      for (uint32_t i = 0; i < 256; ++i) {
        entries[t][i] =
            (entries[t - 1][i] >> 8) ^ entries[0][entries[t - 1][i] & 0xFF];
      }
    }
  }
};

const Table& CrcTable() {
  static const Table* table = new Table;
  return *table;
}

}  // namespace

uint32_t Portable(uint32_t crc, absl::string_view data) {
  const auto& t = CrcTable().entries;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  crc = ~crc;
  while (n >= 8) {  // slicing-by-8
    const uint32_t lo = crc ^ (uint32_t{p[0]} | uint32_t{p[1]} << 8 |
                               uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24);
    crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^
          t[4][lo >> 24] ^ t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xFF];
  return ~crc;
}

#if defined(__x86_64__)

__attribute__((target("sse4.2"))) uint32_t Hardware(uint32_t crc,
                                                    absl::string_view data) {
  const char* p = data.data();
  size_t n = data.size();
  uint64_t c = ~crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    memcpy(&word, p, 8);  // little-endian, as the CRC wants
    c = _mm_crc32_u64(c, word);
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  for (; n > 0; ++p, --n) c32 = _mm_crc32_u8(c32, static_cast<uint8_t>(*p));
  return ~c32;
}

bool HaveHardware() {
  static const bool have = __builtin_cpu_supports("sse4.2");
  return have;
}

#else

uint32_t Hardware(uint32_t crc, absl::string_view data) {
  return Portable(crc, data);
}
bool HaveHardware() { return false; }

#endif

}  // namespace crc32c_internal

uint32_t Crc32c(uint32_t crc, absl::string_view data) {
  return crc32c_internal::HaveHardware() ? crc32c_internal::Hardware(crc, data)
                                         : crc32c_internal::Portable(crc, data);
}

}  // namespace ziggy
