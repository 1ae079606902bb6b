#include "client/internal/body.h"

#include <cstring>

#include "absl/base/optimization.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/format/swar.h"

namespace ziggy::internal {
namespace {

// Splits a dotted path into at most kMaxParts parts, in one pass and before
// anything is created, so that a bad key changes nothing.
// A part of a path: a plain struct, so the array of them is not zeroed on
// every call (an array of string_view is, and showed in profiles).
struct PathPart {
  uint32_t offset;
  uint32_t size;
};

// Nonzero when `word` holds a '.' or a NUL byte.
uint64_t HasSeparator(uint64_t word) {
  return HasZeroByte(word) | HasZeroByte(word ^ 0x2E2E2E2E2E2E2E2Eull);
}

// True for a one-part key: not empty, no '.' and no NUL. Overlapping word
// loads, with no byte loop for keys of four bytes or more.
bool IsPlainKey(absl::string_view path) {
  const char* p = path.data();
  const size_t n = path.size();
  uint64_t word;
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8) {
      memcpy(&word, p + i, 8);
      if (HasSeparator(word)) return false;
    }
    memcpy(&word, p + n - 8, 8);
    return HasSeparator(word) == 0;
  }
  if (n >= 4) {
    uint32_t head, tail;
    memcpy(&head, p, 4);
    memcpy(&tail, p + n - 4, 4);
    word = (uint64_t{head} << 32) | tail;
    return HasSeparator(word) == 0;
  }
  if (n == 0) return false;
  for (size_t i = 0; i < n; ++i) {
    if (p[i] == '.' || p[i] == '\0') return false;
  }
  return true;
}

absl::Status SplitPath(absl::string_view path, PathPart* parts, size_t* count) {
  if (path.empty()) return absl::InvalidArgumentError("empty field key");
  size_t n = 0;
  size_t start = 0;
  while (true) {
    const size_t i = NextSeparator(path, start);
    if (i < path.size() && path[i] == '\0') {
      return absl::InvalidArgumentError("field key contains a NUL byte");
    }
    if (i == start) {
      return absl::InvalidArgumentError(
          absl::StrCat("field key '", path, "' has an empty part"));
    }
    if (n == Body::kMaxParts) {
      return absl::InvalidArgumentError(absl::StrCat(
          "field key '", path, "' has more than ", Body::kMaxParts, " parts"));
    }
    parts[n++] = {static_cast<uint32_t>(start),
                  static_cast<uint32_t>(i - start)};
    if (i == path.size()) break;
    start = i + 1;
  }
  *count = n;
  return absl::OkStatus();
}

// A BSON key is a C string: map keys inside a composite Value must not hold
// a NUL byte either.
bool HasNulKey(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kList:
      for (const Value& item : value.AsList()) {
        if (HasNulKey(item)) return true;
      }
      return false;
    case Value::Kind::kMap:
      for (const auto& [key, item] : value.AsMap()) {
        if (key.find('\0') != std::string::npos || HasNulKey(item)) {
          return true;
        }
      }
      return false;
    default:
      return false;
  }
}

absl::Status ValidateValue(const FieldValue& value) {
  if (value.kind() == FieldValue::Kind::kValue && HasNulKey(value.AsValue())) {
    return absl::InvalidArgumentError("a map key in the value has a NUL byte");
  }
  return absl::OkStatus();
}

}  // namespace

Body::Body() { ClearTree(); }

void Body::ClearTree() {
  nodes_.clear();
  bytes_.Clear();
  nodes_.emplace_back().next = kNone;
  MakeContainer(0, Kind::kMap);
}

void Body::MoveToTree() {
  if (!flat_) return;
  flat_ = false;
  uint32_t node_of[FlatFields::kMaxEntries];
  flat_fields_.Visit([&](uint32_t i, const FlatFields::Field& field) {
    const uint32_t parent =
        field.parent == FlatFields::kRoot ? 0 : node_of[field.parent];
    node_of[i] =
        AddChild(parent, field.key, field.is_map ? Kind::kMap : Kind::kNull);
    if (!field.is_map) Assign(node_of[i], field.value);
  });
  flat_fields_.Clear();
}

void Body::MakeContainer(uint32_t node, Kind kind) {
  nodes_[node].kind = kind;
  nodes_[node].kids = Children{kNone, kNone, 0};
}

Body::Span Body::Store(absl::string_view bytes) {
  Span span{static_cast<uint32_t>(bytes_.size()),
            static_cast<uint32_t>(bytes.size())};
  bytes_.Append(bytes);
  return span;
}

uint32_t Body::FindChild(uint32_t parent, absl::string_view key) const {
  for (uint32_t c = nodes_[parent].kids.first; c != kNone; c = nodes_[c].next) {
    const Span k = nodes_[c].key;
    if (k.size == key.size() && bytes_.data()[k.offset] == key[0] &&
        SameBytes(bytes_.data() + k.offset, key.data(), key.size())) {
      return c;
    }
  }
  return kNone;
}

uint32_t Body::NthChild(uint32_t parent, uint32_t n) const {
  uint32_t c = nodes_[parent].kids.first;
  while (n-- > 0) c = nodes_[c].next;
  return c;
}

