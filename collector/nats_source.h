// NatsSource: ziggyd --source=nats://...: relay batches pulled from the
// JetStream stream forwarders publish to (common/nats_stream.h), through one
// durable pull consumer shared by every collector that names it, written
// through the relay port's path, each message acknowledged only after the
// checkpoint that covers it (forwarder/RELAY.md, "NATS JetStream source").
//
// Threads:
//  - the fetch thread connects (retrying forever), makes the stream and the
//    consumer if missing, and fetches a message at a time, only while
//    the writer has room (`may_fetch`: --max-queued-bytes, --min-free-disk)
//    and the hand-off holds fewer than kHandOff messages: memory stays
//    bounded and the relay port's back-pressure holds here too. Each pull
//    request asks for one message (fetch_batch): a backlog that appears at
//    once (NATS electing a consumer leader, a collector restarting) is then
//    dealt out among the pool's waiting requests instead of going whole to
//    the first one. It subscribes only once the consumer has a leader, and
//    again after a reconnect or when the consumer's leader changed (a
//    subscription made before, in a NATS cluster, was seen to get nothing
//    while the new leader dealt everything to the rest of the pool);
//  - the receive thread (the collector's; it owns the EventWriter hand-off)
//    polls ready_fd() and, per message (Serve): checks it is a batch
//    (ParseBatchMessage) on its forwarder's subject (BatchSubject), drops
//    it when it is a batch this collector wrote under that stream sequence
//    (a redelivery; Dedup below), else takes it in as the relay
//    port does (TakeInRelayBatch) and hands it to the writer with the ack it
//    owes. Malformed messages are terminated (natsMsg_Term), counted and
//    logged at a bounded rate;
//  - the ack thread sends the acks the writer's checkpoints release
//    (TakeAcks), each a request answered by the server (AckSync), retried
//    until confirmed (a round stops at an ack that timed out); a confirmed
//    ack leaves the next snapshot, and moves from the written set to the
//    confirmed one. After kIdleCheck without a message it asks NATS about
//    the consumer (STATUS nats.stalled, nats.consumer_leader): messages
//    waiting or going to other collectors and none coming here for two
//    checks in a row, a new leader, or the consumer deleted make the fetch
//    thread subscribe again (nats.resubscribes; Subscribe() makes a
//    deleted consumer again); no leader is logged. Every ack_wait/6 it
//    also tells NATS it is still working on written messages not acked for
//    ack_wait/3 ("+WPI", as a request the consumer's leader answers, at
//    most kSignalBudget a round), so a batch held by a refusing or full
//    disk is not redelivered meanwhile. After a reconnect it acks again what it
//    acked within the ack wait (a NATS server stopping may confirm an ack it
//    never stores), and the fetch thread fetches again once those are confirmed
//    (or the ack wait passed), as after a start. So does a new consumer leader
//    (a fetch answered "Leadership Change", or the idle check): the re-acks are
//    queued at once, before the new subscription fetches, to reach that
//    leader before it gives those messages to another collector (it does
//    once their ack wait has run out). An ack that nothing answers for
//    twice the ack wait is given up (counted as a possible duplicate) once
//    NATS says the consumer is gone; while it exists (a NATS cluster
//    electing its leader) the ack goes on.
//
// Dedup. A forwarder's batches in the stream never overlap (its publish
// chain), so a message's stream sequence names its events. A redelivery is
// checked against the sequences written and not confirmed, and against
// those confirmed in the last 2 × ack_wait + 60 s (at most 65,536):
// nats-server 2.9 confirms an ack (AckSync) before its consumer's replicas
// store it, so a consumer leader killed then gives out again messages
// whose acks it confirmed, once the cluster has elected another. Such a
// message is dropped and acknowledged again (STATUS
// nats.duplicates_dropped). Each entry names its batch
// (`<forwarder>:<first>-<end>`, BatchKey()): a sequence that comes back
// with another batch (a stream made again numbers from 1) is taken in, not
// dropped, and logged. (The relay's per-forwarder `next` does not work
// when each collector sees only some batches, and redeliveries come out
// of order.) Checkpoints record the committed, unconfirmed acks with their
// batches (RelayState); at start they seed the written set and are
// re-acked before fetching. Those of an older ziggyd's checkpoint have no
// batch: they match any while held, and are not remembered once
// confirmed.
//
// Thread-safety: Start(), AddPollItems(), Serve(), StopFetching() and
// Stop() from the receive thread; TakeAcks() from any thread (the writer's);
// FillStatus() from the receive thread.

