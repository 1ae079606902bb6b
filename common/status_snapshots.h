// StatusSnapshots: STATUS for threads other than a daemon's receive thread
// (the --metrics HTTP server's), which must not read the receive thread's
// sockets and counters themselves.
//
// Design: a reader asks (Get), which sets a flag and calls `wake` (the
// daemon's wake-up fd, so the receive thread's poll returns at once); the
// receive thread, between polls, sees wanted(), assembles STATUS as for the
// STATUS command and hands it over (Publish) under a mutex; the reader waits
// on it with a timeout. So a scrape costs the receive thread one STATUS
// assembly and never a wait: it never takes a lock a reader holds for long
// (Publish only swaps a pointer). A snapshot younger than max_age is given
// to further readers without asking again, which bounds how often scrapes
// can make the receive thread assemble STATUS.
//
// Thread-safety: Get() and Close() from any thread; ServeIfWanted() from
// the receive thread.

#ifndef ZIGGY_COMMON_STATUS_SNAPSHOTS_H_
#define ZIGGY_COMMON_STATUS_SNAPSHOTS_H_

#include <atomic>
#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/format/value.h"

namespace ziggy {

class StatusSnapshots {
 public:
  using Snapshot = std::shared_ptr<const Value::Map>;

  // `wake` makes the receive thread poll (it may be called from any thread
  // and must not block).
  explicit StatusSnapshots(std::function<void()> wake,
                           absl::Duration max_age = absl::Milliseconds(100));

  // A STATUS taken at most max_age before the call, or after it; null when
  // the receive thread did not publish one within `timeout` or Close() was
  // called.
  Snapshot Get(absl::Duration timeout);

  // After it, Get() returns null at once (the receive thread stopped).
  void Close();

  // When a reader waits: takes `status()` (STATUS as of now) and hands it
  // to the readers. Otherwise returns at once (one atomic exchange).
  void ServeIfWanted(const std::function<Value::Map()>& status);

 private:
  bool Fresh(absl::Time since) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::function<void()> wake_;
  const absl::Duration max_age_;
  std::atomic<bool> wanted_{false};
  mutable absl::Mutex mu_;
  Snapshot latest_ ABSL_GUARDED_BY(mu_);
  absl::Time taken_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace ziggy

#endif  // ZIGGY_COMMON_STATUS_SNAPSHOTS_H_
