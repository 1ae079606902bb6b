#include "client/format/bson_validate.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/base/internal/endian.h"
#include "absl/base/optimization.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "client/format/bson_type.h"
#include "client/format/swar.h"
#include "client/format/utf8.h"

namespace ziggy {
namespace {

bool Validate(absl::string_view data, int max_depth, std::string* why,
              const TopLevelVisitor* visit, bool* utf8);

// The reference validator: one loop over the elements of every open document,
// with its state (the position, the current document's end and the depth) in
// locals: the bytes are read as char, which may alias any member of an object,
// so state kept in members would be stored and reloaded around every byte read.
// The helpers take the position by value and return the next one (0 for a
// failure: no element ends before byte 4), never its address, which would
// keep it in memory for the whole loop. This runs for every event every
// daemon takes in.
class Validator {
 public:
  // With `utf8` non-null, text that is not valid UTF-8 sets *utf8 false.
  Validator(absl::string_view data, int max_depth, std::string* why,
            const TopLevelVisitor* visit, bool* utf8)
      : data_(data.data()),
        size_(data.size()),
        max_depth_(max_depth),
        why_(why),
        visit_(visit),
        utf8_(utf8) {}

  bool Run() {
    size_t limit = 0;  // the current document's terminating NUL
    if (!OpenDocument(0, size_, &limit)) return false;
    if (limit + 1 != size_) {
      return Fail(0, absl::StrCat("document declares ", limit + 1,
                                  " bytes but has ", size_));
    }
    const char* const d = data_;
    // The enclosing documents' ends, outer[0, depth); depth 0 is the top
    // level.
    absl::InlinedVector<size_t, 16> outer;
    size_t depth = 0;
    size_t pos = 4;
    while (true) {
      if (pos == limit) {  // the document's terminating NUL
        ++pos;
        if (depth == 0) return true;
        limit = outer[--depth];
        continue;
      }
      const size_t at = pos;
      const auto type = static_cast<BsonType>(static_cast<uint8_t>(d[pos++]));
      size_t key_end = FindNulOrNonAscii(d, pos, limit);
      if (ABSL_PREDICT_FALSE(key_end != limit && d[key_end] != '\0')) {
        key_end = FindNul(d, key_end, limit);  // a key that is not ASCII
        if (key_end != limit) CheckText(pos, key_end);
      }
      if (ABSL_PREDICT_FALSE(key_end == limit)) {
        return Fail(pos, "unterminated key or cstring");
      }
      pos = key_end + 1;
      const size_t value_start = pos;
      auto need = [&](size_t n) { return limit - pos >= n; };
      // Steps over a fixed-size value, if the document has room for it.
      auto skip = [&](size_t n) {
        if (!need(n)) return false;
        pos += n;
        return true;
      };
      switch (type) {
        case BsonType::kDouble:
        case BsonType::kDateTime:
        case BsonType::kTimestamp:
        case BsonType::kInt64:
          if (!skip(8)) return PastEnd(pos);
          break;
        case BsonType::kInt32:
          if (!skip(4)) return PastEnd(pos);
          break;
        case BsonType::kDecimal128:
          if (!skip(16)) return PastEnd(pos);
          break;
        case BsonType::kString:
        case BsonType::kJavaScript:
        case BsonType::kSymbol:
          if ((pos = StringEnd(limit, pos)) == 0) return false;
          CheckText(value_start + 4, pos - 1);
          break;
        case BsonType::kDocument:
        case BsonType::kArray: {
          if (static_cast<int>(depth) + 1 > max_depth_) {
            return Fail(pos, absl::StrCat("nested deeper than ", max_depth_));
          }
          size_t end = 0;
          if (!OpenDocument(pos, limit, &end)) return false;
          if (depth == 0 && visit_ != nullptr) {  // not walked yet
            (*visit_)(Key(at, key_end), type,
                      absl::string_view(d + pos, end + 1 - pos));
          }
          if (depth == outer.size()) outer.emplace_back();
          outer[depth++] = limit;
          limit = end;
          pos += 4;
          continue;
        }
        case BsonType::kBinary:
          if ((pos = BinaryEnd(limit, pos)) == 0) return false;
          break;
        case BsonType::kUndefined:
        case BsonType::kNull:
        case BsonType::kMaxKey:
        case BsonType::kMinKey:
          break;
        case BsonType::kObjectId:
          if (!skip(12)) return PastEnd(pos);
          break;
        case BsonType::kBool:
          if (!need(1)) return PastEnd(pos);
          if (d[pos] != 0 && d[pos] != 1) return Fail(pos, "bad bool");
          ++pos;
          break;
        case BsonType::kRegex: {  // pattern, options
          for (int i = 0; i < 2; ++i) {
            const size_t nul = FindNul(d, pos, limit);
            if (nul == limit) return Fail(pos, "unterminated key or cstring");
            CheckText(pos, nul);
            pos = nul + 1;
          }
          break;
        }
        case BsonType::kDbPointer:  // string, 12 bytes
          if ((pos = StringEnd(limit, pos)) == 0) return false;
          CheckText(value_start + 4, pos - 1);
          if (!skip(12)) return PastEnd(pos);
          break;
        case BsonType::kCodeWithScope:  // int32 total, string, document
          pos = CodeWithScopeEnd(limit, static_cast<int>(depth), pos);
          if (pos == 0) return false;
          break;
        default:
          return Fail(at, absl::StrCat("unknown element type 0x",
                                       absl::Hex(static_cast<uint8_t>(type),
                                                 absl::kZeroPad2)));
      }
      if (depth == 0 && visit_ != nullptr) {
        absl::string_view value(d + value_start, pos - value_start);
        if (type == BsonType::kString)
          value = value.substr(4, value.size() - 5);
        (*visit_)(Key(at, key_end), type, value);
      }
    }
  }

