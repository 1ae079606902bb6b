#include "client/format/bson_repair.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/base/internal/endian.h"
#include "absl/container/inlined_vector.h"
#include "client/format/bson_validate.h"
#include "client/format/event.h"
#include "client/format/utf8.h"

namespace ziggy {
namespace {

// Copies a well-formed document element by element, repairing text. A
// length is written when what it measures is closed, once the size of the
// repaired contents is known.
class Repairer {
 public:
  Repairer(absl::string_view doc, ByteBuffer* out)
      : data_(doc.data()), out_(out) {}

  void Run() {
    OpenDocument();
    while (!open_.empty()) {
      const Open top = open_.back();
      if (top.code_with_scope) {  // its scope document just closed
        Close(top);
      } else if (pos_ + 1 == top.end) {  // the document's terminating NUL
        Copy(1);
        Close(top);
      } else {
        Element();
      }
    }
  }

 private:
  // A document, array or code-with-scope being copied: where it ends in
  // the input and where its length goes in the output.
  struct Open {
    size_t end;
    size_t length_at;
    bool code_with_scope;
  };

  uint32_t Uint32At(size_t at) const {
    return absl::little_endian::Load32(data_ + at);
  }
  void Copy(size_t n) {
    out_->Append(absl::string_view(data_ + pos_, n));
    pos_ += n;
  }
  void OpenDocument() {
    open_.push_back({pos_ + Uint32At(pos_), out_->size(), false});
    Copy(4);
  }
  void Close(const Open& open) {
    open_.pop_back();
    absl::little_endian::Store32(
        out_->data() + open.length_at,
        static_cast<uint32_t>(out_->size() - open.length_at));
  }
  // A key or regex part: text up to a NUL.
  void CString() {
    const size_t n = strlen(data_ + pos_);
    AppendRepairedUtf8(absl::string_view(data_ + pos_, n), out_);
    *out_->Extend(1) = '\0';
    pos_ += n + 1;
  }
  // int32 length (counting the NUL), text, NUL.
  void String() {
    const size_t n = Uint32At(pos_) - 1;
    const size_t length_at = out_->size();
    out_->Extend(4);
    AppendRepairedUtf8(absl::string_view(data_ + pos_ + 4, n), out_);
    *out_->Extend(1) = '\0';
    absl::little_endian::Store32(
        out_->data() + length_at,
        static_cast<uint32_t>(out_->size() - length_at - 4));
    pos_ += 4 + n + 1;
  }

  void Element() {
    const auto type = static_cast<uint8_t>(data_[pos_]);
    Copy(1);
    CString();
    switch (type) {
      case 0x06:  // undefined
      case 0x0A:  // null
      case 0x7F:  // max key
      case 0xFF:  // min key
        return;
      case 0x08:  // bool
        return Copy(1);
      case 0x10:  // int32
        return Copy(4);
      case 0x01:  // double
      case 0x09:  // UTC datetime
      case 0x11:  // timestamp
      case 0x12:  // int64
        return Copy(8);
      case 0x07:  // ObjectId
        return Copy(12);
      case 0x13:  // decimal128
        return Copy(16);
      case 0x05:  // binary: int32 length, subtype, bytes
        return Copy(5 + Uint32At(pos_));
      case 0x02:  // string
      case 0x0D:  // JavaScript code
      case 0x0E:  // symbol
        return String();
      case 0x0B:  // regex: pattern, options
        CString();
        return CString();
      case 0x0C:  // DBPointer: string, ObjectId
        String();
        return Copy(12);
      case 0x03:  // document
      case 0x04:  // array
        return OpenDocument();
      case 0x0F:  // code with scope: int32 total, string, document
        open_.push_back({0, out_->size(), true});
        Copy(4);
        String();
        return OpenDocument();
      default:  // ValidateDocument lets no other type through
        std::abort();
    }
  }

  const char* const data_;
  ByteBuffer* const out_;
  size_t pos_ = 0;
  absl::InlinedVector<Open, 16> open_;
};

}  // namespace

bool RepairUtf8(absl::string_view doc, ByteBuffer* out) {
  std::string why;
  bool utf8 = true;
  if (!ValidateDocument(
          doc, kMaxDepth, &why,
          [](absl::string_view, uint8_t, absl::string_view) {}, &utf8) ||
      utf8) {
    return false;
  }
  Repairer(doc, out).Run();
  return true;
}

}  // namespace ziggy
