#include "client/internal/body.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ziggy::internal {
namespace {

absl::Status ValidatePath(absl::string_view path) {
  if (path.empty()) return absl::InvalidArgumentError("empty field key");
  if (path.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError("field key contains a NUL byte");
  }
  if (path.front() == '.' || path.back() == '.' ||
      path.find("..") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("field key '", path, "' has an empty part"));
  }
  return absl::OkStatus();
}

}  // namespace

Body::Body() { Clear(); }

void Body::Clear() {
  nodes_.clear();
  bytes_.clear();
  Node root{};
  root.next = kNone;
  nodes_.push_back(root);
  MakeContainer(0, Kind::kMap);
}

void Body::MakeContainer(uint32_t node, Kind kind) {
  nodes_[node].kind = kind;
  nodes_[node].kids = Children{kNone, kNone, 0};
}

Body::Span Body::Store(absl::string_view bytes) {
  Span span{static_cast<uint32_t>(bytes_.size()),
            static_cast<uint32_t>(bytes.size())};
  bytes_.append(bytes.data(), bytes.size());
  return span;
}

uint32_t Body::FindChild(uint32_t parent, absl::string_view key) const {
  for (uint32_t c = nodes_[parent].kids.first; c != kNone; c = nodes_[c].next) {
    if (View(nodes_[c].key) == key) return c;
  }
  return kNone;
}

uint32_t Body::NthChild(uint32_t parent, uint32_t n) const {
  uint32_t c = nodes_[parent].kids.first;
  while (n-- > 0) c = nodes_[c].next;
  return c;
}

uint32_t Body::AddChild(uint32_t parent, absl::string_view key, Kind kind) {
  Node node{};
  node.key = Store(key);
  node.next = kNone;
  node.kind = kind;
  const auto index = static_cast<uint32_t>(nodes_.size());
  nodes_.push_back(node);
  Children& kids = nodes_[parent].kids;
  if (kids.last == kNone) {
    kids.first = index;
  } else {
    nodes_[kids.last].next = index;
  }
  kids.last = index;
  ++kids.count;
  if (kind == Kind::kMap || kind == Kind::kList) MakeContainer(index, kind);
  return index;
}

absl::StatusOr<uint32_t> Body::Resolve(absl::string_view path) {
  if (absl::Status s = ValidatePath(path); !s.ok()) return s;
  uint32_t node = 0;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const bool last = dot == absl::string_view::npos;
    const absl::string_view part =
        path.substr(start, last ? absl::string_view::npos : dot - start);
    const Kind missing_kind = last ? Kind::kNull : Kind::kMap;
    uint32_t child;
    switch (nodes_[node].kind) {
      case Kind::kMap:
        child = FindChild(node, part);
        if (child == kNone) child = AddChild(node, part, missing_kind);
        break;
      case Kind::kList: {
        uint32_t index;
        if (!absl::SimpleAtoi(part, &index)) {
          return absl::FailedPreconditionError(
              absl::StrCat("'", path.substr(0, start ? start - 1 : 0),
                           "' is a list; '", part, "' is not an index"));
        }
        const uint32_t size = nodes_[node].kids.count;
        if (index > size) {
          return absl::OutOfRangeError(
              absl::StrCat("index ", index, " in '", path,
                           "' is past the list's end (", size, ")"));
        }
        child = index < size ? NthChild(node, index)
                             : AddChild(node, "", missing_kind);
        break;
      }
      default:
        return absl::FailedPreconditionError(
            absl::StrCat("'", path.substr(0, start - 1), "' is a scalar, so '",
                         path, "' cannot be set"));
    }
    if (last) return child;
    node = child;
    start = dot + 1;
  }
}

void Body::Assign(uint32_t node, const FieldValue& value) {
  Node& n = nodes_[node];
  switch (value.kind()) {
    case FieldValue::Kind::kNull:
      n.kind = Kind::kNull;
      break;
    case FieldValue::Kind::kBool:
      n.kind = Kind::kBool;
      n.b = value.AsBool();
      break;
    case FieldValue::Kind::kInt:
      n.kind = Kind::kInt;
      n.i = value.AsInt();
      break;
    case FieldValue::Kind::kDouble:
      n.kind = Kind::kDouble;
      n.d = value.AsDouble();
      break;
    case FieldValue::Kind::kString: {
      const Span span = Store(value.AsString());
      nodes_[node].kind = Kind::kString;
      nodes_[node].str = span;
      break;
    }
    case FieldValue::Kind::kValue:
      AssignValue(node, value.AsValue());
      break;
  }
}

