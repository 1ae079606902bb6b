#include "forwarder/nats_upstream.h"

#include <pthread.h>

#include <algorithm>
#include <memory>
#include <random>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "forwarder/relay_batch.h"
#include "glog/logging.h"

namespace ziggy {
namespace {

constexpr absl::Duration kMinBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);
constexpr absl::Duration kIdleWait = absl::Milliseconds(10);
// Room left in max_payload for the relay header (about 200 bytes).
constexpr int64_t kHeaderRoom = 1024;

int64_t Milliseconds(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

}  // namespace

// The thread's side of NatsUpstream: one connection, the chain, and the
// counters. Step() does one thing at a time (wait out a backoff, read the
// chain back, publish one batch). Thread-compatible: the thread owns it.
class NatsPublisher {
 public:
  NatsPublisher(Spool* spool, const NatsUpstreamOptions& options)
      : spool_(spool),
        options_(options),
        subject_(BatchSubject(options.stream, spool->id())),
        send_from_(spool->acked()) {}

  // Connects to `servers` (dropping any earlier connection); the chain is
  // read back before the next publish.
  void SetServers(std::vector<std::string> servers);
  void Step();
  Value Status() const;

 private:
  // Per server counters, as the relay keeps them per upstream.
  struct ServerStats {
    uint64_t batches = 0;
    uint64_t acks = 0;
    uint64_t timeouts = 0;
    uint64_t refusals = 0;
    std::string refused;
  };

  bool Connected();
  absl::Status Resync();
  void AdoptLast(uint64_t sequence, absl::string_view data);
  // Reads the next batch into message_ (fitting max_payload); false when
  // there is none.
  bool NextMessage(RelayHeader* header);
  void DropOversized();
  void Publish(const RelayHeader& header);
  void OnPubAck(const RelayHeader& header, uint64_t sequence);
  void OnPublishError(natsStatus status, jsErrCode code,
                      const RelayHeader& header);
  // Counts and logs `why`; the chain is read back after a jittered backoff.
  void Doubt(const absl::Status& why);
  ServerStats& server_stats() { return stats_[server_]; }

  Spool* const spool_;
  const NatsUpstreamOptions& options_;
  const std::string subject_;
  NatsStreamOptions stream_;
  std::unique_ptr<NatsConnection> nats_;
  std::string server_;  // connected to, as of the last Connected()
  uint64_t reconnects_ = 0;
  bool chained_ = false;   // the chain was read back since the last doubt
  uint64_t last_seq_ = 0;  // this forwarder's last batch in the stream
  int64_t send_from_;
  absl::Duration backoff_ = kMinBackoff;
  absl::Time resume_at_ = absl::InfinitePast();
  std::mt19937_64 random_{std::random_device{}()};
  SpoolBatch batch_;
  std::string compressed_;
  std::string message_;
  absl::flat_hash_map<std::string, ServerStats> stats_;
  uint64_t sent_batches_ = 0, acks_ = 0, events_ = 0, resyncs_ = 0;
  uint64_t duplicates_ = 0, wrong_last_ = 0, timeouts_ = 0, errors_ = 0;
  uint64_t retransmitted_ = 0, oversized_ = 0;
  std::string last_error_;
};

void NatsPublisher::SetServers(std::vector<std::string> servers) {
  nats_.reset();
  chained_ = false;
  stream_ = options_.stream;
  stream_.servers = std::move(servers);
  absl::StatusOr<std::unique_ptr<NatsConnection>> nats =
      NatsConnection::Connect(stream_,
                              absl::StrCat("ziggy-forwarder ", spool_->id()));
  if (!nats.ok()) {
    ++errors_;
    last_error_ = std::string(nats.status().message());
    LOG(ERROR) << "nats: " << nats.status();
    return;
  }
  nats_ = *std::move(nats);
  reconnects_ = nats_->reconnects();
}

void NatsPublisher::Step() {
  const absl::Time now = absl::Now();
  if (now < resume_at_) {
    absl::SleepFor(std::min(kIdleWait, resume_at_ - now));
    return;
  }
  if (!Connected()) {
    absl::SleepFor(kIdleWait);
    return;
  }
  if (!chained_) {
    absl::Status s = nats_->EnsureStream(stream_);
    if (s.ok()) s = Resync();
    if (!s.ok()) Doubt(s);
    return;
  }
  RelayHeader header;
  if (!NextMessage(&header)) {
    absl::SleepFor(kIdleWait);
    return;
  }
  Publish(header);
}

bool NatsPublisher::Connected() {
  if (nats_ == nullptr || !nats_->connected()) {
    chained_ = false;
    server_.clear();
    return false;
  }
  // A reconnect in between: what was in flight may or may not be stored.
  const uint64_t reconnects = nats_->reconnects();
  if (reconnects != reconnects_) chained_ = false;
  reconnects_ = reconnects;
  server_ = nats_->server();
  return true;
}

// ---- The chain ----

absl::Status NatsPublisher::Resync() {
  ++resyncs_;
  jsOptions options;
  jsOptions_Init(&options);
  options.Wait = Milliseconds(options_.timeout);
  natsMsg* msg = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s = js_GetLastMsg(&msg, nats_->js(), stream_.stream.c_str(),
                                     subject_.c_str(), &options, &code);
  if (s != NATS_OK) {
    if (code != JSNoMessageFoundErr) {
      return NatsError(s, absl::StrCat("reading ", subject_, " back"));
    }
    // Never published, or expired by max age: nothing to chain on.
    last_seq_ = 0;
  } else {
    AdoptLast(
        natsMsg_GetSequence(msg),
        absl::string_view(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)));
    natsMsg_Destroy(msg);
  }
  chained_ = true;
  send_from_ = spool_->acked();
  return absl::OkStatus();
}

