#include "collector/storage_lifecycle.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/format/log_layout.h"
#include "glog/logging.h"

namespace ziggy {
namespace {

// A claim on an event file in `files` (none when null) for as long as it
// lives; held() says whether it was granted.
class FileClaim {
 public:
  FileClaim(OpenFileSet* files, std::string path)
      : files_(files),
        path_(std::move(path)),
        held_(files_ == nullptr || files_->TryClaim(path_)) {}
  FileClaim(FileClaim&& other) noexcept
      : files_(other.files_),
        path_(std::move(other.path_)),
        held_(other.held_) {
    other.held_ = false;
  }
  FileClaim(const FileClaim&) = delete;
  FileClaim& operator=(const FileClaim&) = delete;
  ~FileClaim() {
    if (held_ && files_ != nullptr) files_->Release(path_);
  }
  bool held() const { return held_; }

 private:
  OpenFileSet* files_;
  std::string path_;
  bool held_;
};

constexpr int64_t kSecondsPerDay = 86400;
// How often the thread looks at the clock between pokes.
constexpr absl::Duration kClockPoll = absl::Seconds(1);
// ioprio_set(2): IOPRIO_WHO_PROCESS, and IOPRIO_CLASS_IDLE in the class bits.
constexpr int kIoprioWhoProcess = 1;
constexpr int kIoprioIdle = 3 << 13;

int64_t DayNumber(absl::Time t) {
  const int64_t s = absl::ToUnixSeconds(t);
  return s >= 0 ? s / kSecondsPerDay : (s + 1) / kSecondsPerDay - 1;
}

// Nice 19 and the idle I/O class for the calling thread; best-effort.
void LowerPriority() {
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(tid), 19) != 0) {
    PLOG(WARNING) << "lifecycle thread: setpriority";
  }
  if (syscall(SYS_ioprio_set, kIoprioWhoProcess, tid, kIoprioIdle) != 0) {
    PLOG(WARNING) << "lifecycle thread: ioprio_set";
  }
}

// What a name in a day directory is, for the lifecycle.
enum class Entry { kOther, kLog, kZst, kZstTmp };

Entry Classify(absl::string_view name, absl::Time day_start) {
  absl::string_view base = name;
  Entry kind = Entry::kLog;
  if (absl::ConsumeSuffix(&base, kCompressingSuffix)) {
    kind = Entry::kZstTmp;
  } else if (absl::ConsumeSuffix(&base, kCompressedSuffix)) {
    kind = Entry::kZst;
  }
  return ParseLogFileName(base, day_start).has_value() ? kind : Entry::kOther;
}

// Whether `path` itself (a symlink is not followed) is of `type` (S_IFDIR,
// S_IFREG). Retention must not follow a day symlinked out of the log path,
// and opening a FIFO named like an event file would block for good.
bool IsA(const std::string& path, mode_t type) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 && (st.st_mode & S_IFMT) == type;
}

// The names in `dir` (sorted), empty when it cannot be listed.
std::vector<std::string> ListSorted(FileSystem* fs, const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = fs->ListDirectory(dir);
  if (!names.ok()) {
    LOG_EVERY_N(WARNING, 100) << names.status();
    return {};
  }
  std::sort(names->begin(), names->end());
  return *std::move(names);
}

}  // namespace

StorageLifecycle::StorageLifecycle(LifecycleOptions options)
    : options_(std::move(options)) {
  compress_.fs = options_.fs;
  compress_.stop = [this] { return stopping(); };
}

StorageLifecycle::~StorageLifecycle() { Stop(); }

void StorageLifecycle::Start() {
  thread_ = std::thread(&StorageLifecycle::Run, this);
}

void StorageLifecycle::Stop() {
  stopping_.store(true);
  {
    absl::MutexLock lock(&mu_);
    poked_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void StorageLifecycle::Poke() {
  absl::MutexLock lock(&mu_);
  poked_ = true;
}

void StorageLifecycle::Run() {
  pthread_setname_np(pthread_self(), "ziggyd-lifecycle");
  LowerPriority();
  SettleCrashLeftovers();
  while (!stopping()) {
    Pass(Today());
    const absl::Time retry = skipped_in_use_ || held_back_
                                 ? absl::Now() + options_.in_use_retry
                                 : absl::InfiniteFuture();
    if (!Wait(options_.clock->Now() + options_.interval, retry)) break;
  }
}

bool StorageLifecycle::Wait(absl::Time next_pass, absl::Time retry) {
  while (true) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&poked_), kClockPoll);
    if (stopping()) return false;
    if (poked_ || options_.clock->Now() >= next_pass || absl::Now() >= retry) {
      poked_ = false;
      return true;
    }
  }
}

