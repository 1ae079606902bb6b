// BsonWriter: appends BSON into one reusable buffer, fast.
//
// The hot path encodes every event on the calling thread, and libbson's
// bson_append_* (variadic, several PLT memcpy calls per element) cost more
// than the rest of recording an event together. This writer produces the
// same bytes (bson_writer_test checks them against libbson) with inline
// copies into a buffer that keeps its capacity across events. Reading stays
// with libbson.
//
// Keys and string values that are not valid UTF-8 are written with each
// invalid sequence replaced by U+FFFD (utf8.h): strict readers (pymongo,
// libbson's BSON_VALIDATE_UTF8) refuse such text, and every binary encodes
// with this writer (events, STATUS and control replies), so none ever sends
// or stores it. Valid text is written byte for byte; the check costs a few
// word operations per all-ASCII key or value. NUL bytes inside a string
// value are valid (U+0000) and kept.
//
// Usage: BeginDocument(), then elements, then EndDocument(start) for every
// document opened (the top one and each BeginSubdocument/BeginArray).
//
// Thread-safety: none; one writer per thread.

#ifndef ZIGGY_CLIENT_FORMAT_BSON_WRITER_H_
#define ZIGGY_CLIENT_FORMAT_BSON_WRITER_H_

#include <cstdint>
#include <cstring>

#include "absl/base/attributes.h"
#include "absl/base/internal/endian.h"
#include "absl/strings/string_view.h"
#include "client/format/bson_type.h"
#include "client/format/byte_buffer.h"
#include "client/format/utf8.h"

namespace ziggy {

namespace bson_internal {
struct Bytes16 {
  char bytes[16];
};
}  // namespace bson_internal

// CopyBytes, with 17-64 bytes (ids, host and pid elements, type names,
// short string values) also copied inline, as two or four overlapping
// 16-byte moves, rather than by a library call.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void CopySmall(char* to, const char* from,
                                                   size_t n) {
  if (n <= 16) return CopyBytes(to, from, n);
  if (n <= 32) return CopyHeadTail<bson_internal::Bytes16>(to, from, n);
  if (n > 64) {
    memcpy(to, from, n);
    return;
  }
  CopyHeadTail<bson_internal::Bytes16>(to, from, 32);
  CopyHeadTail<bson_internal::Bytes16>(to + n - 32, from + n - 32, 32);
}

class BsonWriter {
 public:
  BsonWriter() = default;
  BsonWriter(const BsonWriter&) = delete;
  BsonWriter& operator=(const BsonWriter&) = delete;

  void Clear() { buffer_.Clear(); }
  absl::string_view bytes() const { return buffer_.view(); }
  size_t capacity() const { return buffer_.capacity(); }

  // Opens a document (the top-level one) and returns its start for
  // EndDocument.
  size_t BeginDocument() {
    const size_t start = buffer_.size();
    buffer_.Extend(4);
    return start;
  }
  // Opens a document or array element under `key`; returns its start.
  size_t BeginSubdocument(absl::string_view key) {
    Element(BsonType::kDocument, key);
    return BeginDocument();
  }
  size_t BeginArray(absl::string_view key) {
    Element(BsonType::kArray, key);
    return BeginDocument();
  }
  void EndDocument(size_t start) {
    *buffer_.Extend(1) = '\0';
    absl::little_endian::Store32(buffer_.data() + start,
                                 static_cast<uint32_t>(buffer_.size() - start));
  }

