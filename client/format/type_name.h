// File names for event types.
//
// A type is data from the network, so it must never pick a path outside the
// log directory or a name the filesystem rejects. TypeFileStem maps it to a
// safe stem, reversibly:
//   - bytes in [A-Za-z0-9_.-] are kept, except a leading '.', which would
//     make "." or ".." or a hidden file;
//   - every other byte (including '/', '%', NUL, spaces, non-ASCII, and that
//     leading '.') becomes %XX, two uppercase hex digits;
//   - a stem longer than kMaxStem bytes is cut (never inside a %XX) and ends
//     in "~" plus 16 hex digits of the type's FNV-1a hash. '~' never appears
//     otherwise, so such stems cannot collide with short ones; only these
//     cannot be reversed, and each event inside still carries its full type.
// So "request" -> "request", "../x" -> "%2E.%2Fx", "a b" -> "a%20b".

#ifndef ZIGGY_CLIENT_FORMAT_TYPE_NAME_H_
#define ZIGGY_CLIENT_FORMAT_TYPE_NAME_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ziggy {

inline constexpr size_t kMaxStem = 200;

// The stem of the collector's overflow files, which hold the events of types
// beyond its daily limit (collector/event_store.h), each with its own type.
// TypeFileStem never makes it: '~' only ever starts the 16 hex digits that
// end a cut stem at least kMaxStem - 19 bytes long. Like a hashed stem, it
// does not name one type (TypeFromFileStem: kUnimplemented).
inline constexpr absl::string_view kOverflowStem = "~overflow";

// REQUIRES: !type.empty() (an empty type is not a valid event).
std::string TypeFileStem(absl::string_view type);

// The reverse: the type a stem was made from. kInvalidArgument for a stem
// TypeFileStem cannot produce, kUnimplemented for a hashed (cut) stem.
absl::StatusOr<std::string> TypeFromFileStem(absl::string_view stem);

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_FORMAT_TYPE_NAME_H_
