#include "collector/nats_source.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "collector/relay_batch.h"
#include "glog/logging.h"

namespace ziggy {
namespace {

// How long a fetch waits for messages: also how soon StopFetching() returns.
constexpr int64_t kFetchTimeoutMs = 250;
// How long an ack waits for the server's confirmation.
constexpr int64_t kAckTimeoutMs = 2000;
// After a failed ack, the next try of that ack.
constexpr absl::Duration kAckRetry = absl::Milliseconds(500);
// Pause after a failure to connect or subscribe.
constexpr absl::Duration kRetryPause = absl::Milliseconds(500);
// Pause after a failed fetch: short, as a fetch fails when the consumer
// changes leader or has none, and a backlog the new leader deals out goes
// to the requests waiting then.
constexpr absl::Duration kFetchRetryPause = absl::Milliseconds(50);
// Stop() gives the acks handed over this long.
constexpr absl::Duration kStopAckGrace = absl::Seconds(2);
// Fetched messages the receive thread has not taken yet, at most.
constexpr size_t kHandOff = 16;
// How long fetches bring nothing before the consumer is looked at; two such
// checks in a row with messages waiting make the fetch thread subscribe
// again.
constexpr absl::Duration kIdleCheck = absl::Seconds(2);
constexpr int kStarvedChecks = 2;
// Messages the consumer gave out during an idle spell, none of them here,
// that show this collector's pull requests are not being served.
constexpr uint64_t kStarvedDeliveries = 8;
// How long a JetStream API request (stream, consumer, their info) waits
// for its answer: not the JetStream context's 5 s, as a request sent while
// a NATS cluster elects its leaders goes unanswered, and collectors that
// retry soon start pulling together once the consumer has its leader.
constexpr int64_t kApiTimeoutMs = 1000;
// Pause after a subscription attempt NATS could not answer or take yet.
constexpr absl::Duration kSubscribeRetryPause = absl::Milliseconds(100);
// Confirmed acks are remembered for dedup this long beyond twice the ack
// wait: a consumer leader that dies can lose the acks of what it confirmed
// last, and give those messages out again once their ack wait has passed
// and the cluster has elected another leader (seen to take 20 s)...
constexpr absl::Duration kElectionMargin = absl::Seconds(60);
// ...and at most this many (about 15 MB).
constexpr size_t kRememberAtMost = 65536;
// How long one round of in-progress signals may take (the ack thread's).
constexpr absl::Duration kSignalBudget = absl::Seconds(1);
// While acks wait to be sent, the consumer is asked about this often
// whether it is gone.
constexpr absl::Duration kConsumerCheck = absl::Seconds(1);

void Wake(int fd) {
  const uint64_t one = 1;
  ssize_t ignored = write(fd, &one, sizeof one);
  (void)ignored;
}

int64_t Nanos(absl::Duration d) { return absl::ToInt64Nanoseconds(d); }

// A JetStream API error that says the consumer does not exist (or its
// stream, which takes its consumers with it).
bool IsGone(jsErrCode code) {
  return code == JSConsumerNotFoundErr || code == JSStreamNotFoundErr;
}

// What the dedup set knows a message's batch by:
// `<forwarder>:<first>-<end>` (its message id and end).
std::string BatchKey(const RelayHeader& header) {
  return absl::StrCat(BatchMsgId(header.forwarder, header.first), "-",
                      header.end);
}

jsOptions ApiOptions() {
  jsOptions opts;
  jsOptions_Init(&opts);
  opts.Wait = kApiTimeoutMs;
  return opts;
}

}  // namespace

absl::Status ValidateNatsSourceOptions(const NatsSourceOptions& options) {
  if (options.consumer.empty() ||
      options.consumer.find_first_of(" \t.*>/\\") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--nats-consumer=", options.consumer,
                     ": a name without spaces, dots, '*', '>', '/' or '\\'"));
  }
  if (options.ack_wait < absl::Seconds(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--nats-ack-wait=", absl::FormatDuration(options.ack_wait),
                     ": at least 1s"));
  }
  return absl::OkStatus();
}

NatsSource::NatsSource(NatsSourceOptions options, Clock* clock,
                       EventIntake* intake, CollectorStats* stats,
                       DaemonSockets::OnEvent on_event)
    : options_(std::move(options)),
      clock_(clock),
      intake_(intake),
      stats_(stats),
      on_event_(std::move(on_event)),
      ack_wait_ns_(Nanos(options_.ack_wait)) {}

NatsSource::~NatsSource() {
  Stop();
  if (ready_fd_ >= 0) close(ready_fd_);
}

