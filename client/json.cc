#include "client/json.h"

#include <bson/bson.h>

#include <charconv>
#include <cmath>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/event.h"
#include "client/internal/bson_validate.h"
#include "client/internal/byte_buffer.h"

namespace ziggy {
namespace {

// Length of the valid UTF-8 sequence starting at s[0], or 0.
size_t Utf8SequenceLength(const unsigned char* s, size_t left) {
  const unsigned char c = s[0];
  size_t n;
  uint32_t min;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    n = 2, min = 0x80, cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, min = 0x800, cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, min = 0x10000, cp = c & 0x07;
  } else {
    return 0;
  }
  if (left < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// Bytes that go into a JSON string as they are: printable ASCII but " and \.
struct PlainBytes {
  bool plain[256] = {};
  constexpr PlainBytes() {
    for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
  }
};
constexpr PlainBytes kPlain;

// Escapes `text` into `out` as a JSON string literal.
void EscapeString(absl::string_view text, internal::ByteBuffer* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  *out->Extend(1) = '"';
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    // Copy the run of plain ASCII at once.
    size_t j = i;
    while (j < text.size() && kPlain.plain[s[j]]) ++j;
    if (j > i) {
      memcpy(out->Extend(j - i), text.data() + i, j - i);
      i = j;
      continue;
    }
    const unsigned char c = s[i];
    if (c < 0x80) {
      char* e = out->Extend(2);
      e[0] = '\\';
      switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        default: {
          e[1] = 'u';
          char* u = out->Extend(4);
          u[0] = '0';
          u[1] = '0';
          u[2] = kHex[c >> 4];
          u[3] = kHex[c & 0xF];
        }
      }
      ++i;
      continue;
    }
    const size_t n = Utf8SequenceLength(s + i, text.size() - i);
    if (n == 0) {
      memcpy(out->Extend(3), "\xEF\xBF\xBD", 3);  // U+FFFD
      ++i;
    } else {
      memcpy(out->Extend(n), text.data() + i, n);
      i += n;
    }
  }
  *out->Extend(1) = '"';
}

class JsonWriter {
 public:
  JsonWriter(internal::ByteBuffer* out, const JsonOptions& options)
      : out_(out), pretty_(options.pretty) {}

  void Document(bson_iter_t* it, bool is_array, int depth) {
    Char(is_array ? '[' : '{');
    bool first = true;
    while (bson_iter_next(it)) {
      if (!first) Char(',');
      first = false;
      Newline(depth + 1);
      if (!is_array) {
        EscapeString(
            absl::string_view(bson_iter_key(it), bson_iter_key_len(it)), out_);
        Raw(pretty_ ? ": " : ":");
      }
      Element(it, depth + 1);
    }
    if (!first) Newline(depth);
    Char(is_array ? ']' : '}');
  }

 private:
  void Newline(int depth) {
    if (!pretty_) return;
    Char('\n');
    memset(out_->Extend(static_cast<size_t>(depth) * 2), ' ',
           static_cast<size_t>(depth) * 2);
  }

  void Raw(absl::string_view text) {
    memcpy(out_->Extend(text.size()), text.data(), text.size());
  }
  void Char(char c) { *out_->Extend(1) = c; }
  void Int(int64_t i) {
    char buf[32];
    Raw(absl::string_view(buf, absl::numbers_internal::FastIntToBuffer(i, buf) - buf));
  }