#ifndef ZIGGY_COLLECTOR_NATS_SOURCE_H_
#define ZIGGY_COLLECTOR_NATS_SOURCE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/format/value.h"
#include "collector/event_writer.h"
#include "collector/relay_state.h"
#include "collector/stats.h"
#include "common/clock.h"
#include "common/daemon_sockets.h"
#include "common/intake.h"
#include "common/nats_stream.h"
#include "common/relay_port.h"
#include "zmq.hpp"

namespace ziggy {

struct NatsSourceOptions {
  NatsStreamOptions stream;         // servers, stream, subject prefix
  std::string consumer = "ziggyd";  // --nats-consumer: durable, shared
  // --nats-ack-wait, for a consumer this collector creates; an existing
  // consumer's own ack wait is used as it is.
  absl::Duration ack_wait = absl::Seconds(30);
  // Unacknowledged messages the consumer lets the whole pool hold. A
  // collector holds at most its writer queue's worth (--max-queued-bytes)
  // plus two fetches; 1024 batches of ~1 MiB keep several collectors busy
  // through a checkpoint's fsync without letting a stalled one sit on much.
  int64_t max_ack_pending = 1024;
  // Messages per pull request. One: each request takes one message, so
  // the pool's waiting requests share a burst; a larger batch lets the
  // first request take up to that many at once (the rest of the pool
  // idle).
  int fetch_batch = 1;
};

// kInvalidArgument unless the consumer name is usable (no spaces, dots,
// '*', '>', '/' or '\\') and the ack wait is at least a second.
absl::Status ValidateNatsSourceOptions(const NatsSourceOptions& options);

class NatsSource {
 public:
  // Whether the writer takes more now (called on the fetch thread).
  using MayFetch = std::function<bool()>;

  NatsSource(NatsSourceOptions options, Clock* clock, EventIntake* intake,
             CollectorStats* stats, DaemonSockets::OnEvent on_event);
  ~NatsSource();  // Stop()
  NatsSource(const NatsSource&) = delete;
  NatsSource& operator=(const NatsSource&) = delete;

  // Makes the eventfd and the connection (which goes on connecting in the
  // background while NATS is down). kInternal when either cannot be made.
  absl::Status Init();

  // Seeds the dedup set with the acks `state` recovered (re-acked before
  // fetching; counted as possible duplicates when their recorded ack timer
  // is more than the ack wait old: --nats-ack-wait's, as the consumer's is
  // not known yet) and starts the threads. `state` learns of confirmed
  // acks. REQUIRES: Init() succeeded.
  void Start(RelayState* state, EventWriter* writer, MayFetch may_fetch);

  // The writer's sink for the NATS acks its checkpoints release.
  void TakeAcks(std::vector<RelayAck> acks);

  // The fd that is readable while fetched messages wait.
  int ready_fd() const { return ready_fd_; }
  void AddPollItems(std::vector<zmq::pollitem_t>* items);
  // After zmq::poll on items whose AddPollItems() part starts at
  // items[first]: takes in the messages waiting.
  void Serve(const std::vector<zmq::pollitem_t>& items, size_t first);

  // Stops fetching, then takes in what was fetched already.
  void StopFetching();
  // Waits up to `timeout` until every ack handed over is confirmed.
  bool WaitAcks(absl::Duration timeout);
  // Gives the acks handed over up to 2 s, then stops the threads and
  // closes the connection. Idempotent.
  void Stop();

