// ValidateDocument: checks that bytes are exactly one well-formed BSON
// document, without recursion and without reading past the data.
//
// libbson's bson_validate() recurses once per nesting level, so a hostile
// document of a few hundred kilobytes nested 100,000 deep overflows the
// stack. Everything that takes BSON from outside (the wire, files) checks it
// here first; only then may libbson's iterators walk it.

#ifndef ZIGGY_CLIENT_FORMAT_BSON_VALIDATE_H_
#define ZIGGY_CLIENT_FORMAT_BSON_VALIDATE_H_

#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "client/format/bson_type.h"

namespace ziggy {

// Returns true when `data` is one document whose lengths, element types,
// strings and nesting (at most `max_depth` levels below the top) are sound.
// Otherwise false, with the reason and offset in *why. String contents are
// not checked for UTF-8 here: a reader keeps bytes as they came.
bool ValidateDocument(absl::string_view data, int max_depth, std::string* why);

// The same, also calling `visit(key, type, value)` for each top-level element
// as it is found valid: `type` is the element's BSON type and `value` the
// element's value bytes (for strings, the text without length or NUL). Lets
// the collector validate an event and read its fields in one pass.
//
// With `utf8` non-null, also sets *utf8 to whether every key and every text
// value is valid UTF-8 (utf8.h): strings, JavaScript code, symbols, regex
// pattern and options, DBPointer's collection, code-with-scope's code, at
// every depth (the scope document included). Invalid text does not make
// the document malformed; RepairUtf8 (bson_repair.h) can fix it. All-ASCII
// text costs a few word operations.
using TopLevelVisitor = absl::FunctionRef<void(
    absl::string_view key, BsonType type, absl::string_view value)>;
bool ValidateDocument(absl::string_view data, int max_depth, std::string* why,
                      TopLevelVisitor visit, bool* utf8 = nullptr);

// What an event's routing needs from its top level (views into the
// document): the last element keyed "type" (any type), the last string
// "host" and the last double "end", as a visitor that compares keys would
// find them.
struct RoutingFields {
  bool has_type = false;
  bool type_is_string = false;
  absl::string_view type;  // the text of a string, else the value's bytes
  absl::string_view host;
  double end = 0;
};

// ValidateDocument with `visit` reading *fields (reset first), in fewer
// instructions: what the daemons run on every event they take in.
bool ValidateEvent(absl::string_view data, int max_depth, std::string* why,
                   RoutingFields* fields, bool* utf8);

namespace internal {

// The element-by-element validator that ValidateDocument asks why when it
// refuses a document, and the reference it is tested against (the same
// verdicts, UTF-8 flags and visits): the same contract, in more
// instructions per element.
bool ValidateDocumentByReference(absl::string_view data, int max_depth,
                                 std::string* why, TopLevelVisitor visit,
                                 bool* utf8 = nullptr);

}  // namespace internal

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_FORMAT_BSON_VALIDATE_H_
