#include "client/reader/fields.h"

#include <algorithm>

#include "absl/base/internal/endian.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/format/bson_type.h"
#include "client/reader/bson_elements.h"

namespace ziggy {

absl::StatusOr<FieldSelection> FieldSelection::Parse(absl::string_view list) {
  FieldSelection selection;
  for (absl::string_view path : absl::StrSplit(list, ',')) {
    path = absl::StripAsciiWhitespace(path);
    if (path.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("empty field name in '", list, "'"));
    }
    const std::vector<absl::string_view> keys = absl::StrSplit(path, '.');
    if (std::any_of(keys.begin(), keys.end(),
                    [](absl::string_view key) { return key.empty(); })) {
      return absl::InvalidArgumentError(
          absl::StrCat("empty key in '", path, "'"));
    }
    Add(keys, &selection.top_);
  }
  return selection;
}

void FieldSelection::Add(const std::vector<absl::string_view>& keys,
                         std::vector<Node>* level) {
  for (size_t i = 0; i < keys.size(); ++i) {
    auto it = std::find_if(level->begin(), level->end(),
                           [&](const Node& n) { return n.key == keys[i]; });
    if (it == level->end()) {
      level->push_back(Node{std::string(keys[i]), false, {}});
      it = level->end() - 1;
    }
    if (it->whole) return;  // an enclosing path keeps it all already
    if (i + 1 == keys.size()) {
      it->whole = true;
      it->below.clear();
      return;
    }
    level = &it->below;
  }
}

void FieldSelection::Project(absl::string_view bson, std::string* out) const {
  ProjectDocument(bson, top_, out);
}

void FieldSelection::ProjectDocument(absl::string_view doc,
                                     const std::vector<Node>& level,
                                     std::string* out) {
  const size_t start = out->size();
  out->append(4, '\0');  // the length, set at the end
  BsonElements elements(doc);
  BsonElement element;
  while (elements.Next(&element)) {
    const auto node =
        std::find_if(level.begin(), level.end(),
                     [&](const Node& n) { return n.key == element.key; });
    if (node == level.end()) continue;
    if (node->whole) {
      out->append(element.bytes.data(), element.bytes.size());
      continue;
    }
    if (element.type != BsonType::kDocument &&
        element.type != BsonType::kArray) {
      continue;
    }
    const size_t header = out->size();
    out->append(element.bytes.data(), element.key.size() + 2);  // type, key
    ProjectDocument(element.value, node->below, out);
    if (out->size() - header == element.key.size() + 2 + 5) {
      out->resize(header);  // nothing kept inside: left out
    }
  }
  out->push_back('\0');
  absl::little_endian::Store32(&(*out)[start],
                               static_cast<uint32_t>(out->size() - start));
}

}  // namespace ziggy
