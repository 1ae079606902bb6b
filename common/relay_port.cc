#include "common/relay_port.h"

#include <zstd.h>

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/format/wire.h"
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

absl::Status SplitRelayPayload(absl::string_view payload, int32_t count,
                               std::vector<absl::string_view>* docs) {
  docs->clear();
  if (!payload.empty() && !SplitMessage(payload, docs)) {
    return absl::InvalidArgumentError(
        absl::StrCat("payload framing: document lengths do not tile the ",
                     payload.size(), "-byte payload"));
  }
  for (size_t i = 0; i < docs->size(); ++i) {
    if ((*docs)[i].back() != '\0') {
      return absl::InvalidArgumentError(absl::StrCat(
          "payload framing: document ", i, " does not end with a NUL byte"));
    }
  }
  if (docs->size() != static_cast<size_t>(count)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "payload holds ", docs->size(), " documents, header says ", count));
  }
  return absl::OkStatus();
}

absl::Status RelayPayload::Decode(const RelayHeader& header,
                                  absl::string_view payload) {
  docs_.clear();
  bytes_ = payload;
  if (absl::Status s = DecompressPayload(header, &bytes_, &storage_); !s.ok()) {
    return s;
  }
  return SplitRelayPayload(bytes_, header.count, &docs_);
}

RelayPort::RelayPort(zmq::context_t& context, absl::string_view name,
                     size_t max_forwarders, RelayCounters* counters,
                     absl::optional<CurveSocketOptions> curve,
                     OnForgotten forgotten)
    : name_(name),
      max_forwarders_(max_forwarders),
      counters_(counters),
      on_forgotten_(std::move(forgotten)),
      socket_(MakeSocket(context, zmq::socket_type::router,
                         RelaySocket(std::move(curve)))),
      forwarders_(max_forwarders) {}

absl::Status RelayPort::Bind(const std::string& address,
                             ZapHandler* handshakes) {
  if (handshakes != nullptr) {
    if (absl::Status s = handshakes->WatchHandshakes(socket_, name_); !s.ok()) {
      return s;
    }
  }
  return BindSocket(socket_, address, name_, &endpoint_);
}

// One message from a forwarder: [identity, header, payload], or a ping.
bool RelayPort::Receive(RelayBatchIn* batch) {
  frames_.clear();
  try {
    if (!zmq::recv_multipart(socket_, std::back_inserter(frames_),
                             zmq::recv_flags::dontwait)) {
      return false;
    }
  } catch (const zmq::error_t& e) {
    LOG(ERROR) << name_ << " socket: " << e.what();
    return false;
  }
  if (frames_.size() < 2) return false;
  batch->identity = frames_[0].to_string();
  absl::StatusOr<RelayHeader> header = ParseRelayHeader(View(frames_[1]));
  if (!header.ok()) {
    Refuse(batch->identity, header.status().message());
    return false;
  }
  if (header->ping && frames_.size() == 2) {
    Reply(batch->identity, RelayPong());
    return false;
  }
  if (header->ping || frames_.size() != 3) {
    Refuse(batch->identity, "a batch is two frames, header and payload");
    return false;
  }
  // Over CurveZMQ the client's key speaks for it, not the header's token.
  const std::string key = CurveUserId(frames_[1]);
  batch->token =
      key.empty() ? header->token : absl::StrCat(kCurveTokenPrefix, key);
  batch->header = *std::move(header);
  batch->payload = View(frames_[2]);
  return true;
}

RelayPort::Verdict RelayPort::Admit(const RelayBatchIn& batch, double now,
                                    ForwarderTable::Entry** forwarder) {
  const RelayHeader& header = batch.header;
  *forwarder = Bound(header, batch.token, now);
  if (*forwarder == nullptr) {
    RefuseToken(batch);
    return Verdict::kAnswered;
  }
  // A forwarder's own `acked` may move it forward: it was acknowledged
  // up to there (perhaps elsewhere). Only its token's holder can claim it,
  // so a jump costs no other forwarder anything.
  const int64_t expected = std::max((*forwarder)->next, header.acked);
  ++counters_->batches;
  if (header.end <= expected) {
    counters_->duplicates += header.count;
    return Verdict::kDuplicate;
  }
  if (header.first != expected) {
    ++counters_->resend_requests;
    Reply(batch.identity, RelayResend(expected));
    return Verdict::kAnswered;
  }
  return Verdict::kTakeIn;
}

