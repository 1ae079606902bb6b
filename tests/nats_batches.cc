#include "tests/nats_batches.h"

#include <nats/nats.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "common/nats_stream.h"

namespace ziggy::testing {
namespace {

// A connection and JetStream context, closed on scope exit.
struct Client {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  ~Client() {
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
  }
};

// The events of a batch message's payload (decompressed), split.
absl::Status Split(absl::string_view data, StoredBatch* batch) {
  absl::StatusOr<BatchMessage> message = ParseBatchMessage(data);
  if (!message.ok()) return message.status();
  batch->header = message->header;
  absl::string_view payload = message->payload;
  std::string storage;
  if (absl::Status s = DecompressPayload(batch->header, &payload, &storage);
      !s.ok()) {
    return s;
  }
  while (payload.size() >= 4) {
    uint32_t length = 0;
    std::memcpy(&length, payload.data(), 4);
    if (length < 5 || length > payload.size()) break;
    batch->events.emplace_back(payload.substr(0, length));
    payload.remove_prefix(length);
  }
  if (!payload.empty() ||
      static_cast<int32_t>(batch->events.size()) != batch->header.count) {
    return absl::DataLossError(absl::StrCat("batch ", batch->sequence,
                                            ": payload does not split into ",
                                            batch->header.count, " events"));
  }
  return absl::OkStatus();
}

absl::StatusOr<StoredBatch> ReadOne(jsCtx* js, const std::string& stream,
                                    uint64_t sequence) {
  natsMsg* msg = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetMsg(&msg, js, stream.c_str(), sequence, nullptr, &code);
  if (s != NATS_OK) return NatsError(s, absl::StrCat("message ", sequence));
  StoredBatch batch;
  batch.sequence = sequence;
  batch.subject = natsMsg_GetSubject(msg);
  const char* id = nullptr;
  if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK) batch.msg_id = id;
  absl::Status split =
      Split(absl::string_view(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)),
            &batch);
  natsMsg_Destroy(msg);
  if (!split.ok()) batch.error = std::string(split.message());
  return batch;
}

}  // namespace

absl::StatusOr<std::vector<StoredBatch>> ReadStoredBatches(
    const std::string& url, const std::string& stream) {
  Client client;
  natsStatus s = natsConnection_ConnectTo(&client.nc, url.c_str());
  if (s == NATS_OK)
    s = natsConnection_JetStream(&client.js, client.nc, nullptr);
  if (s != NATS_OK) return NatsError(s, "connecting");
  jsStreamInfo* info = nullptr;
  s = js_GetStreamInfo(&info, client.js, stream.c_str(), nullptr, nullptr);
  if (s != NATS_OK) return NatsError(s, "stream info");
  const uint64_t first = info->State.FirstSeq, last = info->State.LastSeq;
  jsStreamInfo_Destroy(info);
  std::vector<StoredBatch> batches;
  for (uint64_t sequence = first; sequence != 0 && sequence <= last;
       ++sequence) {
    absl::StatusOr<StoredBatch> batch = ReadOne(client.js, stream, sequence);
    if (!batch.ok()) return batch.status();
    batches.push_back(*std::move(batch));
  }
  return batches;
}

std::map<std::pair<int64_t, int64_t>, int> CountSequences(
    const std::vector<StoredBatch>& batches) {
  std::map<std::pair<int64_t, int64_t>, int> counts;
  for (const StoredBatch& batch : batches) {
    if (!batch.error.empty()) continue;
    for (const std::string& event : batch.events) {
      absl::StatusOr<Value> doc = DecodeDocument(event);
      const Value* sender = doc.ok() ? doc->Find("body.sender") : nullptr;
      const Value* seq = doc.ok() ? doc->Find("body.seq") : nullptr;
      ++counts[sender != nullptr && seq != nullptr
                   ? std::make_pair(sender->AsInt(), seq->AsInt())
                   : std::make_pair(int64_t{-1}, int64_t{-1})];
    }
  }
  return counts;
}

}  // namespace ziggy::testing
