// The daemon side of the control protocol (see client/reader/control.h):
// parsing a request and encoding replies.

#ifndef ZIGGY_COMMON_CONTROL_REQUEST_H_
#define ZIGGY_COMMON_CONTROL_REQUEST_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/format/value.h"

namespace ziggy {

struct ControlRequest {
  std::string command;  // upper case, e.g. "STATUS"
  Value args;           // the whole request document (a map)
};

// A BSON document {cmd: "STATUS", ...}, as the original Python Ziggy's
// ziggyctl and ziggyview send it (`command` is accepted in place of `cmd`; the
// command is matched case-insensitively), or the bare command name as text.
// kInvalidArgument for anything else.
absl::StatusOr<ControlRequest> ParseControlRequest(absl::string_view message);

// {error: message}.
std::string ErrorReply(absl::string_view message);

}  // namespace ziggy

#endif  // ZIGGY_COMMON_CONTROL_REQUEST_H_
