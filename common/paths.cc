#include "common/paths.h"

#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace ziggy {

std::string ResolveUserPath(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  std::string base;
  if (const char* dir = std::getenv("BUILD_WORKING_DIRECTORY");
      dir != nullptr && *dir != '\0') {
    base = dir;
  } else {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) == nullptr) return path;
    base = cwd;
  }
  absl::string_view rest = path;
  while (absl::ConsumePrefix(&rest, "./")) {
  }
  return absl::StrCat(base, "/", rest);
}

}  // namespace ziggy
