// Fuzzes the collector's side of the relay protocol with one batch: the
// input is the header frame (as long as the BSON length at its start says,
// cut at the input's end) followed by the payload frame, as a collector
// handles it: ParseRelayHeader, DecompressPayload (zstd or not), framing
// into documents and intake. Also parses the whole input as a reply.
// Invariants: a parsed header encodes and parses back to itself; a payload
// that decompresses is exactly the header's size; accepted events are
// well-formed.

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/format/bson_validate.h"
#include "client/format/event.h"
#include "client/reader/reader.h"
#include "common/intake.h"
#include "common/relay_protocol.h"
#include "tools/fuzz_check.h"

namespace {

bool SameHeader(const ziggy::RelayHeader& a, const ziggy::RelayHeader& b) {
  return a.ping == b.ping && a.forwarder == b.forwarder && a.token == b.token &&
         a.first == b.first && a.end == b.end && a.acked == b.acked &&
         a.count == b.count && a.zstd == b.zstd && a.size == b.size;
}

// Frames the payload as the collector does and takes in its events.
void TakeEvents(const ziggy::RelayHeader& header, absl::string_view payload) {
  ziggy::ReaderOptions options;
  options.max_document_size = ziggy::kMaxRelayBatchBytes;
  options.validate = false;
  ziggy::DocumentReader reader(payload, options);
  ziggy::EventIntake intake(1 << 20);
  absl::string_view doc;
  int64_t count = 0;
  std::string why;
  while (reader.Next(&doc)) {
    ++count;
    ziggy::EventFields fields;
    if (intake.Accept(&doc, 1e9, &fields)) {
      FUZZ_CHECK(ziggy::ValidateDocument(doc, ziggy::kMaxDepth, &why));
    }
  }
  FUZZ_CHECK(count <= static_cast<int64_t>(payload.size()) / 5);
}

void HandleBatch(absl::string_view header_bytes, absl::string_view payload) {
  absl::StatusOr<ziggy::RelayHeader> header =
      ziggy::ParseRelayHeader(header_bytes);
  if (!header.ok() || header->ping) return;
  absl::StatusOr<ziggy::RelayHeader> again =
      ziggy::ParseRelayHeader(ziggy::EncodeRelayHeader(*header));
  FUZZ_CHECK(again.ok() && SameHeader(*header, *again));
  std::string storage;
  if (!ziggy::DecompressPayload(*header, &payload, &storage).ok()) return;
  FUZZ_CHECK(static_cast<int64_t>(payload.size()) == header->size);
  TakeEvents(*header, payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  uint32_t header_size = 0;
  if (size >= 4) memcpy(&header_size, data, 4);  // BSON is little-endian
  if (header_size > size) header_size = static_cast<uint32_t>(size);
  HandleBatch(input.substr(0, header_size), input.substr(header_size));
  (void)ziggy::ParseRelayReply(input);
  return 0;
}
