#include "collector/relay_state.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/base/internal/endian.h"
#include "absl/hash/internal/city.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "common/durable_file.h"
#include "common/file_system.h"
#include "glog/logging.h"

namespace ziggy {
namespace {

constexpr size_t kChecksumBytes = 8;

// CityHash64 (a fixed function, unseeded): enough to tell a torn slot from
// a whole one.
uint64_t Checksum(absl::string_view bytes) {
  return absl::hash_internal::CityHash64(bytes.data(), bytes.size());
}

// What one slot file holds, if it is sound.
struct Slot {
  bool sound = false;
  int64_t seq = 0;
  Value snapshot;
};

Slot ParseSlot(absl::string_view bytes) {
  Slot slot;
  if (bytes.size() < 5 + kChecksumBytes) return slot;
  const uint32_t length = absl::little_endian::Load32(bytes.data());
  if (length < 5 || length > bytes.size() - kChecksumBytes) return slot;
  const absl::string_view doc = bytes.substr(0, length);
  if (absl::little_endian::Load64(bytes.data() + length) != Checksum(doc)) {
    return slot;
  }
  absl::StatusOr<Value> value = DecodeDocument(doc);
  if (!value.ok()) return slot;
  const Value* seq = value->Get("seq");
  if (seq == nullptr || seq->kind() != Value::Kind::kInt) return slot;
  slot.sound = true;
  slot.seq = seq->AsInt();
  slot.snapshot = *std::move(value);
  return slot;
}

// Reads both slots under `root` into slots[]; the index of the sound one
// with the higher seq, or -1.
int LatestSlot(const std::string& root, Slot slots[2]) {
  int latest = -1;
  for (int i = 0; i < 2; ++i) {
    slots[i] = ParseSlot(
        ReadFileOrEmpty(absl::StrCat(root, "/", RelayState::kSlotNames[i])));
    if (slots[i].sound && (latest < 0 || slots[i].seq > slots[latest].seq)) {
      latest = i;
    }
  }
  return latest;
}

}  // namespace

std::string RelayState::SlotBytes(absl::string_view snapshot) {
  std::string bytes(snapshot);
  char checksum[kChecksumBytes];
  absl::little_endian::Store64(checksum, Checksum(snapshot));
  bytes.append(checksum, kChecksumBytes);
  return bytes;
}

absl::StatusOr<Value> RelayState::ReadSnapshot(const std::string& root) {
  Slot slots[2];
  const int latest = LatestSlot(root, slots);
  if (latest >= 0) return std::move(slots[latest].snapshot);
  const std::string bytes = ReadFileOrEmpty(absl::StrCat(root, "/", kFileName));
  if (bytes.empty()) return absl::NotFoundError("no relay checkpoint");
  absl::StatusOr<Value> snapshot = DecodeDocument(bytes);
  if (!snapshot.ok()) {
    return absl::DataLossError(
        absl::StrCat(root, "/", kFileName, ": ", snapshot.status().message()));
  }
  return snapshot;
}

absl::StatusOr<std::unique_ptr<RelayState>> RelayState::Recover(
    const std::string& root, CollectorStats* stats) {
  std::unique_ptr<RelayState> state(new RelayState(root, stats));
  Slot slots[2];
  if (const int latest = LatestSlot(root, slots); latest >= 0) {
    // The next snapshot goes over the other slot, never over this one.
    state->seq_ = slots[latest].seq + 1;
    state->next_slot_ = 1 - latest;
  }
  absl::StatusOr<Value> snapshot = ReadSnapshot(root);
  if (absl::IsNotFound(snapshot.status())) return state;  // none ever seen
  if (!snapshot.ok()) return snapshot.status();
  if (absl::Status s = state->Restore(*snapshot); !s.ok()) return s;
  return state;
}

RelayState::~RelayState() {
  for (const int fd : slot_fds_) {
    if (fd >= 0) close(fd);
  }
}

absl::Status RelayState::Restore(const Value& snapshot) {
  active_ = true;
  if (const Value* forwarders = snapshot.Get("forwarders");
      forwarders != nullptr && forwarders->kind() == Value::Kind::kMap) {
    for (const auto& [id, mark] : forwarders->AsMap()) {
      if (mark.kind() == Value::Kind::kInt) {  // before tokens: {id: next}
        forwarders_[id].next = mark.AsInt();
        continue;
      }
      const Value* next = mark.Get("next");
      const Value* token = mark.Get("token");
      if (next == nullptr || next->kind() != Value::Kind::kInt) continue;
      ForwarderMark& m = forwarders_[id];
      m.next = next->AsInt();
      if (token != nullptr && token->kind() == Value::Kind::kString) {
        m.token = token->AsString();
      }
    }
  }
  if (const Value* files = snapshot.Get("files");
      files != nullptr && files->kind() == Value::Kind::kMap) {
    for (const auto& [relative, length] : files->AsMap()) {
      if (length.kind() != Value::Kind::kInt ||
          absl::StrContains(relative, "..")) {
        continue;
      }
      const std::string path = absl::StrCat(root_, "/", relative);
      lengths_[relative] = static_cast<off_t>(length.AsInt());
      snapshot_lengths_[relative] = static_cast<off_t>(length.AsInt());
      struct stat st;
      if (stat(path.c_str(), &st) != 0 || st.st_size <= length.AsInt())
        continue;
      // Written after the last checkpoint, never acknowledged: roll back.
      if (truncate(path.c_str(), static_cast<off_t>(length.AsInt())) != 0) {
        return ErrnoStatus("cannot roll back", path);
      }
      stats_->rolled_back_bytes.fetch_add(
          static_cast<uint64_t>(st.st_size - length.AsInt()));
      LOG(WARNING) << "rolled " << path << " back from " << st.st_size << " to "
                   << length.AsInt()
                   << " bytes (unacknowledged since the last checkpoint)";
    }
  }
  return absl::OkStatus();
}

std::string RelayState::Relative(const std::string& path) const {
  return absl::StartsWith(path, root_ + "/") ? path.substr(root_.size() + 1)
                                             : path;
}

absl::Status RelayState::WriteSnapshot(const Lengths& lengths) {
  Value::Map forwarders, files;
  for (const auto& [id, mark] : forwarders_) {
    forwarders.emplace_back(
        id, Value(Value::Map{{"next", mark.next}, {"token", mark.token}}));
  }
  for (const auto& [path, length] : lengths) {
    files.emplace_back(path, static_cast<int64_t>(length));
  }
  return WriteSlot(SlotBytes(EncodeDocument(
      Value(Value::Map{{"forwarders", Value(std::move(forwarders))},
                       {"files", Value(std::move(files))},
                       {"seq", seq_}}))));
}

absl::Status RelayState::OpenSlots() {
  if (slot_fds_[0] >= 0 && slot_fds_[1] >= 0) return absl::OkStatus();
  bool created = false;
  for (int i = 0; i < 2; ++i) {
    if (slot_fds_[i] >= 0) continue;
    const std::string path = absl::StrCat(root_, "/", kSlotNames[i]);
    int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
      fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      created = true;
    }
    if (fd < 0) return ErrnoStatus("cannot open", path);
    slot_fds_[i] = fd;
  }
  // New names survive a crash only once their directory is synced.
  if (created) return FileSystem::Default()->SyncDirectory(root_);
  return absl::OkStatus();
}

