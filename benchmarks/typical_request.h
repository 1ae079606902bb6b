// The typical request event of the client benchmarks, recorded through the
// public API: one "request" context with ~6 fields (two dotted), one timer
// and one ".sql" sub-event (two events).

#ifndef ZIGGY_BENCHMARKS_TYPICAL_REQUEST_H_
#define ZIGGY_BENCHMARKS_TYPICAL_REQUEST_H_

#include <cstdint>

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

}  // namespace ziggy::bench

#endif  // ZIGGY_BENCHMARKS_TYPICAL_REQUEST_H_
