// BatchMode: runs a test with the C++ client batched (its default) or with
// ZIGGY_BATCH=0 (one event per message) for every Configure() in its scope.
//
// Thread-safety: setenv/unsetenv; construct and destroy it while no other
// thread reads the environment.

#ifndef ZIGGY_CLIENT_TESTING_BATCH_MODE_H_
#define ZIGGY_CLIENT_TESTING_BATCH_MODE_H_

#include <cstdlib>

namespace ziggy::testing {

class BatchMode {
 public:
  explicit BatchMode(bool batched) : batched_(batched) {
    if (!batched_) setenv("ZIGGY_BATCH", "0", 1);
  }
  ~BatchMode() { unsetenv("ZIGGY_BATCH"); }
  BatchMode(const BatchMode&) = delete;
  BatchMode& operator=(const BatchMode&) = delete;

  bool batched() const { return batched_; }
  // "batched" or "unbatched", for test names.
  static const char* Name(bool batched) {
    return batched ? "batched" : "unbatched";
  }

 private:
  const bool batched_;
};

}  // namespace ziggy::testing

#endif  // ZIGGY_CLIENT_TESTING_BATCH_MODE_H_
