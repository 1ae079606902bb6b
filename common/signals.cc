#include "common/signals.h"

#include <pthread.h>
#include <signal.h>

#include <utility>

namespace ziggy {
namespace {

sigset_t SignalSet(TerminationSignals::Hangup hangup) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR2);  // internal: wakes the thread at destruction
  if (hangup == TerminationSignals::Hangup::kCallback) sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

TerminationSignals::TerminationSignals(Hangup hangup) : hangup_(hangup) {
  const sigset_t set = SignalSet(hangup_);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN);
}

void TerminationSignals::Start(std::function<void(int)> on_signal,
                               std::function<void()> on_hangup) {
  thread_ =
      std::thread([set = SignalSet(hangup_), on_signal = std::move(on_signal),
                   on_hangup = std::move(on_hangup)] {
        int signo = 0;
        while (sigwait(&set, &signo) == 0) {
          if (signo == SIGUSR2) return;
          if (signo == SIGHUP) {
            if (on_hangup) on_hangup();
            continue;
          }
          on_signal(signo);
          return;
        }
      });
}

TerminationSignals::~TerminationSignals() { Stop(); }

void TerminationSignals::Stop() {
  if (thread_.joinable()) {
    pthread_kill(thread_.native_handle(), SIGUSR2);
    thread_.join();
  }
}

}  // namespace ziggy
