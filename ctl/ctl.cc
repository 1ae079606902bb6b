#include "ctl/ctl.h"

#include <algorithm>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "client/net/curve_key.h"
#include "client/net/socket.h"
#include "client/reader/control.h"
#include "client/reader/json.h"
#include "client/reader/pool_status.h"
#include "common/paths.h"

namespace ziggy {
namespace {

constexpr absl::string_view kUsage =
    "usage: ziggyctl [-H host:port] [--json] "
    "status|shutdown|flush|ports|upstream [set host:port,...] | keygen PATH";

// Field lookups that tolerate any daemon version: missing reads as 0 / "".
double AsNumber(const Value& v) {
  if (v.kind() == Value::Kind::kInt) return static_cast<double>(v.AsInt());
  if (v.kind() == Value::Kind::kDouble) return v.AsDouble();
  return 0;
}

double Number(const Value& v, absl::string_view path) {
  const Value* found = v.Find(path);
  return found == nullptr ? 0 : AsNumber(*found);
}

std::string Text(const Value& v, absl::string_view path) {
  const Value* found = v.Find(path);
  return found != nullptr && found->kind() == Value::Kind::kString
             ? found->AsString()
             : "";
}

// Names from the network, made safe for a terminal.
std::string Printable(absl::string_view s) { return absl::CHexEscape(s); }

// A count from the network as a whole number: negative or NaN reads as 0,
// beyond uint64 as its largest (a cast would be undefined).
uint64_t Whole(double n) {
  if (!(n > 0)) return 0;
  if (n >= 18446744073709549568.0) return UINT64_MAX;  // largest double < 2^64
  return static_cast<uint64_t>(n);
}

std::string Count(double n) {
  std::string digits = absl::StrCat(Whole(n));
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) {
    digits.insert(static_cast<size_t>(i), ",");
  }
  return digits;
}

std::string Bytes(double n) {
  if (!(n >= 1024)) return absl::StrCat(Whole(n), " B");  // NaN too
  if (n < 1024 * 1024) return absl::StrFormat("%.1f KiB", n / 1024);
  if (n < 1024.0 * 1024 * 1024) return absl::StrFormat("%.1f MiB", n / 1048576);
  return absl::StrFormat("%.2f GiB", n / 1073741824);
}

std::string Age(double seconds) {
  if (!(seconds > 0)) seconds = 0;
  if (seconds < 60) return absl::StrFormat("%.1fs", seconds);
  const uint64_t s = Whole(seconds);
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, s % 3600 / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, s % 86400 / 3600);
}

std::string When(double unix_seconds, double now) {
  if (unix_seconds <= 0) return "never";
  return absl::StrCat(
      absl::FormatTime(
          "%Y-%m-%d %H:%M:%S UTC",
          absl::FromUnixMicros(static_cast<int64_t>(unix_seconds * 1e6)),
          absl::UTCTimeZone()),
      " (", Age(now - unix_seconds), " ago)");
}

// "control 3513<sep>collect 3514<sep>stream 41234[<sep>relay 3515]": the
// ports a STATUS reply lists, relay only where the daemon has one.
std::string FormatPorts(const Value& status, absl::string_view sep) {
  std::string out;
  for (const char* name : {"control", "collect", "stream", "relay"}) {
    const std::string path = absl::StrCat("ports.", name);
    if (Number(status, path) <= 0) continue;
    absl::StrAppend(&out, out.empty() ? "" : sep, name, " ",
                    Number(status, path));
  }
  return out;
}

// A table of {name: {last, count}}, most recent first.
void AppendSeenTable(const Value& status, absl::string_view field,
                     absl::string_view title, double now, std::string* out) {
  const Value* map = status.Get(field);
  if (map == nullptr || map->kind() != Value::Kind::kMap ||
      map->AsMap().empty()) {
    return;
  }
  std::vector<const std::pair<std::string, Value>*> rows;
  for (const auto& row : map->AsMap()) rows.push_back(&row);
  std::sort(rows.begin(), rows.end(), [](const auto* a, const auto* b) {
    return Number(a->second, "last") > Number(b->second, "last");
  });
  absl::StrAppendFormat(out, "\n%-40s %-14s %12s\n", title, "LAST EVENT",
                        "COUNT");
  for (const auto* row : rows) {
    absl::StrAppendFormat(
        out, "%-40s %-14s %12s\n", Printable(row->first),
        absl::StrCat(Age(now - Number(row->second, "last")), " ago"),
        Count(Number(row->second, "count")));
  }
}

