#include "common/durable_file.h"

#include "absl/strings/str_cat.h"

namespace ziggy {

absl::Status ReplaceFileDurably(const std::string& dir, const std::string& name,
                                absl::string_view bytes, mode_t mode,
                                FileSystem* fs) {
  const std::string tmp = absl::StrCat(dir, "/", name, ".tmp");
  OpenOptions options = OpenOptions::Append(/*create=*/true);
  options.truncate = true;
  options.mode = mode;
  absl::StatusOr<std::unique_ptr<File>> file = fs->Open(tmp, options);
  if (!file.ok()) return file.status();
  size_t written;
  if (absl::Status s = (*file)->Append(bytes, &written); !s.ok()) return s;
  if (absl::Status s = (*file)->Sync(); !s.ok()) return s;
  file->reset();  // closed before it is renamed
  if (absl::Status s = fs->Rename(tmp, absl::StrCat(dir, "/", name)); !s.ok()) {
    return s;
  }
  return fs->SyncDirectory(dir);
}

absl::Status MakeDirectories(const std::string& path, FileSystem* fs) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string dir = path.substr(0, slash);
    if (!dir.empty()) {
      const absl::Status s = fs->CreateDirectory(dir);
      if (!s.ok() && !absl::IsAlreadyExists(s)) return s;
    }
    if (slash == std::string::npos) return absl::OkStatus();
  }
}

std::string ReadFileOrEmpty(const std::string& path, FileSystem* fs) {
  absl::StatusOr<std::string> bytes = fs->ReadFile(path);
  return bytes.ok() ? *std::move(bytes) : std::string();
}

}  // namespace ziggy
