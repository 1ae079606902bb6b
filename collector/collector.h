// Collector: the ziggyd daemon as a library (main.cc only parses flags).
//
// Sockets, each on its own host:port (CollectorOptions): control (REP: one
// BSON request, one BSON reply; see client/reader/control.h), collect (PULL:
// one BSON event document per message, the wire format of the original
// Python Ziggy, whose clients can send here), stream (XPUB: [type, bson]
// frames, sent only while someone subscribes; slow subscribers lose events,
// disk never does), relay (ROUTER: acknowledged batches from forwarders, see
// relay_receiver.h, relay_state.h and forwarder/RELAY.md). With --source, a
// NATS JetStream consumer is one more source of relay batches
// (nats_source.h).
//
// Threads: Run()'s thread owns every socket. It validates each event,
// updates the status maps, publishes it and hands batches to a writer thread
// that owns the EventStore. The hand-off queue is bounded (max_queued_bytes):
// when it is full the collector stops reading the collect socket, so ZeroMQ's
// own high-water marks push back on senders instead of memory growing.
// A lifecycle thread (storage_lifecycle.h) removes and compresses old days;
// --min-free-disk (free_space.h) stops reading as a full queue does.
// With --source, a NATS fetch thread and an ack thread (nats_source.h) feed
// the receive thread, under the same two limits.
//
// Thread-safety: Stop() from any thread; everything else from the thread
// that created the Collector.

#ifndef ZIGGY_COLLECTOR_COLLECTOR_H_
#define ZIGGY_COLLECTOR_COLLECTOR_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/event_store.h"
#include "collector/nats_source.h"
#include "common/clock.h"
#include "common/daemon_sockets.h"

namespace ziggy {

struct CollectorOptions {
  std::string control = "127.0.0.1:3513";  // host:port, port 0 = any
  std::string collect = "127.0.0.1:3514";
  std::string stream;  // "": port 0 on the control port's interface
  std::string relay = "127.0.0.1:3515";  // ROUTER for forwarders; "" = off
  // --source=nats://...: batches pulled from a JetStream stream through a
  // durable consumer shared by a pool of collectors (nats_source.h); unset:
  // off.
  absl::optional<NatsSourceOptions> nats;
  // --forward, as the original Python ziggyd had it: host:port of another
  // daemon's collect port that gets every accepted event, best effort
  // (plain_forward.h); "" = off.
  std::string forward;
  // Forwarders whose next index and token are kept (and checkpointed with
  // every acknowledgement); beyond it the least recently heard is forgotten.
  size_t max_forwarders = 10000;
  StoreOptions store;                // store.root: the log path
  size_t max_event_bytes = 1 << 20;  // larger events are dropped
  absl::Duration flush_interval = absl::Milliseconds(200);
  size_t max_queued_bytes = 64 << 20;  // received, not yet written
  QueueLimits queues;                  // what ZeroMQ may hold, in bytes
  // Unset: plain text. Set: every port (relay too) is a CurveZMQ server
  // (DaemonAddresses::curve).
  absl::optional<CurveServerOptions> curve;
  // --metrics: host:port serving GET /metrics (common/metrics_server.h);
  // "" = off.
  std::string metrics;
  // --retain-days and --compress-after-days (storage_lifecycle.h); 0: off.
  int retain_days = 0;
  int compress_after_days = 0;
  // --min-free-disk (free_space.h): below it ziggyd stops accepting; 0: off.
  uint64_t min_free_bytes = 0;
  // Tests: free bytes are read from this file instead of statvfs().
  std::string fake_free_disk_file;
  // Where receipt times (which decide files) come from.
  Clock* clock = Clock::Real();
  // When set, the clock is this manual one and the ADVANCE_CLOCK control
  // command moves it. For tests.
  ManualClock* test_clock = nullptr;
};

class Collector {
 public:
  // Binds every socket; kUnavailable when an address is taken,
  // kInvalidArgument for a bad one.
  static absl::StatusOr<std::unique_ptr<Collector>> Bind(
      CollectorOptions options);
  ~Collector();

  // Serves until Stop() or a SHUTDOWN command, then writes out every event
  // received (including those already queued in the collect socket), closes
  // the files and returns OK. kDataLoss when it stopped because a failed
  // fdatasync() left written events unsure while forwarders relay to it
  // (EventWriter::durability_lost()): events accepted after that would be
  // undone by the restart's rollback, so it stops at once; restarting it
  // rolls back to the last acknowledged state and the forwarders resend.
  absl::Status Run();

  // Asks Run() to finish. Thread-safe; returns at once.
  void Stop();
  // Re-reads --curve-allow and --curve-admin (SIGHUP):
  // DaemonSockets::ReloadCurveKeys(). Thread-safe.
  void ReloadCurveKeys();

  // The bound endpoints, e.g. "tcp://127.0.0.1:41234".
  const std::string& control_endpoint() const;
  const std::string& collect_endpoint() const;
  const std::string& stream_endpoint() const;
  const std::string& relay_endpoint() const;  // empty when off
  // "http://host:port" of --metrics; empty when off.
  std::string metrics_url() const;

  class Impl;

 private:
  explicit Collector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_COLLECTOR_H_
