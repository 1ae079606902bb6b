#include "common/fault_file_system.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ziggy {
namespace {

absl::Status Failure(const Fault& fault, absl::string_view what,
                     const std::string& path) {
  errno = fault.error;
  return ErrnoStatus(absl::StrCat(what, " (injected)"), path);
}

class FaultFile : public File {
 public:
  FaultFile(FaultFileSystem* fs, std::string path, std::unique_ptr<File> base)
      : fs_(fs), path_(std::move(path)), base_(std::move(base)) {}

  absl::Status Append(absl::string_view data, size_t* written) override {
    Fault fault;
    if (!fs_->ShouldFail(FaultOp::kAppend, path_, &fault)) {
      return base_->Append(data, written);
    }
    const size_t first = std::min(fault.write_first, data.size());
    if (absl::Status s = base_->Append(data.substr(0, first), written);
        !s.ok()) {
      return s;
    }
    return Failure(fault, "cannot write", path_);
  }

  absl::Status Read(uint64_t offset, size_t n, std::string* out) override {
    Fault fault;
    if (fs_->ShouldFail(FaultOp::kRead, path_, &fault)) {
      return Failure(fault, "cannot read", path_);
    }
    return base_->Read(offset, n, out);
  }

  absl::Status Sync() override {
    Fault fault;
    const uint64_t size = Size();
    if (fs_->ShouldFail(FaultOp::kSync, path_, &fault)) {
      fs_->SyncFailed(path_, size);
      return Failure(fault, "cannot sync", path_);
    }
    absl::Status status = base_->Sync();
    if (status.ok()) fs_->Synced(path_, size);
    return status;
  }

  absl::Status Truncate(uint64_t size) override {
    Fault fault;
    if (fs_->ShouldFail(FaultOp::kTruncate, path_, &fault)) {
      return Failure(fault, "cannot truncate", path_);
    }
    absl::Status status = base_->Truncate(size);
    if (status.ok()) fs_->Truncated(path_, size);
    return status;
  }

  absl::StatusOr<FileInfo> Stat() override { return base_->Stat(); }
  void DropCache(uint64_t offset, uint64_t length) override {
    base_->DropCache(offset, length);
  }

 private:
  uint64_t Size() {
    absl::StatusOr<FileInfo> info = base_->Stat();
    return info.ok() ? info->size : 0;
  }

  FaultFileSystem* const fs_;
  const std::string path_;
  const std::unique_ptr<File> base_;
};

}  // namespace

void FaultFileSystem::Inject(Fault fault) {
  absl::MutexLock lock(&mu_);
  faults_.push_back({std::move(fault), 0});
}

void FaultFileSystem::Clear() {
  absl::MutexLock lock(&mu_);
  faults_.clear();
}

int FaultFileSystem::injected() const {
  absl::MutexLock lock(&mu_);
  return injected_;
}

int FaultFileSystem::calls(FaultOp op) const {
  absl::MutexLock lock(&mu_);
  const auto it = calls_.find(op);
  return it == calls_.end() ? 0 : it->second;
}

bool FaultFileSystem::ShouldFail(FaultOp op, const std::string& path,
                                 Fault* fault) {
  absl::MutexLock lock(&mu_);
  ++calls_[op];
  for (Armed& armed : faults_) {
    const Fault& f = armed.fault;
    if (f.op != op || !absl::StrContains(path, f.path_contains)) continue;
    ++armed.seen;
    if (armed.seen > f.skip &&
        (f.times < 0 || armed.seen <= f.skip + f.times)) {
      ++injected_;
      *fault = f;
      return true;
    }
  }
  return false;
}

void FaultFileSystem::Synced(const std::string& path, uint64_t size) {
  absl::MutexLock lock(&mu_);
  files_[path].synced = size;
}

void FaultFileSystem::SyncFailed(const std::string& path, uint64_t size) {
  absl::MutexLock lock(&mu_);
  Durability& d = files_[path];
  if (size > d.synced) d.lost.emplace_back(d.synced, size);
}

