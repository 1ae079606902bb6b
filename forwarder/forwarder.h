// Forwarder: the ziggy-forwarder daemon as a library.
//
// Applications send to it exactly as to a collector (collect port, one
// BSON event document per ZeroMQ message, the original Python Ziggy's wire
// format). Each event is checked, appended to the durable
// spool (only then is it accepted) and published on the live stream; a
// RelayClient sends the spool to the collectors, or with NATS servers as
// --upstream a NatsUpstream publishes it to JetStream (RELAY.md). Control port:
// STATUS, SOCK_STREAM, SOCK_COLLECT, FLUSH (sync the spool), UPSTREAM (get),
// UPSTREAM_SET {upstreams: "host:port,host:port"} (or "nats://host:port,..."
// for a forwarder started with NATS servers), SHUTDOWN; with
// --curve-admin only admin keys may use FLUSH, UPSTREAM_SET and SHUTDOWN.
// With `relay_port` it is a tier: other forwarders relay to it as to a
// collector (TierReceiver, RELAY.md "Tiers"), it spools their events and
// relays them on, and STATUS gains relay_in (and ports.relay).
//
// Thread-safety: Stop() from any thread; the rest from the creating thread.

#ifndef ZIGGY_FORWARDER_FORWARDER_H_
#define ZIGGY_FORWARDER_FORWARDER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/daemon_sockets.h"
#include "forwarder/nats_upstream.h"
#include "forwarder/relay_client.h"
#include "forwarder/spool.h"

namespace ziggy {

struct ForwarderOptions {
  std::string control = "127.0.0.1:3513";
  std::string collect = "127.0.0.1:3514";
  std::string stream;  // "": port 0 on the control port's interface
  SpoolOptions spool;  // spool.dir: the spool path
  RelayOptions relay;  // relay.upstreams: the collectors' relay ports
  // Set (--upstream=nats://...): the spool goes to NATS JetStream instead,
  // and `relay` is unused.
  absl::optional<NatsUpstreamOptions> nats;
  size_t max_event_bytes = 1 << 20;
  QueueLimits queues;  // what ZeroMQ may hold, in bytes
  // Unset: plain text. Set: the forwarder's own ports are CurveZMQ servers
  // (DaemonAddresses::curve); relay.curve is its client side.
  absl::optional<CurveServerOptions> curve;
  // --metrics: host:port serving GET /metrics (common/metrics_server.h);
  // "" = off.
  std::string metrics;
  // --relay: host:port of a relay port for downstream forwarders (a tier);
  // "" = off. CurveZMQ with `curve`, like the other ports.
  std::string relay_port;
  size_t max_forwarders = 10000;  // downstreams whose position is kept
};

class Forwarder {
 public:
  static absl::StatusOr<std::unique_ptr<Forwarder>> Bind(
      ForwarderOptions options);
  ~Forwarder();

  // Serves until Stop() or SHUTDOWN; syncs the spool and returns.
  void Run();
  void Stop();
  // Re-reads --curve-allow and --curve-admin (SIGHUP):
  // DaemonSockets::ReloadCurveKeys(). Thread-safe.
  void ReloadCurveKeys();

  const std::string& control_endpoint() const;
  const std::string& collect_endpoint() const;
  const std::string& stream_endpoint() const;
  // The relay port's bound endpoint; empty when off.
  const std::string& relay_endpoint() const;
  // "http://host:port" of --metrics; empty when off.
  std::string metrics_url() const;

  class Impl;

 private:
  explicit Forwarder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "a:1,b:2" -> {"a:1", "b:2"}; kInvalidArgument for a bad address.
absl::StatusOr<std::vector<std::string>> ParseUpstreams(absl::string_view list);

// A new --upstream list for a forwarder that relays to NATS (`nats`) or to
// collectors: ParseNatsServers or ParseUpstreams. kInvalidArgument for a
// list that mixes both, or names the other kind (a forwarder does not
// change kinds while it runs: restart it with the new --upstream).
absl::StatusOr<std::vector<std::string>> ParseUpstreamsOfKind(
    absl::string_view list, bool nats);

}  // namespace ziggy

#endif  // ZIGGY_FORWARDER_FORWARDER_H_
