#include "viewer/viewer.h"

#include <algorithm>
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
#include "viewer/live_streams.h"
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
    if (stats_ != nullptr && options_.hosts.empty()) stats_->Finish();
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

// A file to read, the log path it is under (its index in
// options.log_paths) and the start of its day or hour block.
struct SelectedFile {
  std::string path;
  size_t root = 0;
  absl::Time start = absl::InfinitePast();
};

// Files read one after another, as one stream of events.
using FileStream = std::vector<std::string>;
// Streams whose events are interleaved by end time (MergeByEnd).
using FileGroup = std::vector<FileStream>;

// `files` as streams, one per value of `key`, in order of first appearance.
template <typename Key>
FileGroup StreamsBy(const std::vector<SelectedFile>& files, Key key) {
  FileGroup group;
  absl::flat_hash_map<std::string, size_t> index;
  for (const SelectedFile& file : files) {
    auto [it, added] = index.emplace(key(file), group.size());
    if (added) group.emplace_back();
    group[it->second].push_back(file.path);
  }
  return group;
}

// Several log paths: one group per type and day (or hour block), in the
// order one collector's files are read (by start, then by stem), each
// with one stream per log path, so each type-day reads as one collector
// holding all its events would have filed them.
std::vector<FileGroup> TypeDayGroups(std::vector<SelectedFile> files) {
  auto key = [](const SelectedFile& f) {
    return std::make_pair(f.start, StreamKey(f.path));
  };
  std::stable_sort(files.begin(), files.end(),
                   [&key](const SelectedFile& a, const SelectedFile& b) {
                     return key(a) < key(b);
                   });
  std::vector<FileGroup> groups;
  for (size_t i = 0, j = 0; i < files.size(); i = j) {
    while (j < files.size() && key(files[j]) == key(files[i])) ++j;
    groups.push_back(StreamsBy(
        std::vector<SelectedFile>(files.begin() + i, files.begin() + j),
        [](const SelectedFile& f) { return absl::StrCat(f.root); }));
  }
  return groups;
}

// What to read, as groups read one after another. With --group, one group
// of every type's files at every log path, one stream per path and type
// (StreamKey): sub-events meet their parent across files, days and
// collectors. Several log paths: TypeDayGroups. Otherwise every file in
// order, as one stream.
std::vector<FileGroup> PlanReading(const ViewerOptions& options,
                                   const std::vector<SelectedFile>& files) {
  if (options.group) {
    return {StreamsBy(files, [](const SelectedFile& f) {
      return absl::StrCat(f.root, "/", StreamKey(f.path));
    })};
  }
  if (options.log_paths.size() > 1) return TypeDayGroups(files);
  FileStream all;
  for (const SelectedFile& file : files) all.push_back(file.path);
  return {FileGroup{std::move(all)}};
}

// The worse of two exit codes (kViewError over kViewDamaged over kViewOk).
int Worse(int a, int b) { return a == kViewError || b == kViewOk ? a : b; }

// Reads one group's streams, merged by end time, into `printer`.
int ReadGroup(const FileGroup& group, Printer& printer,
              EventFilesOptions files) {
  if (group.size() > 1) files.read_size = 64 << 10;  // many open at once
  std::vector<std::unique_ptr<EventFiles>> streams;
  std::vector<EventFiles*> pointers;
  for (const FileStream& stream : group) {
    streams.push_back(std::make_unique<EventFiles>(stream, files));
    pointers.push_back(streams.back().get());
  }
  MergeByEnd(pointers,
             [&printer](const EventView& event) { printer.Event(event); });
  int code = kViewOk;
  for (const auto& stream : streams) code = Worse(code, stream->code());
  return code;
}