absl::Status NatsSource::Init() {
  ready_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ready_fd_ < 0) return absl::InternalError("eventfd failed");
  absl::StatusOr<std::unique_ptr<NatsConnection>> connection =
      NatsConnection::Connect(options_.stream,
                              absl::StrCat("ziggyd ", options_.consumer));
  if (!connection.ok()) return connection.status();
  connection_ = *std::move(connection);
  return absl::OkStatus();
}

void NatsSource::Start(RelayState* state, EventWriter* writer,
                       MayFetch may_fetch) {
  state_ = state;
  writer_ = writer;
  may_fetch_ = std::move(may_fetch);
  const absl::Time now = absl::Now();
  // Older snapshots record no timer per ack: a message's timer started at
  // most about ack_wait/2 before the snapshot (delivery, or the last
  // in-progress signal), if NATS heard those signals.
  const absl::Time snapshot_estimate =
      absl::UnixEpoch() + absl::Seconds(state->recovered_nats_time()) -
      ack_wait() / 2;
  size_t late = 0;
  absl::MutexLock lock(&mu_);
  for (const NatsAckRecord& record : state->recovered_nats_acks()) {
    const absl::Time timer_start =
        record.timer_start > 0
            ? absl::UnixEpoch() + absl::Seconds(record.timer_start)
            : snapshot_estimate;
    const bool is_late = now - timer_start > ack_wait();
    late += is_late;
    // Counted now if late, else if their re-ack comes too late (Confirmed).
    held_[record.sequence] = {record.reply, is_late ? now : timer_start,
                              record.batch};
    acks_.push_back({record.sequence, record.reply, now, /*reack=*/true});
    ++reacks_;
  }
  acks_added_ = true;
  if (late > 0) {
    stats_->nats.possible_duplicates += late;
    LOG(WARNING) << "nats: " << late
                 << " messages were checkpointed but their acks not "
                    "confirmed within their ack wait: another collector may "
                    "have been given them meanwhile "
                    "(nats.possible_duplicates)";
  }
  if (reacks_ > 0) {
    LOG(INFO) << "nats: re-acking " << reacks_
              << " messages of the last checkpoint before fetching";
  }
  fetch_thread_ = std::thread(&NatsSource::FetchLoop, this);
  ack_thread_ = std::thread(&NatsSource::AckLoop, this);
}

// ---- The fetch thread.

void NatsSource::FetchLoop() {
  pthread_setname_np(pthread_self(), "ziggyd-nats");
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_fetching_ || stopping_) break;
    }
    if (!connection_->connected()) {
      absl::SleepFor(absl::Milliseconds(100));
      continue;
    }
    if (subscription_ == nullptr) {
      if (absl::Status s = Subscribe(); !s.ok()) {
        LOG_EVERY_T(WARNING, 10) << "nats: " << s;
        // Soon again unless NATS will not have it (the stream's subjects):
        // "temporarily unavailable" (10008) comes while a cluster elects.
        absl::SleepFor(absl::IsFailedPrecondition(s) ? kRetryPause
                                                     : kSubscribeRetryPause);
      }
      continue;
    }
    const uint64_t reconnects = connection_->reconnects();
    if (reconnects != reconnects_reacked_) {  // the ack thread's turn first
      absl::SleepFor(absl::Milliseconds(10));
      continue;
    }
    if (reconnects != subscribed_reconnects_) WantResubscribe("reconnected");
    if (ResubscribeIfWanted()) continue;
    if (!ReadyToFetch()) {
      absl::SleepFor(absl::Milliseconds(10));
      continue;
    }
    Fetch();
  }
  natsSubscription_Destroy(subscription_);
  subscription_ = nullptr;
  subscribed_ = false;
}

absl::Status NatsSource::Subscribe() {
  if (absl::Status s = connection_->EnsureStream(
          options_.stream, absl::Milliseconds(kApiTimeoutMs));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = EnsureConsumer(); !s.ok()) return s;
  const std::string filter = options_.stream.subject + ".>";
  jsSubOptions sub_options;
  jsSubOptions_Init(&sub_options);
  sub_options.Stream = options_.stream.stream.c_str();
  sub_options.Consumer = options_.consumer.c_str();
  jsErrCode code = static_cast<jsErrCode>(0);
  jsOptions opts = ApiOptions();
  natsStatus s =
      js_PullSubscribe(&subscription_, connection_->js(), filter.c_str(),
                       options_.consumer.c_str(), &opts, &sub_options, &code);
  if (s != NATS_OK) {
    subscription_ = nullptr;
    return NatsError(s, absl::StrCat("subscribing to consumer ",
                                     options_.consumer, " (", code, ")"));
  }
  reack_deadline_ = absl::Now() + ack_wait();
  subscribed_reconnects_ = connection_->reconnects();
  last_message_ns_ = absl::ToUnixNanos(absl::Now());
  subscribed_ = true;
  LOG(INFO) << "nats: pulling from stream " << options_.stream.stream
            << " through consumer " << options_.consumer << " at "
            << connection_->server();
  return absl::OkStatus();
}

