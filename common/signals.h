// TerminationSignals: turns SIGINT and SIGTERM into a callback on a thread
// of its own, so daemons stop in an orderly way (flush, close, exit 0).
//
// Construct it in main() before any other thread starts: it blocks the two
// signals in the calling thread, and threads started afterwards inherit the
// mask, so only its own thread ever receives them. It also ignores SIGPIPE
// and SIGXFSZ: a closed pipe or a file size limit (RLIMIT_FSIZE) is then an
// error from write() (EPIPE, EFBIG) that the daemon handles, not its death.

#ifndef ZIGGY_COMMON_SIGNALS_H_
#define ZIGGY_COMMON_SIGNALS_H_

#include <functional>
#include <thread>

namespace ziggy {

class TerminationSignals {
 public:
  TerminationSignals();
  // Stops waiting (without calling the callback) and joins the thread.
  ~TerminationSignals();

  TerminationSignals(const TerminationSignals&) = delete;
  TerminationSignals& operator=(const TerminationSignals&) = delete;

  // Calls `on_signal(signo)` once, on the signal thread, at the first
  // SIGINT or SIGTERM.
  void Start(std::function<void(int)> on_signal);

 private:
  std::thread thread_;
};

}  // namespace ziggy

#endif  // ZIGGY_COMMON_SIGNALS_H_
