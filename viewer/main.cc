// ziggyview: reads events from files, stdin, a log directory or a daemon's
// live stream and prints them as JSON. See viewer.h.

#include <unistd.h>

#include <atomic>
#include <iostream>
#include <string>
#include <vector>

#include "common/flag_values.h"
#include "common/paths.h"
#include "common/signals.h"
#include "common/version.h"
#include "gflags/gflags.h"
#include "viewer/viewer.h"

DEFINE_string(log_path, "",
              "Read the event files under this directory (relative paths, "
              "here and for FILE, are the caller's, also under bazel run). "
              "Several (a pool of collectors): repeat the flag or separate "
              "them with commas (a value naming an existing directory is "
              "taken whole, commas and all); each type-day is read merged "
              "by end time across them, as one collector's.");
DEFINE_string(type_name, "",
              "Only events of this type; \"request*\" for every type starting "
              "with \"request\". With --group, only the groups whose "
              "top-level type matches (\"request\" keeps request.sql).");
DEFINE_string(start_date, "",
              "Only events whose own end time is from this UTC day, "
              "YYYYMMDD or \"YYYYMMDD HH:MM\" (with --log-path, also only "
              "the files of those days).");
DEFINE_string(end_date, "",
              "Only events whose own end time is through this UTC day or "
              "minute (same forms).");
DEFINE_string(where, "",
              "Only events matching this expression, e.g. "
              "'body.response.status >= 500 and host =~ \"^web\"': "
              "== != < <= > >= on dotted paths, =~ (RE2), exists(path), "
              "and, or, not, ( ); see README. With --group, the groups "
              "whose top-level event matches.");
DEFINE_string(fields, "",
              "Print only these dotted paths of each event, comma-separated "
              "(type,body.response.status), keeping their structure; with "
              "--stats, summarise only these numeric fields.");
DEFINE_string(host, "",
              "Follow this daemon's live stream: its control port, host:port. "
              "Several (a pool of collectors): repeat the flag or separate "
              "them with commas; their events are interleaved as they come, "
              "and one that does not answer is reported and left out.");
DEFINE_string(H, "", "Short for --host (repeatable, comma-separated too).");
DEFINE_bool(pretty, false, "Indented JSON, for humans.");
DEFINE_bool(raw, false,
            "Write the selected events as BSON, each event's document as "
            "stored, concatenated (an event file, e.g. to cut a date range "
            "into a file: ziggyview --raw --log-path=... > f.log), instead "
            "of JSON. Not to a terminal; not with --pretty, --stats, "
            "--group, --fields or --serve.");
DEFINE_bool(group, false,
            "Print each event with its sub-events as one object: "
            "{\"id\", \"parent\", \"children\"}. The files of every type "
            "are read together, merged by the events' end time, so "
            "sub-events meet their parent across files and days.");
DEFINE_int32(max_groups, 1000,
             "With --group: groups waiting for their parent at most; the "
             "oldest is printed without it beyond that.");
DEFINE_double(timeout, 3, "Seconds to wait for a daemon's control port.");
DEFINE_string(curve_server_key, "",
              "Live mode over CurveZMQ: the daemon's public key file (.pub); "
              "with --curve-key.");
DEFINE_string(curve_key, "",
              "Live mode over CurveZMQ: this client's secret key file "
              "(ziggyctl keygen); with --curve-server-key.");
DEFINE_bool(stats, false,
            "Instead of events, print per type: events, span and rate, and "
            "count/min/mean/p50/p90/p99/max of every numeric body field "
            "(quantiles within 1 %). From files once; live (-H) every "
            "--interval.");
DEFINE_string(by, "",
              "With --stats: split every row by the value of this dotted "
              "path (e.g. host, body.response.status); the 50 most frequent "
              "values, the rest summed as \"other\".");
DEFINE_bool(json, false, "With --stats: one JSON object per row.");
DEFINE_int32(interval, 10,
             "Live --stats: print every N seconds, over the last N.");
DEFINE_int32(window, 0,
             "Live --stats: over the last N seconds (a sliding window moving "
             "by --interval) instead of the last interval.");

DEFINE_string(serve, "",
              "Serve a web dashboard of the events on this host:port (e.g. "
              "127.0.0.1:8080; port 0 picks one) instead of printing them: "
              "with -H (live) or --log-path (files, read once), one or "
              "several (a pool, counted together).");
DEFINE_bool(insecure, false,
            "Allow --serve on a non-loopback address: the dashboard is "
            "plain, unauthenticated HTTP showing every event.");

