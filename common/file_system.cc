#include "common/file_system.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace ziggy {
namespace {

FileInfo InfoOf(const struct stat& st) {
  FileInfo info;
  info.size = static_cast<uint64_t>(st.st_size);
  info.device = static_cast<uint64_t>(st.st_dev);
  info.inode = static_cast<uint64_t>(st.st_ino);
  return info;
}

int OpenFlags(const OpenOptions& options) {
  int flags = O_CLOEXEC;
  if (!options.append) {
    flags |= O_RDONLY;
  } else {
    flags |= options.read ? O_RDWR : O_WRONLY;
    // An emptied file is written in order from its start, which is its
    // end: no O_APPEND (the flags ReplaceFileDurably always used).
    if (!options.truncate) flags |= O_APPEND;
  }
  if (options.create) flags |= O_CREAT;
  if (options.truncate) flags |= O_TRUNC;
  return flags;
}

class PosixFile : public File {
 public:
  PosixFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixFile() override { close(fd_); }

  absl::Status Append(absl::string_view data, size_t* written) override {
    *written = 0;
    while (*written < data.size()) {
      const ssize_t n =
          write(fd_, data.data() + *written, data.size() - *written);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus("cannot write", path_);
      *written += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status Read(uint64_t offset, size_t n, std::string* out) override {
    out->resize(n);
    size_t got = 0;
    while (got < n) {
      const ssize_t r =
          pread(fd_, &(*out)[got], n - got, static_cast<off_t>(offset + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return ErrnoStatus("cannot read", path_);
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    out->resize(got);
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (fdatasync(fd_) != 0) return ErrnoStatus("cannot sync", path_);
    return absl::OkStatus();
  }

  absl::Status Truncate(uint64_t size) override {
    if (ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return ErrnoStatus("cannot truncate", path_);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<FileInfo> Stat() override {
    struct stat st;
    if (fstat(fd_, &st) != 0) return ErrnoStatus("cannot stat", path_);
    return InfoOf(st);
  }

  void DropCache(uint64_t offset, uint64_t length) override {
    posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(length),
                  POSIX_FADV_DONTNEED);
  }

 private:
  const std::string path_;
  const int fd_;
};

class PosixFileSystem : public FileSystem {
 public:
  absl::StatusOr<std::unique_ptr<File>> Open(
      const std::string& path, const OpenOptions& options) override {
    const int fd = open(path.c_str(), OpenFlags(options), options.mode);
    if (fd < 0) {
      return ErrnoStatus(options.create ? "cannot create" : "cannot open",
                         path);
    }
    return std::unique_ptr<File>(new PosixFile(path, fd));
  }

  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    absl::StatusOr<std::unique_ptr<File>> file =
        Open(path, OpenOptions::ReadOnly());
    if (!file.ok()) return file.status();
    std::string all, chunk;
    constexpr size_t kChunk = 1 << 20;
    do {
      if (absl::Status s = (*file)->Read(all.size(), kChunk, &chunk); !s.ok()) {
        return s;
      }
      all += chunk;
    } while (chunk.size() == kChunk);
    return all;
  }

  absl::Status Rename(const std::string& from, const std::string& to) override {
    if (rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoStatus("cannot rename", from);
    }
    return absl::OkStatus();
  }

  absl::Status Truncate(const std::string& path, uint64_t size) override {
    if (truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
      return ErrnoStatus("cannot truncate", path);
    }
    return absl::OkStatus();
  }

  absl::Status Remove(const std::string& path) override {
    if (unlink(path.c_str()) != 0) return ErrnoStatus("cannot remove", path);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> ListDirectory(
      const std::string& dir) override {
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return ErrnoStatus("cannot list", dir);
    std::vector<std::string> names;
    // readdir() returns null at the end and on an error; only errno tells.
    errno = 0;
    while (const dirent* entry = readdir(d)) {
      const absl::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
      errno = 0;
    }
    absl::Status status =
        errno == 0 ? absl::OkStatus() : ErrnoStatus("cannot list", dir);
    closedir(d);
    if (!status.ok()) return status;
    return names;
  }

  absl::StatusOr<FileInfo> Stat(const std::string& path) override {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return ErrnoStatus("cannot stat", path);
    return InfoOf(st);
  }

  absl::Status CreateDirectory(const std::string& path) override {
    if (mkdir(path.c_str(), 0755) == 0) return absl::OkStatus();
    if (errno == EEXIST) return absl::AlreadyExistsError(path);
    return ErrnoStatus("cannot create directory", path);
  }

  absl::Status SyncDirectory(const std::string& dir) override {
    const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("cannot open directory", dir);
    const bool ok = fsync(fd) == 0;
    const absl::Status status =
        ok ? absl::OkStatus() : ErrnoStatus("cannot sync directory", dir);
    close(fd);
    return status;
  }
};

}  // namespace

OpenOptions OpenOptions::Append(bool create) {
  OpenOptions options;
  options.read = false;
  options.append = true;
  options.create = create;
  return options;
}

absl::Status FileSystem::RemoveDirectory(const std::string& dir) {
  if (rmdir(dir.c_str()) != 0)
    return ErrnoStatus("cannot remove directory", dir);
  return absl::OkStatus();
}

FileSystem* FileSystem::Default() {
  static FileSystem* const fs = new PosixFileSystem;
  return fs;
}

absl::Status ErrnoStatus(absl::string_view what, const std::string& path) {
  const int error = errno;
  const std::string message =
      absl::StrCat(what, " ", path, ": ", strerror(error));
  if (error == ENOSPC || error == EDQUOT) {
    return absl::ResourceExhaustedError(message);
  }
  return absl::UnavailableError(message);
}

}  // namespace ziggy
