#include "forwarder/spool.h"

#include <pthread.h>
#include <string.h>

#include <algorithm>
#include <random>
#include <utility>

#include "absl/base/internal/endian.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "common/durable_file.h"
#include "glog/logging.h"

namespace ziggy {
namespace {

constexpr size_t kHeader = kSpoolRecordHeader;
constexpr size_t kReadChunk = 1 << 20;
// How far ahead indexes are reserved (see Reserve()): an unclean stop skips
// at most this many.
constexpr int64_t kReserve = int64_t{1} << 24;
constexpr char kReservedFile[] = "reserved";

// An integer field of a small BSON mark file; 0 when absent or unreadable.
int64_t ReadMark(FileSystem* fs, const std::string& dir, const char* file,
                 const char* key) {
  absl::StatusOr<Value> mark =
      DecodeDocument(ReadFileOrEmpty(absl::StrCat(dir, "/", file), fs));
  if (!mark.ok() || mark->Get(key) == nullptr ||
      mark->Get(key)->kind() != Value::Kind::kInt) {
    return 0;
  }
  return mark->Get(key)->AsInt();
}

// Staged records are written once they reach this size.
constexpr size_t kMaxStaged = 256 << 10;
// Buffers of dropped Recent blocks kept for staging.
constexpr size_t kSpareBlocks = 4;

std::string SegmentName(int64_t first) {
  return absl::StrFormat("seg-%020d.log", first);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Spool>> Spool::Open(SpoolOptions options) {
  // Only whole segments are freed: keep them small next to the limit, so a
  // full spool always has some to give back once acknowledged.
  options.segment_bytes = std::max<uint64_t>(
      1, std::min(options.segment_bytes, options.max_bytes / 8));
  std::unique_ptr<Spool> spool(new Spool(std::move(options)));
  if (absl::Status s = spool->Recover(); !s.ok()) return s;
  // A killed forwarder may have left segments unsynced.
  if (absl::Status s = spool->SyncAll(); !s.ok()) return s;
  spool->opened_ = true;
  const absl::Duration interval = spool->options_.sync_interval;
  if (interval > absl::ZeroDuration()) {
    Spool* raw = spool.get();
    spool->syncer_ =
        std::thread([raw, interval] { raw->GroupCommitEvery(interval); });
  }
  return spool;
}

Spool::~Spool() {
  stop_syncing_.Notify();
  SyncSoon();  // wakes the thread
  if (syncer_.joinable()) syncer_.join();
  // A clean stop: everything is synced, so the next start goes on from
  // here rather than from the reservation.
  if (absl::Status s = Sync(); !s.ok()) {
    LOG(ERROR) << s;
  } else if (opened_) {
    if (absl::Status r = Reserve(next_); !r.ok()) LOG(ERROR) << r;
  }
}

void Spool::GroupCommitEvery(absl::Duration interval) {
  pthread_setname_np(pthread_self(), "spool-sync");
  while (true) {
    bool soon;
    {
      absl::MutexLock lock(&wake_mu_);
      wake_mu_.AwaitWithTimeout(absl::Condition(&sync_soon_), interval / 4);
      soon = std::exchange(sync_soon_, false);
    }
    if (stop_syncing_.HasBeenNotified()) return;
    // Asked for (SyncSoon()): everything flushed, unless already durable.
    const int64_t end = end_.load();
    absl::Status s = !soon ? GroupCommit(absl::Now(), interval * 3 / 4)
                     : end > synced_.load() && end > acked_.load()
                         ? DataSync()
                         : absl::OkStatus();
    if (!s.ok()) {
      LOG_EVERY_N(ERROR, 100) << s;
    }
  }
}

void Spool::SyncSoon() {
  absl::MutexLock lock(&wake_mu_);
  sync_soon_ = true;
}

absl::Status Spool::GroupCommit(absl::Time now, absl::Duration grace) {
  absl::MutexLock lock(&commit_mu_);
  // Every record below `due` was flushed at least `grace` ago.
  int64_t due = 0;
  while (!commit_seen_.empty() && now - commit_seen_.front().first >= grace) {
    due = commit_seen_.front().second;
    commit_seen_.pop_front();
  }
  commit_seen_.emplace_back(now, end_.load());
  if (due <= synced_.load() || due <= acked_.load()) return absl::OkStatus();
  return DataSync();
}

absl::Status Spool::DataSync() {
  // One sync at a time (the group-commit thread's and Sync()'s), so none
  // can report what another has not finished.
  absl::MutexLock sync_lock(&sync_mu_);
  int64_t end;
  std::vector<Sealed> sealed;  // then the active segment
  bool new_segments;
  {
    absl::MutexLock lock(&mu_);
    end = end_.load();
    sealed.swap(sealed_);
    if (file_ != nullptr) sealed.push_back({file_, end, /*active=*/true});
    new_segments = std::exchange(new_segments_, false);
  }
  const int64_t acked = acked_.load();
  absl::Status status;
  std::vector<Sealed> retry;  // full segments whose sync failed
  for (Sealed& segment : sealed) {
    if (segment.end <= acked) continue;  // durable at a collector
    syncs_.fetch_add(1);
    if (absl::Status s = segment.file->Sync(); !s.ok()) {
      status.Update(s);
      if (!segment.active) retry.push_back(std::move(segment));
    }
  }
  if (new_segments) {
    if (absl::Status s = options_.fs->SyncDirectory(options_.dir); !s.ok()) {
      status.Update(s);
      absl::MutexLock lock(&mu_);
      new_segments_ = true;
    }
  }
  if (!status.ok()) {
    // Not durable, so not claimed; nor by a later sync that succeeds (see
    // spool.h): what this one was for waits for acknowledgement.
    sync_errors_.fetch_add(1);
    absl::MutexLock lock(&mu_);
    sealed_.insert(sealed_.end(), retry.begin(), retry.end());
    doubt_from_ = std::min(doubt_from_, synced_.load());
    doubt_end_ = std::max(doubt_end_, end);
    return status;
  }
  const int64_t durable = DurableEnd(end);
  int64_t synced = synced_.load();
  while (synced < durable && !synced_.compare_exchange_weak(synced, durable)) {
  }
  if (durable < end) {
    return absl::DataLossError(absl::StrCat(
        "spool ", options_.dir, ": records from index ", durable,
        " were written before a failed sync; they count as durable once "
        "acknowledged"));
  }
  return absl::OkStatus();
}

int64_t Spool::DurableEnd(int64_t end) {
  absl::MutexLock lock(&mu_);
  if (doubt_end_ <= acked_.load()) {
    doubt_from_ = INT64_MAX;
    doubt_end_ = INT64_MIN;
  }
  return std::min(end, doubt_from_);
}

absl::Status Spool::SyncAll() {
  absl::MutexLock lock(&mu_);
  for (const auto& [first, segment] : segments_) {
    absl::StatusOr<std::unique_ptr<File>> file =
        options_.fs->Open(segment.path, OpenOptions::ReadOnly());
    if (!file.ok()) return file.status();
    if (absl::Status s = (*file)->Sync(); !s.ok()) return s;
  }
  synced_.store(end_.load());
  return options_.fs->SyncDirectory(options_.dir);
}

void Spool::CloseAcknowledgedSealed() {
  const int64_t acked = acked_.load();
  absl::MutexLock lock(&mu_);
  auto durable = [acked](const Sealed& segment) {
    return segment.end <= acked;
  };
  sealed_.erase(std::remove_if(sealed_.begin(), sealed_.end(), durable),
                sealed_.end());
}

absl::Status Spool::LoadIdentity() {
  const std::string& dir = options_.dir;
  FileSystem* fs = options_.fs;
  // The forwarder's id: made once, kept for good.
  id_ = ReadFileOrEmpty(dir + "/id", fs);
  if (id_.empty()) {
    std::random_device random;
    id_ = absl::StrFormat("%08x%08x", random(), random());
    if (absl::Status s = ReplaceFileDurably(dir, "id", id_, 0644, fs);
        !s.ok()) {
      return s;
    }
  }
  // Its relay token: a secret, so only this forwarder can speak for its id.
  token_ = ReadFileOrEmpty(dir + "/token", fs);
  if (token_.empty()) {
    std::random_device random;
    for (int i = 0; i < 4; ++i)
      absl::StrAppendFormat(&token_, "%08x", random());
    return ReplaceFileDurably(dir, "token", token_, 0600, fs);
  }
  return absl::OkStatus();
}

void Spool::ListSegments() {
  absl::StatusOr<std::vector<std::string>> names =
      options_.fs->ListDirectory(options_.dir);
  if (!names.ok()) return;
  for (const std::string& file : *names) {
    absl::string_view name = file;
    int64_t first;
    if (!absl::ConsumePrefix(&name, "seg-") ||
        !absl::ConsumeSuffix(&name, ".log") ||
        !absl::SimpleAtoi(name, &first)) {
      continue;
    }
    const std::string path = absl::StrCat(options_.dir, "/", file);
    if (absl::StatusOr<FileInfo> info = options_.fs->Stat(path); info.ok()) {
      segments_[first] = Segment{path, info->size};
    }
  }
}

absl::Status Spool::DropAcknowledgedSegments(int64_t acked) {
  auto stop = segments_.begin();
  MarkList marks;
  for (; stop != segments_.end(); ++stop) {
    auto next = std::next(stop);
    if (next == segments_.end() || next->first > acked) break;
    const MarkList& more = segment_marks_[stop->first];
    marks.insert(marks.end(), more.begin(), more.end());
  }
  if (absl::Status s = FoldIntoSnapshot(marks); !s.ok()) return s;
  for (auto it = segments_.begin(); it != stop;) {
    options_.fs->Remove(it->second.path).IgnoreError();
    segment_marks_.erase(it->first);
    it = segments_.erase(it);
  }
  return absl::OkStatus();
}

absl::Status Spool::ScanEarlierMarks() {
  snapshot_ = ReadDownstreamSnapshot(options_.dir, options_.fs);
  for (auto it = segments_.begin();
       it != segments_.end() && std::next(it) != segments_.end(); ++it) {
    MarkGroups groups;
    if (absl::Status s = ScanMarks(it->second, &groups); !s.ok()) return s;
    segment_marks_[it->first] = groups.marks();
  }
  return absl::OkStatus();
}

absl::Status Spool::ScanMarks(const Segment& segment, MarkGroups* groups) {
  absl::StatusOr<std::unique_ptr<File>> file =
      options_.fs->Open(segment.path, OpenOptions::ReadOnly());
  if (!file.ok()) return file.status();
  SegmentScanner scanner(file->get(), segment.size, 0, -1, kReadChunk,
                         &read_buffer_);
  SegmentRecord record;
  while (true) {
    switch (scanner.Next(&record)) {
      case SegmentScanner::Scan::kRecord:
        groups->Add(record);
        break;
      case SegmentScanner::Scan::kIncomplete:
        break;
      case SegmentScanner::Scan::kError:
        return scanner.status();
      default:
        return absl::OkStatus();
    }
  }
}

void Spool::CollectRecoveredMarks() {
  recovered_downstream_ = snapshot_;
  for (const auto& [first, marks] : segment_marks_) {
    ApplyMarks(marks, &recovered_downstream_);
  }
}

absl::Status Spool::FoldIntoSnapshot(const MarkList& marks) {
  if (marks.empty()) return absl::OkStatus();
  DownstreamMarks next = snapshot_;
  ApplyMarks(marks, &next);
  TrimMarks(options_.max_downstream, &next);
  if (absl::Status s = WriteDownstreamSnapshot(options_.dir, next, options_.fs);
      !s.ok()) {
    return s;
  }
  snapshot_ = std::move(next);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Spool::RepairLastSegment(MarkGroups* groups) {
  auto& [first, last] = *segments_.rbegin();
  absl::StatusOr<std::unique_ptr<File>> file =
      options_.fs->Open(last.path, OpenOptions::ReadOnly());
  if (!file.ok()) return file.status();
  SegmentScanner scanner(file->get(), last.size, 0, first - 1, kReadChunk,
                         &read_buffer_);
  uint64_t good_end = 0;
  SegmentRecord record;
  for (bool more = true; more;) {
    switch (scanner.Next(&record)) {
      case SegmentScanner::Scan::kRecord:
        good_end = record.end;
        groups->Add(record);
        break;
      case SegmentScanner::Scan::kIncomplete:
        break;  // if a sound record follows, it is damage inside
      case SegmentScanner::Scan::kError:
        return scanner.status();
      default:
        more = false;  // the end, or a torn tail: the writer died there
    }
  }
  // A tier's group cut short by the write that died: none of it counts.
  const bool torn_group = groups->open_offset() >= 0;
  if (torn_group) good_end = static_cast<uint64_t>(groups->open_offset());
  if (good_end < last.size) {
    if (absl::Status s = options_.fs->Truncate(last.path, good_end); !s.ok()) {
      return s;
    }
    repaired_tail_bytes_ = last.size - good_end;
    LOG(WARNING) << "spool " << last.path << ": truncated "
                 << repaired_tail_bytes_ << " bytes of a torn last record";
    last.size = good_end;
  }
  return torn_group ? groups->open_first() : scanner.last_index() + 1;
}

absl::Status Spool::OpenActiveSegment(int64_t end, bool continue_last) {
  if (!continue_last) return StartSegment(end);
  auto& [first, last] = *segments_.rbegin();
  absl::StatusOr<std::unique_ptr<File>> file =
      options_.fs->Open(last.path, OpenOptions::Append(/*create=*/false));
  if (!file.ok()) return file.status();
  file_ = *std::move(file);
  active_first_ = first;
  active_size_ = last.size;
  return absl::OkStatus();
}

absl::Status Spool::Recover() {
  const std::string& dir = options_.dir;
  if (absl::Status s = MakeDirectories(dir, options_.fs); !s.ok()) return s;
  if (absl::Status s = LoadIdentity(); !s.ok()) return s;
  const int64_t acked = ReadMark(options_.fs, dir, "acked", "acked");
  // Indexes at or above `reserved` were never handed out; `skipped` counts
  // those given up by earlier unclean stops.
  const int64_t reserved =
      ReadMark(options_.fs, dir, kReservedFile, "reserved");
  skipped_ = ReadMark(options_.fs, dir, kReservedFile, "skipped");
  absl::MutexLock lock(&mu_);
  ListSegments();
  if (options_.downstream) {
    if (absl::Status s = ScanEarlierMarks(); !s.ok()) return s;
  }
  // Wholly acknowledged segments left by a crash before their deletion.
  if (absl::Status s = DropAcknowledgedSegments(acked); !s.ok()) return s;
  int64_t end = acked;
  if (!segments_.empty()) {
    MarkGroups groups;
    absl::StatusOr<int64_t> last_end = RepairLastSegment(&groups);
    if (!last_end.ok()) return last_end.status();
    end = std::max(end, *last_end);
    if (options_.downstream) {
      segment_marks_[segments_.rbegin()->first] = groups.marks();
    }
  }
  if (options_.downstream) CollectRecoveredMarks();
  const int64_t found_end = end;
  if (reserved > end) {
    // Not stopped cleanly: indexes up to `reserved` may have been used and
    // lost (a power loss takes unsynced records a collector may already
    // have; reusing their indexes would make new events look like
    // duplicates there). Never reuse one: go on from the reservation, in a
    // segment of its own, so readers skip the gap between segments.
    LOG(WARNING) << "spool " << dir << " was not closed cleanly: going on at "
                 << "index " << reserved << ", past the " << reserved - end
                 << " that may have been in use";
    skipped_ += reserved - end;
    end = reserved;
    if (absl::Status s = Reserve(end); !s.ok()) return s;  // keeps skipped_
  }
  if (absl::Status s =
          OpenActiveSegment(end, !segments_.empty() && end == found_end);
      !s.ok()) {
    return s;
  }
  uint64_t bytes = 0;
  for (const auto& [first, segment] : segments_) bytes += segment.size;
  bytes_.store(bytes);
  end_.store(end);
  next_ = end;
  reserved_ = std::max(reserved, end);
  acked_.store(acked);
  return absl::OkStatus();
}

absl::Status Spool::StartSegment(int64_t first) {
  const std::string path = absl::StrCat(options_.dir, "/", SegmentName(first));
  absl::StatusOr<std::unique_ptr<File>> file =
      options_.fs->Open(path, OpenOptions::Append(/*create=*/true));
  if (!file.ok()) return file.status();
  // The full segment is synced by the group commit, unless acknowledged
  // before (then its pages may never reach the disk).
  if (file_ != nullptr) {
    sealed_.push_back({std::move(file_), first, /*active=*/false});
  }
  new_segments_ = true;
  file_ = *std::move(file);
  active_first_ = first;
  active_size_ = 0;
  segments_[first] = Segment{path, 0};
  return absl::OkStatus();
}

absl::Status Spool::Append(absl::string_view event) {
  const size_t length = kHeader + event.size();
  if (event.size() > kMaxSpoolRecord) {
    write_failed_.fetch_add(1);
    return absl::InvalidArgumentError("event larger than a spool record");
  }
  if (bytes_.load(std::memory_order_relaxed) + staged_.size() + length >
      options_.max_bytes) {
    refused_full_.fetch_add(1);
    return absl::ResourceExhaustedError(absl::StrCat(
        "spool full (", options_.max_bytes, " bytes): event refused"));
  }
  if (active_size_ + staged_.size() >= options_.segment_bytes &&
      next_ > active_first_) {
    absl::Status s = Flush();
    if (s.ok()) {
      absl::MutexLock lock(&mu_);
      s = StartSegment(next_);
    }
    if (!s.ok()) {
      write_failed_.fetch_add(1);
      return s;
    }
  }
  if (next_ >= reserved_) {
    if (absl::Status s = Reserve(next_ + kReserve); !s.ok()) {
      write_failed_.fetch_add(1);
      return s;
    }
  }
  staged_starts_.push_back(static_cast<uint32_t>(staged_.size()));
  StageRecord(static_cast<uint64_t>(next_), event);
  ++next_;
  if (staged_.size() >= kMaxStaged) return Flush();
  return absl::OkStatus();
}

void Spool::StageRecord(uint64_t index, absl::string_view body) {
  // The CRC is filled in once the record is in place.
  char header[kHeader];
  absl::little_endian::Store32(header, static_cast<uint32_t>(body.size()));
  absl::little_endian::Store32(header + 4, 0);
  absl::little_endian::Store64(header + 8, index);
  const size_t at = staged_.size();
  staged_.append(header, kHeader);
  staged_.append(body.data(), body.size());
  char* p = staged_.data() + at;
  absl::little_endian::Store32(
      p + 4, SpoolRecordCrc(absl::string_view(p + 8, 8 + body.size())));
}

absl::Status Spool::AppendBatch(absl::string_view forwarder,
                                DownstreamMark mark,
                                const std::vector<absl::string_view>& events) {
  // What the receiver staged goes first, on its own.
  if (absl::Status s = Flush(); !s.ok()) return s;
  mark.at = next_;
  const std::string body =
      EncodeMarkRecord(forwarder, mark, static_cast<int64_t>(events.size()));
  size_t bytes = kHeader + body.size();
  for (absl::string_view event : events) {
    if (event.size() > kMaxSpoolRecord) {
      return absl::InvalidArgumentError("event larger than a spool record");
    }
    bytes += kHeader + event.size();
  }
  if (absl::Status s = PrepareGroup(bytes, events.size()); !s.ok()) return s;
  StageRecord(kSpoolMarkIndex, body);
  for (absl::string_view event : events) {
    staged_starts_.push_back(static_cast<uint32_t>(staged_.size()));
    StageRecord(static_cast<uint64_t>(next_++), event);
  }
  const uint64_t failed = write_failed_.load();
  if (absl::Status s = Flush(); !s.ok()) {
    write_failed_.store(failed);  // not lost: the downstream resends them
    return s;
  }
  absl::MutexLock lock(&mu_);
  segment_marks_[active_first_].emplace_back(std::string(forwarder),
                                             std::move(mark));
  return absl::OkStatus();
}

absl::Status Spool::PrepareGroup(size_t bytes, size_t events) {
  if (bytes_.load(std::memory_order_relaxed) + bytes > options_.max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "spool full (", options_.max_bytes, " bytes): batch refused"));
  }
  // A group stays within one segment (a segment is named by its first
  // index, so one holding no event yet is never left for another).
  if (active_size_ > 0 && next_ > active_first_ &&
      active_size_ + bytes >= options_.segment_bytes) {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = StartSegment(next_); !s.ok()) return s;
  }
  const int64_t end = next_ + static_cast<int64_t>(events);
  if (end > reserved_) return Reserve(end + kReserve);
  return absl::OkStatus();
}

absl::Status Spool::Flush() {
  if (absl::Status s = CutTornAppend(); !s.ok()) {
    return staged_.empty() ? s : RefuseStaged(s);
  }
  if (staged_.empty()) return absl::OkStatus();
  size_t written = 0;
  if (absl::Status status = file_->Append(staged_, &written); !status.ok()) {
    // Never leave part of a record behind.
    torn_ = written > 0;
    CutTornAppend().IgnoreError();  // else before the next append
    return RefuseStaged(status);
  }
  active_size_ += written;
  bytes_.fetch_add(written, std::memory_order_relaxed);
  {
    absl::MutexLock lock(&mu_);
    segments_[active_first_].size = active_size_;
  }
  KeepRecent();
  end_.store(next_, std::memory_order_release);
  return absl::OkStatus();
}

void Spool::KeepRecent() {
  absl::MutexLock lock(&recent_mu_);
  recent_bytes_ += staged_.size();
  recent_.push_back({end_.load(std::memory_order_relaxed), next_,
                     std::move(staged_), std::move(staged_starts_)});
  while (recent_bytes_ > options_.memory_bytes) DropOldestRecent();
  // Stage into a block's buffers that was dropped, so staging neither
  // allocates nor grows (copying) in the steady state.
  if (spare_.empty()) {
    staged_ = std::string();
    staged_starts_ = std::vector<uint32_t>();
  } else {
    staged_ = std::move(spare_.back().records);
    staged_starts_ = std::move(spare_.back().starts);
    spare_.pop_back();
  }
  staged_.clear();
  staged_starts_.clear();
}

void Spool::DropOldestRecent() {
  recent_bytes_ -= recent_.front().records.size();
  Recent& oldest = recent_.front();
  if (spare_.size() < kSpareBlocks &&
      oldest.records.capacity() <= 2 * kMaxStaged) {
    spare_.push_back(std::move(oldest));
  }
  recent_.pop_front();
}

absl::Status Spool::CutTornAppend() {
  if (!torn_) return absl::OkStatus();
  absl::Status status = file_->Truncate(active_size_);
  if (status.ok()) {
    torn_ = false;
  } else {
    LOG_EVERY_N(ERROR, 100)
        << "spool: cannot undo a partial append: " << status;
  }
  return status;
}

absl::Status Spool::RefuseStaged(absl::Status why) {
  const int64_t end = end_.load(std::memory_order_relaxed);
  write_failed_.fetch_add(static_cast<uint64_t>(next_ - end));
  next_ = end;
  staged_.clear();
  staged_starts_.clear();
  return why;
}

absl::Status Spool::Sync() {
  if (absl::Status s = Flush(); !s.ok()) return s;
  return DataSync();
}

uint64_t Spool::segments() const {
  absl::MutexLock lock(&mu_);
  return segments_.size();
}

absl::Status Spool::Read(int64_t from, size_t max_events, size_t max_bytes,
                         SpoolBatch* batch) {
  batch->first = batch->end = from;
  batch->count = 0;
  batch->events.clear();
  if (from >= end_.load(std::memory_order_acquire)) return absl::OkStatus();
  // The relay hands batch->events over to ZeroMQ: size it once.
  batch->events.reserve(std::min<size_t>(max_bytes, kReadChunk) + kHeader);
  if (ReadRecent(from, max_events, max_bytes, batch)) return absl::OkStatus();
  return ReadSegment(
      {from, end_.load(std::memory_order_acquire), max_events, max_bytes},
      batch);
}

bool Spool::ReadRecent(int64_t from, size_t max_events, size_t max_bytes,
                       SpoolBatch* batch) {
  absl::MutexLock lock(&recent_mu_);
  if (recent_.empty() || from < recent_.front().first ||
      from >= recent_.back().end) {
    return false;
  }
  auto block = std::upper_bound(
      recent_.begin(), recent_.end(), from,
      [](int64_t index, const Recent& r) { return index < r.first; });
  --block;
  // Indexes within a block are consecutive: record k starts at starts[k].
  size_t i = static_cast<size_t>(from - block->first);
  for (; block != recent_.end(); ++block, i = 0) {
    i = TakeRecords(*block, i, max_events, max_bytes, batch);
    batch->end = block->first + static_cast<int64_t>(i);
    if (i < block->starts.size()) break;  // the batch is full
  }
  return true;
}

size_t Spool::TakeRecords(const Recent& block, size_t i, size_t max_events,
                          size_t max_bytes, SpoolBatch* batch) {
  const std::vector<uint32_t>& starts = block.starts;
  for (; i < starts.size() && static_cast<size_t>(batch->count) < max_events &&
         batch->events.size() < max_bytes;
       ++i) {
    // Mark records (a tier's) may sit between event records.
    const char* record = block.records.data() + starts[i];
    batch->events.append(record + kHeader, absl::little_endian::Load32(record));
    ++batch->count;
  }
  return i;
}

absl::Status Spool::ReadSegment(const BatchRequest& request,
                                SpoolBatch* batch) {
  int64_t segment_first;
  std::string path;
  uint64_t segment_size;
  int64_t next_first;
  {
    absl::MutexLock lock(&mu_);
    auto it = segments_.upper_bound(request.from);
    if (it != segments_.begin()) --it;
    if (it == segments_.end()) return absl::OkStatus();
    segment_first = it->first;
    path = it->second.path;
    segment_size = it->second.size;
    auto next = std::next(it);
    next_first = next == segments_.end() ? INT64_MAX : next->first;
  }
  // Indexes only grow within a segment: one not above the last seen is
  // damage.
  int64_t last_index = segment_first - 1;
  uint64_t offset = 0;
  if (cursor_segment_ == segment_first && cursor_index_ == request.from) {
    offset = cursor_offset_;
    last_index = request.from - 1;
  }
  absl::StatusOr<std::unique_ptr<File>> file =
      options_.fs->Open(path, OpenOptions::ReadOnly());
  if (!file.ok()) return file.status();
  SegmentScanner scanner(file->get(), segment_size, offset, last_index,
                         std::max(kReadChunk, request.max_bytes + kHeader),
                         &read_buffer_);
  // The last segment may be half-way through an append at its end.
  const bool active = next_first == INT64_MAX;
  uint64_t stop = offset;
  bool done = false;
  if (absl::Status s =
          FillBatch(scanner, path, active, request, batch, &stop, &done);
      !s.ok()) {
    // Nothing is skipped for a failed read: the relay tries again.
    batch->end = request.from;
    batch->count = 0;
    batch->events.clear();
    return s;
  }
  if (batch->count == 0 && !done && !active) {
    // This segment is exhausted: everything up to the next one is gone.
    batch->end = next_first;
    cursor_segment_ = -1;
    return absl::OkStatus();
  }
  cursor_segment_ = segment_first;
  cursor_offset_ = stop;
  cursor_index_ = batch->end;
  return absl::OkStatus();
}

absl::Status Spool::FillBatch(SegmentScanner& scanner, const std::string& path,
                              bool active, const BatchRequest& request,
                              SpoolBatch* batch, uint64_t* stop, bool* done) {
  using Scan = SegmentScanner::Scan;
  SegmentRecord record;
  while (true) {
    switch (scanner.Next(&record)) {
      case Scan::kRecord:
        break;
      case Scan::kIncomplete:
        if (!active) continue;       // damage: look for the next sound record
        *stop = scanner.position();  // the record being appended right now
        *done = true;
        return absl::OkStatus();
      case Scan::kTail:
        if (active) {
          // Perhaps only an append in progress: look again from there later.
          *stop = scanner.tail();
          *done = true;
        } else {
          CountDamage(path, scanner.position() - scanner.tail(),
                      "at the end of the segment");
          *stop = scanner.position();
        }
        return absl::OkStatus();
      case Scan::kEnd:
        *stop = scanner.position();
        return absl::OkStatus();
      case Scan::kError:
        return scanner.status();
    }
    if (record.index >= request.end) {
      // Appended, but not yet published: read again from there (from the
      // damage before it, which may be an append in progress too).
      *stop = record.damaged_bytes > 0 ? record.damage_start : record.offset;
      *done = true;
      return absl::OkStatus();
    }
    if (record.damaged_bytes > 0) {
      CountDamage(path, record.damaged_bytes,
                  absl::StrCat("before index ", record.index));
    }
    if (record.index < request.from) continue;
    batch->events.append(record.event.data(), record.event.size());
    ++batch->count;
    read_from_disk_.fetch_add(1, std::memory_order_relaxed);
    batch->end = record.index + 1;
    *stop = record.end;
    if (static_cast<size_t>(batch->count) >= request.max_events ||
        batch->events.size() >= request.max_bytes) {
      *done = true;
      return absl::OkStatus();
    }
  }
}

void Spool::CountDamage(const std::string& path, uint64_t bytes,
                        absl::string_view where) {
  damaged_records_.fetch_add(1);
  damaged_bytes_.fetch_add(bytes);
  LOG(ERROR) << "spool " << path << ": skipped " << bytes << " damaged bytes "
             << where;
}

absl::Status Spool::Reserve(int64_t reserved) {
  if (absl::Status s = ReplaceFileDurably(
          options_.dir, kReservedFile,
          EncodeDocument(
              Value(Value::Map{{"reserved", reserved}, {"skipped", skipped_}})),
          0644, options_.fs);
      !s.ok()) {
    return s;
  }
  reserved_ = reserved;
  return absl::OkStatus();
}

absl::Status Spool::WriteAckedMark(int64_t acked) {
  return ReplaceFileDurably(options_.dir, "acked",
                            EncodeDocument(Value(Value::Map{{"acked", acked}})),
                            0644, options_.fs);
}

absl::Status Spool::Acknowledge(int64_t end) {
  if (end <= acked_.load()) return absl::OkStatus();
  acked_.store(end, std::memory_order_release);
  CloseAcknowledgedSealed();  // durable at the collector: no sync needed
  {
    absl::MutexLock lock(&recent_mu_);
    while (!recent_.empty() && recent_.front().end <= end) {
      DropOldestRecent();
    }
  }
  std::vector<Segment> done;
  MarkList marks;  // theirs, for the snapshot
  {
    absl::MutexLock lock(&mu_);
    for (auto it = segments_.begin(); it != segments_.end(); ++it) {
      auto next = std::next(it);
      if (next == segments_.end() || next->first > end) break;
      done.push_back(it->second);
      const MarkList& more = segment_marks_[it->first];
      marks.insert(marks.end(), more.begin(), more.end());
    }
  }
  const absl::Time now = absl::Now();
  if (done.empty()) {
    // Kept roughly current, so a restart resends little that was acked.
    if (now - last_persist_ < absl::Seconds(1)) return absl::OkStatus();
    last_persist_ = now;
    return WriteAckedMark(end);
  }
  last_persist_ = now;
  // The mark first: a segment must never go before it is durably acked;
  // nor before the downstream marks it holds are in the snapshot.
  if (absl::Status s = WriteAckedMark(end); !s.ok()) return s;
  if (absl::Status s = FoldIntoSnapshot(marks); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  for (const Segment& segment : done) {
    options_.fs->Remove(segment.path).IgnoreError();
    bytes_.fetch_sub(segment.size);
    for (auto it = segments_.begin(); it != segments_.end(); ++it) {
      if (it->second.path == segment.path) {
        segment_marks_.erase(it->first);
        segments_.erase(it);
        break;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace ziggy
