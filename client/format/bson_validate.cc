#include "client/format/bson_validate.h"

#include <cstdint>

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

// One loop over the elements of every open document, with its state (the
// position, the current document's end and the depth) in locals: the bytes
// are read as char, which may alias any member of an object, so state kept
// in members would be stored and reloaded around every byte read. The
// helpers take the position by value and return the next one (0 for a
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
    size_t limit;  // the current document's terminating NUL
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
          size_t end;
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

}  // namespace

bool ValidateDocument(absl::string_view data, int max_depth, std::string* why) {
  return Validate(data, max_depth, why, nullptr, nullptr);
}

bool ValidateDocument(absl::string_view data, int max_depth, std::string* why,
                      TopLevelVisitor visit, bool* utf8) {
  if (utf8 != nullptr) *utf8 = true;
  return Validate(data, max_depth, why, &visit, utf8);
}

}  // namespace ziggy
