// FieldSelection: keeps only some fields of an event (ziggyview --fields),
// as a smaller BSON document that any renderer prints with the event's
// structure. Example:
//
//   absl::StatusOr<FieldSelection> fields =
//       FieldSelection::Parse("type,body.response.status");
//   std::string out;
//   fields->Project(bson, &out);  // {type: "request",
//                                 //  body: {response: {status: 200}}}
//
// Paths are dotted as in where.h ("body.codes.0" is an array's first
// element, kept as a one-element array). The kept fields stay in the
// event's order, whatever the order of the list; a path that names a
// document keeps all of it; a missing path is left out, so an event with
// none of them becomes {}.
//
// Thread-safety: immutable after Parse; Project may run on many threads.

#ifndef ZIGGY_CLIENT_READER_FIELDS_H_
#define ZIGGY_CLIENT_READER_FIELDS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ziggy {

class FieldSelection {
 public:
  // Parses a comma-separated list of dotted paths; spaces around the paths
  // are ignored. kInvalidArgument for an empty list, path or key, naming
  // it ("empty key in 'body..x'").
  static absl::StatusOr<FieldSelection> Parse(absl::string_view list);

  // Appends to *out the document `bson` holds with only the selected
  // fields. For a document ValidateDocument accepts, the result is one too.
  // Other bytes are never read past; what follows a malformed element is
  // left out.
  void Project(absl::string_view bson, std::string* out) const;

 private:
  // One level of the selected paths: a key kept whole, or the keys kept
  // below it.
  struct Node {
    std::string key;
    bool whole = false;
    std::vector<Node> below;
  };

  FieldSelection() = default;
  static void Add(const std::vector<absl::string_view>& keys,
                  std::vector<Node>* level);
  static void ProjectDocument(absl::string_view doc,
                              const std::vector<Node>& level, std::string* out);

  std::vector<Node> top_;
};

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_READER_FIELDS_H_
