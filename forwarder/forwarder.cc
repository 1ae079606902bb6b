#include "forwarder/forwarder.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/endpoint.h"
#include "client/event.h"
#include "common/control_request.h"
#include "common/intake.h"
#include "glog/logging.h"
#include "zmq.hpp"

namespace ziggy {
namespace {

constexpr int kMaxBurst = 4096;

double UnixSeconds(absl::Time t) {
  return absl::ToDoubleSeconds(t - absl::UnixEpoch());
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseUpstreams(
    absl::string_view list) {
  std::vector<std::string> upstreams;
  for (absl::string_view item :
       absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    absl::StatusOr<std::string> endpoint = TcpEndpoint(item);
    if (!endpoint.ok()) return endpoint.status();
    if (EndpointPort(*endpoint) <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("upstream '", item, "' needs a port"));
    }
    upstreams.emplace_back(item);
  }
  if (upstreams.empty()) {
    return absl::InvalidArgumentError("give at least one upstream host:port");
  }
  return upstreams;
}

class Forwarder::Impl {
 public:
  explicit Impl(ForwarderOptions options)
      : options_(std::move(options)),
        context_(1),
        control_(context_, zmq::socket_type::rep),
        collect_(context_, zmq::socket_type::pull),
        stream_(context_, zmq::socket_type::xpub),
        wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
        started_(absl::Now()),
        intake_(options_.max_event_bytes) {}

  ~Impl() {
    if (relay_ != nullptr) relay_->Stop();
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  absl::Status Bind() {
    absl::StatusOr<std::unique_ptr<Spool>> spool = Spool::Open(options_.spool);
    if (!spool.ok()) return spool.status();
    spool_ = *std::move(spool);
    for (zmq::socket_t* s : {&control_, &collect_, &stream_}) {
      s->set(zmq::sockopt::linger, 0);
    }
    control_.set(zmq::sockopt::linger, 1000);
    collect_.set(zmq::sockopt::maxmsgsize,
                 static_cast<int64_t>(options_.max_event_bytes) * 4 + 4096);
    stream_.set(zmq::sockopt::xpub_verbose, 1);
    struct Binding {
      zmq::socket_t* socket;
      const std::string* address;
      std::string* endpoint;
      const char* name;
    };
    for (const Binding& b :
         {Binding{&control_, &options_.control, &control_endpoint_, "control"},
          Binding{&collect_, &options_.collect, &collect_endpoint_, "collect"},
          Binding{&stream_, &options_.stream, &stream_endpoint_, "stream"}}) {
      absl::StatusOr<std::string> endpoint = TcpEndpoint(*b.address);
      if (!endpoint.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", b.name, ": ", endpoint.status().message()));
      }
      try {
        b.socket->bind(*endpoint);
      } catch (const zmq::error_t& e) {
        return absl::UnavailableError(absl::StrCat(
            "cannot bind --", b.name, "=", *b.address, ": ", e.what()));
      }
      *b.endpoint = b.socket->get(zmq::sockopt::last_endpoint);
    }
    relay_ = std::make_unique<RelayClient>(spool_.get(), options_.relay);
    relay_->Start();
    return absl::OkStatus();
  }

  void Run() {
    pthread_setname_np(pthread_self(), "forwarder-recv");
    absl::Time next_sync = absl::Now() + options_.spool_sync_interval;
    bool dirty = false;
    while (!stopping_) {
      zmq::pollitem_t items[] = {
          {control_.handle(), 0, ZMQ_POLLIN, 0},
          {stream_.handle(), 0, ZMQ_POLLIN, 0},
          {nullptr, wake_fd_, ZMQ_POLLIN, 0},
          {collect_.handle(), 0, ZMQ_POLLIN, 0},
      };
      zmq::poll(items, 4, std::chrono::milliseconds(20));
      if (items[0].revents & ZMQ_POLLIN) HandleControl();
      if (items[1].revents & ZMQ_POLLIN) HandleSubscriptions();
      if (items[2].revents & ZMQ_POLLIN) {
        uint64_t value;
        if (read(wake_fd_, &value, sizeof value) > 0) stopping_ = true;
      }
      if (items[3].revents & ZMQ_POLLIN) dirty |= ReceiveBurst() > 0;
      if (dirty && absl::Now() >= next_sync) {
        SyncSpool();
        dirty = false;
        next_sync = absl::Now() + options_.spool_sync_interval;
      }
    }
    while (ReceiveBurst() > 0) {
    }
    SyncSpool();
    relay_->Stop();
    LOG(INFO) << "ziggy-forwarder stopped: " << intake_.received()
              << " events accepted, spool acknowledged to " << spool_->acked()
              << " of " << spool_->end_index();
  }

  void Stop() {
    const uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof one);
    (void)ignored;
  }