// The table's entry for the batch's forwarder, added (and its id bound to
// `token`) if new; null when the id is bound to another token.
ForwarderTable::Entry* RelayPort::Bound(const RelayHeader& header,
                                        const std::string& token, double now) {
  ForwarderTable::Entry* forwarder = forwarders_.Find(header.forwarder);
  if (forwarder != nullptr && forwarder->token != token) {
    if (!Rebind(forwarder, header, token)) return nullptr;
    forwarder->token = token;
  }
  if (forwarder == nullptr) {
    std::string forgotten;
    forwarder = &forwarders_.Add(header.forwarder, token, &forgotten);
    if (!forgotten.empty()) {
      LOG_EVERY_T(WARNING, 10)
          << name_ << ": more than " << max_forwarders_
          << " forwarders; forgot the one heard from least recently ("
          << forgotten << "; " << forwarders_.forgotten() << " so far)";
      on_forgotten_(std::move(forgotten));
    }
  }
  forwarders_.Touch(*forwarder, now);
  return forwarder;
}

// An id recovered from a checkpoint older than tokens is bound now. One
// bound to a plain token moves to a CurveZMQ key once, by a batch that
// proves it holds that token (the forwarder turned CurveZMQ on); a key
// binding never moves.
bool RelayPort::Rebind(ForwarderTable::Entry* forwarder,
                       const RelayHeader& header, const std::string& token) {
  if (forwarder->token.empty()) return true;
  if (!absl::StartsWith(token, kCurveTokenPrefix) ||
      absl::StartsWith(forwarder->token, kCurveTokenPrefix) ||
      forwarder->token != header.token) {
    return false;
  }
  LOG(INFO) << name_ << ": forwarder " << header.forwarder
            << " relays over CurveZMQ now: its id is bound to its key from "
               "here on, no longer to its token";
  return true;
}

void RelayPort::Advance(ForwarderTable::Entry* forwarder,
                        const RelayHeader& header) {
  if (header.acked > forwarder->next && forwarder->next > 0) {
    ++counters_->jumps;
    LOG_EVERY_T(INFO, 10) << name_ << ": forwarder " << header.forwarder
                          << " moved on from " << forwarder->next << " to "
                          << header.acked
                          << " (acknowledged elsewhere meanwhile)";
  }
  forwarder->next = header.end;
}

void RelayPort::Restore(const std::string& id, const std::string& token,
                        int64_t next) {
  std::string forgotten;
  forwarders_.Add(id, token, &forgotten).next = next;
  if (!forgotten.empty()) on_forgotten_(std::move(forgotten));
}

void RelayPort::Ack(const std::string& identity, absl::string_view forwarder,
                    int64_t end) {
  ++counters_->acked;
  Reply(identity, RelayAckReply(forwarder, end));
}

void RelayPort::Refuse(const std::string& identity, absl::string_view why) {
  const uint64_t rejected = ++counters_->rejected;
  LOG_EVERY_T(WARNING, 10) << name_ << ": refused a batch: " << why << " ("
                           << rejected << " so far)";
  Reply(identity, RelayError(why));
}

void RelayPort::RefuseToken(const RelayBatchIn& batch) {
  const uint64_t refused = ++counters_->refused_token;
  LOG_EVERY_T(WARNING, 10)
      << name_ << ": refused a batch for forwarder " << batch.header.forwarder
      << " with a token or CurveZMQ key other than the one its id is bound "
         "to ("
      << refused << " so far)";
  const bool curve = absl::StartsWith(batch.token, kCurveTokenPrefix);
  Reply(
      batch.identity,
      RelayError(absl::StrCat("forwarder ", batch.header.forwarder,
                              " is bound to another ", curve ? "key" : "token"),
                 kRefusedToken));
}

void RelayPort::Reply(const std::string& identity, const std::string& reply) {
  try {
    socket_.send(zmq::buffer(identity),
                 zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    socket_.send(zmq::buffer(reply), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    LOG_EVERY_N(WARNING, 100) << name_ << " reply: " << e.what();
  }
}

void RelayPort::FillCounters(Value::Map* status) const {
  auto value = [](const RelayCounters::Counter& counter) {
    return counter.load(std::memory_order_relaxed);
  };
  const RelayCounters& r = *counters_;
  const Value::Map fields{
      {"batches", value(r.batches)},
      {"events", value(r.events)},
      {"acked", value(r.acked)},
      {"duplicates_dropped", value(r.duplicates)},
      {"resend_requests", value(r.resend_requests)},
      {"rejected", value(r.rejected)},
      {"refused_token", value(r.refused_token)},
      {"jumps", value(r.jumps)},
      {"forwarders_known", static_cast<int64_t>(forwarders_.size())},
      {"forgotten", forwarders_.forgotten()},
  };
  status->insert(status->end(), fields.begin(), fields.end());
}

Value RelayPort::Forwarders() const {
  Value::Map forwarders;
  forwarders_.ForEachRecent(
      kForwardersListed, [&](const ForwarderTable::Entry& f) {
        forwarders.emplace_back(
            f.id, Value(Value::Map{{"next", f.next}, {"last", f.last}}));
      });
  return Value(std::move(forwarders));
}

}  // namespace ziggy