// "ziggyd on host (pid N), up T", then ports and log path when reported.
void AppendIdentity(const Value& s, std::string* out) {
  const bool has_host = s.Get("host") != nullptr;
  absl::StrAppend(
      out, Text(s, "daemon").empty() ? "ziggy daemon" : Text(s, "daemon"),
      has_host ? absl::StrCat(" on ", Printable(Text(s, "host"))) : "");
  if (s.Get("pid") != nullptr) {
    absl::StrAppend(out, " (pid ", static_cast<int64_t>(Number(s, "pid")), ")");
  }
  if (s.Get("uptime") != nullptr) {
    absl::StrAppend(out, ", up ", Age(Number(s, "uptime")));
  }
  absl::StrAppend(out, "\n");
  if (const std::string ports = FormatPorts(s, ", "); !ports.empty()) {
    absl::StrAppend(out, "ports       ", ports, "\n");
  }
  if (!Text(s, "log_path").empty()) {
    absl::StrAppend(out, "log path    ", Text(s, "log_path"), " (",
                    Number(s, "rotate_hours"), "h files)\n");
  }
}

// Last event and lag, received, written, published and dropped.
void AppendTraffic(const Value& s, double now, std::string* out) {
  absl::StrAppend(out, "last event  ", When(Number(s, "last"), now));
  if (Number(s, "last") > 0) {
    absl::StrAppendFormat(out, ", lag %.3fs", Number(s, "lag"));
    if (s.Get("lag_median") != nullptr) {
      absl::StrAppendFormat(out, " (median of recent events %.3fs)",
                            Number(s, "lag_median"));
    }
  }
  absl::StrAppend(out, "\n");
  if (s.Get("received") != nullptr) {
    absl::StrAppend(out, "received    ", Count(Number(s, "received")),
                    " events (", Bytes(Number(s, "received_bytes")), ")");
    if (Number(s, "repaired.utf8") > 0) {
      absl::StrAppend(out, ", ", Count(Number(s, "repaired.utf8")),
                      " with invalid UTF-8 repaired");
    }
    absl::StrAppend(out, "\n");
  }
  if (s.Get("written") != nullptr) {
    absl::StrAppend(out, "written     ", Count(Number(s, "written")),
                    " events (", Bytes(Number(s, "written_bytes")), ")\n");
  }
  if (s.Get("published") != nullptr) {
    absl::StrAppend(out, "published   ", Count(Number(s, "published")),
                    " events to ", Number(s, "stream_subscribers"),
                    " stream subscriber(s)\n");
  }
  if (const Value* dropped = s.Get("dropped");
      dropped != nullptr && dropped->kind() == Value::Kind::kMap) {
    std::string reasons;
    double total = 0;
    for (const auto& [reason, n] : dropped->AsMap()) {
      const double count = AsNumber(n);
      if (count > 0) {
        total += count;
        absl::StrAppend(&reasons, reasons.empty() ? "" : ", ",
                        Printable(reason), " ", Count(count));
      }
    }
    absl::StrAppend(out, "dropped     ", Count(total),
                    reasons.empty() ? "" : absl::StrCat(" (", reasons, ")"),
                    "\n");
  }
}

// A collector's files and queue, a forwarder's spool.
void AppendStorage(const Value& s, std::string* out) {
  if (s.Get("written") != nullptr) {  // a collector
    absl::StrAppend(out, "files       ", Number(s, "open_files"), " open, ",
                    Number(s, "write_errors"), " write errors, ",
                    Number(s, "repaired_tails"), " torn tails repaired, ",
                    Number(s, "corrupt_files"), " set aside, ",
                    Number(s, "reopened_files"), " reopened\n");
    absl::StrAppend(out, "queued      ", Bytes(Number(s, "queue_bytes")),
                    " waiting for disk\n");
  }
  if (const Value* spool = s.Get("spool")) {
    absl::StrAppend(out, "spool       ", Count(Number(*spool, "spooled")),
                    " spooled, ", Count(Number(*spool, "acked")), " acked, ",
                    Count(Number(*spool, "pending")), " pending (",
                    Bytes(Number(*spool, "bytes")), " of ",
                    Bytes(Number(*spool, "max_bytes")), ", ",
                    Number(*spool, "segments"), " segments); ",
                    Count(Number(*spool, "refused_full")), " refused full, ",
                    Count(Number(*spool, "damaged_records")), " damaged\n");
  }
}