  // STATUS nats: servers, server, connected, stream, consumer, ack_wait,
  // batches, events, duplicates_dropped, acks, ack_errors, redelivered,
  // in_progress, rejected, possible_duplicates, pending_acks, subscribed
  // (pulling through the consumer now), consumer_leader (the NATS server
  // leading the consumer as last asked while idle; "" while it has none
  // or before asking), stalled (the last idle check found messages
  // waiting that do not come here, or the consumer without a leader or
  // not answering), resubscribes (times it subscribed again for that).
  void FillStatus(Value::Map* nats) const;

 private:
  struct Ack {
    uint64_t sequence;
    std::string reply;
    absl::Time next_try;
    bool reack;       // of the recovered checkpoint's
    int refused = 0;  // times nobody answered at `reply`
  };
  // A message written and not confirmed acknowledged.
  struct Held {
    std::string reply;
    absl::Time touched;  // delivered or last told in progress
    std::string batch;   // BatchKey(); "" when not known (an old checkpoint's)
    // Already in recent_ (a re-ack, or a confirmed message given out
    // again): its confirmation is not remembered again.
    bool remembered = false;
  };
  // A message whose ack NATS confirmed (or that was given up).
  struct Recent {
    uint64_t sequence;
    std::string reply;
    absl::Time confirmed;
  };
  struct Confirmation {
    std::string batch;
    absl::Time at;  // of the latest Recent entry of its sequence
  };
  // What a fetched message is to the dedup set.
  enum class Seen {
    kNew,        // take it in
    kHeld,       // written, its ack not confirmed yet: drop it
    kConfirmed,  // written and acknowledged, given out again: drop, re-ack
  };

