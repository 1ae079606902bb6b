// ByteBuffer: a growable byte array whose appends inline to a bounds check
// and a memcpy, and which keeps its capacity across Clear(). The hot path's
// encoder and event bodies are built on it (std::string's append is an
// out-of-line call in libstdc++).
//
// Thread-safety: none.

#ifndef ZIGGY_CLIENT_FORMAT_BYTE_BUFFER_H_
#define ZIGGY_CLIENT_FORMAT_BYTE_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/strings/string_view.h"

namespace ziggy {

// Copies n bytes, sizeof(Word) <= n <= 2 * sizeof(Word), as two
// overlapping words.
template <typename Word>
inline void CopyHeadTail(char* to, const char* from, size_t n) {
  Word head, tail;
  memcpy(&head, from, sizeof head);
  memcpy(&tail, from + n - sizeof tail, sizeof tail);
  memcpy(to, &head, sizeof head);
  memcpy(to + n - sizeof tail, &tail, sizeof tail);
}

// memcpy(to, from, n), with the short copies of keys and small values done
// inline by overlapping word moves instead of a library call.
inline void CopyBytes(char* to, const char* from, size_t n) {
  if (n > 16) {
    memcpy(to, from, n);
  } else if (n >= 8) {
    CopyHeadTail<uint64_t>(to, from, n);
  } else if (n >= 4) {
    CopyHeadTail<uint32_t>(to, from, n);
  } else if (n > 0) {
    to[0] = from[0];
    to[n / 2] = from[n / 2];
    to[n - 1] = from[n - 1];
  }
}

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
    CopyBytes(Extend(bytes.size()), bytes.data(), bytes.size());
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