// A collector's disk: the log path's use, free space, the lifecycle's work.
void AppendDisk(const Value& s, std::string* out) {
  const Value* disk = s.Get("disk");
  if (disk == nullptr || disk->kind() != Value::Kind::kMap) return;
  absl::StrAppend(out, "disk        ", Bytes(Number(*disk, "log_path_bytes")),
                  " of event files, ", Bytes(Number(*disk, "free_bytes")),
                  " free");
  if (Number(*disk, "min_free_bytes") > 0) {
    absl::StrAppend(out, " (min ", Bytes(Number(*disk, "min_free_bytes")), ")");
  }
  if (!Text(*disk, "oldest_day").empty()) {
    absl::StrAppend(out, ", oldest day ", Text(*disk, "oldest_day"));
  }
  const Value* accepting = disk->Get("accepting");
  const bool paused = accepting != nullptr &&
                      accepting->kind() == Value::Kind::kBool &&
                      !accepting->AsBool();
  absl::StrAppend(out, paused ? "; NOT ACCEPTING (low disk)" : "", "\n");
  absl::StrAppend(
      out, "            ", Count(Number(*disk, "files_compressed")),
      " files compressed (", Bytes(Number(*disk, "bytes_saved")), " saved), ",
      Count(Number(*disk, "days_removed")), " days removed, ",
      Count(Number(*disk, "low_disk_pauses")), " low-disk pauses, ",
      Count(Number(*disk, "compression_errors")), " compression errors\n");
}

// A forwarder publishing to NATS JetStream (relay.mode "nats").
void AppendNatsRelay(const Value& relay, std::string* out) {
  const std::string server = Text(relay, "server");
  absl::StrAppend(
      out, "relay       to NATS ",
      Printable(server.empty()
                    ? "(connecting to " + Text(relay, "servers") + ")"
                    : server),
      ", stream ", Printable(Text(relay, "stream")), " subject ",
      Printable(Text(relay, "subject")), " (", Text(relay, "compression"),
      "): ", Count(Number(relay, "acks")), " batches acknowledged, ",
      Count(Number(relay, "resyncs")), " resyncs, ",
      Count(Number(relay, "duplicates")), " duplicates, ",
      Count(Number(relay, "errors")), " errors");
  if (!Text(relay, "last_error").empty()) {
    absl::StrAppend(out, " (last: ", Printable(Text(relay, "last_error")), ")");
  }
  absl::StrAppend(out, "\n");
}

// A forwarder's relay client (current upstream, each upstream's state) or
// a collector's relay port.
void AppendRelay(const Value& s, std::string* out) {
  const Value* relay = s.Get("relay");
  if (relay == nullptr) return;
  if (Text(*relay, "mode") == "nats") {
    AppendNatsRelay(*relay, out);
    return;
  }
  if (relay->Get("current") == nullptr) {  // a collector's relay port
    absl::StrAppend(out, "relay       ", Count(Number(*relay, "events")),
                    " events in ", Count(Number(*relay, "batches")),
                    " batches, ", Count(Number(*relay, "acked")), " acked, ",
                    Count(Number(*relay, "duplicates_dropped")),
                    " duplicates dropped, ",
                    Count(Number(*relay, "checkpoints")), " checkpoints\n");
    return;
  }
  absl::StrAppend(out, "relay       to ", Text(*relay, "current"), " (",
                  Text(*relay, "compression"),
                  "): ", Count(Number(*relay, "in_flight")), " in flight, ",
                  Count(Number(*relay, "sent_batches")), " batches sent, ",
                  Count(Number(*relay, "retransmitted")), " retransmitted\n");
  const Value* ups = relay->Get("upstreams");
  if (ups == nullptr || ups->kind() != Value::Kind::kMap) return;
  for (const auto& [address, up] : ups->AsMap()) {
    absl::StrAppend(out, "            ", address, " ", Text(up, "state"), ", ",
                    Count(Number(up, "acks")), " acks, ",
                    Count(Number(up, "timeouts")), " timeouts");
    if (Number(up, "refusals") > 0) {
      absl::StrAppend(out, ", ", Count(Number(up, "refusals")),
                      " refusals (last: ", Printable(Text(up, "refused")), ")");
    }
    absl::StrAppend(out, "\n");
  }
}