// The durable pull consumer, created if missing; an existing one is used
// as it is (its ack wait too).
absl::Status NatsSource::EnsureConsumer() {
  const char* stream = options_.stream.stream.c_str();
  jsOptions opts = ApiOptions();
  jsConsumerInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetConsumerInfo(&info, connection_->js(), stream,
                                    options_.consumer.c_str(), &opts, &code);
  if (s != NATS_OK && code == JSConsumerNotFoundErr) {
    const std::string filter = options_.stream.subject + ".>";
    jsConsumerConfig config;
    jsConsumerConfig_Init(&config);
    config.Durable = options_.consumer.c_str();
    config.AckPolicy = js_AckExplicit;
    config.AckWait = Nanos(options_.ack_wait);
    config.DeliverPolicy = js_DeliverAll;
    config.MaxAckPending = options_.max_ack_pending;
    config.FilterSubject = filter.c_str();
    s = js_AddConsumer(&info, connection_->js(), stream, &config, &opts, &code);
    if (s != NATS_OK) {  // perhaps another collector made it meanwhile
      s = js_GetConsumerInfo(&info, connection_->js(), stream,
                             options_.consumer.c_str(), &opts, &code);
    }
  }
  if (s != NATS_OK) {
    return NatsError(
        s, absl::StrCat("NATS consumer ", options_.consumer, " (", code, ")"));
  }
  // One collector's ack must cover its own messages only, and a message
  // must never be dropped for being redelivered often: else a crash loses
  // what another collector was writing.
  if (info->Config->AckPolicy != js_AckExplicit ||
      info->Config->MaxDeliver > 0) {
    const std::string why = absl::StrCat(
        "NATS consumer ", options_.consumer,
        " exists without explicit acks and unlimited deliveries; ziggyd "
        "needs both: remove it or name another with --nats-consumer");
    jsConsumerInfo_Destroy(info);
    return absl::FailedPreconditionError(why);
  }
  if (info->Config->AckWait > 0) ack_wait_ns_ = info->Config->AckWait;
  if (info->Config->AckWait != Nanos(options_.ack_wait)) {
    LOG(WARNING) << "nats: consumer " << options_.consumer
                 << " exists with an ack wait of "
                 << absl::Nanoseconds(info->Config->AckWait)
                 << ", not --nats-ack-wait; using it as it is";
  }
  // Without a leader (a NATS cluster electing one) nothing answers pull
  // requests: subscribe once it has one, so that the collectors of a pool
  // waiting for it start pulling together.
  const bool led = info->Cluster == nullptr ||
                   (info->Cluster->Leader != nullptr && *info->Cluster->Leader);
  {
    absl::MutexLock lock(&mu_);
    resubscribe_why_.clear();  // this subscription is the new one
    subscribed_leader_ = consumer_leader_ =
        led && info->Cluster != nullptr ? info->Cluster->Leader : "";
  }
  jsConsumerInfo_Destroy(info);
  if (!led) {
    return absl::UnavailableError(absl::StrCat(
        "NATS consumer ", options_.consumer,
        " has no leader yet (the cluster is electing one); subscribing once "
        "it has"));
  }
  return absl::OkStatus();
}

// Re-acks done (or given the ack wait), the writer has room, and the
// hand-off has room for another fetch.
bool NatsSource::ReadyToFetch() {
  {
    absl::MutexLock lock(&mu_);
    if (reacks_ > 0 && absl::Now() < reack_deadline_) return false;
    const size_t batch = static_cast<size_t>(options_.fetch_batch);
    if (fetched_.size() + batch > std::max(kHandOff, 2 * batch)) return false;
  }
  return may_fetch_();
}

