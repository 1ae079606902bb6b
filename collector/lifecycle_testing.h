// Helpers shared by the storage lifecycle's unit tests: plain file access
// and libzstd's own decompression (so the tests do not trust our code).

#ifndef ZIGGY_COLLECTOR_LIFECYCLE_TESTING_H_
#define ZIGGY_COLLECTOR_LIFECYCLE_TESTING_H_

#include <sys/stat.h>
#include <zstd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

namespace ziggy::testing {

// <TEST_TMPDIR>/<name>, created.
inline std::string TestDir(const std::string& name) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  mkdir(dir.c_str(), 0755);
  return dir;
}

inline bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

inline std::string Contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void Write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// Every frame of `zst` decompressed by libzstd, streaming; "<error>" when
// it is not whole, valid zstd.
inline std::string Decompress(const std::string& zst) {
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  std::string out, buffer(ZSTD_DStreamOutSize(), '\0');
  ZSTD_inBuffer input{zst.data(), zst.size(), 0};
  size_t left = 1;
  while (input.pos < input.size && !ZSTD_isError(left)) {
    ZSTD_outBuffer output{buffer.data(), buffer.size(), 0};
    left = ZSTD_decompressStream(dctx, &output, &input);
    if (!ZSTD_isError(left)) out.append(buffer.data(), output.pos);
  }
  ZSTD_freeDCtx(dctx);
  return ZSTD_isError(left) || left != 0 ? "<error>" : out;
}

}  // namespace ziggy::testing

#endif  // ZIGGY_COLLECTOR_LIFECYCLE_TESTING_H_
