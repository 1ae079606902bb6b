#include "client/reader/json.h"

#include <bson/bson.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/base/internal/endian.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/format/bson_type.h"
#include "client/format/bson_validate.h"
#include "client/format/byte_buffer.h"
#include "client/format/event.h"
#include "client/format/swar.h"
#include "client/reader/double_text.h"

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

// Copies a block of text to `to` and returns how many of its bytes, from
// the first, go into a JSON string as they are (not below 0x20, '"', '\\'
// or from 0x80 on): kBlock when all do. Both may be read/written whole.
constexpr size_t kBlock = 8;
size_t CopyPlainBlock(const char* from, char* to) {
  uint64_t word;
  memcpy(&word, from, 8);
  memcpy(to, &word, 8);
  // Each test's lowest flag is exact (a borrow only flags bytes above a
  // true one), so their union's is too.
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  const uint64_t below_space = (word - kOnes * 0x20) & ~word;
  const uint64_t flags = (below_space | HasZeroByte(word ^ (kOnes * '"')) |
                          HasZeroByte(word ^ (kOnes * '\\')) | word) &
                         kHighBits;
  return flags == 0 ? kBlock : static_cast<size_t>(__builtin_ctzll(flags)) / 8;
}

// Writes the escape of ASCII byte `c` (not plain) at `o`; returns its end.
char* EscapeAscii(unsigned char c, char* o) {
  static constexpr char kHex[] = "0123456789abcdef";
  *o++ = '\\';
  switch (c) {
    case '"':
      *o++ = '"';
      break;
    case '\\':
      *o++ = '\\';
      break;
    case '\n':
      *o++ = 'n';
      break;
    case '\r':
      *o++ = 'r';
      break;
    case '\t':
      *o++ = 't';
      break;
    case '\b':
      *o++ = 'b';
      break;
    case '\f':
      *o++ = 'f';
      break;
    default:
      memcpy(o, "u00", 3);
      o[3] = kHex[c >> 4];
      o[4] = kHex[c & 0xF];
      o += 5;
  }
  return o;
}

// Escapes `text` into `out` as a JSON string literal. Bytes up to
// `readable` may be read (the rest of the document the text is in): the
// scan takes a block at a time even at the text's end, where an event's
// short keys and values are. Written through a pointer into room for the
// worst case (six bytes a byte, \u00XX) and the last block's spill.
void EscapeString(absl::string_view text, const char* readable,
                  ByteBuffer* out) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t size = text.size();
  char* o = out->Reserve(size * 6 + 2 + kBlock);
  *o++ = '"';
  size_t i = 0;
  while (i < size) {
    if (text.data() + i + kBlock <= readable) {
      // The room holds the block; only its plain bytes of the text count.
      const size_t plain =
          std::min(size - i, CopyPlainBlock(text.data() + i, o));
      o += plain;
      i += plain;
      if (i == size) break;
      if (plain == kBlock) continue;
    }
    const unsigned char c = s[i];
    if (kPlain.plain[c]) {
      *o++ = static_cast<char>(c);
      ++i;
    } else if (c < 0x80) {
      o = EscapeAscii(c, o);
      ++i;
    } else if (const size_t n = Utf8SequenceLength(s + i, size - i); n != 0) {
      memcpy(o, s + i, n);
      o += n;
      i += n;
    } else {
      memcpy(o, "\xEF\xBF\xBD", 3);  // U+FFFD
      o += 3;
      ++i;
    }
  }
  *o++ = '"';
  out->Commit(o);
}

// Renders a validated document straight from its bytes (no libbson
// iterator: this is the viewer's hot loop).
class JsonWriter {
 public:
  // `bson` is the whole document to be written: its bytes bound the
  // string scans' reads.
  JsonWriter(absl::string_view bson, ByteBuffer* out,
             const JsonOptions& options)
      : readable_(bson.data() + bson.size()),
        out_(out),
        pretty_(options.pretty) {}

  // The document whose bytes start at `doc` (length prefix included).
  void Document(const char* doc, bool is_array, int depth) {
    const uint32_t length = absl::little_endian::Load32(doc);
    const char* p = doc + 4;
    const char* end = doc + length - 1;  // the terminating NUL
    Char(is_array ? '[' : '{');
    bool first = true;
    while (p < end) {
      const auto type = static_cast<BsonType>(static_cast<uint8_t>(*p++));
      const size_t key_length = FindNul(p, 0, static_cast<size_t>(end - p));
      const absl::string_view key(p, key_length);
      p += key_length + 1;
      if (!first) Char(',');
      first = false;
      Newline(depth + 1);
      if (!is_array) {
        EscapeString(key, readable_, out_);
        Raw(pretty_ ? ": " : ":");
      }
      p = Element(type, p, depth + 1);
    }
    if (!first) Newline(depth);
    Char(is_array ? ']' : '}');
  }

