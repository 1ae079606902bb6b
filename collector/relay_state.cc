#include "collector/relay_state.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/event.h"
#include "glog/logging.h"

namespace ziggy {
namespace {

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat(what, " ", path, ": ", strerror(errno)));
}

absl::Status WriteDurably(const std::string& dir, const std::string& name,
                          absl::string_view bytes) {
  const std::string tmp = absl::StrCat(dir, "/", name, ".tmp");
  const std::string path = absl::StrCat(dir, "/", name);
  const int fd =
      open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp);
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return Errno("cannot write", tmp);
    }
    written += static_cast<size_t>(n);
  }
  if (fdatasync(fd) != 0) {
    close(fd);
    return Errno("cannot sync", tmp);
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0)
    return Errno("cannot rename", tmp);
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    fsync(dir_fd);
    close(dir_fd);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RelayState>> RelayState::Recover(
    const std::string& root, CollectorStats* stats) {
  std::unique_ptr<RelayState> state(new RelayState(root, stats));
  std::ifstream in(absl::StrCat(root, "/", kFileName), std::ios::binary);
  if (!in) return state;  // no forwarder was ever seen
  std::ostringstream bytes;
  bytes << in.rdbuf();
  absl::StatusOr<Value> snapshot = DecodeDocument(bytes.str());
  if (!snapshot.ok()) {
    return absl::DataLossError(
        absl::StrCat(root, "/", kFileName, ": ", snapshot.status().message()));
  }
  state->active_ = true;
  if (const Value* forwarders = snapshot->Get("forwarders");
      forwarders != nullptr && forwarders->kind() == Value::Kind::kMap) {
    for (const auto& [id, next] : forwarders->AsMap()) {
      if (next.kind() == Value::Kind::kInt) state->next_[id] = next.AsInt();
    }
  }
  if (const Value* files = snapshot->Get("files");
      files != nullptr && files->kind() == Value::Kind::kMap) {
    for (const auto& [relative, length] : files->AsMap()) {
      if (length.kind() != Value::Kind::kInt ||
          absl::StrContains(relative, "..")) {
        continue;
      }
      const std::string path = absl::StrCat(root, "/", relative);
      state->lengths_[relative] = static_cast<off_t>(length.AsInt());
      struct stat st;
      if (stat(path.c_str(), &st) != 0 || st.st_size <= length.AsInt())
        continue;
      // Written after the last checkpoint, never acknowledged: roll back.
      if (truncate(path.c_str(), static_cast<off_t>(length.AsInt())) != 0) {
        return Errno("cannot roll back", path);
      }
      stats->rolled_back_bytes.fetch_add(
          static_cast<uint64_t>(st.st_size - length.AsInt()));
      LOG(WARNING) << "rolled " << path << " back from " << st.st_size << " to "
                   << length.AsInt()
                   << " bytes (unacknowledged since the last checkpoint)";
    }
  }
  return state;
}

std::string RelayState::Relative(const std::string& path) const {
  return absl::StartsWith(path, root_ + "/") ? path.substr(root_.size() + 1)
                                             : path;
}

absl::Status RelayState::WriteSnapshot() {
  Value::Map forwarders, files;
  for (const auto& [id, next] : next_) forwarders.emplace_back(id, next);
  for (const auto& [path, length] : lengths_) {
    files.emplace_back(path, static_cast<int64_t>(length));
  }
  return WriteDurably(root_, kFileName,
                      EncodeDocument(Value(Value::Map{
                          {"forwarders", Value(std::move(forwarders))},
                          {"files", Value(std::move(files))}})));
}

void RelayState::FileOpened(const std::string& path, off_t size) {
  lengths_[Relative(path)] = size;
  if (!active_) return;
  if (absl::Status s = WriteSnapshot(); !s.ok()) {
    stats_->write_errors.fetch_add(1);
    LOG(ERROR) << "relay checkpoint: " << s;
  }
}

void RelayState::FileClosed(const std::string& path, off_t size) {
  lengths_[Relative(path)] = size;
}

void RelayState::AddAcks(std::vector<RelayAck> acks) {
  if (acks.empty()) return;
  active_ = true;
  for (RelayAck& ack : acks) pending_.push_back(std::move(ack));
}

absl::Status RelayState::Commit(
    const std::vector<std::pair<std::string, off_t>>& lengths,
    std::vector<RelayAck>* acked) {
  for (const auto& [path, length] : lengths) lengths_[Relative(path)] = length;
  for (const RelayAck& ack : pending_) {
    int64_t& next = next_[ack.forwarder];
    next = std::max(next, ack.end);
  }
  if (absl::Status s = WriteSnapshot(); !s.ok()) return s;
  stats_->checkpoints.fetch_add(1);
  for (RelayAck& ack : pending_) acked->push_back(std::move(ack));
  pending_.clear();
  return absl::OkStatus();
}

}  // namespace ziggy
