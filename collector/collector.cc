#include "collector/collector.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/str_cat.h"
#include "client/endpoint.h"
#include "client/event.h"
#include "client/internal/bson_validate.h"
#include "collector/event_writer.h"
#include "collector/stats.h"
#include "common/control_request.h"
#include "glog/logging.h"
#include "zmq.hpp"

namespace ziggy {
namespace {

// Messages taken off the collect socket per poll round, at most.
constexpr int kMaxBurst = 4096;
// Entries kept in each of the STATUS maps (types, hosts); more are counted
// but not listed, so hostile senders cannot grow memory without bound.
constexpr size_t kMaxTracked = 10000;
// How long shutdown keeps draining the collect socket.
constexpr absl::Duration kDrainTime = absl::Seconds(1);

double UnixSeconds(absl::Time t) {
  return absl::ToDoubleSeconds(t - absl::UnixEpoch());
}

struct Seen {
  double last = 0;
  uint64_t count = 0;
};

// Per type or host: when last seen and how often, bounded.
class SeenMap {
 public:
  void Note(absl::string_view key, double now) {
    // Consecutive events mostly share their type and host: skip the hash.
    if (last_ == nullptr || last_key_ != key) {
      auto it = map_.find(key);
      if (it == map_.end()) {
        if (map_.size() >= kMaxTracked) {
          ++untracked_;
          return;
        }
        it = map_.try_emplace(key).first;
      }
      last_key_ = it->first;  // node_hash_map: stable while the entry lives
      last_ = &it->second;
    }
    last_->last = now;
    ++last_->count;
  }
  Value ToValue() const {
    Value::Map map;
    for (const auto& [key, seen] : map_) {
      map.emplace_back(
          key, Value(Value::Map{{"last", seen.last}, {"count", seen.count}}));
    }
    return Value(std::move(map));
  }
  uint64_t untracked() const { return untracked_; }

 private:
  absl::node_hash_map<std::string, Seen> map_;
  uint64_t untracked_ = 0;
  absl::string_view last_key_;
  Seen* last_ = nullptr;
};

// Logs one line per drop reason at most every 10 s, with the count since.
class DropLog {
 public:
  void Note(absl::string_view reason, absl::string_view detail) {
    Entry& e = entries_[reason];
    ++e.suppressed;
    const absl::Time now = absl::Now();
    if (now - e.last < absl::Seconds(10)) return;
    LOG(WARNING) << "dropped " << e.suppressed << " event(s): " << reason
                 << " (latest: " << detail << ")";
    e.last = now;
    e.suppressed = 0;
  }

 private:
  struct Entry {
    absl::Time last = absl::InfinitePast();
    uint64_t suppressed = 0;
  };
  absl::flat_hash_map<std::string, Entry> entries_;
};

}  // namespace

class Collector::Impl {
 public:
  explicit Impl(CollectorOptions options)
      : options_(std::move(options)),
        clock_(options_.test_clock != nullptr ? options_.test_clock
                                              : options_.clock),
        context_(1),
        control_(context_, zmq::socket_type::rep),
        collect_(context_, zmq::socket_type::pull),
        stream_(context_, zmq::socket_type::xpub),
        wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
        started_(absl::Now()) {}

  ~Impl() {
    if (writer_ != nullptr) writer_->Finish();
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  absl::Status Bind() {
    if (wake_fd_ < 0) return absl::InternalError("eventfd failed");
    for (zmq::socket_t* s : {&control_, &collect_, &stream_}) {
      s->set(zmq::sockopt::linger, 0);
    }
    control_.set(zmq::sockopt::linger, 1000);  // deliver SHUTDOWN's reply
    collect_.set(zmq::sockopt::rcvhwm, options_.receive_high_water_mark);
    // Bounds memory per message; larger ones are counted as oversized below
    // up to this size, and cut off by ZeroMQ beyond it.
    collect_.set(zmq::sockopt::maxmsgsize,
                 static_cast<int64_t>(options_.max_event_bytes) * 4 + 4096);
    stream_.set(zmq::sockopt::sndhwm, 10000);
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
      // IPv6 only when asked for: otherwise endpoints read [::ffff:a.b.c.d].
      const bool ipv6 = b.address->find(':') != b.address->rfind(':') ||
                        b.address->front() == '[';
      b.socket->set(zmq::sockopt::ipv6, ipv6 ? 1 : 0);
      try {
        b.socket->bind(*endpoint);
      } catch (const zmq::error_t& e) {
        return absl::UnavailableError(absl::StrCat(
            "cannot bind --", b.name, "=", *b.address, ": ", e.what()));
      }
      *b.endpoint = b.socket->get(zmq::sockopt::last_endpoint);
    }
    writer_ = std::make_unique<EventWriter>(options_.store, &stats_, clock_,
                                            options_.flush_interval);
    return absl::OkStatus();
  }

