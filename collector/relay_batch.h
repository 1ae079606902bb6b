// TakeInRelayBatch: the step the relay port (relay_receiver.h) and the NATS
// source (nats_source.h) share for a batch a forwarder numbered: the
// payload decompressed, split into exactly `count` documents, each checked
// as an event. What follows a break in the framing could never be found,
// so a batch whose framing breaks is refused whole; a well-framed document
// that is not a valid event is dropped and counted by the intake, the
// others kept.
//
// Thread-safety: as thread-safe as `intake` and `on_event` (the receive
// thread calls it).

#ifndef ZIGGY_COLLECTOR_RELAY_BATCH_H_
#define ZIGGY_COLLECTOR_RELAY_BATCH_H_

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "collector/event_writer.h"
#include "common/daemon_sockets.h"
#include "common/intake.h"
#include "common/relay_port.h"
#include "common/relay_protocol.h"

namespace ziggy {

struct RelayBatchIntake {
  EventIntake* intake;              // checks each document at `now`
  DaemonSockets::OnEvent on_event;  // each event taken, once in the batch
  // An empty batch for the writer (EventWriter::NewBatch()).
  std::function<std::unique_ptr<EventBatch>()> new_batch;
};

// The batch of `header` and `payload` for the writer, its accepted events
// in order; kInvalidArgument (nothing taken, no batch made) when the
// payload does not decompress or is not exactly header.count documents.
// *decoded (common/relay_port.h) is kept by the caller between batches, so
// its buffers are reused; it holds the batch's documents afterwards.
absl::StatusOr<std::unique_ptr<EventBatch>> TakeInRelayBatch(
    const RelayBatchIntake& intake, const RelayHeader& header,
    absl::string_view payload, double now, RelayPayload* decoded);

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_RELAY_BATCH_H_
