// StorageLifecycle: --retain-days and --compress-after-days, on a thread of
// its own at low priority (nice 19, idle I/O class; both best-effort).
//
// Days are UTC, by directory name (<root>/<YYYYMMDD>), against the day of
// the collector's Clock ("today"):
//   - retention (retain_days = N > 0): a day more than N days before today
//     loses its event files (*.log, *.log.zst, *.log.zst.tmp) and then its
//     directory if nothing else is left in it;
//   - compression (compress_after_days = N > 0): the event files (*.log) of a
//     day at least N days before today become <name>.zst, one at a time
//     (zst_compress.h: crash-safe, verified).
// "Today" is the day of min(clock now, LifecycleOptions::unwritten_since):
// a day whose events may still be written (a batch being filled, queued,
// written, held by a refusing disk or --min-free-disk, or waiting in the
// EventStore for its file) is never compressed or removed, whatever the
// clock says; the pass then runs again after in_use_retry.
// Today's directory is never touched, nor any directory holding a file that
// is in use (open in the EventStore: LifecycleOptions::files, or named by
// the relay snapshot, which a restart may roll back: in_use); each event
// file is claimed in `files` while it is compressed or removed, so the
// store cannot open it meanwhile (it waits, and a compression it wants
// stops within a chunk). Anything that is not a
// day directory or an event file is left alone: a day name that is a
// symlink (never followed out of the log path), and an event file name that
// is not a regular file (a FIFO, a directory) is never compressed.
//
// Passes run at Start() (after settling what a crash left in the days
// before today: *.zst.tmp removed, twins resolved, see ResolveTwin: a .zst
// that differs from its
// original is set aside as <name>.zst.conflict-<unix seconds>, logged as an
// ERROR and counted in compression_errors), then whenever the clock has
// moved `interval` past the last pass, and at once after Poke() (the
// collector pokes it when ADVANCE_CLOCK moves a test clock), and after
// in_use_retry when the last pass skipped files in use. Stop() stops a
// compression promptly (the original stays, the .tmp goes).
//
// The counters it keeps (LifecycleStats) are read by STATUS from any thread.
//
// Thread-safety: Start(), Stop() from the owner's thread; Poke() and the
// stats from any thread.

#ifndef ZIGGY_COLLECTOR_STORAGE_LIFECYCLE_H_
#define ZIGGY_COLLECTOR_STORAGE_LIFECYCLE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/event_store.h"
#include "collector/zst_compress.h"
#include "common/clock.h"
#include "common/file_system.h"

namespace ziggy {

struct LifecycleOptions {
  std::string root;                          // the log path
  int retain_days = 0;                       // 0: keep forever
  int compress_after_days = 0;               // 0: never
  absl::Duration interval = absl::Hours(1);  // by `clock`
  // A pass that found files in use (open files of a day that just ended
  // close within seconds), or whose today unwritten_since held back, runs
  // again this soon, in real time.
  absl::Duration in_use_retry = absl::Seconds(5);
  Clock* clock = Clock::Real();            // not owned
  FileSystem* fs = FileSystem::Default();  // not owned
  // Whether an event file (its full path) must not be touched now. Called
  // from the lifecycle thread; must be thread-safe and quick. Empty: none.
  std::function<bool(const std::string&)> in_use;
  // When set, each event file is claimed in it while it is compressed or
  // removed (OpenFileSet::TryClaim; one open or claimed is skipped), and a
  // compression stops when the store wants the file. Not owned.
  OpenFileSet* files = nullptr;
  // The receipt time of the oldest event the writer may still append
  // (EventWriter::UnwrittenSince()): a day counts as "today" (untouched)
  // while events of it may still be written, whatever the clock says.
  // Called once per pass, from the lifecycle thread. Empty: none pending.
  std::function<absl::Time()> unwritten_since;
  // Bytes written to event files so far (CollectorStats::written_bytes),
  // so log_path_bytes follows the writer between scans. Empty: 0.
  std::function<uint64_t()> written_bytes;
};

struct LifecycleStats {
  using Counter = std::atomic<uint64_t>;
  Counter scanned_bytes{0};             // event-file bytes at the last scan
  Counter written_at_scan{0};           // written_bytes() when it was made
  std::atomic<int64_t> oldest_day{-1};  // days since 1970; -1: none
  Counter files_compressed{0};
  Counter bytes_saved{0};  // original minus compressed, this process's
  Counter days_removed{0};
  Counter compression_errors{0};
  Counter removal_errors{0};
  Counter passes{0};
};

class StorageLifecycle {
 public:
  explicit StorageLifecycle(LifecycleOptions options);
  ~StorageLifecycle();  // Stop()

  // Starts the thread (nothing when both retain_days and
  // compress_after_days are 0 but the scans for STATUS).
  void Start();
  void Stop();
  // Runs a pass now (the clock moved).
  void Poke();

  const LifecycleStats& stats() const { return stats_; }
  // Bytes of event files under the root: the last scan plus what the
  // writer wrote since.
  uint64_t log_path_bytes() const;
  // "YYYYMMDD" of the oldest day directory, "" when none.
  std::string oldest_day() const;

  // One pass as of `today` (days since 1970), on the calling thread: for
  // tests. Returns the day directories removed (names).
  std::vector<std::string> PassForTest(int64_t today) { return Pass(today); }
  // One pass as the thread runs it (today from the clock and
  // unwritten_since), on the calling thread: for tests.
  std::vector<std::string> PassNowForTest() { return Pass(Today()); }
  // The start-up cleanup, on the calling thread: for tests.
  void SettleCrashLeftoversForTest() { SettleCrashLeftovers(); }

 private:
  void Run();
  // Until the clock reaches next_pass, real time reaches retry, or a
  // Poke(); false when stopping.
  bool Wait(absl::Time next_pass, absl::Time retry);
  // The day of min(clock now, unwritten_since()); sets held_back_.
  int64_t Today();
  std::vector<std::string> Pass(int64_t today);
  // Day directory names and their days, sorted by day.
  std::vector<std::pair<int64_t, std::string>> DayDirectories();
  bool RemoveDay(const std::string& name);
  void CompressDay(const std::string& name);
  bool InUse(const std::string& path) const;
  void SettleCrashLeftovers();
  void SettleDay(const std::string& dir);
  // ResolveTwin(), logged; counts compression_errors unless the .zst was
  // the original's exact copy.
  void SettleTwin(const std::string& path);
  void Scan();
  bool stopping() const { return stopping_.load(); }

  const LifecycleOptions options_;
  CompressOptions compress_;
  LifecycleStats stats_;
  std::atomic<bool> stopping_{false};
  bool skipped_in_use_ = false;  // by the last pass; lifecycle thread
  // The last pass's today was held back by unwritten events; lifecycle
  // thread.
  bool held_back_ = false;
  absl::Mutex mu_;
  bool poked_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_STORAGE_LIFECYCLE_H_
