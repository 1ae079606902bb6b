#include "collector/collector.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "client/endpoint.h"
#include "client/event.h"
#include "client/internal/bson_validate.h"
#include "client/reader.h"
#include "collector/event_writer.h"
#include "collector/relay_state.h"
#include "collector/stats.h"
#include "common/control_request.h"
#include "common/intake.h"
#include "common/relay_protocol.h"
#include "glog/logging.h"
#include "zmq.hpp"
#include "zmq_addon.hpp"

namespace ziggy {
namespace {

// Messages taken off the collect socket per poll round, at most.
constexpr int kMaxBurst = 4096;
// How long shutdown keeps draining the collect socket.
constexpr absl::Duration kDrainTime = absl::Seconds(1);
// Forwarders remembered at most (their next index each).
constexpr size_t kMaxForwarders = 100000;

double UnixSeconds(absl::Time t) {
  return absl::ToDoubleSeconds(t - absl::UnixEpoch());
}

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
        relay_(context_, zmq::socket_type::router),
        wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
        ack_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
        started_(absl::Now()),
        intake_(options_.max_event_bytes) {}

  ~Impl() {
    if (writer_ != nullptr) writer_->Finish();
    if (wake_fd_ >= 0) close(wake_fd_);
    if (ack_fd_ >= 0) close(ack_fd_);
  }

  absl::Status Bind() {
    if (wake_fd_ < 0 || ack_fd_ < 0)
      return absl::InternalError("eventfd failed");
    for (zmq::socket_t* s : {&control_, &collect_, &stream_, &relay_}) {
      s->set(zmq::sockopt::linger, 0);
    }
    control_.set(zmq::sockopt::linger, 1000);  // deliver SHUTDOWN's reply
    collect_.set(zmq::sockopt::rcvhwm, options_.receive_high_water_mark);
    // Bounds memory per message; larger ones are counted as oversized below
    // up to this size, and cut off by ZeroMQ beyond it.
    collect_.set(zmq::sockopt::maxmsgsize,
                 static_cast<int64_t>(options_.max_event_bytes) * 4 + 4096);
    relay_.set(zmq::sockopt::maxmsgsize,
               static_cast<int64_t>(kMaxRelayBatchBytes) + 4096);
    stream_.set(zmq::sockopt::sndhwm, 10000);
    stream_.set(zmq::sockopt::xpub_verbose, 1);
    struct Binding {
      zmq::socket_t* socket;
      const std::string* address;
      std::string* endpoint;
      const char* name;
    };
    std::vector<Binding> bindings = {
        {&control_, &options_.control, &control_endpoint_, "control"},
        {&collect_, &options_.collect, &collect_endpoint_, "collect"},
        {&stream_, &options_.stream, &stream_endpoint_, "stream"}};
    if (!options_.relay.empty()) {
      bindings.push_back({&relay_, &options_.relay, &relay_endpoint_, "relay"});
    }
    for (const Binding& b : bindings) {
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
    absl::StatusOr<std::unique_ptr<RelayState>> relay_state =
        RelayState::Recover(options_.store.root, &stats_);
    if (!relay_state.ok()) return relay_state.status();
    relay_state_ = *std::move(relay_state);
    next_index_ = relay_state_->next_index();
    writer_ = std::make_unique<EventWriter>(options_.store, &stats_, clock_,
                                            options_.flush_interval,
                                            relay_state_.get(), ack_fd_);
    return absl::OkStatus();
  }

  void Run() {
    pthread_setname_np(pthread_self(), "ziggyd-receive");
    const bool relay_on = !relay_endpoint_.empty();
    while (!stopping_) {
      // A full writer queue stops reading events: ZeroMQ then pushes back.
      const bool can_receive =
          writer_->queued_bytes() < options_.max_queued_bytes;
      std::vector<zmq::pollitem_t> items = {
          {control_.handle(), 0, ZMQ_POLLIN, 0},
          {stream_.handle(), 0, ZMQ_POLLIN, 0},
          {nullptr, wake_fd_, ZMQ_POLLIN, 0},
          {nullptr, ack_fd_, ZMQ_POLLIN, 0},
      };
      if (can_receive) {
        items.push_back({collect_.handle(), 0, ZMQ_POLLIN, 0});
        if (relay_on) items.push_back({relay_.handle(), 0, ZMQ_POLLIN, 0});
      }
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
      auto ready = [&](size_t i) {
        return i < items.size() && (items[i].revents & ZMQ_POLLIN);
      };
      if (ready(0)) HandleControl();
      if (ready(1)) HandleSubscriptions();
      if (ready(2)) {
        uint64_t value;
        if (read(wake_fd_, &value, sizeof value) > 0) stopping_ = true;
      }
      if (ready(3)) SendAcks();
      if (ready(4)) ReceiveBurst();
      if (ready(5)) HandleRelay();
    }
    // Write out what was received, including what ZeroMQ already queued.
    const absl::Time deadline = absl::Now() + kDrainTime;
    while (absl::Now() < deadline && ReceiveBurst() > 0) {
    }
    writer_->Finish();
    LOG(INFO) << "ziggyd stopped: " << intake_.received()
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
  const std::string& relay_endpoint() const { return relay_endpoint_; }

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
      // One event is one single-frame message; drop every frame of others.
      const bool multipart = in_multipart_ || message.more();
      in_multipart_ = message.more();
      if (multipart) {
        if (!message.more()) intake_.DropMultipart();
        continue;
      }
      AddEvent(absl::string_view(message.data<char>(), message.size()), now,
               batch.get());
    }
    if (batch->size() > 0) writer_->Submit(std::move(batch));
    return taken;
  }