absl::Status RelayState::WriteSlot(const std::string& bytes) {
  if (absl::Status s = OpenSlots(); !s.ok()) return s;
  const std::string path = absl::StrCat(root_, "/", kSlotNames[next_slot_]);
  const int fd = slot_fds_[next_slot_];
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = pwrite(fd, bytes.data() + done, bytes.size() - done,
                             static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot write", path);
    done += static_cast<size_t>(n);
  }
  // Until this succeeds the slot may be torn: the next try writes it again
  // (the other one holds the last checkpoint).
  if (fdatasync(fd) != 0) return ErrnoStatus("cannot sync", path);
  next_slot_ = 1 - next_slot_;
  ++seq_;
  if (legacy_) {
    // The single snapshot file of older versions: a slot supersedes it.
    unlink(absl::StrCat(root_, "/", kFileName).c_str());
    legacy_ = false;
  }
  return absl::OkStatus();
}

void RelayState::FileOpened(const std::string& path, off_t size) {
  // A length already recorded is never raised here: what lies past it is
  // durable only once a checkpoint says so, and a file reopened (after an
  // idle close whose sync failed, a repair, an eviction) may hold events
  // no checkpoint covers. A file replaced or cut meanwhile only shrinks.
  // Not Commit's lengths_ (a file closed since the last Commit is there at
  // its closing length) but the last snapshot's, plus this file: the marks
  // written beside them are the last Commit's.
  for (Lengths* lengths : {&lengths_, &snapshot_lengths_}) {
    const auto [it, inserted] = lengths->try_emplace(Relative(path), size);
    if (!inserted) it->second = std::min(it->second, size);
  }
  open_.insert(Relative(path));
  if (!active_) return;
  if (absl::Status s = WriteSnapshot(snapshot_lengths_); !s.ok()) {
    stats_->write_errors.fetch_add(1);
    LOG(ERROR) << "relay checkpoint: " << s;
  }
}

void RelayState::FileClosed(const std::string& path, off_t size) {
  open_.erase(Relative(path));
  // Until a forwarder is seen no snapshot is written, so none needs a
  // closed file's length (and remembering each would grow per type).
  if (active_) {
    lengths_[Relative(path)] = size;
  } else {
    lengths_.erase(Relative(path));
    snapshot_lengths_.erase(Relative(path));
  }
}

void RelayState::Forget(const std::vector<std::string>& ids) {
  for (const std::string& id : ids) forwarders_.erase(id);
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
    ForwarderMark& mark = forwarders_[ack.forwarder];
    mark.next = std::max(mark.next, ack.end);
    mark.token = ack.token;
  }
  if (absl::Status s = WriteSnapshot(lengths_); !s.ok()) return s;
  stats_->checkpoints.fetch_add(1);
  // Closed files are in this snapshot with their final, synced length:
  // later snapshots need not carry them.
  for (auto it = lengths_.begin(); it != lengths_.end();) {
    auto current = it++;
    if (!open_.contains(current->first)) lengths_.erase(current);
  }
  snapshot_lengths_ = lengths_;
  for (RelayAck& ack : pending_) acked->push_back(std::move(ack));
  pending_.clear();
  return absl::OkStatus();
}

}  // namespace ziggy