// A tier forwarder's relay port (--relay): what downstream forwarders sent.
void AppendRelayIn(const Value& s, std::string* out) {
  const Value* in = s.Get("relay_in");
  if (in == nullptr) return;
  absl::StrAppend(out, "relay in    ", Count(Number(*in, "events")),
                  " events in ", Count(Number(*in, "batches")),
                  " batches from ", Count(Number(*in, "forwarders_known")),
                  " forwarders, ", Count(Number(*in, "acked")), " acked, ",
                  Count(Number(*in, "duplicates_dropped")),
                  " duplicates dropped, ", Count(Number(*in, "rejected")),
                  " rejected, ", Count(Number(*in, "refused_full")),
                  " refused (spool full)\n");
}

// A collector's NATS source (ziggyd --source): where it pulls from, what it
// took in and acknowledged, and what could be a duplicate across the pool.
void AppendNatsSource(const Value& s, std::string* out) {
  const Value* nats = s.Get("nats");
  if (nats == nullptr || nats->Get("consumer") == nullptr) return;
  const Value* connected = nats->Get("connected");
  const bool up = connected != nullptr &&
                  connected->kind() == Value::Kind::kBool &&
                  connected->AsBool();
  absl::StrAppend(
      out, "nats        ", Printable(Text(*nats, "stream")), "/",
      Printable(Text(*nats, "consumer")), " at ",
      up ? Printable(Text(*nats, "server")) : std::string("(disconnected)"),
      ": ", Count(Number(*nats, "events")), " events in ",
      Count(Number(*nats, "batches")), " batches, ",
      Count(Number(*nats, "acks")), " acks (",
      Count(Number(*nats, "pending_acks")), " pending, ",
      Count(Number(*nats, "ack_errors")), " errors), ",
      Count(Number(*nats, "duplicates_dropped")), " duplicates dropped, ",
      Count(Number(*nats, "rejected")), " rejected, ",
      Count(Number(*nats, "possible_duplicates")), " possible duplicates\n");
}

// A command line, and what it asks the daemon.
struct CtlCommand {
  std::string name;     // "status", "ports", ..., "upstream set"
  std::string request;  // the control command: "STATUS", ...
  Value::Map args;      // its arguments
};

// Fills *command from `args`; else returns what is wrong with them.
std::string ParseCommand(const std::vector<std::string>& args,
                         CtlCommand* command) {
  if (args.size() == 3 && args[0] == "upstream" && args[1] == "set") {
    *command = {"upstream set", "UPSTREAM_SET", {{"upstreams", args[2]}}};
    return "";
  }
  if (args.size() != 1) return args.empty() ? "no command" : "wrong arguments";
  static constexpr std::pair<absl::string_view, absl::string_view> kRequests[] =
      {{"status", "STATUS"},
       {"ports", "STATUS"},
       {"flush", "FLUSH"},
       {"shutdown", "SHUTDOWN"},
       {"upstream", "UPSTREAM"}};
  for (const auto& [name, request] : kRequests) {
    if (args[0] == name) {
      *command = {args[0], std::string(request), {}};
      return "";
    }
  }
  return absl::StrCat("unknown command '", args[0], "'");
}

// Why a STATUS reply cannot answer `ziggyctl ports`; "" when it can.
std::string PortsProblem(const Value& reply) {
  const Value* ports = reply.Get("ports");
  if (ports == nullptr) return "lists no ports in its STATUS";
  if (ports->kind() != Value::Kind::kMap) {
    return "answered STATUS with a 'ports' that is not a map of ports";
  }
  return "";
}

// A collector says how many events its files hold; a forwarder syncs its
// spool and says which index everything below is durable.
std::string FormatFlush(const Value& reply) {
  if (reply.Get("written") != nullptr) {
    return absl::StrCat("flushed: ", Count(Number(reply, "written")),
                        " events written\n");
  }
  if (reply.Get("synced") != nullptr) {
    return absl::StrCat("flushed: spool synced, every event below index ",
                        Count(Number(reply, "synced")), " durable\n");
  }
  return "flushed\n";
}

