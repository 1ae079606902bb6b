// NatsBatches: reads a JetStream stream of relay batches back for tests, as
// an outside reader would (libnats js_GetMsg by sequence), and splits each
// message into its relay header and its events (common/nats_stream.h), so
// a test can check subjects, message ids, headers and the (sender, seq) of
// every event stored.

#ifndef ZIGGY_TESTS_NATS_BATCHES_H_
#define ZIGGY_TESTS_NATS_BATCHES_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/relay_protocol.h"

namespace ziggy::testing {

struct StoredBatch {
  uint64_t sequence = 0;
  std::string subject;
  std::string msg_id;  // its Nats-Msg-Id header
  RelayHeader header;
  std::vector<std::string> events;  // BSON documents, decompressed
  std::string error;  // why it is not a sound batch; empty when it is
};

// Every message of `stream` on the server at `url`, in sequence order
// (those that are not sound batches with `error` set).
absl::StatusOr<std::vector<StoredBatch>> ReadStoredBatches(
    const std::string& url, const std::string& stream);

// How often each (body.sender, body.seq) occurs in the batches' events
// (events without them count as (-1, -1)).
std::map<std::pair<int64_t, int64_t>, int> CountSequences(
    const std::vector<StoredBatch>& batches);

}  // namespace ziggy::testing

#endif  // ZIGGY_TESTS_NATS_BATCHES_H_
