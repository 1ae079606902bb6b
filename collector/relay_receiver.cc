#include "collector/relay_receiver.h"

#include <sys/eventfd.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "client/net/socket.h"
#include "collector/relay_batch.h"
#include "glog/logging.h"
#include "zmq_addon.hpp"

namespace ziggy {
namespace {

// What a forwarder's id is bound to when it relays over CurveZMQ: this and
// its key's Z85 (a relay token is hex, so never looks like one).
constexpr absl::string_view kCurveTokenPrefix = "curve:";

absl::string_view View(const zmq::message_t& frame) {
  return absl::string_view(frame.data<char>(), frame.size());
}

// The relay port queues a few batches per forwarder; a zstd payload may be
// a little larger than what it holds.
SocketOptions RelaySocket(absl::optional<CurveSocketOptions> curve) {
  SocketOptions options;
  options.curve = std::move(curve);
  options.receive_high_water_mark = kRelayQueueBatches;
  options.max_message_bytes =
      static_cast<int64_t>(ZSTD_compressBound(kMaxRelayBatchBytes)) + 4096;
  return options;
}

}  // namespace

RelayReceiver::RelayReceiver(zmq::context_t& context, size_t max_forwarders,
                             Clock* clock, EventIntake* intake,
                             CollectorStats* stats, OnEvent on_event,
                             absl::optional<CurveSocketOptions> curve)
    : max_forwarders_(max_forwarders),
      clock_(clock),
      intake_(intake),
      stats_(stats),
      on_event_(std::move(on_event)),
      socket_(MakeSocket(context, zmq::socket_type::router,
                         RelaySocket(std::move(curve)))),
      ack_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      forwarders_(max_forwarders) {}

RelayReceiver::~RelayReceiver() {
  if (ack_fd_ >= 0) close(ack_fd_);
}

absl::Status RelayReceiver::Bind(const std::string& address,
                                 ZapHandler* handshakes) {
  if (handshakes != nullptr) {
    if (absl::Status s = handshakes->WatchHandshakes(socket_, "relay");
        !s.ok()) {
      return s;
    }
  }
  return BindSocket(socket_, address, "relay", &endpoint_);
}

void RelayReceiver::Start(const RelayState& recovered, EventWriter* writer) {
  writer_ = writer;
  std::string forgotten;
  for (const auto& [id, mark] : recovered.forwarders()) {
    forwarders_.Add(id, mark.token, &forgotten).next = mark.next;
    if (!forgotten.empty()) forgotten_.push_back(forgotten);
  }
}

void RelayReceiver::AddPollItems(bool receive,
                                 std::vector<zmq::pollitem_t>* items) {
  items->push_back({nullptr, ack_fd_, ZMQ_POLLIN, 0});
  if (receive && !endpoint_.empty()) {
    items->push_back({socket_.handle(), 0, ZMQ_POLLIN, 0});
  }
}

void RelayReceiver::Serve(const std::vector<zmq::pollitem_t>& items,
                          size_t first) {
  if (items[first].revents & ZMQ_POLLIN) SendAcks();
  if (items.size() > first + 1 && (items[first + 1].revents & ZMQ_POLLIN)) {
    HandleMessage();
  }
}

// One message from a forwarder: [identity, header, payload], or a ping.
void RelayReceiver::HandleMessage() {
  std::vector<zmq::message_t> frames;
  if (!ReceiveFrames(&frames) || frames.size() < 2) return;
  const std::string identity = frames[0].to_string();
  absl::StatusOr<RelayHeader> header = ParseRelayHeader(View(frames[1]));
  if (!header.ok()) return Refuse(identity, header.status().message());
  if (header->ping && frames.size() == 2) return Reply(identity, RelayPong());
  if (header->ping || frames.size() != 3) {
    return Refuse(identity, "a batch is two frames, header and payload");
  }
  // Over CurveZMQ the client's key speaks for it, not the header's token.
  const std::string key = CurveUserId(frames[1]);
  const std::string token =
      key.empty() ? header->token : absl::StrCat(kCurveTokenPrefix, key);
  HandleBatch(identity, *header, token, View(frames[2]));
}

bool RelayReceiver::ReceiveFrames(std::vector<zmq::message_t>* frames) {
  try {
    return zmq::recv_multipart(socket_, std::back_inserter(*frames),
                               zmq::recv_flags::dontwait)
        .has_value();
  } catch (const zmq::error_t& e) {
    LOG(ERROR) << "relay socket: " << e.what();
    return false;
  }
}

void RelayReceiver::HandleBatch(const std::string& identity,
                                const RelayHeader& header,
                                const std::string& token,
                                absl::string_view payload) {
  const double now = UnixSeconds(clock_->Now());
  ForwarderTable::Entry* forwarder = Admit(header, token, now);
  if (forwarder == nullptr) return RefuseToken(identity, header, token);
  // A forwarder's own `acked` may move it forward: it was acknowledged
  // up to there (perhaps by another collector). Only its token's holder
  // can claim it, so a jump costs no other forwarder anything.
  const int64_t expected = std::max(forwarder->next, header.acked);
  ++stats_->relay.batches;
  if (header.end <= expected) {
    // Already written (perhaps not yet durable): ack with the next
    // checkpoint, never before.
    stats_->relay.duplicates += header.count;
    return SubmitAck(identity, header, token, nullptr);
  }
  if (header.first != expected) {
    ++stats_->relay.resend_requests;
    return Reply(identity, RelayResend(expected));
  }
  std::unique_ptr<EventBatch> batch = TakeIn(identity, header, payload, now);
  if (batch == nullptr) return;
  NoteJump(*forwarder, header);
  forwarder->next = header.end;
  SubmitAck(identity, header, token, std::move(batch));
}

// The table's entry for the batch's forwarder, added (and its id bound to
// `token`) if new; null when the id is bound to another token.
ForwarderTable::Entry* RelayReceiver::Admit(const RelayHeader& header,
                                            const std::string& token,
                                            double now) {
  ForwarderTable::Entry* forwarder = forwarders_.Find(header.forwarder);
  if (forwarder != nullptr && forwarder->token != token) {
    if (!Rebind(forwarder, header, token)) return nullptr;
    forwarder->token = token;
  }
  if (forwarder == nullptr) {
    std::string forgotten;
    forwarder = &forwarders_.Add(header.forwarder, token, &forgotten);
    if (!forgotten.empty()) Forgot(std::move(forgotten));
  }
  forwarders_.Touch(*forwarder, now);
  return forwarder;
}

// An id recovered from a checkpoint older than tokens is bound now. One
// bound to a plain token moves to a CurveZMQ key once, by a batch that
// proves it holds that token (the forwarder turned CurveZMQ on); a key
// binding never moves.
bool RelayReceiver::Rebind(ForwarderTable::Entry* forwarder,
                           const RelayHeader& header,
                           const std::string& token) {
  if (forwarder->token.empty()) return true;
  if (!absl::StartsWith(token, kCurveTokenPrefix) ||
      absl::StartsWith(forwarder->token, kCurveTokenPrefix) ||
      forwarder->token != header.token) {
    return false;
  }
  LOG(INFO) << "relay: forwarder " << header.forwarder
            << " relays over CurveZMQ now: its id is bound to its key from "
               "here on, no longer to its token";
  return true;
}

void RelayReceiver::Forgot(std::string id) {
  LOG_EVERY_T(WARNING, 10)
      << "relay: more than " << max_forwarders_
      << " forwarders; forgot the one heard from least recently (" << id << "; "
      << forwarders_.forgotten() << " so far)";
  forgotten_.push_back(std::move(id));
  // Usually they go with the next acknowledgement; a flood of batches that
  // are never acknowledged must not pile them up.
  if (forgotten_.size() >= kForgottenPerBatch) {
    std::unique_ptr<EventBatch> batch = NewBatch();
    batch->forgotten.swap(forgotten_);
    writer_->Submit(std::move(batch));
  }
}

// The payload as a batch for the writer: decompressed, split into exactly
// `count` whole documents, each checked on its own (a malformed one is
// dropped and counted, the others kept). Null when refused.
std::unique_ptr<EventBatch> RelayReceiver::TakeIn(const std::string& identity,
                                                  const RelayHeader& header,
                                                  absl::string_view payload,
                                                  double now) {
  absl::StatusOr<std::unique_ptr<EventBatch>> batch =
      TakeInRelayBatch({intake_, on_event_, [this] { return NewBatch(); }},
                       header, payload, now, &docs_);
  if (!batch.ok()) {
    Refuse(identity, batch.status().message());
    return nullptr;
  }
  stats_->relay.events += docs_.size();
  return *std::move(batch);
}

void RelayReceiver::NoteJump(const ForwarderTable::Entry& forwarder,
                             const RelayHeader& header) {
  if (header.acked <= forwarder.next || forwarder.next <= 0) return;
  ++stats_->relay.jumps;
  LOG_EVERY_T(INFO, 10) << "relay: forwarder " << header.forwarder
                        << " moved on from " << forwarder.next << " to "
                        << header.acked
                        << " (acknowledged elsewhere meanwhile)";
}

std::unique_ptr<EventBatch> RelayReceiver::NewBatch() {
  std::unique_ptr<EventBatch> batch = writer_->NewBatch();
  batch->received = clock_->Now();
  return batch;
}

void RelayReceiver::SubmitAck(const std::string& identity,
                              const RelayHeader& header,
                              const std::string& token,
                              std::unique_ptr<EventBatch> batch) {
  if (batch == nullptr) batch = NewBatch();
  batch->acks.push_back({identity, header.forwarder, header.end, token});
  batch->forgotten.swap(forgotten_);
  forgotten_.clear();
  writer_->Submit(std::move(batch));
}

void RelayReceiver::SendAcks() {
  uint64_t value;
  if (read(ack_fd_, &value, sizeof value) <= 0) return;
  std::vector<RelayAck> acks;
  writer_->TakeAcks(&acks);
  for (const RelayAck& ack : acks) {
    ++stats_->relay.acked;
    Reply(ack.identity, RelayAckReply(ack.forwarder, ack.end));
  }
}

void RelayReceiver::Refuse(const std::string& identity, absl::string_view why) {
  const uint64_t rejected = ++stats_->relay.rejected;
  LOG_EVERY_T(WARNING, 10) << "relay: refused a batch: " << why << " ("
                           << rejected << " so far)";
  Reply(identity, RelayError(why));
}

void RelayReceiver::RefuseToken(const std::string& identity,
                                const RelayHeader& header,
                                const std::string& token) {
  const uint64_t refused = ++stats_->relay.refused_token;
  LOG_EVERY_T(WARNING, 10)
      << "relay: refused a batch for forwarder " << header.forwarder
      << " with a token or CurveZMQ key other than the one its id is bound "
         "to ("
      << refused << " so far)";
  const bool curve = absl::StartsWith(token, kCurveTokenPrefix);
  Reply(identity, RelayError(absl::StrCat("forwarder ", header.forwarder,
                                          " is bound to another ",
                                          curve ? "key" : "token"),
                             kRefusedToken));
}

void RelayReceiver::Reply(const std::string& identity,
                          const std::string& reply) {
  try {
    socket_.send(zmq::buffer(identity),
                 zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    socket_.send(zmq::buffer(reply), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    LOG_EVERY_N(WARNING, 100) << "relay reply: " << e.what();
  }
}

void RelayReceiver::FillStatus(Value::Map* relay) const {
  const CollectorStats::Relay& r = stats_->relay;
  Value::Map forwarders;
  forwarders_.ForEachRecent(
      kForwardersListed, [&](const ForwarderTable::Entry& f) {
        forwarders.emplace_back(
            f.id, Value(Value::Map{{"next", f.next}, {"last", f.last}}));
      });
  const Value::Map fields{
      {"batches", CounterValue(r.batches)},
      {"events", CounterValue(r.events)},
      {"acked", CounterValue(r.acked)},
      {"duplicates_dropped", CounterValue(r.duplicates)},
      {"resend_requests", CounterValue(r.resend_requests)},
      {"rejected", CounterValue(r.rejected)},
      {"refused_token", CounterValue(r.refused_token)},
      {"jumps", CounterValue(r.jumps)},
      {"forwarders_known", static_cast<int64_t>(forwarders_.size())},
      {"forgotten", forwarders_.forgotten()},
      {"checkpoints", CounterValue(stats_->checkpoints)},
      {"checkpoint_written", CounterValue(stats_->checkpoint_written)},
      {"rolled_back_bytes", CounterValue(stats_->rolled_back_bytes)},
      {"forwarders", Value(std::move(forwarders))},
  };
  relay->insert(relay->end(), fields.begin(), fields.end());
}

}  // namespace ziggy
