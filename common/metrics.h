// Prometheus metrics from STATUS: the daemons' STATUS reply (a Value::Map,
// see daemon_sockets.h) rendered in the Prometheus text exposition format,
// version 0.0.4, for `--metrics` (metrics_server.h serves it over HTTP).
//
// Every metric is named ziggy_<what>; counters (values that only grow while
// the daemon runs, reset by a restart) end in _total; gauges (values that go
// up and down, indexes, timestamps, configured limits) never do. Each family
// has a HELP and a TYPE line; label values are escaped (\\, \", \n).
//
// The mapping, STATUS field -> metric (C counter, G gauge), abridged; the
// exact names, types and HELP texts are the tables in metrics.cc, which
// ExportedMetrics() lists:
//   both daemons
//     daemon, host             ziggy_daemon_info{daemon,host} 1        G
//     uptime                   ziggy_uptime_seconds                    G
//     fds.open, fds.limit      ziggy_open_fds, ziggy_max_fds           G
//     last, lag, lag_median    ziggy_last_event_timestamp_seconds,
//                              ziggy_lag_seconds, ziggy_lag_median_seconds G
//     events.<type>.count      ziggy_type_events_total{type}           C
//     events.<type>.last       ziggy_type_last_event_timestamp_seconds{type} G
//     hosts.<host>.count/last  ziggy_host_events_total{host},
//                              ziggy_host_last_event_timestamp_seconds{host}
//     untracked.types/hosts    ziggy_untracked_type_events_total,
//                              ziggy_untracked_host_events_total       C
//     received, received_bytes ziggy_events_received_total,
//                              ziggy_received_bytes_total              C
//     repaired.<reason>        ziggy_events_repaired_total{reason}     C
//     dropped.<reason>         ziggy_events_dropped_total{reason}      C
//     published                ziggy_stream_published_total            C
//     stream_dropped.<reason>  ziggy_stream_dropped_total{reason}      C
//     stream_subscribers       ziggy_stream_subscribers                G
//     auth.<field> (CurveZMQ)  ziggy_auth_<field>_total                C
//   ziggyd
//     written, written_bytes   ziggy_events_written_total,
//                              ziggy_written_bytes_total               C
//     queue_bytes, open_files, types_today
//                              ziggy_writer_queue_bytes,
//                              ziggy_open_event_files, ziggy_types_today G
//     write_errors, repaired_tails, corrupt_files, reopened_files,
//     overflowed               ziggy_write_errors_total, ziggy_repaired_tails
//                              _total, ziggy_corrupt_files_total,
//                              ziggy_reopened_files_total,
//                              ziggy_events_overflowed_total           C
//     relay.batches, .events, .acked, .duplicates_dropped,
//     .resend_requests, .rejected, .refused_token, .jumps, .forgotten,
//     .checkpoints             ziggy_relay_received_batches_total, ..._events
//                              _total, ziggy_relay_acks_sent_total, ... C
//     relay.forwarders_known, .checkpoint_written, .rolled_back_bytes   G
//     relay.forwarders.<id>.next/last
//                              ziggy_relay_forwarder_next_index{forwarder},
//                              ..._last_timestamp_seconds{forwarder}   G
//     disk.log_path_bytes, .free_bytes, .min_free_bytes, .accepting (1/0)
//                              ziggy_disk_log_path_bytes, ..._free_bytes,
//                              ..._min_free_bytes, ..._accepting       G
//     disk.low_disk_pauses, .files_compressed, .bytes_saved, .days_removed,
//     .compression_errors, .removal_errors
//                              ziggy_disk_low_space_pauses_total,
//                              ziggy_disk_files_compressed_total,
//                              ziggy_disk_compression_saved_bytes_total,
//                              ziggy_disk_removed_directories_total,
//                              ziggy_disk_compression_errors_total,
//                              ziggy_disk_removal_errors_total        C
//     forwarded.sent/dropped   ziggy_forward_sent_total, ..._dropped_total C
//   ziggy-forwarder
//     spool.spooled, .acked, .pending, .bytes, .max_bytes, .segments,
//     .synced, .skipped        ziggy_spool_spooled_events, ..._acked_events,
//                              ..._pending_events, ..._bytes, ... G
//     spool.syncs, .sync_errors, .refused_full, .write_failed,
//     .damaged_records, .damaged_bytes, .repaired_tail_bytes,
//     .read_from_disk          ziggy_spool_<field>_total (events/bytes) C
//     relay.current            ziggy_relay_current_upstream{upstream} 1 G
//     relay.upstreams.<addr>.state
//                              ziggy_relay_upstream_state{upstream,state}:
//                              1 for its state, 0 for the others     G
//     relay.upstreams.<addr>.batches/acks/timeouts/refusals
//                              ziggy_relay_upstream_<field>_total{upstream} C
//     relay.in_flight, relay.acked
//                              ziggy_relay_in_flight_events,
//                              ziggy_relay_acked_events               G
//     relay.sent_batches, .retransmitted, .resend_requests            C
// Not exported on purpose (UnexportedFields does not report them): pid, now,
// rotate_hours, ports.*, disk.retain_days, disk.compress_after_days
// (identity and configuration, not measurements) and text fields other
// than those above (log_path, disk.oldest_day, spool.id, spool.path,
// relay.compression, upstreams' last refusal reason).
//
// Bounded: the per-type and per-host families have at most
// EventIntake::kMaxTracked entries each (STATUS's own cap), forwarders at
// most RelayReceiver::kForwardersListed, upstreams as many as configured.
//
// Pure functions: thread-safe.

#ifndef ZIGGY_COMMON_METRICS_H_
#define ZIGGY_COMMON_METRICS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "client/format/value.h"

namespace ziggy {

// Which daemon's STATUS: the common fields are the same, the rest differ
// (both have a `relay` section, with other fields).
enum class StatusSchema { kCollector, kForwarder };

// The Content-Type of PrometheusText's output.
inline constexpr char kPrometheusContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

// STATUS as Prometheus text. Fields missing from `status` are left out (a
// family without samples is not written); a field of the wrong kind too.
//   PrometheusText({{"received", 3}, ...}, StatusSchema::kCollector) ->
//     "# HELP ziggy_events_received_total Events accepted ...\n"
//     "# TYPE ziggy_events_received_total counter\n"
//     "ziggy_events_received_total 3\n" ...
std::string PrometheusText(const Value::Map& status, StatusSchema schema);

enum class MetricType { kCounter, kGauge };

// A metric family PrometheusText may write.
struct MetricInfo {
  std::string name;
  MetricType type;
  std::string help;
};
// Every family of `schema`, in the order PrometheusText writes them.
std::vector<MetricInfo> ExportedMetrics(StatusSchema schema);

// The numeric STATUS fields (dotted paths) that no metric exports and that
// are not deliberately left out: empty when every number of `status`
// reaches /metrics. For tests: a new STATUS counter needs a metric.
std::vector<std::string> UnexportedFields(const Value::Map& status,
                                          StatusSchema schema);

// Whether `name` is a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
bool IsValidMetricName(absl::string_view name);

// A label value in the text format's escaping: \ -> \\, " -> \", newline
// -> \n.
std::string EscapeLabelValue(absl::string_view value);

}  // namespace ziggy

#endif  // ZIGGY_COMMON_METRICS_H_