  absl::Duration ack_wait() const {
    return absl::Nanoseconds(ack_wait_ns_.load());
  }
  void FetchLoop();
  // Stream, consumer and pull subscription; kUnavailable to retry later.
  absl::Status Subscribe();
  absl::Status EnsureConsumer();
  bool ReadyToFetch();
  void Fetch();
  bool ResubscribeIfWanted();
  void AckLoop();
  // On the ack thread (the fetch thread keeps pulling meanwhile): every
  // kIdleCheck without a message asks NATS about the consumer, and has the
  // fetch thread subscribe again when messages wait that never come, or
  // the consumer is gone (Subscribe() makes it again).
  void WatchIdle();
  // What the idle check makes of the consumer's info.
  enum class Idle { kFine, kNoLeader, kNewLeader, kStarved, kGone, kNoAnswer };
  Idle CheckConsumer();
  bool DeliveredElsewhere(uint64_t delivered);
  void WantResubscribe(std::string why);
  // The consumer has a new leader: resubscribe, and ack again what was
  // acked within the ack wait (the old leader may have lost those acks).
  void NewLeader();
  // Sends the due acks (a round ends early at an ack that timed out).
  void SendDueAcks();
  // What became of one ack's try.
  enum class AckOutcome {
    kDone,     // confirmed
    kRetry,    // try again later
    kStalled,  // timed out: try again later, and the rest of the round too
    kGone,     // nobody answers and its consumer is gone: given up
  };
  AckOutcome TryAck(Ack& ack);
  // At most every kConsumerCheck: whether the consumer is gone.
  void CheckConsumerForAcks(absl::Time now);
  natsStatus SendAck(const Ack& ack);
  // Drops an ack nobody answered for twice the ack wait, its consumer
  // gone: it leaves the snapshots, and is remembered as confirmed.
  void GiveUp(const Ack& ack) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The consumer's info, asked with kApiTimeoutMs.
  natsStatus ConsumerInfo(jsConsumerInfo** info, jsErrCode* code);
  void Confirmed(const Ack& ack);
  // The ack of its own delivery is done (confirmed, or given up): its
  // message leaves held_ for the confirmed set (unless remembered there
  // already). Its touched time; nullopt when held_ had no such entry.
  std::optional<absl::Time> TakeHeld(const Ack& ack, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a reconnect or a new consumer leader: the acks confirmed within
  // the ack wait go again, and their sequences count as written until
  // confirmed again.
  void ReAckRecent();
  // Adds a confirmed (or given up) ack to recent_ and confirmed_, which
  // keep those of the last 2 × ack_wait + kElectionMargin, at most
  // kRememberAtMost; not one whose batch is unknown.
  void Remember(uint64_t sequence, const std::string& reply,
                const std::string& batch, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SignalInProgress();

  void TakeIn(natsMsg* msg);
  // What `sequence`, delivered now as `batch` with `reply`, is to the
  // dedup set; a held one is touched with its new reply subject, a
  // confirmed one held again (its ack is owed anew).
  Seen Redelivered(uint64_t sequence, const std::string& batch,
                   const std::string& reply);
  // Hands `batch` (a new empty one when null) to the writer with the ack
  // the message owes; `batch_key` is BatchKey(header).
  void Submit(uint64_t sequence, const std::string& reply,
              const RelayHeader& header, const std::string& batch_key,
              std::unique_ptr<EventBatch> batch);
  void Reject(natsMsg* msg, absl::string_view why);

  const NatsSourceOptions options_;
  Clock* const clock_;
  EventIntake* const intake_;
  CollectorStats* const stats_;
  const DaemonSockets::OnEvent on_event_;
  int ready_fd_ = -1;
  std::unique_ptr<NatsConnection> connection_;
  RelayState* state_ = nullptr;
  EventWriter* writer_ = nullptr;
  MayFetch may_fetch_;
  RelayPayload payload_;              // of the batch in hand (receive thread)
  std::atomic<int64_t> ack_wait_ns_;  // the consumer's, once known

  // Reconnects whose recent acks the ack thread has queued again (the
  // fetch thread waits for it, then for those acks).
  std::atomic<uint64_t> reconnects_reacked_{0};

  // Fetch thread only.
  natsSubscription* subscription_ = nullptr;
  absl::Time reack_deadline_ = absl::InfiniteFuture();
  uint64_t subscribed_reconnects_ = 0;  // connection_->reconnects() then

  // Ack thread only (the consumer as acks last found it).
  absl::Time consumer_checked_ = absl::InfinitePast();
  bool consumer_gone_ = false;

  // Ack thread only (the idle check).
  absl::Time next_idle_check_;
  int starved_checks_ = 0;       // idle checks in a row with messages waiting
  int64_t idle_spell_ns_ = -1;   // last_message_ns_ the spell began after
  uint64_t idle_delivered_ = 0;  // the consumer's delivered sequence then

  // Set by the fetch thread, read by the idle check and STATUS.
  std::atomic<int64_t> last_message_ns_{0};  // fetched, or subscribed
  std::atomic<bool> subscribed_{false};
  std::atomic<bool> stalled_{false};
  std::atomic<uint64_t> resubscribes_{0};

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_fetching_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<natsMsg*> fetched_ ABSL_GUARDED_BY(mu_);
  std::deque<Ack> acks_ ABSL_GUARDED_BY(mu_);
  size_t acks_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool acks_added_ ABSL_GUARDED_BY(mu_) = false;  // wakes the ack thread
  size_t reacks_ ABSL_GUARDED_BY(mu_) = 0;        // re-acks not yet confirmed
  absl::flat_hash_map<uint64_t, Held> held_ ABSL_GUARDED_BY(mu_);
  // The acks confirmed lately (Remember()), oldest first, and by
  // sequence (for dedup; ReAckRecent() takes those of the ack wait). A
  // NATS server stopped, or a consumer leader killed, just after
  // confirming an ack may not have stored it, and gives the message out
  // again.
  std::deque<Recent> recent_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Confirmation> confirmed_ ABSL_GUARDED_BY(mu_);
  std::string consumer_leader_ ABSL_GUARDED_BY(mu_);
  std::string resubscribe_why_ ABSL_GUARDED_BY(mu_);  // asked for when set
  // The consumer's leader when this subscription was made.
  std::string subscribed_leader_ ABSL_GUARDED_BY(mu_);

  std::thread fetch_thread_;
  std::thread ack_thread_;
};

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_NATS_SOURCE_H_
