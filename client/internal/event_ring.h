// EventRing: a bounded single-producer single-consumer queue of byte records.
//
// Each recording thread owns one ring and the transport's I/O thread drains
// it, so the calling thread's hand-off is a memcpy and two atomic stores: no
// lock, no syscall, nothing shared with other recording threads. When the
// ring is full the record is refused (the caller counts the drop).
//
// Records are [uint32 size][bytes] padded to 8 bytes. A record never wraps:
// when it does not fit before the end of the buffer, a wrap marker fills the
// rest and the record starts again at offset 0.
//
// Thread-safety: TryPush from one producer thread, Peek/Pop from one consumer
// thread, the counters from anywhere.

#ifndef ZIGGY_CLIENT_INTERNAL_EVENT_RING_H_
#define ZIGGY_CLIENT_INTERNAL_EVENT_RING_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/base/internal/endian.h"
#include "absl/strings/string_view.h"

namespace ziggy::internal {

class EventRing {
 public:
  // `capacity` is rounded up to a power of two, at least 4 KiB.
  explicit EventRing(size_t capacity);

  EventRing(const EventRing&) = delete;
  EventRing& operator=(const EventRing&) = delete;

  // Largest record TryPush can ever accept.
  size_t max_record_size() const { return capacity_ / 2 - kHeader; }

  // Producer: copies `record` in; false when there is no room. Inline: it
  // is the calling thread's hand-off of every event.
  bool TryPush(absl::string_view record);

  // Consumer: the oldest record, or false when empty. The view stays valid
  // until Pop().
  bool Peek(absl::string_view* record);
  void Pop();

  // Bytes in use (approximate when read concurrently).
  size_t used_bytes() const {
    return head_.load(std::memory_order_acquire) -
           tail_.load(std::memory_order_acquire);
  }
  bool empty() const { return used_bytes() == 0; }

  // Set once by the producer when its thread exits; the consumer drops the
  // ring after draining it.
  void Close() { closed_.store(true, std::memory_order_release); }
  bool closed() const { return closed_.load(std::memory_order_acquire); }

 private:
  static constexpr size_t kHeader = 4;
  static constexpr size_t kAlign = 8;
  static constexpr uint32_t kWrapMarker = UINT32_MAX;

  static size_t Padded(size_t size) {
    return (kHeader + size + kAlign - 1) & ~(kAlign - 1);
  }

  const size_t capacity_;
  const size_t mask_;
  std::unique_ptr<char[]> buffer_;
  std::atomic<bool> closed_{false};

  // Producer-owned, with its cached view of the consumer's position.
  alignas(64) std::atomic<uint64_t> head_{0};
  uint64_t cached_tail_ = 0;
  // Consumer-owned, with its cached view of the producer's position.
  alignas(64) std::atomic<uint64_t> tail_{0};
  uint64_t cached_head_ = 0;
  size_t pending_pop_ = 0;
};

inline bool EventRing::TryPush(absl::string_view record) {
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

}  // namespace ziggy::internal

#endif  // ZIGGY_CLIENT_INTERNAL_EVENT_RING_H_
