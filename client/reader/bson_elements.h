// BsonElements: walks the elements of one BSON document from its bytes,
// for the filters that read a few fields of every event (where.h,
// fields.h) without decoding it.
//
// Every length is checked against the document's own, so any bytes are
// safe to walk: a malformed element ends the walk as the end of the
// document does.
//
// Thread-safety: none; a walker is a cursor over bytes the caller keeps.

#ifndef ZIGGY_CLIENT_READER_BSON_ELEMENTS_H_
#define ZIGGY_CLIENT_READER_BSON_ELEMENTS_H_

#include <cstddef>
#include <cstdint>

#include "absl/base/internal/endian.h"
#include "absl/strings/string_view.h"
#include "client/format/bson_type.h"
#include "client/format/swar.h"

namespace ziggy {

// One element as it is in the document.
struct BsonElement {
  BsonType type;
  absl::string_view key;
  absl::string_view value;  // the value's bytes (a string's with its length)
  absl::string_view bytes;  // the whole element: type byte, key, value

  // A string's text, without its length and NUL. REQUIRES: type is kString.
  absl::string_view text() const { return value.substr(4, value.size() - 5); }
};

class BsonElements {
 public:
  // `doc` holds a document, its length prefix first; a document whose
  // length is below 5 or beyond `doc` has no elements.
  explicit BsonElements(absl::string_view doc) {
    if (doc.size() < 5) return;
    const size_t length = absl::little_endian::Load32(doc.data());
    if (length < 5 || length > doc.size()) return;
    p_ = doc.data() + 4;
    end_ = doc.data() + length - 1;  // the terminating NUL
  }

  // Sets *element to the next element and returns true; false at the end
  // of the document or at an element that overruns it.
  bool Next(BsonElement* element) {
    if (p_ >= end_) return false;
    const char* const start = p_;
    const auto type = static_cast<BsonType>(static_cast<uint8_t>(*p_));
    const size_t room = static_cast<size_t>(end_ - p_ - 1);
    const size_t key_length = FindNul(p_ + 1, 0, room);
    size_t size;
    if (key_length == room ||
        !ValueSize(type, p_ + key_length + 2, room - key_length - 1, &size)) {
      p_ = end_;
      return false;
    }
    element->type = type;
    element->key = absl::string_view(p_ + 1, key_length);
    element->value = absl::string_view(p_ + key_length + 2, size);
    p_ += key_length + 2 + size;
    element->bytes = absl::string_view(start, static_cast<size_t>(p_ - start));
    return true;
  }

  // The size of a value of `type` starting at `value` with `room` bytes
  // left in its document; false when the type is unknown or the value
  // overruns.
  static bool ValueSize(BsonType type, const char* value, size_t room,
                        size_t* size);

 private:
  const char* p_ = nullptr;
  const char* end_ = nullptr;
};

inline bool BsonElements::ValueSize(BsonType type, const char* value,
                                    size_t room, size_t* size) {
  auto length = [&](size_t fixed, size_t least) {
    if (room < 4 || absl::little_endian::Load32(value) < least) return room + 1;
    return fixed + absl::little_endian::Load32(value);
  };
  size_t n = 0;
  switch (type) {
    case BsonType::kUndefined:
    case BsonType::kNull:
    case BsonType::kMinKey:
    case BsonType::kMaxKey:
      break;
    case BsonType::kBool:
      n = 1;
      break;
    case BsonType::kInt32:
      n = 4;
      break;
    case BsonType::kDouble:
    case BsonType::kDateTime:
    case BsonType::kTimestamp:
    case BsonType::kInt64:
      n = 8;
      break;
    case BsonType::kObjectId:
      n = 12;
      break;
    case BsonType::kDecimal128:
      n = 16;
      break;
    case BsonType::kString:
    case BsonType::kJavaScript:
    case BsonType::kSymbol:
      n = length(4, 1);  // int32 length (counting the NUL), text, NUL
      break;
    case BsonType::kDocument:
    case BsonType::kArray:
    case BsonType::kCodeWithScope:
      n = length(0, 5);  // the length counts itself
      break;
    case BsonType::kBinary:
      n = length(5, 0);  // int32 length, subtype, bytes
      break;
    case BsonType::kDbPointer:
      n = length(4 + 12, 1);  // a string, then an ObjectId
      break;
    case BsonType::kRegex: {  // two cstrings
      const size_t pattern = FindNul(value, 0, room);
      n = pattern < room ? FindNul(value, pattern + 1, room) + 1 : room + 1;
      break;
    }
    default:
      return false;
  }
  *size = n;
  return n <= room;
}

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_READER_BSON_ELEMENTS_H_
