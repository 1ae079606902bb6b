// ziggy-forwarder: the per-host daemon that spools events durably and relays
// them, acknowledged, to the collectors. See forwarder.h and RELAY.md.

#include <cstdio>

#include "absl/strings/str_split.h"
#include "common/cli.h"
#include "common/exposure.h"
#include "common/nats_stream.h"
#include "common/paths.h"
#include "common/relay_protocol.h"
#include "common/signals.h"
#include "common/version.h"
#include "common/zap_handler.h"
#include "forwarder/forwarder.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_string(collect, "127.0.0.1:3514",
              "Collect port (PULL) for local applications.");
DEFINE_string(control, "127.0.0.1:3513", "Control port (REP).");
DEFINE_string(stream, "",
              "Live stream port (PUB) host:port; 0 picks a free one (ask the "
              "control port: SOCK_STREAM). Empty: a free port on the control "
              "port's interface, so ziggyview -H reaches it wherever it "
              "reaches the control port.");
DEFINE_string(
    upstream, "127.0.0.1:3515",
    "Collectors' relay ports, host:port[,host:port...], first preferred; "
    "or NATS servers, nats://host:port[,nats://host:port...], to publish "
    "the batches to a JetStream stream instead (the --nats-* flags; "
    "forwarder/RELAY.md). One kind only: a mixed list is an error.");
DEFINE_string(nats_stream, "ZIGGY",
              "With a nats:// --upstream: the JetStream stream (created if "
              "missing: file storage, limits retention).");
DEFINE_string(nats_subject, "ziggy.batches",
              "With a nats:// --upstream: the subject prefix; this forwarder "
              "publishes to PREFIX.<forwarder id>, the stream takes PREFIX.>.");
DEFINE_int32(nats_replicas, 1,
             "With a nats:// --upstream, if this forwarder creates the "
             "stream: its replicas (1-5).");
DEFINE_string(nats_max_age, "24h",
              "With a nats:// --upstream, if this forwarder creates the "
              "stream: how long it keeps a batch (a duration: 24h, 90m, "
              "3600s); 0: no limit.");
DEFINE_int64(nats_max_bytes, 0,
             "With a nats:// --upstream, if this forwarder creates the "
             "stream: its size limit in bytes (the oldest batches go "
             "beyond it); 0: no limit.");
DEFINE_string(
    nats_tls_ca, "",
    "With a nats:// --upstream: the CA file that signed the NATS servers' "
    "certificates; sets TLS (as tls:// URLs do). Without TLS, "
    "NATS servers off this host need --insecure.");
DEFINE_string(nats_tls_cert, "",
              "With --nats-tls-ca: this daemon's client certificate, for "
              "NATS servers that verify clients (with --nats-tls-key).");
DEFINE_string(nats_tls_key, "", "With --nats-tls-cert: its private key file.");
DEFINE_string(relay, "",
              "Relay port (ROUTER) host:port for other forwarders' batches, "
              "as ziggyd's --relay: this forwarder becomes a tier that "
              "spools them and relays them on, exactly once (RELAY.md, "
              "\"Tiers\"). CurveZMQ with --curve-key, like the other ports. "
              "Empty: off.");
DEFINE_int32(max_forwarders, 10000,
             "With --relay: downstream forwarders whose relay position is "
             "kept; beyond it the one heard from least recently is "
             "forgotten (it is welcomed back from its own acknowledged "
             "mark).");
DEFINE_string(spool_path, "ziggy-spool",
              "Spool directory (created if missing); relative paths are "
              "resolved against the directory you ran the command from.");
DEFINE_int64(
    spool_max_bytes, int64_t{1} << 30,
    "When the spool holds this much unacknowledged data, new events "
    "are refused and counted (dropped.spool_full) until space returns.");
DEFINE_int32(spool_sync_ms, 100,
             "Group commit: within this many milliseconds every accepted "
             "event is fdatasync()ed in the spool or acknowledged by a "
             "collector.");
DEFINE_string(compress, "none",
              "Relay batch compression: none or zstd (to NATS too).");
DEFINE_int32(relay_window, 8,
             "Relay batches in flight to the collector (1-64; a collector "
             "queues 8 per forwarder, more wait in TCP's buffers).");
DEFINE_int64(relay_batch_events, 2000, "Events per relay batch, at most.");
DEFINE_int64(relay_batch_bytes, 1 << 20,
             "Bytes per relay batch, about (one event may go over; at most "
             "16 MiB).");
