// FlatFields: the fields of a small event body, kept as the BSON elements
// they encode to, written as each field is set.
//
// Body (body.h) starts every event here and moves to its tree only when a
// call needs more than this holds. Typical events never do, and then
// setting a field is a short scan and a copy, and encoding the body at the
// end is one copy of elements().
//
// What it holds: at most kMaxEntries fields, each a scalar (null, bool,
// integer, double, string of valid UTF-8) under a one-part key, or a map of
// such scalars under the first part of a two-part key ("response.status").
// Elements are written exactly as BsonWriter writes the tree's nodes
// (integers as int32 when they fit, else int64), so elements() is
// byte-identical to what the tree would encode for the same calls.
//
// Set and Add return false, changing nothing, for every call they do not
// take on: a key of three parts or more, a malformed key, a key or string
// that is not valid UTF-8, a composite Value, a step through a scalar, an
// overwrite whose encoding changes size (strings of another length, int32
// to int64, a map replaced by a scalar), a new field in a map that is not
// the last top-level element, more than kMaxEntries fields. The caller then
// moves the fields to the tree (Visit) and makes the call there, which also
// gives the error, if any.
//
// Thread-safety: none; it belongs to one Body.

#ifndef ZIGGY_CLIENT_INTERNAL_FLAT_FIELDS_H_
#define ZIGGY_CLIENT_INTERNAL_FLAT_FIELDS_H_

#include <cstdint>
#include <cstring>

#include "absl/strings/string_view.h"
#include "client/format/bson_type.h"
#include "client/format/byte_buffer.h"
#include "client/format/swar.h"
#include "client/format/value.h"

namespace ziggy::internal {

// The offset of the first '.' or NUL in `path` at or after `from`, or
// path.size(). Eight bytes at a time: keys are on every Set's path.
inline size_t NextSeparator(absl::string_view path, size_t from) {
  size_t i = from;
  for (; i + 8 <= path.size(); i += 8) {
    uint64_t word;
    memcpy(&word, path.data() + i, 8);
    if (HasZeroByte(word) || HasZeroByte(word ^ 0x2E2E2E2E2E2E2E2Eull)) break;
  }
  while (i < path.size() && path[i] != '.' && path[i] != '\0') ++i;
  return i;
}

// memcmp(a, b, n) == 0 for the short keys of fields, without a library
// call: overlapping word loads.
inline bool SameBytes(const char* a, const char* b, size_t n) {
  uint64_t x, y;
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8) {
      memcpy(&x, a + i, 8);
      memcpy(&y, b + i, 8);
      if (x != y) return false;
    }
    memcpy(&x, a + n - 8, 8);
    memcpy(&y, b + n - 8, 8);
    return x == y;
  }
  if (n >= 4) {
    uint32_t p, q, r, t;
    memcpy(&p, a, 4);
    memcpy(&q, a + n - 4, 4);
    memcpy(&r, b, 4);
    memcpy(&t, b + n - 4, 4);
    return p == r && q == t;
  }
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

class FlatFields {
 public:
  static constexpr uint32_t kMaxEntries = 16;
  // The parent of a top-level field.
  static constexpr uint32_t kRoot = UINT32_MAX;
  // No such entry.
  static constexpr uint32_t kNone = UINT32_MAX - 1;

  FlatFields() = default;
  FlatFields(const FlatFields&) = delete;
  FlatFields& operator=(const FlatFields&) = delete;

  bool Set(absl::string_view path, const FieldValue& value);
  // Adds to the number at `path` as Body::AddInt / AddDouble do.
  bool Add(absl::string_view path, bool is_int, int64_t i, double d);

  void Clear() {
    bytes_.Clear();
    count_ = 0;
    key_sizes_[0] = key_sizes_[1] = 0;
  }
  bool empty() const { return count_ == 0; }
  size_t capacity() const { return bytes_.capacity(); }

  // The fields as the elements of a BSON document (no length, no
  // terminating NUL), in insertion order.
  absl::string_view elements() const { return bytes_.view(); }

  // One field, for moving the fields to a tree. A map's `value` is null,
  // and its fields come after it (before the next top-level field).
  struct Field {
    uint32_t parent;  // index of the map's field, or kRoot
    absl::string_view key;
    bool is_map;
    FieldValue value;
  };
  // Calls visit(index, field) for every field in insertion order.
  template <typename Fn>
  void Visit(Fn&& visit) const {
    for (uint32_t i = 0; i < count_; ++i) visit(i, GetField(i));
  }

 private:
  struct Entry {
    uint32_t offset;  // of the element's type byte
    uint32_t key_size;
    uint32_t parent;  // kRoot or the index of the map's entry
    // parent and key_size in one word: Find compares it first.
    uint64_t tag() const { return Tag(parent, key_size); }
  };
  static uint64_t Tag(uint32_t parent, size_t key_size) {
    return uint64_t{parent} << 32 | key_size;
  }
  // A value ready to write: its type, encoded size and payload.
  struct Scalar {
    BsonType type;
    uint32_t size;     // bytes after the key's NUL
    uint64_t bits;     // int32/int64/double/bool payload
    const char* text;  // string payload (size - 5 bytes)
  };
  struct Path {
    absl::string_view first;
    absl::string_view second;  // empty for a one-part key
  };

  static bool SplitPath(absl::string_view path, Path* out);
  static bool ToScalar(const FieldValue& value, Scalar* out);
  static Scalar IntScalar(int64_t i);
  static Scalar DoubleScalar(double d);

  uint32_t Find(uint32_t parent, absl::string_view key) const;
  bool Locate(const Path& path, uint32_t* parent, uint32_t* entry) const;
  bool Put(const Path& path, uint32_t parent, uint32_t entry, const Scalar& s);
  bool Overwrite(uint32_t entry, const Scalar& s);
  bool AppendField(uint32_t parent, absl::string_view key, const Scalar& s);
  bool AppendMap(const Path& path, const Scalar& s);
  bool Sum(uint32_t entry, bool is_int, int64_t i, double d, Scalar* out) const;
  static char* WriteElement(char* at, BsonType type, absl::string_view key);
  static void WriteValue(char* at, const Scalar& s);

  BsonType TypeOf(uint32_t entry) const {
    return static_cast<BsonType>(bytes_.data()[entries_[entry].offset]);
  }
  const char* ValueOf(uint32_t entry) const {
    return bytes_.data() + entries_[entry].offset + entries_[entry].key_size +
           2;
  }
  uint32_t ValueSize(uint32_t entry) const;
  Field GetField(uint32_t entry) const;

  // Bit (key size % 64) of the keys held at the top level ([0]) and in
  // maps ([1]): most new keys skip Find's scan.
  uint64_t& KeySizes(uint32_t parent) { return key_sizes_[parent != kRoot]; }
  void NoteKey(uint32_t parent, size_t key_size) {
    KeySizes(parent) |= uint64_t{1} << (key_size % 64);
  }

  ByteBuffer bytes_;
  uint32_t count_ = 0;
  uint64_t key_sizes_[2] = {0, 0};
  Entry entries_[kMaxEntries];
};

}  // namespace ziggy::internal

#endif  // ZIGGY_CLIENT_INTERNAL_FLAT_FIELDS_H_
