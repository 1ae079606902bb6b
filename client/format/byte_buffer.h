// ByteBuffer: a growable byte array whose appends inline to a bounds check
// and a memcpy, and which keeps its capacity across Clear(). The hot path's
// encoder and event bodies are built on it (std::string's append is an
// out-of-line call in libstdc++).
//
// Thread-safety: none.

#ifndef ZIGGY_CLIENT_FORMAT_BYTE_BUFFER_H_
#define ZIGGY_CLIENT_FORMAT_BYTE_BUFFER_H_

#include <cstddef>
#include <cstring>
#include <memory>

#include "absl/strings/string_view.h"

namespace ziggy {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;

  // Returns room for `n` more bytes, which now count in size().
  char* Extend(size_t n) {
    if (capacity_ - size_ < n) Grow(n);
    char* at = data_.get() + size_;
    size_ += n;
    return at;
  }
  void Append(absl::string_view bytes) {
    if (!bytes.empty())
      memcpy(Extend(bytes.size()), bytes.data(), bytes.size());
  }
  void Clear() { size_ = 0; }

  // For writers whose output length is known only as they go: Reserve
  // returns room for up to `n` more bytes, which count in size() only once
  // Commit is given the end of what was written there.
  char* Reserve(size_t n) {
    if (capacity_ - size_ < n) Grow(n);
    return data_.get() + size_;
  }
  void Commit(const char* end) {
    size_ = static_cast<size_t>(end - data_.get());
  }

  char* data() { return data_.get(); }
  const char* data() const { return data_.get(); }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  absl::string_view view() const { return absl::string_view(data(), size_); }

 private:
  void Grow(size_t n);

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_FORMAT_BYTE_BUFFER_H_
