// p99_by_host: the p99 of one body field per host over event files, as a
// reporting program built on ziggy::Stats (client/reader/stats.h).
//
//   ./bazelw run //client/reader/examples:p99_by_host -- body.request_time
//   logs/20231114/request-20231114.log
//
// prints, per type and host (the 50 busiest, the rest as "other"):
//   request  web-1  1204 events  p99 0.31

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "client/reader/reader.h"
#include "client/reader/stats.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: p99_by_host FIELD FILE...\n");
    return 1;
  }
  // Under `bazel run`, paths are the caller's.
  const char* dir = std::getenv("BUILD_WORKING_DIRECTORY");
  if (dir != nullptr && chdir(dir) != 0) return std::perror(dir), 1;
  ziggy::StatsOptions options;
  options.by = "host";
  options.fields = {argv[1]};
  ziggy::Stats stats(options);
  for (int i = 2; i < argc; ++i) {
    const int fd = open(argv[i], O_RDONLY);
    if (fd < 0) return std::perror(argv[i]), 1;
    ziggy::DocumentReader reader(fd);  // checks every document
    absl::string_view event;
    while (reader.Next(&event)) stats.Add(event);
    close(fd);
  }
  for (const ziggy::StatsRow& row : stats.Rows()) {
    if (row.field.empty()) continue;  // the type's own row
    std::printf("%s  %s  %llu events  p99 %g\n", row.type.c_str(),
                row.by_missing ? "(no host)" : row.by.c_str(),
                static_cast<unsigned long long>(row.count), row.p99);
  }
  return 0;
}
