#include "collector/relay_batch.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "client/format/wire.h"

namespace ziggy {
namespace {

// Splits a relayed batch's payload into its documents (*docs), checking
// that it is exactly `count` length-prefixed, NUL-terminated documents:
// the collect port's wire rule (wire.h), and the final NULs. Documents are
// framed here, not validated (the intake checks each).
absl::Status SplitBatch(absl::string_view payload, int32_t count,
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

}  // namespace

absl::StatusOr<std::unique_ptr<EventBatch>> TakeInRelayBatch(
    const RelayBatchIntake& intake, const RelayHeader& header,
    absl::string_view payload, double now,
    std::vector<absl::string_view>* docs) {
  std::string storage;
  if (absl::Status s = DecompressPayload(header, &payload, &storage); !s.ok()) {
    return s;
  }
  if (absl::Status s = SplitBatch(payload, header.count, docs); !s.ok()) {
    return s;
  }
  std::unique_ptr<EventBatch> batch = intake.new_batch();
  batch->Reserve(payload.size(), docs->size());
  EventFields fields;
  for (absl::string_view doc : *docs) {
    if (!intake.intake->Accept(&doc, now, &fields)) continue;
    batch->Add(doc, static_cast<size_t>(fields.type.data() - doc.data()),
               fields.type.size());
    intake.on_event(doc, fields);
  }
  return batch;
}

}  // namespace ziggy
