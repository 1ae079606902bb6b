#include "collector/event_store.h"

#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client/format/log_layout.h"
#include "client/format/swar.h"
#include "client/format/type_name.h"
#include "collector/zst_compress.h"
#include "glog/logging.h"

namespace ziggy {
namespace {

constexpr int64_t kSecondsPerDay = 86400;
constexpr size_t kMaxVerifiedSizes = 100000;
// After a failed open, waiting files are tried again no sooner than this.
constexpr absl::Duration kOpenRetryDelay = absl::Milliseconds(100);

// Days since 1970 of a block (rounding down before 1970 too).
int64_t DayOf(int64_t block) {
  return block >= 0 ? block / 24 : (block - 23) / 24;
}

}  // namespace

void OpenFileSet::Add(const std::string& path) {
  absl::MutexLock lock(&mu_);
  while (claimed_.contains(path)) {
    wanted_.insert(path);
    released_.Wait(&mu_);
  }
  wanted_.erase(path);
  ++open_[path];
}

void OpenFileSet::Remove(const std::string& path) {
  absl::MutexLock lock(&mu_);
  const auto it = open_.find(path);
  if (it != open_.end() && --it->second <= 0) open_.erase(it);
}

bool OpenFileSet::Contains(const std::string& path) const {
  absl::MutexLock lock(&mu_);
  return open_.contains(path);
}

bool OpenFileSet::TryClaim(const std::string& path) {
  absl::MutexLock lock(&mu_);
  return !open_.contains(path) && claimed_.insert(path).second;
}

void OpenFileSet::Release(const std::string& path) {
  absl::MutexLock lock(&mu_);
  claimed_.erase(path);
  released_.SignalAll();
}

bool OpenFileSet::Wanted(const std::string& path) const {
  absl::MutexLock lock(&mu_);
  return wanted_.contains(path);
}

EventStore::EventStore(StoreOptions options, CollectorStats* stats)
    : options_(std::move(options)), stats_(stats) {}

EventStore::~EventStore() { CloseAll(false); }

int64_t EventStore::BlockOf(absl::Time t) {
  if (t != last_time_) {
    last_block_ = Block(t);
    last_time_ = t;
  }
  return last_block_;
}

int64_t EventStore::Block(absl::Time t) const {
  const int64_t seconds = absl::ToUnixSeconds(t);
  const int64_t day = seconds >= 0 ? seconds / kSecondsPerDay
                                   : (seconds + 1) / kSecondsPerDay - 1;
  const int64_t hour = (seconds - day * kSecondsPerDay) / 3600;
  return day * 24 + hour / options_.rotate_hours * options_.rotate_hours;
}

std::string EventStore::PathFor(absl::string_view type, absl::Time t) const {
  return PathOf(type, Block(t));
}

std::string EventStore::PathOf(absl::string_view key, int64_t block) const {
  const std::string stem =
      key.empty() ? std::string(kOverflowStem) : TypeFileStem(key);
  return LogFilePath(options_.root, stem, absl::FromUnixSeconds(block * 3600),
                     options_.rotate_hours < 24);
}

std::unique_ptr<LogFile> EventStore::OpenFile(const std::string& path) {
  // Counted open before anything touches it (waiting out a lifecycle claim).
  if (options_.open_files != nullptr) options_.open_files->Add(path);
  std::unique_ptr<LogFile> file = OpenClaimed(path);
  if (file == nullptr && options_.open_files != nullptr) {
    options_.open_files->Remove(path);
  }
  return file;
}

std::unique_ptr<LogFile> EventStore::OpenClaimed(const std::string& path) {
  // The clock came back into a day whose file was compressed: its events
  // come back first, or the new ones would hide them.
  CompressOptions restore;
  restore.fs = options_.fs;
  uint64_t restored = 0;
  if (absl::Status s = RestoreCompressedTwin(path, restore, &restored);
      !s.ok()) {
    stats_->write_errors.fetch_add(1);
    LOG_EVERY_N(ERROR, 100)
        << "cannot append to " << path << ", compressed before: " << s;
    return nullptr;
  }
  if (restored > 0) {
    LOG(WARNING) << "the clock came back to the day of " << path
                 << ": decompressed it again (" << restored << " bytes)";
  }
  const auto verified = verified_sizes_.find(path);
  OpenReport report;
  absl::StatusOr<std::unique_ptr<LogFile>> file = LogFile::Open(
      path, verified == verified_sizes_.end() ? -1 : verified->second, &report,
      options_.fs);
  if (!report.set_aside.empty()) {
    stats_->corrupt_files.fetch_add(1);
    LOG(ERROR) << "damaged event file set aside as " << report.set_aside << " ("
               << report.damage << "); starting a new " << path;
  } else if (report.repaired_bytes > 0) {
    stats_->repaired_tails.fetch_add(1);
    stats_->repaired_bytes.fetch_add(report.repaired_bytes);
    LOG(WARNING) << "repaired " << path << ": truncated "
                 << report.repaired_bytes << " bytes of a torn last record ("
                 << report.damage << ")";
  }
  if (!file.ok()) {
    stats_->write_errors.fetch_add(1);
    LOG_EVERY_N(ERROR, 100) << file.status();
    return nullptr;
  }
  stats_->open_files.fetch_add(1);
  if (on_open_) on_open_(path, (*file)->size());
  return *std::move(file);
}

bool EventStore::SyncFile(LogFile& file) {
  const bool failed_before = file.sync_failed();
  const absl::Status s = file.SyncIfWritten();
  if (s.ok()) return true;
  if (failed_before) return false;  // counted when it failed
  stats_->write_errors.fetch_add(1);
  LOG_EVERY_N(ERROR, 100) << s;
  if (file.sync_failed() && !durability_lost_) {
    durability_lost_ = true;
    LOG(ERROR) << "a failed sync leaves what was written unsure: no relay "
               << "checkpoint is recorded any more; a restart rolls the "
               << "files back to the last one";
  }
  return false;
}

bool EventStore::CloseFile(std::unique_ptr<LogFile>& file, bool sync) {
  if (file == nullptr) return true;
  FlushFile(*file);
  const bool durable = !(sync || on_close_) || SyncFile(*file);
  // Once durability is lost no closed length is reported either: a
  // checkpoint's record of the file keeps it at its last checkpointed
  // length, which a restart rolls it back to.
  if (on_close_ && durable && !durability_lost_) {
    on_close_(file->path(), file->size());
  }
  const bool whole = file->pending_records() == 0;
  if (!whole) {
    stats_->dropped_write_error.fetch_add(file->pending_records());
    pending_bytes_ -= file->pending_bytes();
    LOG(ERROR) << "closing " << file->path() << " with "
               << file->pending_records() << " events unwritten";
  } else if (!file->needs_repair()) {
    if (verified_sizes_.size() >= kMaxVerifiedSizes) verified_sizes_.clear();
    verified_sizes_[file->path()] = file->size();
  }
  if (options_.open_files != nullptr) options_.open_files->Remove(file->path());
  file.reset();
  stats_->open_files.fetch_sub(1);
  return whole && durable;
}

bool EventStore::FlushFile(LogFile& file) {
  const size_t before = file.pending_bytes();
  const absl::Status status = file.Flush();
  pending_bytes_ -= before - file.pending_bytes();
  stats_->written.fetch_add(file.last_flushed_records());
  stats_->written_bytes.fetch_add(before - file.pending_bytes());
  if (!status.ok()) {
    stats_->write_errors.fetch_add(1);
    LOG_EVERY_N(ERROR, 100) << status;
  }
  return status.ok();
}

void EventStore::EvictOldest() {
  Slot* oldest = nullptr;
  for (auto& [type, slot] : slots_) {
    if (slot.file != nullptr && !slot.file->needs_repair() &&
        (oldest == nullptr || slot.last_append < oldest->last_append)) {
      oldest = &slot;
    }
  }
  if (oldest != nullptr && FlushFile(*oldest->file)) {
    CloseFile(oldest->file, false);
  }
}

void EventStore::Reopen(Slot& slot) {
  std::unique_ptr<LogFile> old = std::move(slot.file);
  const std::string path = old->path();
  verified_sizes_.erase(path);
  stats_->open_files.fetch_sub(1);
  std::unique_ptr<LogFile> file = OpenFile(path);
  if (file == nullptr) {
    stats_->open_files.fetch_add(1);
    slot.file = std::move(old);  // try again at the next tick
    return;
  }
  stats_->reopened_files.fetch_add(1);
  if (options_.open_files != nullptr) options_.open_files->Remove(path);
  old->MovePendingTo(file.get());
  slot.file = std::move(file);
}

bool EventStore::Admit(absl::string_view type, int64_t block) {
  if (DayOf(block) != today_) {
    today_ = DayOf(block);
    types_today_.clear();
  }
  std::string stem = TypeFileStem(type);
  if (types_today_.contains(stem)) return true;
  if (types_today_.size() >= options_.max_types_per_day) return false;
  types_today_.insert(std::move(stem));
  stats_->types_today.store(types_today_.size());
  return true;
}

EventStore::Slot& EventStore::SlotFor(absl::string_view type, int64_t block) {
  // Events mostly share their type with one of the last two: skip the
  // hash then.
  if (recent_[0].slot != nullptr && SameString(recent_[0].type, type) &&
      recent_[0].slot->block == block) {
    return *recent_[0].slot;
  }
  if (recent_[1].slot != nullptr && SameString(recent_[1].type, type) &&
      recent_[1].slot->block == block) {
    std::swap(recent_[0], recent_[1]);
    return *recent_[0].slot;
  }
  auto it = slots_.find(type);
  if ((it == slots_.end() || it->second.block != block) &&
      !Admit(type, block)) {
    const uint64_t overflowed = stats_->overflowed.fetch_add(1) + 1;
    LOG_EVERY_T(WARNING, 10)
        << "more than " << options_.max_types_per_day
        << " event types today: events of new types (such as '"
        << absl::CHexEscape(type.substr(0, 100)) << "') go to "
        << PathOf("", block) << " (" << overflowed << " so far)";
    recent_[0] = Recent();  // Append() takes the overflow's key from it
    return slots_[""];
  }
  if (it == slots_.end()) it = slots_.try_emplace(type).first;
  if (recent_[0].slot != &it->second) recent_[1] = recent_[0];
  recent_[0] = {it->first, &it->second};
  return it->second;
}

void EventStore::ForgetRecent() { recent_[0] = recent_[1] = Recent(); }

bool EventStore::OpenNow(absl::string_view key, Slot& slot) {
  if (stats_->open_files.load() >= options_.max_open_files) EvictOldest();
  slot.file = OpenFile(PathOf(key, slot.block));
  if (slot.file == nullptr) return false;
  size_t at = 0;
  for (const uint32_t size : slot.waiting_sizes) {
    slot.file->Append(absl::string_view(slot.waiting).substr(at, size));
    at += size;
  }
  StopWaiting(slot);
  if (slot.file->pending_bytes() >= options_.flush_bytes) FlushFile(*slot.file);
  return true;
}

absl::Time EventStore::waiting_since() const {
  if (waiting_blocks_.empty()) return absl::InfiniteFuture();
  return absl::FromUnixSeconds(*waiting_blocks_.begin() * 3600);
}

void EventStore::StopWaiting(Slot& slot) {
  if (!slot.waiting_sizes.empty()) {
    waiting_blocks_.erase(waiting_blocks_.find(slot.block));
  }
  waiting_events_ -= slot.waiting_sizes.size();
  waiting_tickets_.erase(slot.first_waiting_ticket);
  slot.waiting_sizes.clear();
  std::string().swap(slot.waiting);
}

bool EventStore::Rotate(absl::string_view key, Slot& slot, int64_t block) {
  // Once everything for the old block is written.
  if (!slot.waiting_sizes.empty() && !OpenNow(key, slot)) return false;
  if (slot.file != nullptr &&
      (slot.file->needs_repair() || !FlushFile(*slot.file))) {
    return false;
  }
  CloseFile(slot.file, false);  // written: closed even if its sync fails
  slot.block = block;
  return true;
}

bool EventStore::Append(absl::string_view type, absl::string_view doc,
                        absl::Time received) {
  if (pending_bytes_ + doc.size() > options_.max_pending_bytes) {
    LOG_EVERY_N(ERROR, 1000) << "event buffers full (" << pending_bytes_
                             << " bytes the disk refused or waiting for "
                             << "their files): holding events";
    return false;
  }
  const int64_t block = BlockOf(received);
  Slot& slot = SlotFor(type, block);
  const absl::string_view key = &slot == recent_[0].slot ? recent_[0].type : "";
  if (slot.block != block && !Rotate(key, slot, block)) return false;
  slot.last_append = received;
  pending_bytes_ += doc.size();
  const uint64_t ticket = next_ticket_++;
  if (slot.file == nullptr) {
    if (slot.waiting_sizes.empty()) {
      to_open_.emplace_back(key);
      slot.first_waiting_ticket = ticket;
      waiting_tickets_.insert(ticket);
      waiting_blocks_.insert(block);
    }
    slot.waiting.append(doc.data(), doc.size());
    slot.waiting_sizes.push_back(static_cast<uint32_t>(doc.size()));
    ++waiting_events_;
    return true;
  }
  slot.file->Append(doc);
  if (slot.file->pending_bytes() >= options_.flush_bytes &&
      !slot.file->needs_repair()) {
    FlushFile(*slot.file);
  }
  return true;
}

bool EventStore::has_files_to_open() const {
  return !to_open_.empty() && absl::Now() >= next_open_try_;
}

void EventStore::OpenWaitingFiles(absl::Duration budget) {
  const absl::Time deadline = absl::Now() + budget;
  bool opened = false;
  while (has_files_to_open() && !(opened && absl::Now() >= deadline)) {
    const std::string key = std::move(to_open_.front());
    to_open_.pop_front();
    auto it = slots_.find(key);
    if (it == slots_.end() || it->second.waiting_sizes.empty()) continue;
    if (!OpenNow(key, it->second)) {
      to_open_.push_back(key);
      next_open_try_ = absl::Now() + kOpenRetryDelay;
      return;
    }
    opened = true;
  }
}

void EventStore::Tick(absl::Time now) {
  next_open_try_ = absl::InfinitePast();
  OpenWaitingFiles();
  std::vector<std::string> idle;
  for (auto& [type, slot] : slots_) {
    if (slot.file == nullptr) {
      if (slot.waiting_sizes.empty()) idle.push_back(type);
      continue;
    }
    if (slot.file->needs_repair() || slot.file->Removed()) {
      if (!slot.file->needs_repair()) {
        LOG(WARNING) << slot.file->path() << " was removed or replaced; "
                     << "reopening it";
      }
      Reopen(slot);
    }
    if (!slot.file->needs_repair()) FlushFile(*slot.file);
    if (slot.file->pending_records() == 0 &&
        now - slot.last_append >= options_.idle_close &&
        CloseFile(slot.file, false)) {
      idle.push_back(type);
    }
  }
  for (const std::string& type : idle) slots_.erase(type);
  ForgetRecent();
}

bool EventStore::SyncOpenFiles(
    std::vector<std::pair<std::string, off_t>>* lengths) {
  bool ok = true;
  for (auto& [type, slot] : slots_) {
    if (slot.file == nullptr) continue;
    if (slot.file->needs_repair()) Reopen(slot);
    ok = !slot.file->needs_repair() && FlushFile(*slot.file) && ok;
    ok = SyncFile(*slot.file) && ok;
    lengths->emplace_back(slot.file->path(), slot.file->size());
  }
  return ok && !durability_lost_;
}

bool EventStore::CloseAll(bool sync) {
  // Every waiting file gets its try (one that cannot open must not cost
  // the others their events).
  for (auto& [type, slot] : slots_) {
    if (!slot.waiting_sizes.empty()) OpenNow(type, slot);
  }
  to_open_.clear();
  bool whole = true;
  for (auto& [type, slot] : slots_) {
    if (!slot.waiting_sizes.empty()) {
      // Their files could not be opened: given up on, counted as dropped.
      whole = false;
      stats_->dropped_write_error.fetch_add(slot.waiting_sizes.size());
      pending_bytes_ -= slot.waiting.size();
      StopWaiting(slot);
    }
    if (slot.file != nullptr && slot.file->needs_repair()) Reopen(slot);
    // Given up on: what it could not write is counted as dropped.
    if (!CloseFile(slot.file, sync)) whole = false;
  }
  slots_.clear();
  to_open_.clear();
  ForgetRecent();
  return whole;
}

}  // namespace ziggy
