#include "common/metrics.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace ziggy {
namespace {

constexpr MetricType C = MetricType::kCounter;
constexpr MetricType G = MetricType::kGauge;

// How a rule reads STATUS.
enum class RuleKind {
  kScalar,   // a number at `path`
  kKeyed,    // {key: number} at `path`: one sample per key, labelled
  kEntry,    // {key: {field: number}} at `path`: one sample per key
  kState,    // {key: {field: "state"}}: 1 for the state, 0 for the others
  kCurrent,  // a string at `path`: one sample {label="the string"} 1
  kInfo,     // daemon and host: ziggy_daemon_info{daemon, host} 1
};

struct Rule {
  RuleKind kind;
  const char* path;
  const char* label;  // kKeyed, kEntry, kState, kCurrent
  const char* field;  // kEntry, kState
  const char* name;
  MetricType type;
  const char* help;
};

Rule Scalar(const char* path, const char* name, MetricType type,
            const char* help) {
  return {RuleKind::kScalar, path, "", "", name, type, help};
}
Rule Keyed(const char* path, const char* label, const char* name,
           const char* help) {
  return {RuleKind::kKeyed, path, label, "", name, C, help};
}
Rule Entry(const char* path, const char* label, const char* field,
           const char* name, MetricType type, const char* help) {
  return {RuleKind::kEntry, path, label, field, name, type, help};
}

// The relay client's upstream states (forwarder/relay_connection.cc).
constexpr const char* kUpstreamStates[] = {"idle", "connecting", "up", "down",
                                           "refused"};

// Numeric STATUS fields left out on purpose (see the header).
constexpr const char* kNotExported[] = {"pid",
                                        "now",
                                        "rotate_hours",
                                        "ports.*",
                                        "disk.retain_days",
                                        "disk.compress_after_days"};

void AddCommonRules(std::vector<Rule>* rules) {
  const Rule common[] = {
      {RuleKind::kInfo, "daemon", "", "", "ziggy_daemon_info", G,
       "Always 1; the labels name the daemon and its host."},
      Scalar("uptime", "ziggy_uptime_seconds", G,
             "Seconds since the daemon started."),
      Scalar("fds.open", "ziggy_open_fds", G,
             "File descriptors the daemon has open."),
      Scalar("fds.limit", "ziggy_max_fds", G,
             "The daemon's limit on open file descriptors."),
      Scalar("last", "ziggy_last_event_timestamp_seconds", G,
             "Unix time the last event was received (0: none yet)."),
      Scalar("lag", "ziggy_lag_seconds", G,
             "Receipt time minus the last event's own end time."),
      Scalar("lag_median", "ziggy_lag_median_seconds", G,
             "Median lag over the last 1024 events."),
      Scalar("received", "ziggy_events_received_total", C,
             "Events accepted from the network."),
      Scalar("received_bytes", "ziggy_received_bytes_total", C,
             "Bytes of the events accepted, as received."),
      Keyed("repaired", "reason", "ziggy_events_repaired_total",
            "Events accepted after a repair (utf8: invalid UTF-8 replaced)."),
      Keyed("dropped", "reason", "ziggy_events_dropped_total",
            "Events dropped, by reason."),
      Entry("events", "type", "count", "ziggy_type_events_total", C,
            "Events accepted, by type (at most 10000 types; the rest count in "
            "ziggy_untracked_type_events_total)."),
      Entry("events", "type", "last", "ziggy_type_last_event_timestamp_seconds",
            G, "Unix time an event of the type was last received."),
      Entry("hosts", "host", "count", "ziggy_host_events_total", C,
            "Events accepted, by sending host (at most 10000 hosts; the rest "
            "count in ziggy_untracked_host_events_total)."),
      Entry("hosts", "host", "last", "ziggy_host_last_event_timestamp_seconds",
            G, "Unix time an event from the host was last received."),
      Scalar("untracked.types", "ziggy_untracked_type_events_total", C,
             "Events of types beyond the 10000 listed."),
      Scalar("untracked.hosts", "ziggy_untracked_host_events_total", C,
             "Events from hosts beyond the 10000 listed."),
      Scalar("published", "ziggy_stream_published_total", C,
             "Events sent on the live stream."),
      Keyed("stream_dropped", "reason", "ziggy_stream_dropped_total",
            "Events not sent on the live stream, by reason."),
      Scalar("stream_subscribers", "ziggy_stream_subscribers", G,
             "Live stream subscriptions."),
      Scalar("auth.accepted", "ziggy_auth_accepted_total", C,
             "CurveZMQ clients let in."),
      Scalar("auth.refused", "ziggy_auth_refused_total", C,
             "CurveZMQ clients refused by the key lists."),
      Scalar("auth.failed_handshakes", "ziggy_auth_failed_handshakes_total", C,
             "CurveZMQ handshakes that failed."),
      Scalar("auth.refused_admin", "ziggy_auth_refused_admin_total", C,
             "Control commands refused for want of an admin key."),
      Scalar("auth.reloads", "ziggy_auth_reloads_total", C,
             "Key list reloads (SIGHUP)."),
      Scalar("auth.reload_failures", "ziggy_auth_reload_failures_total", C,
             "Key list reloads that failed (the lists stayed)."),
  };
  rules->insert(rules->end(), std::begin(common), std::end(common));
}

void AddNatsSourceRules(std::vector<Rule>* rules);

void AddCollectorRules(std::vector<Rule>* rules) {
  const Rule collector[] = {
      Scalar("written", "ziggy_events_written_total", C,
             "Events written to their files."),
      Scalar("written_bytes", "ziggy_written_bytes_total", C,
             "Bytes written to event files."),
      Scalar("queue_bytes", "ziggy_writer_queue_bytes", G,
             "Bytes received and waiting for the writer."),
      Scalar("open_files", "ziggy_open_event_files", G, "Event files open."),
      Scalar("write_errors", "ziggy_write_errors_total", C,
             "Failed write() or open() calls."),
      Scalar("repaired_tails", "ziggy_repaired_tails_total", C,
             "Files whose torn tail was cut off."),
      Scalar("corrupt_files", "ziggy_corrupt_files_total", C,
             "Damaged files set aside."),
      Scalar("reopened_files", "ziggy_reopened_files_total", C,
             "Removed or replaced files reopened."),
      Scalar("types_today", "ziggy_types_today", G,
             "Types with files of their own today."),
      Scalar("overflowed", "ziggy_events_overflowed_total", C,
             "Events of types beyond the day's limit, in the overflow file."),
      Scalar("relay.batches", "ziggy_relay_received_batches_total", C,
             "Relay batches taken from forwarders."),
      Scalar("relay.events", "ziggy_relay_received_events_total", C,
             "Events in the relay batches taken."),
      Scalar("relay.acked", "ziggy_relay_acks_sent_total", C,
             "Acknowledgements sent to forwarders."),
      Scalar("relay.duplicates_dropped", "ziggy_relay_duplicate_events_total",
             C, "Relayed events already written, dropped."),
      Scalar("relay.resend_requests", "ziggy_relay_resend_requests_sent_total",
             C, "Relay batches answered with a resend request."),
      Scalar("relay.rejected", "ziggy_relay_rejected_batches_total", C,
             "Malformed relay batches refused."),
      Scalar("relay.refused_token", "ziggy_relay_refused_token_batches_total",
             C, "Relay batches with another forwarder's token refused."),
      Scalar("relay.jumps", "ziggy_relay_jumps_total", C,
             "Forwarders moved on by their own acknowledged mark."),
      Scalar("relay.forwarders_known", "ziggy_relay_forwarders_known", G,
             "Forwarders whose relay position is kept."),
      Scalar("relay.forgotten", "ziggy_relay_forwarders_forgotten_total", C,
             "Forwarders forgotten (beyond --max-forwarders)."),
      Scalar("relay.checkpoints", "ziggy_relay_checkpoints_total", C,
             "Relay checkpoints made durable."),
      Scalar("relay.checkpoint_written",
             "ziggy_relay_checkpoint_written_events", G,
             "Events written as of the last relay checkpoint."),
      Scalar("relay.rolled_back_bytes", "ziggy_relay_rolled_back_bytes", G,
             "Unacknowledged bytes undone at start."),
      Entry("relay.forwarders", "forwarder", "next",
            "ziggy_relay_forwarder_next_index", G,
            "The next spool index expected from the forwarder (the 100 most "
            "recently heard)."),
      Entry("relay.forwarders", "forwarder", "last",
            "ziggy_relay_forwarder_last_timestamp_seconds", G,
            "Unix time the forwarder was last heard from."),
      Scalar("forwarded.sent", "ziggy_forward_sent_total", C,
             "Events pushed to --forward."),
      Scalar("forwarded.dropped", "ziggy_forward_dropped_total", C,
             "Events --forward could not take, dropped."),
  };
  rules->insert(rules->end(), std::begin(collector), std::end(collector));
  AddNatsSourceRules(rules);
}

// ziggyd --source: STATUS nats (collector/nats_source.h).
void AddNatsSourceRules(std::vector<Rule>* rules) {
  const Rule nats[] = {
      Scalar("nats.connected", "ziggy_nats_connected", G,
             "1 while connected to a NATS server."),
      Scalar("nats.ack_wait", "ziggy_nats_ack_wait_seconds", G,
             "The consumer's ack wait."),
      Scalar("nats.batches", "ziggy_nats_batches_total", C,
             "NATS messages taken in as batches."),
      Scalar("nats.events", "ziggy_nats_events_total", C,
             "Events in the NATS batches taken."),
      Scalar("nats.duplicates_dropped", "ziggy_nats_duplicate_events_total", C,
             "Events of redelivered messages already written, dropped."),
      Scalar("nats.acks", "ziggy_nats_acks_total", C,
             "Acknowledgements NATS confirmed."),
      Scalar("nats.ack_errors", "ziggy_nats_ack_errors_total", C,
             "Acknowledgements that failed (retried)."),
      Scalar("nats.redelivered", "ziggy_nats_redelivered_total", C,
             "Messages delivered more than once."),
      Scalar("nats.in_progress", "ziggy_nats_in_progress_total", C,
             "In-progress signals for messages held unacknowledged."),
      Scalar("nats.rejected", "ziggy_nats_rejected_total", C,
             "Malformed NATS messages terminated."),
      Scalar("nats.possible_duplicates", "ziggy_nats_possible_duplicates_total",
             C,
             "Messages whose ack may have come after NATS gave them to "
             "another collector."),
      Scalar("nats.pending_acks", "ziggy_nats_pending_acks", G,
             "Messages written whose ack NATS has not confirmed."),
      Scalar("nats.subscribed", "ziggy_nats_subscribed", G,
             "1 while pulling through the consumer."),
      Scalar("nats.stalled", "ziggy_nats_stalled", G,
             "1 when the last idle check found messages waiting that do not "
             "come, or the consumer without a leader or not answering."),
      Scalar("nats.resubscribes", "ziggy_nats_resubscribes_total", C,
             "Times the collector subscribed to the consumer again (messages "
             "waiting that never came, or the consumer gone)."),
  };
  rules->insert(rules->end(), std::begin(nats), std::end(nats));
}

// ziggyd's STATUS disk: the storage lifecycle and --min-free-disk.
void AddDiskRules(std::vector<Rule>* rules) {
  const Rule disk[] = {
      Scalar("disk.log_path_bytes", "ziggy_disk_log_path_bytes", G,
             "Bytes of event files under the log path."),
      Scalar("disk.free_bytes", "ziggy_disk_free_bytes", G,
             "Free bytes on the log path's file system."),
      Scalar("disk.min_free_bytes", "ziggy_disk_min_free_bytes", G,
             "--min-free-disk: below it no events are accepted (0: off)."),
      Scalar("disk.accepting", "ziggy_disk_accepting", G,
             "1 while events are accepted, 0 while free space is below "
             "--min-free-disk."),
      Scalar("disk.low_disk_pauses", "ziggy_disk_low_space_pauses_total", C,
             "Times accepting stopped for want of free space."),
      Scalar("disk.files_compressed", "ziggy_disk_files_compressed_total", C,
             "Event files compressed to .zst."),
      Scalar("disk.bytes_saved", "ziggy_disk_compression_saved_bytes_total", C,
             "Bytes saved by compression (original minus compressed)."),
      Scalar("disk.days_removed", "ziggy_disk_removed_directories_total", C,
             "Day directories removed by --retain-days."),
      Scalar("disk.compression_errors", "ziggy_disk_compression_errors_total",
             C, "Compressions that failed (the original kept)."),
      Scalar("disk.removal_errors", "ziggy_disk_removal_errors_total", C,
             "Event files --retain-days could not remove."),
  };
  rules->insert(rules->end(), std::begin(disk), std::end(disk));
}

void AddSpoolRules(std::vector<Rule>* rules) {
  const Rule spool[] = {
      Scalar("spool.spooled", "ziggy_spool_spooled_events", G,
             "One past the last spool index: events spooled ever, plus "
             "ziggy_spool_skipped_events."),
      Scalar("spool.acked", "ziggy_spool_acked_events", G,
             "Spool indexes acknowledged by a collector."),
      Scalar("spool.pending", "ziggy_spool_pending_events", G,
             "Spooled events not yet acknowledged."),
      Scalar("spool.bytes", "ziggy_spool_bytes", G, "Bytes in the spool."),
      Scalar("spool.max_bytes", "ziggy_spool_max_bytes", G,
             "Spool size beyond which events are refused."),
      Scalar("spool.segments", "ziggy_spool_segments", G, "Spool segments."),
      Scalar("spool.synced", "ziggy_spool_synced_events", G,
             "Spool indexes made durable by fdatasync()."),
      Scalar("spool.skipped", "ziggy_spool_skipped_events", G,
             "Spool indexes given up after unclean stops."),
      Scalar("spool.syncs", "ziggy_spool_syncs_total", C, "Spool syncs."),
      Scalar("spool.sync_errors", "ziggy_spool_sync_errors_total", C,
             "Spool syncs that failed."),
      Scalar("spool.refused_full", "ziggy_spool_refused_full_events_total", C,
             "Events refused because the spool was full."),
      Scalar("spool.write_failed", "ziggy_spool_write_failed_events_total", C,
             "Events lost to failed spool writes."),
      Scalar("spool.damaged_records", "ziggy_spool_damaged_records_total", C,
             "Damaged spool records skipped."),
      Scalar("spool.damaged_bytes", "ziggy_spool_damaged_bytes_total", C,
             "Damaged spool bytes skipped."),
      Scalar("spool.repaired_tail_bytes",
             "ziggy_spool_repaired_tail_bytes_total", C,
             "Torn spool bytes cut off at start."),
      Scalar("spool.read_from_disk", "ziggy_spool_read_from_disk_events_total",
             C, "Events the relay read back from the spool's files."),
  };
  rules->insert(rules->end(), std::begin(spool), std::end(spool));
}

void AddForwarderRelayRules(std::vector<Rule>* rules) {
  const Rule relay[] = {
      {RuleKind::kCurrent, "relay.current", "upstream", "",
       "ziggy_relay_current_upstream", G,
       "Always 1; the label names the upstream relayed to."},
      {RuleKind::kState, "relay.upstreams", "upstream", "state",
       "ziggy_relay_upstream_state", G,
       "1 for the upstream's relay state (idle, connecting, up, down, "
       "refused), 0 for the others."},
      Entry("relay.upstreams", "upstream", "batches",
            "ziggy_relay_upstream_batches_total", C,
            "Relay batches sent to the upstream."),
      Entry("relay.upstreams", "upstream", "acks",
            "ziggy_relay_upstream_acks_total", C,
            "Acknowledgements from the upstream."),
      Entry("relay.upstreams", "upstream", "timeouts",
            "ziggy_relay_upstream_timeouts_total", C,
            "Times the upstream did not acknowledge in time."),
      Entry("relay.upstreams", "upstream", "refusals",
            "ziggy_relay_upstream_refusals_total", C,
            "Relay batches the upstream refused."),
      Scalar("relay.in_flight", "ziggy_relay_in_flight_events", G,
             "Events sent and not yet acknowledged."),
      Scalar("relay.acked", "ziggy_relay_acked_events", G,
             "Spool indexes acknowledged, as the relay last saw them."),
      Scalar("relay.sent_batches", "ziggy_relay_sent_batches_total", C,
             "Relay batches sent."),
      Scalar("relay.retransmitted", "ziggy_relay_retransmitted_events_total", C,
             "Events sent again after a failover or a resend request."),
      Scalar("relay.resend_requests",
             "ziggy_relay_resend_requests_received_total", C,
             "Resend requests from upstreams."),
  };
  rules->insert(rules->end(), std::begin(relay), std::end(relay));
}

// A tier forwarder's relay port (ziggy-forwarder --relay), STATUS relay_in.
void AddTierRules(std::vector<Rule>* rules) {
  const Rule tier[] = {
      Scalar("relay_in.batches", "ziggy_relay_in_batches_total", C,
             "Relay batches taken from downstream forwarders."),
      Scalar("relay_in.events", "ziggy_relay_in_events_total", C,
             "Events in the downstream batches spooled."),
      Scalar("relay_in.acked", "ziggy_relay_in_acks_sent_total", C,
             "Acknowledgements sent to downstream forwarders."),
      Scalar("relay_in.duplicates_dropped",
             "ziggy_relay_in_duplicate_events_total", C,
             "Downstream events already spooled, dropped."),
      Scalar("relay_in.resend_requests",
             "ziggy_relay_in_resend_requests_sent_total", C,
             "Downstream batches answered with a resend request."),
      Scalar("relay_in.rejected", "ziggy_relay_in_rejected_batches_total", C,
             "Malformed downstream batches refused."),
      Scalar("relay_in.refused_token",
             "ziggy_relay_in_refused_token_batches_total", C,
             "Downstream batches with another forwarder's token refused."),
      Scalar("relay_in.jumps", "ziggy_relay_in_jumps_total", C,
             "Downstream forwarders moved on by their own acknowledged mark."),
      Scalar("relay_in.forwarders_known", "ziggy_relay_in_forwarders_known", G,
             "Downstream forwarders whose relay position is kept."),
      Scalar("relay_in.forgotten", "ziggy_relay_in_forwarders_forgotten_total",
             C, "Downstream forwarders forgotten (beyond --max-forwarders)."),
      Scalar("relay_in.refused_full",
             "ziggy_relay_in_refused_full_batches_total", C,
             "Downstream batches refused because the spool was full."),
      Scalar("relay_in.spool_errors",
             "ziggy_relay_in_spool_error_batches_total", C,
             "Downstream batches refused because the spool write failed."),
      Scalar("relay_in.acks_waiting", "ziggy_relay_in_acks_waiting", G,
             "Downstream batches spooled, waiting to be durable for their "
             "ack."),
      Entry("relay_in.forwarders", "forwarder", "next",
            "ziggy_relay_in_forwarder_next_index", G,
            "The next spool index expected from the downstream forwarder "
            "(the 100 most recently heard)."),
      Entry("relay_in.forwarders", "forwarder", "last",
            "ziggy_relay_in_forwarder_last_timestamp_seconds", G,
            "Unix time the downstream forwarder was last heard from."),
  };
  rules->insert(rules->end(), std::begin(tier), std::end(tier));
}

const std::vector<Rule>& RulesFor(StatusSchema schema) {
  static const auto* const collector = [] {
    auto* rules = new std::vector<Rule>;
    AddCommonRules(rules);
    AddCollectorRules(rules);
    AddDiskRules(rules);
    return rules;
  }();
  static const auto* const forwarder = [] {
    auto* rules = new std::vector<Rule>;
    AddCommonRules(rules);
    AddSpoolRules(rules);
    AddForwarderRelayRules(rules);
    AddTierRules(rules);
    return rules;
  }();
  return schema == StatusSchema::kCollector ? *collector : *forwarder;
}

bool IsNumber(const Value* value) {
  return value != nullptr && (value->kind() == Value::Kind::kInt ||
                              value->kind() == Value::Kind::kDouble);
}

std::string FormatNumber(const Value& value) {
  if (value.kind() == Value::Kind::kInt) return absl::StrCat(value.AsInt());
  const double d = value.AsDouble();
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  const std::to_chars_result end =
      std::to_chars(buffer, buffer + sizeof buffer, d);
  return std::string(buffer, end.ptr);
}

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  for (const char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

// {name="value",...} from (name, value) pairs; "" for none.
std::string Labels(
    std::initializer_list<std::pair<absl::string_view, absl::string_view>>
        labels) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : labels) {
    parts.push_back(absl::StrCat(name, "=\"", EscapeLabelValue(value), "\""));
  }
  return parts.empty() ? "" : absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

// Writes one rule's family: HELP and TYPE before its first sample.
class FamilyWriter {
 public:
  FamilyWriter(const Rule& rule, std::string* out) : rule_(rule), out_(out) {}

