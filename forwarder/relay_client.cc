#include "forwarder/relay_client.h"

#include <pthread.h>

#include <deque>
#include <memory>
#include <random>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "client/net/endpoint.h"
#include "common/relay_protocol.h"
#include "glog/logging.h"
#include "zmq.hpp"
#include "zmq_addon.hpp"

namespace ziggy {
namespace {

constexpr absl::Duration kMinBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);

struct InFlight {
  int64_t first;
  int64_t end;
  int32_t count;
  absl::Time sent;
};

// Per upstream counters for STATUS.
struct UpstreamStats {
  std::string state = "idle";
  uint64_t batches = 0;
  uint64_t acks = 0;
  uint64_t timeouts = 0;
  uint64_t refusals = 0;
  std::string refused;  // the last refusal's reason
};

// `immediate`: refuse sends while not connected (batches), rather than
// queue them (pings, which should go out as soon as the peer is there).
std::unique_ptr<zmq::socket_t> Connect(zmq::context_t& context,
                                       const std::string& address,
                                       bool immediate = true) {
  auto socket =
      std::make_unique<zmq::socket_t>(context, zmq::socket_type::dealer);
  socket->set(zmq::sockopt::linger, 0);
  socket->set(zmq::sockopt::sndhwm, 1000);
  socket->set(zmq::sockopt::reconnect_ivl, 100);
  socket->set(zmq::sockopt::reconnect_ivl_max, 2000);
  socket->set(zmq::sockopt::immediate, immediate ? 1 : 0);
  socket->set(zmq::sockopt::ipv6, 1);
  absl::StatusOr<std::string> endpoint = TcpEndpoint(address);
  try {
    if (endpoint.ok()) socket->connect(*endpoint);
  } catch (const zmq::error_t& e) {
    LOG(ERROR) << "relay: cannot connect to " << address << ": " << e.what();
  }
  return socket;
}

// A message that owns *bytes (left empty), so ZeroMQ sends the batch
// without copying it.
zmq::message_t TakePayload(std::string* bytes) {
  auto* owned = new std::string(std::move(*bytes));
  bytes->clear();
  return zmq::message_t(
      owned->data(), owned->size(),
      [](void*, void* hint) { delete static_cast<std::string*>(hint); }, owned);
}

}  // namespace

RelayClient::RelayClient(Spool* spool, RelayOptions options)
    : spool_(spool), options_(std::move(options)) {
  upstreams_ = options_.upstreams;
}

RelayClient::~RelayClient() { Stop(); }

void RelayClient::Start() { thread_ = std::thread(&RelayClient::Run, this); }

void RelayClient::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void RelayClient::SetUpstreams(std::vector<std::string> upstreams) {
  absl::MutexLock lock(&mu_);
  upstreams_ = std::move(upstreams);
  ++upstreams_version_;
}

std::vector<std::string> RelayClient::upstreams() const {
  absl::MutexLock lock(&mu_);
  return upstreams_;
}

Value RelayClient::Status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

