// Fuzzes the JSON renderer. Invariants: AppendJson succeeds exactly for
// documents the validator accepts, appends nothing when it fails, and its
// output (compact and pretty) is valid JSON, the same value both ways;
// AppendJsonString makes a valid JSON string of any bytes.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "client/format/bson_validate.h"
#include "client/format/event.h"
#include "client/reader/json.h"
#include "nlohmann/json.hpp"
#include "tools/fuzz_check.h"

namespace {

// The JSON `text` holds; aborts when it is not valid JSON.
nlohmann::json Parse(const std::string& text) {
  nlohmann::json value = nlohmann::json::parse(text, nullptr,
                                               /*allow_exceptions=*/false);
  FUZZ_CHECK(!value.is_discarded());
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bson(reinterpret_cast<const char*>(data), size);
  std::string why;
  const bool valid = ziggy::ValidateDocument(bson, ziggy::kMaxDepth, &why);
  std::string compact = "kept";
  const bool rendered = ziggy::AppendJson(bson, &compact).ok();
  FUZZ_CHECK(rendered == valid);
  if (!rendered) {
    FUZZ_CHECK(compact == "kept");
  } else {
    ziggy::JsonOptions options;
    options.pretty = true;
    std::string pretty;
    FUZZ_CHECK(ziggy::AppendJson(bson, &pretty, options).ok());
    FUZZ_CHECK(Parse(compact.substr(4)) == Parse(pretty));
  }
  std::string text;
  ziggy::AppendJsonString(bson, &text);
  FUZZ_CHECK(Parse(text).is_string());
  return 0;
}
