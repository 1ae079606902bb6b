// ziggyd: the Ziggy collector. See collector.h; flags below.

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "collector/collector.h"
#include "collector/free_space.h"
#include "common/cli.h"
#include "common/clock.h"
#include "common/exposure.h"
#include "common/nats_stream.h"
#include "common/paths.h"
#include "common/relay_protocol.h"
#include "common/signals.h"
#include "common/version.h"
#include "common/zap_handler.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_string(control, "127.0.0.1:3513",
              "Control port (REP) host:port; port 0 picks a free one.");
DEFINE_string(collect, "127.0.0.1:3514",
              "Collect port (PULL) for events, host:port; \"*:3514\" listens "
              "on every interface.");
DEFINE_string(stream, "",
              "Live stream port (PUB) host:port; 0 picks a free one (ask the "
              "control port: SOCK_STREAM). Empty: a free port on the control "
              "port's interface, so ziggyview -H reaches it wherever it "
              "reaches the control port.");
DEFINE_string(relay, "127.0.0.1:3515",
              "Relay port (ROUTER) for forwarders' acknowledged batches, "
              "host:port; empty turns it off.");
DEFINE_string(source, "",
              "NATS servers, nats://host:4222[,nats://host2:4222,...]: pull "
              "relay batches from the JetStream stream forwarders publish to "
              "(ziggy-forwarder --upstream=nats://...), through a durable "
              "consumer every collector naming it shares; each message is "
              "acknowledged once a checkpoint covers it. Empty: off.");
DEFINE_string(nats_stream, "ZIGGY",
              "With --source: the JetStream stream (created if missing).");
DEFINE_string(nats_subject, "ziggy.batches",
              "With --source: the subject prefix; a forwarder's batches are "
              "on <prefix>.<forwarder id>, the stream holds <prefix>.>.");
DEFINE_string(nats_consumer, "ziggyd",
              "With --source: the durable pull consumer the pool of "
              "collectors shares (created if missing).");
DEFINE_string(nats_ack_wait, "30s",
              "With --source: how long NATS waits for a message's ack before "
              "giving it to another collector, for a consumer ziggyd creates "
              "(an existing one keeps its own); at least 1s.");
DEFINE_int32(nats_replicas, 1,
             "With --source, creating the stream: its replicas, 1-5.");
DEFINE_string(nats_max_age, "24h",
              "With --source, creating the stream: how long it keeps a "
              "message (e.g. 24h, 90m; 0: forever).");
DEFINE_int64(nats_max_bytes, 0,
             "With --source, creating the stream: the most bytes it keeps, "
             "oldest dropped first; 0: unlimited.");
DEFINE_string(nats_tls_ca, "",
              "With --source: the CA file that signed the NATS servers' "
              "certificates; sets TLS (as tls:// URLs do). Without TLS, "
              "NATS servers off this host need --insecure.");
DEFINE_string(nats_tls_cert, "",
              "With --nats-tls-ca: this daemon's client certificate, for "
              "NATS servers that verify clients (with --nats-tls-key).");
DEFINE_string(nats_tls_key, "", "With --nats-tls-cert: its private key file.");
DEFINE_string(forward, "",
              "host:port of another daemon's collect port to push every "
              "accepted event to, as the original Python ziggyd did: best "
              "effort, dropped (counted) when it is down or slow. For "
              "delivery that survives outages and crashes, run "
              "ziggy-forwarder.");
DEFINE_string(log_path, "ziggy-logs",
              "Directory for event files (created if missing); relative paths "
              "are resolved against the directory you ran the command from.");
DEFINE_int32(rotate_hours, 24,
             "Hours per file, 1-24. Under 24, file names carry the hour "
             "block: <type>-<YYYYMMDD>-<HH>.log.");
DEFINE_int64(max_queued_bytes, 64 << 20,
             "Events received and waiting for the disk, in bytes; beyond "
             "it ziggyd stops reading (senders are pushed back, forwarders "
             "keep spooling).");
DEFINE_int64(collect_queue_bytes, int64_t{1} << 30,
             "Events ZeroMQ may hold per sending connection, in bytes; "
             "beyond it that sender is pushed back.");
DEFINE_int64(stream_queue_bytes, 16 << 20,
             "Stream messages held per live subscriber, in bytes; a "
             "subscriber this far behind loses stream messages (counted).");
