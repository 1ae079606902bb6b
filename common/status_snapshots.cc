#include "common/status_snapshots.h"

#include <utility>

#include "absl/time/clock.h"

namespace ziggy {

StatusSnapshots::StatusSnapshots(std::function<void()> wake,
                                 absl::Duration max_age)
    : wake_(std::move(wake)), max_age_(max_age) {}

bool StatusSnapshots::Fresh(absl::Time since) const {
  return latest_ != nullptr && taken_ >= since;
}

StatusSnapshots::Snapshot StatusSnapshots::Get(absl::Duration timeout) {
  const absl::Time asked = absl::Now();
  absl::MutexLock lock(&mu_);
  if (closed_) return nullptr;
  if (Fresh(asked - max_age_)) return latest_;
  wanted_.store(true, std::memory_order_release);
  wake_();
  const auto answered = [this, asked]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closed_ || Fresh(asked);
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&answered), timeout) || closed_) {
    return nullptr;
  }
  return latest_;
}

void StatusSnapshots::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

void StatusSnapshots::ServeIfWanted(const std::function<Value::Map()>& status) {
  if (!wanted_.exchange(false, std::memory_order_acq_rel)) return;
  // Readers that ask from now on need a later snapshot: they set wanted_
  // again, and taken_ is before their asking.
  const absl::Time taken = absl::Now();
  auto snapshot = std::make_shared<const Value::Map>(status());
  absl::MutexLock lock(&mu_);
  latest_ = std::move(snapshot);
  taken_ = taken;
}

}  // namespace ziggy
