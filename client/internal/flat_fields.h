// FlatFields: the fields of a small event body, kept as the BSON elements
// they encode to, written as each field is set.
//
// Body (body.h) starts every event here and moves to its tree only when a
// call needs more than this holds. Typical events never do, and then
// setting a field is a short scan and a copy, and encoding the body at the
// end is one copy of elements(). An owner may also keep bytes of its own
// ahead of the fields (ClearWithPrefix: the event's header), so that the
// buffer holds the whole encoded event and the end costs no copy at all.
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

#include "absl/base/attributes.h"
#include "absl/base/internal/endian.h"
#include "absl/strings/string_view.h"
#include "client/format/bson_type.h"
#include "client/format/bson_writer.h"
#include "client/format/byte_buffer.h"
#include "client/format/swar.h"
#include "client/format/utf8.h"
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
  // Set and Add for a key already split as Set would split it: `first`
  // and `second` ("response" and "status"; second empty for a one-part
  // key) non-empty but for an empty second, with no '.', NUL or byte
  // >= 0x80 (keys checked where they are compiled: ziggy.h's SplitKey).
  bool SetParts(absl::string_view first, absl::string_view second,
                const FieldValue& value);
  bool AddParts(absl::string_view first, absl::string_view second, bool is_int,
                int64_t i, double d);

  void Clear() {
    bytes_.Clear();
    count_ = 0;
    prefix_ = 0;
    key_sizes_[0] = key_sizes_[1] = 0;
  }
  // `n` bytes ahead of the first field for the owner to fill (an event's
  // header, so the buffer holds the whole event); returns them. elements()
  // leaves them out. REQUIRES: empty(), as after Clear.
  char* StartWithPrefix(size_t n) {
    bytes_.Clear();
    prefix_ = n;
    return bytes_.Extend(n);
  }
  size_t prefix_size() const { return prefix_; }
  // Appends `n` bytes after the elements and returns the whole buffer:
  // prefix_size() bytes, the elements, then those `n`. No field may be set
  // after it, and elements() is no longer meaningful, until Clear.
  char* Seal(size_t n) {
    bytes_.Extend(n);
    return bytes_.data();
  }
  bool empty() const { return count_ == 0; }
  size_t capacity() const { return bytes_.capacity(); }

  // The fields as the elements of a BSON document (no length, no
  // terminating NUL), in insertion order.
  absl::string_view elements() const {
    return absl::string_view(bytes_.data() + prefix_, bytes_.size() - prefix_);
  }

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

  bool SetPath(const Path& p, const FieldValue& value);
  bool AddPath(const Path& p, bool is_int, int64_t i, double d);
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

  ByteBuffer bytes_;  // the prefix, then the fields' elements
  size_t prefix_ = 0;
  uint32_t count_ = 0;
  uint64_t key_sizes_[2] = {0, 0};
  Entry entries_[kMaxEntries];
};

// The definitions are inline: they are on every Set's path, and a call
// into another file costs more than their bodies.

namespace flat_fields_internal {

// Strings longer than this go to the tree (whose writer has no such limit).
inline constexpr size_t kMaxFlatString = 16 << 20;

inline uint32_t Load32(const char* at) {
  return absl::little_endian::Load32(at);
}

// Bit 7 set in each byte of `word` that ends a plain key part (NUL, '.' or
// >= 0x80), with no false flag below the lowest true one; a byte above a
// flagged one may be flagged falsely (a borrow), which at worst makes
// SplitPath refuse a good key (the tree then takes it), never accept a bad
// one: every true stop is flagged.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint64_t KeyStops(uint64_t word) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  const uint64_t dots = word ^ 0x2E2E2E2E2E2E2E2Eull;
  return ((word - kOnes) | (dots - kOnes) | word) & kHighBits;
}

// data[0, n) for n < 8 as the low bytes of a word (the rest zero).
ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint64_t LoadShort(const char* data,
                                                       size_t n) {
  if (n >= 4) {
    const uint64_t head = absl::little_endian::Load32(data);
    const uint64_t tail = absl::little_endian::Load32(data + n - 4);
    return head | tail << (8 * (n - 4));
  }
  uint64_t word = 0;
  if (n > 0) {
    word = static_cast<uint8_t>(data[0]) |
           uint64_t{static_cast<uint8_t>(data[n / 2])} << (8 * (n / 2)) |
           uint64_t{static_cast<uint8_t>(data[n - 1])} << (8 * (n - 1));
  }
  return word;
}

