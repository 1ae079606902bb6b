// TerminationSignals: turns SIGINT and SIGTERM into a callback on a thread
// of its own, so daemons stop in an orderly way (flush, close, exit 0), and,
// when asked, SIGHUP into another callback on the same thread (daemons
// re-read their key lists).
//
// Construct it in main() before any other thread starts: it blocks the
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
  // What SIGHUP does: kDefault leaves it alone (it ends the process, as
  // the system's default has it); kCallback blocks it too, for Start()'s
  // on_hangup.
  enum class Hangup { kDefault, kCallback };

  explicit TerminationSignals(Hangup hangup = Hangup::kDefault);
  // Stop().
  ~TerminationSignals();

  TerminationSignals(const TerminationSignals&) = delete;
  TerminationSignals& operator=(const TerminationSignals&) = delete;

  // Calls `on_signal(signo)` once, on the signal thread, at the first
  // SIGINT or SIGTERM (and waits for no signal after it). With
  // Hangup::kCallback, calls `on_hangup()` on that thread at every SIGHUP
  // before then. REQUIRES: on_hangup is set iff constructed with kCallback.
  void Start(std::function<void(int)> on_signal,
             std::function<void()> on_hangup = nullptr);
  // Stops waiting (without calling the callbacks) and joins the thread: no
  // callback runs after it returns. Call it before what the callbacks use
  // goes away.
  void Stop();

 private:
  const Hangup hangup_;
  std::thread thread_;
};

}  // namespace ziggy

#endif  // ZIGGY_COMMON_SIGNALS_H_
