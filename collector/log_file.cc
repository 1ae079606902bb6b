#include "collector/log_file.h"

#include <string.h>

#include <algorithm>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/reader/reader.h"
#include "common/durable_file.h"

namespace ziggy {
namespace {

constexpr size_t kScanChunk = 1 << 20;

// Scans `file` (`size` bytes) from the start, a chunk at a time. Returns
// the length of its whole records, or -1 with *damage set when something
// other than a torn tail is wrong (a torn tail sets *damage too).
absl::StatusOr<off_t> ScanRecords(File& file, uint64_t size,
                                  std::string* damage) {
  ReaderOptions options;
  options.validate = false;  // lengths and terminators: fast, enough to append
  std::string chunk;
  uint64_t offset = 0;  // of chunk[0]; whole records before it
  size_t want = kScanChunk;
  while (offset < size) {
    if (absl::Status s = file.Read(offset, want, &chunk); !s.ok()) return s;
    const bool last = chunk.size() < want || offset + chunk.size() >= size;
    DocumentReader reader(chunk, options);
    absl::string_view doc;
    while (reader.Next(&doc)) {
    }
    if (!reader.status().ok()) {
      *damage = std::string(reader.status().message());
      if (offset > 0) *damage = absl::StrCat("at ", offset, ": ", *damage);
    }
    if (!reader.status().ok() && !reader.torn_tail()) return -1;
    offset += reader.offset();
    if (last) break;
    want = kScanChunk;
    if (reader.torn_tail() && chunk.size() - reader.offset() >= 4) {
      // A document larger than a chunk: read it whole next time.
      const uint32_t declared =
          absl::little_endian::Load32(chunk.data() + reader.offset());
      want = std::max<size_t>(want, declared);
    }
    if (reader.torn_tail()) damage->clear();  // it continues in the next
  }
  return static_cast<off_t>(offset);
}

}  // namespace

absl::StatusOr<std::unique_ptr<LogFile>> LogFile::Open(const std::string& path,
                                                       off_t verified_size,
                                                       OpenReport* report,
                                                       FileSystem* fs) {
  if (absl::Status s = MakeDirectories(path.substr(0, path.rfind('/')), fs);
      !s.ok()) {
    return s;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<std::unique_ptr<LogFile>> file =
        OpenOnce(path, verified_size, report, fs);
    if (!file.ok() || *file != nullptr) return file;
  }
  return absl::InternalError(absl::StrCat("cannot open ", path));
}

absl::StatusOr<std::unique_ptr<LogFile>> LogFile::OpenOnce(
    const std::string& path, off_t verified_size, OpenReport* report,
    FileSystem* fs) {
  OpenOptions options = OpenOptions::Append(/*create=*/true);
  options.read = true;
  absl::StatusOr<std::unique_ptr<File>> file = fs->Open(path, options);
  if (!file.ok()) return file.status();
  absl::StatusOr<FileInfo> info = (*file)->Stat();
  if (!info.ok()) return info.status();
  off_t size = static_cast<off_t>(info->size);
  if (size > 0 && size != verified_size) {
    std::string damage;
    absl::StatusOr<off_t> whole = ScanRecords(**file, info->size, &damage);
    if (!whole.ok()) return whole.status();
    if (*whole < 0) {
      // Damage inside: keep the file whole, start a new one beside it.
      file->reset();
      report->damage = damage;
      report->set_aside =
          absl::StrCat(path, ".corrupt-", absl::ToUnixSeconds(absl::Now()));
      if (absl::Status s = fs->Rename(path, report->set_aside); !s.ok()) {
        return s;
      }
      return nullptr;
    }
    if (*whole < size) {
      if (absl::Status s = (*file)->Truncate(*whole); !s.ok()) return s;
      report->damage = damage;
      report->repaired_bytes = static_cast<uint64_t>(size - *whole);
      size = *whole;
    }
  }
  return std::unique_ptr<LogFile>(
      new LogFile(path, fs, *std::move(file), size, *info));
}

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
  const absl::Status status = file_->Append(
      absl::string_view(pending_.data(), pending_.size()), &written);
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
  if (sync_failed_) {
    return absl::DataLossError(absl::StrCat(
        "an earlier fdatasync of ", path_,
        " failed: what was written before it may not be on the disk"));
  }
  if (absl::Status s = file_->Sync(); !s.ok()) {
    sync_failed_ = true;
    return s;
  }
  synced_size_ = size_;
  constexpr off_t kPage = 4096;
  const off_t whole_pages = size_ / kPage * kPage;
  if (whole_pages > dropped_until_) {
    // Advice only: a failure changes nothing but memory use.
    file_->DropCache(dropped_until_, whole_pages - dropped_until_);
    dropped_until_ = whole_pages;
  }
  return absl::OkStatus();
}

absl::Status LogFile::SyncIfWritten() {
  return size_ == synced_size_ && !sync_failed_ ? absl::OkStatus() : Sync();
}

bool LogFile::Removed() const {
  absl::StatusOr<FileInfo> info = fs_->Stat(path_);
  return !info.ok() || !info->SameFile(identity_);
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
