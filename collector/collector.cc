#include "collector/collector.h"

#include <pthread.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "collector/event_writer.h"
#include "collector/free_space.h"
#include "collector/nats_source.h"
#include "collector/plain_forward.h"
#include "collector/relay_receiver.h"
#include "collector/relay_state.h"
#include "collector/stats.h"
#include "collector/storage_lifecycle.h"
#include "common/control_request.h"
#include "common/daemon_sockets.h"
#include "common/durable_file.h"
#include "common/intake.h"
#include "common/metrics_server.h"
#include "glog/logging.h"
#include "zmq.hpp"

namespace ziggy {
namespace {

// How long shutdown keeps draining the collect socket.
constexpr absl::Duration kDrainTime = absl::Seconds(1);

}  // namespace

class Collector::Impl {
 public:
  explicit Impl(CollectorOptions options)
      : options_(std::move(options)),
        clock_(options_.test_clock != nullptr ? options_.test_clock
                                              : options_.clock),
        sockets_("ziggyd", options_.max_event_bytes, clock_),
        relay_(
            sockets_.context(), options_.max_forwarders, clock_,
            &sockets_.intake(), &stats_,
            [this](absl::string_view doc, const EventFields& fields) {
              Route(doc, fields);
            },
            options_.curve ? absl::make_optional(CurveSocketOptions::Server(
                                 options_.curve->key))
                           : absl::nullopt),
        forward_(sockets_.context()),
        free_space_({options_.store.root, options_.min_free_bytes,
                     options_.fake_free_disk_file}) {
    if (options_.nats.has_value()) {
      nats_ = std::make_unique<NatsSource>(
          *options_.nats, clock_, &sockets_.intake(), &stats_,
          [this](absl::string_view doc, const EventFields& fields) {
            Route(doc, fields);
          });
    }
  }

  ~Impl() {
    if (lifecycle_ != nullptr) lifecycle_->Stop();
    if (nats_ != nullptr) nats_->StopFetching();
    if (writer_ != nullptr) writer_->Finish();
    if (nats_ != nullptr) nats_->Stop();
  }

  absl::Status Bind() {
    if (relay_.ack_fd() < 0) return absl::InternalError("eventfd failed");
    if (absl::Status s = MakeDirectories(options_.store.root); !s.ok()) {
      return absl::UnavailableError(
          absl::StrCat("--log-path=", options_.store.root, ": ", s.message()));
    }
    if (absl::Status s = BindSockets(); !s.ok()) return s;
    absl::StatusOr<std::unique_ptr<RelayState>> relay_state =
        RelayState::Recover(options_.store.root, &stats_);
    if (!relay_state.ok()) return relay_state.status();
    relay_state_ = *std::move(relay_state);
    StoreOptions store = options_.store;
    store.open_files = &open_files_;
    EventWriter::NatsAckSink nats_acks;
    if (nats_ != nullptr) {
      if (absl::Status s = nats_->Init(); !s.ok()) return s;
      nats_acks = [this](std::vector<RelayAck> acks) {
        nats_->TakeAcks(std::move(acks));
      };
    }
    writer_ = std::make_unique<EventWriter>(
        store, &stats_, clock_, options_.flush_interval, relay_state_.get(),
        relay_.ack_fd(), &free_space_, std::move(nats_acks));
    relay_.Start(*relay_state_, writer_.get());
    StartNats();
    StartLifecycle();
    RegisterControl();
    RegisterStatus();
    return StartMetrics();
  }

  absl::Status Run() {
    pthread_setname_np(pthread_self(), "ziggyd-receive");
    const auto on_event = [this](absl::string_view doc,
                                 const EventFields& fields) {
      AddEvent(doc, fields);
    };
    while (!stopping_ && !writer_->durability_lost()) ServeOnce(on_event);
    StopMetrics();
    lifecycle_->Stop();
    if (nats_ != nullptr) nats_->StopFetching();
    if (!writer_->durability_lost()) Drain(on_event);
    SettleNatsAcks();
    writer_->Finish();
    if (nats_ != nullptr) nats_->Stop();
    LOG(INFO) << "ziggyd stopped: " << sockets_.intake().received()
              << " events received, " << stats_.written.load() << " written";
    if (writer_->durability_lost()) {
      return absl::DataLossError(
          "a failed fdatasync() left written events unsure, so no relay "
          "checkpoint can be recorded any more; restart ziggyd: it rolls its "
          "files back to the last acknowledged state and the forwarders "
          "resend the rest");
    }
    return absl::OkStatus();
  }