 private:
  ABSL_ATTRIBUTE_NOINLINE bool Fail(size_t at, absl::string_view what) {
    *why_ = absl::StrCat(what, " at byte ", at);
    return false;
  }
  bool PastEnd(size_t at) { return Fail(at, "element runs past its document"); }

  // Text in data_[from, to): notes it when it is not valid UTF-8.
  void CheckText(size_t from, size_t to) {
    if (utf8_ != nullptr &&
        !IsValidUtf8(absl::string_view(data_ + from, to - from))) {
      *utf8_ = false;
    }
  }

  int32_t Int32At(size_t at) const {
    return static_cast<int32_t>(absl::little_endian::Load32(data_ + at));
  }

  absl::string_view Key(size_t element, size_t key_end) const {
    return absl::string_view(data_ + element + 1, key_end - element - 1);
  }

  // A document starting at `at` that must end at or before `limit`: *end
  // gets its terminating NUL.
  bool OpenDocument(size_t at, size_t limit, size_t* end) {
    if (limit < at || limit - at < 5) return Fail(at, "truncated document");
    const int32_t len = Int32At(at);
    if (len < 5 || static_cast<size_t>(len) > limit - at) {
      return Fail(at, absl::StrCat("bad document length ", len));
    }
    *end = at + static_cast<size_t>(len) - 1;
    if (data_[*end] != '\0') return Fail(*end, "document not NUL-terminated");
    return true;
  }

  // The end of the string at `pos`: int32 length (counting the NUL) +
  // bytes + NUL. 0 when it is malformed.
  size_t StringEnd(size_t limit, size_t pos) {
    if (limit - pos < 4) return PastEnd(pos);
    const int32_t len = Int32At(pos);
    if (len < 1 || static_cast<size_t>(len) > limit - pos - 4) {
      return Fail(pos, absl::StrCat("bad string length ", len));
    }
    pos += 4 + static_cast<size_t>(len);
    if (data_[pos - 1] != '\0') {
      return Fail(pos - 1, "string not NUL-terminated");
    }
    return pos;
  }

  // The end of the binary at `pos`: int32 length, subtype, bytes. The old
  // binary subtype 0x02 holds its own int32 length of the rest, which
  // strict readers (libbson, pymongo) require to match. 0 when malformed.
  size_t BinaryEnd(size_t limit, size_t pos) {
    if (limit - pos < 5) return PastEnd(pos);
    const int32_t len = Int32At(pos);
    if (len < 0) return Fail(pos, absl::StrCat("bad binary length ", len));
    if (static_cast<size_t>(len) > limit - pos - 5) return PastEnd(pos);
    if (data_[pos + 4] == 0x02 && (len < 4 || Int32At(pos + 5) != len - 4)) {
      return Fail(pos, "old binary (subtype 2) lengths do not match");
    }
    return pos + 5 + static_cast<size_t>(len);
  }

