// BsonType: the element type byte that precedes every key in a BSON
// document, with the values the BSON specification (bsonspec.org, "BSON
// Specification Version 1.1") assigns. The writer, validator, repair,
// decoder and JSON renderer all name types through it; the byte on the wire
// is static_cast<uint8_t>(type), so using it costs nothing.
//
// Bytes outside this list are not BSON types: code that reads a type byte
// from outside casts it here and rejects the unknown ones in the `default`
// of its switch. 0x00 is not a type either: it ends a document.
//
// Thread-safety: a plain enum.

#ifndef ZIGGY_CLIENT_FORMAT_BSON_TYPE_H_
#define ZIGGY_CLIENT_FORMAT_BSON_TYPE_H_

#include <cstdint>

namespace ziggy {

enum class BsonType : uint8_t {
  kDouble = 0x01,         // 8 bytes, IEEE 754 binary64
  kString = 0x02,         // int32 length (counting the NUL), UTF-8, NUL
  kDocument = 0x03,       // an embedded document
  kArray = 0x04,          // a document keyed "0", "1", ...
  kBinary = 0x05,         // int32 length, subtype byte, bytes
  kUndefined = 0x06,      // deprecated; no value bytes
  kObjectId = 0x07,       // 12 bytes
  kBool = 0x08,           // one byte, 0 or 1
  kDateTime = 0x09,       // int64 milliseconds since the Unix epoch, UTC
  kNull = 0x0A,           // no value bytes
  kRegex = 0x0B,          // pattern cstring, options cstring
  kDbPointer = 0x0C,      // deprecated; string, 12-byte ObjectId
  kJavaScript = 0x0D,     // code as a string
  kSymbol = 0x0E,         // deprecated; a string
  kCodeWithScope = 0x0F,  // deprecated; int32 total, string, document
  kInt32 = 0x10,          // 4 bytes
  kTimestamp = 0x11,      // uint64: increment (low 32), seconds (high 32)
  kInt64 = 0x12,          // 8 bytes
  kDecimal128 = 0x13,     // 16 bytes, IEEE 754 decimal128
  kMinKey = 0xFF,         // no value bytes
  kMaxKey = 0x7F,         // no value bytes
};

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_FORMAT_BSON_TYPE_H_
