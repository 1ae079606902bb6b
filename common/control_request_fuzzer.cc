// Fuzzes ParseControlRequest with one control-port message. Invariants: a
// parsed request has an upper-case command and a map of arguments; encoded
// again, a document request parses to the same command and arguments.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "client/format/event.h"
#include "client/format/value.h"
#include "common/control_request.h"
#include "tools/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view message(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ziggy::ControlRequest> request =
      ziggy::ParseControlRequest(message);
  if (!request.ok()) return 0;
  FUZZ_CHECK(!request->command.empty() &&
             request->command == absl::AsciiStrToUpper(request->command));
  FUZZ_CHECK(request->args.kind() == ziggy::Value::Kind::kMap);
  // A bare command name has no arguments to encode it with.
  if (request->args.AsMap().empty()) return 0;
  const std::string encoded = ziggy::EncodeDocument(request->args);
  absl::StatusOr<ziggy::ControlRequest> again =
      ziggy::ParseControlRequest(encoded);
  // Compared as bytes: a NaN argument is not equal to itself.
  FUZZ_CHECK(again.ok() && again->command == request->command &&
             ziggy::EncodeDocument(again->args) == encoded);
  (void)ziggy::ErrorReply(message);
  return 0;
}