  // The end of the code-with-scope at `pos`: int32 total, string,
  // document; the document checked on its own with what is left of the
  // depth. 0 when malformed.
  size_t CodeWithScopeEnd(size_t limit, int depth, size_t pos) {
    if (limit - pos < 4) return PastEnd(pos);
    const int32_t total = Int32At(pos);
    if (total < 14 || static_cast<size_t>(total) > limit - pos) {
      return Fail(pos, absl::StrCat("bad code-with-scope length ", total));
    }
    const size_t end = pos + static_cast<size_t>(total);
    const size_t code = pos + 8;
    if ((pos = StringEnd(end, pos + 4)) == 0) return 0;
    CheckText(code, pos - 1);
    std::string why;
    if (!Validate(absl::string_view(data_ + pos, end - pos),
                  max_depth_ - depth - 1, &why, nullptr, utf8_)) {
      return Fail(pos, absl::StrCat("code-with-scope: ", why));
    }
    return end;
  }

  const char* const data_;
  const size_t size_;
  const int max_depth_;
  std::string* const why_;
  const TopLevelVisitor* const visit_;
  bool* const utf8_;
};

bool Validate(absl::string_view data, int max_depth, std::string* why,
              const TopLevelVisitor* visit, bool* utf8) {
  if (max_depth < 0) {
    *why = "nested too deep";
    return false;
  }
  return Validator(data, max_depth, why, visit, utf8).Run();
}

// The value bytes of each type whose value has a fixed size and no check of
// its own, plus one; 0 for the other types and for bytes that are none.
constexpr std::array<uint8_t, 256> FixedSizesPlusOne() {
  std::array<uint8_t, 256> sizes{};
  for (BsonType type : {BsonType::kDouble, BsonType::kDateTime,
                        BsonType::kTimestamp, BsonType::kInt64}) {
    sizes[static_cast<uint8_t>(type)] = 9;
  }
  sizes[static_cast<uint8_t>(BsonType::kInt32)] = 5;
  sizes[static_cast<uint8_t>(BsonType::kObjectId)] = 13;
  sizes[static_cast<uint8_t>(BsonType::kDecimal128)] = 17;
  for (BsonType type : {BsonType::kUndefined, BsonType::kNull,
                        BsonType::kMinKey, BsonType::kMaxKey}) {
    sizes[static_cast<uint8_t>(type)] = 1;
  }
  return sizes;
}
constexpr std::array<uint8_t, 256> kFixedSizesPlusOne = FixedSizesPlusOne();

// The ends of the documents enclosing the current one, by depth: the first
// kInline in place, deeper ones (hostile nesting) on the heap.
class EnclosingEnds {
 public:
  void Set(size_t depth, size_t end) {
    if (ABSL_PREDICT_TRUE(depth < kInline)) {
      inline_[depth] = end;
    } else {
      if (deeper_.size() <= depth - kInline)
        deeper_.resize(depth - kInline + 1);
      deeper_[depth - kInline] = end;
    }
  }
  size_t Get(size_t depth) const {
    return ABSL_PREDICT_TRUE(depth < kInline) ? inline_[depth]
                                              : deeper_[depth - kInline];
  }

 private:
  static constexpr size_t kInline = 16;
  size_t inline_[kInline];
  std::vector<size_t> deeper_;
};

// Walker's top-level visits: to a TopLevelVisitor, if any.
class CallVisitor {
 public:
  explicit CallVisitor(const TopLevelVisitor* visit) : visit_(visit) {}
  bool on() const { return visit_ != nullptr; }
  void Visit(absl::string_view key, BsonType type, absl::string_view value) {
    (*visit_)(key, type, value);
  }

