#include "forwarder/relay_connection.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "client/net/endpoint.h"
#include "client/net/socket.h"
#include "forwarder/relay_batch.h"
#include "glog/logging.h"

namespace ziggy {
namespace {

constexpr absl::Duration kMinBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);
constexpr auto kReplyWait = std::chrono::milliseconds(10);

// `immediate`: refuse sends while not connected (batches), rather than
// queue them (pings, which should go out as soon as the peer is there).
// `curve`: CurveZMQ client keys, or plain text.
std::unique_ptr<zmq::socket_t> Connect(
    zmq::context_t& context, const std::string& address,
    const absl::optional<CurveSocketOptions>& curve, bool immediate = true) {
  SocketOptions options;
  options.curve = curve;
  options.send_high_water_mark = 1000;
  options.reconnect_interval_ms = 100;
  options.reconnect_interval_max_ms = 2000;
  options.immediate = immediate;
  auto socket = std::make_unique<zmq::socket_t>(
      MakeSocket(context, zmq::socket_type::dealer, options));
  absl::StatusOr<std::string> endpoint = TcpEndpoint(address);
  absl::Status connected =
      endpoint.ok() ? ConnectSocket(*socket, *endpoint) : endpoint.status();
  if (!connected.ok()) LOG(ERROR) << "relay: " << address << ": " << connected;
  return socket;
}

// A buffer lent to ZeroMQ, and the pool it goes back to.
struct Lent {
  std::shared_ptr<PayloadPool> pool;
  std::string bytes;
};

// A message that owns *bytes (left empty), so ZeroMQ sends the batch
// without copying it; once sent, the buffer goes back to `pool`.
zmq::message_t TakePayload(const std::shared_ptr<PayloadPool>& pool,
                           std::string* bytes) {
  auto* lent = new Lent{pool, std::move(*bytes)};
  bytes->clear();
  return zmq::message_t(
      lent->bytes.data(), lent->bytes.size(),
      [](void*, void* hint) {
        auto* lent = static_cast<Lent*>(hint);
        lent->pool->Give(std::move(lent->bytes));
        delete lent;
      },
      lent);
}

}  // namespace

std::string PayloadPool::Take() {
  absl::MutexLock lock(&mu_);
  if (free_.empty()) return std::string();
  std::string bytes = std::move(free_.back());
  free_.pop_back();
  return bytes;
}

void PayloadPool::Give(std::string bytes) {
  bytes.clear();
  absl::MutexLock lock(&mu_);
  if (free_.size() < kMaxFree) free_.push_back(std::move(bytes));
}

RelayConnection::RelayConnection(Spool* spool, const RelayOptions& options)
    : spool_(spool),
      options_(options),
      clock_(options.clock),
      send_from_(spool->acked()),
      backoff_(kMinBackoff) {}

void RelayConnection::SetUpstreams(std::vector<std::string> upstreams) {
  upstreams_ = std::move(upstreams);
  SwitchTo(0);
}

void RelayConnection::SwitchTo(size_t index) {
  current_ = index;
  socket_ = upstreams_.empty()
                ? nullptr
                : Connect(context_, upstreams_[current_], options_.curve);
  probe_.reset();
  blocked_since_ = absl::InfiniteFuture();
  if (!upstreams_.empty()) current_stats().state = "connecting";
  Rewind(spool_->acked());
}

void RelayConnection::Rewind(int64_t from) {
  for (const InFlight& f : in_flight_) retransmitted_ += f.count;
  in_flight_.clear();
  send_from_ = std::max(from, spool_->acked());
}

void RelayConnection::BackOff(absl::Duration delay) {
  resume_at_ = clock_->Now() + delay;
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
}

// ---- Fill the window ----

void RelayConnection::FillWindow() {
  const absl::Time now = clock_->Now();
  while (CanSend(now) && SendNext(now)) {
  }
}

