// Test helpers: zstd frames of given bytes, as ziggyd's compression or the
// `zstd` command line would write them, for tests of the readers.
//
// Thread-safety: plain functions of their arguments.

#ifndef ZIGGY_CLIENT_READER_ZSTD_TESTING_H_
#define ZIGGY_CLIENT_READER_ZSTD_TESTING_H_

#include <zstd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"

namespace ziggy {
namespace testing {

// `data` as consecutive zstd frames of `frame_size` input bytes each (one
// frame when 0 or larger than the data; one empty frame for empty data).
inline std::string ZstdFrames(absl::string_view data, size_t frame_size = 0,
                              int level = 3) {
  if (frame_size == 0) frame_size = std::max<size_t>(data.size(), 1);
  std::string out;
  size_t at = 0;
  do {
    const absl::string_view piece = data.substr(at, frame_size);
    std::string frame(ZSTD_compressBound(piece.size()), '\0');
    const size_t n = ZSTD_compress(&frame[0], frame.size(), piece.data(),
                                   piece.size(), level);
    if (ZSTD_isError(n)) std::abort();
    out.append(frame.data(), n);
    at += piece.size();
  } while (at < data.size());
  return out;
}

}  // namespace testing
}  // namespace ziggy

#endif  // ZIGGY_CLIENT_READER_ZSTD_TESTING_H_
