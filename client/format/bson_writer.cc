#include "client/format/bson_writer.h"

namespace ziggy {

absl::string_view BsonWriter::IndexKey(uint32_t index, char (&buf)[16]) {
  char* end = buf + sizeof buf;
  char* p = end;
  do {
    *--p = static_cast<char>('0' + index % 10);
    index /= 10;
  } while (index != 0);
  return absl::string_view(p, static_cast<size_t>(end - p));
}

void BsonWriter::RepairedElement(BsonType type, absl::string_view key) {
  *buffer_.Extend(1) = static_cast<char>(type);
  AppendRepairedUtf8(key, &buffer_);
  *buffer_.Extend(1) = '\0';
}

void BsonWriter::RepairedUtf8(absl::string_view value) {
  const size_t length_at = buffer_.size();
  buffer_.Extend(4);
  AppendRepairedUtf8(value, &buffer_);
  *buffer_.Extend(1) = '\0';
  absl::little_endian::Store32(
      buffer_.data() + length_at,
      static_cast<uint32_t>(buffer_.size() - length_at - 4));
}

}  // namespace ziggy