void NatsSource::Fetch() {
  natsMsgList list{};
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = natsSubscription_Fetch(
      &list, subscription_, options_.fetch_batch, kFetchTimeoutMs, &code);
  if (s == NATS_TIMEOUT) return;
  if (s != NATS_OK) {
    // libnats' own text says what ("Leadership Change", "Consumer Deleted").
    const char* last = nats_GetLastError(nullptr);
    if (last != nullptr && std::strstr(last, "Leadership Change") != nullptr) {
      NewLeader();
    }
    LOG_EVERY_T(WARNING, 10)
        << NatsError(s, absl::StrCat("nats fetch (", code, ")"))
        << (last != nullptr && *last != '\0' ? absl::StrCat(": ", last) : "");
    absl::SleepFor(kFetchRetryPause);
    return;
  }
  last_message_ns_ = absl::ToUnixNanos(absl::Now());
  stalled_ = false;
  {
    absl::MutexLock lock(&mu_);
    for (int i = 0; i < list.Count; ++i) {
      fetched_.push_back(list.Msgs[i]);
      list.Msgs[i] = nullptr;  // ours now
    }
  }
  natsMsgList_Destroy(&list);
  Wake(ready_fd_);
}

void NatsSource::WatchIdle() {
  const absl::Time now = absl::Now();
  const absl::Time last_message = absl::FromUnixNanos(last_message_ns_);
  if (!subscribed_ || now - last_message < kIdleCheck ||
      now < next_idle_check_) {
    return;
  }
  next_idle_check_ = now + kIdleCheck;
  const Idle idle = CheckConsumer();
  stalled_ = idle != Idle::kFine;
  starved_checks_ = idle == Idle::kStarved ? starved_checks_ + 1 : 0;
  switch (idle) {
    case Idle::kFine:
      return;
    case Idle::kGone:
      return WantResubscribe("the consumer is gone");
    case Idle::kNewLeader:
      return NewLeader();
    case Idle::kStarved:
      if (starved_checks_ >= kStarvedChecks) {
        starved_checks_ = 0;
        return WantResubscribe(absl::StrCat(
            "messages wait in the consumer, or go to other collectors, and "
            "none came here for ",
            absl::FormatDuration(
                absl::Trunc(now - last_message, absl::Milliseconds(100)))));
      }
      return;
    case Idle::kNoAnswer:
      return;  // CheckConsumer() said why
    case Idle::kNoLeader:
      break;
  }
  LOG_EVERY_T(WARNING, 10)
      << "nats: consumer " << options_.consumer
      << " has no leader (the NATS cluster is electing one): nothing to "
         "fetch until it has";
}

// The consumer's info: a leader (cluster), and whether undelivered
// messages wait while the pool may take more (below max ack pending).
NatsSource::Idle NatsSource::CheckConsumer() {
  jsConsumerInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s = ConsumerInfo(&info, &code);
  if (s != NATS_OK) {
    if (IsGone(code)) return Idle::kGone;  // Subscribe() makes it again
    LOG_EVERY_T(WARNING, 10)
        << NatsError(s, absl::StrCat("nats: asking about consumer ",
                                     options_.consumer, " (", code, ")"));
    return Idle::kNoAnswer;
  }
  const char* leader_text =
      info->Cluster != nullptr ? info->Cluster->Leader : nullptr;
  const std::string leader = leader_text != nullptr ? leader_text : "";
  const bool led = info->Cluster == nullptr || !leader.empty();
  const int64_t max_pending = info->Config->MaxAckPending;
  const bool waiting = info->NumPending > 0 &&
                       (max_pending <= 0 || info->NumAckPending < max_pending);
  const bool elsewhere = DeliveredElsewhere(info->Delivered.Consumer);
  jsConsumerInfo_Destroy(info);
  bool new_leader = false;
  {
    absl::MutexLock lock(&mu_);
    consumer_leader_ = leader;
    new_leader = !leader.empty() && leader != subscribed_leader_;
  }
  if (!led) return Idle::kNoLeader;
  if (new_leader) return Idle::kNewLeader;
  return waiting || elsewhere ? Idle::kStarved : Idle::kFine;
}

// Whether the consumer gave out kStarvedDeliveries messages since this
// idle spell began (`delivered`: its delivered sequence now), none here.
bool NatsSource::DeliveredElsewhere(uint64_t delivered) {
  const int64_t spell = last_message_ns_;
  if (spell != idle_spell_ns_) {  // a new idle spell: its baseline
    idle_spell_ns_ = spell;
    idle_delivered_ = delivered;
    return false;
  }
  return delivered >= idle_delivered_ + kStarvedDeliveries;
}

void NatsSource::WantResubscribe(std::string why) {
  absl::MutexLock lock(&mu_);
  resubscribe_why_ = std::move(why);
}