 private:
  const TopLevelVisitor* const visit_;
};

// A four-letter key as Load32 reads it.
constexpr uint32_t KeyWord(const char (&key)[5]) {
  return static_cast<uint32_t>(static_cast<uint8_t>(key[0])) |
         static_cast<uint32_t>(static_cast<uint8_t>(key[1])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(key[2])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(key[3])) << 24;
}

// Walker's top-level visits: into RoutingFields, keys compared inline.
class ReadRoutingFields {
 public:
  explicit ReadRoutingFields(RoutingFields* fields) : fields_(fields) {}
  bool on() const { return true; }
  void Visit(absl::string_view key, BsonType type, absl::string_view value) {
    if (key.size() == 4) {
      const uint32_t word = absl::little_endian::Load32(key.data());
      if (word == KeyWord("type")) {
        fields_->has_type = true;
        fields_->type_is_string = type == BsonType::kString;
        fields_->type = value;
      } else if (word == KeyWord("host") && type == BsonType::kString) {
        fields_->host = value;
      }
    } else if (key == "end" && type == BsonType::kDouble) {
      memcpy(&fields_->end, value.data(), sizeof fields_->end);
    }
  }

 private:
  RoutingFields* const fields_;
};

// The first byte of data[from, ...) that is NUL or >= 0x80; `data` holds
// one at or before `size` - 1.
inline size_t KeyStop(const char* data, size_t from, size_t size) {
  if (ABSL_PREDICT_TRUE(from + 8 <= size)) {
    uint64_t word;
    memcpy(&word, data + from, 8);
    const uint64_t flags = ((word - 0x0101010101010101ull) | word) & kHighBits;
    if (ABSL_PREDICT_TRUE(flags != 0)) {
      return from + static_cast<size_t>(__builtin_ctzll(flags)) / 8;
    }
    from += 8;
  }
  return FindNulOrNonAscii(data, from, size);
}

// The validator every document goes through: the reference's verdicts,
// UTF-8 flag and visits in fewer instructions per element. It only
// decides; a document it refuses goes to the reference, which says why.
// Keys are scanned a word at a time up to the whole buffer's end (its
// final NUL stops every scan); strings come first, then the types of a
// fixed size (a table), then documents; the rare types are a call away.
// Text is checked a word at a time, and decoded only when a word has a
// byte >= 0x80.
template <typename Visitor>
class Walker {
 public:
  Walker(absl::string_view data, int max_depth, Visitor visitor, bool* utf8)
      : data_(data.data()),
        size_(data.size()),
        max_depth_(max_depth),
        visitor_(visitor),
        utf8_(utf8) {}

  bool Run() {
    const char* const d = data_;
    if (size_ < 5 || Int32At(0) < 5 ||
        static_cast<size_t>(Int32At(0)) != size_ || d[size_ - 1] != '\0') {
      return false;
    }
    EnclosingEnds outer;
    size_t limit = size_ - 1;  // the current document's terminating NUL
    size_t depth = 0;
    size_t pos = 4;
    while (true) {
      if (pos == limit) {
        if (depth == 0) return true;
        limit = outer.Get(--depth);
        ++pos;
        continue;
      }
      const uint8_t type = static_cast<uint8_t>(d[pos]);
      const size_t at = pos;
      size_t key_end = KeyStop(d, pos + 1, size_);
      if (ABSL_PREDICT_FALSE(d[key_end] != '\0')) {
        key_end = KeyEnd(at, key_end, limit);
      }
      if (ABSL_PREDICT_FALSE(key_end >= limit)) return false;
      pos = key_end + 1;
      if (type == static_cast<uint8_t>(BsonType::kString)) {
        if ((pos = StringEnd(limit, pos)) == 0) return false;
      } else if (const size_t plus_one = kFixedSizesPlusOne[type]) {
        if (limit - pos < plus_one - 1) return false;
        pos += plus_one - 1;
      } else if (type == static_cast<uint8_t>(BsonType::kDocument) ||
                 type == static_cast<uint8_t>(BsonType::kArray)) {
        if (static_cast<int>(depth) + 1 > max_depth_) return false;
        if (limit - pos < 5) return false;
        const int32_t len = Int32At(pos);
        if (len < 5 || static_cast<size_t>(len) > limit - pos) return false;
        const size_t end = pos + static_cast<size_t>(len) - 1;
        if (d[end] != '\0') return false;
        if (depth == 0 && visitor_.on()) Visit(type, at, key_end, end + 1);
        outer.Set(depth++, limit);
        limit = end;
        pos += 4;
        continue;
      } else if ((pos = RareEnd(type, limit, depth, pos)) == 0) {
        return false;
      }
      if (depth == 0 && visitor_.on()) Visit(type, at, key_end, pos);
    }
  }

