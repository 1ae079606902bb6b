#include "client/json.h"

#include <bson/bson.h>

#include <charconv>
#include <cmath>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client/event.h"
#include "client/internal/bson_validate.h"

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

class JsonWriter {
 public:
  JsonWriter(std::string* out, const JsonOptions& options)
      : out_(out), pretty_(options.pretty) {}

  void Document(bson_iter_t* it, bool is_array, int depth) {
    out_->push_back(is_array ? '[' : '{');
    bool first = true;
    while (bson_iter_next(it)) {
      if (!first) out_->push_back(',');
      first = false;
      Newline(depth + 1);
      if (!is_array) {
        AppendJsonString(
            absl::string_view(bson_iter_key(it), bson_iter_key_len(it)), out_);
        out_->append(pretty_ ? ": " : ":");
      }
      Element(it, depth + 1);
    }
    if (!first) Newline(depth);
    out_->push_back(is_array ? ']' : '}');
  }

 private:
  void Newline(int depth) {
    if (!pretty_) return;
    out_->push_back('\n');
    out_->append(static_cast<size_t>(depth) * 2, ' ');
  }

  void Raw(absl::string_view text) { out_->append(text.data(), text.size()); }

  void Double(double d) {
    if (std::isnan(d)) return Raw("\"NaN\"");
    if (std::isinf(d)) return Raw(d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    char buf[32];
    const auto result = std::to_chars(buf, buf + sizeof buf, d);
    out_->append(buf, result.ptr);
  }

  void String(const char* s, uint32_t len) {
    AppendJsonString(absl::string_view(s, len), out_);
  }

  // {"<name>": <inner>} where inner is written by `fill`.
  template <typename Fill>
  void Wrapped(absl::string_view name, Fill fill) {
    absl::StrAppend(out_, "{\"", name, pretty_ ? "\": " : "\":");
    fill();
    out_->push_back('}');
  }

  void Oid(const bson_oid_t* oid) {
    char hex[25];
    bson_oid_to_string(oid, hex);
    absl::StrAppend(out_, "{\"$oid\":\"", hex, "\"}");
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
          out_->append("null");
        }
        return;
      }
      case BSON_TYPE_BINARY: {
        bson_subtype_t subtype;
        const uint8_t* data;
        bson_iter_binary(it, &subtype, &len, &data);
        return Wrapped("$binary", [&] {
          absl::StrAppend(out_, "{\"base64\":\"",
                          absl::Base64Escape(absl::string_view(
                              reinterpret_cast<const char*>(data), len)),
                          "\",\"subType\":\"",
                          absl::Hex(static_cast<int>(subtype), absl::kZeroPad2),
                          "\"}");
        });
      }
      case BSON_TYPE_UNDEFINED:
        return Raw("{\"$undefined\":true}");
      case BSON_TYPE_OID:
        return Oid(bson_iter_oid(it));
      case BSON_TYPE_BOOL:
        return Raw(bson_iter_bool(it) ? "true" : "false");
      case BSON_TYPE_DATE_TIME:
        return absl::StrAppend(out_, "{\"$date\":{\"$numberLong\":\"",
                               bson_iter_date_time(it), "\"}}");
      case BSON_TYPE_NULL:
        return Raw("null");
      case BSON_TYPE_REGEX: {
        const char* options;
        const char* regex = bson_iter_regex(it, &options);
        return Wrapped("$regularExpression", [&] {
          out_->append("{\"pattern\":");
          AppendJsonString(regex, out_);
          out_->append(",\"options\":");
          AppendJsonString(options, out_);
          out_->push_back('}');
        });
      }
      case BSON_TYPE_DBPOINTER: {
        const char* collection;
        const bson_oid_t* oid;
        bson_iter_dbpointer(it, &len, &collection, &oid);
        return Wrapped("$dbPointer", [&] {
          out_->append("{\"$ref\":");
          String(collection, len);
          out_->append(",\"$id\":");
          Oid(oid);
          out_->push_back('}');
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
        out_->append("{\"$code\":");
        String(code, len);
        out_->append(",\"$scope\":");
        bson_t scope;
        bson_iter_t child;
        if (bson_init_static(&scope, scope_data, scope_len) &&
            bson_iter_init(&child, &scope)) {
          Document(&child, false, depth);
        } else {
          out_->append("null");
        }
        out_->push_back('}');
        return;
      }
      case BSON_TYPE_INT32:
        return absl::StrAppend(out_, bson_iter_int32(it));
      case BSON_TYPE_TIMESTAMP: {
        uint32_t t, i;
        bson_iter_timestamp(it, &t, &i);
        return absl::StrAppend(out_, "{\"$timestamp\":{\"t\":", t, ",\"i\":", i,
                               "}}");
      }
      case BSON_TYPE_INT64:
        return absl::StrAppend(out_, bson_iter_int64(it));
      case BSON_TYPE_DECIMAL128: {
        bson_decimal128_t dec;
        char text[BSON_DECIMAL128_STRING];
        bson_iter_decimal128(it, &dec);
        bson_decimal128_to_string(&dec, text);
        return absl::StrAppend(out_, "{\"$numberDecimal\":\"", text, "\"}");
      }
      case BSON_TYPE_MAXKEY:
        return Raw("{\"$maxKey\":1}");
      case BSON_TYPE_MINKEY:
        return Raw("{\"$minKey\":1}");
      default:  // EOD cannot occur inside a validated document
        return Raw("null");
    }
  }

  std::string* out_;
  const bool pretty_;
};

}  // namespace

void AppendJsonString(absl::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->reserve(out->size() + text.size() + 2);
  out->push_back('"');
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = s[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      // Copy the run of plain ASCII at once.
      size_t j = i + 1;
      while (j < text.size() && s[j] >= 0x20 && s[j] < 0x80 && s[j] != '"' &&
             s[j] != '\\') {
        ++j;
      }
      out->append(text.data() + i, j - i);
      i = j;
      continue;
    }
    if (c < 0x80) {
      switch (c) {
        case '"':
          out->append("\\\"");
          break;
        case '\\':
          out->append("\\\\");
          break;
        case '\n':
          out->append("\\n");
          break;
        case '\r':
          out->append("\\r");
          break;
        case '\t':
          out->append("\\t");
          break;
        case '\b':
          out->append("\\b");
          break;
        case '\f':
          out->append("\\f");
          break;
        default:
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
      }
      ++i;
      continue;
    }
    const size_t n = Utf8SequenceLength(s + i, text.size() - i);
    if (n == 0) {
      out->append("\xEF\xBF\xBD");  // U+FFFD
      ++i;
    } else {
      out->append(text.data() + i, n);
      i += n;
    }
  }
  out->push_back('"');
}

absl::Status AppendJson(absl::string_view bson, std::string* out,
                        const JsonOptions& options) {
  std::string why;
  bson_t doc;
  bson_iter_t it;
  if (!internal::ValidateDocument(bson, kMaxDepth, &why) ||
      !bson_init_static(&doc, reinterpret_cast<const uint8_t*>(bson.data()),
                        bson.size()) ||
      !bson_iter_init(&it, &doc)) {
    return absl::DataLossError(absl::StrCat("malformed BSON document: ", why));
  }
  JsonWriter(out, options).Document(&it, /*is_array=*/false, 0);
  return absl::OkStatus();
}

}  // namespace ziggy