  void Double(double d) {
    if (std::isnan(d)) return Raw("\"NaN\"");
    if (std::isinf(d)) return Raw(d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    char buf[32];
    const auto result = std::to_chars(buf, buf + sizeof buf, d);
    Raw(absl::string_view(buf, static_cast<size_t>(result.ptr - buf)));
  }

  void String(const char* s, uint32_t len) {
    EscapeString(absl::string_view(s, len), out_);
  }

  // {"<name>": <inner>} where inner is written by `fill`.
  template <typename Fill>
  void Wrapped(absl::string_view name, Fill fill) {
    Raw("{\"");
    Raw(name);
    Raw(pretty_ ? "\": " : "\":");
    fill();
    Char('}');
  }

  void Oid(const bson_oid_t* oid) {
    char hex[25];
    bson_oid_to_string(oid, hex);
    Raw(absl::StrCat("{\"$oid\":\"", hex, "\"}"));
  }

  void Element(bson_iter_t* it, int depth) {
    uint32_t len = 0;
    switch (bson_iter_type(it)) {
      case BSON_TYPE_DOUBLE:
        return Double(bson_iter_double(it));
      case BSON_TYPE_UTF8: {
        const char* s = bson_iter_utf8(it, &len);
        return String(s, len);
      }
      case BSON_TYPE_DOCUMENT:
      case BSON_TYPE_ARRAY: {
        bson_iter_t child;
        if (bson_iter_recurse(it, &child)) {
          Document(&child, bson_iter_type(it) == BSON_TYPE_ARRAY, depth);
        } else {
          Raw("null");
        }
        return;
      }
      case BSON_TYPE_BINARY: {
        bson_subtype_t subtype;
        const uint8_t* data;
        bson_iter_binary(it, &subtype, &len, &data);
        return Wrapped("$binary", [&] {
          Raw(absl::StrCat(
              "{\"base64\":\"",
              absl::Base64Escape(absl::string_view(
                  reinterpret_cast<const char*>(data), len)),
              "\",\"subType\":\"",
              absl::Hex(static_cast<int>(subtype), absl::kZeroPad2), "\"}"));
        });
      }
      case BSON_TYPE_UNDEFINED:
        return Raw("{\"$undefined\":true}");
      case BSON_TYPE_OID:
        return Oid(bson_iter_oid(it));
      case BSON_TYPE_BOOL:
        return Raw(bson_iter_bool(it) ? "true" : "false");
      case BSON_TYPE_DATE_TIME:
        return Raw(absl::StrCat("{\"$date\":{\"$numberLong\":\"",
                                bson_iter_date_time(it), "\"}}"));
      case BSON_TYPE_NULL:
        return Raw("null");
      case BSON_TYPE_REGEX: {
        const char* options;
        const char* regex = bson_iter_regex(it, &options);
        return Wrapped("$regularExpression", [&] {
          Raw("{\"pattern\":");
          EscapeString(regex, out_);
          Raw(",\"options\":");
          EscapeString(options, out_);
          Char('}');
        });
      }
      case BSON_TYPE_DBPOINTER: {
        const char* collection;
        const bson_oid_t* oid;
        bson_iter_dbpointer(it, &len, &collection, &oid);
        return Wrapped("$dbPointer", [&] {
          Raw("{\"$ref\":");
          String(collection, len);
          Raw(",\"$id\":");
          Oid(oid);
          Char('}');
        });
      }
      case BSON_TYPE_CODE: {
        const char* code = bson_iter_code(it, &len);
        return Wrapped("$code", [&] { String(code, len); });
      }
      case BSON_TYPE_SYMBOL: {
        const char* symbol = bson_iter_symbol(it, &len);
        return Wrapped("$symbol", [&] { String(symbol, len); });
      }
      case BSON_TYPE_CODEWSCOPE: {
        uint32_t scope_len;
        const uint8_t* scope_data;
        const char* code =
            bson_iter_codewscope(it, &len, &scope_len, &scope_data);
        Raw("{\"$code\":");
        String(code, len);
        Raw(",\"$scope\":");
        bson_t scope;
        bson_iter_t child;
        if (bson_init_static(&scope, scope_data, scope_len) &&
            bson_iter_init(&child, &scope)) {
          Document(&child, false, depth);
        } else {
          Raw("null");
        }
        Char('}');
        return;
      }
      case BSON_TYPE_INT32:
        return Int(bson_iter_int32(it));
      case BSON_TYPE_TIMESTAMP: {
        uint32_t t, i;
        bson_iter_timestamp(it, &t, &i);
        return Raw(absl::StrCat("{\"$timestamp\":{\"t\":", t, ",\"i\":", i,
                                "}}"));
      }
      case BSON_TYPE_INT64:
        return Int(bson_iter_int64(it));
      case BSON_TYPE_DECIMAL128: {
        bson_decimal128_t dec;
        char text[BSON_DECIMAL128_STRING];
        bson_iter_decimal128(it, &dec);
        bson_decimal128_to_string(&dec, text);
        return Raw(absl::StrCat("{\"$numberDecimal\":\"", text, "\"}"));
      }
      case BSON_TYPE_MAXKEY:
        return Raw("{\"$maxKey\":1}");
      case BSON_TYPE_MINKEY:
        return Raw("{\"$minKey\":1}");
      default:  // EOD cannot occur inside a validated document
        return Raw("null");
    }
  }

  internal::ByteBuffer* out_;
  const bool pretty_;
};

}  // namespace

void AppendJsonString(absl::string_view text, std::string* out) {
  internal::ByteBuffer buffer;
  EscapeString(text, &buffer);
  out->append(buffer.data(), buffer.size());
}

absl::Status AppendJson(absl::string_view bson, std::string* out,
                        const JsonOptions& options) {
  std::string why;
  if (!internal::ValidateDocument(bson, kMaxDepth, &why)) {
    return absl::DataLossError(absl::StrCat("malformed BSON document: ", why));
  }
  internal::AppendValidatedJson(bson, out, options);
  return absl::OkStatus();
}

namespace internal {

void AppendValidatedJson(absl::string_view bson, std::string* out,
                         const JsonOptions& options) {
  bson_t doc;
  bson_iter_t it;
  if (bson_init_static(&doc, reinterpret_cast<const uint8_t*>(bson.data()),
                       bson.size()) &&
      bson_iter_init(&it, &doc)) {
    // Built in a thread-local buffer with inline appends, then copied once.
    thread_local ByteBuffer buffer;
    buffer.Clear();
    JsonWriter(&buffer, options).Document(&it, /*is_array=*/false, 0);
    out->append(buffer.data(), buffer.size());
  }
}

}  // namespace internal

}  // namespace ziggy