void NatsSource::NewLeader() {
  WantResubscribe("the consumer has a new leader");
  ReAckRecent();  // before the new subscription fetches (ReadyToFetch)
}

// Drops the subscription (its inbox, its pull requests) when the idle
// check asked for it; the fetch loop makes a new one, and the consumer if
// missing. False when not asked.
bool NatsSource::ResubscribeIfWanted() {
  std::string why;
  {
    absl::MutexLock lock(&mu_);
    if (resubscribe_why_.empty()) return false;
    why.swap(resubscribe_why_);
  }
  const uint64_t times = ++resubscribes_;
  LOG(WARNING) << "nats: subscribing to consumer " << options_.consumer
               << " again: " << why << " (at " << connection_->server() << "; "
               << times << " times so far)";
  natsSubscription_Destroy(subscription_);
  subscription_ = nullptr;
  subscribed_ = false;
  return true;
}

// ---- The receive thread.

void NatsSource::AddPollItems(std::vector<zmq::pollitem_t>* items) {
  items->push_back({nullptr, ready_fd_, ZMQ_POLLIN, 0});
}

void NatsSource::Serve(const std::vector<zmq::pollitem_t>& items,
                       size_t first) {
  if (!(items[first].revents & ZMQ_POLLIN)) return;
  uint64_t value;
  if (read(ready_fd_, &value, sizeof value) <= 0) return;
  std::deque<natsMsg*> fetched;
  {
    absl::MutexLock lock(&mu_);
    fetched.swap(fetched_);
  }
  for (natsMsg* msg : fetched) {
    TakeIn(msg);
    natsMsg_Destroy(msg);
  }
}

// One message: a batch on its forwarder's subject, taken in once.
void NatsSource::TakeIn(natsMsg* msg) {
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) {
    return Reject(msg, "not a JetStream message");
  }
  const uint64_t sequence = meta->Sequence.Stream;
  if (meta->NumDelivered > 1) ++stats_->nats.redelivered;
  jsMsgMetaData_Destroy(meta);
  const char* reply_subject = natsMsg_GetReply(msg);
  const std::string reply = reply_subject != nullptr ? reply_subject : "";
  const absl::string_view data(natsMsg_GetData(msg),
                               static_cast<size_t>(natsMsg_GetDataLength(msg)));
  absl::StatusOr<BatchMessage> message = ParseBatchMessage(data);
  if (!message.ok()) return Reject(msg, message.status().message());
  const RelayHeader& header = message->header;
  if (natsMsg_GetSubject(msg) !=
      BatchSubject(options_.stream, header.forwarder)) {
    return Reject(msg, absl::StrCat("a batch of forwarder ", header.forwarder,
                                    " on subject ", natsMsg_GetSubject(msg)));
  }
  const std::string batch_key = BatchKey(header);
  if (Redelivered(sequence, batch_key, reply) != Seen::kNew) {
    stats_->nats.duplicates += header.count;
    return Submit(sequence, reply, header, batch_key, nullptr);
  }
  absl::StatusOr<std::unique_ptr<EventBatch>> batch = TakeInRelayBatch(
      {intake_, on_event_, [this] { return writer_->NewBatch(); }}, header,
      message->payload, UnixSeconds(clock_->Now()), &payload_);
  if (!batch.ok()) return Reject(msg, batch.status().message());
  ++stats_->nats.batches;
  stats_->nats.events += payload_.documents().size();
  {
    absl::MutexLock lock(&mu_);
    held_[sequence] = {reply, absl::Now(), batch_key};
  }
  Submit(sequence, reply, header, batch_key, *std::move(batch));
}

NatsSource::Seen NatsSource::Redelivered(uint64_t sequence,
                                         const std::string& batch,
                                         const std::string& reply) {
  // An older ziggyd's checkpoint does not know its entries' batches.
  const auto same = [&](const std::string& known) {
    return known.empty() || known == batch;
  };
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&mu_);
  if (const auto it = held_.find(sequence); it != held_.end()) {
    if (same(it->second.batch)) {
      // The server restarted its ack timer: it waits for this delivery's
      // ack.
      it->second = {reply, now, batch};
      return Seen::kHeld;
    }
  } else if (const auto it = confirmed_.find(sequence);
             it != confirmed_.end()) {
    if (same(it->second.batch)) {
      held_[sequence] = {reply, now, batch};  // confirmed again: remembered
      LOG_EVERY_T(WARNING, 10)
          << "nats: message " << sequence << " (batch " << batch
          << ") was given out again after NATS had confirmed its ack (a "
             "consumer leader that stopped can lose acks): dropped and "
             "acknowledged again";
      return Seen::kConfirmed;
    }
  } else {
    return Seen::kNew;
  }
  LOG_EVERY_T(ERROR, 10) << "nats: stream sequence " << sequence
                         << " came with batch " << batch
                         << ", not the batch written under it: the stream "
                            "reused the sequence; taken in";
  return Seen::kNew;
}

