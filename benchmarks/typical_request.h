// The typical request event of the client benchmarks, recorded through the
// public API: one "request" context with ~6 fields (two dotted), one timer
// and one ".sql" sub-event (two events); and the pacing that keeps a
// sender of them from ever having an event dropped.

#ifndef ZIGGY_BENCHMARKS_TYPICAL_REQUEST_H_
#define ZIGGY_BENCHMARKS_TYPICAL_REQUEST_H_

#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/ziggy.h"

namespace ziggy::bench {

inline void RecordTypicalRequest(int64_t i) {
  Context request("request");
  Set("user_agent", "Mozilla/5.0 (X11; Linux x86_64)");
  Set("path", "/api/v1/items");
  {
    Timer timer("request_time");
    Context sql(".sql");
    Set("query", "select * from items where id = ?");
    Set("rows", 1);
  }
  Set("response.status", 200);
  Set("response.bytes", i);
  Add("counters.cache_hits", 1);
}

// Waits while the client's queues hold more than half of one thread's
// queue (default TransportOptions: 4 MiB per thread), so the API never
// drops: a dropped event would skip its copy into the queue, flattering a
// CPU figure, and would never be written. Sleeps rather than spins: on two
// cores a spinning sender would take CPU from the I/O thread and the
// receiver it waits for.
inline void KeepQueueBelowHalf() {
  static const uint64_t kHalf = TransportOptions().queue_bytes_per_thread / 2;
  while (GetTransportStats().pending_bytes > kHalf) {
    absl::SleepFor(absl::Microseconds(100));
  }
}

}  // namespace ziggy::bench

#endif  // ZIGGY_BENCHMARKS_TYPICAL_REQUEST_H_
