// Fuzzes endpoint parsing. Invariants: an accepted "host:port" becomes
// "tcp://..." ending in the same port ("*" for port 0), EndpointPort reads
// that port back, and the two-argument TcpEndpoint agrees.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "client/net/endpoint.h"
#include "tools/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  (void)ziggy::EndpointPort(input);
  absl::StatusOr<std::string> endpoint = ziggy::TcpEndpoint(input);
  if (!endpoint.ok()) return 0;
  FUZZ_CHECK(absl::StartsWith(*endpoint, "tcp://"));
  const size_t colon = input.rfind(':');
  int port = -1;
  FUZZ_CHECK(colon != absl::string_view::npos &&
             absl::SimpleAtoi(input.substr(colon + 1), &port));
  FUZZ_CHECK(port >= 0 && port <= 65535);
  if (port == 0) {
    FUZZ_CHECK(absl::EndsWith(*endpoint, ":*"));
  } else {
    FUZZ_CHECK(ziggy::EndpointPort(*endpoint) == port);
  }
  absl::StatusOr<std::string> from_parts =
      ziggy::TcpEndpoint(input.substr(0, colon), port);
  FUZZ_CHECK(from_parts.ok() && *from_parts == *endpoint);
  return 0;
}