// The offset of the first NUL, '.' or byte >= 0x80 in data[from, n), or n
// (or an earlier offset, see KeyStops). Word loads only: the last word
// overlaps the one before it.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline size_t FindKeyStop(const char* data,
                                                       size_t from, size_t n) {
  uint64_t flags;
  size_t base;
  if (n < 8) {
    base = 0;
    flags = KeyStops(LoadShort(data, n)) & ((uint64_t{1} << (8 * n)) - 1);
  } else {
    for (base = from; base + 8 <= n; base += 8) {
      flags = KeyStops(absl::little_endian::Load64(data + base));
      if (flags != 0) return base + __builtin_ctzll(flags) / 8;
    }
    if (base == n) return n;
    base = n - 8;
    flags = KeyStops(absl::little_endian::Load64(data + base));
  }
  if (from > base) flags &= ~uint64_t{0} << (8 * (from - base));
  return flags != 0 ? base + __builtin_ctzll(flags) / 8 : n;
}

}  // namespace flat_fields_internal

// Only ASCII keys: any other byte sends the key to the tree.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool FlatFields::SplitPath(
    absl::string_view path, Path* out) {
  const size_t n = path.size();
  const size_t dot = flat_fields_internal::FindKeyStop(path.data(), 0, n);
  if (dot == n) {
    *out = {path, {}};
    return n != 0;
  }
  if (dot == 0 || path[dot] != '.') return false;
  const size_t end = flat_fields_internal::FindKeyStop(path.data(), dot + 1, n);
  if (end != n || end == dot + 1) return false;
  *out = {absl::string_view(path.data(), dot),
          absl::string_view(path.data() + dot + 1, n - dot - 1)};
  return true;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline FlatFields::Scalar FlatFields::IntScalar(
    int64_t i) {
  if (i >= INT32_MIN && i <= INT32_MAX) {
    return {BsonType::kInt32, 4, static_cast<uint32_t>(i), nullptr};
  }
  return {BsonType::kInt64, 8, static_cast<uint64_t>(i), nullptr};
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline FlatFields::Scalar FlatFields::DoubleScalar(
    double d) {
  uint64_t bits;
  memcpy(&bits, &d, 8);
  return {BsonType::kDouble, 8, bits, nullptr};
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool FlatFields::ToScalar(
    const FieldValue& value, Scalar* out) {
  switch (value.kind()) {
    case FieldValue::Kind::kNull:
      *out = {BsonType::kNull, 0, 0, nullptr};
      return true;
    case FieldValue::Kind::kBool:
      *out = {BsonType::kBool, 1, value.AsBool() ? 1u : 0u, nullptr};
      return true;
    case FieldValue::Kind::kInt:
      *out = IntScalar(value.AsInt());
      return true;
    case FieldValue::Kind::kDouble:
      *out = DoubleScalar(value.AsDouble());
      return true;
    case FieldValue::Kind::kString: {
      const absl::string_view s = value.AsString();
      if (s.size() > flat_fields_internal::kMaxFlatString || !IsValidUtf8(s))
        return false;
      *out = {BsonType::kString, static_cast<uint32_t>(s.size() + 5), 0,
              s.data()};
      return true;
    }
    case FieldValue::Kind::kValue:
      return false;
  }
  return false;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint32_t FlatFields::Find(
    uint32_t parent, absl::string_view key) const {
  if ((key_sizes_[parent != kRoot] >> (key.size() % 64) & 1) == 0) {
    return kNone;
  }
  const uint64_t tag = Tag(parent, key.size());
  for (uint32_t i = 0; i < count_; ++i) {
    const Entry& e = entries_[i];
    if (e.tag() == tag &&
        SameBytes(bytes_.data() + e.offset + 1, key.data(), key.size())) {
      return i;
    }
  }
  return kNone;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool FlatFields::Locate(
    const Path& path, uint32_t* parent, uint32_t* entry) const {
  if (path.second.empty()) {
    *parent = kRoot;
    *entry = Find(kRoot, path.first);
    return true;
  }
  const uint32_t map = Find(kRoot, path.first);
  *parent = map;
  *entry = kNone;
  if (map == kNone) return true;
  if (TypeOf(map) != BsonType::kDocument) return false;  // through a scalar
  *entry = Find(map, path.second);
  return true;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool FlatFields::Put(const Path& path,
                                                         uint32_t parent,
                                                         uint32_t entry,
                                                         const Scalar& s) {
  if (entry != kNone) return Overwrite(entry, s);
  if (parent == kNone) return AppendMap(path, s);
  return AppendField(parent, parent == kRoot ? path.first : path.second, s);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint32_t FlatFields::ValueSize(
    uint32_t entry) const {
  switch (TypeOf(entry)) {
    case BsonType::kDouble:
    case BsonType::kInt64:
      return 8;
    case BsonType::kInt32:
      return 4;
    case BsonType::kBool:
      return 1;
    case BsonType::kString:
      return 4 + flat_fields_internal::Load32(ValueOf(entry));
    case BsonType::kDocument:
      return flat_fields_internal::Load32(ValueOf(entry));
    default:
      return 0;  // kNull
  }
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool FlatFields::Overwrite(
    uint32_t entry, const Scalar& s) {
  // A map keeps its fields' entries: replacing it is the tree's job.
  if (TypeOf(entry) == BsonType::kDocument || ValueSize(entry) != s.size) {
    return false;
  }
  char* at = bytes_.data() + entries_[entry].offset;
  at[0] = static_cast<char>(s.type);
  WriteValue(at + entries_[entry].key_size + 2, s);
  return true;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline char* FlatFields::WriteElement(
    char* at, BsonType type, absl::string_view key) {
  at[0] = static_cast<char>(type);
  CopyBytes(at + 1, key.data(), key.size());
  at[1 + key.size()] = '\0';
  return at + key.size() + 2;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void FlatFields::WriteValue(
    char* at, const Scalar& s) {
  switch (s.type) {
    case BsonType::kString:
      absl::little_endian::Store32(at, s.size - 4);
      CopySmall(at + 4, s.text, s.size - 5);
      at[s.size - 1] = '\0';
      return;
    case BsonType::kInt32:
      absl::little_endian::Store32(at, static_cast<uint32_t>(s.bits));
      return;
    case BsonType::kBool:
      at[0] = static_cast<char>(s.bits);
      return;
    case BsonType::kNull:
      return;
    default:  // kDouble, kInt64
      absl::little_endian::Store64(at, s.bits);
      return;
  }
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool FlatFields::AppendField(
    uint32_t parent, absl::string_view key, const Scalar& s) {
  if (count_ == kMaxEntries) return false;
  const bool nested = parent != kRoot;
  // A field joins a map only while the map is the last element: its
  // terminating NUL is then the last byte, and moves to the new end.
  if (nested &&
      ValueOf(parent) + ValueSize(parent) != bytes_.data() + bytes_.size()) {
    return false;
  }
  const size_t size = key.size() + 2 + s.size;
  char* at = bytes_.Extend(size) - (nested ? 1 : 0);
  entries_[count_++] = {static_cast<uint32_t>(at - bytes_.data()),
                        static_cast<uint32_t>(key.size()), parent};
  NoteKey(parent, key.size());
  WriteValue(WriteElement(at, s.type, key), s);
  if (nested) {
    at[size] = '\0';
    char* length =
        bytes_.data() + entries_[parent].offset + entries_[parent].key_size + 2;
    absl::little_endian::Store32(length,
                                 flat_fields_internal::Load32(length) + size);
  }
  return true;
}

inline bool FlatFields::AppendMap(const Path& path, const Scalar& s) {
  if (count_ + 2 > kMaxEntries) return false;
  const size_t field = path.second.size() + 2 + s.size;
  char* at = bytes_.Extend(path.first.size() + 2 + 4 + field + 1);
  const auto map = count_;
  entries_[map] = {static_cast<uint32_t>(at - bytes_.data()),
                   static_cast<uint32_t>(path.first.size()), kRoot};
  char* doc = WriteElement(at, BsonType::kDocument, path.first);
  absl::little_endian::Store32(doc, static_cast<uint32_t>(4 + field + 1));
  entries_[map + 1] = {static_cast<uint32_t>(doc + 4 - bytes_.data()),
                       static_cast<uint32_t>(path.second.size()), map};
  WriteValue(WriteElement(doc + 4, s.type, path.second), s);
  doc[4 + field] = '\0';
  count_ += 2;
  NoteKey(kRoot, path.first.size());
  NoteKey(map, path.second.size());
  return true;
}

inline bool FlatFields::Sum(uint32_t entry, bool is_int, int64_t i, double d,
                            Scalar* out) const {
  const char* value = ValueOf(entry);
  int64_t now;
  switch (TypeOf(entry)) {
    case BsonType::kInt32:
      now = static_cast<int32_t>(flat_fields_internal::Load32(value));
      break;
    case BsonType::kInt64:
      now = static_cast<int64_t>(absl::little_endian::Load64(value));
      break;
    case BsonType::kDouble: {
      const uint64_t bits = absl::little_endian::Load64(value);
      double was;
      memcpy(&was, &bits, 8);
      *out = DoubleScalar(was + d);
      return true;
    }
    default:
      return false;  // null, or not a number: the tree decides
  }
  int64_t sum;
  *out = is_int && !__builtin_add_overflow(now, i, &sum)
             ? IntScalar(sum)
             : DoubleScalar(static_cast<double>(now) + d);
  return true;
}

inline bool FlatFields::Set(absl::string_view path, const FieldValue& value) {
  Path p;
  return SplitPath(path, &p) && SetPath(p, value);
}

inline bool FlatFields::SetParts(absl::string_view first,
                                 absl::string_view second,
                                 const FieldValue& value) {
  return SetPath({first, second}, value);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool FlatFields::SetPath(
    const Path& p, const FieldValue& value) {
  Scalar s;
  uint32_t parent, entry;
  return ToScalar(value, &s) && Locate(p, &parent, &entry) &&
         Put(p, parent, entry, s);
}

inline bool FlatFields::Add(absl::string_view path, bool is_int, int64_t i,
                            double d) {
  Path p;
  return SplitPath(path, &p) && AddPath(p, is_int, i, d);
}

inline bool FlatFields::AddParts(absl::string_view first,
                                 absl::string_view second, bool is_int,
                                 int64_t i, double d) {
  return AddPath({first, second}, is_int, i, d);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool FlatFields::AddPath(const Path& p,
                                                             bool is_int,
                                                             int64_t i,
                                                             double d) {
  uint32_t parent, entry;
  if (!Locate(p, &parent, &entry)) return false;
  Scalar s;
  if (entry == kNone) {
    s = is_int ? IntScalar(i) : DoubleScalar(d);
  } else if (!Sum(entry, is_int, i, d, &s)) {
    return false;
  }
  return Put(p, parent, entry, s);
}

inline FlatFields::Field FlatFields::GetField(uint32_t entry) const {
  const Entry& e = entries_[entry];
  const absl::string_view key(bytes_.data() + e.offset + 1, e.key_size);
  const char* value = ValueOf(entry);
  switch (TypeOf(entry)) {
    case BsonType::kDocument:
      return {e.parent, key, true, nullptr};
    case BsonType::kInt32:
      return {e.parent, key, false,
              static_cast<int32_t>(flat_fields_internal::Load32(value))};
    case BsonType::kInt64:
      return {e.parent, key, false,
              static_cast<int64_t>(absl::little_endian::Load64(value))};
    case BsonType::kDouble: {
      const uint64_t bits = absl::little_endian::Load64(value);
      double d;
      memcpy(&d, &bits, 8);
      return {e.parent, key, false, d};
    }
    case BsonType::kBool:
      return {e.parent, key, false, value[0] != 0};
    case BsonType::kString:
      return {e.parent, key, false,
              absl::string_view(value + 4,
                                flat_fields_internal::Load32(value) - 1)};
    default:
      return {e.parent, key, false, nullptr};
  }
}

}  // namespace ziggy::internal

#endif  // ZIGGY_CLIENT_INTERNAL_FLAT_FIELDS_H_