int64_t StorageLifecycle::Today() {
  // The watermark first: a batch stamped after it was read is stamped no
  // earlier than the clock read after it.
  const absl::Time pending = options_.unwritten_since
                                 ? options_.unwritten_since()
                                 : absl::InfiniteFuture();
  const int64_t clock_day = DayNumber(options_.clock->Now());
  const int64_t today = std::min(clock_day, DayNumber(pending));
  held_back_ = today < clock_day;
  if (held_back_) {
    LOG_EVERY_N(INFO, 100) << "lifecycle: events received on "
                           << absl::FormatTime("%Y%m%d", pending,
                                               absl::UTCTimeZone())
                           << " are not written yet; that day counts as "
                           << "today for now";
  }
  return today;
}

std::vector<std::pair<int64_t, std::string>>
StorageLifecycle::DayDirectories() {
  std::vector<std::pair<int64_t, std::string>> days;
  for (std::string& name : ListSorted(options_.fs, options_.root)) {
    const absl::optional<absl::Time> start = ParseDayName(name);
    if (start && IsA(absl::StrCat(options_.root, "/", name), S_IFDIR)) {
      days.emplace_back(DayNumber(*start), std::move(name));
    }
  }
  std::sort(days.begin(), days.end());
  return days;
}

std::vector<std::string> StorageLifecycle::Pass(int64_t today) {
  std::vector<std::string> removed;
  skipped_in_use_ = false;
  const int retain = options_.retain_days,
            compress = options_.compress_after_days;
  for (const auto& [day, name] : DayDirectories()) {
    if (stopping() || day >= today) break;
    if (retain > 0 && day < today - retain) {
      if (RemoveDay(name)) removed.push_back(name);
    } else if (compress > 0 && day <= today - compress) {
      CompressDay(name);
    }
  }
  if (stopping()) return removed;
  Scan();
  stats_.passes.fetch_add(1);
  return removed;
}

bool StorageLifecycle::InUse(const std::string& path) const {
  return options_.in_use && options_.in_use(path);
}

bool StorageLifecycle::RemoveDay(const std::string& name) {
  const std::string dir = absl::StrCat(options_.root, "/", name);
  const absl::Time start = *ParseDayName(name);
  std::vector<std::string> files;
  std::vector<FileClaim> claims;  // of the *.log files, until they are gone
  for (const std::string& entry : ListSorted(options_.fs, dir)) {
    const Entry kind = Classify(entry, start);
    if (kind == Entry::kOther) continue;
    const std::string path = absl::StrCat(dir, "/", entry);
    if (kind == Entry::kLog &&
        (InUse(path) || !claims.emplace_back(options_.files, path).held())) {
      skipped_in_use_ = true;
      LOG_EVERY_N(INFO, 100) << "retention: keeping " << dir
                             << " for now: " << entry << " is in use";
      return false;
    }
    files.push_back(path);
  }
  for (const std::string& path : files) {
    if (absl::Status s = options_.fs->Remove(path); !s.ok()) {
      stats_.removal_errors.fetch_add(1);
      LOG(ERROR) << "retention: " << s;
    }
  }
  if (absl::Status s = options_.fs->RemoveDirectory(dir); !s.ok()) {
    LOG_EVERY_N(WARNING, 100)
        << "retention: removed " << files.size() << " event files of " << dir
        << " but kept the directory: " << s;
    return false;
  }
  stats_.days_removed.fetch_add(1);
  LOG(INFO) << "retention: removed " << dir << " (" << files.size()
            << " event files; older than --retain-days=" << options_.retain_days
            << ")";
  return true;
}

