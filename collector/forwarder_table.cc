#include "collector/forwarder_table.h"

namespace ziggy {

ForwarderTable::Entry* ForwarderTable::Find(absl::string_view id) {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &*it->second;
}

ForwarderTable::Entry& ForwarderTable::Add(absl::string_view id,
                                           absl::string_view token,
                                           std::string* forgotten) {
  forgotten->clear();
  if (by_id_.size() >= capacity_ && !order_.empty()) {
    *forgotten = std::move(order_.front().id);
    by_id_.erase(*forgotten);
    order_.pop_front();
    ++forgotten_;
  }
  order_.push_back(Entry{std::string(id), std::string(token), 0, 0});
  by_id_.emplace(std::string(id), std::prev(order_.end()));
  return order_.back();
}

void ForwarderTable::Touch(Entry& entry, double now) {
  entry.last = now;
  auto it = by_id_.find(entry.id);
  order_.splice(order_.end(), order_, it->second);
}

}  // namespace ziggy
