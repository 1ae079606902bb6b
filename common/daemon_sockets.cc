#include "common/daemon_sockets.h"

#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "client/format/wire.h"
#include "client/net/endpoint.h"
#include "glog/logging.h"

namespace ziggy {
int MessagesIn(size_t budget, size_t largest) {
  return static_cast<int>(
      std::clamp<size_t>(budget / std::max<size_t>(largest, 1), 16, 100000));
}

void RaiseFileLimit() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max)
    return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    PLOG(WARNING) << "cannot raise the open file limit from " << before;
  }
}

int64_t OpenFileDescriptors() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int64_t count = 0;
  while (const dirent* entry = readdir(dir)) count += entry->d_name[0] != '.';
  closedir(dir);
  return count - 1;  // opendir's own
}

std::string DefaultStreamAddress(absl::string_view control) {
  const size_t colon = control.rfind(':');
  return absl::StrCat(
      control.substr(0,
                     colon == absl::string_view::npos ? control.size() : colon),
      ":0");
}

std::string PortReply(const std::string& endpoint) {
  return EncodeDocument(Value(Value::Map{{"port", EndpointPort(endpoint)}}));
}

DaemonSockets::DaemonSockets(absl::string_view daemon_name,
                             size_t max_event_bytes, Clock* clock)
    : daemon_name_(daemon_name),
      max_event_bytes_(max_event_bytes),
      clock_(clock),
      started_(absl::Now()),
      context_(1),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      snapshots_([this] { Nudge(); }),
      intake_(max_event_bytes) {
  AddBuiltinCommands();
}

DaemonSockets::~DaemonSockets() {
  if (wake_fd_ >= 0) close(wake_fd_);
}

absl::Status DaemonSockets::Bind(const DaemonAddresses& addresses) {
  if (wake_fd_ < 0) return absl::InternalError("eventfd failed");
  RaiseFileLimit();
  if (absl::Status s = StartCurve(addresses); !s.ok()) return s;
  MakeSockets(addresses);
  if (absl::Status s = WatchHandshakes(addresses); !s.ok()) return s;
  if (absl::Status s = BindSocket(control_, addresses.control, "control",
                                  &control_endpoint_);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = BindSocket(collect_, addresses.collect, "collect",
                                  &collect_endpoint_);
      !s.ok()) {
    return s;
  }
  const std::string stream = addresses.stream.empty()
                                 ? DefaultStreamAddress(addresses.control)
                                 : addresses.stream;
  return BindSocket(stream_, stream, "stream", &stream_endpoint_);
}

absl::Status DaemonSockets::StartCurve(const DaemonAddresses& addresses) {
  if (!addresses.curve) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<ZapHandler>> zap =
      ZapHandler::Start(context_, addresses.curve->clients);
  if (!zap.ok()) return zap.status();
  zap_ = *std::move(zap);
  allow_dir_ = addresses.curve->allow_dir;
  admin_dir_ = addresses.curve->admin_dir;
  AddStatusSection("auth", [this](Value::Map* auth) {
    const Value::Map fields{
        {"accepted", static_cast<int64_t>(zap_->accepted())},
        {"refused", static_cast<int64_t>(zap_->refused())},
        {"failed_handshakes", static_cast<int64_t>(zap_->failed_handshakes())},
        {"refused_admin", static_cast<int64_t>(refused_admin_)},
        {"reloads", static_cast<int64_t>(zap_->reloads())},
        {"reload_failures", static_cast<int64_t>(zap_->reload_failures())},
    };
    auth->insert(auth->end(), fields.begin(), fields.end());
  });
  return absl::OkStatus();
}

