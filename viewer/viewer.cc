#include "viewer/viewer.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/format/byte_buffer.h"
#include "client/format/log_layout.h"
#include "client/net/socket.h"
#include "client/reader/fields.h"
#include "client/reader/grouper.h"
#include "client/reader/json.h"
#include "client/reader/log_files.h"
#include "client/reader/stream.h"
#include "client/reader/where.h"
#include "viewer/dashboard.h"
#include "viewer/event_files.h"
#include "viewer/stats_view.h"

namespace ziggy {
namespace {

// With --group the filter selects groups: an event passes when its type or
// its top-level type (the part before the first '.') matches, so that
// "request" brings request.sql and request.log along.
bool GroupTypeMatches(absl::string_view filter, absl::string_view type) {
  return TypeMatches(filter, type) ||
         TypeMatches(filter, type.substr(0, type.find('.')));
}

// What --where, the dates and --fields make of the events, compiled before
// any input is read.
struct Selection {
  std::vector<Where> filters;  // an event passes when it matches them all
  absl::optional<FieldSelection> fields;

  bool Passes(absl::string_view bson) const {
    for (const Where& filter : filters) {
      if (!filter.Matches(bson)) return false;
    }
    return true;
  }
};

// Filters, groups and prints events; buffers output for speed.
class Printer {
 public:
  Printer(const ViewerOptions& options, const Selection& selection,
          std::ostream& out)
      : options_(options),
        selection_(selection),
        out_(out),
        grouper_(options.max_groups,
                 [this](const EventGroup& g) { PrintGroup(g); }) {
    if (options.stats)
      stats_ = std::make_unique<StatsView>(StatsFor(options), out);
  }

  ~Printer() { Flush(); }

  void Event(const EventView& event) {
    if (options_.group) {
      if (GroupTypeMatches(options_.type, event.type)) {
        grouper_.Add(event.id, event.type, event.bson);
      }
      return;
    }
    if (!TypeMatches(options_.type, event.type)) return;
    if (!selection_.Passes(event.bson)) return;
    Accepted(event);
  }

  // Live: lets --stats print when its interval is due.
  void Tick(absl::Time now) {
    if (stats_ != nullptr) stats_->Tick(now);
  }

  void Finish() {
    if (options_.group) grouper_.Finish();
    if (stats_ != nullptr && options_.host.empty()) stats_->Finish();
    Flush();
  }

  void Flush() {
    out_.write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    out_.flush();
    buffer_.Clear();
  }

 private:
  static constexpr size_t kFlushBytes = 1 << 16;

  // An event read through InspectEvent (so valid), as JSON: only --fields
  // when given.
  void AppendEvent(absl::string_view bson) {
    if (selection_.fields) {
      projected_.clear();
      selection_.fields->Project(bson, &projected_);
      bson = projected_;
    }
    internal::AppendValidatedJson(bson, &buffer_, {options_.pretty});
  }

  // A group passes when its top-level event does; without one, when any
  // of its events does.
  bool Passes(const EventGroup& group) const {
    if (!group.parent.empty()) return selection_.Passes(group.parent);
    for (const std::string& child : group.children) {
      if (selection_.Passes(child)) return true;
    }
    return false;
  }

  static StatsViewOptions StatsFor(const ViewerOptions& options) {
    StatsViewOptions view;
    view.stats.by = options.stats_by;
    view.stats.fields = options.stats_fields;
    if (view.stats.fields.empty() && !options.fields.empty()) {
      // --stats --fields=a,b: only those fields' rows.
      view.stats.fields =
          absl::StrSplit(options.fields, ',', absl::SkipEmpty());
    }
    view.json = options.stats_json;
    view.interval = options.stats_interval;
    view.window = options.stats_window;
    return view;
  }

  // An event that passed every filter: printed (as JSON, or its BSON with
  // --raw), or counted by --stats.
  void Accepted(const EventView& event) {
    if (stats_ != nullptr) return stats_->Add(event.bson);
    if (options_.raw) {
      buffer_.Append(event.bson);
    } else {
      AppendEvent(event.bson);
      buffer_.Append("\n");
    }
    if (buffer_.size() >= kFlushBytes) Flush();
  }

  void PrintGroup(const EventGroup& group) {
    if (!Passes(group)) return;
    const bool pretty = options_.pretty;
    const char* sep = pretty ? ",\n  " : ",";
    buffer_.Append(pretty ? "{\n  \"id\": " : "{\"id\":");
    internal::AppendJsonString(group.id, &buffer_);
    buffer_.Append(sep);
    buffer_.Append(pretty ? "\"parent\": " : "\"parent\":");
    if (group.parent.empty()) {
      buffer_.Append("null");
    } else {
      AppendEvent(group.parent);
    }
    buffer_.Append(sep);
    buffer_.Append(pretty ? "\"children\": [" : "\"children\":[");
    for (size_t i = 0; i < group.children.size(); ++i) {
      if (i > 0) buffer_.Append(sep);
      AppendEvent(group.children[i]);
    }
    buffer_.Append(pretty ? "]\n}\n" : "]}\n");
    if (buffer_.size() >= kFlushBytes) Flush();
  }