DEFINE_double(ack_timeout, 5,
              "Seconds without an acknowledgement before the upstream counts "
              "as down and the next one is tried. With NATS servers: a "
              "publish unanswered this long makes the forwarder read its "
              "last batch back from the stream (RELAY.md).");
DEFINE_double(failback_interval, 5,
              "On a backup upstream: seconds between pings of the first "
              "upstream; the forwarder returns to it when it answers.");
DEFINE_string(metrics, "",
              "host:port serving GET /metrics, STATUS's counters (spool and "
              "relay too) in the Prometheus text format over plain HTTP; "
              "port 0 picks a free one (logged, and STATUS ports.metrics). "
              "Empty: off. Off loopback it needs --insecure without "
              "--curve-key; with --curve-key it is allowed anywhere, still "
              "unauthenticated.");
DEFINE_string(curve_key, "",
              "This forwarder's CurveZMQ secret key file (ziggyctl keygen): "
              "its own ports become CurveZMQ servers (without --curve-allow "
              "any client that knows PATH.pub may connect) and, with "
              "--upstream-server-key, its client key toward the upstreams.");
DEFINE_string(curve_allow, "",
              "Directory of clients' *.pub files; only those keys may connect "
              "(needs --curve-key).");
DEFINE_string(curve_admin, "",
              "Directory of admin clients' *.pub files: only those keys may "
              "use the control commands that change state (SHUTDOWN, FLUSH, "
              "UPSTREAM_SET); they may connect even when not in --curve-allow "
              "(needs --curve-key). SIGHUP re-reads this and --curve-allow.");
DEFINE_bool(plain_collect, false,
            "With --curve-key: the collect port stays plain text, for the "
            "original Python clients.");
DEFINE_string(upstream_server_key, "",
              "The upstream collectors' CurveZMQ public key file (.pub); one "
              "key for every --upstream; with --curve-key.");
DEFINE_bool(insecure, false,
            "Without --curve-key: allow --control, --stream, --relay or "
            "--metrics on "
            "an address other than loopback (127.0.0.0/8, ::1, localhost), "
            "in plain text, where anyone who reaches it can send control "
            "commands (SHUTDOWN, upstream changes) or read its stream or "
            "metrics; without it ziggy-forwarder refuses to start.");
DEFINE_int64(collect_queue_bytes, int64_t{1} << 30,
             "Events ZeroMQ may hold per sending connection, in bytes; "
             "beyond it that sender is pushed back.");
DEFINE_int64(stream_queue_bytes, 16 << 20,
             "Stream messages held per live subscriber, in bytes; a "
             "subscriber this far behind loses stream messages (counted).");
DEFINE_int64(max_event_bytes, 1 << 20,
             "Larger events are dropped (counted); at most 16 MiB, BSON's own "
             "limit.");

