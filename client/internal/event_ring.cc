#include "client/internal/event_ring.h"

#include <cstring>

#include "absl/base/internal/endian.h"
#include "absl/numeric/bits.h"

namespace ziggy::internal {

EventRing::EventRing(size_t capacity)
    : capacity_(absl::bit_ceil(capacity < 4096 ? size_t{4096} : capacity)),
      mask_(capacity_ - 1),
      buffer_(new char[capacity_]) {}

bool EventRing::Peek(absl::string_view* record) {
  uint64_t tail = tail_.load(std::memory_order_relaxed);
  if (tail == cached_head_) {
    cached_head_ = head_.load(std::memory_order_acquire);
    if (tail == cached_head_) return false;
  }
  size_t offset = tail & mask_;
  uint32_t size = absl::little_endian::Load32(&buffer_[offset]);
  size_t skipped = 0;
  if (size == kWrapMarker) {
    skipped = capacity_ - offset;
    offset = 0;
    size = absl::little_endian::Load32(&buffer_[0]);
  }
  *record = absl::string_view(&buffer_[offset + kHeader], size);
  pending_pop_ = skipped + Padded(size);
  return true;
}

void EventRing::Pop() {
  tail_.store(tail_.load(std::memory_order_relaxed) + pending_pop_,
              std::memory_order_release);
  pending_pop_ = 0;
}

}  // namespace ziggy::internal