  void Sample(absl::string_view labels, absl::string_view value) {
    if (!started_) {
      absl::StrAppend(out_, "# HELP ", rule_.name, " ", EscapeHelp(rule_.help),
                      "\n# TYPE ", rule_.name, " ",
                      rule_.type == C ? "counter" : "gauge", "\n");
      started_ = true;
    }
    absl::StrAppend(out_, rule_.name, labels, " ", value, "\n");
  }

 private:
  const Rule& rule_;
  std::string* const out_;
  bool started_ = false;
};

void WriteKeyed(const Rule& rule, const Value& map, FamilyWriter* family) {
  for (const auto& [key, value] : map.AsMap()) {
    if (IsNumber(&value)) {
      family->Sample(Labels({{rule.label, key}}), FormatNumber(value));
    }
  }
}

void WriteEntries(const Rule& rule, const Value& map, FamilyWriter* family) {
  for (const auto& [key, entry] : map.AsMap()) {
    if (entry.kind() != Value::Kind::kMap) continue;
    const Value* value = entry.Get(rule.field);
    if (IsNumber(value)) {
      family->Sample(Labels({{rule.label, key}}), FormatNumber(*value));
    }
  }
}

void WriteStates(const Rule& rule, const Value& map, FamilyWriter* family) {
  for (const auto& [key, entry] : map.AsMap()) {
    const Value* state =
        entry.kind() == Value::Kind::kMap ? entry.Get(rule.field) : nullptr;
    if (state == nullptr || state->kind() != Value::Kind::kString) continue;
    bool known = false;
    for (const char* name : kUpstreamStates) {
      known = known || state->AsString() == name;
      family->Sample(Labels({{rule.label, key}, {"state", name}}),
                     state->AsString() == name ? "1" : "0");
    }
    if (!known) {
      family->Sample(Labels({{rule.label, key}, {"state", state->AsString()}}),
                     "1");
    }
  }
}

std::string StringAt(const Value& status, absl::string_view path) {
  const Value* value = status.Find(path);
  return value != nullptr && value->kind() == Value::Kind::kString
             ? value->AsString()
             : "";
}

void WriteRule(const Rule& rule, const Value& status, std::string* out) {
  FamilyWriter family(rule, out);
  if (rule.kind == RuleKind::kInfo) {
    family.Sample(Labels({{"daemon", StringAt(status, "daemon")},
                          {"host", StringAt(status, "host")}}),
                  "1");
    return;
  }
  if (rule.kind == RuleKind::kCurrent) {
    const std::string current = StringAt(status, rule.path);
    if (!current.empty()) family.Sample(Labels({{rule.label, current}}), "1");
    return;
  }
  const Value* value = status.Find(rule.path);
  if (rule.kind == RuleKind::kScalar) {
    if (IsNumber(value)) family.Sample("", FormatNumber(*value));
    // A flag (disk.accepting): 1 or 0.
    if (value != nullptr && value->kind() == Value::Kind::kBool) {
      family.Sample("", value->AsBool() ? "1" : "0");
    }
    return;
  }
  if (value == nullptr || value->kind() != Value::Kind::kMap) return;
  if (rule.kind == RuleKind::kKeyed) WriteKeyed(rule, *value, &family);
  if (rule.kind == RuleKind::kEntry) WriteEntries(rule, *value, &family);
  if (rule.kind == RuleKind::kState) WriteStates(rule, *value, &family);
}

// The STATUS paths a rule exports numbers from, "*" for any map key.
std::vector<std::string> ExportedPattern(const Rule& rule) {
  std::vector<std::string> pattern = absl::StrSplit(rule.path, '.');
  if (rule.kind == RuleKind::kKeyed) pattern.push_back("*");
  if (rule.kind == RuleKind::kEntry) {
    pattern.push_back("*");
    pattern.push_back(rule.field);
  }
  return pattern;
}

bool Matches(const std::vector<std::string>& pattern,
             const std::vector<std::string>& path) {
  if (pattern.size() != path.size()) return false;
  for (size_t i = 0; i < path.size(); ++i) {
    if (pattern[i] != "*" && pattern[i] != path[i]) return false;
  }
  return true;
}

// Appends to *unexported every numeric leaf under `value` (at `path`) that
// matches none of `patterns`.
void FindUnexported(const Value& value, std::vector<std::string>* path,
                    const std::vector<std::vector<std::string>>& patterns,
                    std::vector<std::string>* unexported) {
  if (value.kind() == Value::Kind::kMap) {
    for (const auto& [key, child] : value.AsMap()) {
      path->push_back(key);
      FindUnexported(child, path, patterns, unexported);
      path->pop_back();
    }
    return;
  }
  if (!IsNumber(&value)) return;
  for (const auto& pattern : patterns) {
    if (Matches(pattern, *path)) return;
  }
  unexported->push_back(absl::StrJoin(*path, "."));
}

}  // namespace

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

bool IsValidMetricName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string PrometheusText(const Value::Map& status, StatusSchema schema) {
  const Value whole(status);
  std::string out;
  for (const Rule& rule : RulesFor(schema)) WriteRule(rule, whole, &out);
  return out;
}

std::vector<MetricInfo> ExportedMetrics(StatusSchema schema) {
  std::vector<MetricInfo> metrics;
  for (const Rule& rule : RulesFor(schema)) {
    metrics.push_back({rule.name, rule.type, rule.help});
  }
  return metrics;
}

std::vector<std::string> UnexportedFields(const Value::Map& status,
                                          StatusSchema schema) {
  std::vector<std::vector<std::string>> patterns;
  for (const Rule& rule : RulesFor(schema)) {
    patterns.push_back(ExportedPattern(rule));
  }
  for (const char* path : kNotExported) {
    patterns.push_back(absl::StrSplit(path, '.'));
  }
  std::vector<std::string> path, unexported;
  FindUnexported(Value(status), &path, patterns, &unexported);
  return unexported;
}

}  // namespace ziggy