void Body::AssignValue(uint32_t node, const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kNull:
      return Assign(node, nullptr);
    case Value::Kind::kBool:
      return Assign(node, value.AsBool());
    case Value::Kind::kInt:
      return Assign(node, value.AsInt());
    case Value::Kind::kDouble:
      return Assign(node, value.AsDouble());
    case Value::Kind::kString:
      return Assign(node, value.AsString());
    case Value::Kind::kList:
      MakeContainer(node, Kind::kList);
      for (const Value& item : value.AsList()) {
        AssignValue(AddChild(node, "", Kind::kNull), item);
      }
      return;
    case Value::Kind::kMap:
      MakeContainer(node, Kind::kMap);
      for (const auto& [key, item] : value.AsMap()) {
        AssignValue(AddChild(node, key, Kind::kNull), item);
      }
      return;
  }
}

absl::Status Body::Set(absl::string_view path, const FieldValue& value) {
  absl::StatusOr<uint32_t> node = Resolve(path);
  if (!node.ok()) return node.status();
  Assign(*node, value);
  return absl::OkStatus();
}

absl::Status Body::Append(absl::string_view path, const FieldValue& value) {
  absl::StatusOr<uint32_t> node = Resolve(path);
  if (!node.ok()) return node.status();
  if (nodes_[*node].kind == Kind::kNull) MakeContainer(*node, Kind::kList);
  if (nodes_[*node].kind != Kind::kList) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", path, "' is not a list"));
  }
  Assign(AddChild(*node, "", Kind::kNull), value);
  return absl::OkStatus();
}

absl::Status Body::AddInt(absl::string_view path, int64_t n) {
  return AddNumber(path, true, n, static_cast<double>(n));
}

absl::Status Body::AddDouble(absl::string_view path, double n) {
  return AddNumber(path, false, 0, n);
}

absl::Status Body::AddNumber(absl::string_view path, bool is_int, int64_t i,
                             double d) {
  absl::StatusOr<uint32_t> index = Resolve(path);
  if (!index.ok()) return index.status();
  Node& node = nodes_[*index];
  int64_t sum;
  switch (node.kind) {
    case Kind::kNull:
      node.kind = is_int ? Kind::kInt : Kind::kDouble;
      if (is_int) {
        node.i = i;
      } else {
        node.d = d;
      }
      return absl::OkStatus();
    case Kind::kInt:
      if (is_int && !__builtin_add_overflow(node.i, i, &sum)) {
        node.i = sum;
      } else {
        node.kind = Kind::kDouble;
        node.d = static_cast<double>(node.i) + d;
      }
      return absl::OkStatus();
    case Kind::kDouble:
      node.d += d;
      return absl::OkStatus();
    default:
      return absl::FailedPreconditionError(
          absl::StrCat("'", path, "' is not a number"));
  }
}

void Body::AppendTo(bson_t* doc) const {
  for (uint32_t c = nodes_[0].kids.first; c != kNone; c = nodes_[c].next) {
    AppendNode(doc, View(nodes_[c].key), c);
  }
}

void Body::AppendNode(bson_t* doc, absl::string_view key,
                      uint32_t index) const {
  const Node& node = nodes_[index];
  const int key_size = static_cast<int>(key.size());
  switch (node.kind) {
    case Kind::kNull:
      bson_append_null(doc, key.data(), key_size);
      return;
    case Kind::kBool:
      bson_append_bool(doc, key.data(), key_size, node.b);
      return;
    case Kind::kInt:
      // Like the seed's encoder: int32 when it fits, else int64.
      if (node.i >= INT32_MIN && node.i <= INT32_MAX) {
        bson_append_int32(doc, key.data(), key_size,
                          static_cast<int32_t>(node.i));
      } else {
        bson_append_int64(doc, key.data(), key_size, node.i);
      }
      return;
    case Kind::kDouble:
      bson_append_double(doc, key.data(), key_size, node.d);
      return;
    case Kind::kString: {
      const absl::string_view s = View(node.str);
      bson_append_utf8(doc, key.data(), key_size, s.data(),
                       static_cast<int>(s.size()));
      return;
    }
    case Kind::kMap: {
      bson_t child;
      bson_append_document_begin(doc, key.data(), key_size, &child);
      for (uint32_t c = node.kids.first; c != kNone; c = nodes_[c].next) {
        AppendNode(&child, View(nodes_[c].key), c);
      }
      bson_append_document_end(doc, &child);
      return;
    }
    case Kind::kList: {
      bson_t child;
      bson_append_array_begin(doc, key.data(), key_size, &child);
      uint32_t i = 0;
      for (uint32_t c = node.kids.first; c != kNone; c = nodes_[c].next) {
        char buf[16];
        const char* item_key;
        const size_t len =
            bson_uint32_to_string(i++, &item_key, buf, sizeof buf);
        AppendNode(&child, absl::string_view(item_key, len), c);
      }
      bson_append_array_end(doc, &child);
      return;
    }
  }
}

}  // namespace ziggy::internal
