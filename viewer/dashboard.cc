#include "viewer/dashboard.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "client/net/socket.h"
#include "client/reader/control.h"
#include "client/reader/json.h"
#include "client/reader/log_files.h"
#include "client/reader/pool_status.h"
#include "client/reader/stream.h"
#include "client/reader/where.h"
#include "common/exposure.h"
#include "common/http_server.h"
#include "viewer/dashboard_api.h"
#include "viewer/dashboard_model.h"
#include "viewer/event_files.h"

namespace ziggy {
namespace {

constexpr absl::Duration kStatusEvery = absl::Seconds(2);
constexpr size_t kFilePoints = 1000;

bool Stopped(const ViewerOptions& options) {
  return options.stop != nullptr && options.stop->load();
}

// The host of a host:port, without IPv6 brackets.
std::string HostOf(const std::string& address) {
  std::string host = address.substr(0, address.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

// Off loopback only with --insecure (then a warning), as the daemons'
// plain ports (common/exposure.h).
bool ServeAllowed(const ViewerOptions& options, std::ostream& err) {
  if (IsLoopbackHost(HostOf(options.serve))) return true;
  const std::string what = absl::StrCat(
      "--serve=", options.serve,
      " is not a loopback address; anyone who reaches it can read every "
      "event and the daemon's STATUS (the dashboard is plain, "
      "unauthenticated HTTP)");
  if (!options.insecure) {
    err << "ziggyview: " << what << ". Add --insecure to serve it anyway\n";
    return false;
  }
  err << "ziggyview: --insecure: " << what << "\n";
  return true;
}

// What --type-name, --where and (files) the dates select, as ziggyview
// filters printed events: the dates on each event's own end, the end
// date's day or minute included, events without an end left out.
struct EventFilter {
  absl::optional<Where> where;
  std::string type;
  LogFileQuery dates;              // start and end only: the files to read
  absl::optional<Where> end_time;  // with a date: EndTimeFilter(dates)
  bool Passes(const EventView& event) const {
    if (!TypeMatches(type, event.type)) return false;
    if (where.has_value() && !where->Matches(event.bson)) return false;
    return !end_time.has_value() || end_time->Matches(event.bson);
  }
};

// --type-name, --where and the dates, or a one-line error.
absl::StatusOr<EventFilter> MakeFilter(const ViewerOptions& options) {
  EventFilter filter;
  filter.type = options.type;
  if (!options.where.empty()) {
    absl::StatusOr<Where> where = Where::Parse(options.where);
    if (!where.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--where: ", where.status().message()));
    }
    filter.where = *std::move(where);
  }
  for (auto [text, field, end] :
       {std::make_tuple(&options.start_date, &filter.dates.start, false),
        std::make_tuple(&options.end_date, &filter.dates.end, true)}) {
    if (text->empty()) continue;
    absl::StatusOr<absl::Time> t = ParseDate(*text, end);
    if (!t.ok()) return t.status();
    *field = *t;
  }
  if (!options.start_date.empty() || !options.end_date.empty()) {
    filter.end_time = EndTimeFilter(filter.dates);
  }
  return filter;
}

// One daemon's STATUS as it is; several: their sum (SumStatus), the ones
// that did not answer named in the error (the page marks it stale).
void ShowStatus(const std::vector<DaemonReply>& replies,
                DashboardModel* model) {
  std::vector<const Value*> up;
  std::vector<std::string> errors;
  for (const DaemonReply& daemon : replies) {
    if (daemon.reply.ok()) {
      up.push_back(&*daemon.reply);
    } else {
      errors.emplace_back(daemon.reply.status().message());
    }
  }
  if (!up.empty()) {
    const Value shown = replies.size() == 1 ? *up[0] : SumStatus(up);
    std::string json;
    internal::AppendValidatedJson(EncodeDocument(shown), &json);
    model->SetStatus(std::move(json), absl::Now());
  }
  if (!errors.empty()) {
    model->SetStatusError(absl::StrJoin(errors, "; "));
  }
}

// Asks every daemon for STATUS every kStatusEvery until `done`.
void PollStatus(const std::vector<std::string>& hosts,
                const ControlOptions& control, DashboardModel* model,
                absl::Notification* done) {
  do {
    ShowStatus(CallEach(hosts, "STATUS", {}, control), model);
  } while (!done->WaitForNotificationWithTimeout(kStatusEvery));
}

// Follows the live streams into `model` until stopped.
int FollowLive(const ViewerOptions& options, const EventFilter& filter,
               DashboardModel* model, std::ostream& err) {
  int code = kViewOk;
  std::unique_ptr<LiveStreams> streams =
      ConnectLiveStreams(options, &code, err);
  if (streams == nullptr) return kViewError;
  ControlOptions control;
  control.curve = LiveStreamOptions(options)->curve;  // loaded just above
  control.timeout = std::min(options.control_timeout, kStatusEvery);
  absl::Notification done;
  std::thread status(PollStatus, options.hosts, control, model, &done);
  std::string bson, why;
  while (!Stopped(options)) {
    for (const std::string& note : streams->TakeNotes()) {
      err << "ziggyview: " << note << "\n";
    }
    if (!streams->Next(&bson, absl::Milliseconds(100))) continue;
    EventView event;
    if (InspectEvent(bson, &event, &why) && filter.Passes(event)) {
      model->Add(event, absl::Now());
    }
  }
  done.Notify();
  status.join();
  return code;
}

// The files the dates select under every --log-path (the model counts
// events by their own end time, so the order they are read in is not
// the page's).
absl::StatusOr<std::vector<std::string>> SelectedFiles(
    const ViewerOptions& options, const EventFilter& filter) {
  LogFileQuery query = filter.dates;
  query.type = options.type;
  std::vector<std::string> paths;
  for (const std::string& log_path : options.log_paths) {
    query.log_path = log_path;
    absl::StatusOr<std::vector<LogFileInfo>> files = FindLogFiles(query);
    if (!files.ok()) return files.status();
    for (const LogFileInfo& file : *files) paths.push_back(file.path);
  }
  return paths;
}

// Calls `visit` with every event of `paths` that passes `filter`.
template <typename Visit>
int ReadFiles(const std::vector<std::string>& paths, const EventFilter& filter,
              const ViewerOptions& options, std::ostream& err, Visit visit) {
  EventFilesOptions files;
  files.report = [&err](const std::string& line) { err << line << "\n"; };
  files.stop = options.stop;
  EventFiles events(paths, files);
  EventView event;
  while (events.Next(&event)) {
    if (filter.Passes(event)) visit(event);
  }
  return events.code();
}

// Reads the files twice: for their time range, then into buckets that fit
// it in kFilePoints.
int LoadFiles(const ViewerOptions& options, const EventFilter& filter,
              std::unique_ptr<DashboardModel>* model, std::ostream& err) {
  absl::StatusOr<std::vector<std::string>> paths =
      SelectedFiles(options, filter);
  if (!paths.ok()) {
    err << "ziggyview: " << paths.status().message() << "\n";
    return kViewError;
  }
  double first = INFINITY, last = -INFINITY;
  const int code =
      ReadFiles(*paths, filter, options, err, [&](const EventView& event) {
        if (!event.has_end) return;
        first = std::min(first, event.end);
        last = std::max(last, event.end);
      });
  if (code == kViewError) return code;
  DashboardModelOptions model_options;
  const double span = last > first ? last - first : 1;
  model_options.resolution =
      absl::Seconds(std::max(1.0, std::ceil(span / kFilePoints)));
  model_options.max_buckets = kFilePoints + 1;
  *model = std::make_unique<DashboardModel>(model_options);
  const absl::Time now = absl::Now();
  ReadFiles(*paths, filter, options, err,
            [&](const EventView& event) { (*model)->Add(event, now); });
  return code;
}

}  // namespace

int RunDashboard(const ViewerOptions& options, std::ostream& out,
                 std::ostream& err) {
  if (options.hosts.empty() == options.log_paths.empty() ||
      !options.files.empty() || options.stats || options.group) {
    err << "ziggyview: --serve takes -H host:port or --log-path, and no "
           "files, --stats or --group\n";
    return kViewError;
  }
  if (!ServeAllowed(options, err)) return kViewError;
  absl::StatusOr<EventFilter> filter = MakeFilter(options);
  if (!filter.ok()) {
    err << "ziggyview: " << filter.status().message() << "\n";
    return kViewError;
  }
  auto model = std::make_unique<DashboardModel>();
  int code = kViewOk;
  if (!options.log_paths.empty()) {
    code = LoadFiles(options, *filter, &model, err);
    if (code == kViewError) return code;
  }
  HttpServerOptions server_options;
  server_options.threads = 4;
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::StartWithQueries(options.serve, DashboardRoutes(model.get()),
                                   server_options);
  if (!server.ok()) {
    err << "ziggyview: --serve: " << server.status().message() << "\n";
    return kViewError;
  }
  out << "dashboard: " << (*server)->url() << "/" << std::endl;
  if (!options.hosts.empty())
    return FollowLive(options, *filter, model.get(), err);
  while (!Stopped(options)) absl::SleepFor(absl::Milliseconds(100));
  return code;
}

}  // namespace ziggy
