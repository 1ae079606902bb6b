// What the binaries' main()s share beyond flags: turning a library's
// status into the one-line error a command-line user reads.

#ifndef ZIGGY_COMMON_CLI_H_
#define ZIGGY_COMMON_CLI_H_

#include <cstdio>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ziggy {

// Moves `loaded`'s value into *out and returns true; or prints its error as
// "program: message" on stderr and returns false.
//   if (!TakeOrReport("ziggyd", LoadCurveServerOptions(...), &curve)) {
//     return 1;
//   }
template <typename T>
bool TakeOrReport(absl::string_view program, absl::StatusOr<T> loaded, T* out) {
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s: %s\n", std::string(program).c_str(),
                 std::string(loaded.status().message()).c_str());
    return false;
  }
  *out = *std::move(loaded);
  return true;
}

}  // namespace ziggy

#endif  // ZIGGY_COMMON_CLI_H_
