#include "forwarder/forwarder.h"

#include <pthread.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/format/event.h"
#include "client/net/endpoint.h"
#include "common/control_request.h"
#include "common/daemon_sockets.h"
#include "common/intake.h"
#include "common/metrics_server.h"
#include "common/nats_stream.h"
#include "forwarder/tier_receiver.h"
#include "glog/logging.h"
#include "zmq.hpp"

namespace ziggy {

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

absl::StatusOr<std::vector<std::string>> ParseUpstreamsOfKind(
    absl::string_view list, bool nats) {
  absl::StatusOr<bool> is_nats = IsNatsList(list);
  if (!is_nats.ok()) return is_nats.status();
  if (*is_nats != nats) {
    return absl::InvalidArgumentError(
        nats ? "this forwarder publishes to NATS: give nats://host:port "
               "servers (restart it with another --upstream to relay to "
               "collectors)"
             : "this forwarder relays to collectors: give host:port relay "
               "ports (restart it with --upstream=nats://... for NATS)");
  }
  return nats ? ParseNatsServers(list) : ParseUpstreams(list);
}

class Forwarder::Impl {
 public:
  explicit Impl(ForwarderOptions options)
      : options_(std::move(options)),
        sockets_("ziggy-forwarder", options_.max_event_bytes) {}

  ~Impl() {
    if (relay_ != nullptr) relay_->Stop();
  }

  absl::Status Bind() {
    options_.spool.downstream = !options_.relay_port.empty();
    options_.spool.max_downstream = options_.max_forwarders;
    absl::StatusOr<std::unique_ptr<Spool>> spool = Spool::Open(options_.spool);
    if (!spool.ok()) return spool.status();
    spool_ = *std::move(spool);
    if (absl::Status s =
            sockets_.Bind({options_.control, options_.collect, options_.stream,
                           options_.queues, options_.curve});
        !s.ok()) {
      return s;
    }
    if (absl::Status s = BindTier(); !s.ok()) return s;
    if (options_.nats.has_value()) {
      relay_ = std::make_unique<NatsUpstream>(spool_.get(), *options_.nats);
    } else {
      relay_ = std::make_unique<RelayClient>(spool_.get(), options_.relay);
    }
    relay_->Start();
    RegisterControl();
    RegisterStatus();
    return StartMetrics();
  }

