// Compressing event files as ziggyd does (zstd level 3, streaming through
// bounded buffers) and reading them back through the reader library, on
// realistic events (realistic_events.h): ratio and MB/s.
//
//   ./bazelw run -c opt //benchmarks:compression_benchmark

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "benchmarks/realistic_events.h"
#include "client/reader/reader.h"
#include "viewer/viewer.h"

namespace ziggy {
namespace {

// ~64 MiB: ~110,000 requests with their SQL sub-events.
const std::string& Plain() {
  static const std::string* file =
      new std::string(bench::RealisticEvents(110000));
  return *file;
}

// `in` compressed at `level` as a file is: read ZSTD_CStreamInSize() bytes
// at a time, each through ZSTD_compressStream2 into a ZSTD_CStreamOutSize()
// buffer whose contents go to *out, one frame ended at the end.
void CompressStreaming(const std::string& in, int level, std::string* out) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  std::string buffer(ZSTD_CStreamOutSize(), '\0');
  const size_t chunk = ZSTD_CStreamInSize();
  out->clear();
  for (size_t at = 0; at <= in.size(); at += chunk) {
    const bool last = at + chunk >= in.size();
    ZSTD_inBuffer input{in.data() + at, std::min(chunk, in.size() - at), 0};
    const ZSTD_EndDirective mode = last ? ZSTD_e_end : ZSTD_e_continue;
    size_t left;
    do {
      ZSTD_outBuffer output{&buffer[0], buffer.size(), 0};
      left = ZSTD_compressStream2(cctx, &output, &input, mode);
      if (ZSTD_isError(left)) std::abort();
      out->append(buffer.data(), output.pos);
    } while (last ? left != 0 : input.pos < input.size);
    if (last) break;
  }
  ZSTD_freeCCtx(cctx);
}

// Compressing, MB/s of event bytes in; "ratio" is in / out.
void BM_CompressStreaming(benchmark::State& state) {
  const std::string& plain = Plain();
  std::string compressed;
  compressed.reserve(plain.size());
  for (auto _ : state) {
    CompressStreaming(plain, static_cast<int>(state.range(0)), &compressed);
  }
  state.SetBytesProcessed(state.iterations() * plain.size());
  state.counters["ratio"] = static_cast<double>(plain.size()) /
                            static_cast<double>(compressed.size());
  state.counters["out_MiB"] =
      static_cast<double>(compressed.size()) / (1 << 20);
}
BENCHMARK(BM_CompressStreaming)->Arg(3)->Unit(benchmark::kMillisecond);

// The event file under TMPDIR: uncompressed, or compressed at level 3.
std::string WriteFile(bool compressed) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string path =
      absl::StrCat(tmp ? tmp : "/tmp", "/ziggy-bench-", getpid(),
                   compressed ? ".log.zst" : ".log");
  std::string bytes = Plain();
  if (compressed) CompressStreaming(Plain(), 3, &bytes);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// Reading the file back with DocumentReader (every document checked), MB/s
// of decoded event bytes; argument 1 reads the .zst.
void BM_ReadBack(benchmark::State& state) {
  const std::string path = WriteFile(state.range(0) == 1);
  for (auto _ : state) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    DocumentReader reader(fd);
    absl::string_view doc;
    size_t n = 0;
    while (reader.Next(&doc)) ++n;
    close(fd);
    if (!reader.status().ok()) state.SkipWithError("damaged");
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(state.iterations() * Plain().size());
  std::remove(path.c_str());
}
BENCHMARK(BM_ReadBack)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// ziggyview (RunViewer, JSON lines discarded) on the file, MB/s of decoded
// event bytes; argument 1 reads the .zst.
void BM_ZiggyviewJson(benchmark::State& state) {
  ViewerOptions options;
  options.files = {WriteFile(state.range(0) == 1)};
  std::ofstream null("/dev/null");
  std::ostringstream err;
  for (auto _ : state) {
    if (RunViewer(options, null, err) != kViewOk)
      state.SkipWithError("viewer failed");
  }
  state.SetBytesProcessed(state.iterations() * Plain().size());
  std::remove(options.files[0].c_str());
}
BENCHMARK(BM_ZiggyviewJson)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ziggy

BENCHMARK_MAIN();
