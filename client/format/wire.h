// The collect port's wire rule, one description for the client that sends
// and the daemons (and tests) that receive: a message is one or more whole
// BSON documents back to back, each starting with its own int32
// little-endian length (at least 5, counting itself), the lengths tiling
// the message exactly. A seed client's single-document message is the
// one-event case; the C++ client batches up to kMaxBatchBytes.
//
// Thread-safety: plain functions of their arguments.

#ifndef ZIGGY_CLIENT_FORMAT_WIRE_H_
#define ZIGGY_CLIENT_FORMAT_WIRE_H_

#include <cstddef>
#include <vector>

#include "absl/strings/string_view.h"

namespace ziggy {

// The largest message of several events a client sends and every batching
// daemon takes, whatever its --max-event-bytes.
inline constexpr size_t kMaxBatchBytes = 1 << 20;

// Appends `message`'s documents (views into it) to *documents and returns
// true; false, appending nothing, when their lengths do not tile it (an
// empty message included). Documents are framed, not validated.
bool SplitMessage(absl::string_view message,
                  std::vector<absl::string_view>* documents);

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_FORMAT_WIRE_H_