  void Stop() { sockets_.Wake(); }
  void ReloadCurveKeys() { sockets_.ReloadCurveKeys(); }

  const std::string& control_endpoint() const {
    return sockets_.control_endpoint();
  }
  const std::string& collect_endpoint() const {
    return sockets_.collect_endpoint();
  }
  const std::string& stream_endpoint() const {
    return sockets_.stream_endpoint();
  }
  const std::string& relay_endpoint() const { return relay_.endpoint(); }
  std::string metrics_url() const {
    return metrics_ != nullptr ? metrics_->url() : "";
  }

 private:
  absl::Status StartMetrics() {
    if (options_.metrics.empty()) return absl::OkStatus();
    absl::StatusOr<std::unique_ptr<MetricsServer>> metrics =
        MetricsServer::Start(options_.metrics, &sockets_,
                             StatusSchema::kCollector);
    if (!metrics.ok()) return metrics.status();
    metrics_ = *std::move(metrics);
    return absl::OkStatus();
  }

  // Fetches while the writer has room, as the relay port reads.
  void StartNats() {
    if (nats_ == nullptr) return;
    nats_->Start(relay_state_.get(), writer_.get(), [this] {
      return writer_->queued_bytes() < options_.max_queued_bytes &&
             free_space_.accepting();
    });
  }

  // A clean stop acks what it wrote before the last checkpoint, so that
  // checkpoint records no NATS ack as unconfirmed (a restart re-acks those).
  void SettleNatsAcks() {
    if (nats_ == nullptr || writer_->durability_lost()) return;
    if (writer_->Flush(absl::Seconds(10))) nats_->WaitAcks(absl::Seconds(2));
  }

  // Scrapes from now on get 503 at once: Run()'s thread serves no more.
  void StopMetrics() {
    sockets_.status_snapshots().Close();
    metrics_.reset();
  }

  // The daemon's ports, the relay port (unless off) and --forward.
  absl::Status BindSockets() {
    if (absl::Status s =
            sockets_.Bind({options_.control, options_.collect, options_.stream,
                           options_.queues, options_.curve});
        !s.ok()) {
      return s;
    }
    if (!options_.relay.empty()) {
      if (absl::Status s = relay_.Bind(options_.relay, sockets_.zap_handler());
          !s.ok()) {
        return s;
      }
    }
    if (!options_.forward.empty()) {
      return forward_.Connect(options_.forward, options_.max_event_bytes);
    }
    return absl::OkStatus();
  }

  // Writes out what was received, including what ZeroMQ already queued.
  void Drain(const DaemonSockets::OnEvent& on_event) {
    const absl::Time deadline = absl::Now() + kDrainTime;
    while (absl::Now() < deadline) {
      StartBatch();
      const int taken = sockets_.ReceiveBurst(on_event);
      SubmitBatch();
      writer_->FillingDone();
      if (taken == 0) break;
    }
  }

  // One poll of every socket and the writer's ack signal.
  void ServeOnce(const DaemonSockets::OnEvent& on_event) {
    // A full writer queue stops reading events: ZeroMQ then pushes back.
    // So does too little free space (--min-free-disk).
    const bool can_receive =
        writer_->queued_bytes() < options_.max_queued_bytes &&
        free_space_.accepting();
    std::vector<zmq::pollitem_t> items = sockets_.PollItems(can_receive);
    const size_t own = items.size();
    relay_.AddPollItems(can_receive, &items);
    const size_t nats_first = items.size();
    if (nats_ != nullptr) nats_->AddPollItems(&items);
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
    StartBatch();
    if (sockets_.Serve(items, on_event)) stopping_ = true;
    SubmitBatch();
    relay_.Serve(items, own);
    if (nats_ != nullptr) nats_->Serve(items, nats_first);
    writer_->FillingDone();  // relay batches are submitted as they are made
  }

