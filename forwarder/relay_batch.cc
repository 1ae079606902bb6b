#include "forwarder/relay_batch.h"

namespace ziggy {

RelayHeader RelayHeaderFor(const Spool& spool, const SpoolBatch& batch) {
  RelayHeader header;
  header.forwarder = spool.id();
  header.token = spool.token();
  header.first = batch.first;
  header.end = batch.end;
  header.acked = spool.acked();
  header.count = batch.count;
  header.size = static_cast<int64_t>(batch.events.size());
  return header;
}

void CompressIfSmaller(bool zstd, int level, SpoolBatch* batch,
                       RelayHeader* header, std::string* scratch) {
  if (zstd && CompressPayload(batch->events, level, scratch).ok() &&
      scratch->size() < batch->events.size()) {
    header->zstd = true;
    batch->events.swap(*scratch);
  }
}

}  // namespace ziggy
