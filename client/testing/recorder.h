// EventCollector: configures ziggy with a recorder that keeps every finished
// event, for tests. Unconfigures on destruction.

#ifndef ZIGGY_CLIENT_TESTING_RECORDER_H_
#define ZIGGY_CLIENT_TESTING_RECORDER_H_

#include <vector>

#include "absl/synchronization/mutex.h"
#include "client/ziggy.h"

namespace ziggy::testing {

class EventCollector {
 public:
  EventCollector() {
    Configure([this](const Event& event) {
      absl::MutexLock lock(&mu_);
      events_.push_back(event);
    });
  }
  ~EventCollector() { Shutdown(); }

  std::vector<Event> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Event> events_;
};

}  // namespace ziggy::testing

#endif  // ZIGGY_CLIENT_TESTING_RECORDER_H_
