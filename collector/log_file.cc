#include "collector/log_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/reader/reader.h"
#include "common/durable_file.h"

namespace ziggy {
namespace {

// Scans `fd` from the start. Returns the length of its whole records, or -1
// with *damage set when something other than a torn tail is wrong.
off_t ScanRecords(int fd, std::string* damage) {
  ReaderOptions options;
  options.validate = false;  // lengths and terminators: fast, enough to append
  DocumentReader reader(fd, options);
  absl::string_view doc;
  while (reader.Next(&doc)) {
  }
  if (reader.status().ok() || reader.torn_tail()) {
    if (!reader.status().ok()) *damage = std::string(reader.status().message());
    return static_cast<off_t>(reader.offset());
  }
  *damage = std::string(reader.status().message());
  return -1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LogFile>> LogFile::Open(const std::string& path,
                                                       off_t verified_size,
                                                       OpenReport* report) {
  if (absl::Status s = MakeDirectories(path.substr(0, path.rfind('/')));
      !s.ok()) {
    return s;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int fd =
        open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("cannot open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
      const absl::Status status = ErrnoStatus("cannot stat", path);
      close(fd);
      return status;
    }
    off_t size = st.st_size;
    if (size > 0 && size != verified_size) {
      std::string damage;
      const off_t whole = ScanRecords(fd, &damage);
      if (whole < 0) {
        // Damage inside: keep the file whole, start a new one beside it.
        close(fd);
        report->damage = damage;
        report->set_aside =
            absl::StrCat(path, ".corrupt-", absl::ToUnixSeconds(absl::Now()));
        if (rename(path.c_str(), report->set_aside.c_str()) != 0) {
          return ErrnoStatus("cannot set aside corrupt", path);
        }
        continue;
      }
      if (whole < size) {
        if (ftruncate(fd, whole) != 0) {
          const absl::Status status =
              ErrnoStatus("cannot repair torn tail of", path);
          close(fd);
          return status;
        }
        report->damage = damage;
        report->repaired_bytes = static_cast<uint64_t>(size - whole);
        size = whole;
      }
    }
    return std::unique_ptr<LogFile>(
        new LogFile(path, fd, size, st.st_dev, st.st_ino));
  }
  return absl::InternalError(absl::StrCat("cannot open ", path));
}

LogFile::~LogFile() { close(fd_); }

void LogFile::Append(absl::string_view record) {
  pending_.Append(record);
  record_ends_.push_back(static_cast<uint32_t>(pending_.size()));
}

void LogFile::Consume(size_t bytes) {
  const auto done = std::upper_bound(record_ends_.begin(), record_ends_.end(),
                                     static_cast<uint32_t>(bytes));
  const size_t records = static_cast<size_t>(done - record_ends_.begin());
  last_flushed_records_ += records;
  const uint32_t whole = records == 0 ? 0 : record_ends_[records - 1];
  const size_t rest = pending_.size() - whole;
  memmove(pending_.data(), pending_.data() + whole, rest);
  pending_.Clear();
  pending_.Extend(rest);
  record_ends_.erase(record_ends_.begin(), done);
  for (uint32_t& end : record_ends_) end -= whole;
}

absl::Status LogFile::Flush() {
  last_flushed_records_ = 0;
  size_t written = 0;
  absl::Status status;
  while (written < pending_.size()) {
    const ssize_t n =
        write(fd_, pending_.data() + written, pending_.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = ErrnoStatus("cannot write", path_);
      break;
    }
    written += static_cast<size_t>(n);
  }
  size_ += static_cast<off_t>(written);
  if (written == pending_.size()) {
    last_flushed_records_ = record_ends_.size();
    pending_.Clear();
    record_ends_.clear();
    return status;
  }
  // Part of a record may have reached the file: repair before retrying.
  if (written > 0 || !status.ok()) needs_repair_ = true;
  Consume(written);
  return status;
}

absl::Status LogFile::Sync() {
  if (fdatasync(fd_) != 0) return ErrnoStatus("cannot sync", path_);
  synced_size_ = size_;
  constexpr off_t kPage = 4096;
  const off_t whole_pages = size_ / kPage * kPage;
  if (whole_pages > dropped_until_) {
    // Advice only: a failure changes nothing but memory use.
    posix_fadvise(fd_, dropped_until_, whole_pages - dropped_until_,
                  POSIX_FADV_DONTNEED);
    dropped_until_ = whole_pages;
  }
  return absl::OkStatus();
}

absl::Status LogFile::SyncIfWritten() {
  return size_ == synced_size_ ? absl::OkStatus() : Sync();
}

bool LogFile::Removed() const {
  struct stat st;
  return stat(path_.c_str(), &st) != 0 || st.st_dev != dev_ ||
         st.st_ino != ino_;
}

void LogFile::MovePendingTo(LogFile* other) {
  size_t start = 0;
  for (const uint32_t end : record_ends_) {
    other->Append(absl::string_view(pending_.data() + start, end - start));
    start = end;
  }
  pending_.Clear();
  record_ends_.clear();
}

}  // namespace ziggy
