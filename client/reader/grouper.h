// EventGrouper: puts sub-events back together with their parent.
//
// Sub-events share their parent's id and finish (so arrive) before it. The
// grouper holds events by id until the parent arrives, then emits the group:
// the parent is the event whose type has no '.' (a top-level event; sub-event
// types are "parent.child"). As in the original Python Ziggy, the parent
// closes the group. At
// most max_open groups wait; beyond that the oldest is emitted without its
// parent, as is everything still waiting at Finish(), so no event is lost.
//
// Thread-safety: none.

#ifndef ZIGGY_CLIENT_READER_GROUPER_H_
#define ZIGGY_CLIENT_READER_GROUPER_H_

#include <cstddef>
#include <functional>
#include <list>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace ziggy {

// Whether `type` is a top-level event's ("request") rather than a
// sub-event's ("request.sql", ".log"): what makes an event a group's parent.
inline bool IsTopLevelType(absl::string_view type) {
  return type.find('.') == absl::string_view::npos;
}

// One group: the parent's BSON (empty when evicted or finished without it)
// and its sub-events' BSON documents in arrival order.
struct EventGroup {
  std::string id;
  std::string parent;
  std::vector<std::string> children;
};

class EventGrouper {
 public:
  using Emit = std::function<void(const EventGroup&)>;

  EventGrouper(size_t max_open, Emit emit)
      : max_open_(max_open < 1 ? 1 : max_open), emit_(std::move(emit)) {}

  // Adds one event (its id, type and BSON document).
  void Add(absl::string_view id, absl::string_view type,
           absl::string_view bson);

  // Emits every waiting group, oldest first.
  void Finish();

  size_t open_groups() const { return order_.size(); }
  uint64_t evicted() const { return evicted_; }

 private:
  const size_t max_open_;
  Emit emit_;
  std::list<EventGroup> order_;  // oldest first
  absl::flat_hash_map<std::string, std::list<EventGroup>::iterator> by_id_;
  uint64_t evicted_ = 0;
};

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_READER_GROUPER_H_