  void Run() {
    pthread_setname_np(pthread_self(), "ziggyd-receive");
    zmq::pollitem_t items[] = {
        {control_.handle(), 0, ZMQ_POLLIN, 0},
        {stream_.handle(), 0, ZMQ_POLLIN, 0},
        {nullptr, wake_fd_, ZMQ_POLLIN, 0},
        {collect_.handle(), 0, ZMQ_POLLIN, 0},
    };
    while (!stopping_) {
      // A full writer queue stops reading: ZeroMQ then pushes back.
      const bool can_receive =
          writer_->queued_bytes() < options_.max_queued_bytes;
      zmq::poll(items, can_receive ? 4 : 3, std::chrono::milliseconds(100));
      if (items[0].revents & ZMQ_POLLIN) HandleControl();
      if (items[1].revents & ZMQ_POLLIN) HandleSubscriptions();
      if (items[2].revents & ZMQ_POLLIN) {
        uint64_t value;
        if (read(wake_fd_, &value, sizeof value) > 0) stopping_ = true;
      }
      if (can_receive && (items[3].revents & ZMQ_POLLIN)) ReceiveBurst();
    }
    // Write out what was received, including what ZeroMQ already queued.
    const absl::Time deadline = absl::Now() + kDrainTime;
    while (absl::Now() < deadline && ReceiveBurst() > 0) {
    }
    writer_->Finish();
    LOG(INFO) << "ziggyd stopped: " << stats_.received.load()
              << " events received, " << stats_.written.load() << " written";
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
  // Receives what is waiting (up to kMaxBurst messages), hands it to the
  // writer as one batch, and returns how many messages it took.
  int ReceiveBurst() {
    std::unique_ptr<EventBatch> batch = writer_->NewBatch();
    batch->received = clock_->Now();
    const double now = UnixSeconds(batch->received);
    int taken = 0;
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
      HandleEvent(message, now, batch.get());
    }
    // Counted once per burst: a shared atomic per event costs more.
    stats_.received.fetch_add(burst_received_, std::memory_order_relaxed);
    stats_.received_bytes.fetch_add(burst_received_bytes_,
                                    std::memory_order_relaxed);
    burst_received_ = burst_received_bytes_ = 0;
    if (batch->size() > 0) writer_->Submit(std::move(batch));
    return taken;
  }

  void HandleEvent(const zmq::message_t& message, double now,
                   EventBatch* batch) {
    // One event is one single-frame message; drop every frame of others.
    const bool multipart = in_multipart_ || message.more();
    in_multipart_ = message.more();
    if (multipart) {
      if (!message.more()) {
        stats_.dropped_multipart.fetch_add(1);
        drops_.Note("multipart message", "one event per message");
      }
      return;
    }
    const absl::string_view doc(message.data<char>(), message.size());
    if (doc.size() > options_.max_event_bytes) {
      stats_.dropped_oversized.fetch_add(1);
      drops_.Note(
          "oversized",
          absl::StrCat(doc.size(), " > ", options_.max_event_bytes, " bytes"));
      return;
    }
    absl::string_view type, host;
    bool type_is_string = false, has_type = false;
    double end = 0;
    std::string why;
    const bool valid = internal::ValidateDocument(
        doc, kMaxDepth, &why,
        [&](absl::string_view key, uint8_t bson_type, absl::string_view value) {
          if (key == "type") {
            has_type = true;
            type_is_string = bson_type == 0x02;
            type = value;
          } else if (key == "host" && bson_type == 0x02) {
            host = value;
          } else if (key == "end" && bson_type == 0x01) {
            memcpy(&end, value.data(), sizeof end);
          }
        });
    if (!valid) {
      stats_.dropped_malformed.fetch_add(1);
      drops_.Note("malformed BSON", why);
      return;
    }
    if (!has_type || !type_is_string || type.empty()) {
      stats_.dropped_no_type.fetch_add(1);
      drops_.Note("no string type", !has_type        ? "missing"
                                    : type_is_string ? "empty"
                                                     : "not a string");
      return;
    }
    ++burst_received_;
    burst_received_bytes_ += doc.size();
    last_ = now;
    lag_ = end > 0 ? now - end : 0;
    types_.Note(type, now);
    hosts_.Note(host, now);
    batch->Add(doc, static_cast<size_t>(type.data() - doc.data()), type.size());
    if (subscribers_ > 0) Publish(type, doc);
  }

