#include "forwarder/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
#include "forwarder/crc32c.h"
#include "glog/logging.h"

namespace ziggy {
namespace {

constexpr size_t kHeader = 16;  // u32 size, u32 crc, u64 index
constexpr uint32_t kMaxRecord = 16 << 20;
constexpr size_t kReadChunk = 1 << 20;
// How far ahead indexes are reserved (see Reserve()): an unclean stop skips
// at most this many.
constexpr int64_t kReserve = int64_t{1} << 24;
constexpr char kReservedFile[] = "reserved";

// An integer field of a small BSON mark file; 0 when absent or unreadable.
int64_t ReadMark(const std::string& dir, const char* file, const char* key) {
  absl::StatusOr<Value> mark =
      DecodeDocument(ReadFileOrEmpty(absl::StrCat(dir, "/", file)));
  if (!mark.ok() || mark->Get(key) == nullptr ||
      mark->Get(key)->kind() != Value::Kind::kInt) {
    return 0;
  }
  return mark->Get(key)->AsInt();
}

// Staged records are written once they reach this size.
constexpr size_t kMaxStaged = 256 << 10;

std::string SegmentName(int64_t first) {
  return absl::StrFormat("seg-%020d.log", first);
}

uint32_t RecordCrc(absl::string_view index_and_event) {
  return Crc32c(0, index_and_event);
}

enum class Parse { kRecord, kIncomplete, kBad };

// A record at data[at...]: its index and event.
Parse ParseRecord(absl::string_view data, size_t at, int64_t* index,
                  absl::string_view* event, size_t* length) {
  if (data.size() - at < kHeader) return Parse::kIncomplete;
  const char* p = data.data() + at;
  const uint32_t size = absl::little_endian::Load32(p);
  if (size > kMaxRecord) return Parse::kBad;
  if (data.size() - at < kHeader + size) return Parse::kIncomplete;
  const uint32_t crc = absl::little_endian::Load32(p + 4);
  if (RecordCrc(absl::string_view(p + 8, 8 + size)) != crc) return Parse::kBad;
  *index = static_cast<int64_t>(absl::little_endian::Load64(p + 8));
  *event = absl::string_view(p + kHeader, size);
  *length = kHeader + size;
  return Parse::kRecord;
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
  if (syncer_.joinable()) syncer_.join();
  // A clean stop: everything is synced, so the next start goes on from
  // here rather than from the reservation.
  if (absl::Status s = Sync(); !s.ok()) {
    LOG(ERROR) << s;
  } else if (opened_) {
    if (absl::Status r = Reserve(next_); !r.ok()) LOG(ERROR) << r;
  }
  if (fd_ >= 0) close(fd_);
  for (const Sealed& segment : sealed_) close(segment.fd);  // after errors
}

void Spool::GroupCommitEvery(absl::Duration interval) {
  pthread_setname_np(pthread_self(), "spool-sync");
  while (!stop_syncing_.WaitForNotificationWithTimeout(interval / 4)) {
    if (absl::Status s = GroupCommit(absl::Now(), interval * 3 / 4); !s.ok()) {
      LOG_EVERY_N(ERROR, 100) << s;
    }
  }
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
  std::vector<Sealed> sealed;  // then the active segment, through a dup
  bool new_segments;
  {
    // Private descriptors: the appender may seal fd_ for a new segment
    // meanwhile.
    absl::MutexLock lock(&mu_);
    end = end_.load();
    sealed.swap(sealed_);
    if (fd_ >= 0) sealed.push_back({dup(fd_), end, /*active=*/true});
    new_segments = std::exchange(new_segments_, false);
  }
  const int64_t acked = acked_.load();
  absl::Status status;
  std::vector<Sealed> retry;  // full segments whose sync failed
  for (const Sealed& segment : sealed) {
    if (segment.fd < 0) {
      status.Update(ErrnoStatus("cannot sync", options_.dir));
      continue;
    }
    if (segment.end > acked) {
      syncs_.fetch_add(1);
      if (fdatasync(segment.fd) != 0) {
        status.Update(ErrnoStatus("cannot sync", options_.dir));
        if (!segment.active) {
          retry.push_back(segment);
          continue;
        }
      }
    }
    close(segment.fd);
  }
  if (new_segments) {
    if (absl::Status s = SyncDirectory(options_.dir); !s.ok()) {
      status.Update(s);
      absl::MutexLock lock(&mu_);
      new_segments_ = true;
    }
  }
  if (!status.ok()) {
    // Not durable, so not claimed. (Linux may report a retried fdatasync
    // as done after a failed one: the errors are counted and logged.)
    sync_errors_.fetch_add(1);
    absl::MutexLock lock(&mu_);
    sealed_.insert(sealed_.end(), retry.begin(), retry.end());
    return status;
  }
  int64_t synced = synced_.load();
  while (synced < end && !synced_.compare_exchange_weak(synced, end)) {
  }
  return absl::OkStatus();
}

absl::Status Spool::SyncAll() {
  absl::MutexLock lock(&mu_);
  for (const auto& [first, segment] : segments_) {
    const int fd = open(segment.path.c_str(), O_RDONLY | O_CLOEXEC);
    const bool ok = fd >= 0 && fdatasync(fd) == 0;
    if (fd >= 0) close(fd);
    if (!ok) return ErrnoStatus("cannot sync", segment.path);
  }
  synced_.store(end_.load());
  return SyncDirectory(options_.dir);
}

void Spool::CloseAcknowledgedSealed() {
  const int64_t acked = acked_.load();
  absl::MutexLock lock(&mu_);
  auto durable = [acked](const Sealed& segment) {
    if (segment.end > acked) return false;
    close(segment.fd);
    return true;
  };
  sealed_.erase(std::remove_if(sealed_.begin(), sealed_.end(), durable),
                sealed_.end());
}

absl::Status Spool::Recover() {
  const std::string& dir = options_.dir;
  if (absl::Status s = MakeDirectories(dir); !s.ok()) return s;
  // The forwarder's id: made once, kept for good.
  id_ = ReadFileOrEmpty(dir + "/id");
  if (id_.empty()) {
    std::random_device random;
    id_ = absl::StrFormat("%08x%08x", random(), random());
    if (absl::Status s = ReplaceFileDurably(dir, "id", id_); !s.ok()) return s;
  }
  // Its relay token: a secret, so only this forwarder can speak for its id.
  token_ = ReadFileOrEmpty(dir + "/token");
  if (token_.empty()) {
    std::random_device random;
    for (int i = 0; i < 4; ++i)
      absl::StrAppendFormat(&token_, "%08x", random());
    if (absl::Status s = ReplaceFileDurably(dir, "token", token_, 0600);
        !s.ok()) {
      return s;
    }
  }
  const int64_t acked = ReadMark(dir, "acked", "acked");
  // Indexes at or above `reserved` were never handed out; `skipped` counts
  // those given up by earlier unclean stops.
  const int64_t reserved = ReadMark(dir, kReservedFile, "reserved");
  skipped_ = ReadMark(dir, kReservedFile, "skipped");
  absl::MutexLock lock(&mu_);
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* entry = readdir(d)) {
      absl::string_view name = entry->d_name;
      int64_t first;
      if (!absl::ConsumePrefix(&name, "seg-") ||
          !absl::ConsumeSuffix(&name, ".log") ||
          !absl::SimpleAtoi(name, &first)) {
        continue;
      }
      struct stat st;
      const std::string path = absl::StrCat(dir, "/", entry->d_name);
      if (stat(path.c_str(), &st) == 0) {
        segments_[first] = Segment{path, static_cast<uint64_t>(st.st_size)};
      }
    }
    closedir(d);
  }
  // Wholly acknowledged segments left by a crash before their deletion.
  for (auto it = segments_.begin(); it != segments_.end();) {
    auto next = std::next(it);
    if (next == segments_.end() || next->first > acked) break;
    unlink(it->second.path.c_str());
    it = segments_.erase(it);
  }
  int64_t end = acked;
  if (!segments_.empty()) {
    // The last segment: find its last whole record, cut a torn tail.
    auto& [first, last] = *segments_.rbegin();
    const std::string data = ReadFileOrEmpty(last.path);
    size_t at = 0, good_end = 0;
    int64_t last_index = first - 1;
    while (at < data.size()) {
      int64_t index;
      absl::string_view event;
      size_t length;
      const Parse parse = ParseRecord(data, at, &index, &event, &length);
      if (parse == Parse::kRecord && index > last_index) {
        last_index = index;
        at += length;
        good_end = at;
        continue;
      }
      // Damage: if a sound record follows, it is damage inside (skipped
      // when read); if not, the writer died here: a torn tail.
      ++at;
    }
    if (good_end < data.size()) {
      if (truncate(last.path.c_str(), static_cast<off_t>(good_end)) != 0) {
        return ErrnoStatus("cannot truncate the torn tail of", last.path);
      }
      repaired_tail_bytes_ = data.size() - good_end;
      LOG(WARNING) << "spool " << last.path << ": truncated "
                   << repaired_tail_bytes_ << " bytes of a torn last record";
      last.size = good_end;
    }
    end = std::max(end, last_index + 1);
  }
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
  if (!segments_.empty() && end == found_end) {
    auto& [first, last] = *segments_.rbegin();
    fd_ = open(last.path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd_ < 0) return ErrnoStatus("cannot open", last.path);
    active_first_ = first;
    active_size_ = last.size;
  } else if (absl::Status s = StartSegment(end); !s.ok()) {
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
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create", path);
  // The full segment is synced by the group commit, unless acknowledged
  // before (then its pages may never reach the disk).
  if (fd_ >= 0) sealed_.push_back({fd_, first, /*active=*/false});
  new_segments_ = true;
  fd_ = fd;
  active_first_ = first;
  active_size_ = 0;
  segments_[first] = Segment{path, 0};
  return absl::OkStatus();
}

absl::Status Spool::Append(absl::string_view event) {
  const size_t length = kHeader + event.size();
  if (event.size() > kMaxRecord) {
    write_failed_.fetch_add(1);
    return absl::InvalidArgumentError("event larger than a spool record");
  }
  if (bytes_.load(std::memory_order_relaxed) + staged_.size() + length >
      options_.max_bytes) {
    refused_full_.fetch_add(1);
    return absl::ResourceExhaustedError(absl::StrCat(
        "spool full (", options_.max_bytes, " bytes): event refused"));
  }
  if (active_size_ + staged_.size() >= options_.segment_bytes) {
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
  const size_t at = staged_.size();
  staged_.resize(at + length);
  char* p = staged_.data() + at;
  absl::little_endian::Store32(p, static_cast<uint32_t>(event.size()));
  absl::little_endian::Store64(p + 8, static_cast<uint64_t>(next_));
  memcpy(p + kHeader, event.data(), event.size());
  absl::little_endian::Store32(
      p + 4, RecordCrc(absl::string_view(p + 8, 8 + event.size())));
  staged_events_.append(event.data(), event.size());
  staged_ends_.push_back(static_cast<uint32_t>(staged_events_.size()));
  ++next_;
  if (staged_.size() >= kMaxStaged) return Flush();
  return absl::OkStatus();
}

absl::Status Spool::Flush() {
  if (staged_.empty()) return absl::OkStatus();
  size_t written = 0;
  while (written < staged_.size()) {
    const ssize_t n =
        write(fd_, staged_.data() + written, staged_.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const absl::Status status =
          ErrnoStatus("cannot append to the spool", options_.dir);
      // Never leave part of a record behind.
      if (written > 0 &&
          ftruncate(fd_, static_cast<off_t>(active_size_)) != 0) {
        LOG(ERROR) << "spool: cannot undo a partial append";
      }
      const int64_t end = end_.load(std::memory_order_relaxed);
      write_failed_.fetch_add(static_cast<uint64_t>(next_ - end));
      next_ = end;
      staged_.clear();
      staged_events_.clear();
      staged_ends_.clear();
      return status;
    }
    written += static_cast<size_t>(n);
  }
  active_size_ += written;
  bytes_.fetch_add(written, std::memory_order_relaxed);
  staged_.clear();
  {
    absl::MutexLock lock(&mu_);
    segments_[active_first_].size = active_size_;
  }
  {
    absl::MutexLock lock(&recent_mu_);
    recent_bytes_ += staged_events_.size();
    recent_.push_back({end_.load(std::memory_order_relaxed), next_,
                       std::move(staged_events_), std::move(staged_ends_)});
    while (recent_bytes_ > options_.memory_bytes) {
      recent_bytes_ -= recent_.front().events.size();
      recent_.pop_front();
    }
  }
  staged_events_.clear();
  staged_ends_.clear();
  end_.store(next_, std::memory_order_release);
  return absl::OkStatus();
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
  return ReadSegment(from, max_events, max_bytes, batch);
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
  // Indexes within a block are consecutive: event k ends at ends[k].
  size_t i = static_cast<size_t>(from - block->first);
  for (; block != recent_.end(); ++block, i = 0) {
    const std::vector<uint32_t>& ends = block->ends;
    auto end_of = [&](size_t k) -> size_t { return k == 0 ? 0 : ends[k - 1]; };
    const size_t start = end_of(i);
    size_t stop = i;  // one past the last event taken from this block
    while (stop < ends.size() &&
           static_cast<size_t>(batch->count) < max_events &&
           batch->events.size() + (end_of(stop) - start) < max_bytes) {
      ++stop;
      ++batch->count;
    }
    batch->events.append(block->events.data() + start, end_of(stop) - start);
    batch->end = block->first + static_cast<int64_t>(stop);
    if (stop < ends.size()) break;  // the batch is full
  }
  return true;
}

absl::Status Spool::ReadSegment(int64_t from, size_t max_events,
                                size_t max_bytes, SpoolBatch* batch) {
  const int64_t end = end_.load(std::memory_order_acquire);
  int64_t segment_first;
  std::string path;
  uint64_t segment_size;
  int64_t next_first;
  uint64_t offset = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = segments_.upper_bound(from);
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
  if (cursor_segment_ == segment_first && cursor_index_ == from) {
    offset = cursor_offset_;
    last_index = from - 1;
  }
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot read", path);
  bool done = false;
  size_t want = std::max(kReadChunk, max_bytes + kHeader);
  // The last segment may be half-way through an append at its end.
  const bool active = next_first == INT64_MAX;
  size_t damaged = 0;
  uint64_t damage_start = 0;
  auto count_damage = [&](absl::string_view where) {
    damaged_records_.fetch_add(1);
    damaged_bytes_.fetch_add(damaged);
    LOG(ERROR) << "spool " << path << ": skipped " << damaged
               << " damaged bytes " << where;
    damaged = 0;
  };
  while (!done && offset < segment_size) {
    read_buffer_.resize(want);
    const ssize_t n = pread(fd, read_buffer_.data(), read_buffer_.size(),
                            static_cast<off_t>(offset));
    if (n <= 0) break;
    const absl::string_view data(
        read_buffer_.data(),
        std::min<size_t>(static_cast<size_t>(n), segment_size - offset));
    size_t at = 0;
    while (at < data.size()) {
      int64_t index;
      absl::string_view event;
      size_t length;
      const Parse parse = ParseRecord(data, at, &index, &event, &length);
      if (parse == Parse::kIncomplete && damaged == 0 &&
          offset + data.size() < segment_size) {
        if (at == 0 && data.size() >= 4) {
          // One record larger than the buffer: read it whole next time.
          const uint32_t size = absl::little_endian::Load32(data.data());
          if (size <= kMaxRecord && kHeader + size > want) {
            want = kHeader + size;
          }
        }
        break;  // the record continues in the next chunk
      }
      if (parse == Parse::kRecord && index >= end) {
        done = true;  // appended, but not yet published
        break;
      }
      if (parse != Parse::kRecord || index <= last_index) {
        if (parse == Parse::kIncomplete && damaged == 0 && active) {
          done = true;  // the record being appended right now
          break;
        }
        if (damaged == 0) damage_start = offset + at;
        ++damaged;  // skip to the next sound record
        ++at;
        continue;
      }
      if (damaged > 0) count_damage(absl::StrCat("before index ", index));
      last_index = index;
      at += length;
      if (index < from) continue;
      batch->events.append(event.data(), event.size());
      ++batch->count;
      read_from_disk_.fetch_add(1, std::memory_order_relaxed);
      batch->end = index + 1;
      if (static_cast<size_t>(batch->count) >= max_events ||
          batch->events.size() >= max_bytes) {
        done = true;
        break;
      }
    }
    if (at == 0 && !done && read_buffer_.size() == want) break;
    offset += at;
  }
  if (damaged > 0) {
    if (active) {
      // Perhaps only an append in progress: look again from there later.
      offset = damage_start;
      done = true;
    } else {
      count_damage("at the end of the segment");
    }
  }
  close(fd);
  if (batch->count == 0 && !done && next_first != INT64_MAX) {
    // This segment is exhausted: everything up to the next one is gone.
    batch->end = next_first;
    cursor_segment_ = -1;
    return absl::OkStatus();
  }
  cursor_segment_ = segment_first;
  cursor_offset_ = offset;
  cursor_index_ = batch->end;
  return absl::OkStatus();
}

absl::Status Spool::Reserve(int64_t reserved) {
  if (absl::Status s = ReplaceFileDurably(
          options_.dir, kReservedFile,
          EncodeDocument(Value(
              Value::Map{{"reserved", reserved}, {"skipped", skipped_}})));
      !s.ok()) {
    return s;
  }
  reserved_ = reserved;
  return absl::OkStatus();
}

absl::Status Spool::WriteAckedMark(int64_t acked) {
  return ReplaceFileDurably(
      options_.dir, "acked",
      EncodeDocument(Value(Value::Map{{"acked", acked}})));
}

absl::Status Spool::Acknowledge(int64_t end) {
  if (end <= acked_.load()) return absl::OkStatus();
  acked_.store(end, std::memory_order_release);
  CloseAcknowledgedSealed();  // durable at the collector: no sync needed
  {
    absl::MutexLock lock(&recent_mu_);
    while (!recent_.empty() && recent_.front().end <= end) {
      recent_bytes_ -= recent_.front().events.size();
      recent_.pop_front();
    }
  }
  std::vector<Segment> done;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = segments_.begin(); it != segments_.end(); ++it) {
      auto next = std::next(it);
      if (next == segments_.end() || next->first > end) break;
      done.push_back(it->second);
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
  // The mark first: a segment must never go before it is durably acked.
  if (absl::Status s = WriteAckedMark(end); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  for (const Segment& segment : done) {
    unlink(segment.path.c_str());
    bytes_.fetch_sub(segment.size);
    for (auto it = segments_.begin(); it != segments_.end(); ++it) {
      if (it->second.path == segment.path) {
        segments_.erase(it);
        break;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace ziggy
