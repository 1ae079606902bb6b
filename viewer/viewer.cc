#include "viewer/viewer.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "client/event.h"
#include "client/grouper.h"
#include "client/internal/bson_validate.h"
#include "client/json.h"
#include "client/log_files.h"
#include "client/reader.h"
#include "client/stream.h"

namespace ziggy {
namespace {

// Filters, groups and prints events; buffers output for speed.
class Printer {
 public:
  Printer(const ViewerOptions& options, std::ostream& out)
      : options_(options),
        out_(out),
        grouper_(options.max_groups,
                 [this](const EventGroup& g) { PrintGroup(g); }) {}

  ~Printer() { Flush(); }

  // One event document (already structurally valid or not: checked here).
  void Event(absl::string_view bson) {
    absl::string_view id, type;
    std::string why;
    const bool valid = internal::ValidateDocument(
        bson, kMaxDepth, &why,
        [&](absl::string_view key, uint8_t bson_type, absl::string_view value) {
          if (bson_type != 0x02) return;
          if (key == "type") type = value;
          if (key == "id") id = value;
        });
    if (!valid || !TypeMatches(options_.type, type)) return;
    if (options_.group) {
      grouper_.Add(id, type, bson);
      return;
    }
    internal::AppendValidatedJson(bson, &buffer_, {options_.pretty});
    buffer_.push_back('\n');
    if (buffer_.size() >= kFlushBytes) Flush();
  }

  void Finish() {
    if (options_.group) grouper_.Finish();
    Flush();
  }

  void Flush() {
    out_.write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    out_.flush();
    buffer_.clear();
  }

 private:
  static constexpr size_t kFlushBytes = 1 << 16;

  void PrintGroup(const EventGroup& group) {
    const bool pretty = options_.pretty;
    const char* sep = pretty ? ",\n  " : ",";
    buffer_.append(pretty ? "{\n  \"id\": " : "{\"id\":");
    AppendJsonString(group.id, &buffer_);
    buffer_.append(sep);
    buffer_.append(pretty ? "\"parent\": " : "\"parent\":");
    if (group.parent.empty()) {
      buffer_.append("null");
    } else {
      AppendJson(group.parent, &buffer_, {pretty}).IgnoreError();
    }
    buffer_.append(sep);
    buffer_.append(pretty ? "\"children\": [" : "\"children\":[");
    for (size_t i = 0; i < group.children.size(); ++i) {
      if (i > 0) buffer_.append(sep);
      AppendJson(group.children[i], &buffer_, {pretty}).IgnoreError();
    }
    buffer_.append(pretty ? "]\n}\n" : "]}\n");
    if (buffer_.size() >= kFlushBytes) Flush();
  }

  const ViewerOptions& options_;
  std::ostream& out_;
  EventGrouper grouper_;
  std::string buffer_;
};

// Prints every whole event from `fd`; reports damage on `err`. Returns
// whether the input was whole.
bool ReadStream(int fd, const std::string& name, Printer& printer,
                std::ostream& err) {
  DocumentReader reader(fd, ReaderOptions{16 << 20, /*validate=*/false});
  absl::string_view doc;
  while (reader.Next(&doc)) printer.Event(doc);
  if (reader.status().ok()) return true;
  printer.Flush();
  err << "ziggyview: " << name << ": " << reader.status().message() << "\n";
  return false;
}

int ReadFiles(const std::vector<std::string>& files, Printer& printer,
              std::ostream& err) {
  int code = kViewOk;
  for (const std::string& file : files) {
    const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      printer.Flush();
      err << "ziggyview: cannot open " << file << ": " << strerror(errno)
          << "\n";
      code = kViewError;
      continue;
    }
    if (!ReadStream(fd, file, printer, err) && code == kViewOk)
      code = kViewDamaged;
    close(fd);
  }
  return code;
}

int Live(const ViewerOptions& options, Printer& printer, std::ostream& err) {
  StreamSubscriber stream(
      {options.host, options.type, options.control_timeout});
  if (absl::Status s = stream.Connect(); !s.ok()) {
    err << "ziggyview: " << s.message() << "\n";
    return kViewError;
  }
  std::string type, bson;
  bool warned = false;  // once per time the stream is out of reach
  while (options.stop == nullptr || !options.stop->load()) {
    if (stream.Next(&type, &bson, absl::Milliseconds(100))) {
      printer.Event(bson);
      printer.Flush();  // live: show events as they come
    }
    const absl::Status health = stream.Health();
    if (!health.ok() && !warned) {
      err << "ziggyview: " << health.message() << "; still trying\n";
    }
    warned = !health.ok();
  }
  return kViewOk;
}

}  // namespace

int RunViewer(const ViewerOptions& options, std::ostream& out,
              std::ostream& err) {
  const int sources =
      (options.files.empty() ? 0 : 1) + (options.log_path.empty() ? 0 : 1) +
      (options.host.empty() ? 0 : 1) + (options.read_stdin ? 1 : 0);
  if (sources != 1) {
    err << "ziggyview: give exactly one input: files, --log-path, -H "
           "host:port, "
           "or a pipe on stdin\n";
    return kViewError;
  }
  Printer printer(options, out);
  int code = kViewOk;
  if (!options.host.empty()) {
    code = Live(options, printer, err);
  } else if (options.read_stdin) {
    code = ReadStream(0, "stdin", printer, err) ? kViewOk : kViewDamaged;
  } else if (!options.files.empty()) {
    code = ReadFiles(options.files, printer, err);
  } else {
    LogFileQuery query{options.log_path, options.type};
    for (const auto& [text, field, end] :
         {std::make_tuple(options.start_date, &query.start, false),
          std::make_tuple(options.end_date, &query.end, true)}) {
      if (text.empty()) continue;
      absl::StatusOr<absl::Time> t = ParseDate(text, end);
      if (!t.ok()) {
        err << "ziggyview: " << t.status().message() << "\n";
        return kViewError;
      }
      *field = *t;
    }
    absl::StatusOr<std::vector<LogFileInfo>> files = FindLogFiles(query);
    if (!files.ok()) {
      err << "ziggyview: " << files.status().message() << "\n";
      return kViewError;
    }
    std::vector<std::string> paths;
    for (const LogFileInfo& f : *files) paths.push_back(f.path);
    code = ReadFiles(paths, printer, err);
  }
  printer.Finish();
  return code;
}

}  // namespace ziggy
