#include "collector/relay_state.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "common/durable_file.h"
#include "glog/logging.h"

namespace ziggy {
absl::StatusOr<std::unique_ptr<RelayState>> RelayState::Recover(
    const std::string& root, CollectorStats* stats) {
  std::unique_ptr<RelayState> state(new RelayState(root, stats));
  const std::string bytes = ReadFileOrEmpty(absl::StrCat(root, "/", kFileName));
  if (bytes.empty()) return state;  // no forwarder was ever seen
  absl::StatusOr<Value> snapshot = DecodeDocument(bytes);
  if (!snapshot.ok()) {
    return absl::DataLossError(
        absl::StrCat(root, "/", kFileName, ": ", snapshot.status().message()));
  }
  state->active_ = true;
  if (const Value* forwarders = snapshot->Get("forwarders");
      forwarders != nullptr && forwarders->kind() == Value::Kind::kMap) {
    for (const auto& [id, mark] : forwarders->AsMap()) {
      if (mark.kind() == Value::Kind::kInt) {  // before tokens: {id: next}
        state->forwarders_[id].next = mark.AsInt();
        continue;
      }
      const Value* next = mark.Get("next");
      const Value* token = mark.Get("token");
      if (next == nullptr || next->kind() != Value::Kind::kInt) continue;
      ForwarderMark& m = state->forwarders_[id];
      m.next = next->AsInt();
      if (token != nullptr && token->kind() == Value::Kind::kString) {
        m.token = token->AsString();
      }
    }
  }
  state->RecoverNats(*snapshot);
  if (const Value* files = snapshot->Get("files");
      files != nullptr && files->kind() == Value::Kind::kMap) {
    for (const auto& [relative, length] : files->AsMap()) {
      if (length.kind() != Value::Kind::kInt ||
          absl::StrContains(relative, "..")) {
        continue;
      }
      const std::string path = absl::StrCat(root, "/", relative);
      state->lengths_[relative] = static_cast<off_t>(length.AsInt());
      state->snapshot_lengths_[relative] = static_cast<off_t>(length.AsInt());
      struct stat st;
      if (stat(path.c_str(), &st) != 0 || st.st_size <= length.AsInt())
        continue;
      // Written after the last checkpoint, never acknowledged: roll back.
      if (truncate(path.c_str(), static_cast<off_t>(length.AsInt())) != 0) {
        return ErrnoStatus("cannot roll back", path);
      }
      stats->rolled_back_bytes.fetch_add(
          static_cast<uint64_t>(st.st_size - length.AsInt()));
      LOG(WARNING) << "rolled " << path << " back from " << st.st_size << " to "
                   << length.AsInt()
                   << " bytes (unacknowledged since the last checkpoint)";
    }
  }
  state->PublishNames(state->snapshot_lengths_, /*replace=*/true);
  return state;
}

// The snapshot's `nats: {time, acks: [{seq, reply, timer, batch}]}`,
// written while NATS acks were committed and unconfirmed; absent in older
// snapshots (and `timer`, `batch` in those before them).
void RelayState::RecoverNats(const Value& snapshot) {
  const Value* nats = snapshot.Get("nats");
  if (nats == nullptr || nats->kind() != Value::Kind::kMap) return;
  const Value* time = nats->Get("time");
  if (time != nullptr && (time->kind() == Value::Kind::kDouble ||
                          time->kind() == Value::Kind::kInt)) {
    recovered_nats_time_ = time->AsDouble();
  }
  const Value* acks = nats->Get("acks");
  if (acks == nullptr || acks->kind() != Value::Kind::kList) return;
  absl::MutexLock lock(&nats_mu_);
  for (const Value& ack : acks->AsList()) {
    const Value* seq = ack.Get("seq");
    const Value* reply = ack.Get("reply");
    if (seq == nullptr || seq->kind() != Value::Kind::kInt ||
        seq->AsInt() <= 0 || reply == nullptr ||
        reply->kind() != Value::Kind::kString) {
      continue;
    }
    const uint64_t sequence = static_cast<uint64_t>(seq->AsInt());
    const Value* timer = ack.Get("timer");
    const Value* batch = ack.Get("batch");
    NatsOwed& owed = nats_[sequence];
    if (owed.count++ == 0) {
      owed.reply = reply->AsString();
      if (timer != nullptr && timer->kind() == Value::Kind::kDouble) {
        owed.timer_start = timer->AsDouble();
      }
      if (batch != nullptr && batch->kind() == Value::Kind::kString) {
        owed.batch = batch->AsString();
      }
      recovered_nats_.push_back(
          {sequence, owed.reply, owed.timer_start, owed.batch});
    }
  }
}

void RelayState::NatsAckConfirmed(uint64_t sequence) {
  absl::MutexLock lock(&nats_mu_);
  nats_confirmed_.push_back(sequence);
}

void RelayState::NatsAckTimerRestarted(uint64_t sequence, double time) {
  absl::MutexLock lock(&nats_mu_);
  const auto it = nats_.find(sequence);
  if (it != nats_.end()) {
    it->second.timer_start = std::max(it->second.timer_start, time);
  }
}

size_t RelayState::nats_unconfirmed() const {
  absl::MutexLock lock(&nats_mu_);
  return nats_.size();
}

void RelayState::TakeNatsConfirmations() {
  for (uint64_t sequence : nats_confirmed_) {
    const auto it = nats_.find(sequence);
    if (it != nats_.end() && --it->second.count <= 0) nats_.erase(it);
  }
  nats_confirmed_.clear();
}

void RelayState::AddNatsAcks(const std::vector<RelayAck>& acks, int delta) {
  absl::MutexLock lock(&nats_mu_);
  for (const RelayAck& ack : acks) {
    if (ack.nats_sequence == 0) continue;
    NatsOwed& owed = nats_[ack.nats_sequence];
    owed.reply = ack.identity;
    owed.count += delta;
    owed.timer_start = std::max(owed.timer_start, ack.nats_delivered);
    if (!ack.nats_batch.empty()) owed.batch = ack.nats_batch;
    if (owed.count <= 0) nats_.erase(ack.nats_sequence);
  }
}

// The unconfirmed NATS acks as the snapshot's `nats`; null when none.
Value RelayState::NatsSnapshot() {
  TakeNatsConfirmations();
  if (nats_.empty()) return Value();
  Value::List acks;
  acks.reserve(nats_.size());
  for (const auto& [sequence, owed] : nats_) {
    acks.emplace_back(Value::Map{{"seq", static_cast<int64_t>(sequence)},
                                 {"reply", owed.reply},
                                 {"timer", owed.timer_start},
                                 {"batch", owed.batch}});
  }
  return Value(Value::Map{
      {"time", absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch())},
      {"acks", Value(std::move(acks))}});
}

