#include "collector/relay_receiver.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <utility>

#include "client/format/event.h"
#include "collector/relay_batch.h"

namespace ziggy {

RelayReceiver::RelayReceiver(zmq::context_t& context, size_t max_forwarders,
                             Clock* clock, EventIntake* intake,
                             CollectorStats* stats, OnEvent on_event,
                             absl::optional<CurveSocketOptions> curve)
    : clock_(clock),
      intake_(intake),
      stats_(stats),
      on_event_(std::move(on_event)),
      ack_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      port_(context, "relay", max_forwarders, &stats->relay, std::move(curve),
            [this](std::string id) { Forgot(std::move(id)); }) {}

RelayReceiver::~RelayReceiver() {
  if (ack_fd_ >= 0) close(ack_fd_);
}

absl::Status RelayReceiver::Bind(const std::string& address,
                                 ZapHandler* handshakes) {
  return port_.Bind(address, handshakes);
}

void RelayReceiver::Start(const RelayState& recovered, EventWriter* writer) {
  writer_ = writer;
  for (const auto& [id, mark] : recovered.forwarders()) {
    port_.Restore(id, mark.token, mark.next);
  }
}

void RelayReceiver::AddPollItems(bool receive,
                                 std::vector<zmq::pollitem_t>* items) {
  items->push_back({nullptr, ack_fd_, ZMQ_POLLIN, 0});
  if (receive && !endpoint().empty()) {
    items->push_back({port_.handle(), 0, ZMQ_POLLIN, 0});
  }
}

void RelayReceiver::Serve(const std::vector<zmq::pollitem_t>& items,
                          size_t first) {
  if (items[first].revents & ZMQ_POLLIN) SendAcks();
  if (items.size() > first + 1 && (items[first + 1].revents & ZMQ_POLLIN)) {
    RelayBatchIn in;
    if (port_.Receive(&in)) HandleBatch(in);
  }
}

void RelayReceiver::HandleBatch(const RelayBatchIn& in) {
  const double now = UnixSeconds(clock_->Now());
  ForwarderTable::Entry* forwarder = nullptr;
  const RelayPort::Verdict verdict = port_.Admit(in, now, &forwarder);
  if (verdict == RelayPort::Verdict::kAnswered) return;
  // Already written (perhaps not yet durable): ack with the next
  // checkpoint, never before.
  if (verdict == RelayPort::Verdict::kDuplicate) return SubmitAck(in, nullptr);
  std::unique_ptr<EventBatch> batch = TakeIn(in, now);
  if (batch == nullptr) return;
  port_.Advance(forwarder, in.header);
  SubmitAck(in, std::move(batch));
}

void RelayReceiver::Forgot(std::string id) {
  forgotten_.push_back(std::move(id));
  // Usually they go with the next acknowledgement; a flood of batches that
  // are never acknowledged must not pile them up.
  if (forgotten_.size() >= kForgottenPerBatch && writer_ != nullptr) {
    std::unique_ptr<EventBatch> batch = NewBatch();
    batch->forgotten.swap(forgotten_);
    writer_->Submit(std::move(batch));
  }
}

// The payload as a batch for the writer: decompressed, split into exactly
// `count` whole documents, each checked on its own (a malformed one is
// dropped and counted, the others kept). Null when refused.
std::unique_ptr<EventBatch> RelayReceiver::TakeIn(const RelayBatchIn& in,
                                                  double now) {
  absl::StatusOr<std::unique_ptr<EventBatch>> batch =
      TakeInRelayBatch({intake_, on_event_, [this] { return NewBatch(); }},
                       in.header, in.payload, now, &payload_);
  if (!batch.ok()) {
    port_.Refuse(in.identity, batch.status().message());
    return nullptr;
  }
  stats_->relay.events += payload_.documents().size();
  return *std::move(batch);
}

std::unique_ptr<EventBatch> RelayReceiver::NewBatch() {
  std::unique_ptr<EventBatch> batch = writer_->NewBatch();
  batch->received = clock_->Now();
  return batch;
}

void RelayReceiver::SubmitAck(const RelayBatchIn& in,
                              std::unique_ptr<EventBatch> batch) {
  if (batch == nullptr) batch = NewBatch();
  batch->acks.push_back(
      {in.identity, in.header.forwarder, in.header.end, in.token});
  batch->forgotten.swap(forgotten_);
  forgotten_.clear();
  writer_->Submit(std::move(batch));
}

void RelayReceiver::SendAcks() {
  uint64_t value;
  if (read(ack_fd_, &value, sizeof value) <= 0) return;
  std::vector<RelayAck> acks;
  writer_->TakeAcks(&acks);
  for (const RelayAck& ack : acks)
    port_.Ack(ack.identity, ack.forwarder, ack.end);
}

void RelayReceiver::FillStatus(Value::Map* relay) const {
  port_.FillCounters(relay);
  const Value::Map fields{
      {"checkpoints", CounterValue(stats_->checkpoints)},
      {"checkpoint_written", CounterValue(stats_->checkpoint_written)},
      {"rolled_back_bytes", CounterValue(stats_->rolled_back_bytes)},
      {"forwarders", port_.Forwarders()},
  };
  relay->insert(relay->end(), fields.begin(), fields.end());
}

}  // namespace ziggy