// The subject's last message: the chain goes on from its sequence, and the
// spool's mark moves to its end (if it is this forwarder's batch: its id and
// its token, which whoever may only publish on the subject does not know).
void NatsPublisher::AdoptLast(uint64_t sequence, absl::string_view data) {
  last_seq_ = sequence;
  absl::StatusOr<BatchMessage> last = ParseBatchMessage(data);
  if (!last.ok() || last->header.forwarder != spool_->id() ||
      last->header.token != spool_->token()) {
    ++errors_;
    last_error_ = absl::StrCat("message ", sequence, " on ", subject_,
                               " is not a batch of this forwarder");
    LOG(ERROR) << "nats: " << last_error_
               << "; chaining on it, acknowledged mark left as it is";
    return;
  }
  const int64_t before = spool_->acked();
  // Never past what this spool ever numbered (then the stream is not ours).
  const int64_t end = std::min(last->header.end, spool_->end_index());
  if (end <= before) return;
  if (absl::Status s = spool_->Acknowledge(end); !s.ok()) {
    LOG(ERROR) << "spool: " << s;
    return;
  }
  LOG(INFO) << "nats: " << subject_ << " holds this forwarder's batches to "
            << "index " << last->header.end << " (sequence " << sequence
            << "): acknowledged mark moved from " << before << " to " << end
            << " (" << end - before << " indexes)";
}

// ---- Publishing ----

bool NatsPublisher::NextMessage(RelayHeader* header) {
  if (send_from_ >= spool_->end_index()) return false;
  const int64_t max_payload = nats_->max_payload();
  size_t max_events = options_.batch_events;
  const size_t max_bytes = static_cast<size_t>(std::max<int64_t>(
      1, std::min<int64_t>(options_.batch_bytes, max_payload - kHeaderRoom)));
  for (;;) {
    if (absl::Status s =
            spool_->Read(send_from_, max_events, max_bytes, &batch_);
        !s.ok()) {
      LOG_EVERY_N(ERROR, 100) << "nats: " << s;
      return false;
    }
    if (batch_.end == batch_.first) return false;
    *header = RelayHeaderFor(*spool_, batch_);
    CompressIfSmaller(options_.zstd, options_.zstd_level, &batch_, header,
                      &compressed_);
    message_.clear();
    AppendBatchMessage(*header, batch_.events, &message_);
    if (static_cast<int64_t>(message_.size()) <= max_payload) return true;
    if (batch_.count <= 1) break;
    max_events = static_cast<size_t>(batch_.count / 2);  // one event goes over
  }
  DropOversized();
  return false;
}

// One event that no message can hold: dropped, counted and logged, so that
// it does not hold up everything behind it.
void NatsPublisher::DropOversized() {
  ++oversized_;
  LOG(ERROR) << "nats: the event at index " << batch_.first << " ("
             << message_.size() << " bytes with its header) exceeds the NATS "
             << "server's max_payload (" << nats_->max_payload()
             << "); dropped (relay.oversized). Raise max_payload.";
  if (absl::Status s = spool_->Acknowledge(batch_.end); !s.ok()) {
    LOG(ERROR) << "spool: " << s;
  }
  send_from_ = std::max(send_from_, batch_.end);
}

void NatsPublisher::Publish(const RelayHeader& header) {
  const std::string id = BatchMsgId(spool_->id(), header.first);
  jsPubOptions options;
  jsPubOptions_Init(&options);
  options.MsgId = id.c_str();
  options.MaxWait = Milliseconds(options_.timeout);
  if (last_seq_ > 0) options.ExpectLastSubjectSeq = last_seq_;
  ++sent_batches_;
  ++server_stats().batches;
  jsPubAck* ack = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s =
      js_Publish(&ack, nats_->js(), subject_.c_str(), message_.data(),
                 static_cast<int>(message_.size()), &options, &code);
  if (s != NATS_OK) {
    OnPublishError(s, code, header);
    return;
  }
  const bool duplicate = ack->Duplicate;
  const uint64_t sequence = ack->Sequence;
  jsPubAck_Destroy(ack);
  if (duplicate) {
    // Another message has this id: never an ack of this batch.
    ++duplicates_;
    retransmitted_ += header.count;
    Doubt(absl::AlreadyExistsError(absl::StrCat(
        "the stream took ", id, " as a duplicate of sequence ", sequence)));
    return;
  }
  OnPubAck(header, sequence);
}

