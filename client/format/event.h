// Event: one recorded unit of work, and its BSON codec.
//
// The record keeps the shape of the original Python Ziggy's events, so its
// files and clients carry over; one BSON document per event:
//   {id: string, type: string, host: string, pid: int32,
//    start: double, end: double, body: document}
// with times in Unix seconds. Event files are plain concatenations of these
// documents, readable by any BSON library (see reader.h).
//
// Thread-safety: Event is a plain value type; the functions are reentrant.

#ifndef ZIGGY_CLIENT_FORMAT_EVENT_H_
#define ZIGGY_CLIENT_FORMAT_EVENT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/format/value.h"

namespace ziggy {

struct Event {
  std::string id;    // 32 lowercase hex chars for generated ids
  std::string type;  // e.g. "request" or "request.sql"
  std::string host;
  int32_t pid = 0;
  double start = 0;  // Unix seconds
  double end = 0;    // Unix seconds
  Value body = Value::MakeMap();
};

// EncodeEvent returns the event's BSON document. A body that is not a map is
// written as an empty document; map keys end at their first NUL byte (BSON
// keys are C strings). Keys and strings that are not valid UTF-8 are
// written with each invalid sequence as U+FFFD (bson_writer.h), so strict
// BSON readers accept every document encoded here.
std::string EncodeEvent(const Event& event);

// DecodeEvent parses one BSON event document.
//
// `type` is required and must be a string; `id` and `host` must be strings
// when present; `pid`, `start` and `end` accept any BSON number; `body` must
// be a document when present. Other top-level fields are ignored. Errors:
// kDataLoss for bytes that are not a well-formed BSON document,
// kInvalidArgument for a document that is not an event.
//
// BSON types with no Value kind are mapped: int32/int64 -> kInt, UTC datetime
// and timestamp -> kInt (milliseconds / the raw 64 bits), ObjectId -> 24 hex
// chars, binary, symbol, code and decimal128 -> kString, regex -> "/re/opts",
// undefined, min/max key and DBPointer -> kNull. Nesting deeper than
// kMaxDepth is rejected as kInvalidArgument.
absl::StatusOr<Event> DecodeEvent(absl::string_view bson);

// EncodeDocument returns a map Value as a BSON document (non-map: empty),
// keys and strings as EncodeEvent writes them.
std::string EncodeDocument(const Value& map);

// DecodeDocument parses any BSON document into a map Value (same mapping).
absl::StatusOr<Value> DecodeDocument(absl::string_view bson);

inline constexpr int kMaxDepth = 100;

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_FORMAT_EVENT_H_
