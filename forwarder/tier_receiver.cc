#include "forwarder/tier_receiver.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"

namespace ziggy {

TierReceiver::TierReceiver(zmq::context_t& context, size_t max_forwarders,
                           Spool* spool, EventIntake* intake, OnEvent on_event,
                           absl::optional<CurveSocketOptions> curve)
    : spool_(spool),
      intake_(intake),
      on_event_(std::move(on_event)),
      // A forgotten downstream's mark stays in the spool until its segment
      // goes; its resend is then taken as a new forwarder's.
      port_(context, "relay", max_forwarders, &counters_, std::move(curve),
            [](std::string) {}) {}

absl::Status TierReceiver::Bind(const std::string& address,
                                ZapHandler* handshakes) {
  // Oldest first, so the table forgets the least recent if it must.
  std::vector<std::pair<std::string, DownstreamMark>> marks(
      spool_->recovered_downstream().begin(),
      spool_->recovered_downstream().end());
  std::sort(marks.begin(), marks.end(), [](const auto& a, const auto& b) {
    return a.second.at < b.second.at;
  });
  for (const auto& [id, mark] : marks) port_.Restore(id, mark.token, mark.next);
  return port_.Bind(address, handshakes);
}

void TierReceiver::AddPollItems(std::vector<zmq::pollitem_t>* items) {
  items->push_back({port_.handle(), 0, ZMQ_POLLIN, 0});
}

void TierReceiver::Serve(const std::vector<zmq::pollitem_t>& items,
                         size_t first) {
  if (!(items[first].revents & ZMQ_POLLIN)) return;
  RelayBatchIn in;
  if (port_.Receive(&in)) HandleBatch(in);
}

void TierReceiver::HandleBatch(const RelayBatchIn& in) {
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  ForwarderTable::Entry* forwarder = nullptr;
  const RelayPort::Verdict verdict = port_.Admit(in, now, &forwarder);
  if (verdict == RelayPort::Verdict::kAnswered) return;
  // A duplicate is acknowledged once its original is durable.
  if (verdict == RelayPort::Verdict::kDuplicate) return Wait(in);
  if (!TakeIn(in, now)) return;
  port_.Advance(forwarder, in.header);
  Wait(in);
}

bool TierReceiver::TakeIn(const RelayBatchIn& in, double now) {
  if (absl::Status s = payload_.Decode(in.header, in.payload); !s.ok()) {
    port_.Refuse(in.identity, s.message());
    return false;
  }
  CollectEvents(now);
  std::vector<absl::string_view> events;
  events.reserve(spans_.size());
  for (const auto& [at, size] : spans_) {
    events.emplace_back(events_.data() + at, size);
  }
  DownstreamMark mark;
  mark.token = in.token;
  mark.next = in.header.end;
  if (absl::Status s =
          spool_->AppendBatch(in.header.forwarder, std::move(mark), events);
      !s.ok()) {
    RefuseSpooling(in.identity, s);
    return false;
  }
  counters_.events += payload_.documents().size();
  for (size_t i = 0; i < events.size(); ++i) {
    EventFields fields;
    fields.type = events[i].substr(types_[i].first, types_[i].second);
    on_event_(events[i], fields);
  }
  return true;
}

void TierReceiver::CollectEvents(double now) {
  events_.clear();
  spans_.clear();
  types_.clear();
  events_.reserve(payload_.bytes().size());
  payload_.ForEachEvent(intake_, now,
                        [&](absl::string_view doc, const EventFields& fields) {
                          spans_.emplace_back(events_.size(), doc.size());
                          types_.emplace_back(fields.type.data() - doc.data(),
                                              fields.type.size());
                          events_.append(doc.data(), doc.size());
                        });
}

void TierReceiver::RefuseSpooling(const std::string& identity,
                                  const absl::Status& why) {
  const bool full = absl::IsResourceExhausted(why);
  const uint64_t count = full ? ++refused_full_ : ++spool_errors_;
  LOG_EVERY_T(WARNING, 10) << "relay: could not spool a downstream batch ("
                           << count << " so far): " << why;
  port_.Reply(identity,
              RelayError(absl::StrCat(full ? "spool full at the tier: "
                                           : "spool write failed at the "
                                             "tier: ",
                                      why.message())));
}

void TierReceiver::Wait(const RelayBatchIn& in) {
  pending_.push_back(
      {in.identity, in.header.forwarder, in.header.end, spool_->end_index()});
  if (std::max(spool_->synced_index(), spool_->acked()) < spool_->end_index()) {
    spool_->SyncSoon();
  }
}

void TierReceiver::SendAcks() {
  const int64_t durable = std::max(spool_->synced_index(), spool_->acked());
  while (!pending_.empty() && pending_.front().need <= durable) {
    const PendingAck& ack = pending_.front();
    port_.Ack(ack.identity, ack.forwarder, ack.end);
    pending_.pop_front();
  }
}

void TierReceiver::FillStatus(Value::Map* relay_in) const {
  port_.FillCounters(relay_in);
  const Value::Map fields{
      {"refused_full", refused_full_},
      {"spool_errors", spool_errors_},
      {"acks_waiting", static_cast<int64_t>(pending_.size())},
      {"endpoint", port_.endpoint()},
      {"forwarders", port_.Forwarders()},
  };
  relay_in->insert(relay_in->end(), fields.begin(), fields.end());
}

}  // namespace ziggy
