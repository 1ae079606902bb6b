// ValidateDocument: checks that bytes are exactly one well-formed BSON
// document, without recursion and without reading past the data.
//
// libbson's bson_validate() recurses once per nesting level, so a hostile
// document of a few hundred kilobytes nested 100,000 deep overflows the
// stack. Everything that takes BSON from outside (the wire, files) checks it
// here first; only then may libbson's iterators walk it.

#ifndef ZIGGY_CLIENT_INTERNAL_BSON_VALIDATE_H_
#define ZIGGY_CLIENT_INTERNAL_BSON_VALIDATE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace ziggy::internal {

// Returns true when `data` is one document whose lengths, element types,
// strings and nesting (at most `max_depth` levels below the top) are sound.
// Otherwise false, with the reason and offset in *why. String contents are
// not checked for UTF-8: bytes are data and are kept as they came.
bool ValidateDocument(absl::string_view data, int max_depth, std::string* why);

}  // namespace ziggy::internal

#endif  // ZIGGY_CLIENT_INTERNAL_BSON_VALIDATE_H_