 private:
  int32_t Int32At(size_t at) const {
    return static_cast<int32_t>(absl::little_endian::Load32(data_ + at));
  }

  // A top-level element of `type` at `at` whose value ends at `end`.
  void Visit(uint8_t type, size_t at, size_t key_end, size_t end) {
    size_t from = key_end + 1;
    if (type == static_cast<uint8_t>(BsonType::kString)) {
      from += 4;
      --end;
    }
    visitor_.Visit(absl::string_view(data_ + at + 1, key_end - at - 1),
                   static_cast<BsonType>(type),
                   absl::string_view(data_ + from, end - from));
  }

  // A string's text in data_[from, to), where `from` >= 10 (it follows a
  // document's length, a type, a key's NUL and its own length): a word at
  // a time, the last word loaded ending at `to` and shifted to the text.
  void CheckStringText(size_t from, size_t to) {
    if (utf8_ == nullptr || from == to) return;
    uint64_t seen = 0, word;
    size_t i = from;
    for (; i + 8 < to; i += 8) {
      memcpy(&word, data_ + i, 8);
      seen |= word;
    }
    memcpy(&word, data_ + to - 8, 8);
    seen |= word >> (8 * (8 - (to - i)));
    if (ABSL_PREDICT_FALSE((seen & kHighBits) != 0)) CheckText(from, to);
  }
  // Any text in data_[from, to).
  ABSL_ATTRIBUTE_NOINLINE void CheckText(size_t from, size_t to) {
    if (utf8_ != nullptr &&
        !IsValidUtf8(absl::string_view(data_ + from, to - from))) {
      *utf8_ = false;
    }
  }

  // A key holding a byte >= 0x80 at `stop`: its NUL (checking its text
  // when the key ends inside the document), or `limit` when it does not.
  ABSL_ATTRIBUTE_NOINLINE size_t KeyEnd(size_t at, size_t stop, size_t limit) {
    if (stop >= limit) return limit;
    const size_t nul = FindNul(data_, stop, limit);
    if (nul != limit) CheckText(at + 1, nul);
    return nul;
  }

  // The end of the string at `pos` (int32 length counting the NUL, bytes,
  // NUL), its text checked; 0 when it is malformed.
  size_t StringEnd(size_t limit, size_t pos) {
    if (limit - pos < 4) return 0;
    const int32_t len = Int32At(pos);
    if (len < 1 || static_cast<size_t>(len) > limit - pos - 4) return 0;
    const size_t end = pos + 4 + static_cast<size_t>(len);
    if (data_[end - 1] != '\0') return 0;
    CheckStringText(pos + 4, end - 1);
    return end;
  }

  ABSL_ATTRIBUTE_NOINLINE size_t RareEnd(uint8_t type, size_t limit,
                                         size_t depth, size_t pos);
  size_t CodeWithScopeEnd(size_t limit, size_t depth, size_t pos);

