#include "common/flag_values.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ziggy {
namespace {

// The flag name in `arg` ("-H=v" -> "H", with *value "v" and *inline_value
// true), or "" when `arg` is not a flag.
absl::string_view FlagName(absl::string_view arg, absl::string_view* value,
                           bool* inline_value) {
  if (!absl::ConsumePrefix(&arg, "-")) return "";
  absl::ConsumePrefix(&arg, "-");
  const size_t eq = arg.find('=');
  *inline_value = eq != absl::string_view::npos;
  if (*inline_value) {
    *value = arg.substr(eq + 1);
    arg = arg.substr(0, eq);
  }
  return arg;
}

void AddValue(absl::string_view value,
              const std::function<bool(absl::string_view)>& keep_whole,
              std::vector<std::string>* out) {
  std::vector<std::string> pieces;
  if (keep_whole != nullptr && !value.empty() && keep_whole(value)) {
    pieces.emplace_back(value);
  } else {
    pieces = absl::StrSplit(value, ',', absl::SkipEmpty());
  }
  for (std::string& piece : pieces) {
    if (std::find(out->begin(), out->end(), piece) == out->end()) {
      out->push_back(std::move(piece));
    }
  }
}

}  // namespace

std::vector<std::string> FlagValues(
    int argc, const char* const* argv, const std::vector<std::string>& names,
    const std::function<bool(absl::string_view)>& keep_whole) {
  std::vector<std::string> values;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") break;
    absl::string_view value;
    bool inline_value = false;
    const absl::string_view name = FlagName(arg, &value, &inline_value);
    if (name.empty() ||
        std::find(names.begin(), names.end(), name) == names.end()) {
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= argc) break;
      value = argv[++i];
    }
    AddValue(value, keep_whole, &values);
  }
  return values;
}

}  // namespace ziggy
