#include "client/format/event.h"

#include <bson/bson.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client/format/bson_type.h"
#include "client/format/bson_validate.h"
#include "client/format/bson_writer.h"

namespace ziggy {
namespace {

void AppendValue(BsonWriter* out, absl::string_view key, const Value& value);

void AppendMapFields(BsonWriter* out, const Value::Map& map) {
  for (const auto& [key, item] : map) AppendValue(out, key, item);
}

void AppendValue(BsonWriter* out, absl::string_view key, const Value& value) {
  key = key.substr(0, key.find('\0'));  // a BSON key is a C string
  switch (value.kind()) {
    case Value::Kind::kNull:
      return out->Null(key);
    case Value::Kind::kBool:
      return out->Bool(key, value.AsBool());
    case Value::Kind::kInt:
      return out->Integer(key, value.AsInt());
    case Value::Kind::kDouble:
      return out->Double(key, value.AsDouble());
    case Value::Kind::kString:
      return out->Utf8(key, value.AsString());
    case Value::Kind::kList: {
      const size_t start = out->BeginArray(key);
      uint32_t i = 0;
      char buf[16];
      for (const Value& item : value.AsList()) {
        AppendValue(out, BsonWriter::IndexKey(i++, buf), item);
      }
      return out->EndDocument(start);
    }
    case Value::Kind::kMap: {
      const size_t start = out->BeginSubdocument(key);
      AppendMapFields(out, value.AsMap());
      return out->EndDocument(start);
    }
  }
}

absl::StatusOr<Value> DecodeElement(const bson_iter_t* it, int depth);

// Decodes the elements under `it` (a document or an array) into a Value.
absl::StatusOr<Value> DecodeContainer(bson_iter_t* it, bool is_array,
                                      int depth) {
  if (depth > kMaxDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("document nested deeper than ", kMaxDepth, " levels"));
  }
  Value::List list;
  Value::Map map;
  while (bson_iter_next(it)) {
    absl::StatusOr<Value> item = DecodeElement(it, depth);
    if (!item.ok()) return item.status();
    if (is_array) {
      list.push_back(*std::move(item));
    } else {
      map.emplace_back(std::string(bson_iter_key(it), bson_iter_key_len(it)),
                       *std::move(item));
    }
  }
  return is_array ? Value(std::move(list)) : Value(std::move(map));
}

absl::StatusOr<Value> DecodeElement(const bson_iter_t* it, int depth) {
  uint32_t len = 0;
  const auto type = static_cast<BsonType>(bson_iter_type(it));
  switch (type) {
    case BsonType::kDouble:
      return Value(bson_iter_double(it));
    case BsonType::kString: {
      const char* s = bson_iter_utf8(it, &len);
      return Value(std::string(s, len));
    }
    case BsonType::kDocument:
    case BsonType::kArray: {
      bson_iter_t child;
      if (!bson_iter_recurse(it, &child)) {
        return absl::DataLossError("corrupt nested document");
      }
      return DecodeContainer(&child, type == BsonType::kArray, depth + 1);
    }
    case BsonType::kBinary: {
      bson_subtype_t subtype;
      const uint8_t* data;
      bson_iter_binary(it, &subtype, &len, &data);
      return Value(std::string(reinterpret_cast<const char*>(data), len));
    }
    case BsonType::kObjectId: {
      char hex[25];
      bson_oid_to_string(bson_iter_oid(it), hex);
      return Value(std::string(hex, 24));
    }
    case BsonType::kBool:
      return Value(bson_iter_bool(it));
    case BsonType::kDateTime:
      return Value(bson_iter_date_time(it));
    case BsonType::kRegex: {
      const char* options;
      const char* regex = bson_iter_regex(it, &options);
      return Value(absl::StrCat("/", regex, "/", options));
    }
    case BsonType::kJavaScript: {
      const char* code = bson_iter_code(it, &len);
      return Value(std::string(code, len));
    }
    case BsonType::kSymbol: {
      const char* symbol = bson_iter_symbol(it, &len);
      return Value(std::string(symbol, len));
    }
    case BsonType::kCodeWithScope: {
      const uint8_t* scope;
      uint32_t scope_len;
      const char* code = bson_iter_codewscope(it, &len, &scope_len, &scope);
      return Value(std::string(code, len));
    }
    case BsonType::kInt32:
      return Value(bson_iter_int32(it));
    case BsonType::kTimestamp: {
      uint32_t timestamp, increment;
      bson_iter_timestamp(it, &timestamp, &increment);
      return Value((static_cast<int64_t>(timestamp) << 32) | increment);
    }
    case BsonType::kInt64:
      return Value(bson_iter_int64(it));
    case BsonType::kDecimal128: {
      bson_decimal128_t dec;
      char text[BSON_DECIMAL128_STRING];
      bson_iter_decimal128(it, &dec);
      bson_decimal128_to_string(&dec, text);
      return Value(text);
    }
    default:  // EOD, undefined, null, DBPointer, min/max key
      return Value();
  }
}

absl::Status InitIter(absl::string_view bson, bson_t* doc, bson_iter_t* it) {
  std::string why;
  if (!ValidateDocument(bson, kMaxDepth, &why)) {
    return absl::DataLossError(absl::StrCat("malformed BSON document (",
                                            bson.size(), " bytes): ", why));
  }
  if (!bson_init_static(doc, reinterpret_cast<const uint8_t*>(bson.data()),
                        bson.size()) ||
      !bson_iter_init(it, doc)) {
    return absl::DataLossError("malformed BSON document");
  }
  return absl::OkStatus();
}

absl::Status ReadString(const bson_iter_t* it, std::string* out) {
  if (!BSON_ITER_HOLDS_UTF8(it)) {
    return absl::InvalidArgumentError(
        absl::StrCat("event field '", bson_iter_key(it), "' is not a string"));
  }
  uint32_t len;
  const char* s = bson_iter_utf8(it, &len);
  out->assign(s, len);
  return absl::OkStatus();
}

absl::Status ReadNumber(const bson_iter_t* it, double* out) {
  if (!BSON_ITER_HOLDS_NUMBER(it)) {
    return absl::InvalidArgumentError(
        absl::StrCat("event field '", bson_iter_key(it), "' is not a number"));
  }
  *out = bson_iter_as_double(it);
  return absl::OkStatus();
}

}  // namespace

