// CRC-32C (Castagnoli), for spool record checksums.

#ifndef ZIGGY_FORWARDER_CRC32C_H_
#define ZIGGY_FORWARDER_CRC32C_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace ziggy {

// Extends `crc` (0 to start) over `data`.
uint32_t Crc32c(uint32_t crc, absl::string_view data);

}  // namespace ziggy

#endif  // ZIGGY_FORWARDER_CRC32C_H_
