// BatchBuffer: the bytes of one batched wire message, handed to ZeroMQ
// without a copy.
//
// The transport's I/O thread fills a buffer with whole documents, wraps it
// in a zmq::message_t (ToMessage) and takes a fresh one once the send
// succeeds. ZeroMQ's own I/O thread releases the message's reference when
// the bytes are on the wire, and the buffer goes back to its pool, so a busy
// transport reuses a few buffers instead of allocating and copying one per
// message. A send that would block leaves the batch holding its buffer (the
// refused message only drops its reference), ready to be sent again.
//
// Thread-safety: a buffer's bytes belong to the thread filling it until
// ToMessage; references are atomic; the pool is locked.

#ifndef ZIGGY_CLIENT_INTERNAL_BATCH_BUFFER_H_
#define ZIGGY_CLIENT_INTERNAL_BATCH_BUFFER_H_

#include <atomic>
#include <cstddef>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "zmq.hpp"

namespace ziggy::internal {

class BatchBufferPool;

class BatchBuffer {
 public:
  // Room left and the bytes so far.
  size_t room() const { return capacity_ - size_; }
  size_t size() const { return size_; }
  absl::string_view view() const { return absl::string_view(data_, size_); }

  // Appends `bytes`; the caller checked room().
  void Append(absl::string_view bytes);

  // A message over the bytes so far that holds a reference to this buffer.
  zmq::message_t ToMessage();

  // Drops the filler's reference: the buffer returns to its pool once no
  // message holds it.
  void Release();

 private:
  friend class BatchBufferPool;
  BatchBuffer(BatchBufferPool* pool, size_t capacity);
  ~BatchBuffer();

  BatchBufferPool* const pool_;
  const size_t capacity_;
  char* const data_;
  size_t size_ = 0;
  std::atomic<int> references_{1};
};

// Buffers of one capacity; keeps up to `max_idle` released ones for reuse.
// Must outlive every message made from its buffers (the transport closes
// its ZeroMQ context, which releases them, before the pool goes).
class BatchBufferPool {
 public:
  BatchBufferPool(size_t capacity, size_t max_idle)
      : capacity_(capacity), max_idle_(max_idle) {}
  ~BatchBufferPool();

  BatchBufferPool(const BatchBufferPool&) = delete;
  BatchBufferPool& operator=(const BatchBufferPool&) = delete;

  // An empty buffer, reused when one is idle. The caller holds the one
  // reference and gives it up with Release().
  BatchBuffer* Take();

  // Buffers alive now, in use or idle (a busy transport reuses a few).
  size_t live() const;

 private:
  friend class BatchBuffer;
  void Return(BatchBuffer* buffer);

  const size_t capacity_;
  const size_t max_idle_;
  mutable absl::Mutex mu_;
  std::vector<BatchBuffer*> idle_ ABSL_GUARDED_BY(mu_);
  size_t live_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ziggy::internal

#endif  // ZIGGY_CLIENT_INTERNAL_BATCH_BUFFER_H_