// The text ziggyctl prints for `command`'s reply from `host`.
std::string FormatReply(const CtlCommand& command, const Value& reply,
                        absl::string_view host) {
  if (command.name == "status") {
    const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
    return FormatStatus(reply, now);
  }
  if (command.name == "ports") return FormatPorts(reply, "\n") + "\n";
  if (command.name == "upstream set") {
    return absl::StrCat("upstreams set to ", command.args[0].second.AsString(),
                        "\n");
  }
  if (command.name == "upstream") return Text(reply, "upstreams") + "\n";
  if (command.name == "flush") return FormatFlush(reply);
  return absl::StrCat("shutting down ", host, "\n");
}

// `ziggyctl keygen PATH`: a new CurveZMQ key pair in PATH (the secret key)
// and PATH.pub. Prints where they are and the public key, never the secret.
int RunKeygen(const std::string& user_path, std::ostream& out,
              std::ostream& err) {
  const std::string path = ResolveUserPath(user_path);
  absl::StatusOr<CurveKeyPair> pair = GenerateKeyPair();
  const absl::Status written =
      pair.ok() ? WriteKeyPair(*pair, path) : pair.status();
  if (!written.ok()) {
    err << "ziggyctl keygen: " << written.message() << "\n";
    return 1;
  }
  out << "secret key: " << path << " (mode 0600; keep it on this host)\n"
      << "public key: " << path << ".pub\n"
      << pair->public_key().z85() << "\n";
  return 0;
}

// A path the user typed, made absolute; empty stays empty.
std::string UserPathOrEmpty(const std::string& path) {
  return path.empty() ? path : ResolveUserPath(path);
}

// The timeout and the CurveZMQ keys the options name, loaded.
absl::StatusOr<ControlOptions> ControlOptionsFor(const CtlOptions& options) {
  absl::StatusOr<absl::optional<CurveSocketOptions>> curve =
      LoadCurveClientOptions(UserPathOrEmpty(options.curve_server_key),
                             "--curve-server-key",
                             UserPathOrEmpty(options.curve_key), "--curve-key");
  if (!curve.ok()) return curve.status();
  return ControlOptions{options.timeout, *std::move(curve)};
}

// A reply as JSON text.
std::string JsonOf(const Value& value) {
  std::string json;
  AppendJson(EncodeDocument(value), &json)
      .IgnoreError();  // our own encoding is valid
  return json;
}

// What --json shows of a reply: `ports` its ports, else all of it.
// REQUIRES: PortsProblem(reply) is empty for `ports`.
const Value& Shown(const CtlCommand& command, const Value& reply) {
  return command.name == "ports" ? *reply.Get("ports") : reply;
}

// A pool member's entry in --json when its reply cannot be shown.
Value FailureValue(const absl::StatusOr<Value>& reply) {
  if (!reply.ok()) {
    return Value::Map{{"down", true},
                      {"error", std::string(reply.status().message())}};
  }
  return Value::Map{{"error", PortsProblem(*reply)}};
}

// One line per daemon of a pool: up or down, its main counters.
std::string FormatPoolStatus(const std::vector<DaemonReply>& daemons,
                             double now) {
  size_t up = 0;
  for (const DaemonReply& daemon : daemons) up += daemon.reply.ok();
  std::string out = absl::StrFormat(
      "pool of %d daemons: %d up, %d down\n%-24s %-5s %14s %14s %10s  %s\n",
      daemons.size(), up, daemons.size() - up, "DAEMON", "STATE", "RECEIVED",
      "WRITTEN", "DROPPED", "LAST EVENT");
  for (const DaemonReply& daemon : daemons) {
    if (!daemon.reply.ok()) {
      absl::StrAppendFormat(&out, "%-24s %-5s %s\n", daemon.host, "down",
                            daemon.reply.status().message());
      continue;
    }
    const Value& s = *daemon.reply;
    double dropped = 0;
    if (const Value* d = s.Get("dropped");
        d != nullptr && d->kind() == Value::Kind::kMap) {
      for (const auto& [reason, n] : d->AsMap()) dropped += AsNumber(n);
    }
    absl::StrAppendFormat(&out, "%-24s %-5s %14s %14s %10s  %s\n", daemon.host,
                          "up", Count(Number(s, "received")),
                          Count(Number(s, "written")), Count(dropped),
                          When(Number(s, "last"), now));
  }
  absl::StrAppendFormat(&out, "\ntotal of the %d daemon(s) up:\n", up);
  return out;
}

