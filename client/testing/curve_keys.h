// Fresh CurveZMQ key pairs for tests.

#ifndef ZIGGY_CLIENT_TESTING_CURVE_KEYS_H_
#define ZIGGY_CLIENT_TESTING_CURVE_KEYS_H_

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "client/net/curve_key.h"

namespace ziggy::testing {

// A new random key pair; aborts the test if this libzmq has no CurveZMQ.
inline CurveKeyPair NewCurveKeyPair() {
  absl::StatusOr<CurveKeyPair> pair = GenerateKeyPair();
  if (!pair.ok()) {
    std::fprintf(stderr, "GenerateKeyPair: %s\n",
                 pair.status().ToString().c_str());
    std::abort();
  }
  return *std::move(pair);
}

}  // namespace ziggy::testing

#endif  // ZIGGY_CLIENT_TESTING_CURVE_KEYS_H_