  void Publish(absl::string_view type, absl::string_view doc) {
    try {
      if (stream_.send(zmq::buffer(type.data(), type.size()),
                       zmq::send_flags::sndmore | zmq::send_flags::dontwait) &&
          stream_.send(zmq::buffer(doc.data(), doc.size()),
                       zmq::send_flags::dontwait)) {
        stats_.published.fetch_add(1, std::memory_order_relaxed);
      }
    } catch (const zmq::error_t& e) {
      LOG_EVERY_N(WARNING, 1000) << "stream: " << e.what();
    }
  }

  // XPUB delivers (un)subscriptions as messages: 1 or 0, then the prefix.
  void HandleSubscriptions() {
    zmq::message_t message;
    while (stream_.recv(message, zmq::recv_flags::dontwait)) {
      if (message.size() == 0) continue;
      const char kind = message.data<char>()[0];
      if (kind == 1) ++subscribers_;
      if (kind == 0 && subscribers_ > 0) --subscribers_;
    }
  }

  void HandleControl() {
    zmq::message_t request;
    if (!control_.recv(request, zmq::recv_flags::dontwait)) return;
    // A REP socket must answer every request, and exactly once.
    while (request.more()) {
      if (!control_.recv(request, zmq::recv_flags::dontwait)) break;
    }
    absl::StatusOr<ControlRequest> parsed = ParseControlRequest(
        absl::string_view(request.data<char>(), request.size()));
    std::string reply =
        parsed.ok() ? Execute(*parsed) : ErrorReply(parsed.status().message());
    control_.send(zmq::buffer(reply), zmq::send_flags::dontwait);
  }

  std::string Execute(const ControlRequest& request) {
    const std::string& command = request.command;
    if (command == "STATUS") return EncodeDocument(Status());
    if (command == "SOCK_STREAM") return PortReply(stream_endpoint_);
    if (command == "SOCK_COLLECT") return PortReply(collect_endpoint_);
    if (command == "SOCK_CONTROL") return PortReply(control_endpoint_);
    if (command == "SHUTDOWN") {
      LOG(INFO) << "SHUTDOWN requested over the control port";
      stopping_ = true;
      return EncodeDocument(Value(Value::Map{{"ok", true}}));
    }
    if (command == "FLUSH") {
      const bool flushed = writer_->Flush(absl::Seconds(10));
      if (!flushed) return ErrorReply("flush timed out");
      return EncodeDocument(
          Value(Value::Map{{"ok", true}, {"written", stats_.written.load()}}));
    }
    if (command == "ADVANCE_CLOCK" && options_.test_clock != nullptr) {
      const Value* seconds = request.args.Get("seconds");
      if (seconds == nullptr || (seconds->kind() != Value::Kind::kDouble &&
                                 seconds->kind() != Value::Kind::kInt)) {
        return ErrorReply("ADVANCE_CLOCK needs a number 'seconds'");
      }
      options_.test_clock->Advance(absl::Seconds(seconds->AsDouble()));
      return EncodeDocument(
          Value(Value::Map{{"ok", true}, {"now", UnixSeconds(clock_->Now())}}));
    }
    return ErrorReply(absl::StrCat("unknown command '", command, "'"));
  }

