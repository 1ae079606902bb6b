#include "client/internal/batch_buffer.h"

#include <cstring>

namespace ziggy::internal {

BatchBuffer::BatchBuffer(BatchBufferPool* pool, size_t capacity)
    : pool_(pool), capacity_(capacity), data_(new char[capacity]) {}

BatchBuffer::~BatchBuffer() { delete[] data_; }

void BatchBuffer::Append(absl::string_view bytes) {
  memcpy(data_ + size_, bytes.data(), bytes.size());
  size_ += bytes.size();
}

zmq::message_t BatchBuffer::ToMessage() {
  references_.fetch_add(1, std::memory_order_relaxed);
  return zmq::message_t(
      data_, size_,
      [](void*, void* buffer) { static_cast<BatchBuffer*>(buffer)->Release(); },
      this);
}

void BatchBuffer::Release() {
  if (references_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    pool_->Return(this);
  }
}

BatchBufferPool::~BatchBufferPool() {
  for (BatchBuffer* buffer : idle_) delete buffer;
}

BatchBuffer* BatchBufferPool::Take() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      BatchBuffer* buffer = idle_.back();
      idle_.pop_back();
      buffer->size_ = 0;
      buffer->references_.store(1, std::memory_order_relaxed);
      return buffer;
    }
    ++live_;
  }
  return new BatchBuffer(this, capacity_);
}

void BatchBufferPool::Return(BatchBuffer* buffer) {
  {
    absl::MutexLock lock(&mu_);
    if (idle_.size() < max_idle_) {
      idle_.push_back(buffer);
      return;
    }
    --live_;
  }
  delete buffer;
}

size_t BatchBufferPool::live() const {
  absl::MutexLock lock(&mu_);
  return live_;
}

}  // namespace ziggy::internal