namespace {

constexpr char kUsage[] =
    "prints ziggy events as JSON, one object per line.\n"
    "  ziggyview FILE...                      event files (.log or "
    ".log.zst)\n"
    "  cat FILE | ziggyview                   standard input\n"
    "  ziggyview --log-path=DIR [--type-name=T] [--start-date=D] "
    "[--end-date=D]\n"
    "  ziggyview --log-path=DIR1,DIR2 ...     a pool's files, as one\n"
    "  ziggyview -H host:controlport [--type-name='request*']   live\n"
    "  ziggyview -H a:3513 -H b:3513 ...      a pool, live, interleaved\n"
    "    [--curve-server-key=DAEMON.pub --curve-key=MINE]      over "
    "CurveZMQ\n"
    "  ... [--where=EXPR] [--fields=a,b.c]    filter, trim (any input)\n"
    "  ziggyview ... --stats [--by=PATH] [--json]             summaries\n"
    "  ziggyview ... --raw > FILE             the selected events as BSON\n"
    "  ziggyview -H host:port --stats --interval=10 [--window=300]\n"
    "  ziggyview -H host:port --serve=127.0.0.1:8080        dashboard\n"
    "Exit status: 0 done; 1 bad flags, unreadable input (a missing file, a\n"
    "directory) or no daemon (several -H: any of them did not answer at\n"
    "the start; the others were followed); 2 damaged input: every whole\n"
    "event was printed and stderr says, for each skipped byte range, the\n"
    "file, the offsets and why; 130 stopped by SIGINT or SIGTERM before the "
    "end of\n"
    "files or stdin (live mode exits 0 on either).";

// Every -H and --log-path (repeated, comma-separated), read before gflags
// parses, which would keep only the last.
struct SourceLists {
  std::vector<std::string> hosts, log_paths;
};

SourceLists ReadSourceLists(int argc, char** argv) {
  SourceLists lists;
  lists.hosts = ziggy::FlagValues(argc, argv, {"H", "host"});
  // A log path with a comma in its name is taken whole when it exists.
  lists.log_paths =
      ziggy::FlagValues(argc, argv, {"log_path", "log-path"}, [](auto value) {
        return access(ziggy::ResolveUserPath(std::string(value)).c_str(),
                      F_OK) == 0;
      });
  return lists;
}

// The lists into *options; the flags' own values when the command line
// had none (a --flagfile's).
void SetSources(const SourceLists& lists, ziggy::ViewerOptions* options) {
  // Under `bazel run` the binary runs in its runfiles tree: paths the user
  // typed are relative to BUILD_WORKING_DIRECTORY.
  for (const std::string& path : lists.log_paths) {
    options->log_paths.push_back(ziggy::ResolveUserPath(path));
  }
  if (lists.log_paths.empty() && !FLAGS_log_path.empty()) {
    options->log_paths.push_back(ziggy::ResolveUserPath(FLAGS_log_path));
  }
  options->hosts = lists.hosts;
  if (lists.hosts.empty() && !(FLAGS_H.empty() && FLAGS_host.empty())) {
    options->hosts.push_back(FLAGS_H.empty() ? FLAGS_host : FLAGS_H);
  }
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage(kUsage);
  gflags::SetVersionString(ziggy::kVersion);
  const SourceLists lists = ReadSourceLists(argc, argv);
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (FLAGS_max_groups < 1 || FLAGS_timeout <= 0 || FLAGS_interval < 1 ||
      FLAGS_window < 0) {
    std::cerr << "ziggyview: --max-groups, --timeout and --interval must be "
                 "positive\n";
    return ziggy::kViewError;
  }
  ziggy::TerminationSignals signals;
  static std::atomic<bool> stop{false};
  signals.Start([](int) { stop.store(true); });

  ziggy::ViewerOptions options;
  for (int i = 1; i < argc; ++i) {
    options.files.push_back(ziggy::ResolveUserPath(argv[i]));
  }
  SetSources(lists, &options);
  options.type = FLAGS_type_name;
  options.where = FLAGS_where;
  options.fields = FLAGS_fields;
  options.start_date = FLAGS_start_date;
  options.end_date = FLAGS_end_date;
  options.pretty = FLAGS_pretty;
  options.raw = FLAGS_raw;
  options.out_is_terminal = isatty(1);
  options.group = FLAGS_group;
  options.max_groups = static_cast<size_t>(FLAGS_max_groups);
  options.control_timeout = absl::Seconds(FLAGS_timeout);
  if (!FLAGS_curve_server_key.empty()) {
    options.curve_server_key = ziggy::ResolveUserPath(FLAGS_curve_server_key);
  }
  if (!FLAGS_curve_key.empty()) {
    options.curve_key = ziggy::ResolveUserPath(FLAGS_curve_key);
  }
  options.stats = FLAGS_stats;
  options.stats_json = FLAGS_json;
  options.stats_by = FLAGS_by;
  options.stats_interval = absl::Seconds(FLAGS_interval);
  options.stats_window = absl::Seconds(FLAGS_window);
  options.serve = FLAGS_serve;
  options.insecure = FLAGS_insecure;
  options.stop = &stop;
  options.read_stdin = options.files.empty() && options.log_paths.empty() &&
                       options.hosts.empty() && !isatty(0);
  std::ios::sync_with_stdio(false);
  return ziggy::RunViewer(options, std::cout, std::cerr);
}