  const char* const data_;
  const size_t size_;
  const int max_depth_;
  Visitor visitor_;
  bool* const utf8_;
};

// The end of a value of a type outside Run()'s fast paths; 0 when it is
// malformed or the type unknown.
template <typename Visitor>
size_t Walker<Visitor>::RareEnd(uint8_t type, size_t limit, size_t depth,
                                size_t pos) {
  switch (static_cast<BsonType>(type)) {
    case BsonType::kJavaScript:
    case BsonType::kSymbol:
      return StringEnd(limit, pos);
    case BsonType::kBool:
      if (limit - pos < 1 || static_cast<uint8_t>(data_[pos]) > 1) return 0;
      return pos + 1;
    case BsonType::kBinary: {
      if (limit - pos < 5) return 0;
      const int32_t len = Int32At(pos);
      if (len < 0 || static_cast<size_t>(len) > limit - pos - 5) return 0;
      if (data_[pos + 4] == 0x02 && (len < 4 || Int32At(pos + 5) != len - 4)) {
        return 0;
      }
      return pos + 5 + static_cast<size_t>(len);
    }
    case BsonType::kRegex:  // pattern, options
      for (int i = 0; i < 2; ++i) {
        const size_t nul = FindNul(data_, pos, limit);
        if (nul == limit) return 0;
        CheckText(pos, nul);
        pos = nul + 1;
      }
      return pos;
    case BsonType::kDbPointer:  // string, 12 bytes
      if ((pos = StringEnd(limit, pos)) == 0 || limit - pos < 12) return 0;
      return pos + 12;
    case BsonType::kCodeWithScope:
      return CodeWithScopeEnd(limit, depth, pos);
    default:
      return 0;
  }
}

// int32 total, string, document: the document walked on its own with what
// is left of the depth.
template <typename Visitor>
size_t Walker<Visitor>::CodeWithScopeEnd(size_t limit, size_t depth,
                                         size_t pos) {
  if (limit - pos < 4) return 0;
  const int32_t total = Int32At(pos);
  if (total < 14 || static_cast<size_t>(total) > limit - pos) return 0;
  const size_t end = pos + static_cast<size_t>(total);
  if ((pos = StringEnd(end, pos + 4)) == 0) return 0;
  const int scope_depth = max_depth_ - static_cast<int>(depth) - 1;
  if (scope_depth < 0 ||
      !Walker<CallVisitor>(absl::string_view(data_ + pos, end - pos),
                           scope_depth, CallVisitor(nullptr), utf8_)
           .Run()) {
    return 0;
  }
  return end;
}

// The end of the text a word at a time: every word of data[from, to) ORed
// into `seen` (the last word loaded ending at `to` and shifted to the
// text). REQUIRES: to - 8 >= the start of the buffer, which holds for every
// string's text (it follows a document's length, a type, a key's NUL and
// its own length: at least ten bytes).
inline uint64_t OrTextWords(const char* from, const char* to, uint64_t seen) {
  if (from == to) return seen;
  uint64_t word;
  const char* p = from;
  for (; to - p > 8; p += 8) {
    memcpy(&word, p, 8);
    seen |= word;
  }
  memcpy(&word, to - 8, 8);
  return seen | word >> (8 * (8 - (to - p)));
}

// The first NUL or byte >= 0x80 at or after `key`, or null when the scan
// would come within eight bytes of `last` (the buffer's final NUL).
inline const char* ScanKey(const char* key, const char* last) {
  for (; last - key >= 8; key += 8) {
    uint64_t word;
    memcpy(&word, key, 8);
    const uint64_t flags = ((word - 0x0101010101010101ull) | word) & kHighBits;
    if (flags != 0) return key + __builtin_ctzll(flags) / 8;
  }
  return nullptr;
}

// The common case in one loop with no calls, its state in registers:
// ASCII keys, strings, the fixed-size types and documents nested up to
// kMaxNesting, text checked to be ASCII when kText, and with kRead the
// routing fields read. True when `data` is valid (and, with kText, all its
// text ASCII); false when it is not sure: the Walker decides then.
template <bool kText, bool kRead>
class CommonWalk {
 public:
  static constexpr int kMaxNesting = 16;

  CommonWalk(absl::string_view data, int max_depth, RoutingFields* fields)
      : data_(data),
        max_depth_(std::min(max_depth, kMaxNesting)),
        fields_(fields) {}