void NatsSource::Submit(uint64_t sequence, const std::string& reply,
                        const RelayHeader& header, const std::string& batch_key,
                        std::unique_ptr<EventBatch> batch) {
  if (batch == nullptr) batch = writer_->NewBatch();
  // Taken for its delivery time: later than the server's by the fetch's
  // hand-off (at most kHandOff messages).
  const double delivered =
      absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  batch->acks.push_back({reply, header.forwarder, header.end, "", sequence,
                         delivered, batch_key});
  writer_->Submit(std::move(batch));
}

void NatsSource::Reject(natsMsg* msg, absl::string_view why) {
  const uint64_t rejected = ++stats_->nats.rejected;
  LOG_EVERY_T(WARNING, 10) << "nats: terminated a message that is not a "
                              "sound batch: "
                           << why << " (" << rejected << " so far)";
  natsMsg_Term(msg, nullptr);
}

void NatsSource::StopFetching() {
  {
    absl::MutexLock lock(&mu_);
    stop_fetching_ = true;
  }
  if (fetch_thread_.joinable()) fetch_thread_.join();
  Wake(ready_fd_);
  std::vector<zmq::pollitem_t> items{{nullptr, ready_fd_, ZMQ_POLLIN, 0}};
  items[0].revents = ZMQ_POLLIN;
  Serve(items, 0);
}

// ---- The ack thread.

void NatsSource::TakeAcks(std::vector<RelayAck> acks) {
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&mu_);
  for (RelayAck& ack : acks) {
    acks_.push_back({ack.nats_sequence, std::move(ack.identity), now, false});
  }
  acks_added_ = true;
}

void NatsSource::AckLoop() {
  pthread_setname_np(pthread_self(), "ziggyd-nats-ack");
  absl::Time next_progress = absl::Now();
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      // New acks, or every 100 ms (acks to try again, the idle check).
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || acks_added_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(100));
      if (stopping_) break;
      acks_added_ = false;
    }
    if (const uint64_t reconnects = connection_->reconnects();
        reconnects != reconnects_reacked_) {
      ReAckRecent();
      reconnects_reacked_ = reconnects;
    }
    SendDueAcks();
    WatchIdle();
    if (absl::Now() >= next_progress) {
      SignalInProgress();
      next_progress = absl::Now() + ack_wait() / 6;
    }
  }
}

void NatsSource::SendDueAcks() {
  std::deque<Ack> due;
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    std::deque<Ack> later;
    for (Ack& ack : acks_) {
      (ack.next_try <= now ? due : later).push_back(std::move(ack));
    }
    acks_.swap(later);
    acks_in_flight_ += due.size();
  }
  if (due.empty()) return;
  CheckConsumerForAcks(now);
  bool stalled = false;  // an ack timed out: the rest wait for next round
  for (Ack& ack : due) {
    const AckOutcome outcome = stalled ? AckOutcome::kRetry : TryAck(ack);
    stalled |= outcome == AckOutcome::kStalled;
    absl::MutexLock lock(&mu_);
    --acks_in_flight_;
    if (outcome == AckOutcome::kGone) GiveUp(ack);
    if (outcome == AckOutcome::kDone || outcome == AckOutcome::kGone) {
      if (ack.reack) --reacks_;
      continue;
    }
    ack.next_try = absl::Now() + kAckRetry;
    acks_.push_back(std::move(ack));
  }
}

void NatsSource::CheckConsumerForAcks(absl::Time now) {
  if (now - consumer_checked_ < kConsumerCheck) return;
  consumer_checked_ = now;
  jsConsumerInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s = ConsumerInfo(&info, &code);
  consumer_gone_ = s != NATS_OK && IsGone(code);
  jsConsumerInfo_Destroy(info);
}