void RelayState::PublishNames(const Lengths& lengths, bool replace) {
  absl::MutexLock lock(&names_mu_);
  if (replace) names_.clear();
  for (const auto& [relative, length] : lengths) names_.insert(relative);
}

bool RelayState::Names(const std::string& path) const {
  const std::string relative = Relative(path);
  absl::MutexLock lock(&names_mu_);
  return names_.contains(relative);
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
  Value::Map snapshot{{"forwarders", Value(std::move(forwarders))},
                      {"files", Value(std::move(files))}};
  {
    absl::MutexLock lock(&nats_mu_);
    if (Value nats = NatsSnapshot(); nats.kind() != Value::Kind::kNull) {
      snapshot.emplace_back("nats", std::move(nats));
    }
  }
  // While it is written, either snapshot may be the one on disk.
  PublishNames(lengths, /*replace=*/false);
  absl::Status s = ReplaceFileDurably(
      root_, kFileName, EncodeDocument(Value(std::move(snapshot))));
  if (s.ok()) PublishNames(lengths, /*replace=*/true);
  return s;
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
  // The marks as they were, for a snapshot that fails: the next one written
  // (FileOpened's, beside the last checkpoint's lengths) must not carry
  // marks for events those lengths do not hold, or a crash would roll the
  // events back while their resend is taken for duplicates.
  std::vector<std::pair<std::string, std::optional<ForwarderMark>>> before;
  before.reserve(pending_.size());
  AddNatsAcks(pending_, +1);
  for (const RelayAck& ack : pending_) {
    if (ack.nats_sequence != 0) continue;  // NATS acks move no mark
    const auto it = forwarders_.find(ack.forwarder);
    before.emplace_back(ack.forwarder, it == forwarders_.end()
                                           ? std::nullopt
                                           : std::optional(it->second));
    ForwarderMark& mark = forwarders_[ack.forwarder];
    mark.next = std::max(mark.next, ack.end);
    mark.token = ack.token;
  }
  if (absl::Status s = WriteSnapshot(lengths_); !s.ok()) {
    AddNatsAcks(pending_, -1);
    // Latest first, so that a forwarder acknowledged twice ends as it was.
    for (auto it = before.rbegin(); it != before.rend(); ++it) {
      if (it->second.has_value()) {
        forwarders_[it->first] = *it->second;
      } else {
        forwarders_.erase(it->first);
      }
    }
    return s;
  }
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
