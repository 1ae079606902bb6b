#include "collector/event_store.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/type_name.h"
#include "glog/logging.h"

namespace ziggy {
namespace {

constexpr int64_t kSecondsPerDay = 86400;
constexpr size_t kMaxVerifiedSizes = 100000;

}  // namespace

EventStore::EventStore(StoreOptions options, CollectorStats* stats)
    : options_(std::move(options)), stats_(stats) {}

EventStore::~EventStore() { CloseAll(false); }

int64_t EventStore::BlockOf(absl::Time t) const {
  const int64_t seconds = absl::ToUnixSeconds(t);
  const int64_t day = seconds >= 0 ? seconds / kSecondsPerDay
                                   : (seconds + 1) / kSecondsPerDay - 1;
  const int64_t hour = (seconds - day * kSecondsPerDay) / 3600;
  return day * 24 + hour / options_.rotate_hours * options_.rotate_hours;
}

std::string EventStore::PathFor(absl::string_view type, absl::Time t) const {
  const int64_t block = BlockOf(t);
  const absl::Time day_start =
      absl::FromUnixSeconds(block / 24 * kSecondsPerDay);
  const std::string day =
      absl::FormatTime("%Y%m%d", day_start, absl::UTCTimeZone());
  const std::string hour =
      options_.rotate_hours < 24 ? absl::StrFormat("-%02d", block % 24) : "";
  return absl::StrCat(options_.root, "/", day, "/", TypeFileStem(type), "-",
                      day, hour, ".log");
}

std::unique_ptr<LogFile> EventStore::OpenFile(const std::string& path) {
  const auto verified = verified_sizes_.find(path);
  OpenReport report;
  absl::StatusOr<std::unique_ptr<LogFile>> file = LogFile::Open(
      path, verified == verified_sizes_.end() ? -1 : verified->second, &report);
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

bool EventStore::CloseFile(std::unique_ptr<LogFile>& file, bool sync) {
  if (file == nullptr) return true;
  FlushFile(*file);
  if (sync || on_close_) {
    if (absl::Status s = file->SyncIfWritten(); !s.ok()) {
      // Not durable: the file stays open (and out of any checkpoint's
      // "closed" record) until a sync succeeds.
      stats_->write_errors.fetch_add(1);
      LOG_EVERY_N(ERROR, 100) << s;
      return false;
    }
  }
  if (on_close_) on_close_(file->path(), file->size());
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
  file.reset();
  stats_->open_files.fetch_sub(1);
  return whole;
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
  old->MovePendingTo(file.get());
  slot.file = std::move(file);
}

LogFile* EventStore::FileFor(Slot& slot, absl::string_view type, absl::Time t) {
  const int64_t block = BlockOf(t);
  if (slot.file != nullptr && slot.block == block) return slot.file.get();
  // Rotation, once everything for the old file is written.
  if (slot.file != nullptr &&
      (slot.file->needs_repair() || !FlushFile(*slot.file) ||
       !CloseFile(slot.file, false))) {
    return nullptr;
  }
  if (stats_->open_files.load() >= options_.max_open_files) EvictOldest();
  slot.block = block;
  slot.file = OpenFile(PathFor(type, t));
  return slot.file.get();
}

bool EventStore::Append(absl::string_view type, absl::string_view doc,
                        absl::Time received) {
  if (pending_bytes_ + doc.size() > options_.max_pending_bytes) {
    LOG_EVERY_N(ERROR, 1000) << "event buffers full (" << pending_bytes_
                             << " bytes the disk refused): holding events";
    return false;
  }
  // Consecutive events mostly share their type: skip the hash then.
  if (last_slot_ == nullptr || last_type_ != type) {
    auto [it, inserted] = slots_.try_emplace(type);
    last_slot_ = &it->second;
    last_type_ = it->first;
  }
  Slot& slot = *last_slot_;
  LogFile* file = FileFor(slot, type, received);
  if (file == nullptr) {
    if (slot.file == nullptr) {
      slots_.erase(type);
      last_slot_ = nullptr;
    }
    return false;
  }
  slot.last_append = received;
  file->Append(doc);
  pending_bytes_ += doc.size();
  if (file->pending_bytes() >= options_.flush_bytes && !file->needs_repair()) {
    FlushFile(*file);
  }
  return true;
}

void EventStore::Tick(absl::Time now) {
  std::vector<std::string> idle;
  for (auto& [type, slot] : slots_) {
    if (slot.file == nullptr) {
      idle.push_back(type);
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
  last_slot_ = nullptr;
}

bool EventStore::SyncOpenFiles(
    std::vector<std::pair<std::string, off_t>>* lengths) {
  bool ok = true;
  for (auto& [type, slot] : slots_) {
    if (slot.file == nullptr) continue;
    if (slot.file->needs_repair()) Reopen(slot);
    ok = !slot.file->needs_repair() && FlushFile(*slot.file) && ok;
    if (absl::Status s = slot.file->SyncIfWritten(); !s.ok()) {
      stats_->write_errors.fetch_add(1);
      LOG_EVERY_N(ERROR, 100) << s;
      ok = false;
    }
    lengths->emplace_back(slot.file->path(), slot.file->size());
  }
  return ok;
}

bool EventStore::CloseAll(bool sync) {
  bool whole = true;
  for (auto& [type, slot] : slots_) {
    if (slot.file != nullptr && slot.file->needs_repair()) Reopen(slot);
    if (!CloseFile(slot.file, sync)) {
      whole = false;
      // Given up on: what it holds is counted as dropped.
      if (slot.file != nullptr) {
        stats_->dropped_write_error.fetch_add(slot.file->pending_records());
        slot.file.reset();
        stats_->open_files.fetch_sub(1);
      }
    }
  }
  slots_.clear();
  last_slot_ = nullptr;
  return whole;
}

}  // namespace ziggy