NatsSource::AckOutcome NatsSource::TryAck(Ack& ack) {
  if (!connection_->connected()) return AckOutcome::kRetry;
  const natsStatus s = SendAck(ack);
  if (s == NATS_OK) return AckOutcome::kDone;
  if (s == NATS_TIMEOUT) return AckOutcome::kStalled;
  // Nobody answering at a reply subject this long: the consumer is gone,
  // or has no leader (a NATS cluster electing one: the ack goes on).
  const int max_refusals =
      std::max<int>(10, static_cast<int>(2 * ack_wait() / kAckRetry));
  if (s == NATS_NO_RESPONDERS && ++ack.refused >= max_refusals) {
    ack.refused = 0;
    if (consumer_gone_) return AckOutcome::kGone;
  }
  return AckOutcome::kRetry;
}

void NatsSource::GiveUp(const Ack& ack) {
  ++stats_->nats.possible_duplicates;
  LOG_EVERY_T(WARNING, 10)
      << "nats: gave up acknowledging message " << ack.sequence
      << ": nothing answers at its reply subject and the consumer is gone; "
         "counted as a possible duplicate";
  state_->NatsAckConfirmed(ack.sequence);
  // A consumer made again gives it out again: dropped then, as confirmed.
  TakeHeld(ack, absl::Now());
}

natsStatus NatsSource::ConsumerInfo(jsConsumerInfo** info, jsErrCode* code) {
  jsOptions opts = ApiOptions();
  return js_GetConsumerInfo(info, connection_->js(),
                            options_.stream.stream.c_str(),
                            options_.consumer.c_str(), &opts, code);
}

// An ack the server answers, as natsMsg_AckSync sends it.
natsStatus NatsSource::SendAck(const Ack& ack) {
  natsMsg* answer = nullptr;
  natsStatus s =
      natsConnection_RequestString(&answer, connection_->connection(),
                                   ack.reply.c_str(), "+ACK", kAckTimeoutMs);
  natsMsg_Destroy(answer);
  if (s != NATS_OK) {
    ++stats_->nats.ack_errors;
    LOG_EVERY_T(WARNING, 10) << NatsError(s, "nats ack") << " (retried; "
                             << stats_->nats.ack_errors.load() << " so far)";
    return s;
  }
  Confirmed(ack);
  return NATS_OK;
}

// The ack of `sequence` is confirmed: later snapshots and the dedup set
// leave it out. Late (its ack timer ran out first): the server may have
// given the message to another collector meanwhile.
void NatsSource::Confirmed(const Ack& ack) {
  const uint64_t sequence = ack.sequence;
  ++stats_->nats.acks;
  state_->NatsAckConfirmed(sequence);
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&mu_);
  const std::optional<absl::Time> touched = TakeHeld(ack, now);
  if (touched.has_value() && now - *touched > ack_wait()) {
    ++stats_->nats.possible_duplicates;
    LOG_EVERY_T(WARNING, 10)
        << "nats: an ack was confirmed after the ack wait; another "
           "collector may have been given message "
        << sequence << " too (nats.possible_duplicates)";
  }
}

std::optional<absl::Time> NatsSource::TakeHeld(const Ack& ack, absl::Time now) {
  const auto it = held_.find(ack.sequence);
  // Done before, or another delivery's ack is owed (the server acks by
  // sequence; the entry goes with the ack of its own delivery).
  if (it == held_.end() || it->second.reply != ack.reply) return std::nullopt;
  if (!it->second.remembered) {
    Remember(ack.sequence, ack.reply, it->second.batch, now);
  }
  const absl::Time touched = it->second.touched;
  held_.erase(it);
  return touched;
}

void NatsSource::Remember(uint64_t sequence, const std::string& reply,
                          const std::string& batch, absl::Time now) {
  // A checkpoint's ack of an older ziggyd, its batch unknown, is not
  // remembered: it would match any batch.
  if (batch.empty()) return;
  recent_.push_back({sequence, reply, now});
  confirmed_[sequence] = {batch, now};
  const absl::Duration remember_for = 2 * ack_wait() + kElectionMargin;
  while (recent_.size() > kRememberAtMost ||
         now - recent_.front().confirmed > remember_for) {
    const Recent& old = recent_.front();
    const auto it = confirmed_.find(old.sequence);
    if (it != confirmed_.end() && it->second.at == old.confirmed) {
      confirmed_.erase(it);
    }
    recent_.pop_front();
  }
}

