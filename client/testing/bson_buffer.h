// BsonBuffer: an owned libbson bson_t for tests that build documents with
// libbson (the reference encoder) to check ours against.

#ifndef ZIGGY_CLIENT_TESTING_BSON_BUFFER_H_
#define ZIGGY_CLIENT_TESTING_BSON_BUFFER_H_

#include <bson/bson.h>

#include "absl/strings/string_view.h"

namespace ziggy::testing {

class BsonBuffer {
 public:
  BsonBuffer() { bson_init(&doc_); }
  ~BsonBuffer() { bson_destroy(&doc_); }
  BsonBuffer(const BsonBuffer&) = delete;
  BsonBuffer& operator=(const BsonBuffer&) = delete;

  bson_t* get() { return &doc_; }
  absl::string_view bytes() const {
    return absl::string_view(
        reinterpret_cast<const char*>(bson_get_data(&doc_)), doc_.len);
  }

 private:
  bson_t doc_;
};

}  // namespace ziggy::testing

#endif  // ZIGGY_CLIENT_TESTING_BSON_BUFFER_H_