  void Run() {
    pthread_setname_np(pthread_self(), "forwarder-recv");
    const auto on_event = [&](absl::string_view doc,
                              const EventFields& fields) {
      // Checked before spooling: the spool holds only good events. Accepted
      // once flushed, at the end of this burst.
      if (absl::Status s = spool_->Append(doc); !s.ok()) {
        LOG_EVERY_N(ERROR, 1000) << s;
        return;
      }
      sockets_.Publish(fields.type, doc);
    };
    while (!stopping_) ServeOnce(on_event);
    // Scrapes from now on get 503 at once: this thread serves no more.
    sockets_.status_snapshots().Close();
    metrics_.reset();
    while (sockets_.ReceiveBurst(on_event) > 0) {
    }
    SyncSpool();
    if (tier_ != nullptr) tier_->SendAcks();  // all synced now
    relay_->Stop();
    LOG(INFO) << "ziggy-forwarder stopped: " << sockets_.intake().received()
              << " events accepted, spool acknowledged to " << spool_->acked()
              << " of " << spool_->end_index();
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
  const std::string& relay_endpoint() const {
    static const std::string kOff;
    return tier_ != nullptr ? tier_->endpoint() : kOff;
  }
  std::string metrics_url() const {
    return metrics_ != nullptr ? metrics_->url() : "";
  }

 private:
  absl::Status StartMetrics() {
    if (options_.metrics.empty()) return absl::OkStatus();
    absl::StatusOr<std::unique_ptr<MetricsServer>> metrics =
        MetricsServer::Start(options_.metrics, &sockets_,
                             StatusSchema::kForwarder);
    if (!metrics.ok()) return metrics.status();
    metrics_ = *std::move(metrics);
    return absl::OkStatus();
  }

  // A tier's relay port (--relay), CurveZMQ like the other ports.
  absl::Status BindTier() {
    if (options_.relay_port.empty()) return absl::OkStatus();
    tier_ = std::make_unique<TierReceiver>(
        sockets_.context(), options_.max_forwarders, spool_.get(),
        &sockets_.intake(),
        [this](absl::string_view doc, const EventFields& fields) {
          sockets_.Publish(fields.type, doc);
        },
        options_.curve ? absl::make_optional(
                             CurveSocketOptions::Server(options_.curve->key))
                       : absl::nullopt);
    if (absl::Status s =
            tier_->Bind(options_.relay_port, sockets_.zap_handler());
        !s.ok()) {
      return s;
    }
    sockets_.AddPort("relay", tier_->endpoint());
    return absl::OkStatus();
  }

  // One poll of every socket; a tier's acks wait on the spool's syncs, so
  // it looks again soon while some wait.
  void ServeOnce(const DaemonSockets::OnEvent& on_event) {
    std::vector<zmq::pollitem_t> items = sockets_.PollItems(true);
    const size_t own = items.size();
    if (tier_ != nullptr) tier_->AddPollItems(&items);
    const bool waiting = tier_ != nullptr && tier_->acks_waiting();
    zmq::poll(items.data(), items.size(),
              std::chrono::milliseconds(waiting ? 1 : 20));
    if (sockets_.Serve(items, on_event)) stopping_ = true;
    FlushSpool();
    if (tier_ == nullptr) return;
    tier_->Serve(items, own);
    tier_->SendAcks();
  }

  // After each burst: what was staged is written, so it counts as spooled.
  void FlushSpool() {
    if (absl::Status s = spool_->Flush(); !s.ok()) {
      LOG_EVERY_N(ERROR, 100) << s;
    }
  }

  void SyncSpool() {
    if (absl::Status s = spool_->Sync(); !s.ok()) {
      LOG_EVERY_N(ERROR, 100) << s;
    }
  }

  // Commands beyond those DaemonSockets serves itself.
  void RegisterControl() {
    sockets_.AddCommand("FLUSH",
                        [this](const ControlRequest&) { return Flush(); });
    sockets_.AddCommand(
        "UPSTREAM",
        [this](const ControlRequest&) {
          return EncodeDocument(Value(
              Value::Map{{"upstreams", RedactNatsUrls(relay_->upstreams())}}));
        },
        DaemonSockets::Access::kReadOnly);
    sockets_.AddCommand("UPSTREAM_SET", [this](const ControlRequest& r) {
      return SetUpstreams(r);
    });
  }

  std::string Flush() {
    if (absl::Status s = spool_->Sync(); !s.ok()) {
      return ErrorReply(absl::StrCat("spool sync failed: ", s.message()));
    }
    return EncodeDocument(
        Value(Value::Map{{"ok", true}, {"synced", spool_->synced_index()}}));
  }

  std::string SetUpstreams(const ControlRequest& request) {
    const Value* list = request.args.Get("upstreams");
    if (list == nullptr || list->kind() != Value::Kind::kString) {
      return ErrorReply("UPSTREAM_SET needs 'upstreams': \"host:port,...\"");
    }
    absl::StatusOr<std::vector<std::string>> upstreams =
        ParseUpstreamsOfKind(list->AsString(), options_.nats.has_value());
    if (!upstreams.ok()) return ErrorReply(upstreams.status().message());
    relay_->SetUpstreams(*upstreams);
    LOG(INFO) << "upstreams set to " << RedactNatsUrls(*upstreams)
              << " over the control port";
    return EncodeDocument(Value(Value::Map{{"ok", true}}));
  }

  // STATUS after the common part: spool, then relay (the RelayClient's or
  // the NatsUpstream's).
  void RegisterStatus() {
    sockets_.AddDropReasons([this](Value::Map* dropped) {
      dropped->emplace_back("spool_full", spool_->refused_full());
      dropped->emplace_back("spool_error", spool_->write_failed());
    });
    sockets_.AddStatusSection(
        "spool", [this](Value::Map* spool) { FillSpoolStatus(spool); });
    sockets_.AddStatusFields([this](Value::Map* status) {
      status->emplace_back("relay", relay_->Status());
      if (tier_ == nullptr) return;
      Value::Map relay_in;
      tier_->FillStatus(&relay_in);
      status->emplace_back("relay_in", Value(std::move(relay_in)));
    });
  }

  void FillSpoolStatus(Value::Map* spool) const {
    const Value::Map fields{
        {"id", spool_->id()},
        {"spooled", spool_->end_index()},
        {"skipped", spool_->skipped()},
        {"acked", spool_->acked()},
        {"pending", spool_->end_index() - spool_->acked()},
        {"bytes", spool_->bytes()},
        {"max_bytes", options_.spool.max_bytes},
        {"segments", spool_->segments()},
        {"synced", spool_->synced_index()},
        {"syncs", spool_->syncs()},
        {"sync_errors", spool_->sync_errors()},
        {"refused_full", spool_->refused_full()},
        {"write_failed", spool_->write_failed()},
        {"damaged_records", spool_->damaged_records()},
        {"damaged_bytes", spool_->damaged_bytes()},
        {"repaired_tail_bytes", spool_->repaired_tail_bytes()},
        {"read_from_disk", spool_->read_from_disk()},
        {"path", options_.spool.dir},
    };
    spool->insert(spool->end(), fields.begin(), fields.end());
  }

  ForwarderOptions options_;
  DaemonSockets sockets_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<UpstreamLink> relay_;     // RelayClient or NatsUpstream
  std::unique_ptr<TierReceiver> tier_;      // with --relay
  std::unique_ptr<MetricsServer> metrics_;  // with --metrics; uses sockets_
  bool stopping_ = false;
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
void Forwarder::ReloadCurveKeys() { impl_->ReloadCurveKeys(); }
const std::string& Forwarder::control_endpoint() const {
  return impl_->control_endpoint();
}
const std::string& Forwarder::collect_endpoint() const {
  return impl_->collect_endpoint();
}
const std::string& Forwarder::stream_endpoint() const {
  return impl_->stream_endpoint();
}
const std::string& Forwarder::relay_endpoint() const {
  return impl_->relay_endpoint();
}
std::string Forwarder::metrics_url() const { return impl_->metrics_url(); }

}  // namespace ziggy