// One daemon's reply to `command`, printed; its exit code.
int RunOne(const CtlCommand& command, const std::string& host,
           const absl::StatusOr<Value>& reply, bool json, std::ostream& out,
           std::ostream& err) {
  if (!reply.ok()) {
    err << "ziggyctl: " << reply.status().message() << "\n";
    return 1;
  }
  if (command.name == "ports") {
    if (std::string problem = PortsProblem(*reply); !problem.empty()) {
      err << "ziggyctl: " << host << " " << problem << "\n";
      return 1;
    }
  }
  if (json) {
    out << JsonOf(Shown(command, *reply)) << "\n";
    return 0;
  }
  out << FormatReply(command, *reply, host);
  return 0;
}

// A pool's STATUS: a line per daemon, then the total (see ctl.h).
int RunPoolStatus(const std::vector<DaemonReply>& daemons, bool json,
                  std::ostream& out, std::ostream& err) {
  int code = 0;
  for (const DaemonReply& daemon : daemons) {
    if (daemon.reply.ok()) continue;
    err << "ziggyctl: " << daemon.reply.status().message() << "\n";
    code = 1;
  }
  const Value pool = PoolStatus(daemons);
  if (json) {
    out << JsonOf(pool) << "\n";
    return code;
  }
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  out << FormatPoolStatus(daemons, now)
      << FormatStatus(*pool.Get("total"), now);
  return code;
}

// `command` to every daemon of a pool (ctl.h says which commands may).
int RunPool(const CtlCommand& command, const CtlOptions& options,
            const ControlOptions& control, std::ostream& out,
            std::ostream& err) {
  if (command.name != "status" && command.name != "ports" &&
      command.name != "flush") {
    err << "ziggyctl: " << command.name << " takes one -H ("
        << options.hosts.size()
        << " given; status, ports and flush go to several)\n";
    return 1;
  }
  const std::vector<DaemonReply> daemons =
      CallEach(options.hosts, command.request, command.args, control);
  if (command.name == "status") {
    return RunPoolStatus(daemons, options.json, out, err);
  }
  int code = 0;
  Value::Map each;
  for (const DaemonReply& daemon : daemons) {
    std::ostringstream text;
    if (RunOne(command, daemon.host, daemon.reply, false, text, err) != 0) {
      code = 1;
      each.emplace_back(daemon.host, FailureValue(daemon.reply));
    } else if (options.json) {
      each.emplace_back(daemon.host, Shown(command, *daemon.reply));
    } else {
      out << daemon.host << ":\n" << text.str();
    }
  }
  if (options.json) out << JsonOf(Value(std::move(each))) << "\n";
  return code;
}

}  // namespace

// Every line is printed only when its fields are there: the original Python
// ziggyd answers STATUS with just last, lag and events.
std::string FormatStatus(const Value& s, double now) {
  std::string out;
  AppendIdentity(s, &out);
  AppendTraffic(s, now, &out);
  AppendStorage(s, &out);
  AppendDisk(s, &out);
  AppendRelay(s, &out);
  AppendRelayIn(s, &out);
  AppendNatsSource(s, &out);
  AppendSeenTable(s, "events", "TYPE", now, &out);
  AppendSeenTable(s, "hosts", "HOST", now, &out);
  return out;
}

int RunCtl(const std::vector<std::string>& args, const CtlOptions& options,
           std::ostream& out, std::ostream& err) {
  if (!args.empty() && args[0] == "keygen") {
    if (args.size() == 2 && !args[1].empty()) {
      return RunKeygen(args[1], out, err);
    }
    err << "ziggyctl: keygen takes one PATH; " << kUsage << "\n";
    return 1;
  }
  CtlCommand command;
  if (std::string error = ParseCommand(args, &command); !error.empty()) {
    err << "ziggyctl: " << error << "; " << kUsage << "\n";
    return 1;
  }
  absl::StatusOr<ControlOptions> control = ControlOptionsFor(options);
  if (!control.ok()) {
    err << "ziggyctl: " << control.status().message() << "\n";
    return 1;
  }
  if (options.hosts.size() != 1) {
    if (options.hosts.empty()) {
      err << "ziggyctl: no daemon given (-H host:port)\n";
      return 1;
    }
    return RunPool(command, options, *control, out, err);
  }
  const std::string& host = options.hosts[0];
  return RunOne(command, host,
                CallControl(host, command.request, command.args, *control),
                options.json, out, err);
}

}  // namespace ziggy
