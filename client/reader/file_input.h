// FileInput: the bytes of an open file descriptor (a file, a pipe, standard
// input), decompressed on the fly when they are zstd frames.
//
// Whether the input is compressed is decided by its first four bytes, never
// by a file name: the zstd magic number 0xFD2FB528 (little endian) makes it
// one or more standard zstd frames (ziggyd's `<name>.zst`, `zstd` output,
// skippable frames included), anything else is passed through as it is.
// Decompression is streaming with bounded memory: one compressed input
// buffer of at most ZSTD_DStreamInSize() bytes (less with a smaller
// `read_size`) and the decoder's window, at most 2^27 bytes (zstd's
// default limit; level 3 frames use 2 MiB or less); the output goes
// straight to the caller's buffer.
//
// A zstd stream that cannot be decoded does not fail Read(): the bytes
// decoded before the damage (every block before a corrupt one, a frame's
// last block before a checksum that does not match) are returned, then the
// end of input, and
// damage() says what was wrong ("truncated zstd stream" when the input ends
// inside a frame, "corrupt zstd stream: <zstd's reason>" otherwise, garbage
// after a valid frame included).
//
// Thread-safety: none; one FileInput per thread.

#ifndef ZIGGY_CLIENT_READER_FILE_INPUT_H_
#define ZIGGY_CLIENT_READER_FILE_INPUT_H_

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

struct ZSTD_DCtx_s;

namespace ziggy {

// The first four bytes of a zstd frame.
inline constexpr char kZstdMagic[] = "\x28\xB5\x2F\xFD";

class FileInput {
 public:
  // Reads `fd` (not closed here). `read_size` bounds each read() of
  // compressed input. When `cancel` is set, Read() polls the descriptor and
  // fails with ECANCELED soon after *cancel becomes true (checked every
  // 100 ms while waiting).
  FileInput(int fd, size_t read_size,
            const std::atomic<bool>* cancel = nullptr);
  ~FileInput();

  FileInput(const FileInput&) = delete;
  FileInput& operator=(const FileInput&) = delete;

  // Up to `size` bytes of (decompressed) input into `to`: the count, 0 at
  // the end of the input (or after damage), -1 with errno set when read()
  // failed or with ECANCELED when cancelled.
  // REQUIRES: size > 0.
  ssize_t Read(char* to, size_t size);

  // True once the input is known to be zstd frames.
  bool compressed() const { return state_ == State::kZstd; }
  // Empty, or what was wrong with the zstd stream (see above).
  const std::string& damage() const { return damage_; }

 private:
  enum class State { kUnknown, kPlain, kZstd, kEnd };

  // Reads the first bytes to tell plain from compressed input.
  bool Sniff();
  // Input from buffer_ (what Sniff read) and then from the descriptor.
  ssize_t ReadPlain(char* to, size_t size);
  ssize_t ReadZstd(char* to, size_t size);
  // How much of buffer_ the next ZSTD_decompressStream call may have.
  size_t NextInput() const;
  // Replaces buffer_ with the next raw bytes: their count, 0 at EOF, -1
  // as RawRead.
  ssize_t Refill(size_t size);
  // read(), polling first while cancellation is possible.
  ssize_t RawRead(char* to, size_t size);
  void Fail(std::string damage);

  int fd_;
  size_t read_size_;
  const std::atomic<bool>* cancel_;
  State state_ = State::kUnknown;
  bool raw_eof_ = false;
  std::string buffer_;  // raw bytes read and not yet used
  size_t buffer_pos_ = 0;
  ZSTD_DCtx_s* decoder_ = nullptr;  // when compressed
  size_t last_hint_ = 0;
  size_t next_hint_ = 1;      // ZSTD_decompressStream's last result
  bool output_full_ = false;  // the last call filled its output            //
                              // ZSTD_decompressStream's last result
  std::string damage_;
};

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_READER_FILE_INPUT_H_