  void Double(absl::string_view key, double value) {
    Element(BsonType::kDouble, key);
    uint64_t bits;
    memcpy(&bits, &value, 8);
    Fixed64(bits);
  }
  // Inlined even though the UTF-8 checks make it look large to the
  // compiler: out of line, keys that are literals lose their constant-size
  // copies (measured: BM_EncodeEvent +70%).
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Utf8(absl::string_view key,
                                         absl::string_view value) {
    Element(BsonType::kString, key);
    if (ABSL_PREDICT_FALSE(!IsValidUtf8(value))) return RepairedUtf8(value);
    char* at = buffer_.Extend(4 + value.size() + 1);
    absl::little_endian::Store32(at, static_cast<uint32_t>(value.size() + 1));
    CopyBytes(at + 4, value.data(), value.size());
    at[4 + value.size()] = '\0';
  }
  void Bool(absl::string_view key, bool value) {
    Element(BsonType::kBool, key);
    *buffer_.Extend(1) = value ? 1 : 0;
  }
  void Null(absl::string_view key) { Element(BsonType::kNull, key); }
  void Int32(absl::string_view key, int32_t value) {
    Element(BsonType::kInt32, key);
    absl::little_endian::Store32(buffer_.Extend(4),
                                 static_cast<uint32_t>(value));
  }
  void Int64(absl::string_view key, int64_t value) {
    Element(BsonType::kInt64, key);
    Fixed64(static_cast<uint64_t>(value));
  }
  // int32 when the value fits, else int64, as the original Python Ziggy's
  // encoder wrote integers.
  void Integer(absl::string_view key, int64_t value) {
    if (value >= INT32_MIN && value <= INT32_MAX) {
      Int32(key, static_cast<int32_t>(value));
    } else {
      Int64(key, value);
    }
  }

  // Appends `elements` as they are: BSON elements encoded elsewhere by this
  // writer's rules (keys and strings valid UTF-8, keys without NUL).
  void Raw(absl::string_view elements) { buffer_.Append(elements); }

  // Room for `n` more bytes, which the caller fills with whole elements
  // (or a whole document) encoded by this writer's rules.
  char* RawExtend(size_t n) { return buffer_.Extend(n); }

  // Writes the decimal key of array element `index` into `buf`.
  static absl::string_view IndexKey(uint32_t index, char (&buf)[16]);

 private:
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Element(BsonType type,
                                            absl::string_view key) {
    // REQUIRES: key has no NUL byte (a BSON key is a C string).
    if (ABSL_PREDICT_FALSE(!IsValidUtf8(key))) {
      return RepairedElement(type, key);
    }
    char* at = buffer_.Extend(1 + key.size() + 1);
    at[0] = static_cast<char>(type);
    CopyBytes(at + 1, key.data(), key.size());
    at[1 + key.size()] = '\0';
  }
  // Out of line: the rare text that is not valid UTF-8.
  void RepairedElement(BsonType type, absl::string_view key);
  void RepairedUtf8(absl::string_view value);
  void Fixed64(uint64_t bits) {
    absl::little_endian::Store64(buffer_.Extend(8), bits);
  }

  ByteBuffer buffer_;
};

// The event header every encoder writes, in the field order of the original
// Python Ziggy's events: id, type, host, pid, start, end, then body.
struct EventHeader {
  absl::string_view id;
  absl::string_view type;
  absl::string_view host;
  int32_t pid;
  double start;
  double end;
  // When not empty: the "host" and "pid" elements as HostPidElements wrote
  // them for this host and pid, copied instead of encoded again.
  absl::string_view host_pid_elements = {};
};

// Writes the "host" and "pid" elements of an event header into `out`, for
// EventHeader::host_pid_elements.
inline void HostPidElements(absl::string_view host, int32_t pid,
                            BsonWriter* out) {
  out->Utf8("host", host);
  out->Int32("pid", pid);
}

// Writes {id, type, host, pid, start, end, body: {...}} after whatever `out`
// holds; `fill_body(BsonWriter*)` appends the body's fields.
template <typename FillBody>
void EncodeEventTo(BsonWriter* out, const EventHeader& h,
                   FillBody&& fill_body) {
  const size_t doc = out->BeginDocument();
  out->Utf8("id", h.id);
  out->Utf8("type", h.type);
  if (h.host_pid_elements.empty()) {
    HostPidElements(h.host, h.pid, out);
  } else {
    out->Raw(h.host_pid_elements);
  }
  out->Double("start", h.start);
  out->Double("end", h.end);
  const size_t body = out->BeginSubdocument("body");
  fill_body(out);
  out->EndDocument(body);
  out->EndDocument(doc);
}

