// Small shared pieces of the BSON codec: the event header writer used by both
// the hot path (from a Body) and EncodeEvent (from a Value), and a RAII owner
// for bson_t.

#ifndef ZIGGY_CLIENT_INTERNAL_BSON_UTIL_H_
#define ZIGGY_CLIENT_INTERNAL_BSON_UTIL_H_

#include <bson/bson.h>

#include <cstdint>

#include "absl/strings/string_view.h"

namespace ziggy::internal {

struct EventHeader {
  absl::string_view id;
  absl::string_view type;
  absl::string_view host;
  int32_t pid;
  double start;
  double end;
};

// Writes {id, type, host, pid, start, end, body: {...}} into the empty `out`;
// `fill_body(bson_t* body)` appends the body's fields.
template <typename FillBody>
void EncodeEventTo(bson_t* out, const EventHeader& h, FillBody&& fill_body) {
  auto utf8 = [out](const char* key, absl::string_view s) {
    bson_append_utf8(out, key, -1, s.data(), static_cast<int>(s.size()));
  };
  utf8("id", h.id);
  utf8("type", h.type);
  utf8("host", h.host);
  bson_append_int32(out, "pid", 3, h.pid);
  bson_append_double(out, "start", 5, h.start);
  bson_append_double(out, "end", 3, h.end);
  bson_t body;
  bson_append_document_begin(out, "body", 4, &body);
  fill_body(&body);
  bson_append_document_end(out, &body);
}

inline absl::string_view BsonBytes(const bson_t* doc) {
  return absl::string_view(reinterpret_cast<const char*>(bson_get_data(doc)),
                           doc->len);
}

// Owns a heap-growing bson_t; Reset() empties it but keeps its buffer.
class BsonBuffer {
 public:
  BsonBuffer() { bson_init(&doc_); }
  ~BsonBuffer() { bson_destroy(&doc_); }
  BsonBuffer(const BsonBuffer&) = delete;
  BsonBuffer& operator=(const BsonBuffer&) = delete;

  bson_t* get() { return &doc_; }
  void Reset() { bson_reinit(&doc_); }
  absl::string_view bytes() const { return BsonBytes(&doc_); }

 private:
  bson_t doc_;
};

}  // namespace ziggy::internal

#endif  // ZIGGY_CLIENT_INTERNAL_BSON_UTIL_H_
