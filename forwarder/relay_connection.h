// RelayConnection: the relay thread's link to its upstream collectors, one
// named step at a time (RelayClient::Run loops over them; see RELAY.md).
//
//   FillWindow()     sends batches from the spool until `window` are in
//                    flight, zstd-compressed when that makes them smaller;
//   HandleReplies()  waits briefly, then takes acks (the spool's mark moves
//                    only then), resend requests and refusals;
//   CheckTimeouts()  an upstream that is silent, unreachable or refuses this
//                    forwarder's token is down: after a jittered backoff the
//                    next one gets everything unacknowledged;
//   Probe()          while on a backup, pings the first upstream and returns
//                    to it when it answers;
//   Status()         the counters RelayClient publishes as STATUS `relay`.
//
// Time is read from options.clock only, so tests can move it.
//
// Thread-compatible: one thread (the relay's) owns it.

#ifndef ZIGGY_FORWARDER_RELAY_CONNECTION_H_
#define ZIGGY_FORWARDER_RELAY_CONNECTION_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/format/value.h"
#include "common/relay_protocol.h"
#include "forwarder/relay_client.h"
#include "forwarder/spool.h"
#include "zmq.hpp"

namespace ziggy {

// Batch buffers ZeroMQ has sent, for the next batches: reading into one
// neither allocates nor faults in fresh pages. Thread-safe (ZeroMQ's I/O
// thread gives them back).
class PayloadPool {
 public:
  // A buffer given back (empty, its capacity kept), or a new one.
  std::string Take();
  void Give(std::string bytes);

 private:
  static constexpr size_t kMaxFree = 4;
  absl::Mutex mu_;
  std::vector<std::string> free_ ABSL_GUARDED_BY(mu_);
};

class RelayConnection {
 public:
  // REQUIRES: spool, options and options.clock outlive it.
  RelayConnection(Spool* spool, const RelayOptions& options);

  // Takes a new list of upstreams and moves to its first, resending what is
  // unacknowledged there.
  void SetUpstreams(std::vector<std::string> upstreams);

  void FillWindow();
  // Waits up to 10 ms for a reply, then handles every reply there is.
  void HandleReplies();
  void CheckTimeouts();
  void Probe();

  // {current, upstreams: {addr: {state, batches, acks, timeouts, refusals,
  //  refused}}, in_flight, acked, sent_batches, retransmitted,
  //  resend_requests, compression}
  Value Status() const;

 private:
  struct InFlight {
    int64_t first;
    int64_t end;
    int32_t count;
    absl::Time sent;
  };
  // Per upstream counters for STATUS.
  struct UpstreamStats {
    std::string state = "idle";
    uint64_t batches = 0;
    uint64_t acks = 0;
    uint64_t timeouts = 0;
    uint64_t refusals = 0;
    std::string refused;  // the last refusal's reason
  };

  bool CanSend(absl::Time now) const;
  // Reads and sends the next batch; false when there is none or the socket
  // will not take it.
  bool SendNext(absl::Time now);
  bool Send(const std::string& head, std::string* events);
  void Wait();
  void HandleReply(const RelayReply& reply);
  void OnAck(int64_t end);
  void OnError(const RelayReply& reply);
  // Moves to the next upstream after a jittered backoff.
  void FailOver(bool refused);
  void SendPing();
  // Forgets what is in flight and starts again from `from` (at least the
  // acked mark).
  void Rewind(int64_t from);
  void SwitchTo(size_t index);
  // No batches before `delay` from now; the next backoff is twice as long.
  void BackOff(absl::Duration delay);
  UpstreamStats& current_stats() { return stats_[upstreams_[current_]]; }

  Spool* const spool_;
  const RelayOptions& options_;
  Clock* const clock_;
  zmq::context_t context_{1};
  std::vector<std::string> upstreams_;
  size_t current_ = 0;
  std::unique_ptr<zmq::socket_t> socket_;
  std::unique_ptr<zmq::socket_t> probe_;  // pings the first upstream
  absl::Time probe_sent_ = absl::InfinitePast();
  std::deque<InFlight> in_flight_;
  int64_t send_from_;
  absl::Duration backoff_;
  absl::Time resume_at_ = absl::InfinitePast();
  absl::Time blocked_since_ = absl::InfiniteFuture();
  bool refused_ = false;  // by token, since the last CheckTimeouts()
  std::mt19937_64 random_{std::random_device{}()};
  absl::flat_hash_map<std::string, UpstreamStats> stats_;
  uint64_t sent_batches_ = 0;
  uint64_t retransmitted_ = 0;
  uint64_t resend_requests_ = 0;
  // Shared with the messages in flight, which may outlive this.
  std::shared_ptr<PayloadPool> payloads_ = std::make_shared<PayloadPool>();
  SpoolBatch batch_;
  std::string compressed_;
};

}  // namespace ziggy

#endif  // ZIGGY_FORWARDER_RELAY_CONNECTION_H_