namespace bson_internal {

// Writes the element `key`: `value` as a string, where the caller made room
// and checked both are valid UTF-8; returns the end.
template <size_t N>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline char* PutUtf8(char* at,
                                                  const char (&key)[N],
                                                  absl::string_view value) {
  at[0] = static_cast<char>(BsonType::kString);
  memcpy(at + 1, key, N);  // with the NUL
  at += 1 + N;
  absl::little_endian::Store32(at, static_cast<uint32_t>(value.size() + 1));
  CopySmall(at + 4, value.data(), value.size());
  at[4 + value.size()] = '\0';
  return at + 4 + value.size() + 1;
}

template <size_t N>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline char* PutDouble(char* at,
                                                    const char (&key)[N],
                                                    double value) {
  at[0] = static_cast<char>(BsonType::kDouble);
  memcpy(at + 1, key, N);
  uint64_t bits;
  memcpy(&bits, &value, 8);
  absl::little_endian::Store64(at + 1 + N, bits);
  return at + 1 + N + 8;
}

}  // namespace bson_internal

// An event's bytes in three parts, for encoders that write the header
// before the body's elements are known (a flat body's buffer holds the
// whole event: context.cc) and for EncodeEventWithBody:
//   EventPrefixSize(h) bytes, written by WriteEventPrefix(at, h): the
//     document's length, id, type, host and pid (h.host_pid_elements), start,
//     end, and the opening of "body" (lengths and end left for CloseEvent);
//   the body's elements;
//   kEventSuffixSize bytes (the NULs that end body and document).
// CloseEvent then writes the lengths and the end time into the whole event.
// The bytes are EncodeEventTo's for the same header and elements.
// REQUIRES for WriteEventPrefix: h.id and h.type are valid UTF-8 (the
// callers check; EncodeEventTo repairs), h.host_pid_elements is set.
inline constexpr size_t kEventSuffixSize = 2;

inline size_t EventPrefixSize(const EventHeader& h) {
  // Element sizes: type byte, key and NUL, then the value.
  return 4 + (1 + 3 + 4 + h.id.size() + 1) + (1 + 5 + 4 + h.type.size() + 1) +
         h.host_pid_elements.size() + (1 + 6 + 8) + (1 + 4 + 8) + (1 + 5 + 4);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void WriteEventPrefix(
    char* at, const EventHeader& h) {
  at = bson_internal::PutUtf8(at + 4, "id", h.id);
  at = bson_internal::PutUtf8(at, "type", h.type);
  CopySmall(at, h.host_pid_elements.data(), h.host_pid_elements.size());
  at = bson_internal::PutDouble(at + h.host_pid_elements.size(), "start",
                                h.start);
  at = bson_internal::PutDouble(at, "end", h.end);
  memcpy(at,
         "\x03"
         "body",
         6);  // with the NUL
}

// `event` is the whole event, `prefix_size` bytes of prefix (written by
// WriteEventPrefix) then the elements then room for the suffix.
inline void CloseEvent(char* event, size_t prefix_size, size_t size,
                       double end) {
  absl::little_endian::Store32(event, static_cast<uint32_t>(size));
  uint64_t bits;
  memcpy(&bits, &end, 8);
  absl::little_endian::Store64(event + prefix_size - 10 - 8, bits);
  // The body: its length, its elements and its NUL.
  const size_t body = 4 + (size - prefix_size - kEventSuffixSize) + 1;
  absl::little_endian::Store32(event + prefix_size - 4,
                               static_cast<uint32_t>(body));
  event[size - 2] = '\0';
  event[size - 1] = '\0';
}

// EncodeEventTo for a body already encoded as elements (`body`, as
// FlatFields holds them) and h.host_pid_elements set: the same bytes, with
// one bounds check for the whole event. Returns false, writing nothing,
// when h.id or h.type is not valid UTF-8 (EncodeEventTo repairs those).
inline bool EncodeEventWithBody(BsonWriter* out, const EventHeader& h,
                                absl::string_view body) {
  if (!IsValidUtf8(h.id) || !IsValidUtf8(h.type)) return false;
  const size_t prefix = EventPrefixSize(h);
  const size_t size = prefix + body.size() + kEventSuffixSize;
  char* at = out->RawExtend(size);
  WriteEventPrefix(at, h);
  // An empty view's data() may be null, which memcpy must not be given.
  if (!body.empty()) memcpy(at + prefix, body.data(), body.size());
  CloseEvent(at, prefix, size, h.end);
  return true;
}

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_FORMAT_BSON_WRITER_H_