std::string EncodeEvent(const Event& event) {
  BsonWriter out;
  EncodeEventTo(
      &out,
      {event.id, event.type, event.host, event.pid, event.start, event.end},
      [&](BsonWriter* body) {
        if (event.body.kind() == Value::Kind::kMap) {
          AppendMapFields(body, event.body.AsMap());
        }
      });
  return std::string(out.bytes());
}

std::string EncodeDocument(const Value& map) {
  BsonWriter out;
  const size_t doc = out.BeginDocument();
  if (map.kind() == Value::Kind::kMap) AppendMapFields(&out, map.AsMap());
  out.EndDocument(doc);
  return std::string(out.bytes());
}

absl::StatusOr<Value> DecodeDocument(absl::string_view bson) {
  bson_t doc;
  bson_iter_t it;
  if (absl::Status s = InitIter(bson, &doc, &it); !s.ok()) return s;
  return DecodeContainer(&it, /*is_array=*/false, 0);
}

absl::StatusOr<Event> DecodeEvent(absl::string_view bson) {
  bson_t doc;
  bson_iter_t it;
  if (absl::Status s = InitIter(bson, &doc, &it); !s.ok()) return s;
  Event event;
  bool has_type = false;
  while (bson_iter_next(&it)) {
    const absl::string_view key(bson_iter_key(&it), bson_iter_key_len(&it));
    absl::Status s;
    if (key == "id") {
      s = ReadString(&it, &event.id);
    } else if (key == "type") {
      s = ReadString(&it, &event.type);
      has_type = true;
    } else if (key == "host") {
      s = ReadString(&it, &event.host);
    } else if (key == "pid") {
      if (!BSON_ITER_HOLDS_INT(&it)) {
        s = absl::InvalidArgumentError("event field 'pid' is not an integer");
      } else {
        event.pid = static_cast<int32_t>(bson_iter_as_int64(&it));
      }
    } else if (key == "start") {
      s = ReadNumber(&it, &event.start);
    } else if (key == "end") {
      s = ReadNumber(&it, &event.end);
    } else if (key == "body") {
      if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
        s = absl::InvalidArgumentError("event field 'body' is not a document");
      } else {
        absl::StatusOr<Value> body = DecodeElement(&it, 0);
        if (body.ok()) {
          event.body = *std::move(body);
        } else {
          s = body.status();
        }
      }
    }
    if (!s.ok()) return s;
  }
  if (!has_type) return absl::InvalidArgumentError("event has no 'type'");
  return event;
}

}  // namespace ziggy