void StorageLifecycle::CompressDay(const std::string& name) {
  const std::string dir = absl::StrCat(options_.root, "/", name);
  const absl::Time start = *ParseDayName(name);
  const std::vector<std::string> entries = ListSorted(options_.fs, dir);
  for (const std::string& entry : entries) {
    if (stopping()) return;
    const std::string path = absl::StrCat(dir, "/", entry);
    if (Classify(entry, start) != Entry::kLog || !IsA(path, S_IFREG)) continue;
    const FileClaim claim(options_.files, path);
    if (InUse(path) || !claim.held()) {
      skipped_in_use_ = true;
      continue;
    }
    if (std::binary_search(entries.begin(), entries.end(),
                           entry + kCompressedSuffix)) {
      SettleTwin(path);  // a failure after an earlier rename
      continue;
    }
    CompressOptions compress = compress_;
    compress.stop = [this, &path] {
      return stopping() || (options_.files && options_.files->Wanted(path));
    };
    absl::StatusOr<CompressedFile> done = CompressFileDurably(path, compress);
    if (absl::IsCancelled(done.status())) {
      if (stopping()) return;
      skipped_in_use_ = true;  // the store wants it: a later pass
      continue;
    }
    if (!done.ok()) {
      stats_.compression_errors.fetch_add(1);
      LOG(ERROR) << "compression: " << done.status();
      continue;
    }
    stats_.files_compressed.fetch_add(1);
    const uint64_t saved = done->original_bytes > done->compressed_bytes
                               ? done->original_bytes - done->compressed_bytes
                               : 0;
    stats_.bytes_saved.fetch_add(saved);
    LOG(INFO) << "compressed " << path << ": " << done->original_bytes << " -> "
              << done->compressed_bytes << " bytes";
  }
}

void StorageLifecycle::SettleCrashLeftovers() {
  // Not a day the writer may write: it restores a compressed file of a day
  // the clock came back to through the same names (RestoreCompressedTwin).
  // What a crash left there waits for a later start; readers ignore it.
  const int64_t today = Today();
  for (const auto& [day, name] : DayDirectories()) {
    if (stopping() || day >= today) return;
    SettleDay(name);
  }
}

void StorageLifecycle::SettleDay(const std::string& name) {
  const std::string dir = absl::StrCat(options_.root, "/", name);
  const absl::Time start = *ParseDayName(name);
  const std::vector<std::string> entries = ListSorted(options_.fs, dir);
  for (const std::string& entry : entries) {
    const std::string path = absl::StrCat(dir, "/", entry);
    const Entry kind = Classify(entry, start);
    if (kind == Entry::kZstTmp) {
      LOG(INFO) << "removing " << path << " (an interrupted compression)";
      options_.fs->Remove(path).IgnoreError();
    } else if (kind == Entry::kLog &&
               std::binary_search(entries.begin(), entries.end(),
                                  entry + kCompressedSuffix)) {
      SettleTwin(path);
    }
  }
}

void StorageLifecycle::SettleTwin(const std::string& path) {
  if (!IsA(path, S_IFREG) || !IsA(path + kCompressedSuffix, S_IFREG)) return;
  bool kept_zst = false;
  std::string set_aside;
  const absl::Status s = ResolveTwin(path, compress_, &kept_zst, &set_aside);
  if (s.ok() && kept_zst) {
    LOG(WARNING) << path << " and its .zst both existed: the .zst matched; "
                 << "removed the original";
    return;
  }
  stats_.compression_errors.fetch_add(1);
  if (!s.ok()) {
    LOG(ERROR) << path << " and its .zst both exist; kept both: " << s;
  } else {
    LOG(ERROR) << path << " and its .zst both existed with different "
               << "contents: kept the original and set the .zst aside as "
               << set_aside << " (no reader or pass takes it; merge or "
               << "remove it by hand)";
  }
}

void StorageLifecycle::Scan() {
  const uint64_t written =
      options_.written_bytes ? options_.written_bytes() : 0;
  uint64_t bytes = 0;
  int64_t oldest = -1;
  for (const auto& [day, name] : DayDirectories()) {
    const std::string dir = absl::StrCat(options_.root, "/", name);
    const absl::Time start = *ParseDayName(name);
    if (oldest < 0) oldest = day;
    for (const std::string& entry : ListSorted(options_.fs, dir)) {
      const Entry kind = Classify(entry, start);
      if (kind != Entry::kLog && kind != Entry::kZst) continue;
      absl::StatusOr<FileInfo> info =
          options_.fs->Stat(absl::StrCat(dir, "/", entry));
      if (info.ok()) bytes += info->size;
    }
  }
  stats_.scanned_bytes.store(bytes);
  stats_.written_at_scan.store(written);
  stats_.oldest_day.store(oldest);
}

uint64_t StorageLifecycle::log_path_bytes() const {
  const uint64_t written =
      options_.written_bytes ? options_.written_bytes() : 0;
  const uint64_t at_scan = stats_.written_at_scan.load();
  return stats_.scanned_bytes.load() +
         (written > at_scan ? written - at_scan : 0);
}

std::string StorageLifecycle::oldest_day() const {
  const int64_t day = stats_.oldest_day.load();
  if (day < 0) return "";
  return absl::FormatTime("%Y%m%d", absl::FromUnixSeconds(day * kSecondsPerDay),
                          absl::UTCTimeZone());
}

}  // namespace ziggy