namespace {

// The relay's CurveZMQ client keys from --curve-key and
// --upstream-server-key; false after a one-line error on stderr.
bool LoadRelayCurve(absl::optional<ziggy::CurveSocketOptions>* curve) {
  if (FLAGS_upstream_server_key.empty() && !FLAGS_curve_key.empty()) {
    return true;  // CurveZMQ on its own ports only
  }
  return ziggy::TakeOrReport(
      "ziggy-forwarder",
      ziggy::LoadCurveClientOptions(
          ziggy::ResolveUserPath(FLAGS_upstream_server_key),
          "--upstream-server-key", ziggy::ResolveUserPath(FLAGS_curve_key),
          "--curve-key"),
      curve);
}

// Its own ports' CurveZMQ (--curve-key, --curve-allow, --plain-collect);
// false after a one-line error on stderr.
bool LoadServerCurve(absl::optional<ziggy::CurveServerOptions>* curve) {
  return ziggy::TakeOrReport(
      "ziggy-forwarder",
      ziggy::LoadCurveServerOptions(ziggy::ResolveUserPath(FLAGS_curve_key),
                                    ziggy::ResolveUserPath(FLAGS_curve_allow),
                                    ziggy::ResolveUserPath(FLAGS_curve_admin),
                                    FLAGS_plain_collect),
      curve);
}

// Secure by default (common/exposure.h); false after a one-line error.
bool ExposureAllowed(const ziggy::ForwarderOptions& options) {
  return ziggy::ExposureAllowed(
      "ziggy-forwarder",
      {options.control, options.collect, options.stream, options.relay_port,
       options.metrics},
      {options.curve.has_value(), options.curve && options.curve->plain_collect,
       FLAGS_insecure});
}

// The flags' values, checked; false after printing why not.
bool FlagsAreValid() {
  if (FLAGS_compress != "none" && FLAGS_compress != "zstd") {
    std::fprintf(stderr, "ziggy-forwarder: --compress must be none or zstd\n");
    return false;
  }
  if (FLAGS_spool_max_bytes <= 0 || FLAGS_spool_sync_ms <= 0 ||
      FLAGS_ack_timeout <= 0 || FLAGS_failback_interval <= 0 ||
      FLAGS_max_event_bytes <= 0 || FLAGS_max_event_bytes > (16 << 20) ||
      FLAGS_collect_queue_bytes <= 0 || FLAGS_stream_queue_bytes <= 0 ||
      FLAGS_relay_window <= 0 || FLAGS_relay_window > 64 ||
      FLAGS_relay_batch_events <= 0 || FLAGS_relay_batch_bytes <= 0 ||
      FLAGS_max_forwarders <= 0 || FLAGS_relay_batch_bytes > (16 << 20)) {
    std::fprintf(stderr,
                 "ziggy-forwarder: sizes and intervals must be positive "
                 "(--max-event-bytes and --relay-batch-bytes at most "
                 "16777216, --relay-window at most 64)\n");
    return false;
  }
  return true;
}

// The NATS upstream's options: the --nats-* flags (common/nats_stream.h)
// and the batch flags; false after a one-line error on stderr.
bool NatsFromFlags(ziggy::NatsUpstreamOptions* nats) {
  ziggy::NatsStreamFlags flags;
  flags.servers = FLAGS_upstream;
  flags.stream = FLAGS_nats_stream;
  flags.subject = FLAGS_nats_subject;
  flags.replicas = FLAGS_nats_replicas;
  flags.max_age = FLAGS_nats_max_age;
  flags.max_bytes = FLAGS_nats_max_bytes;
  flags.tls_ca = FLAGS_nats_tls_ca;
  flags.tls_cert = FLAGS_nats_tls_cert;
  flags.tls_key = FLAGS_nats_tls_key;
  flags.insecure = FLAGS_insecure;
  absl::StatusOr<ziggy::NatsStreamOptions> stream =
      ziggy::NatsStreamOptionsFromFlags(flags);
  if (!stream.ok()) {
    std::fprintf(stderr, "ziggy-forwarder: %s\n",
                 std::string(stream.status().message()).c_str());
    return false;
  }
  nats->stream = *std::move(stream);
  nats->batch_events = static_cast<size_t>(FLAGS_relay_batch_events);
  nats->batch_bytes = static_cast<size_t>(FLAGS_relay_batch_bytes);
  nats->zstd = FLAGS_compress == "zstd";
  nats->timeout = absl::Seconds(FLAGS_ack_timeout);
  return true;
}

// The relay's options: `upstreams` and `curve` (parsed and loaded already)
// and the rest of the relay flags.
ziggy::RelayOptions RelayFromFlags(
    std::vector<std::string> upstreams,
    absl::optional<ziggy::CurveSocketOptions> curve) {
  ziggy::RelayOptions relay;
  relay.upstreams = std::move(upstreams);
  relay.zstd = FLAGS_compress == "zstd";
  relay.window = FLAGS_relay_window;
  relay.batch_events = static_cast<size_t>(FLAGS_relay_batch_events);
  relay.batch_bytes = static_cast<size_t>(FLAGS_relay_batch_bytes);
  relay.ack_timeout = absl::Seconds(FLAGS_ack_timeout);
  relay.failback_interval = absl::Seconds(FLAGS_failback_interval);
  relay.curve = std::move(curve);
  return relay;
}

// --upstream, as collectors' relay ports (options->relay, with CurveZMQ
// keys) or NATS servers (options->nats); false after a one-line error.
bool UpstreamFromFlags(ziggy::ForwarderOptions* options) {
  absl::StatusOr<bool> nats = ziggy::IsNatsList(FLAGS_upstream);
  absl::StatusOr<std::vector<std::string>> upstreams =
      !nats.ok() ? nats.status()
      : *nats    ? ziggy::ParseNatsServers(FLAGS_upstream)
                 : ziggy::ParseUpstreams(FLAGS_upstream);
  if (!upstreams.ok()) {
    std::fprintf(stderr, "ziggy-forwarder: --upstream: %s\n",
                 std::string(upstreams.status().message()).c_str());
    return false;
  }
  if (*nats) {
    if (!FLAGS_upstream_server_key.empty()) {
      std::fprintf(stderr,
                   "ziggy-forwarder: --upstream-server-key is for collectors' "
                   "relay ports, not NATS servers\n");
      return false;
    }
    options->nats.emplace();
    return NatsFromFlags(&*options->nats);
  }
  absl::optional<ziggy::CurveSocketOptions> curve;
  if (!LoadRelayCurve(&curve)) return false;
  options->relay = RelayFromFlags(*std::move(upstreams), std::move(curve));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  ziggy::KeepRelayBuffersInHeap();
  gflags::SetUsageMessage(
      "the Ziggy forwarder: receives events from local applications, spools "
      "them durably and relays them, acknowledged, to collectors.\n"
      "  ziggy-forwarder --upstream=central:3515[,backup:3515] "
      "[--spool-path=DIR]\n"
      "  ziggy-forwarder --upstream=nats://nats1:4222[,nats://nats2:4222] "
      "[--nats-stream=ZIGGY] [--nats-subject=ziggy.batches]   publish to "
      "NATS JetStream\n"
      "    [--curve-key=MINE --upstream-server-key=COLLECTOR.pub]   relay "
      "over CurveZMQ\n"
      "    [--curve-key=MINE [--curve-allow=DIR] [--curve-admin=DIR] "
      "[--plain-collect]]   serve CurveZMQ\n"
      "    [--metrics=HOST:PORT]   serve GET /metrics (Prometheus)\n"
      "    [--relay=HOST:PORT]   a tier: take other forwarders' batches\n"
      "  Without --curve-key, --control, --stream and --metrics must be on "
      "loopback unless --insecure.");
  gflags::SetVersionString(ziggy::kVersion);
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (argc > 1) {
    std::fprintf(stderr, "ziggy-forwarder: unexpected argument '%s'\n",
                 argv[1]);
    return 1;
  }
  if (!FlagsAreValid()) return 1;
  ziggy::ForwarderOptions options;
  if (!UpstreamFromFlags(&options)) return 1;
  if (gflags::GetCommandLineFlagInfoOrDie("logtostderr").is_default) {
    FLAGS_logtostderr = true;
  }
  google::InitGoogleLogging(argv[0]);
  ziggy::TerminationSignals signals(
      ziggy::TerminationSignals::Hangup::kCallback);

  if (!LoadServerCurve(&options.curve)) return 1;
  options.control = FLAGS_control;
  options.collect = FLAGS_collect;
  options.stream = FLAGS_stream;
  options.spool.dir = ziggy::ResolveUserPath(FLAGS_spool_path);
  options.spool.max_bytes = static_cast<uint64_t>(FLAGS_spool_max_bytes);
  options.spool.sync_interval = absl::Milliseconds(FLAGS_spool_sync_ms);
  options.max_event_bytes = static_cast<size_t>(FLAGS_max_event_bytes);
  options.queues.collect_bytes = static_cast<size_t>(FLAGS_collect_queue_bytes);
  options.queues.stream_bytes = static_cast<size_t>(FLAGS_stream_queue_bytes);
  options.metrics = FLAGS_metrics;
  options.relay_port = FLAGS_relay;
  options.max_forwarders = static_cast<size_t>(FLAGS_max_forwarders);
  if (!ExposureAllowed(options)) return 1;

  absl::StatusOr<std::unique_ptr<ziggy::Forwarder>> forwarder =
      ziggy::Forwarder::Bind(options);
  if (!forwarder.ok()) {
    std::fprintf(stderr, "ziggy-forwarder: %s\n",
                 std::string(forwarder.status().message()).c_str());
    return 1;
  }
  LOG(INFO) << "ziggy-forwarder listening: control="
            << (*forwarder)->control_endpoint()
            << " collect=" << (*forwarder)->collect_endpoint()
            << " stream=" << (*forwarder)->stream_endpoint()
            << ((*forwarder)->relay_endpoint().empty() ? "" : " relay=")
            << (*forwarder)->relay_endpoint() << " upstream="
            << ziggy::RedactNatsUrls(
                   absl::StrSplit(FLAGS_upstream, ',', absl::SkipEmpty()))
            << " spool=" << options.spool.dir;
  if (!options.metrics.empty()) {
    LOG(INFO) << "metrics: " << (*forwarder)->metrics_url() << "/metrics";
  }
  signals.Start([&](int) { (*forwarder)->Stop(); },
                [&] { (*forwarder)->ReloadCurveKeys(); });
  (*forwarder)->Run();
  signals.Stop();  // no reload once the forwarder is gone
  return 0;
}
