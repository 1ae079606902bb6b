// Fuzzes --where and --fields. The input is an expression, a NUL, then
// document bytes (any: Matches and Project must not read past them).
// Invariants: Parse either succeeds or says "at N: ..." with N within the
// expression (1-based, the end included); a parsed expression and its
// "not (...)" disagree on every document; the expression read as a
// --fields list projects a valid document into a valid document.

#include <cstdint>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "client/format/bson_validate.h"
#include "client/format/event.h"
#include "client/reader/fields.h"
#include "client/reader/where.h"
#include "tools/fuzz_check.h"

namespace {

void CheckWhere(absl::string_view expr, absl::string_view bson) {
  const absl::StatusOr<ziggy::Where> where = ziggy::Where::Parse(expr);
  if (!where.ok()) {
    absl::string_view message = where.status().message();
    FUZZ_CHECK(message.substr(0, 3) == "at ");
    message.remove_prefix(3);
    const size_t colon = message.find(':');
    FUZZ_CHECK(colon != absl::string_view::npos);
    size_t column = 0;
    FUZZ_CHECK(absl::SimpleAtoi(message.substr(0, colon), &column));
    FUZZ_CHECK(column >= 1 && column <= expr.size() + 1);
    return;
  }
  const bool matches = where->Matches(bson);
  const absl::StatusOr<ziggy::Where> negated =
      ziggy::Where::Parse(absl::StrCat("not (", expr, ")"));
  if (negated.ok()) FUZZ_CHECK(negated->Matches(bson) == !matches);
}

void CheckFields(absl::string_view list, absl::string_view bson) {
  const absl::StatusOr<ziggy::FieldSelection> fields =
      ziggy::FieldSelection::Parse(list);
  if (!fields.ok()) return;
  std::string out;
  fields->Project(bson, &out);
  std::string why;
  if (ziggy::ValidateDocument(bson, ziggy::kMaxDepth, &why)) {
    FUZZ_CHECK(ziggy::ValidateDocument(out, ziggy::kMaxDepth, &why));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const absl::string_view expr = input.substr(0, nul);
  // Copied so that a read past the document is a read past its buffer.
  const std::string bson(nul == absl::string_view::npos
                             ? absl::string_view()
                             : input.substr(nul + 1));
  CheckWhere(expr, bson);
  CheckFields(expr, bson);
  return 0;
}