 private:
  static uint32_t U32(const char* p) { return absl::little_endian::Load32(p); }
  static uint64_t U64(const char* p) { return absl::little_endian::Load64(p); }

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
    // FastIntToBuffer's room: 20 characters and a NUL.
    char* const at = out_->Reserve(32);
    out_->Commit(absl::numbers_internal::FastIntToBuffer(i, at));
  }
  void Double(double d) {
    if (std::isnan(d)) return Raw("\"NaN\"");
    if (std::isinf(d)) return Raw(d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    char* const at = out_->Reserve(kDoubleTextMax);
    out_->Commit(WriteShortestDouble(d, at));
  }
  // A BSON string at p (int32 length incl. NUL, bytes, NUL); returns its end.
  const char* String(const char* p) {
    const uint32_t length = U32(p);
    EscapeString(absl::string_view(p + 4, length - 1), readable_, out_);
    return p + 4 + length;
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
  void Oid(const char* p) {
    bson_oid_t oid;
    memcpy(oid.bytes, p, 12);
    char hex[25];
    bson_oid_to_string(&oid, hex);
    Raw("{\"$oid\":\"");
    Raw(absl::string_view(hex, 24));
    Raw("\"}");
  }

  // Writes the value of type `type` at p; returns where it ends.
  const char* Element(BsonType type, const char* p, int depth) {
    switch (type) {
      case BsonType::kDouble: {
        double d;
        const uint64_t bits = U64(p);
        memcpy(&d, &bits, 8);
        Double(d);
        return p + 8;
      }
      case BsonType::kString:
        return String(p);
      case BsonType::kDocument:
      case BsonType::kArray:
        Document(p, type == BsonType::kArray, depth);
        return p + U32(p);
      case BsonType::kBinary: {
        const uint32_t length = U32(p);
        const auto subtype = static_cast<uint8_t>(p[4]);
        Wrapped("$binary", [&] {
          Raw("{\"base64\":\"");
          Raw(absl::Base64Escape(absl::string_view(p + 5, length)));
          Raw("\",\"subType\":\"");
          Raw(absl::StrCat(absl::Hex(subtype, absl::kZeroPad2)));
          Raw("\"}");
        });
        return p + 5 + length;
      }
      case BsonType::kUndefined:
        Raw("{\"$undefined\":true}");
        return p;
      case BsonType::kObjectId:
        Oid(p);
        return p + 12;
      case BsonType::kBool:
        Raw(*p ? "true" : "false");
        return p + 1;
      case BsonType::kDateTime:
        Raw("{\"$date\":{\"$numberLong\":\"");
        Int(static_cast<int64_t>(U64(p)));
        Raw("\"}}");
        return p + 8;
      case BsonType::kNull:
        Raw("null");
        return p;
      case BsonType::kRegex: {  // pattern, options
        const char* options = p + strlen(p) + 1;
        const char* end = options + strlen(options) + 1;
        Wrapped("$regularExpression", [&] {
          Raw("{\"pattern\":");
          EscapeString(absl::string_view(p, options - p - 1), readable_, out_);
          Raw(",\"options\":");
          EscapeString(absl::string_view(options, end - options - 1), readable_,
                       out_);
          Char('}');
        });
        return end;
      }
      case BsonType::kDbPointer: {  // string, ObjectId
        const char* oid = p + 4 + U32(p);
        Wrapped("$dbPointer", [&] {
          Raw("{\"$ref\":");
          String(p);
          Raw(",\"$id\":");
          Oid(oid);
          Char('}');
        });
        return oid + 12;
      }
      case BsonType::kJavaScript: {
        const char* end = nullptr;
        Wrapped("$code", [&] { end = String(p); });
        return end;
      }
      case BsonType::kSymbol: {
        const char* end = nullptr;
        Wrapped("$symbol", [&] { end = String(p); });
        return end;
      }
      case BsonType::kCodeWithScope: {  // int32 total, string, document
        Raw("{\"$code\":");
        const char* scope = String(p + 4);
        Raw(",\"$scope\":");
        Document(scope, false, depth);
        Char('}');
        return p + U32(p);
      }
      case BsonType::kInt32:
        Int(static_cast<int32_t>(U32(p)));
        return p + 4;
      case BsonType::kTimestamp: {  // increment, then seconds
        const uint64_t v = U64(p);
        Raw(absl::StrCat("{\"$timestamp\":{\"t\":", v >> 32,
                         ",\"i\":", v & 0xFFFFFFFFu, "}}"));
        return p + 8;
      }
      case BsonType::kInt64:
        Int(static_cast<int64_t>(U64(p)));
        return p + 8;
      case BsonType::kDecimal128: {
        bson_decimal128_t dec;
        dec.low = U64(p);
        dec.high = U64(p + 8);
        char text[BSON_DECIMAL128_STRING];
        bson_decimal128_to_string(&dec, text);
        Raw(absl::StrCat("{\"$numberDecimal\":\"", text, "\"}"));
        return p + 16;
      }
      case BsonType::kMaxKey:
        Raw("{\"$maxKey\":1}");
        return p;
      case BsonType::kMinKey:
        Raw("{\"$minKey\":1}");
        return p;
      default:  // cannot occur in a validated document
        Raw("null");
        return p;
    }
  }

  const char* const readable_;
  ByteBuffer* const out_;
  const bool pretty_;
};

}  // namespace

void AppendJsonString(absl::string_view text, std::string* out) {
  ByteBuffer buffer;
  EscapeString(text, text.data() + text.size(), &buffer);
  out->append(buffer.data(), buffer.size());
}

absl::Status AppendJson(absl::string_view bson, std::string* out,
                        const JsonOptions& options) {
  std::string why;
  if (!ValidateDocument(bson, kMaxDepth, &why)) {
    return absl::DataLossError(absl::StrCat("malformed BSON document: ", why));
  }
  internal::AppendValidatedJson(bson, out, options);
  return absl::OkStatus();
}

namespace internal {

void AppendValidatedJson(absl::string_view bson, std::string* out,
                         const JsonOptions& options) {
  // Built in a thread-local buffer with inline appends, then copied once.
  thread_local ByteBuffer buffer;
  buffer.Clear();
  AppendValidatedJson(bson, &buffer, options);
  out->append(buffer.data(), buffer.size());
}

void AppendValidatedJson(absl::string_view bson, ByteBuffer* out,
                         const JsonOptions& options) {
  JsonWriter(bson, out, options).Document(bson.data(), /*is_array=*/false, 0);
}

void AppendJsonString(absl::string_view text, ByteBuffer* out) {
  EscapeString(text, text.data() + text.size(), out);
}

}  // namespace internal

}  // namespace ziggy