bool RelayConnection::CanSend(absl::Time now) const {
  return socket_ != nullptr && now >= resume_at_ &&
         static_cast<int>(in_flight_.size()) < options_.window &&
         send_from_ < spool_->end_index();
}

bool RelayConnection::SendNext(absl::Time now) {
  // The last batch's buffer went to ZeroMQ: read into one it gave back.
  if (batch_.events.capacity() == 0) batch_.events = payloads_->Take();
  if (absl::Status s = spool_->Read(send_from_, options_.batch_events,
                                    options_.batch_bytes, &batch_);
      !s.ok()) {
    LOG_EVERY_N(ERROR, 100) << "relay: " << s;
    return false;
  }
  if (batch_.end == batch_.first) return false;
  RelayHeader header = RelayHeaderFor(*spool_, batch_);
  CompressIfSmaller(options_.zstd, options_.zstd_level, &batch_, &header,
                    &compressed_);
  if (!Send(EncodeRelayHeader(header), &batch_.events)) {
    // Not connected (sends are refused rather than queued) or full.
    if (blocked_since_ == absl::InfiniteFuture()) blocked_since_ = now;
    return false;
  }
  blocked_since_ = absl::InfiniteFuture();
  in_flight_.push_back({batch_.first, batch_.end, batch_.count, now});
  ++sent_batches_;
  ++current_stats().batches;
  send_from_ = batch_.end;
  return true;
}

