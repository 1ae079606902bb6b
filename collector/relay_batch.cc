#include "collector/relay_batch.h"

#include "client/format/event.h"

namespace ziggy {

absl::StatusOr<std::unique_ptr<EventBatch>> TakeInRelayBatch(
    const RelayBatchIntake& intake, const RelayHeader& header,
    absl::string_view payload, double now, RelayPayload* decoded) {
  if (absl::Status s = decoded->Decode(header, payload); !s.ok()) return s;
  std::unique_ptr<EventBatch> batch = intake.new_batch();
  batch->Reserve(decoded->bytes().size(), decoded->documents().size());
  decoded->ForEachEvent(
      intake.intake, now,
      [&](absl::string_view doc, const EventFields& fields) {
        batch->Add(doc, static_cast<size_t>(fields.type.data() - doc.data()),
                   fields.type.size());
        intake.on_event(doc, fields);
      });
  return batch;
}

}  // namespace ziggy
