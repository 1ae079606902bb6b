// Fuzzes type-name escaping both ways. Invariants: a stem holds only
// [A-Za-z0-9_.%~-], never starts with '.', is at most kMaxStem bytes, and
// TypeFromFileStem gives the type back (kUnimplemented only for a cut stem,
// the one with '~'); a stem TypeFromFileStem accepts is what TypeFileStem
// makes of its type.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "client/format/type_name.h"
#include "tools/fuzz_check.h"

namespace {

bool SafeStem(absl::string_view stem) {
  if (stem.empty() || stem.size() > ziggy::kMaxStem || stem[0] == '.') {
    return false;
  }
  for (char c : stem) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != '-' &&
        c != '%' && c != '~') {
      return false;
    }
  }
  return true;
}

void TypeToStemAndBack(absl::string_view type) {
  const std::string stem = ziggy::TypeFileStem(type);
  FUZZ_CHECK(SafeStem(stem));
  absl::StatusOr<std::string> back = ziggy::TypeFromFileStem(stem);
  if (stem.find('~') != std::string::npos) {
    FUZZ_CHECK(back.status().code() == absl::StatusCode::kUnimplemented);
  } else {
    FUZZ_CHECK(back.ok() && *back == type);
  }
}

void StemToTypeAndBack(absl::string_view stem) {
  absl::StatusOr<std::string> type = ziggy::TypeFromFileStem(stem);
  if (!type.ok()) return;
  FUZZ_CHECK(!type->empty() && ziggy::TypeFileStem(*type) == stem);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  if (!input.empty()) TypeToStemAndBack(input);
  StemToTypeAndBack(input);
  return 0;
}