  const ViewerOptions& options_;
  const Selection& selection_;
  std::ostream& out_;
  EventGrouper grouper_;
  std::unique_ptr<StatsView> stats_;  // with --stats
  ByteBuffer buffer_;
  std::string projected_;  // the --fields of the event at hand
};

bool IsDigitSuffix(absl::string_view name, size_t digits) {
  if (name.size() <= digits || name[name.size() - digits - 1] != '-') {
    return false;
  }
  for (char c : name.substr(name.size() - digits)) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// The stream a file belongs to when merging: a collector file's stem
// ("<dir>/request.sql-20231114-06.log" or its compressed
// "...-06.log.zst" -> "request.sql"), so that one
// type's files are read one after another and only one of them is open at
// a time; any other file is a stream of its own.
std::string StreamKey(const std::string& path) {
  absl::string_view name = path;
  name.remove_prefix(name.rfind('/') + 1);        // npos + 1 == 0
  absl::ConsumeSuffix(&name, kCompressedSuffix);  // its original's stream
  if (!absl::ConsumeSuffix(&name, ".log")) return path;
  if (IsDigitSuffix(name, 2)) name.remove_suffix(3);  // an hour block
  if (!IsDigitSuffix(name, 8)) return path;
  name.remove_suffix(9);
  return std::string(name);
}

// Reads events and prints them; with --group, files are merged by end time,
// one stream per type (see StreamKey).
int ReadEvents(const ViewerOptions& options,
               const std::vector<std::string>& paths, Printer& printer,
               EventFilesOptions files) {
  auto print = [&printer](const EventView& event) { printer.Event(event); };
  std::vector<std::unique_ptr<EventFiles>> streams;
  if (options.read_stdin) {
    streams.push_back(std::make_unique<EventFiles>(0, "stdin", files));
  } else if (!options.group) {
    streams.push_back(std::make_unique<EventFiles>(paths, files));
  } else {
    files.read_size = 64 << 10;  // many open at once
    std::vector<std::vector<std::string>> by_stream;
    absl::flat_hash_map<std::string, size_t> index;
    for (const std::string& path : paths) {
      auto [it, added] = index.emplace(StreamKey(path), by_stream.size());
      if (added) by_stream.emplace_back();
      by_stream[it->second].push_back(path);
    }
    for (auto& stream : by_stream) {
      streams.push_back(std::make_unique<EventFiles>(std::move(stream), files));
    }
  }
  std::vector<EventFiles*> pointers;
  for (const auto& stream : streams) pointers.push_back(stream.get());
  MergeByEnd(pointers, print);
  int code = kViewOk;
  for (const auto& stream : streams) {
    if (stream->code() == kViewError || code == kViewOk) code = stream->code();
  }
  return code;
}

// The dates into query->start and ->end (ParseDate: the end's day or
// minute included).
int ParseDates(const ViewerOptions& options, LogFileQuery* query,
               std::ostream& err) {
  for (const auto& [text, field, end] :
       {std::make_tuple(options.start_date, &query->start, false),
        std::make_tuple(options.end_date, &query->end, true)}) {
    if (text.empty()) continue;
    absl::StatusOr<absl::Time> t = ParseDate(text, end);
    if (!t.ok()) {
      err << "ziggyview: " << t.status().message() << "\n";
      return kViewError;
    }
    *field = *t;
  }
  return kViewOk;
}

// --where, the dates and --fields, or a one-line error.
int MakeSelection(const ViewerOptions& options, const LogFileQuery& dates,
                  Selection* selection, std::ostream& err) {
  if (!options.where.empty()) {
    absl::StatusOr<Where> where = Where::Parse(options.where);
    if (!where.ok()) {
      err << "ziggyview: --where: " << where.status().message() << "\n";
      return kViewError;
    }
    selection->filters.push_back(*std::move(where));
  }
  if (!options.start_date.empty() || !options.end_date.empty()) {
    selection->filters.push_back(EndTimeFilter(dates));
  }
  if (!options.fields.empty()) {
    absl::StatusOr<FieldSelection> fields =
        FieldSelection::Parse(options.fields);
    if (!fields.ok()) {
      err << "ziggyview: --fields: " << fields.status().message() << "\n";
      return kViewError;
    }
    selection->fields = *std::move(fields);
  }
  return kViewOk;
}

// The files --log-path and the dates select; with --group every type's, as
// the filter then applies to groups (GroupTypeMatches).
int SelectFiles(const ViewerOptions& options, LogFileQuery query,
                std::vector<std::string>* paths, std::ostream& err) {
  query.log_path = options.log_path;
  query.type = options.group ? "" : options.type;
  absl::StatusOr<std::vector<LogFileInfo>> files = FindLogFiles(query);
  if (!files.ok()) {
    err << "ziggyview: " << files.status().message() << "\n";
    return kViewError;
  }
  for (const LogFileInfo& f : *files) {
    // A hashed long type's file, or an overflow file, is read whatever the
    // filter: its types are known only from the events inside.
    if (f.type.empty() || GroupTypeMatches(options.type, f.type)) {
      paths->push_back(f.path);
    }
  }
  return kViewOk;
}

// --raw: the flags it goes with, and never BSON to a terminal (as zstd
// refuses to write compressed data to one).
int CheckRaw(const ViewerOptions& options, std::ostream& err) {
  if (!options.raw) return kViewOk;
  if (options.pretty || options.stats || options.group ||
      !options.fields.empty() || !options.serve.empty()) {
    err << "ziggyview: --raw writes the events' BSON as stored: not with "
           "--pretty, --stats, --group, --fields or --serve\n";
    return kViewError;
  }
  if (options.out_is_terminal) {
    err << "ziggyview: --raw: not writing BSON to a terminal; redirect "
           "standard output to a file or a pipe\n";
    return kViewError;
  }
  return kViewOk;
}

int Live(const ViewerOptions& options, Printer& printer, std::ostream& err) {
  std::unique_ptr<StreamSubscriber> stream = ConnectLive(options, err);
  if (stream == nullptr) return kViewError;
  int code = kViewOk;
  std::string type, bson, why;
  bool warned = false;  // once per time the stream is out of reach
  while (options.stop == nullptr || !options.stop->load()) {
    if (stream->Next(&type, &bson, absl::Milliseconds(100))) {
      EventView event;
      if (InspectEvent(bson, &event, &why)) {
        printer.Event(event);
        printer.Flush();  // live: show events as they come
      } else {
        err << "ziggyview: live stream: not a valid event skipped: " << why
            << "\n";
        code = kViewDamaged;
      }
    }
    printer.Tick(absl::Now());
    const absl::Status health = stream->Health();
    if (!health.ok() && !warned) {
      err << "ziggyview: " << health.message() << "; still trying\n";
    }
    warned = !health.ok();
  }
  return code;
}

}  // namespace

std::unique_ptr<StreamSubscriber> ConnectLive(
    const ViewerOptions& options, std::ostream& err,
    absl::optional<CurveSocketOptions>* curve) {
  absl::StatusOr<StreamOptions> stream_options = LiveStreamOptions(options);
  if (!stream_options.ok()) {
    err << "ziggyview: " << stream_options.status().message() << "\n";
    return nullptr;
  }
  if (curve != nullptr) *curve = stream_options->curve;
  auto stream = std::make_unique<StreamSubscriber>(*std::move(stream_options));
  if (absl::Status s = stream->Connect(); !s.ok()) {
    err << "ziggyview: " << s.message() << "\n";
    return nullptr;
  }
  return stream;
}

absl::StatusOr<StreamOptions> LiveStreamOptions(const ViewerOptions& options) {
  absl::StatusOr<absl::optional<CurveSocketOptions>> curve =
      LoadCurveClientOptions(options.curve_server_key, "--curve-server-key",
                             options.curve_key, "--curve-key");
  if (!curve.ok()) return curve.status();
  StreamOptions stream;
  stream.control = options.host;
  stream.type = options.type;
  stream.control_timeout = options.control_timeout;
  stream.curve = *std::move(curve);
  return stream;
}

int RunViewer(const ViewerOptions& options, std::ostream& out,
              std::ostream& err) {
  const int sources =
      (options.files.empty() ? 0 : 1) + (options.log_path.empty() ? 0 : 1) +
      (options.host.empty() ? 0 : 1) + (options.read_stdin ? 1 : 0);
  if (sources != 1) {
    err << "ziggyview: give exactly one input: files, --log-path, -H "
           "host:port, or a pipe on stdin\n";
    return kViewError;
  }
  if (int code = CheckRaw(options, err); code != kViewOk) return code;
  if (!options.serve.empty()) return RunDashboard(options, out, err);
  if (options.stats &&
      (options.group || options.stats_interval <= absl::ZeroDuration())) {
    err << "ziggyview: --stats needs a positive --interval and no --group\n";
    return kViewError;
  }
  if (!options.stats && (options.stats_json || !options.stats_by.empty())) {
    err << "ziggyview: --json and --by go with --stats\n";
    return kViewError;
  }
  LogFileQuery dates;
  Selection selection;
  if (int code = ParseDates(options, &dates, err); code != kViewOk) {
    return code;
  }
  if (int code = MakeSelection(options, dates, &selection, err);
      code != kViewOk) {
    return code;
  }
  Printer printer(options, selection, out);
  if (!options.host.empty()) {
    const int code = Live(options, printer, err);
    printer.Finish();
    return code;
  }
  std::vector<std::string> paths = options.files;
  if (!options.log_path.empty()) {
    if (int code = SelectFiles(options, dates, &paths, err); code != kViewOk) {
      return code;
    }
  }
  EventFilesOptions files;
  files.report = [&printer, &err](const std::string& line) {
    printer.Flush();  // stdout before what stderr says about the input
    err << line << "\n";
  };
  files.stop = options.stop;
  const int code = ReadEvents(options, paths, printer, files);
  printer.Finish();
  if (options.stop != nullptr && options.stop->load()) {
    err << "ziggyview: interrupted before the end of the input\n";
    return kViewInterrupted;
  }
  return code;
}

}  // namespace ziggy
