// CollectorStats: the collector's counters, written by its threads and read
// by STATUS. Plain relaxed atomics: each is monotonic or a gauge.

#ifndef ZIGGY_COLLECTOR_STATS_H_
#define ZIGGY_COLLECTOR_STATS_H_

#include <atomic>
#include <cstdint>

#include "common/relay_port.h"

namespace ziggy {

struct CollectorStats {
  using Counter = std::atomic<uint64_t>;

  // The relay port's (RelayReceiver, the receive thread's), STATUS relay:
  // batches, events, acked, duplicates, resend_requests, rejected,
  // refused_token, jumps (common/relay_port.h).
  using Relay = RelayCounters;
  Relay relay;

  // The NATS source's (NatsSource), STATUS nats.
  struct Nats {
    Counter batches{0};      // messages taken in as batches
    Counter events{0};       // events in them
    Counter duplicates{0};   // events of redelivered messages already written
    Counter acks{0};         // acknowledgements NATS confirmed
    Counter ack_errors{0};   // attempts that failed (retried)
    Counter redelivered{0};  // messages delivered more than once
    Counter in_progress{0};  // "still working on it" signals sent
    Counter rejected{0};     // malformed messages terminated
    Counter possible_duplicates{0};  // acks that may have come too late
  };
  Nats nats;

  Counter written{0};  // events handed to the kernel in their files
  Counter written_bytes{0};

  Counter dropped_write_error{0};  // could not be written; buffer full
  Counter overflowed{0};           // events of types beyond the day's limit
  Counter types_today{0};          // gauge: types with files of their own today

  Counter write_errors{0};    // failed write()/open() calls
  Counter repaired_tails{0};  // files whose torn tail was truncated
  Counter repaired_bytes{0};
  Counter corrupt_files{0};       // damaged files set aside
  Counter reopened_files{0};      // removed or replaced files reopened
  Counter open_files{0};          // gauge
  Counter queued_bytes{0};        // gauge: received, waiting for the writer
  Counter checkpoints{0};         // relay checkpoints made durable
  Counter checkpoint_written{0};  // `written` as of the last checkpoint
  Counter rolled_back_bytes{0};   // unacknowledged bytes undone at start
};

// A counter's value, as STATUS shows it.
inline uint64_t CounterValue(const CollectorStats::Counter& counter) {
  return counter.load(std::memory_order_relaxed);
}

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_STATS_H_
