// FUZZ_CHECK(condition): how a fuzzer states an invariant. When it does
// not hold, prints where and what, then aborts, which libFuzzer (and the
// corpus replay test) reports as a crash on the input at hand.

#ifndef ZIGGY_TOOLS_FUZZ_CHECK_H_
#define ZIGGY_TOOLS_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                         \
  do {                                                                \
    if (!(condition)) {                                               \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, \
                   __LINE__, #condition);                             \
      std::abort();                                                   \
    }                                                                 \
  } while (false)

#endif  // ZIGGY_TOOLS_FUZZ_CHECK_H_
