// UpstreamLink: the thread that sends the forwarder's spool upstream,
// whichever kind the --upstream list names: collectors' relay ports
// (RelayClient, relay_client.h) or NATS JetStream servers (NatsUpstream,
// nats_upstream.h). Both read the spool from its acked mark and move the
// mark only on an acknowledgement (RELAY.md). This base holds what they
// share: the thread, the list of upstreams (replaceable at any time) and
// the STATUS `relay` the thread publishes.
//
// Thread-safety: the public methods, from any thread. Subclasses run their
// loop in Run() until stopping(), and call Stop() in their destructor (so
// the thread ends before their members go).

#ifndef ZIGGY_FORWARDER_UPSTREAM_LINK_H_
#define ZIGGY_FORWARDER_UPSTREAM_LINK_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/format/value.h"

namespace ziggy {

class UpstreamLink {
 public:
  explicit UpstreamLink(std::vector<std::string> upstreams);
  virtual ~UpstreamLink();  // REQUIRES: Stop() was called

  void Start();
  // Joins the thread; idempotent.
  void Stop();

  // Replaces the list (already parsed for this kind of upstream); the
  // thread takes it at its next TakeUpstreams().
  void SetUpstreams(std::vector<std::string> upstreams);
  std::vector<std::string> upstreams() const;

  // STATUS `relay`; empty until the thread first publishes it.
  Value Status() const;

 protected:
  // The thread: loops until stopping().
  virtual void Run() = 0;
  bool stopping() const { return stop_.load(); }
  // The upstream list, when it changed since *version (which it updates).
  bool TakeUpstreams(uint64_t* version, std::vector<std::string>* upstreams);
  // Whether `interval` has passed since *last (then *last = now): time to
  // publish a new Status().
  static bool StatusDue(absl::Time now, absl::Duration interval,
                        absl::Time* last);
  void PublishStatus(Value status);

 private:
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable absl::Mutex mu_;
  std::vector<std::string> upstreams_ ABSL_GUARDED_BY(mu_);
  uint64_t upstreams_version_ ABSL_GUARDED_BY(mu_) = 0;
  Value status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ziggy

#endif  // ZIGGY_FORWARDER_UPSTREAM_LINK_H_