  // After the relay state's recovery: what it rolled back is settled
  // before the lifecycle looks at the files.
  void StartLifecycle() {
    LifecycleOptions lifecycle;
    lifecycle.root = options_.store.root;
    lifecycle.retain_days = options_.retain_days;
    lifecycle.compress_after_days = options_.compress_after_days;
    lifecycle.clock = clock_;
    lifecycle.files = &open_files_;  // open files are skipped, others claimed
    lifecycle.in_use = [this](const std::string& path) {
      return relay_state_->Names(path);
    };
    lifecycle.unwritten_since = [this] { return writer_->UnwrittenSince(); };
    lifecycle.written_bytes = [this] {
      return CounterValue(stats_.written_bytes);
    };
    lifecycle_ = std::make_unique<StorageLifecycle>(std::move(lifecycle));
    lifecycle_->Start();
  }

  // Events from the collect port go to the writer one batch per burst, or
  // per EventBatch::kFullBytes of a larger burst.
  void StartBatch() {
    batch_ = writer_->NewBatch();  // received: the clock's Now()
  }
  void SubmitBatch() {
    if (batch_ == nullptr) return;
    if (batch_->size() > 0) writer_->Submit(std::move(batch_));
    batch_.reset();
  }

  void AddEvent(absl::string_view doc, const EventFields& fields) {
    batch_->Add(doc, static_cast<size_t>(fields.type.data() - doc.data()),
                fields.type.size());
    if (batch_->full()) {
      SubmitBatch();
      StartBatch();
    }
    Route(doc, fields);
  }

  // An accepted event, from either port, to the stream and --forward.
  void Route(absl::string_view doc, const EventFields& fields) {
    sockets_.Publish(fields.type, doc);
    if (forward_.on()) forward_.Send(doc);
  }

  // Commands beyond those DaemonSockets serves itself.
  void RegisterControl() {
    sockets_.AddPort("relay", relay_.endpoint());
    sockets_.AddCommand("FLUSH",
                        [this](const ControlRequest&) { return Flush(); });
    if (options_.test_clock != nullptr) {
      sockets_.AddCommand("ADVANCE_CLOCK", [this](const ControlRequest& r) {
        return AdvanceClock(r);
      });
    }
  }

  std::string Flush() {
    if (!writer_->Flush(absl::Seconds(10))) {
      return ErrorReply("flush timed out");
    }
    return EncodeDocument(
        Value(Value::Map{{"ok", true}, {"written", stats_.written.load()}}));
  }

  std::string AdvanceClock(const ControlRequest& request) {
    const Value* seconds = request.args.Get("seconds");
    if (seconds == nullptr || (seconds->kind() != Value::Kind::kDouble &&
                               seconds->kind() != Value::Kind::kInt)) {
      return ErrorReply("ADVANCE_CLOCK needs a number 'seconds'");
    }
    // Called inside ServeOnce(): the batch being filled has the old time.
    // Submitted now, it no longer holds the lifecycle's pass back (as
    // filling, see EventWriter::UnwrittenSince()), and what follows gets
    // the new time.
    SubmitBatch();
    writer_->FillingDone();
    options_.test_clock->Advance(absl::Seconds(seconds->AsDouble()));
    StartBatch();
    lifecycle_->Poke();
    return EncodeDocument(
        Value(Value::Map{{"ok", true}, {"now", UnixSeconds(clock_->Now())}}));
  }

