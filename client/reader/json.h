// BSON to JSON, for tools and reports (ziggyview, ziggyctl --json).
//
// The output is valid JSON (RFC 8259) for any BSON input:
// clang-format off
//   double           shortest round-trip decimal; NaN and +-Infinity, which
//                    JSON lacks, become the strings "NaN", "Infinity",
//                    "-Infinity"
//   int32, int64     decimal integers
//   string, key      escaped: " \ and control characters (\n, \t, ...,
//                    \u00XX); bytes that are not valid UTF-8 become U+FFFD
//   document, array  object, array
//   bool, null       true/false, null
// and the rest as MongoDB Extended JSON v2:
//   binary           {"$binary": {"base64": "...", "subType": "00"}}
//   ObjectId         {"$oid": "..."}
//   datetime         {"$date": {"$numberLong": "ms"}}
//   regex            {"$regularExpression": {"pattern": "...",
//                                           "options": "..."}}
//   timestamp        {"$timestamp": {"t": 1, "i": 2}}
//   decimal128       {"$numberDecimal": "..."}
//   code             {"$code": "..."}
//   code with scope  {"$code": "...", "$scope": {...}}
//   symbol           {"$symbol": "..."}
//   DBPointer        {"$dbPointer": {"$ref": "...", "$id": {"$oid": "..."}}}
//   undefined        {"$undefined": true}
//   min/max key      {"$minKey": 1} / {"$maxKey": 1}
// clang-format on
//
// Thread-safety: reentrant.

#ifndef ZIGGY_CLIENT_READER_JSON_H_
#define ZIGGY_CLIENT_READER_JSON_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ziggy {

class ByteBuffer;

struct JsonOptions {
  // Indent nested values by two spaces, one member per line.
  bool pretty = false;
};

// Appends one BSON document as a JSON object to *out. Returns kDataLoss (and
// appends nothing) when `bson` is not a well-formed document.
absl::Status AppendJson(absl::string_view bson, std::string* out,
                        const JsonOptions& options = {});

namespace internal {
// AppendJson for a document already checked by ValidateDocument
// (readers that validate once and print many).
void AppendValidatedJson(absl::string_view bson, std::string* out,
                         const JsonOptions& options = {});
// The same into a ByteBuffer, without the copy (the viewer's hot loop).
void AppendValidatedJson(absl::string_view bson, ByteBuffer* out,
                         const JsonOptions& options = {});
// AppendJsonString into a ByteBuffer.
void AppendJsonString(absl::string_view text, ByteBuffer* out);
}  // namespace internal

// Appends `text` as a JSON string literal, quotes included.
void AppendJsonString(absl::string_view text, std::string* out);

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_READER_JSON_H_
