#include "collector/collector.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zstd.h>

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "client/net/endpoint.h"
#include "client/reader/reader.h"
#include "collector/event_writer.h"
#include "collector/forwarder_table.h"
#include "collector/plain_forward.h"
#include "collector/relay_state.h"
#include "collector/stats.h"
#include "common/control_request.h"
#include "common/daemon_sockets.h"
#include "common/durable_file.h"
#include "common/intake.h"
#include "common/relay_protocol.h"
#include "glog/logging.h"
#include "zmq.hpp"
#include "zmq_addon.hpp"

namespace ziggy {
namespace {

// How long shutdown keeps draining the collect socket.
constexpr absl::Duration kDrainTime = absl::Seconds(1);
// Forwarders listed in STATUS (the most recently heard).
constexpr size_t kForwardersListed = 100;
// Forgotten forwarder ids handed to the writer at most in one batch.
constexpr size_t kForgottenPerBatch = 256;

// Splits a relayed batch's payload into its documents (*docs), checking
// that it is exactly `count` length-prefixed, NUL-terminated documents.
absl::Status SplitBatch(absl::string_view payload, int32_t count,
                        std::vector<absl::string_view>* docs) {
  docs->clear();
  DocumentReader reader(payload, ReaderOptions{kMaxRelayBatchBytes, false});
  absl::string_view doc;
  while (reader.Next(&doc)) docs->push_back(doc);
  if (!reader.status().ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("payload framing: ", reader.status().message()));
  }
  if (docs->size() != static_cast<size_t>(count)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "payload holds ", docs->size(), " documents, header says ", count));
  }
  return absl::OkStatus();
}

}  // namespace

class Collector::Impl {
 public:
  explicit Impl(CollectorOptions options)
      : options_(std::move(options)),
        clock_(options_.test_clock != nullptr ? options_.test_clock
                                              : options_.clock),
        sockets_("ziggyd", options_.max_event_bytes, clock_),
        relay_(sockets_.context(), zmq::socket_type::router),
        forward_(sockets_.context()),
        ack_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

  ~Impl() {
    if (writer_ != nullptr) writer_->Finish();
    if (ack_fd_ >= 0) close(ack_fd_);
  }

  absl::Status Bind() {
    if (ack_fd_ < 0) return absl::InternalError("eventfd failed");
    if (absl::Status s = MakeDirectories(options_.store.root); !s.ok()) {
      return absl::UnavailableError(
          absl::StrCat("--log-path=", options_.store.root, ": ", s.message()));
    }
    if (absl::Status s = sockets_.Bind({options_.control, options_.collect,
                                        options_.stream, options_.queues});
        !s.ok()) {
      return s;
    }
    relay_.set(zmq::sockopt::linger, 0);
    relay_.set(zmq::sockopt::rcvhwm, kRelayQueueBatches);
    // A zstd payload may be a little larger than what it holds.
    relay_.set(
        zmq::sockopt::maxmsgsize,
        static_cast<int64_t>(ZSTD_compressBound(kMaxRelayBatchBytes)) + 4096);
    if (!options_.relay.empty()) {
      if (absl::Status s =
              BindSocket(relay_, options_.relay, "relay", &relay_endpoint_);
          !s.ok()) {
        return s;
      }
    }
    if (!options_.forward.empty()) {
      if (absl::Status s =
              forward_.Connect(options_.forward, options_.max_event_bytes);
          !s.ok()) {
        return s;
      }
    }
    absl::StatusOr<std::unique_ptr<RelayState>> relay_state =
        RelayState::Recover(options_.store.root, &stats_);
    if (!relay_state.ok()) return relay_state.status();
    relay_state_ = *std::move(relay_state);
    std::string forgotten;
    for (const auto& [id, mark] : relay_state_->forwarders()) {
      forwarders_.Add(id, mark.token, &forgotten).next = mark.next;
      if (!forgotten.empty()) forgotten_.push_back(forgotten);
    }
    writer_ = std::make_unique<EventWriter>(options_.store, &stats_, clock_,
                                            options_.flush_interval,
                                            relay_state_.get(), ack_fd_);
    return absl::OkStatus();
  }

  void Run() {
    pthread_setname_np(pthread_self(), "ziggyd-receive");
    const bool relay_on = !relay_endpoint_.empty();
    const auto execute = [this](const ControlRequest& r) { return Execute(r); };
    const auto on_event = [this](absl::string_view doc,
                                 const EventFields& fields) {
      AddEvent(doc, fields);
    };
    while (!stopping_) {
      // A full writer queue stops reading events: ZeroMQ then pushes back.
      const bool can_receive =
          writer_->queued_bytes() < options_.max_queued_bytes;
      std::vector<zmq::pollitem_t> items = sockets_.PollItems(can_receive);
      const size_t own = items.size();
      items.push_back({nullptr, ack_fd_, ZMQ_POLLIN, 0});
      if (can_receive && relay_on) {
        items.push_back({relay_.handle(), 0, ZMQ_POLLIN, 0});
      }
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
      StartBatch();
      if (sockets_.Serve(items, execute, on_event)) stopping_ = true;
      SubmitBatch();
      if (items[own].revents & ZMQ_POLLIN) SendAcks();
      if (items.size() > own + 1 && (items[own + 1].revents & ZMQ_POLLIN)) {
        HandleRelay();
      }
    }
    // Write out what was received, including what ZeroMQ already queued.
    const absl::Time deadline = absl::Now() + kDrainTime;
    while (absl::Now() < deadline) {
      StartBatch();
      const int taken = sockets_.ReceiveBurst(on_event);
      SubmitBatch();
      if (taken == 0) break;
    }
    writer_->Finish();
    LOG(INFO) << "ziggyd stopped: " << sockets_.intake().received()
              << " events received, " << stats_.written.load() << " written";
  }