  const std::string& control_endpoint() const { return control_endpoint_; }
  const std::string& collect_endpoint() const { return collect_endpoint_; }
  const std::string& stream_endpoint() const { return stream_endpoint_; }

 private:
  void SyncSpool() {
    if (absl::Status s = spool_->Sync(); !s.ok()) {
      LOG_EVERY_N(ERROR, 100) << s;
    }
  }

  int ReceiveBurst() {
    const double now = UnixSeconds(absl::Now());
    int taken = 0;
    zmq::message_t message;
    for (; taken < kMaxBurst; ++taken) {
      if (!collect_.recv(message, zmq::recv_flags::dontwait)) break;
      const bool multipart = in_multipart_ || message.more();
      in_multipart_ = message.more();
      if (multipart) {
        if (!message.more()) intake_.DropMultipart();
        continue;
      }
      const absl::string_view doc(message.data<char>(), message.size());
      EventFields fields;
      // Checked before spooling: the spool holds only good events.
      if (!intake_.Accept(doc, now, &fields)) continue;
      if (absl::Status s = spool_->Append(doc); !s.ok()) {
        ++refused_;
        LOG_EVERY_N(ERROR, 1000) << s;
        continue;
      }
      if (subscribers_ > 0) Publish(fields.type, doc);
    }
    return taken;
  }