  // STATUS after the common part: now, the store's counters, relay,
  // log_path, rotate_hours and, with --forward, forwarded.
  void RegisterStatus() {
    sockets_.AddDropReasons([this](Value::Map* dropped) {
      dropped->emplace_back("write_error",
                            CounterValue(stats_.dropped_write_error));
    });
    sockets_.AddStatusFields([this](Value::Map* status) {
      status->emplace_back("now", UnixSeconds(clock_->Now()));
      AppendStoreStatus(status);
    });
    sockets_.AddStatusSection(
        "relay", [this](Value::Map* relay) { relay_.FillStatus(relay); });
    if (nats_ != nullptr) {
      sockets_.AddStatusSection(
          "nats", [this](Value::Map* nats) { nats_->FillStatus(nats); });
    }
    sockets_.AddStatusSection(
        "disk", [this](Value::Map* disk) { FillDiskStatus(disk); });
    sockets_.AddStatusFields([this](Value::Map* status) {
      status->emplace_back("log_path", options_.store.root);
      status->emplace_back("rotate_hours", options_.store.rotate_hours);
      if (forward_.on()) status->emplace_back("forwarded", forward_.ToValue());
    });
  }

  void AppendStoreStatus(Value::Map* status) const {
    const Value::Map store{
        {"written", CounterValue(stats_.written)},
        {"written_bytes", CounterValue(stats_.written_bytes)},
        {"queue_bytes", CounterValue(stats_.queued_bytes)},
        {"open_files", CounterValue(stats_.open_files)},
        {"write_errors", CounterValue(stats_.write_errors)},
        {"repaired_tails", CounterValue(stats_.repaired_tails)},
        {"corrupt_files", CounterValue(stats_.corrupt_files)},
        {"reopened_files", CounterValue(stats_.reopened_files)},
        {"types_today", CounterValue(stats_.types_today)},
        {"overflowed", CounterValue(stats_.overflowed)},
    };
    status->insert(status->end(), store.begin(), store.end());
  }

  // STATUS disk: the log path's use, free space and the lifecycle's work.
  void FillDiskStatus(Value::Map* disk) const {
    const LifecycleStats& l = lifecycle_->stats();
    *disk = {
        {"log_path_bytes", static_cast<int64_t>(lifecycle_->log_path_bytes())},
        {"free_bytes", static_cast<int64_t>(free_space_.FreeBytes())},
        {"min_free_bytes", static_cast<int64_t>(free_space_.min_free_bytes())},
        {"accepting", free_space_.accepting()},
        {"low_disk_pauses", static_cast<int64_t>(free_space_.pauses())},
        {"files_compressed", CounterValue(l.files_compressed)},
        {"bytes_saved", CounterValue(l.bytes_saved)},
        {"days_removed", CounterValue(l.days_removed)},
        {"compression_errors", CounterValue(l.compression_errors)},
        {"removal_errors", CounterValue(l.removal_errors)},
        {"retain_days", options_.retain_days},
        {"compress_after_days", options_.compress_after_days},
    };
    if (const std::string day = lifecycle_->oldest_day(); !day.empty()) {
      disk->emplace_back("oldest_day", day);
    }
  }

  CollectorOptions options_;
  Clock* const clock_;
  CollectorStats stats_;
  DaemonSockets sockets_;
  RelayReceiver relay_;
  std::unique_ptr<NatsSource> nats_;  // with --source
  PlainForward forward_;
  std::unique_ptr<RelayState> relay_state_;
  std::unique_ptr<EventWriter> writer_;
  std::unique_ptr<MetricsServer> metrics_;  // with --metrics; uses sockets_
  OpenFileSet open_files_;     // the writer's files, for the lifecycle
  FreeSpaceGuard free_space_;  // --min-free-disk
  // Asks open_files_ and relay_state_: stopped before the writer finishes.
  std::unique_ptr<StorageLifecycle> lifecycle_;

  // Run()'s thread only.
  bool stopping_ = false;
  std::unique_ptr<EventBatch> batch_;  // being filled
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
absl::Status Collector::Run() { return impl_->Run(); }
void Collector::Stop() { impl_->Stop(); }
void Collector::ReloadCurveKeys() { impl_->ReloadCurveKeys(); }
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
std::string Collector::metrics_url() const { return impl_->metrics_url(); }

}  // namespace ziggy