void FaultFileSystem::Truncated(const std::string& path, uint64_t size) {
  absl::MutexLock lock(&mu_);
  const auto it = files_.find(path);
  if (it == files_.end()) return;  // never opened: nothing at risk
  Durability& d = it->second;
  d.synced = std::min(d.synced, size);
  for (auto& [from, to] : d.lost) {
    from = std::min(from, size);
    to = std::min(to, size);
  }
}

absl::Status FaultFileSystem::CrashFile(const std::string& path,
                                        const Durability& d) {
  absl::StatusOr<std::string> bytes = base_->ReadFile(path);
  if (!bytes.ok()) return absl::OkStatus();  // removed since
  std::string kept =
      bytes->substr(0, std::min<uint64_t>(d.synced, bytes->size()));
  for (const auto& [from, to] : d.lost) {
    for (uint64_t i = from; i < to && i < kept.size(); ++i) kept[i] = '\0';
  }
  OpenOptions options = OpenOptions::Append(/*create=*/false);
  options.truncate = true;
  absl::StatusOr<std::unique_ptr<File>> file = base_->Open(path, options);
  if (!file.ok()) return file.status();
  size_t written;
  return (*file)->Append(kept, &written);
}

absl::Status FaultFileSystem::SimulateCrash() {
  std::map<std::string, Durability> files;
  {
    absl::MutexLock lock(&mu_);
    files.swap(files_);
  }
  for (const auto& [path, durability] : files) {
    if (absl::Status s = CrashFile(path, durability); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<File>> FaultFileSystem::Open(
    const std::string& path, const OpenOptions& options) {
  absl::StatusOr<std::unique_ptr<File>> file = base_->Open(path, options);
  if (!file.ok()) return file.status();
  {
    // What was there before counts as durable.
    absl::StatusOr<FileInfo> info = (*file)->Stat();
    absl::MutexLock lock(&mu_);
    if (options.truncate) {
      files_[path] = Durability();
    } else if (info.ok() && files_.count(path) == 0) {
      files_[path].synced = info->size;
    }
  }
  return std::unique_ptr<File>(new FaultFile(this, path, *std::move(file)));
}

absl::StatusOr<std::string> FaultFileSystem::ReadFile(const std::string& path) {
  Fault fault;
  if (ShouldFail(FaultOp::kRead, path, &fault)) {
    return Failure(fault, "cannot read", path);
  }
  return base_->ReadFile(path);
}

absl::Status FaultFileSystem::Rename(const std::string& from,
                                     const std::string& to) {
  Fault fault;
  if (ShouldFail(FaultOp::kRename, from, &fault)) {
    return Failure(fault, "cannot rename", from);
  }
  absl::Status status = base_->Rename(from, to);
  if (!status.ok()) return status;
  absl::MutexLock lock(&mu_);
  files_.erase(to);
  if (auto it = files_.find(from); it != files_.end()) {
    files_[to] = it->second;
    files_.erase(from);
  }
  return status;
}

absl::Status FaultFileSystem::Truncate(const std::string& path, uint64_t size) {
  Fault fault;
  if (ShouldFail(FaultOp::kTruncate, path, &fault)) {
    return Failure(fault, "cannot truncate", path);
  }
  absl::Status status = base_->Truncate(path, size);
  if (status.ok()) Truncated(path, size);
  return status;
}

absl::Status FaultFileSystem::Remove(const std::string& path) {
  absl::Status status = base_->Remove(path);
  absl::MutexLock lock(&mu_);
  files_.erase(path);
  return status;
}

absl::StatusOr<std::vector<std::string>> FaultFileSystem::ListDirectory(
    const std::string& dir) {
  return base_->ListDirectory(dir);
}

absl::StatusOr<FileInfo> FaultFileSystem::Stat(const std::string& path) {
  return base_->Stat(path);
}

absl::Status FaultFileSystem::CreateDirectory(const std::string& path) {
  return base_->CreateDirectory(path);
}

absl::Status FaultFileSystem::SyncDirectory(const std::string& dir) {
  return base_->SyncDirectory(dir);
}

}  // namespace ziggy
