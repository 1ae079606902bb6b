#include "client/internal/event_ring.h"

#include <cstring>

#include "absl/base/internal/endian.h"
#include "absl/numeric/bits.h"

namespace ziggy::internal {

EventRing::EventRing(size_t capacity)
    : capacity_(absl::bit_ceil(capacity < 4096 ? size_t{4096} : capacity)),
      mask_(capacity_ - 1),
      buffer_(new char[capacity_]) {}

bool EventRing::TryPush(absl::string_view record) {
  if (record.size() > max_record_size()) return false;
  const uint64_t head = head_.load(std::memory_order_relaxed);
  const size_t offset = head & mask_;
  const size_t to_end = capacity_ - offset;
  const size_t need = Padded(record.size());
  // A record that does not fit before the end skips to offset 0.
  const size_t total = need <= to_end ? need : to_end + need;
  if (head + total - cached_tail_ > capacity_) {
    cached_tail_ = tail_.load(std::memory_order_acquire);
    if (head + total - cached_tail_ > capacity_) return false;
  }
  size_t at = offset;
  if (need > to_end) {
    absl::little_endian::Store32(&buffer_[offset], kWrapMarker);
    at = 0;
  }
  absl::little_endian::Store32(&buffer_[at],
                               static_cast<uint32_t>(record.size()));
  memcpy(&buffer_[at + kHeader], record.data(), record.size());
  head_.store(head + total, std::memory_order_release);
  return true;
}

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
