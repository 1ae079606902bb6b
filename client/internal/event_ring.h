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
#include <memory>

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

  // Producer: copies `record` in; false when there is no room.
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

}  // namespace ziggy::internal

#endif  // ZIGGY_CLIENT_INTERNAL_EVENT_RING_H_