DEFINE_int64(max_event_bytes, 1 << 20,
             "Larger events are dropped (counted); at most 16 MiB, BSON's own "
             "limit.");
DEFINE_int32(flush_interval_ms, 200,
             "Buffered events reach their files at least this often.");
DEFINE_int32(idle_close_seconds, 60, "Files idle this long are closed.");
DEFINE_int32(max_open_files, 256, "At most this many event files open.");
DEFINE_int32(max_types_per_day, 10000,
             "Event types given files of their own per UTC day; events of "
             "further new types go, each with its own type, to one file per "
             "day (or hour block), ~overflow-<YYYYMMDD>.log.");
DEFINE_int32(max_forwarders, 10000,
             "Forwarders whose relay position is kept; beyond it the one "
             "heard from least recently is forgotten (it is welcomed back "
             "from its own acknowledged mark).");
DEFINE_string(metrics, "",
              "host:port serving GET /metrics, STATUS's counters in the "
              "Prometheus text format over plain HTTP; port 0 picks a free "
              "one (logged, and STATUS ports.metrics). Empty: off. Off "
              "loopback it needs --insecure without --curve-key; with "
              "--curve-key it is allowed anywhere, still unauthenticated.");
DEFINE_string(curve_key, "",
              "Secret key file (ziggyctl keygen): every port becomes a "
              "CurveZMQ server; without --curve-allow any client that knows "
              "its public key (PATH.pub) may connect.");
DEFINE_string(curve_allow, "",
              "Directory of clients' *.pub files; only those keys may connect "
              "(needs --curve-key).");
DEFINE_string(curve_admin, "",
              "Directory of admin clients' *.pub files: only those keys may "
              "use the control commands that change state (SHUTDOWN, FLUSH, "
              "ADVANCE_CLOCK); they may connect even when not in --curve-allow "
              "(needs --curve-key). SIGHUP re-reads this and --curve-allow.");
DEFINE_bool(plain_collect, false,
            "With --curve-key: the collect port stays plain text, for the "
            "original Python clients.");
DEFINE_bool(insecure, false,
            "Without --curve-key: allow --control, --stream, --relay or "
            "--metrics on an address other than loopback (127.0.0.0/8, ::1, "
            "localhost), in plain text, where anyone who reaches it can "
            "SHUTDOWN ziggyd, read its stream or metrics or relay events "
            "under any forwarder id; without it ziggyd refuses to start.");
DEFINE_int32(retain_days, 0,
             "Day directories (<log-path>/<YYYYMMDD>, UTC) more than this many "
             "days before today are removed, at start and hourly; never "
             "today's or one with an open file. 0: keep forever.");
DEFINE_int32(compress_after_days, 0,
             "Closed event files of days at least this many days before today "
             "are compressed to <name>.zst (zstd, crash-safe, verified) by a "
             "low-priority thread. 0: never.");
DEFINE_string(min_free_disk, "0",
              "Below this much free space on the log path's file system "
              "ziggyd stops accepting events (clients queue, forwarders "
              "spool; nothing is dropped) until space returns; bytes with an "
              "optional K, M, G or T suffix (powers of 1024). 0: off.");
DEFINE_string(fake_free_disk_file, "",
              "Testing only: read the free bytes --min-free-disk compares with "
              "from this file instead of the file system.");
DEFINE_double(fake_time, 0,
              "Testing only: start the clock that decides files at this Unix "
              "time and let the ADVANCE_CLOCK control command move it.");