  void Stop() { sockets_.Wake(); }

  const std::string& control_endpoint() const {
    return sockets_.control_endpoint();
  }
  const std::string& collect_endpoint() const {
    return sockets_.collect_endpoint();
  }
  const std::string& stream_endpoint() const {
    return sockets_.stream_endpoint();
  }
  const std::string& relay_endpoint() const { return relay_endpoint_; }

 private:
  // Events from the collect port go to the writer one batch per burst.
  void StartBatch() {
    batch_ = writer_->NewBatch();
    batch_->received = clock_->Now();
  }
  void SubmitBatch() {
    if (batch_->size() > 0) writer_->Submit(std::move(batch_));
    batch_.reset();
  }

  void AddEvent(absl::string_view doc, const EventFields& fields) {
    batch_->Add(doc, static_cast<size_t>(fields.type.data() - doc.data()),
                fields.type.size());
    sockets_.Publish(fields.type, doc);
    if (forward_.on()) forward_.Send(doc);
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
    if (!header.ok()) return Refuse(identity, header.status().message());
    if (header->ping && frames.size() == 2) return Reply(identity, RelayPong());
    if (header->ping || frames.size() != 3) {
      return Refuse(identity, "a batch is two frames, header and payload");
    }
    const double now = UnixSeconds(clock_->Now());
    ForwarderTable::Entry* forwarder = Admit(*header, now);
    if (forwarder == nullptr) {
      ++relay_refused_token_;
      LOG_EVERY_T(WARNING, 10)
          << "relay: refused a batch for forwarder " << header->forwarder
          << " with a token other than the one its id is bound to ("
          << relay_refused_token_ << " so far)";
      return Reply(identity,
                   RelayError(absl::StrCat("forwarder ", header->forwarder,
                                           " is bound to another token"),
                              kRefusedToken));
    }
    // A forwarder's own `acked` may move it forward: it was acknowledged
    // up to there (perhaps by another collector). Only its token's holder
    // can claim it, so a jump costs no other forwarder anything.
    const int64_t expected = std::max(forwarder->next, header->acked);
    ++relay_batches_;
    if (header->end <= expected) {
      // Already written (perhaps not yet durable): ack with the next
      // checkpoint, never before.
      relay_duplicates_ += header->count;
      return SubmitAck(identity, *header, nullptr);
    }
    if (header->first != expected) {
      ++relay_resends_;
      return Reply(identity, RelayResend(expected));
    }
    std::string payload;
    absl::string_view events(frames[2].data<char>(), frames[2].size());
    if (absl::Status s = DecompressPayload(*header, &events, &payload);
        !s.ok()) {
      return Refuse(identity, s.message());
    }
    // The payload must be exactly `count` whole documents. A batch whose
    // framing breaks is refused whole: what follows the break could never
    // be found, and acknowledging it would lose it.
    if (absl::Status s = SplitBatch(events, header->count, &relay_docs_);
        !s.ok()) {
      return Refuse(identity, s.message());
    }
    StartBatch();
    EventFields fields;
    // Each document is checked on its own: a malformed one is dropped and
    // counted, the others written.
    for (absl::string_view doc : relay_docs_) {
      if (sockets_.intake().Accept(&doc, now, &fields)) AddEvent(doc, fields);
    }
    relay_events_ += relay_docs_.size();
    if (header->acked > forwarder->next && forwarder->next > 0) {
      ++relay_jumps_;
      LOG_EVERY_T(INFO, 10)
          << "relay: forwarder " << header->forwarder << " moved on from "
          << forwarder->next << " to " << header->acked
          << " (acknowledged elsewhere meanwhile)";
    }
    forwarder->next = header->end;
    SubmitAck(identity, *header, std::move(batch_));
  }