void NatsPublisher::OnPubAck(const RelayHeader& header, uint64_t sequence) {
  ++acks_;
  ++server_stats().acks;
  events_ += header.count;
  last_seq_ = sequence;
  backoff_ = kMinBackoff;
  send_from_ = header.end;
  if (absl::Status s = spool_->Acknowledge(header.end); !s.ok()) {
    LOG_EVERY_N(ERROR, 100) << "spool: " << s;
  }
}

void NatsPublisher::OnPublishError(natsStatus status, jsErrCode code,
                                   const RelayHeader& header) {
  retransmitted_ += header.count;
  // libnats' last error has the server's words ("wrong last sequence: 7").
  const char* last = nats_GetLastError(nullptr);
  const std::string detail =
      last != nullptr ? last : natsStatus_GetText(status);
  ServerStats& server = server_stats();
  if (status == NATS_TIMEOUT) {
    ++timeouts_;
    ++server.timeouts;
  } else if (code == JSStreamWrongLastSequenceErr) {
    ++wrong_last_;  // another message came between: read the chain again
  } else if (code != 0) {
    ++server.refusals;
    server.refused = detail;
  }
  Doubt(absl::Status(
      NatsError(status, "").code(),
      absl::StrCat("publishing ", BatchMsgId(spool_->id(), header.first),
                   " to ", subject_, ": ", detail)));
}

void NatsPublisher::Doubt(const absl::Status& why) {
  ++errors_;
  last_error_ = std::string(why.message());
  LOG_EVERY_T(WARNING, 5) << "nats: " << why.message()
                          << "; reading the chain back after a backoff";
  chained_ = false;
  resume_at_ = absl::Now() + backoff_ * std::uniform_real_distribution<double>(
                                            0.5, 1.5)(random_);
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
}

// ---- Status ----

Value NatsPublisher::Status() const {
  Value::Map servers;
  for (const std::string& configured : stream_.servers) {
    const std::string url = RedactNatsUrl(configured);  // as server_ is
    auto it = stats_.find(url);
    const ServerStats up = it == stats_.end() ? ServerStats() : it->second;
    const char* state = url == server_     ? "up"
                        : !server_.empty() ? "idle"
                        : nats_ == nullptr ? "down"
                                           : "connecting";
    servers.emplace_back(url, Value(Value::Map{{"state", state},
                                               {"batches", up.batches},
                                               {"acks", up.acks},
                                               {"timeouts", up.timeouts},
                                               {"refusals", up.refusals},
                                               {"refused", up.refused}}));
  }
  return Value(Value::Map{
      {"mode", "nats"},
      {"current", server_},
      {"servers", RedactNatsUrls(stream_.servers)},
      {"server", server_},
      {"connected", !server_.empty()},
      {"stream", stream_.stream},
      {"subject", subject_},
      {"upstreams", Value(std::move(servers))},
      {"in_flight", int64_t{0}},  // Status() is taken between publishes
      {"acked", spool_->acked()},
      {"sent_batches", sent_batches_},
      {"retransmitted", retransmitted_},
      {"resend_requests", wrong_last_},
      {"compression", options_.zstd ? "zstd" : "none"},
      {"batches", sent_batches_},
      {"acks", acks_},
      {"events", events_},
      {"resyncs", resyncs_},
      {"duplicates", duplicates_},
      {"wrong_last", wrong_last_},
      {"timeouts", timeouts_},
      {"errors", errors_},
      {"last_error", last_error_},
      {"oversized", oversized_},
      {"last_sequence", last_seq_},
  });
}

// ---- NatsUpstream ----

NatsUpstream::NatsUpstream(Spool* spool, NatsUpstreamOptions options)
    : UpstreamLink(options.stream.servers),
      spool_(spool),
      options_(std::move(options)) {}

NatsUpstream::~NatsUpstream() { Stop(); }

void NatsUpstream::Run() {
  pthread_setname_np(pthread_self(), "forwarder-nats");
  NatsPublisher publisher(spool_, options_);
  uint64_t version = ~uint64_t{0};
  std::vector<std::string> servers;
  absl::Time last_status = absl::InfinitePast();
  while (!stopping()) {
    if (TakeUpstreams(&version, &servers)) {
      LOG(INFO) << "nats: servers now " << RedactNatsUrls(servers);
      publisher.SetServers(servers);
    }
    publisher.Step();
    if (StatusDue(absl::Now(), options_.status_interval, &last_status)) {
      PublishStatus(publisher.Status());
    }
  }
}

}  // namespace ziggy
