// CRC-32C (Castagnoli), for spool record checksums.

#ifndef ZIGGY_FORWARDER_CRC32C_H_
#define ZIGGY_FORWARDER_CRC32C_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace ziggy {

// Extends `crc` (0 to start) over `data`. Uses the CPU's crc32 instruction
// (SSE4.2) when it has one, slicing-by-8 tables otherwise; both give the
// same results.
uint32_t Crc32c(uint32_t crc, absl::string_view data);

namespace crc32c_internal {
// The two implementations, for tests. Hardware() must only be called when
// HaveHardware().
uint32_t Portable(uint32_t crc, absl::string_view data);
uint32_t Hardware(uint32_t crc, absl::string_view data);
bool HaveHardware();
}  // namespace crc32c_internal

}  // namespace ziggy

#endif  // ZIGGY_FORWARDER_CRC32C_H_