  // The table's entry for the batch's forwarder, added (and its id bound to
  // the batch's token) if new; null when the id is bound to another token.
  ForwarderTable::Entry* Admit(const RelayHeader& header, double now) {
    ForwarderTable::Entry* forwarder = forwarders_.Find(header.forwarder);
    if (forwarder != nullptr && forwarder->token != header.token) {
      // Recovered from a checkpoint older than tokens: bound now.
      if (!forwarder->token.empty()) return nullptr;
      forwarder->token = header.token;
    }
    if (forwarder == nullptr) {
      std::string forgotten;
      forwarder = &forwarders_.Add(header.forwarder, header.token, &forgotten);
      if (!forgotten.empty()) {
        LOG_EVERY_T(WARNING, 10)
            << "relay: more than " << options_.max_forwarders
            << " forwarders; forgot the one heard from least recently ("
            << forgotten << "; " << forwarders_.forgotten() << " so far)";
        forgotten_.push_back(std::move(forgotten));
        // Usually they go with the next acknowledgement; a flood of
        // batches that are never acknowledged must not pile them up.
        if (forgotten_.size() >= kForgottenPerBatch) {
          std::unique_ptr<EventBatch> batch = writer_->NewBatch();
          batch->received = clock_->Now();
          batch->forgotten.swap(forgotten_);
          writer_->Submit(std::move(batch));
        }
      }
    }
    forwarders_.Touch(*forwarder, now);
    return forwarder;
  }

  // A batch that is not one: counted, logged at a bounded rate, answered.
  void Refuse(const std::string& identity, absl::string_view why) {
    ++relay_rejected_;
    LOG_EVERY_T(WARNING, 10) << "relay: refused a batch: " << why << " ("
                             << relay_rejected_ << " so far)";
    Reply(identity, RelayError(why));
  }

  void SubmitAck(const std::string& identity, const RelayHeader& header,
                 std::unique_ptr<EventBatch> batch) {
    if (batch == nullptr) {
      batch = writer_->NewBatch();
      batch->received = clock_->Now();
    }
    batch->acks.push_back(
        {identity, header.forwarder, header.end, header.token});
    batch->forgotten.swap(forgotten_);
    forgotten_.clear();
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

  std::string Execute(const ControlRequest& request) {
    const std::string& command = request.command;
    if (command == "STATUS") return EncodeDocument(Status());
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

  Value Status() const {
    auto c = [](const CollectorStats::Counter& counter) {
      return Value(counter.load(std::memory_order_relaxed));
    };
    Value::Map status = sockets_.Status();
    status.emplace_back("now", UnixSeconds(clock_->Now()));
    for (auto& [key, value] : status) {
      if (key == "ports") {
        value.MutableMap().emplace_back("relay", EndpointPort(relay_endpoint_));
      }
      if (key == "dropped") {
        value.MutableMap().emplace_back("write_error",
                                        c(stats_.dropped_write_error));
      }
    }
    Value::Map forwarders;  // the most recent: STATUS stays small
    forwarders_.ForEachRecent(
        kForwardersListed, [&](const ForwarderTable::Entry& f) {
          forwarders.emplace_back(
              f.id, Value(Value::Map{{"next", f.next}, {"last", f.last}}));
        });
    const Value::Map rest{
        {"written", c(stats_.written)},
        {"written_bytes", c(stats_.written_bytes)},
        {"queue_bytes", c(stats_.queued_bytes)},
        {"open_files", c(stats_.open_files)},
        {"write_errors", c(stats_.write_errors)},
        {"repaired_tails", c(stats_.repaired_tails)},
        {"corrupt_files", c(stats_.corrupt_files)},
        {"reopened_files", c(stats_.reopened_files)},
        {"types_today", c(stats_.types_today)},
        {"overflowed", c(stats_.overflowed)},
        {"relay",
         Value(Value::Map{
             {"batches", relay_batches_},
             {"events", relay_events_},
             {"acked", relay_acked_},
             {"duplicates_dropped", relay_duplicates_},
             {"resend_requests", relay_resends_},
             {"rejected", relay_rejected_},
             {"refused_token", relay_refused_token_},
             {"jumps", relay_jumps_},
             {"forwarders_known", static_cast<int64_t>(forwarders_.size())},
             {"forgotten", forwarders_.forgotten()},
             {"checkpoints", c(stats_.checkpoints)},
             {"checkpoint_written", c(stats_.checkpoint_written)},
             {"rolled_back_bytes", c(stats_.rolled_back_bytes)},
             {"forwarders", Value(std::move(forwarders))},
         })},
        {"log_path", options_.store.root},
        {"rotate_hours", options_.store.rotate_hours},
    };
    status.insert(status.end(), rest.begin(), rest.end());
    if (forward_.on()) status.emplace_back("forwarded", forward_.ToValue());
    return Value(std::move(status));
  }

  CollectorOptions options_;
  Clock* const clock_;
  DaemonSockets sockets_;
  zmq::socket_t relay_;
  PlainForward forward_;
  const int ack_fd_;
  std::string relay_endpoint_;
  CollectorStats stats_;
  std::unique_ptr<RelayState> relay_state_;
  std::unique_ptr<EventWriter> writer_;

  // Run()'s thread only.
  bool stopping_ = false;
  std::unique_ptr<EventBatch> batch_;          // being filled
  std::vector<absl::string_view> relay_docs_;  // of the batch in hand
  ForwarderTable forwarders_{options_.max_forwarders};
  std::vector<std::string> forgotten_;  // for the writer's next batch
  uint64_t relay_batches_ = 0, relay_events_ = 0, relay_acked_ = 0,
           relay_duplicates_ = 0, relay_resends_ = 0, relay_rejected_ = 0,
           relay_refused_token_ = 0, relay_jumps_ = 0;
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
