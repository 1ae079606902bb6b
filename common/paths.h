// Paths the user typed on the command line.

#ifndef ZIGGY_COMMON_PATHS_H_
#define ZIGGY_COMMON_PATHS_H_

#include <string>

namespace ziggy {

// Makes a relative path absolute against the directory the user ran the
// command from: BUILD_WORKING_DIRECTORY under `bazel run` (which runs
// binaries inside their runfiles tree), else the current directory.
std::string ResolveUserPath(const std::string& path);

}  // namespace ziggy

#endif  // ZIGGY_COMMON_PATHS_H_
