#include "client/format/value.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace ziggy {

double Value::AsDouble() const {
  if (kind() == Kind::kInt) return static_cast<double>(AsInt());
  return absl::get<double>(rep_);
}

const Value* Value::Get(absl::string_view key) const {
  if (kind() != Kind::kMap) return nullptr;
  for (const auto& [k, v] : AsMap()) {
    if (k == key) return &v;
  }
  return nullptr;
}

const Value* Value::Find(absl::string_view dotted_path) const {
  const Value* node = this;
  for (absl::string_view part : absl::StrSplit(dotted_path, '.')) {
    if (node->kind() == Kind::kList) {
      size_t index;
      if (!absl::SimpleAtoi(part, &index) || index >= node->AsList().size()) {
        return nullptr;
      }
      node = &node->AsList()[index];
    } else {
      node = node->Get(part);
      if (node == nullptr) return nullptr;
    }
  }
  return node;
}

std::string Value::DebugString() const {
  switch (kind()) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return AsBool() ? "true" : "false";
    case Kind::kInt:
      return absl::StrCat(AsInt());
    case Kind::kDouble:
      return absl::StrCat(AsDouble());
    case Kind::kString:
      return absl::StrCat("\"", AsString(), "\"");
    case Kind::kList:
      return absl::StrCat("[",
                          absl::StrJoin(AsList(), ", ",
                                        [](std::string* out, const Value& v) {
                                          out->append(v.DebugString());
                                        }),
                          "]");
    case Kind::kMap:
      return absl::StrCat("{",
                          absl::StrJoin(AsMap(), ", ",
                                        [](std::string* out, const auto& kv) {
                                          absl::StrAppend(
                                              out, kv.first, ": ",
                                              kv.second.DebugString());
                                        }),
                          "}");
  }
  return "";
}

}  // namespace ziggy
