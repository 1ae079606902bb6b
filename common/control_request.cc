#include "common/control_request.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/format/event.h"

namespace ziggy {
namespace {

bool IsCommandName(absl::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  for (const char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<ControlRequest> ParseControlRequest(absl::string_view message) {
  absl::string_view text = absl::StripAsciiWhitespace(message);
  if (IsCommandName(text)) {
    return ControlRequest{absl::AsciiStrToUpper(text), Value::MakeMap()};
  }
  absl::StatusOr<Value> doc = DecodeDocument(message);
  if (!doc.ok()) {
    return absl::InvalidArgumentError(
        "a control request is a BSON document {cmd: ...}");
  }
  // The original Python Ziggy's ziggyctl and ziggyview send `cmd`; earlier
  // versions of ours sent `command`.
  const Value* command = doc->Get("cmd");
  if (command == nullptr) command = doc->Get("command");
  if (command == nullptr || command->kind() != Value::Kind::kString ||
      !IsCommandName(command->AsString())) {
    return absl::InvalidArgumentError(
        "the control request has no command name in 'cmd'");
  }
  return ControlRequest{absl::AsciiStrToUpper(command->AsString()),
                        *std::move(doc)};
}

std::string ErrorReply(absl::string_view message) {
  return EncodeDocument(Value(Value::Map{{"error", std::string(message)}}));
}

}  // namespace ziggy