  static std::string PortReply(const std::string& endpoint) {
    return EncodeDocument(Value(Value::Map{{"port", EndpointPort(endpoint)}}));
  }

  Value Status() const {
    auto c = [](const CollectorStats::Counter& counter) {
      return Value(counter.load(std::memory_order_relaxed));
    };
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    return Value(Value::Map{
        {"daemon", "ziggyd"},
        {"host", std::string(host)},
        {"pid", static_cast<int64_t>(getpid())},
        {"uptime", absl::ToDoubleSeconds(absl::Now() - started_)},
        {"now", UnixSeconds(clock_->Now())},
        {"last", last_},
        {"lag", lag_},
        {"events", types_.ToValue()},
        {"hosts", hosts_.ToValue()},
        {"untracked", Value(Value::Map{{"types", types_.untracked()},
                                       {"hosts", hosts_.untracked()}})},
        {"received", c(stats_.received)},
        {"received_bytes", c(stats_.received_bytes)},
        {"written", c(stats_.written)},
        {"written_bytes", c(stats_.written_bytes)},
        {"published", c(stats_.published)},
        {"dropped", Value(Value::Map{
                        {"malformed", c(stats_.dropped_malformed)},
                        {"no_type", c(stats_.dropped_no_type)},
                        {"oversized", c(stats_.dropped_oversized)},
                        {"multipart", c(stats_.dropped_multipart)},
                        {"write_error", c(stats_.dropped_write_error)},
                    })},
        {"queue_bytes", c(stats_.queued_bytes)},
        {"open_files", c(stats_.open_files)},
        {"write_errors", c(stats_.write_errors)},
        {"repaired_tails", c(stats_.repaired_tails)},
        {"corrupt_files", c(stats_.corrupt_files)},
        {"reopened_files", c(stats_.reopened_files)},
        {"stream_subscribers", static_cast<int64_t>(subscribers_)},
        {"ports", Value(Value::Map{
                      {"control", EndpointPort(control_endpoint_)},
                      {"collect", EndpointPort(collect_endpoint_)},
                      {"stream", EndpointPort(stream_endpoint_)},
                  })},
        {"log_path", options_.store.root},
        {"rotate_hours", options_.store.rotate_hours},
    });
  }

  CollectorOptions options_;
  Clock* const clock_;
  zmq::context_t context_;
  zmq::socket_t control_;
  zmq::socket_t collect_;
  zmq::socket_t stream_;
  const int wake_fd_;
  const absl::Time started_;
  std::string control_endpoint_, collect_endpoint_, stream_endpoint_;
  std::unique_ptr<EventWriter> writer_;
  CollectorStats stats_;

  // Run()'s thread only.
  bool stopping_ = false;
  bool in_multipart_ = false;
  uint64_t burst_received_ = 0;
  uint64_t burst_received_bytes_ = 0;
  int subscribers_ = 0;
  double last_ = 0;
  double lag_ = 0;
  SeenMap types_;
  SeenMap hosts_;
  DropLog drops_;
};

absl::StatusOr<std::unique_ptr<Collector>> Collector::Bind(
    CollectorOptions options) {
  if (options.store.rotate_hours < 1 || options.store.rotate_hours > 24) {
    return absl::InvalidArgumentError(
        absl::StrCat("--rotate-hours=", options.store.rotate_hours,
                     ": must be from 1 to 24"));
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  if (absl::Status s = impl->Bind(); !s.ok()) return s;
  return std::unique_ptr<Collector>(new Collector(std::move(impl)));
}

Collector::Collector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Collector::~Collector() = default;
void Collector::Run() { impl_->Run(); }
void Collector::Stop() { impl_->Stop(); }
const std::string& Collector::control_endpoint() const {
  return impl_->control_endpoint();
}
const std::string& Collector::collect_endpoint() const {
  return impl_->collect_endpoint();
}
const std::string& Collector::stream_endpoint() const {
  return impl_->stream_endpoint();
}

}  // namespace ziggy