  void AddEvent(absl::string_view doc, double now, EventBatch* batch) {
    EventFields fields;
    if (!intake_.Accept(doc, now, &fields)) return;
    batch->Add(doc, static_cast<size_t>(fields.type.data() - doc.data()),
               fields.type.size());
    if (subscribers_ > 0) Publish(fields.type, doc);
  }

  // One batch from a forwarder: [identity, header, payload].
  void HandleRelay() {
    std::vector<zmq::message_t> frames;
    try {
      if (!zmq::recv_multipart(relay_, std::back_inserter(frames),
                               zmq::recv_flags::dontwait)) {
        return;
      }
    } catch (const zmq::error_t& e) {
      LOG(ERROR) << "relay socket: " << e.what();
      return;
    }
    if (frames.size() < 2) return;
    const std::string identity = frames[0].to_string();
    absl::StatusOr<RelayHeader> header = ParseRelayHeader(
        absl::string_view(frames[1].data<char>(), frames[1].size()));
    if (!header.ok()) {
      ++relay_rejected_;
      LOG_EVERY_N(WARNING, 100) << "relay: " << header.status();
      return Reply(identity, RelayError(header.status().message()));
    }
    if (header->ping) return Reply(identity, RelayPong());
    auto next = next_index_.find(header->forwarder);
    if (next == next_index_.end() && next_index_.size() >= kMaxForwarders) {
      return Reply(identity, RelayError("too many forwarders"));
    }
    const int64_t known = next == next_index_.end() ? 0 : next->second;
    const int64_t expected = std::max(known, header->acked);
    ++relay_batches_;
    if (header->end <= expected) {
      // Already written (perhaps not yet durable): ack with the next
      // checkpoint, never before.
      relay_duplicates_ += header->count;
      return SubmitAck(identity, *header, UnixSeconds(clock_->Now()), nullptr);
    }
    if (header->first != expected) {
      ++relay_resends_;
      return Reply(identity, RelayResend(expected));
    }
    std::string payload;
    absl::string_view events;
    if (frames.size() >= 3) {
      events = absl::string_view(frames[2].data<char>(), frames[2].size());
    }
    if (absl::Status s = DecompressPayload(*header, &events, &payload);
        !s.ok()) {
      ++relay_rejected_;
      LOG_EVERY_N(WARNING, 100)
          << "relay batch from " << header->forwarder << ": " << s;
      return Reply(identity, RelayError(s.message()));
    }
    const absl::Time received = clock_->Now();
    std::unique_ptr<EventBatch> batch = writer_->NewBatch();
    batch->received = received;
    const double now = UnixSeconds(received);
    DocumentReader reader(events, ReaderOptions{kMaxRelayBatchBytes, false});
    absl::string_view doc;
    while (reader.Next(&doc)) AddEvent(doc, now, batch.get());
    if (!reader.status().ok()) {
      LOG_EVERY_N(WARNING, 100) << "relay batch from " << header->forwarder
                                << ": " << reader.status();
    }
    relay_events_ += reader.documents();
    next_index_[header->forwarder] = header->end;
    SubmitAck(identity, *header, now, std::move(batch));
  }

  void SubmitAck(const std::string& identity, const RelayHeader& header,
                 double now, std::unique_ptr<EventBatch> batch) {
    if (batch == nullptr) {
      batch = writer_->NewBatch();
      batch->received = clock_->Now();
    }
    batch->acks.push_back({identity, header.forwarder, header.end});
    forwarders_seen_[header.forwarder] = now;
    writer_->Submit(std::move(batch));
  }

