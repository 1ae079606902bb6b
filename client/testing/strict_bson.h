// StrictlyValid: whether a document is one strict BSON readers (pymongo's
// decode_file_iter) accept: well-formed, and every key and text value
// (strings, JavaScript code, symbols, regex pattern and options, DBPointer
// collections, code-with-scope's code and scope) valid UTF-8 by libbson's
// bson_utf8_validate, with no NUL byte unless `allow_nul` (inside string
// values only; libbson then also lets the overlong C0 80 through).
//
// Not bson_validate(BSON_VALIDATE_UTF8) alone: libbson 1.23 checks keys
// there but stops at the first string value that is not UTF-8 and reports
// the document valid (one that is UTF-8 but holds a NUL it does refuse,
// hence the flags). So text is checked element by element here.

#ifndef ZIGGY_CLIENT_TESTING_STRICT_BSON_H_
#define ZIGGY_CLIENT_TESTING_STRICT_BSON_H_

#include <bson/bson.h>

#include <cstring>

#include "absl/strings/string_view.h"

namespace ziggy::testing {

inline bool StrictlyValidText(const char* text, size_t n, bool allow_nul) {
  return text != nullptr && bson_utf8_validate(text, n, allow_nul);
}

// Every element under `it`, recursively.
inline bool StrictlyValidElements(bson_iter_t* it, bool allow_nul) {
  while (bson_iter_next(it)) {
    const char* key = bson_iter_key(it);
    if (!StrictlyValidText(key, strlen(key), false)) return false;
    uint32_t n = 0;
    const char* text = nullptr;
    bson_iter_t child;
    switch (bson_iter_type(it)) {
      case BSON_TYPE_UTF8:
        text = bson_iter_utf8(it, &n);
        if (!StrictlyValidText(text, n, allow_nul)) return false;
        break;
      case BSON_TYPE_CODE:
        text = bson_iter_code(it, &n);
        if (!StrictlyValidText(text, n, allow_nul)) return false;
        break;
      case BSON_TYPE_SYMBOL:
        text = bson_iter_symbol(it, &n);
        if (!StrictlyValidText(text, n, allow_nul)) return false;
        break;
      case BSON_TYPE_REGEX: {
        const char* options = nullptr;
        text = bson_iter_regex(it, &options);
        if (!StrictlyValidText(text, strlen(text), false) ||
            !StrictlyValidText(options, strlen(options), false)) {
          return false;
        }
        break;
      }
      case BSON_TYPE_DBPOINTER: {
        const bson_oid_t* oid;
        bson_iter_dbpointer(it, &n, &text, &oid);
        if (!StrictlyValidText(text, n, allow_nul)) return false;
        break;
      }
      case BSON_TYPE_CODEWSCOPE: {
        uint32_t scope_len;
        const uint8_t* scope_data;
        text = bson_iter_codewscope(it, &n, &scope_len, &scope_data);
        bson_t scope;
        if (!StrictlyValidText(text, n, allow_nul) ||
            !bson_init_static(&scope, scope_data, scope_len) ||
            !bson_iter_init(&child, &scope) ||
            !StrictlyValidElements(&child, allow_nul)) {
          return false;
        }
        break;
      }
      case BSON_TYPE_DOCUMENT:
      case BSON_TYPE_ARRAY:
        if (!bson_iter_recurse(it, &child) ||
            !StrictlyValidElements(&child, allow_nul)) {
          return false;
        }
        break;
      default:
        break;
    }
  }
  return true;
}

inline bool StrictlyValid(absl::string_view doc, bool allow_nul = false) {
  bson_t b;
  size_t offset;
  bson_iter_t it;
  return bson_init_static(&b, reinterpret_cast<const uint8_t*>(doc.data()),
                          doc.size()) &&
         bson_validate(&b,
                       static_cast<bson_validate_flags_t>(
                           BSON_VALIDATE_UTF8 |
                           (allow_nul ? BSON_VALIDATE_UTF8_ALLOW_NULL : 0)),
                       &offset) &&
         bson_iter_init(&it, &b) && StrictlyValidElements(&it, allow_nul);
}

}  // namespace ziggy::testing

#endif  // ZIGGY_CLIENT_TESTING_STRICT_BSON_H_
