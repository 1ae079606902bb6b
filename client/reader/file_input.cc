#include "client/reader/file_input.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace ziggy {

constexpr size_t kMagicSize = 4;
constexpr size_t kBlockHeaderSize = 3;  // RFC 8878 3.1.1.2

FileInput::FileInput(int fd, size_t read_size, const std::atomic<bool>* cancel)
    : fd_(fd), read_size_(std::max<size_t>(read_size, 1)), cancel_(cancel) {}

FileInput::~FileInput() { ZSTD_freeDCtx(decoder_); }

ssize_t FileInput::Read(char* to, size_t size) {
  switch (state_) {
    case State::kUnknown:
      if (!Sniff()) return -1;
      return Read(to, size);
    case State::kPlain:
      return ReadPlain(to, size);
    case State::kZstd:
      return ReadZstd(to, size);
    case State::kEnd:
      break;
  }
  return 0;
}

bool FileInput::Sniff() {
  while (buffer_.size() < kMagicSize && !raw_eof_) {
    char bytes[kMagicSize];
    const size_t want = std::min(kMagicSize - buffer_.size(), read_size_);
    const ssize_t n = RawRead(bytes, want);
    if (n < 0) return false;
    if (n == 0) raw_eof_ = true;
    buffer_.append(bytes, static_cast<size_t>(n));
  }
  if (buffer_.size() < kMagicSize ||
      memcmp(buffer_.data(), kZstdMagic, kMagicSize) != 0) {
    state_ = State::kPlain;
    return true;
  }
  decoder_ = ZSTD_createDCtx();
  if (decoder_ == nullptr) {
    Fail("cannot allocate a zstd decoder");
    return true;
  }
  state_ = State::kZstd;
  return true;
}

ssize_t FileInput::ReadPlain(char* to, size_t size) {
  if (buffer_pos_ < buffer_.size()) {
    const size_t n = std::min(size, buffer_.size() - buffer_pos_);
    memcpy(to, buffer_.data() + buffer_pos_, n);
    buffer_pos_ += n;
    return static_cast<ssize_t>(n);
  }
  if (raw_eof_) return 0;
  return RawRead(to, size);
}

// zstd drops the output of a call that fails: a call given a whole
// frame's input would lose the blocks before a corrupt one. So each call
// gets only the input of the next step, as ZSTD_decompressStream's hint
// says, less the next block's header it asks for in advance (3 bytes), and
// none while output from the last step may still be pending (the previous
// call filled the output): a failing call then has nothing to drop.
size_t FileInput::NextInput() const {
  if (output_full_) return 0;
  size_t want = next_hint_ > kBlockHeaderSize ? next_hint_ - kBlockHeaderSize
                                              : next_hint_;
  if (want == 0) want = 1;  // a frame ended: the next one's first byte
  return std::min(want, buffer_.size() - buffer_pos_);
}

ssize_t FileInput::ReadZstd(char* to, size_t size) {
  ZSTD_outBuffer out{to, size, 0};
  while (true) {
    if (buffer_pos_ == buffer_.size() && !raw_eof_ &&
        Refill(std::min(read_size_, ZSTD_DStreamInSize())) < 0) {
      return -1;
    }
    ZSTD_inBuffer in{buffer_.data(), buffer_pos_ + NextInput(), buffer_pos_};
    const size_t hint = ZSTD_decompressStream(decoder_, &out, &in);
    if (ZSTD_isError(hint)) {
      Fail(absl::StrCat("corrupt zstd stream: ", ZSTD_getErrorName(hint)));
      return static_cast<ssize_t>(out.pos);
    }
    // A call without input or output says nothing about the last frame.
    if (in.pos > buffer_pos_ || out.pos > 0) last_hint_ = hint;
    next_hint_ = hint;
    output_full_ = out.pos == out.size;
    buffer_pos_ = in.pos;
    if (out.pos > 0) return static_cast<ssize_t>(out.pos);
    if (buffer_pos_ == buffer_.size() && raw_eof_) {
      // 0: the last frame ended and everything is flushed.
      if (last_hint_ != 0) Fail("truncated zstd stream");
      state_ = State::kEnd;
      return 0;
    }
  }
}

ssize_t FileInput::Refill(size_t size) {
  buffer_.resize(size);
  buffer_pos_ = 0;
  const ssize_t n = RawRead(&buffer_[0], size);
  buffer_.resize(n > 0 ? static_cast<size_t>(n) : 0);
  if (n == 0) raw_eof_ = true;
  return n;
}

ssize_t FileInput::RawRead(char* to, size_t size) {
  while (true) {
    if (cancel_ != nullptr) {
      pollfd p{fd_, POLLIN, 0};
      const int ready = poll(&p, 1, /*timeout_ms=*/100);
      if (cancel_->load(std::memory_order_relaxed)) {
        errno = ECANCELED;
        return -1;
      }
      if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
    }
    const ssize_t n = read(fd_, to, size);
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

void FileInput::Fail(std::string damage) {
  damage_ = std::move(damage);
  state_ = State::kEnd;
}

}  // namespace ziggy