uint32_t Body::AddChild(uint32_t parent, absl::string_view key, Kind kind) {
  const auto index = static_cast<uint32_t>(nodes_.size());
  // Filled in place: building a Node on the stack and copying it in stalls
  // on store forwarding.
  Node& node = nodes_.emplace_back();
  node.key = Store(key);
  node.next = kNone;
  node.kind = kind;
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

absl::Status Body::Resolve(absl::string_view path, uint32_t* leaf) {
  // Most keys are one plain part: a field of the root map.
  if (IsPlainKey(path)) {
    const uint32_t child = FindChild(0, path);
    *leaf = child != kNone ? child : AddChild(0, path, Kind::kNull);
    return absl::OkStatus();
  }
  return ResolveDotted(path, leaf);
}

absl::Status Body::ResolveDotted(absl::string_view path, uint32_t* leaf) {
  PathPart parts[kMaxParts];
  size_t count = 0;
  if (absl::Status s = SplitPath(path, parts, &count); !s.ok()) return s;
  uint32_t node = 0;
  for (size_t i = 0; i < count; ++i) {
    const absl::string_view part = path.substr(parts[i].offset, parts[i].size);
    const Kind missing_kind = i + 1 == count ? Kind::kNull : Kind::kMap;
    if (ABSL_PREDICT_TRUE(nodes_[node].kind == Kind::kMap)) {
      const uint32_t child = FindChild(node, part);
      node = child != kNone ? child : AddChild(node, part, missing_kind);
    } else if (absl::Status s = StepIntoList(path, part, missing_kind, &node);
               !s.ok()) {
      return s;
    }
  }
  *leaf = node;
  return absl::OkStatus();
}

absl::Status Body::StepIntoList(absl::string_view path, absl::string_view part,
                                Kind missing_kind, uint32_t* node) {
  // The path up to (not including) this part, for messages.
  const absl::string_view walked =
      path.substr(0, static_cast<size_t>(part.data() - path.data()) - 1);
  if (nodes_[*node].kind != Kind::kList) {
    return absl::FailedPreconditionError(absl::StrCat(
        "'", walked, "' is a scalar, so '", path, "' cannot be set"));
  }
  uint32_t index;
  if (!absl::SimpleAtoi(part, &index)) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", walked, "' is a list; '", part, "' is not an index"));
  }
  const uint32_t size = nodes_[*node].kids.count;
  if (index > size) {
    return absl::OutOfRangeError(absl::StrCat("index ", index, " in '", path,
                                              "' is past the list's end (",
                                              size, ")"));
  }
  *node =
      index < size ? NthChild(*node, index) : AddChild(*node, "", missing_kind);
  return absl::OkStatus();
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
  if (flat_) {
    if (ABSL_PREDICT_TRUE(flat_fields_.Set(path, value))) {
      return absl::OkStatus();
    }
    MoveToTree();
  }
  if (value.kind() == FieldValue::Kind::kValue) {
    if (absl::Status s = ValidateValue(value); !s.ok()) return s;
  }
  uint32_t node;
  if (absl::Status s = Resolve(path, &node); !s.ok()) return s;
  Assign(node, value);
  return absl::OkStatus();
}

absl::Status Body::Append(absl::string_view path, const FieldValue& value) {
  MoveToTree();
  if (absl::Status s = ValidateValue(value); !s.ok()) return s;
  uint32_t node;
  if (absl::Status s = Resolve(path, &node); !s.ok()) return s;
  if (nodes_[node].kind == Kind::kNull) MakeContainer(node, Kind::kList);
  if (nodes_[node].kind != Kind::kList) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", path, "' is not a list"));
  }
  Assign(AddChild(node, "", Kind::kNull), value);
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
  if (flat_) {
    if (ABSL_PREDICT_TRUE(flat_fields_.Add(path, is_int, i, d))) {
      return absl::OkStatus();
    }
    MoveToTree();
  }
  uint32_t index;
  if (absl::Status s = Resolve(path, &index); !s.ok()) return s;
  Node& node = nodes_[index];
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

void Body::AppendTo(BsonWriter* out) const {
  if (flat_) return out->Raw(flat_fields_.elements());
  for (uint32_t c = nodes_[0].kids.first; c != kNone; c = nodes_[c].next) {
    AppendNode(out, View(nodes_[c].key), c);
  }
}

void Body::AppendNode(BsonWriter* out, absl::string_view key,
                      uint32_t index) const {
  const Node& node = nodes_[index];
  switch (node.kind) {
    case Kind::kNull:
      return out->Null(key);
    case Kind::kBool:
      return out->Bool(key, node.b);
    case Kind::kInt:
      return out->Integer(key, node.i);
    case Kind::kDouble:
      return out->Double(key, node.d);
    case Kind::kString:
      return out->Utf8(key, View(node.str));
    case Kind::kMap: {
      const size_t start = out->BeginSubdocument(key);
      for (uint32_t c = node.kids.first; c != kNone; c = nodes_[c].next) {
        AppendNode(out, View(nodes_[c].key), c);
      }
      return out->EndDocument(start);
    }
    case Kind::kList: {
      const size_t start = out->BeginArray(key);
      uint32_t i = 0;
      char buf[16];
      for (uint32_t c = node.kids.first; c != kNone; c = nodes_[c].next) {
        AppendNode(out, BsonWriter::IndexKey(i++, buf), c);
      }
      return out->EndDocument(start);
    }
  }
}

}  // namespace ziggy::internal
