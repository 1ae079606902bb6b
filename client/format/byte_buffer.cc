#include "client/format/byte_buffer.h"

#include <algorithm>

namespace ziggy {

void ByteBuffer::Grow(size_t n) {
  const size_t capacity = std::max({size_ + n, capacity_ * 2, size_t{256}});
  std::unique_ptr<char[]> data(new char[capacity]);
  if (size_ > 0) memcpy(data.get(), data_.get(), size_);
  data_ = std::move(data);
  capacity_ = capacity;
}

}  // namespace ziggy