  bool Run() {
    const char* const d = data_.data();
    const size_t size = data_.size();
    if (size < 5 || size > INT32_MAX ||
        absl::little_endian::Load32(d) != size || d[size - 1] != '\0') {
      return false;
    }
    const char* const last = d + size - 1;
    const char* ends[kMaxNesting];
    const char* end = last;  // the current document's NUL
    const char* p = d + 4;
    int depth = 0;
    uint64_t text = 0;  // every text word ORed
    while (true) {
      if (p == end) {
        if (depth == 0) return (text & kHighBits) == 0;
        end = ends[--depth];
        ++p;
        continue;
      }
      const uint8_t type = static_cast<uint8_t>(*p);
      const char* const key = p + 1;
      const char* const key_end = ScanKey(key, last);
      if (key_end == nullptr || *key_end != '\0' || key_end >= end) {
        return false;
      }
      p = key_end + 1;
      const char* value = p;
      if (type == static_cast<uint8_t>(BsonType::kString)) {
        if (end - p < 4) return false;
        const int32_t len = Int32At(p);
        if (len < 1 || len > end - p - 4) return false;
        value = p + 4;
        p = value + len;
        if (p[-1] != '\0') return false;
        if (kText) text = OrTextWords(value, p - 1, text);
      } else if (const size_t plus_one = kFixedSizesPlusOne[type]) {
        if (static_cast<size_t>(end - p) < plus_one - 1) return false;
        p += plus_one - 1;
      } else if (type == static_cast<uint8_t>(BsonType::kDocument) ||
                 type == static_cast<uint8_t>(BsonType::kArray)) {
        if (depth + 1 > max_depth_ || end - p < 5) return false;
        const int32_t len = Int32At(p);
        if (len < 5 || len > end - p || p[len - 1] != '\0') return false;
        if (kRead && depth == 0) Read(type, key, key_end, p, p + len);
        ends[depth++] = end;
        end = p + len - 1;
        p += 4;
        continue;
      } else {
        return false;
      }
      if (kRead && depth == 0) Read(type, key, key_end, value, p);
    }
  }

 private:
  static int32_t Int32At(const char* p) {
    return static_cast<int32_t>(absl::little_endian::Load32(p));
  }

  // A top-level element: its value is [value, to), for a string with
  // its NUL.
  void Read(uint8_t type, const char* key, const char* key_end,
            const char* value, const char* to) {
    const bool string = type == static_cast<uint8_t>(BsonType::kString);
    if (key_end - key == 4) {
      const uint32_t word = absl::little_endian::Load32(key);
      if (word == KeyWord("type")) {
        fields_->has_type = true;
        fields_->type_is_string = string;
        fields_->type = absl::string_view(value, to - value - string);
      } else if (word == KeyWord("host") && string) {
        fields_->host = absl::string_view(value, to - value - 1);
      }
    } else if (key_end - key == 3 && key[0] == 'e' && key[1] == 'n' &&
               key[2] == 'd' &&
               type == static_cast<uint8_t>(BsonType::kDouble)) {
      memcpy(&fields_->end, value, sizeof fields_->end);
    }
  }

  const absl::string_view data_;
  const int max_depth_;
  RoutingFields* const fields_;
};

// The fast verdict; the reference's reason when it is false.
template <typename Visitor>
bool Check(absl::string_view data, int max_depth, std::string* why,
           Visitor visitor, bool* utf8) {
  if (utf8 != nullptr) *utf8 = true;
  if (max_depth >= 0 && Walker<Visitor>(data, max_depth, visitor, utf8).Run()) {
    return true;
  }
  if (Validate(data, max_depth, why, nullptr, nullptr)) {
    *why = "the validators disagree";  // a bug; refused to be safe
  }
  return false;
}

}  // namespace

namespace internal {

bool ValidateDocumentByReference(absl::string_view data, int max_depth,
                                 std::string* why, TopLevelVisitor visit,
                                 bool* utf8) {
  if (utf8 != nullptr) *utf8 = true;
  return Validate(data, max_depth, why, &visit, utf8);
}

}  // namespace internal

bool ValidateDocument(absl::string_view data, int max_depth, std::string* why) {
  if (CommonWalk<false, false>(data, max_depth, nullptr).Run()) return true;
  return Check(data, max_depth, why, CallVisitor(nullptr), nullptr);
}

bool ValidateDocument(absl::string_view data, int max_depth, std::string* why,
                      TopLevelVisitor visit, bool* utf8) {
  return Check(data, max_depth, why, CallVisitor(&visit), utf8);
}

bool ValidateEvent(absl::string_view data, int max_depth, std::string* why,
                   RoutingFields* fields, bool* utf8) {
  *fields = RoutingFields();
  if (CommonWalk<true, true>(data, max_depth, fields).Run()) {
    *utf8 = true;
    return true;
  }
  *fields = RoutingFields();
  return Check(data, max_depth, why, ReadRoutingFields(fields), utf8);
}

}  // namespace ziggy