absl::Status DaemonSockets::WatchHandshakes(const DaemonAddresses& addresses) {
  if (!zap_) return absl::OkStatus();
  std::vector<std::pair<zmq::socket_t*, const char*>> ports = {
      {&control_, "control"}, {&stream_, "stream"}};
  if (!addresses.curve->plain_collect) ports.push_back({&collect_, "collect"});
  for (const auto& [socket, name] : ports) {
    if (absl::Status s = zap_->WatchHandshakes(*socket, name); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

void DaemonSockets::ReloadCurveKeys() {
  if (!zap_) {
    LOG(INFO) << "SIGHUP: no CurveZMQ keys to reload (no --curve-key)";
    return;
  }
  if (absl::Status s = zap_->ReloadFrom(allow_dir_, admin_dir_); !s.ok()) {
    LOG(ERROR) << "SIGHUP: the key lists stay as they were: " << s.message();
  }
}

void DaemonSockets::MakeSockets(const DaemonAddresses& addresses) {
  absl::optional<CurveSocketOptions> curve;
  if (addresses.curve) curve = CurveSocketOptions::Server(addresses.curve->key);
  // A peer sending a larger frame is disconnected by ZeroMQ before anything
  // is allocated for it (frames declare their size up front). Queues are
  // bounded in bytes (QueueLimits), as message counts.
  SocketOptions control;
  control.curve = curve;
  control.linger_ms = 1000;  // deliver SHUTDOWN's reply
  control.max_message_bytes = kMaxControlRequestBytes;
  control_ = MakeSocket(context_, zmq::socket_type::rep, control);

  // A message may hold several events (client/format/wire.h): a batch up
  // to kMaxBatchBytes, or one event up to max_event_bytes_.
  const size_t largest_event =
      std::max(max_event_bytes_, kMaxBatchBytes) + kOversizeSlackBytes;
  const QueueLimits& limits = addresses.limits;
  SocketOptions collect;
  if (!addresses.curve || !addresses.curve->plain_collect) {
    collect.curve = curve;
  }
  collect.max_message_bytes = static_cast<int64_t>(largest_event);
  collect.receive_high_water_mark =
      MessagesIn(limits.collect_bytes, largest_event);
  collect_ = MakeSocket(context_, zmq::socket_type::pull, collect);

  max_stream_event_bytes_ = limits.max_stream_event_bytes;
  SocketOptions publish;
  publish.curve = curve;
  publish.max_message_bytes = kMaxSubscriptionBytes;
  publish.send_high_water_mark =
      MessagesIn(limits.stream_bytes, max_stream_event_bytes_);
  stream_ = MakeSocket(context_, zmq::socket_type::xpub, publish);
  stream_.set(zmq::sockopt::xpub_verbose, 1);
}

std::vector<zmq::pollitem_t> DaemonSockets::PollItems(bool collect) {
  std::vector<zmq::pollitem_t> items = {
      {control_.handle(), 0, ZMQ_POLLIN, 0},
      {stream_.handle(), 0, ZMQ_POLLIN, 0},
      {nullptr, wake_fd_, ZMQ_POLLIN, 0},
  };
  if (collect) items.push_back({collect_.handle(), 0, ZMQ_POLLIN, 0});
  return items;
}

void DaemonSockets::AddCommand(const std::string& name, Command command,
                               Access access) {
  CHECK(commands_.emplace(name, Registered{std::move(command), access}).second)
      << "control command " << name << " added twice";
}

void DaemonSockets::AddPort(absl::string_view name, std::string endpoint) {
  AddCommand(
      absl::StrCat("SOCK_", absl::AsciiStrToUpper(name)),
      [endpoint](const ControlRequest&) { return PortReply(endpoint); },
      Access::kReadOnly);
  ports_.emplace_back(std::string(name), std::move(endpoint));
}

void DaemonSockets::AddDropReasons(FillStatus fill) {
  drop_reasons_.push_back(std::move(fill));
}

void DaemonSockets::AddStatusSection(std::string name, FillStatus fill) {
  CHECK(!name.empty());
  status_parts_.push_back({std::move(name), std::move(fill)});
}

void DaemonSockets::AddStatusFields(FillStatus fill) {
  status_parts_.push_back({"", std::move(fill)});
}

void DaemonSockets::AddBuiltinCommands() {
  AddCommand(
      "STATUS",
      [this](const ControlRequest&) { return EncodeDocument(Value(Status())); },
      Access::kReadOnly);
  AddCommand("SHUTDOWN", [this](const ControlRequest&) {
    LOG(INFO) << "SHUTDOWN requested over the control port";
    shutdown_requested_ = true;
    return EncodeDocument(Value(Value::Map{{"ok", true}}));
  });
  const std::pair<const char*, const std::string*> ports[] = {
      {"SOCK_STREAM", &stream_endpoint_},
      {"SOCK_COLLECT", &collect_endpoint_},
      {"SOCK_CONTROL", &control_endpoint_}};
  for (const auto& [name, endpoint] : ports) {
    AddCommand(
        name,
        [endpoint = endpoint](const ControlRequest&) {
          return PortReply(*endpoint);
        },
        Access::kReadOnly);
  }
}

bool DaemonSockets::Serve(const std::vector<zmq::pollitem_t>& items,
                          const OnEvent& on_event) {
  if (items[0].revents & ZMQ_POLLIN) HandleControl();
  if (items[1].revents & ZMQ_POLLIN) HandleSubscriptions();
  if (items[2].revents & ZMQ_POLLIN) {
    uint64_t value;
    ssize_t ignored = read(wake_fd_, &value, sizeof value);
    (void)ignored;
  }
  if (items.size() > 3 && (items[3].revents & ZMQ_POLLIN)) {
    ReceiveBurst(on_event);
  }
  snapshots_.ServeIfWanted([this] { return Status(); });
  return wake_requested_.load() || shutdown_requested_;
}

int DaemonSockets::ReceiveBurst(const OnEvent& on_event) {
  const double now = UnixSeconds(clock_->Now());
  int taken = 0;
  size_t bytes = 0;
  zmq::message_t message;
  for (; taken < kMaxBurst; ++taken) {
    zmq::recv_result_t got;
    try {
      got = collect_.recv(message, zmq::recv_flags::dontwait);
    } catch (const zmq::error_t& e) {
      LOG(ERROR) << "collect socket: " << e.what();
      break;
    }
    if (!got) break;
    // A message is one frame of whole events (intake.h); drop every frame
    // of a multipart one. (Each accessor is a call into libzmq: asked once.)
    const bool more = message.more();
    const bool multipart = in_multipart_ || more;
    in_multipart_ = more;
    if (multipart) {
      if (!more) intake_.DropMultipart();
      continue;
    }
    const absl::string_view bytes_in(message.data<char>(), message.size());
    intake_.AcceptMessage(bytes_in, now, on_event);
    // Bounded in bytes too: the caller checks its queue between bursts.
    bytes += bytes_in.size();
    if (bytes >= kMaxBurstBytes) {
      ++taken;
      break;
    }
  }
  return taken;
}

void DaemonSockets::Publish(absl::string_view type, absl::string_view doc) {
  if (subscribers_ == 0) return;
  if (doc.size() > max_stream_event_bytes_) {
    ++stream_too_large_;
    return;
  }
  try {
    // A subscriber whose queue is full loses this message and the others
    // still get it (ZeroMQ's PUB semantics): one stalled viewer must not
    // stop the stream for everyone. ZeroMQ does not tell which, so those
    // losses are not counted here.
    if (stream_.send(zmq::buffer(type.data(), type.size()),
                     zmq::send_flags::sndmore | zmq::send_flags::dontwait) &&
        stream_.send(zmq::buffer(doc.data(), doc.size()),
                     zmq::send_flags::dontwait)) {
      ++published_;
    }
  } catch (const zmq::error_t& e) {
    LOG_EVERY_T(WARNING, 10) << "stream: " << e.what();
  }
}

void DaemonSockets::Wake() {
  wake_requested_.store(true);
  Nudge();
}

void DaemonSockets::Nudge() {
  const uint64_t one = 1;
  ssize_t ignored = write(wake_fd_, &one, sizeof one);
  (void)ignored;
}

// XPUB delivers (un)subscriptions as messages: 1 or 0, then the prefix.
void DaemonSockets::HandleSubscriptions() {
  zmq::message_t message;
  while (stream_.recv(message, zmq::recv_flags::dontwait)) {
    if (message.size() == 0) continue;
    const char kind = message.data<char>()[0];
    if (kind == 1) ++subscribers_;
    if (kind == 0 && subscribers_ > 0) --subscribers_;
  }
}

void DaemonSockets::HandleControl() {
  zmq::message_t request;
  if (!control_.recv(request, zmq::recv_flags::dontwait)) return;
  // A REP socket must answer every request, and exactly once.
  while (request.more()) {
    if (!control_.recv(request, zmq::recv_flags::dontwait)) break;
  }
  absl::StatusOr<ControlRequest> parsed = ParseControlRequest(
      absl::string_view(request.data<char>(), request.size()));
  const std::string reply = parsed.ok() ? Execute(*parsed, CurveUserId(request))
                                        : ErrorReply(parsed.status().message());
  control_.send(zmq::buffer(reply), zmq::send_flags::dontwait);
}

std::string DaemonSockets::Execute(const ControlRequest& request,
                                   const std::string& user_id) {
  const auto it = commands_.find(request.command);
  if (it == commands_.end()) {
    return ErrorReply(absl::StrCat("unknown command '", request.command, "'"));
  }
  if (it->second.access == Access::kChangesState && zap_ &&
      !zap_->IsAdmin(user_id)) {
    ++refused_admin_;
    LOG_EVERY_T(WARNING, 10)
        << "control: refused " << request.command
        << " from a client whose key is not in --curve-admin ("
        << refused_admin_ << " refused so far)";
    return ErrorReply(
        absl::StrCat(request.command, " needs an admin key (--curve-admin)"));
  }
  return it->second.command(request);
}

Value::Map DaemonSockets::Status() const {
  Value::Map status;
  AppendIdentity(&status);
  Value::Map more_dropped;
  for (const FillStatus& fill : drop_reasons_) fill(&more_dropped);
  intake_.AppendStatus(&status, std::move(more_dropped));
  AppendStream(&status);
  status.emplace_back("ports", Value(Ports()));
  for (const StatusPart& part : status_parts_) {
    if (part.section.empty()) {
      part.fill(&status);
      continue;
    }
    Value::Map section;
    part.fill(&section);
    status.emplace_back(part.section, Value(std::move(section)));
  }
  return status;
}

void DaemonSockets::AppendIdentity(Value::Map* status) const {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  status->emplace_back("daemon", daemon_name_);
  status->emplace_back("host", std::string(host));
  status->emplace_back("pid", static_cast<int64_t>(getpid()));
  status->emplace_back("uptime", absl::ToDoubleSeconds(absl::Now() - started_));
  struct rlimit limit = {};
  getrlimit(RLIMIT_NOFILE, &limit);
  status->emplace_back(
      "fds",
      Value(Value::Map{{"open", OpenFileDescriptors()},
                       {"limit", static_cast<int64_t>(limit.rlim_cur)}}));
}

void DaemonSockets::AppendStream(Value::Map* status) const {
  status->emplace_back("published", published_);
  status->emplace_back("stream_dropped",
                       Value(Value::Map{{"too_large", stream_too_large_}}));
  status->emplace_back("stream_subscribers",
                       static_cast<int64_t>(subscribers_));
}

Value::Map DaemonSockets::Ports() const {
  Value::Map ports{
      {"control", EndpointPort(control_endpoint_)},
      {"collect", EndpointPort(collect_endpoint_)},
      {"stream", EndpointPort(stream_endpoint_)},
  };
  for (const auto& [name, endpoint] : ports_) {
    ports.emplace_back(name, EndpointPort(endpoint));
  }
  return ports;
}

}  // namespace ziggy
