// EventIntake: how a daemon takes in events from the network (the collect
// port of ziggyd and of the forwarder, and relayed batches): checks each
// one, counts and logs what it drops, and keeps the STATUS view of what it
// accepted (last event, lag, per-type and per-host last times and counts).
//
// An event is one BSON document with a non-empty string `type`, at most
// max_event_bytes long. Hostile input cannot grow memory: at most
// kMaxTracked types and hosts are listed, the rest only counted.
//
// Every stored file, relayed batch and STATUS reply must stay readable by
// strict BSON readers (pymongo stops reading a file at the first string
// that is not UTF-8). So keys and text that are not valid UTF-8 are
// repaired (bson_repair.h: each invalid sequence becomes U+FFFD, lengths
// updated) and the repaired document is what the daemon writes, publishes,
// relays and spools; such events count in STATUS repaired.utf8. One that
// the repair makes longer than max_event_bytes is dropped as oversized.
//
// A collect-port message holds one or more whole documents back to back
// (the wire rule in README's protocol section): each starts with its own
// int32 length, and the lengths tile the message exactly. AcceptMessage
// splits it and takes each document on its own; a message whose lengths do
// not tile it is dropped whole, one malformed drop, as a single document
// whose length is wrong always was.
//
// Thread-safety: none; owned by a daemon's receive thread.

#ifndef ZIGGY_COMMON_INTAKE_H_
#define ZIGGY_COMMON_INTAKE_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/format/byte_buffer.h"
#include "client/format/value.h"

namespace ziggy {

// The fields of an accepted event the daemons route by (views into it).
struct EventFields {
  absl::string_view type;
  absl::string_view host;
  double end = 0;
};

class EventIntake {
 public:
  static constexpr size_t kMaxTracked = 10000;

  explicit EventIntake(size_t max_event_bytes)
      : max_event_bytes_(max_event_bytes) {}

  // Checks *doc, received at `now` (Unix seconds). True and *fields set
  // for a good event (then counted as received); false for a dropped one.
  // An event whose text needed repair comes back in *doc as its repaired
  // copy, owned by this intake and valid until the next call; *fields
  // always points into *doc.
  bool Accept(absl::string_view* doc, double now, EventFields* fields);

  // Accepts each document of a collect-port message (see the class
  // comment), calling on_event(doc, fields) for every good one in order.
  // Returns how many were accepted.
  using OnAccepted =
      absl::FunctionRef<void(absl::string_view doc, const EventFields&)>;
  size_t AcceptMessage(absl::string_view message, double now,
                       OnAccepted on_event);

  // A message of several frames (an event is one frame): dropped.
  void DropMultipart();

  uint64_t received() const { return received_; }

  // STATUS fields: last, lag (receipt minus the last event's own `end`, as
  // the original Python ziggyd reports it: one sender's wrong clock skews
  // it), lag_median (the
  // median of that over the last kRecentLags events, which a few bad clocks
  // cannot move), events, hosts, untracked, received, received_bytes (as
  // received, before any repair), repaired: {utf8}, dropped: {malformed,
  // no_type, oversized, multipart, then the daemon's `more_dropped`}.
  void AppendStatus(Value::Map* status, Value::Map more_dropped = {}) const;

 private:
  struct Seen {
    double last = 0;
    uint64_t count = 0;
  };
  // Per type or host, bounded; the two most recent keys skip the hash (a
  // client sends request and request.sql events in turn).
  class SeenMap {
   public:
    void Note(absl::string_view key, double now);
    Value ToValue() const;
    uint64_t untracked() const { return untracked_; }

   private:
    // An entry of map_: node_hash_map keeps it in place while it lives.
    struct Recent {
      absl::string_view key;
      Seen* seen = nullptr;
    };
    Seen* Find(absl::string_view key);

    absl::node_hash_map<std::string, Seen> map_;
    uint64_t untracked_ = 0;
    Recent recent_[2];  // most recent first
  };

  // Makes *doc its repaired copy and *fields point into it; false (and
  // counted) when the copy is too large.
  bool Repair(absl::string_view* doc, EventFields* fields);
  void Drop(uint64_t* counter, absl::string_view reason,
            absl::string_view detail);
  // Logs `what` at most every ten seconds per reason, with the count since.
  void LogEvery10s(absl::string_view what, absl::string_view reason,
                   absl::string_view detail);

  const size_t max_event_bytes_;
  uint64_t received_ = 0;
  uint64_t received_bytes_ = 0;
  uint64_t malformed_ = 0, no_type_ = 0, oversized_ = 0, multipart_ = 0;
  uint64_t repaired_utf8_ = 0;
  ByteBuffer repaired_;                       // the last repaired event
  std::vector<absl::string_view> documents_;  // AcceptMessage's, reused
  double last_ = 0;
  double lag_ = 0;
  static constexpr size_t kRecentLags = 1024;
  std::array<float, kRecentLags> recent_lags_{};  // a ring
  uint64_t lags_seen_ = 0;
  SeenMap types_;
  SeenMap hosts_;
  // Per drop reason: when last logged, and drops since.
  absl::flat_hash_map<std::string, std::pair<absl::Time, uint64_t>> logged_;
};

}  // namespace ziggy

#endif  // ZIGGY_COMMON_INTAKE_H_
