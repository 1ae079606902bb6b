#include "common/durable_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace ziggy {
absl::Status ErrnoStatus(absl::string_view what, const std::string& path) {
  const int error = errno;
  const std::string message =
      absl::StrCat(what, " ", path, ": ", strerror(error));
  if (error == ENOSPC || error == EDQUOT) {
    return absl::ResourceExhaustedError(message);
  }
  return absl::UnavailableError(message);
}

absl::Status ReplaceFileDurably(const std::string& dir, const std::string& name,
                                absl::string_view bytes, mode_t mode) {
  const std::string tmp = absl::StrCat(dir, "/", name, ".tmp");
  const int fd =
      open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus("cannot create", tmp);
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const absl::Status status = ErrnoStatus("cannot write", tmp);
      close(fd);
      return status;
    }
    written += static_cast<size_t>(n);
  }
  if (fdatasync(fd) != 0) {
    const absl::Status status = ErrnoStatus("cannot sync", tmp);
    close(fd);
    return status;
  }
  close(fd);
  if (rename(tmp.c_str(), absl::StrCat(dir, "/", name).c_str()) != 0) {
    return ErrnoStatus("cannot rename", tmp);
  }
  return SyncDirectory(dir);
}

absl::Status SyncDirectory(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open directory", dir);
  const bool ok = fsync(fd) == 0;
  const absl::Status status =
      ok ? absl::OkStatus() : ErrnoStatus("cannot sync directory", dir);
  close(fd);
  return status;
}

absl::Status MakeDirectories(const std::string& path) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string dir = path.substr(0, slash);
    if (!dir.empty() && mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus("cannot create directory", dir);
    }
    if (slash == std::string::npos) return absl::OkStatus();
  }
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

}  // namespace ziggy
