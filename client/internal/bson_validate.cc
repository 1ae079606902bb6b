#include "client/internal/bson_validate.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/base/internal/endian.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "client/internal/swar.h"

namespace ziggy::internal {
namespace {

class Validator {
 public:
  Validator(absl::string_view data, int max_depth, std::string* why,
            const TopLevelVisitor* visit)
      : data_(data), max_depth_(max_depth), why_(why), visit_(visit) {}

  bool Run() {
    if (!OpenDocument(0, data_.size())) return false;
    if (ends_.back() + 1 != data_.size()) {
      return Fail(0, absl::StrCat("document declares ", ends_.back() + 1,
                                  " bytes but has ", data_.size()));
    }
    while (true) {
      if (pos_ == limit_) {  // the document's terminating NUL
        ++pos_;
        ends_.pop_back();
        if (ends_.empty()) return true;
        limit_ = ends_.back();
        continue;
      }
      if (!Element()) return false;
    }
  }

 private:
  bool Fail(size_t at, absl::string_view what) {
    *why_ = absl::StrCat(what, " at byte ", at);
    return false;
  }

  size_t limit() const { return limit_; }

  int32_t Int32At(size_t at) const {
    return static_cast<int32_t>(absl::little_endian::Load32(data_.data() + at));
  }

  // A document starting at `at` that must end at or before `limit`.
  bool OpenDocument(size_t at, size_t limit) {
    if (static_cast<int>(ends_.size()) > max_depth_) {
      return Fail(at, absl::StrCat("nested deeper than ", max_depth_));
    }
    if (limit < at || limit - at < 5) return Fail(at, "truncated document");
    const int32_t len = Int32At(at);
    if (len < 5 || static_cast<size_t>(len) > limit - at) {
      return Fail(at, absl::StrCat("bad document length ", len));
    }
    const size_t end = at + static_cast<size_t>(len) - 1;
    if (data_[end] != '\0') return Fail(end, "document not NUL-terminated");
    ends_.push_back(end);
    limit_ = end;
    pos_ = at + 4;
    return true;
  }

  bool Need(size_t n) {
    if (limit() - pos_ < n) return Fail(pos_, "element runs past its document");
    return true;
  }

  // Keys are short: eight bytes at a time beats a memchr call.
  bool CString() {
    const size_t nul = FindNul(data_.data(), pos_, limit_);
    if (nul == limit_) return Fail(pos_, "unterminated key or cstring");
    pos_ = nul + 1;
    return true;
  }

  // int32 length (counting the NUL) + bytes + NUL.
  bool String() {
    if (!Need(4)) return false;
    const int32_t len = Int32At(pos_);
    if (len < 1 || static_cast<size_t>(len) > limit() - pos_ - 4) {
      return Fail(pos_, absl::StrCat("bad string length ", len));
    }
    pos_ += 4 + static_cast<size_t>(len);
    if (data_[pos_ - 1] != '\0')
      return Fail(pos_ - 1, "string not NUL-terminated");
    return true;
  }

  bool Skip(size_t n) {
    if (!Need(n)) return false;
    pos_ += n;
    return true;
  }

  // Validates one element and, at the top level, shows it to the visitor.
  bool Element() {
    const size_t at = pos_;
    const auto type = static_cast<uint8_t>(data_[pos_]);
    const bool top = ends_.size() == 1;
    if (!Value()) return false;
    if (top && visit_ != nullptr) {
      const size_t key_start = at + 1;
      const size_t key_end = key_end_;  // the key's NUL
      absl::string_view value = data_.substr(key_end + 1, pos_ - key_end - 1);
      if (type == 0x02) {
        value = value.substr(4, value.size() - 5);
      } else if (type == 0x03 || type == 0x04) {  // not walked yet
        value = data_.substr(key_end + 1,
                             static_cast<size_t>(Int32At(key_end + 1)));
      }
      (*visit_)(data_.substr(key_start, key_end - key_start), type, value);
    }
    return true;
  }

  bool Value() {
    const size_t at = pos_;
    const auto type = static_cast<uint8_t>(data_[pos_++]);
    if (!CString()) return false;  // the key
    key_end_ = pos_ - 1;
    switch (type) {
      case 0x01:  // double
      case 0x09:  // UTC datetime
      case 0x11:  // timestamp
      case 0x12:  // int64
        return Skip(8);
      case 0x02:  // string
      case 0x0D:  // JavaScript code
      case 0x0E:  // symbol
        return String();
      case 0x03:  // document
      case 0x04:  // array
        return OpenDocument(pos_, limit());
      case 0x05: {  // binary
        if (!Need(5)) return false;
        const int32_t len = Int32At(pos_);
        if (len < 0) return Fail(pos_, absl::StrCat("bad binary length ", len));
        return Skip(5 + static_cast<size_t>(len));
      }
      case 0x06:  // undefined
      case 0x0A:  // null
      case 0x7F:  // max key
      case 0xFF:  // min key
        return true;
      case 0x07:  // ObjectId
        return Skip(12);
      case 0x08:  // bool
        if (!Need(1)) return false;
        if (data_[pos_] != 0 && data_[pos_] != 1) return Fail(pos_, "bad bool");
        return Skip(1);
      case 0x0B:  // regex: pattern, options
        return CString() && CString();
      case 0x0C:  // DBPointer
        return String() && Skip(12);
      case 0x0F: {  // code with scope: int32 total, string, document
        if (!Need(4)) return false;
        const int32_t total = Int32At(pos_);
        if (total < 14 || static_cast<size_t>(total) > limit() - pos_) {
          return Fail(pos_, absl::StrCat("bad code-with-scope length ", total));
        }
        const size_t end = pos_ + static_cast<size_t>(total);
        pos_ += 4;
        if (!String()) return false;
        std::string why;
        if (!ValidateDocument(data_.substr(pos_, end - pos_),
                              max_depth_ - static_cast<int>(ends_.size()),
                              &why)) {
          return Fail(pos_, absl::StrCat("code-with-scope: ", why));
        }
        pos_ = end;
        return true;
      }
      case 0x10:  // int32
        return Skip(4);
      case 0x13:  // decimal128
        return Skip(16);
      default:
        return Fail(at, absl::StrCat("unknown element type 0x",
                                     absl::Hex(type, absl::kZeroPad2)));
    }
  }

  const absl::string_view data_;
  const int max_depth_;
  std::string* const why_;
  const TopLevelVisitor* const visit_;
  absl::InlinedVector<size_t, 16> ends_;  // open documents' NUL offsets
  size_t limit_ = 0;                      // ends_.back()
  size_t pos_ = 0;
  size_t key_end_ = 0;  // the NUL of the last element's key
};

}  // namespace

bool ValidateDocument(absl::string_view data, int max_depth, std::string* why) {
  if (max_depth < 0) {
    *why = "nested too deep";
    return false;
  }
  return Validator(data, max_depth, why, nullptr).Run();
}

bool ValidateDocument(absl::string_view data, int max_depth, std::string* why,
                      TopLevelVisitor visit) {
  if (max_depth < 0) {
    *why = "nested too deep";
    return false;
  }
  return Validator(data, max_depth, why, &visit).Run();
}

}  // namespace ziggy::internal
