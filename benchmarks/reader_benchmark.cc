// Reading event files: codec decode and ziggyview's JSON output, in MB/s.
//
//   ./bazelw run -c opt //benchmarks:reader_benchmark

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "benchmarks/events.h"
#include "client/format/event.h"
#include "client/reader/json.h"
#include "client/reader/reader.h"
#include "client/reader/where.h"
#include "viewer/viewer.h"

namespace ziggy {
namespace {

// ~64 MiB of ~290-byte events, like a collector's file.
const std::string& File() {
  static const std::string* file = [] {
    auto* bytes = new std::string;
    for (int i = 0; bytes->size() < (64u << 20); ++i) {
      *bytes += bench::EventOfSize(290, i);
    }
    return bytes;
  }();
  return *file;
}

// Splitting into checked documents (what every reader does first).
void BM_ReadDocuments(benchmark::State& state) {
  const std::string& file = File();
  for (auto _ : state) {
    DocumentReader reader(file);
    absl::string_view doc;
    size_t n = 0;
    while (reader.Next(&doc)) ++n;
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(state.iterations() * file.size());
}
BENCHMARK(BM_ReadDocuments)->Unit(benchmark::kMillisecond);

// Into Event structs (every field decoded).
void BM_DecodeEvents(benchmark::State& state) {
  const std::string& file = File();
  for (auto _ : state) {
    DocumentReader reader(file, ReaderOptions{16 << 20, false});
    absl::string_view doc;
    while (reader.Next(&doc)) benchmark::DoNotOptimize(DecodeEvent(doc));
  }
  state.SetBytesProcessed(state.iterations() * file.size());
}
BENCHMARK(BM_DecodeEvents)->Unit(benchmark::kMillisecond);

// Where::Matches alone over the file's documents (split as in
// BM_ReadDocuments), for the expression in the benchmark's label.
void BM_WhereMatches(benchmark::State& state, const char* expr) {
  const std::string& file = File();
  const absl::StatusOr<Where> where = Where::Parse(expr);
  if (!where.ok()) return state.SkipWithError("bad expression");
  for (auto _ : state) {
    DocumentReader reader(file, ReaderOptions{16 << 20, false});
    absl::string_view doc;
    size_t n = 0;
    while (reader.Next(&doc)) n += where->Matches(doc);
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(state.iterations() * file.size());
}
BENCHMARK_CAPTURE(BM_WhereMatches, nested_number, "body.response.status >= 200")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_WhereMatches, regex, "host =~ \"^web\"")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_WhereMatches, string_eq, "type == \"request\"")
    ->Unit(benchmark::kMillisecond);

// ziggyview itself (RunViewer) on the file written to TMPDIR, its output
// discarded; `options` says what it prints.
void RunViewerOnFile(benchmark::State& state, ViewerOptions options) {
  const std::string& file = File();
  const char* tmp = std::getenv("TMPDIR");
  const std::string path =
      absl::StrCat(tmp ? tmp : "/tmp", "/ziggy-bench-", getpid(), ".log");
  std::ofstream(path, std::ios::binary) << file;
  options.files = {path};
  std::ofstream null("/dev/null");
  std::ostringstream err;
  for (auto _ : state) {
    if (RunViewer(options, null, err) != kViewOk)
      state.SkipWithError("viewer failed");
  }
  state.SetBytesProcessed(state.iterations() * file.size());
  std::remove(path.c_str());
}

// One JSON line per event.
void BM_ZiggyviewJson(benchmark::State& state) {
  RunViewerOnFile(state, ViewerOptions());
}
BENCHMARK(BM_ZiggyviewJson)->Unit(benchmark::kMillisecond);

// ziggyview with `--where=expr`, printing JSON lines.
void RunViewerWhere(benchmark::State& state, const char* expr) {
  ViewerOptions options;
  options.where = expr;
  RunViewerOnFile(state, options);
}

// --where that every event matches (a nested number, a regular expression
// on a top-level string): the filter's cost on top of the JSON path.
void BM_ZiggyviewWhere(benchmark::State& state) {
  RunViewerWhere(state,
                 "body.response.status >= 200 and host =~ \"^web\" and "
                 "type == \"request\"");
}
BENCHMARK(BM_ZiggyviewWhere)->Unit(benchmark::kMillisecond);

// --where that no event matches: reading, checking and filtering alone.
void BM_ZiggyviewWhereNone(benchmark::State& state) {
  RunViewerWhere(state, "body.response.status >= 500 and host =~ \"^web\"");
}
BENCHMARK(BM_ZiggyviewWhereNone)->Unit(benchmark::kMillisecond);

// --stats: the summary table (3 numeric fields per event); with an argument
// of 1, --by=host as well.
void BM_ZiggyviewStats(benchmark::State& state) {
  ViewerOptions options;
  options.stats = true;
  if (state.range(0) == 1) options.stats_by = "host";
  RunViewerOnFile(state, options);
}
BENCHMARK(BM_ZiggyviewStats)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ziggy

BENCHMARK_MAIN();