namespace {

bool Positive(const char* flag, int64_t value) {
  if (value > 0) return true;
  std::fprintf(stderr, "ziggyd: --%s must be positive\n", flag);
  return false;
}

bool NotNegative(const char* flag, int64_t value) {
  if (value >= 0) return true;
  std::fprintf(stderr, "ziggyd: --%s must be 0 or more\n", flag);
  return false;
}

// --min-free-disk in bytes; false after a one-line error.
bool ParseMinFreeDisk(uint64_t* bytes) {
  absl::StatusOr<uint64_t> parsed = ziggy::ParseByteSize(FLAGS_min_free_disk);
  if (!parsed.ok()) {
    std::fprintf(stderr, "ziggyd: --min-free-disk=%s\n",
                 std::string(parsed.status().message()).c_str());
    return false;
  }
  *bytes = *parsed;
  return true;
}

// The flags' values, checked; false after printing why not.
bool FlagsAreValid() {
  if (FLAGS_max_event_bytes > (16 << 20)) {
    std::fprintf(stderr, "ziggyd: --max-event-bytes is at most 16777216\n");
    return false;
  }
  return Positive("max-event-bytes", FLAGS_max_event_bytes) &&
         Positive("flush-interval-ms", FLAGS_flush_interval_ms) &&
         Positive("idle-close-seconds", FLAGS_idle_close_seconds) &&
         Positive("max-open-files", FLAGS_max_open_files) &&
         Positive("max-types-per-day", FLAGS_max_types_per_day) &&
         Positive("max-forwarders", FLAGS_max_forwarders) &&
         Positive("max-queued-bytes", FLAGS_max_queued_bytes) &&
         Positive("collect-queue-bytes", FLAGS_collect_queue_bytes) &&
         Positive("stream-queue-bytes", FLAGS_stream_queue_bytes) &&
         NotNegative("retain-days", FLAGS_retain_days) &&
         NotNegative("compress-after-days", FLAGS_compress_after_days);
}

ziggy::CollectorOptions OptionsFromFlags() {
  ziggy::CollectorOptions options;
  options.control = FLAGS_control;
  options.collect = FLAGS_collect;
  options.stream = FLAGS_stream;
  options.relay = FLAGS_relay;
  options.forward = FLAGS_forward;
  options.max_forwarders = static_cast<size_t>(FLAGS_max_forwarders);
  options.store.root = ziggy::ResolveUserPath(FLAGS_log_path);
  options.store.rotate_hours = FLAGS_rotate_hours;
  options.store.idle_close = absl::Seconds(FLAGS_idle_close_seconds);
  options.store.max_open_files = static_cast<size_t>(FLAGS_max_open_files);
  options.store.max_types_per_day =
      static_cast<size_t>(FLAGS_max_types_per_day);
  options.max_event_bytes = static_cast<size_t>(FLAGS_max_event_bytes);
  options.max_queued_bytes = static_cast<size_t>(FLAGS_max_queued_bytes);
  options.queues.collect_bytes = static_cast<size_t>(FLAGS_collect_queue_bytes);
  options.queues.stream_bytes = static_cast<size_t>(FLAGS_stream_queue_bytes);
  options.flush_interval = absl::Milliseconds(FLAGS_flush_interval_ms);
  options.metrics = FLAGS_metrics;
  options.retain_days = FLAGS_retain_days;
  options.compress_after_days = FLAGS_compress_after_days;
  options.fake_free_disk_file =
      ziggy::ResolveUserPath(FLAGS_fake_free_disk_file);
  return options;
}

// --curve-key, --curve-allow and --plain-collect; false after a one-line
// error on stderr.
bool LoadCurve(absl::optional<ziggy::CurveServerOptions>* curve) {
  return ziggy::TakeOrReport(
      "ziggyd",
      ziggy::LoadCurveServerOptions(ziggy::ResolveUserPath(FLAGS_curve_key),
                                    ziggy::ResolveUserPath(FLAGS_curve_allow),
                                    ziggy::ResolveUserPath(FLAGS_curve_admin),
                                    FLAGS_plain_collect),
      curve);
}

// --source and the --nats-* flags into options->nats; false after a
// one-line error.
bool LoadNatsSource(ziggy::CollectorOptions* options) {
  if (FLAGS_source.empty()) return true;
  ziggy::NatsStreamFlags flags;
  flags.servers = FLAGS_source;
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
  absl::StatusOr<absl::Duration> ack_wait =
      ziggy::ParseNatsDuration("nats-ack-wait", FLAGS_nats_ack_wait);
  absl::Status s = !stream.ok() ? stream.status() : ack_wait.status();
  ziggy::NatsSourceOptions nats;
  if (s.ok()) {
    nats.stream = *std::move(stream);
    nats.consumer = FLAGS_nats_consumer;
    nats.ack_wait = *ack_wait;
    s = ziggy::ValidateNatsSourceOptions(nats);
  }
  if (!s.ok()) {
    std::fprintf(stderr, "ziggyd: %s\n", std::string(s.message()).c_str());
    return false;
  }
  options->nats = std::move(nats);
  return true;
}

// Secure by default (common/exposure.h); false after a one-line error.
bool ExposureAllowed(const ziggy::CollectorOptions& options) {
  return ziggy::ExposureAllowed(
      "ziggyd",
      {options.control, options.collect, options.stream, options.relay,
       options.metrics},
      {options.curve.has_value(), options.curve && options.curve->plain_collect,
       FLAGS_insecure});
}

// The start-up lines: where ziggyd listens, and what it pulls or pushes.
void LogListening(const ziggy::Collector& collector,
                  const ziggy::CollectorOptions& options) {
  LOG(INFO) << "ziggyd listening: control=" << collector.control_endpoint()
            << " collect=" << collector.collect_endpoint()
            << " stream=" << collector.stream_endpoint()
            << " relay=" << collector.relay_endpoint()
            << " log-path=" << options.store.root;
  if (!options.metrics.empty()) {
    LOG(INFO) << "metrics: " << collector.metrics_url() << "/metrics";
  }
  if (options.nats.has_value()) {
    LOG(INFO) << "pulling relay batches from NATS "
              << ziggy::RedactNatsUrls(options.nats->stream.servers)
              << ", stream " << options.nats->stream.stream << ", consumer "
              << options.nats->consumer;
  }
  if (!options.forward.empty()) {
    LOG(INFO) << "forwarding every event to " << options.forward
              << ", best effort; ziggy-forwarder is the reliable path";
  }
}

}  // namespace