  void Publish(absl::string_view type, absl::string_view doc) {
    try {
      stream_.send(zmq::buffer(type.data(), type.size()),
                   zmq::send_flags::sndmore | zmq::send_flags::dontwait) &&
          stream_.send(zmq::buffer(doc.data(), doc.size()),
                       zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
    }
  }

  void HandleSubscriptions() {
    zmq::message_t message;
    while (stream_.recv(message, zmq::recv_flags::dontwait)) {
      if (message.size() == 0) continue;
      if (message.data<char>()[0] == 1) ++subscribers_;
      if (message.data<char>()[0] == 0 && subscribers_ > 0) --subscribers_;
    }
  }

  void HandleControl() {
    zmq::message_t request;
    if (!control_.recv(request, zmq::recv_flags::dontwait)) return;
    while (request.more()) {
      if (!control_.recv(request, zmq::recv_flags::dontwait)) break;
    }
    absl::StatusOr<ControlRequest> parsed = ParseControlRequest(
        absl::string_view(request.data<char>(), request.size()));
    const std::string reply =
        parsed.ok() ? Execute(*parsed) : ErrorReply(parsed.status().message());
    control_.send(zmq::buffer(reply), zmq::send_flags::dontwait);
  }

  std::string Execute(const ControlRequest& request) {
    const std::string& command = request.command;
    auto port = [](const std::string& endpoint) {
      return EncodeDocument(
          Value(Value::Map{{"port", EndpointPort(endpoint)}}));
    };
    if (command == "STATUS") return EncodeDocument(Status());
    if (command == "SOCK_STREAM") return port(stream_endpoint_);
    if (command == "SOCK_COLLECT") return port(collect_endpoint_);
    if (command == "SOCK_CONTROL") return port(control_endpoint_);
    if (command == "FLUSH") {
      SyncSpool();
      return EncodeDocument(Value(Value::Map{{"ok", true}}));
    }
    if (command == "UPSTREAM") {
      return EncodeDocument(Value(
          Value::Map{{"upstreams", absl::StrJoin(relay_->upstreams(), ",")}}));
    }
    if (command == "UPSTREAM_SET") {
      const Value* list = request.args.Get("upstreams");
      if (list == nullptr || list->kind() != Value::Kind::kString) {
        return ErrorReply("UPSTREAM_SET needs 'upstreams': \"host:port,...\"");
      }
      absl::StatusOr<std::vector<std::string>> upstreams =
          ParseUpstreams(list->AsString());
      if (!upstreams.ok()) return ErrorReply(upstreams.status().message());
      relay_->SetUpstreams(*upstreams);
      LOG(INFO) << "upstreams set to " << list->AsString()
                << " over the control port";
      return EncodeDocument(Value(Value::Map{{"ok", true}}));
    }
    if (command == "SHUTDOWN") {
      stopping_ = true;
      return EncodeDocument(Value(Value::Map{{"ok", true}}));
    }
    return ErrorReply(absl::StrCat("unknown command '", command, "'"));
  }

  Value Status() const {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    Value::Map status{
        {"daemon", "ziggy-forwarder"},
        {"host", std::string(host)},
        {"pid", static_cast<int64_t>(getpid())},
        {"uptime", absl::ToDoubleSeconds(absl::Now() - started_)},
    };
    intake_.AppendStatus(&status);
    for (auto& [key, value] : status) {
      if (key == "dropped")
        value.MutableMap().emplace_back("spool_full", refused_);
    }
    const Value::Map rest{
        {"spool", Value(Value::Map{
                      {"id", spool_->id()},
                      {"spooled", spool_->end_index()},
                      {"acked", spool_->acked()},
                      {"pending", spool_->end_index() - spool_->acked()},
                      {"bytes", spool_->bytes()},
                      {"max_bytes", options_.spool.max_bytes},
                      {"segments", spool_->segments()},
                      {"refused_full", spool_->refused_full()},
                      {"damaged_records", spool_->damaged_records()},
                      {"damaged_bytes", spool_->damaged_bytes()},
                      {"repaired_tail_bytes", spool_->repaired_tail_bytes()},
                      {"path", options_.spool.dir},
                  })},
        {"relay", relay_->Status()},
        {"stream_subscribers", static_cast<int64_t>(subscribers_)},
        {"ports", Value(Value::Map{
                      {"control", EndpointPort(control_endpoint_)},
                      {"collect", EndpointPort(collect_endpoint_)},
                      {"stream", EndpointPort(stream_endpoint_)},
                  })},
    };
    status.insert(status.end(), rest.begin(), rest.end());
    return Value(std::move(status));
  }

  ForwarderOptions options_;
  zmq::context_t context_;
  zmq::socket_t control_;
  zmq::socket_t collect_;
  zmq::socket_t stream_;
  const int wake_fd_;
  const absl::Time started_;
  std::string control_endpoint_, collect_endpoint_, stream_endpoint_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<RelayClient> relay_;
  bool stopping_ = false;
  bool in_multipart_ = false;
  int subscribers_ = 0;
  uint64_t refused_ = 0;
  EventIntake intake_;
};

absl::StatusOr<std::unique_ptr<Forwarder>> Forwarder::Bind(
    ForwarderOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  if (absl::Status s = impl->Bind(); !s.ok()) return s;
  return std::unique_ptr<Forwarder>(new Forwarder(std::move(impl)));
}

Forwarder::Forwarder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Forwarder::~Forwarder() = default;
void Forwarder::Run() { impl_->Run(); }
void Forwarder::Stop() { impl_->Stop(); }
const std::string& Forwarder::control_endpoint() const {
  return impl_->control_endpoint();
}
const std::string& Forwarder::collect_endpoint() const {
  return impl_->collect_endpoint();
}
const std::string& Forwarder::stream_endpoint() const {
  return impl_->stream_endpoint();
}

}  // namespace ziggy