// Reads events and prints them (PlanReading says in which order).
int ReadEvents(const ViewerOptions& options,
               const std::vector<SelectedFile>& selected, Printer& printer,
               const EventFilesOptions& files) {
  if (options.read_stdin) {
    EventFiles in(0, "stdin", files);
    EventView event;
    while (in.Next(&event)) printer.Event(event);
    return in.code();
  }
  int code = kViewOk;
  for (const FileGroup& group : PlanReading(options, selected)) {
    if (options.stop != nullptr && options.stop->load()) break;
    code = Worse(code, ReadGroup(group, printer, files));
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

// The files the dates select under every --log-path; with --group every
// type's, as the filter then applies to groups (GroupTypeMatches).
int SelectFiles(const ViewerOptions& options, LogFileQuery query,
                std::vector<SelectedFile>* selected, std::ostream& err) {
  query.type = options.group ? "" : options.type;
  for (size_t root = 0; root < options.log_paths.size(); ++root) {
    query.log_path = options.log_paths[root];
    absl::StatusOr<std::vector<LogFileInfo>> files = FindLogFiles(query);
    if (!files.ok()) {
      err << "ziggyview: " << files.status().message() << "\n";
      return kViewError;
    }
    for (const LogFileInfo& f : *files) {
      // A hashed long type's file, or an overflow file, is read whatever
      // the filter: its types are known only from the events inside.
      if (f.type.empty() || GroupTypeMatches(options.type, f.type)) {
        selected->push_back({f.path, root, f.start});
      }
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
  int code = kViewOk;
  std::unique_ptr<LiveStreams> streams =
      ConnectLiveStreams(options, &code, err);
  if (streams == nullptr) return kViewError;
  std::string bson, why;
  while (options.stop == nullptr || !options.stop->load()) {
    if (streams->Next(&bson, absl::Milliseconds(100))) {
      EventView event;
      if (InspectEvent(bson, &event, &why)) {
        printer.Event(event);
        printer.Flush();  // live: show events as they come
      } else {
        err << "ziggyview: live stream: not a valid event skipped: " << why
            << "\n";
        if (code == kViewOk) code = kViewDamaged;
      }
    }
    printer.Tick(absl::Now());
    for (const std::string& note : streams->TakeNotes()) {
      err << "ziggyview: " << note << "\n";
    }
  }
  return code;
}

}  // namespace

absl::StatusOr<StreamOptions> LiveStreamOptions(const ViewerOptions& options) {
  absl::StatusOr<absl::optional<CurveSocketOptions>> curve =
      LoadCurveClientOptions(options.curve_server_key, "--curve-server-key",
                             options.curve_key, "--curve-key");
  if (!curve.ok()) return curve.status();
  StreamOptions stream;
  if (!options.hosts.empty()) stream.control = options.hosts[0];
  stream.type = options.type;
  stream.control_timeout = options.control_timeout;
  stream.curve = *std::move(curve);
  return stream;
}

std::unique_ptr<LiveStreams> ConnectLiveStreams(const ViewerOptions& options,
                                                int* code, std::ostream& err) {
  absl::StatusOr<StreamOptions> stream = LiveStreamOptions(options);
  if (!stream.ok()) {
    err << "ziggyview: " << stream.status().message() << "\n";
    return nullptr;
  }
  std::vector<StreamOptions> daemons;
  for (const std::string& host : options.hosts) {
    daemons.push_back(*stream);
    daemons.back().control = host;
  }
  auto streams = std::make_unique<LiveStreams>(std::move(daemons));
  const std::vector<std::string> errors = streams->Connect();
  const char* others =
      streams->following() > 0 ? "; following the other daemons" : "";
  for (const std::string& error : errors) {
    err << "ziggyview: " << error << others << "\n";
    *code = kViewError;
  }
  if (streams->following() == 0) return nullptr;
  return streams;
}

int RunViewer(const ViewerOptions& options, std::ostream& out,
              std::ostream& err) {
  const int sources =
      (options.files.empty() ? 0 : 1) + (options.log_paths.empty() ? 0 : 1) +
      (options.hosts.empty() ? 0 : 1) + (options.read_stdin ? 1 : 0);
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
  if (!options.hosts.empty()) {
    const int code = Live(options, printer, err);
    printer.Finish();
    return code;
  }
  std::vector<SelectedFile> selected;
  for (const std::string& file : options.files) selected.push_back({file});
  if (int code = SelectFiles(options, dates, &selected, err); code != kViewOk) {
    return code;
  }
  EventFilesOptions files;
  files.report = [&printer, &err](const std::string& line) {
    printer.Flush();  // stdout before what stderr says about the input
    err << line << "\n";
  };
  files.stop = options.stop;
  const int code = ReadEvents(options, selected, printer, files);
  printer.Finish();
  if (options.stop != nullptr && options.stop->load()) {
    err << "ziggyview: interrupted before the end of the input\n";
    return kViewInterrupted;
  }
  return code;
}

}  // namespace ziggy
