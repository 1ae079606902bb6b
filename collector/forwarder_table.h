// ForwarderTable: what the collector's receive thread knows of each
// forwarder that relays to it: the next index it expects, the token that
// proves a batch comes from that forwarder (RELAY.md: an id is bound to the
// first token seen with it), and when it was last heard from. A tier
// forwarder's relay port keeps one too (both through common/relay_port.h).
//
// Bounded: at most `capacity` forwarders. Adding one more forgets the one
// heard from least recently (a flood of made-up ids cannot lock a new
// forwarder out). A forgotten forwarder that comes back is welcomed like a
// new one, from its own acknowledged mark: what was written between that
// mark and where it stood when forgotten may be written twice (the caller
// counts forgotten forwarders as relay.forgotten).
//
// Thread-safety: none; the receive thread's.

#ifndef ZIGGY_COLLECTOR_FORWARDER_TABLE_H_
#define ZIGGY_COLLECTOR_FORWARDER_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace ziggy {

class ForwarderTable {
 public:
  struct Entry {
    std::string id;
    std::string token;
    int64_t next = 0;  // every index below it is written
    double last = 0;   // Unix seconds, last heard from
  };

  explicit ForwarderTable(size_t capacity) : capacity_(capacity) {}

  // The entry for `id`, or null.
  Entry* Find(absl::string_view id);

  // Adds `id` (which must not be present) as the most recently heard;
  // when the table is full, first forgets the least recently heard entry
  // and puts its id in *forgotten (else clears it).
  Entry& Add(absl::string_view id, absl::string_view token,
             std::string* forgotten);

  // Marks `entry` heard from at `now`.
  void Touch(Entry& entry, double now);

  size_t size() const { return by_id_.size(); }
  uint64_t forgotten() const { return forgotten_; }

  // Most recently heard first.
  template <typename Visit>
  void ForEachRecent(size_t limit, Visit visit) const {
    for (auto it = order_.rbegin(); it != order_.rend() && limit > 0;
         ++it, --limit) {
      visit(*it);
    }
  }

 private:
  const size_t capacity_;
  std::list<Entry> order_;  // least recently heard first
  absl::flat_hash_map<std::string, std::list<Entry>::iterator> by_id_;
  uint64_t forgotten_ = 0;
};

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_FORWARDER_TABLE_H_
