#include "client/reader/grouper.h"

namespace ziggy {

void EventGrouper::Add(absl::string_view id, absl::string_view type,
                       absl::string_view bson) {
  auto found = by_id_.find(id);
  if (IsTopLevelType(type)) {
    EventGroup group;
    if (found != by_id_.end()) {
      group = std::move(*found->second);
      order_.erase(found->second);
      by_id_.erase(found);
    } else {
      group.id = std::string(id);
    }
    group.parent = std::string(bson);
    emit_(group);
    return;
  }
  if (found == by_id_.end()) {
    if (order_.size() >= max_open_) {
      EventGroup& oldest = order_.front();
      ++evicted_;
      emit_(oldest);
      by_id_.erase(oldest.id);
      order_.pop_front();
    }
    order_.push_back(EventGroup{std::string(id), "", {}});
    found = by_id_.emplace(std::string(id), std::prev(order_.end())).first;
  }
  found->second->children.emplace_back(bson);
}

void EventGrouper::Finish() {
  for (const EventGroup& group : order_) emit_(group);
  order_.clear();
  by_id_.clear();
}

}  // namespace ziggy