int main(int argc, char** argv) {
  ziggy::KeepRelayBuffersInHeap();
  gflags::SetUsageMessage(
      "the Ziggy collector: receives events, writes one file per type per "
      "day, serves a live stream and a control port.\n"
      "  ziggyd [--log-path=DIR] [--collect=HOST:PORT] [--control=HOST:PORT]\n"
      "    [--curve-key=KEY [--curve-allow=DIR] [--curve-admin=DIR] "
      "[--plain-collect]]   serve CurveZMQ\n"
      "    [--metrics=HOST:PORT]   serve GET /metrics (Prometheus)\n"
      "    [--source=nats://HOST:4222[,...] [--nats-consumer=NAME]]   pull "
      "relay batches from NATS JetStream\n"
      "  Without --curve-key, --control, --stream, --relay and --metrics "
      "must be on loopback unless --insecure.");
  gflags::SetVersionString(ziggy::kVersion);
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (argc > 1) {
    std::fprintf(stderr, "ziggyd: unexpected argument '%s' (see --help)\n",
                 argv[1]);
    return 1;
  }
  if (!FlagsAreValid()) return 1;
  if (gflags::GetCommandLineFlagInfoOrDie("logtostderr").is_default) {
    FLAGS_logtostderr = true;
  }
  google::InitGoogleLogging(argv[0]);
  // Before any thread starts.
  ziggy::TerminationSignals signals(
      ziggy::TerminationSignals::Hangup::kCallback);

  ziggy::CollectorOptions options = OptionsFromFlags();
  if (!ParseMinFreeDisk(&options.min_free_bytes)) return 1;
  if (!LoadNatsSource(&options)) return 1;
  if (!LoadCurve(&options.curve)) return 1;
  if (!ExposureAllowed(options)) return 1;
  std::unique_ptr<ziggy::ManualClock> test_clock;
  if (FLAGS_fake_time > 0) {
    test_clock = std::make_unique<ziggy::ManualClock>(
        absl::FromUnixNanos(static_cast<int64_t>(FLAGS_fake_time * 1e9)));
    options.test_clock = test_clock.get();
  }

  absl::StatusOr<std::unique_ptr<ziggy::Collector>> collector =
      ziggy::Collector::Bind(options);
  if (!collector.ok()) {
    std::fprintf(stderr, "ziggyd: %s\n",
                 std::string(collector.status().message()).c_str());
    return 1;
  }
  LogListening(**collector, options);
  signals.Start(
      [&](int signo) {
        LOG(INFO) << "signal " << signo << ": stopping";
        (*collector)->Stop();
      },
      [&] { (*collector)->ReloadCurveKeys(); });
  const absl::Status s = (*collector)->Run();
  signals.Stop();  // no reload once the collector is gone
  if (!s.ok()) {
    LOG(ERROR) << s;
    std::fprintf(stderr, "ziggyd: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