void NatsSource::ReAckRecent() {
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&mu_);
  size_t again = 0;
  for (auto it = recent_.rbegin();
       it != recent_.rend() && now - it->confirmed <= ack_wait(); ++it) {
    const auto confirmed = confirmed_.find(it->sequence);
    if (confirmed == confirmed_.end() ||
        confirmed->second.at != it->confirmed) {
      continue;  // confirmed again since: its later entry goes
    }
    const bool queued =
        held_
            .try_emplace(it->sequence,
                         Held{it->reply, now, confirmed->second.batch,
                              /*remembered=*/true})
            .second;
    if (!queued) continue;  // delivered again meanwhile, or re-acked already
    // Fetching waits for these (ReadyToFetch): a message the server lost
    // the ack of is not given to another collector meanwhile.
    acks_.push_back({it->sequence, it->reply, now, true});
    acks_added_ = true;
    ++reacks_;
    ++again;
  }
  if (again > 0) {
    LOG(INFO) << "nats: reconnected or a new consumer leader; acknowledging "
                 "again the "
              << again << " messages acknowledged within the ack wait";
  }
}

// Written messages not acknowledged for ack_wait/3 (a disk that refuses,
// too little free space) are still being worked on: not to be redelivered.
// Each signal is a request the consumer's leader answers, and a message's
// ack timer counts as restarted only then: a consumer without a leader
// hears nothing, and an ack it confirms after the ack wait is counted as a
// possible duplicate (Confirmed).
void NatsSource::SignalInProgress() {
  if (!connection_->connected()) return;
  const absl::Time now = absl::Now();
  const absl::Duration due = ack_wait() / 3;
  struct Signal {
    absl::Time touched;
    uint64_t sequence;
    std::string reply;
  };
  std::vector<Signal> signals;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [sequence, held] : held_) {
      if (now - held.touched >= due) {
        signals.push_back({held.touched, sequence, held.reply});
      }
    }
  }
  // The longest waiting first; the rest next round if the budget runs out.
  std::sort(
      signals.begin(), signals.end(),
      [](const Signal& a, const Signal& b) { return a.touched < b.touched; });
  for (const Signal& signal : signals) {
    if (absl::Now() - now > kSignalBudget) return;
    natsMsg* answer = nullptr;
    const natsStatus s = natsConnection_RequestString(
        &answer, connection_->connection(), signal.reply.c_str(), "+WPI",
        kAckTimeoutMs);
    natsMsg_Destroy(answer);
    if (s != NATS_OK) return;  // the rest would go unheard too: next time
    ++stats_->nats.in_progress;
    state_->NatsAckTimerRestarted(
        signal.sequence, absl::ToDoubleSeconds(now - absl::UnixEpoch()));
    absl::MutexLock lock(&mu_);
    const auto it = held_.find(signal.sequence);
    if (it != held_.end() && it->second.reply == signal.reply) {
      it->second.touched = now;
    }
  }
}

bool NatsSource::WaitAcks(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return acks_.empty() && acks_in_flight_ == 0;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

void NatsSource::Stop() {
  if (connection_ == nullptr) return;
  StopFetching();
  WaitAcks(kStopAckGrace);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (ack_thread_.joinable()) ack_thread_.join();
  absl::MutexLock lock(&mu_);
  for (natsMsg* msg : fetched_) natsMsg_Destroy(msg);
  fetched_.clear();
  connection_.reset();
}

void NatsSource::FillStatus(Value::Map* nats) const {
  const CollectorStats::Nats& n = stats_->nats;
  size_t pending = 0;
  std::string leader;
  {
    absl::MutexLock lock(&mu_);
    pending = held_.size();
    leader = consumer_leader_;
  }
  const bool on = connection_ != nullptr;
  const Value::Map fields{
      {"servers", RedactNatsUrls(options_.stream.servers)},
      {"server", on ? connection_->server() : ""},
      {"connected", on && connection_->connected()},
      {"stream", options_.stream.stream},
      {"consumer", options_.consumer},
      {"ack_wait", absl::ToDoubleSeconds(ack_wait())},
      {"batches", CounterValue(n.batches)},
      {"events", CounterValue(n.events)},
      {"duplicates_dropped", CounterValue(n.duplicates)},
      {"acks", CounterValue(n.acks)},
      {"ack_errors", CounterValue(n.ack_errors)},
      {"redelivered", CounterValue(n.redelivered)},
      {"in_progress", CounterValue(n.in_progress)},
      {"rejected", CounterValue(n.rejected)},
      {"possible_duplicates", CounterValue(n.possible_duplicates)},
      {"pending_acks", static_cast<int64_t>(pending)},
      {"subscribed", subscribed_.load()},
      {"consumer_leader", leader},
      {"stalled", stalled_.load()},
      {"resubscribes", static_cast<int64_t>(resubscribes_.load())},
  };
  nats->insert(nats->end(), fields.begin(), fields.end());
}

}  // namespace ziggy
