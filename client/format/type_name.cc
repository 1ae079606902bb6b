#include "client/format/type_name.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ziggy {
namespace {

bool Kept(char c, bool first) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
         c == '-' || (c == '.' && !first);
}

uint64_t Fnv1a(absl::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ull;
  }
  return hash;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string TypeFileStem(absl::string_view type) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  constexpr size_t kHashSuffix = 17;  // "~" + 16 hex digits
  std::string stem;
  stem.reserve(type.size());
  for (size_t i = 0; i < type.size(); ++i) {
    const char c = type[i];
    if (Kept(c, i == 0)) {
      stem.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      stem.push_back('%');
      stem.push_back(kHex[byte >> 4]);
      stem.push_back(kHex[byte & 0xF]);
    }
  }
  if (stem.size() <= kMaxStem) return stem;
  // Too long: cut (backing off an escape rather than splitting it) and name
  // the whole type by its hash.
  size_t cut = kMaxStem - kHashSuffix;
  if (stem[cut - 1] == '%') {
    cut -= 1;
  } else if (stem[cut - 2] == '%') {
    cut -= 2;
  }
  stem.resize(cut);
  absl::StrAppend(&stem, "~", absl::Hex(Fnv1a(type), absl::kZeroPad16));
  return stem;
}

absl::StatusOr<std::string> TypeFromFileStem(absl::string_view stem) {
  if (stem.find('~') != absl::string_view::npos) {
    return absl::UnimplementedError(
        absl::StrCat("'", stem, "' names a long type by its hash"));
  }
  std::string type;
  for (size_t i = 0; i < stem.size(); ++i) {
    if (stem[i] != '%') {
      if (!Kept(stem[i], i == 0)) break;
      type.push_back(stem[i]);
      continue;
    }
    const int hi = i + 2 < stem.size() ? HexValue(stem[i + 1]) : -1;
    const int lo = hi >= 0 ? HexValue(stem[i + 2]) : -1;
    if (lo < 0) break;
    type.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  if (stem.empty() || TypeFileStem(type) != stem) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", stem, "' is not a ziggy type file stem"));
  }
  return type;
}

}  // namespace ziggy