bool RelayConnection::Send(const std::string& head, std::string* events) {
  zmq::message_t payload = TakePayload(payloads_, events);
  try {
    return socket_->send(zmq::buffer(head), zmq::send_flags::sndmore |
                                                zmq::send_flags::dontwait) &&
           socket_->send(payload, zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
    return false;
  }
}

// ---- Handle replies ----

void RelayConnection::Wait() {
  std::vector<zmq::pollitem_t> items;
  if (socket_ != nullptr)
    items.push_back({socket_->handle(), 0, ZMQ_POLLIN, 0});
  if (probe_ != nullptr) items.push_back({probe_->handle(), 0, ZMQ_POLLIN, 0});
  if (items.empty()) {
    absl::SleepFor(absl::FromChrono(kReplyWait));
  } else {
    zmq::poll(items.data(), items.size(), kReplyWait);
  }
}

void RelayConnection::HandleReplies() {
  Wait();
  zmq::message_t message;
  while (socket_ != nullptr &&
         socket_->recv(message, zmq::recv_flags::dontwait)) {
    absl::StatusOr<RelayReply> reply = ParseRelayReply(
        absl::string_view(message.data<char>(), message.size()));
    if (reply.ok()) HandleReply(*reply);
  }
}

void RelayConnection::HandleReply(const RelayReply& reply) {
  current_stats().state = "up";
  switch (reply.kind) {
    case RelayReply::Kind::kAck:
      OnAck(reply.index);
      break;
    case RelayReply::Kind::kResend:
      ++resend_requests_;
      Rewind(reply.index);
      break;
    case RelayReply::Kind::kError:
      OnError(reply);
      break;
    case RelayReply::Kind::kPong:
      break;
  }
}

void RelayConnection::OnAck(int64_t end) {
  ++current_stats().acks;
  backoff_ = kMinBackoff;
  while (!in_flight_.empty() && in_flight_.front().end <= end) {
    in_flight_.pop_front();
  }
  // After a rewind, never resend what is now acknowledged.
  send_from_ = std::max(send_from_, end);
  if (absl::Status s = spool_->Acknowledge(end); !s.ok()) {
    LOG_EVERY_N(ERROR, 100) << "spool: " << s;
  }
}

void RelayConnection::OnError(const RelayReply& reply) {
  UpstreamStats& up = current_stats();
  ++up.refusals;
  up.refused = reply.error;
  LOG_EVERY_T(ERROR, 10) << "relay: " << upstreams_[current_]
                         << " refused a batch: " << reply.error;
  if (reply.reason == kRefusedToken) {
    refused_ = true;  // this upstream will not take us: CheckTimeouts()
    return;
  }
  // A batch it will not take: start again from the acked mark after a
  // backoff, on the same upstream.
  Rewind(spool_->acked());
  BackOff(backoff_);
}

// ---- Check timeouts ----

void RelayConnection::CheckTimeouts() {
  // A silent or unreachable upstream is down: move on, after a jittered
  // backoff.
  const absl::Time now = clock_->Now();
  const bool silent = !in_flight_.empty() &&
                      now - in_flight_.front().sent > options_.ack_timeout;
  const bool unreachable = now - blocked_since_ > options_.ack_timeout;
  // A refusal (the collector answered {error}) is no better: back off and
  // try the next upstream, as for silence.
  if (silent || unreachable || refused_) FailOver(refused_);
  refused_ = false;
}

void RelayConnection::FailOver(bool refused) {
  blocked_since_ = absl::InfiniteFuture();
  UpstreamStats& up = current_stats();
  const size_t next = (current_ + 1) % upstreams_.size();
  if (refused) {
    up.state = "refused";
    LOG_EVERY_T(ERROR, 10) << "relay: " << upstreams_[current_]
                           << " binds this forwarder's id to another "
                           << "token; backing off, then trying "
                           << upstreams_[next];
  } else {
    ++up.timeouts;
    up.state = "down";
    LOG(WARNING) << "relay: no acknowledgement from " << upstreams_[current_]
                 << " in " << absl::FormatDuration(options_.ack_timeout)
                 << (options_.curve.has_value()
                         ? " (CurveZMQ: is --upstream-server-key its key?)"
                         : "")
                 << "; trying " << upstreams_[next];
  }
  SwitchTo(next);
  BackOff(backoff_ * std::uniform_real_distribution<double>(0.5, 1.5)(random_));
}

// ---- Probe the first upstream (failback) ----

void RelayConnection::Probe() {
  if (current_ == 0 || upstreams_.empty()) return;
  if (probe_ == nullptr) {
    if (clock_->Now() - probe_sent_ >= options_.failback_interval) SendPing();
    return;
  }
  zmq::message_t message;
  if (probe_->recv(message, zmq::recv_flags::dontwait)) {
    LOG(INFO) << "relay: " << upstreams_[0] << " is back; returning to it";
    SwitchTo(0);
  } else if (clock_->Now() - probe_sent_ > options_.ack_timeout) {
    probe_.reset();
  }
}

void RelayConnection::SendPing() {
  probe_ = Connect(context_, upstreams_[0], options_.curve,
                   /*immediate=*/false);
  probe_sent_ = clock_->Now();
  RelayHeader ping;
  ping.ping = true;
  const std::string bytes = EncodeRelayHeader(ping);
  try {
    probe_->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
  }
}

// ---- Status ----

Value RelayConnection::Status() const {
  Value::Map per_upstream;
  for (const std::string& address : upstreams_) {
    auto it = stats_.find(address);
    const UpstreamStats up = it == stats_.end() ? UpstreamStats() : it->second;
    per_upstream.emplace_back(address,
                              Value(Value::Map{{"state", up.state},
                                               {"batches", up.batches},
                                               {"acks", up.acks},
                                               {"timeouts", up.timeouts},
                                               {"refusals", up.refusals},
                                               {"refused", up.refused}}));
  }
  int64_t in_flight_events = 0;
  for (const InFlight& f : in_flight_) in_flight_events += f.count;
  return Value(Value::Map{
      {"current", upstreams_.empty() ? "" : upstreams_[current_]},
      {"upstreams", Value(std::move(per_upstream))},
      {"in_flight", in_flight_events},
      {"acked", spool_->acked()},
      {"sent_batches", sent_batches_},
      {"retransmitted", retransmitted_},
      {"resend_requests", resend_requests_},
      {"compression", options_.zstd ? "zstd" : "none"},
  });
}

}  // namespace ziggy
