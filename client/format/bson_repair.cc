#include "client/format/bson_repair.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/base/internal/endian.h"
#include "absl/container/inlined_vector.h"
#include "client/format/bson_type.h"
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
    const auto type = static_cast<BsonType>(static_cast<uint8_t>(data_[pos_]));
    Copy(1);
    CString();
    switch (type) {
      case BsonType::kUndefined:
      case BsonType::kNull:
      case BsonType::kMaxKey:
      case BsonType::kMinKey:
        return;
      case BsonType::kBool:
        return Copy(1);
      case BsonType::kInt32:
        return Copy(4);
      case BsonType::kDouble:
      case BsonType::kDateTime:
      case BsonType::kTimestamp:
      case BsonType::kInt64:
        return Copy(8);
      case BsonType::kObjectId:
        return Copy(12);
      case BsonType::kDecimal128:
        return Copy(16);
      case BsonType::kBinary:  // int32 length, subtype, bytes
        return Copy(5 + Uint32At(pos_));
      case BsonType::kString:
      case BsonType::kJavaScript:
      case BsonType::kSymbol:
        return String();
      case BsonType::kRegex:  // pattern, options
        CString();
        return CString();
      case BsonType::kDbPointer:  // string, ObjectId
        String();
        return Copy(12);
      case BsonType::kDocument:
      case BsonType::kArray:
        return OpenDocument();
      case BsonType::kCodeWithScope:  // int32 total, string, document
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
          [](absl::string_view, BsonType, absl::string_view) {}, &utf8) ||
      utf8) {
    return false;
  }
  Repairer(doc, out).Run();
  return true;
}

}  // namespace ziggy