void RelayClient::Run() {
  pthread_setname_np(pthread_self(), "forwarder-relay");
  zmq::context_t context(1);
  std::vector<std::string> upstreams;
  uint64_t version = ~uint64_t{0};
  size_t current = 0;
  std::unique_ptr<zmq::socket_t> socket;
  std::unique_ptr<zmq::socket_t> probe;  // pings the first upstream
  absl::Time probe_sent = absl::InfinitePast();
  std::deque<InFlight> in_flight;
  int64_t send_from = spool_->acked();
  absl::Duration backoff = kMinBackoff;
  absl::Time resume_at = absl::InfinitePast();
  absl::Time blocked_since = absl::InfiniteFuture();
  std::mt19937_64 random(std::random_device{}());
  absl::flat_hash_map<std::string, UpstreamStats> stats;
  uint64_t sent_batches = 0, retransmitted = 0, resend_requests = 0;
  absl::Time last_status = absl::InfinitePast();
  SpoolBatch batch;
  std::string compressed;

  // Forgets what is in flight and starts again from the acked mark.
  auto rewind = [&](int64_t from) {
    for (const InFlight& f : in_flight) retransmitted += f.count;
    in_flight.clear();
    send_from = std::max(from, spool_->acked());
  };
  auto switch_to = [&](size_t index) {
    current = index;
    socket = upstreams.empty() ? nullptr : Connect(context, upstreams[current]);
    probe.reset();
    blocked_since = absl::InfiniteFuture();
    if (!upstreams.empty()) stats[upstreams[current]].state = "connecting";
    rewind(spool_->acked());
  };

  while (!stop_.load()) {
    {
      absl::MutexLock lock(&mu_);
      if (version != upstreams_version_) {
        version = upstreams_version_;
        upstreams = upstreams_;
        LOG(INFO) << "relay: upstreams now " << absl::StrJoin(upstreams, ",");
        switch_to(0);
      }
    }
    const absl::Time now = absl::Now();
    // Fill the window.
    while (socket != nullptr && now >= resume_at &&
           static_cast<int>(in_flight.size()) < options_.window &&
           send_from < spool_->end_index()) {
      if (absl::Status s = spool_->Read(send_from, options_.batch_events,
                                        options_.batch_bytes, &batch);
          !s.ok()) {
        LOG_EVERY_N(ERROR, 100) << "relay: " << s;
        break;
      }
      if (batch.end == batch.first) break;
      RelayHeader header;
      header.forwarder = spool_->id();
      header.token = spool_->token();
      header.first = batch.first;
      header.end = batch.end;
      header.acked = spool_->acked();
      header.count = batch.count;
      header.size = static_cast<int64_t>(batch.events.size());
      // Compressed only where that makes it smaller.
      if (options_.zstd &&
          CompressPayload(batch.events, options_.zstd_level, &compressed)
              .ok() &&
          compressed.size() < batch.events.size()) {
        header.zstd = true;
        batch.events.swap(compressed);
      }
      const std::string head = EncodeRelayHeader(header);
      zmq::message_t payload = TakePayload(&batch.events);
      bool sent = false;
      try {
        sent = socket->send(zmq::buffer(head), zmq::send_flags::sndmore |
                                                   zmq::send_flags::dontwait) &&
               socket->send(payload, zmq::send_flags::dontwait);
      } catch (const zmq::error_t&) {
      }
      if (!sent) {
        // Not connected (sends are refused rather than queued) or full.
        if (blocked_since == absl::InfiniteFuture()) blocked_since = now;
        break;
      }
      blocked_since = absl::InfiniteFuture();
      in_flight.push_back({batch.first, batch.end, batch.count, now});
      ++sent_batches;
      ++stats[upstreams[current]].batches;
      send_from = batch.end;
    }
    // Wait for replies.
    std::vector<zmq::pollitem_t> items;
    if (socket != nullptr)
      items.push_back({socket->handle(), 0, ZMQ_POLLIN, 0});
    if (probe != nullptr) items.push_back({probe->handle(), 0, ZMQ_POLLIN, 0});
    if (items.empty()) {
      absl::SleepFor(absl::Milliseconds(10));
    } else {
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(10));
    }
    zmq::message_t message;
    bool refused = false;  // by token: this upstream will not take us
    while (socket != nullptr &&
           socket->recv(message, zmq::recv_flags::dontwait)) {
      absl::StatusOr<RelayReply> reply = ParseRelayReply(
          absl::string_view(message.data<char>(), message.size()));
      if (!reply.ok()) continue;
      UpstreamStats& up = stats[upstreams[current]];
      up.state = "up";
      switch (reply->kind) {
        case RelayReply::Kind::kAck:
          ++up.acks;
          backoff = kMinBackoff;
          while (!in_flight.empty() && in_flight.front().end <= reply->index) {
            in_flight.pop_front();
          }
          // After a rewind, never resend what is now acknowledged.
          send_from = std::max(send_from, reply->index);
          if (absl::Status s = spool_->Acknowledge(reply->index); !s.ok()) {
            LOG_EVERY_N(ERROR, 100) << "spool: " << s;
          }
          break;
        case RelayReply::Kind::kResend:
          ++resend_requests;
          rewind(reply->index);
          break;
        case RelayReply::Kind::kError: {
          ++up.refusals;
          up.refused = reply->error;
          LOG_EVERY_T(ERROR, 10) << "relay: " << upstreams[current]
                                 << " refused a batch: " << reply->error;
          if (reply->reason == kRefusedToken) {
            refused = true;  // try the next upstream, below
          } else {
            // A batch it will not take: start again from the acked mark
            // after a backoff, on the same upstream.
            rewind(spool_->acked());
            resume_at = absl::Now() + backoff;
            backoff = std::min(backoff * 2, kMaxBackoff);
          }
          break;
        }
        case RelayReply::Kind::kPong:
          break;
      }
    }
    // A silent or unreachable upstream is down: move on, after a jittered
    // backoff.
    const bool silent =
        !in_flight.empty() &&
        absl::Now() - in_flight.front().sent > options_.ack_timeout;
    const bool unreachable = absl::Now() - blocked_since > options_.ack_timeout;
    // A refusal (the collector answered {error}) is no better: back off
    // and try the next upstream, as for silence.
    if (silent || unreachable || refused) {
      blocked_since = absl::InfiniteFuture();
      UpstreamStats& up = stats[upstreams[current]];
      const std::string next = upstreams[(current + 1) % upstreams.size()];
      if (refused) {
        up.state = "refused";
        LOG_EVERY_T(ERROR, 10) << "relay: " << upstreams[current]
                               << " binds this forwarder's id to another "
                               << "token; backing off, then trying " << next;
      } else {
        ++up.timeouts;
        up.state = "down";
        LOG(WARNING) << "relay: no acknowledgement from " << upstreams[current]
                     << " in " << absl::FormatDuration(options_.ack_timeout)
                     << "; trying " << next;
      }
      switch_to((current + 1) % upstreams.size());
      const double jitter =
          std::uniform_real_distribution<double>(0.5, 1.5)(random);
      resume_at = absl::Now() + backoff * jitter;
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
    // On a backup: ping the first upstream, and go back when it answers.
    if (current != 0 && !upstreams.empty()) {
      if (probe == nullptr &&
          absl::Now() - probe_sent >= options_.failback_interval) {
        probe = Connect(context, upstreams[0], /*immediate=*/false);
        probe_sent = absl::Now();
        RelayHeader ping;
        ping.ping = true;
        const std::string bytes = EncodeRelayHeader(ping);
        try {
          probe->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
        } catch (const zmq::error_t&) {
        }
      } else if (probe != nullptr) {
        if (probe->recv(message, zmq::recv_flags::dontwait)) {
          LOG(INFO) << "relay: " << upstreams[0] << " is back; returning to it";
          switch_to(0);
        } else if (absl::Now() - probe_sent > options_.ack_timeout) {
          probe.reset();
        }
      }
    }
    if (absl::Now() - last_status >= absl::Milliseconds(100)) {
      last_status = absl::Now();
      Value::Map per_upstream;
      for (const std::string& address : upstreams) {
        const UpstreamStats& up = stats[address];
        per_upstream.emplace_back(address,
                                  Value(Value::Map{{"state", up.state},
                                                   {"batches", up.batches},
                                                   {"acks", up.acks},
                                                   {"timeouts", up.timeouts},
                                                   {"refusals", up.refusals},
                                                   {"refused", up.refused}}));
      }
      int64_t in_flight_events = 0;
      for (const InFlight& f : in_flight) in_flight_events += f.count;
      Value status(Value::Map{
          {"current", upstreams.empty() ? "" : upstreams[current]},
          {"upstreams", Value(std::move(per_upstream))},
          {"in_flight", in_flight_events},
          {"acked", spool_->acked()},
          {"sent_batches", sent_batches},
          {"retransmitted", retransmitted},
          {"resend_requests", resend_requests},
          {"compression", options_.zstd ? "zstd" : "none"},
      });
      absl::MutexLock lock(&mu_);
      status_ = std::move(status);
    }
  }
}

}  // namespace ziggy
