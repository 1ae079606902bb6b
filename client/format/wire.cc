#include "client/format/wire.h"

#include <cstdint>

#include "absl/base/internal/endian.h"

namespace ziggy {
namespace {

// The length of the document starting `message`, when it is at least five
// bytes and within the message; 0 otherwise.
size_t DocumentLength(absl::string_view message) {
  if (message.size() < 5) return 0;
  const uint32_t length = absl::little_endian::Load32(message.data());
  return length >= 5 && length <= message.size() ? length : 0;
}

}  // namespace

bool SplitMessage(absl::string_view message,
                  std::vector<absl::string_view>* documents) {
  // Checked whole first, so a broken message appends nothing.
  if (message.empty()) return false;
  for (absl::string_view rest = message; !rest.empty();) {
    const size_t length = DocumentLength(rest);
    if (length == 0) return false;
    rest.remove_prefix(length);
  }
  while (!message.empty()) {
    const size_t length = DocumentLength(message);
    documents->push_back(message.substr(0, length));
    message.remove_prefix(length);
  }
  return true;
}

}  // namespace ziggy
