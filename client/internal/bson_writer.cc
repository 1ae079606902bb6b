#include "client/internal/bson_writer.h"

namespace ziggy::internal {

absl::string_view BsonWriter::IndexKey(uint32_t index, char (&buf)[16]) {
  char* end = buf + sizeof buf;
  char* p = end;
  do {
    *--p = static_cast<char>('0' + index % 10);
    index /= 10;
  } while (index != 0);
  return absl::string_view(p, static_cast<size_t>(end - p));
}

}  // namespace ziggy::internal
