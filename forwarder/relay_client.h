// RelayClient: sends the spool to a collector's relay port and advances the
// spool's acknowledged mark as the collector confirms (see RELAY.md). It runs
// a RelayConnection (relay_connection.h) on a thread of its own.
//
// A window of batches is in flight on a DEALER socket. The collector acks a
// batch once it is durably in its files; asks for a resend from an index
// when a batch does not follow what it has; ignores nothing silently. When
// the oldest batch waits longer than ack_timeout, the upstream counts as
// down: the client moves to the next upstream in the list (after a backoff
// with jitter) and resends everything unacknowledged. While on a backup it
// pings the first upstream and returns to it when it answers. The list can
// be replaced at any time (SetUpstreams).
//
// Thread-safety: all public methods, from any thread.

#ifndef ZIGGY_FORWARDER_RELAY_CLIENT_H_
#define ZIGGY_FORWARDER_RELAY_CLIENT_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client/format/value.h"
#include "client/net/socket.h"
#include "common/clock.h"
#include "forwarder/spool.h"
#include "forwarder/upstream_link.h"

namespace ziggy {

class RelayConnection;

struct RelayOptions {
  std::vector<std::string> upstreams;  // host:port, in order of preference
  int window = 8;                      // batches in flight
  size_t batch_events = 2000;
  size_t batch_bytes = 1 << 20;
  absl::Duration ack_timeout = absl::Seconds(5);
  absl::Duration failback_interval = absl::Seconds(5);
  bool zstd = false;
  int zstd_level = 1;
  // CurveZMQ to every upstream (CurveSocketOptions::Client: the forwarder's
  // own key pair and the upstreams' public key — one key for all of them,
  // so every collector in the list must hold the same key pair). Unset:
  // plain text. An upstream with another key never acknowledges: it times
  // out and is failed over like a silent one.
  absl::optional<CurveSocketOptions> curve;
  // Where timeouts, backoffs and probes read the time; must outlive the
  // client.
  Clock* clock = Clock::Real();
  // Status() is refreshed at most this often (by `clock`).
  absl::Duration status_interval = absl::Milliseconds(100);
};

class RelayClient : public UpstreamLink {
 public:
  RelayClient(Spool* spool, RelayOptions options);
  ~RelayClient() override;  // Stop()

  // Status(): {current, upstreams: {addr: {state, batches, acks, timeouts,
  //  refusals, refused}}, in_flight, acked, sent_batches, retransmitted,
  //  resend_requests, compression}; empty until the thread first publishes.
  // SetUpstreams(): the client moves to the new first one.

 private:
  void Run() override;

  Spool* const spool_;
  const RelayOptions options_;
};

}  // namespace ziggy

#endif  // ZIGGY_FORWARDER_RELAY_CLIENT_H_
