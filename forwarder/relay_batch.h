// RelayBatch: how a batch read from the spool becomes what goes upstream,
// shared by the relay to collectors (relay_connection.h) and the NATS
// upstream (nats_upstream.h), so both send the same bytes for the same
// events: the relay header (RELAY.md, "Wire protocol") and the payload,
// zstd-compressed only where that makes it smaller.
//
// Thread-safety: free functions; the arguments belong to the caller.

#ifndef ZIGGY_FORWARDER_RELAY_BATCH_H_
#define ZIGGY_FORWARDER_RELAY_BATCH_H_

#include <string>

#include "common/relay_protocol.h"
#include "forwarder/spool.h"

namespace ziggy {

// The header for `batch` as read from `spool` now: forwarder id, token,
// first, end, the spool's acked mark, count and the uncompressed size
// (compression "none").
RelayHeader RelayHeaderFor(const Spool& spool, const SpoolBatch& batch);

// With `zstd`, compresses batch->events at `level` (into *scratch, then
// swapped in) when the result is smaller, and says so in *header;
// otherwise leaves both as they are.
void CompressIfSmaller(bool zstd, int level, SpoolBatch* batch,
                       RelayHeader* header, std::string* scratch);

}  // namespace ziggy

#endif  // ZIGGY_FORWARDER_RELAY_BATCH_H_
