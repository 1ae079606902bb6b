// Where: a filter expression over events, evaluated on their BSON bytes
// (ziggyview --where; a Stats object or any reporting program can take one
// too). Example:
//
//   absl::StatusOr<Where> where =
//       Where::Parse("body.response.status >= 500 and host =~ \"^web\"");
//   if (!where.ok()) { ... where.status().message() ... }
//   if (where->Matches(bson)) { ... }
//
// Grammar (keywords lowercase; whitespace anywhere between tokens):
//   expr       := and ("or" and)*
//   and        := unary ("and" unary)*
//   unary      := "not" unary | "(" expr ")" | "exists" "(" path ")"
//               | path op value
//   op         := "==" | "!=" | "<" | "<=" | ">" | ">=" | "=~"
//   value      := number | string | "true" | "false" | "null"
// so "not" binds tighter than "and", and "and" tighter than "or".
//
// Paths name a field of the whole event by its keys joined with dots:
// "type", "end", "body.response.status"; an array's elements by index
// ("body.codes.0"). A key is letters, digits and "_ - $ @" or any byte of a
// UTF-8 sequence; the first key does not start with a digit or "-", and
// "and", "or", "not" cannot be the first key. The path is always on the
// left of the operator and a literal on its right.
//
// Literals: numbers as in JSON ("-12", "0.5", "1e3"; integers that fit in
// 64 bits stay integers); strings in double quotes, where \" \\ \n \t \r
// and \uXXXX are escapes and any other backslash is kept with the
// character after it, so that regular expressions read as usual ("\d+",
// "\.", "\b"); true, false, null.
//
// Semantics:
// - Numbers (BSON double, int32, int64) compare by value across types,
//   exactly (an int64 beyond 2^53 against a double is not rounded). A BSON
//   datetime compares as Unix seconds (its milliseconds / 1000), the unit
//   of the events' start and end, so "end >= 1700000000" works for either.
// - Strings compare bytewise (memcmp order), no collation.
// - true/false and null only with == and != (anything else is a parse
//   error); an event's bool equals true or false, its null equals null.
// - "!=" is exactly "not ==": true when the types differ and when the path
//   is missing. Every other comparison and "=~" is false when the path is
//   missing, when the types differ (a string is never equal to a number),
//   and for NaN. Use exists(path) to test presence; exists is true for any
//   value, null included. Documents and arrays equal nothing.
// - "=~" takes a string literal, an RE2 regular expression compiled once at
//   Parse, and is true when it matches anywhere in a string value
//   (RE2::PartialMatch; anchor with ^ and $); false on other types.
//
// Errors: Parse returns kInvalidArgument with a one-line message that
// starts with the 1-based byte column of the problem, e.g.
// "at 17: expected a value after '>='". Nesting deeper than kMaxNesting
// levels of parentheses and "not" is an error too, so that evaluation's
// recursion is bounded.
//
// Thread-safety: a Where is immutable after Parse; Matches may be called
// from many threads at once. Copies are cheap (they share the compiled
// regular expressions).

#ifndef ZIGGY_CLIENT_READER_WHERE_H_
#define ZIGGY_CLIENT_READER_WHERE_H_

#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ziggy {

class Where {
 public:
  static constexpr int kMaxNesting = 64;

  // Compiles `expr`; see the grammar above.
  static absl::StatusOr<Where> Parse(absl::string_view expr);

  // Whether the event document `bson` satisfies the expression. Reads the
  // bytes directly (no decoding) and never past `bson`: a malformed
  // document is not an error, its unreadable fields count as missing.
  bool Matches(absl::string_view bson) const;

  // The compiled expression (where.cc).
  struct Program;

 private:
  explicit Where(std::shared_ptr<const Program> program)
      : program_(std::move(program)) {}
  friend class WhereParser;

  std::shared_ptr<const Program> program_;  // never null
};

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_READER_WHERE_H_
