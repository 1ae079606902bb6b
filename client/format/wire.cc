#include "client/format/wire.h"

#include <algorithm>
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

constexpr size_t kCacheLine = 64;
constexpr size_t kPrefetchAhead = 16 * kCacheLine;

}  // namespace

bool SplitMessage(absl::string_view message,
                  std::vector<absl::string_view>* documents) {
  // Checked whole first, so a broken message appends nothing. Each length
  // says where the next is, a chain of loads that would wait on memory one
  // document at a time (a message arrives cold, from ZeroMQ's I/O thread on
  // another core): the bytes ahead are prefetched in a stream, which the
  // validation of each document then also finds in cache.
  if (message.empty()) return false;
  if (DocumentLength(message) == message.size()) {  // a seed's single event
    documents->push_back(message);
    return true;
  }
  size_t prefetched = 0;  // offsets below it are prefetched
  for (size_t at = 0; at < message.size();) {
    const size_t ahead = std::min(message.size(), at + kPrefetchAhead);
    for (; prefetched < ahead; prefetched += kCacheLine) {
      __builtin_prefetch(message.data() + prefetched);
    }
    const size_t length = DocumentLength(message.substr(at));
    if (length == 0) return false;
    at += length;
  }
  while (!message.empty()) {
    const size_t length = DocumentLength(message);
    documents->push_back(message.substr(0, length));
    message.remove_prefix(length);
  }
  return true;
}

}  // namespace ziggy