  void SendAcks() {
    uint64_t value;
    if (read(ack_fd_, &value, sizeof value) <= 0) return;
    std::vector<RelayAck> acks;
    writer_->TakeAcks(&acks);
    for (const RelayAck& ack : acks) {
      ++relay_acked_;
      Reply(ack.identity, RelayAckReply(ack.forwarder, ack.end));
    }
  }

  void Reply(const std::string& identity, const std::string& reply) {
    try {
      relay_.send(zmq::buffer(identity),
                  zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      relay_.send(zmq::buffer(reply), zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      LOG_EVERY_N(WARNING, 100) << "relay reply: " << e.what();
    }
  }

  void Publish(absl::string_view type, absl::string_view doc) {
    try {
      if (stream_.send(zmq::buffer(type.data(), type.size()),
                       zmq::send_flags::sndmore | zmq::send_flags::dontwait) &&
          stream_.send(zmq::buffer(doc.data(), doc.size()),
                       zmq::send_flags::dontwait)) {
        ++published_;
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
    if (command == "SOCK_RELAY") return PortReply(relay_endpoint_);
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
    Value::Map status{
        {"daemon", "ziggyd"},
        {"host", std::string(host)},
        {"pid", static_cast<int64_t>(getpid())},
        {"uptime", absl::ToDoubleSeconds(absl::Now() - started_)},
        {"now", UnixSeconds(clock_->Now())},
    };
    intake_.AppendStatus(&status);
    for (auto& [key, value] : status) {
      if (key == "dropped") {
        value.MutableMap().emplace_back("write_error",
                                        c(stats_.dropped_write_error));
      }
    }
    Value::Map forwarders;
    for (const auto& [id, next] : next_index_) {
      auto seen = forwarders_seen_.find(id);
      forwarders.emplace_back(
          id,
          Value(Value::Map{
              {"next", next},
              {"last", seen == forwarders_seen_.end() ? 0.0 : seen->second}}));
    }
    const Value::Map rest{
        {"written", c(stats_.written)},
        {"written_bytes", c(stats_.written_bytes)},
        {"published", published_},
        {"queue_bytes", c(stats_.queued_bytes)},
        {"open_files", c(stats_.open_files)},
        {"write_errors", c(stats_.write_errors)},
        {"repaired_tails", c(stats_.repaired_tails)},
        {"corrupt_files", c(stats_.corrupt_files)},
        {"reopened_files", c(stats_.reopened_files)},
        {"stream_subscribers", static_cast<int64_t>(subscribers_)},
        {"relay", Value(Value::Map{
                      {"batches", relay_batches_},
                      {"events", relay_events_},
                      {"acked", relay_acked_},
                      {"duplicates_dropped", relay_duplicates_},
                      {"resend_requests", relay_resends_},
                      {"rejected", relay_rejected_},
                      {"checkpoints", c(stats_.checkpoints)},
                      {"rolled_back_bytes", c(stats_.rolled_back_bytes)},
                      {"forwarders", Value(std::move(forwarders))},
                  })},
        {"ports", Value(Value::Map{
                      {"control", EndpointPort(control_endpoint_)},
                      {"collect", EndpointPort(collect_endpoint_)},
                      {"stream", EndpointPort(stream_endpoint_)},
                      {"relay", EndpointPort(relay_endpoint_)},
                  })},
        {"log_path", options_.store.root},
        {"rotate_hours", options_.store.rotate_hours},
    };
    status.insert(status.end(), rest.begin(), rest.end());
    return Value(std::move(status));
  }

  CollectorOptions options_;
  Clock* const clock_;
  zmq::context_t context_;
  zmq::socket_t control_;
  zmq::socket_t collect_;
  zmq::socket_t stream_;
  zmq::socket_t relay_;
  const int wake_fd_;
  const int ack_fd_;
  const absl::Time started_;
  std::string control_endpoint_, collect_endpoint_, stream_endpoint_,
      relay_endpoint_;
  CollectorStats stats_;
  std::unique_ptr<RelayState> relay_state_;
  std::unique_ptr<EventWriter> writer_;

  // Run()'s thread only.
  bool stopping_ = false;
  bool in_multipart_ = false;
  int subscribers_ = 0;
  uint64_t published_ = 0;
  EventIntake intake_;
  absl::flat_hash_map<std::string, int64_t> next_index_;  // per forwarder
  absl::flat_hash_map<std::string, double> forwarders_seen_;
  uint64_t relay_batches_ = 0, relay_events_ = 0, relay_acked_ = 0,
           relay_duplicates_ = 0, relay_resends_ = 0, relay_rejected_ = 0;
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
const std::string& Collector::relay_endpoint() const {
  return impl_->relay_endpoint();
}

}  // namespace ziggy
