#include "common/signals.h"

#include <pthread.h>
#include <signal.h>

namespace ziggy {
namespace {

sigset_t TerminationSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR2);  // internal: wakes the thread at destruction
  return set;
}

}  // namespace

TerminationSignals::TerminationSignals() {
  const sigset_t set = TerminationSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN);
}

void TerminationSignals::Start(std::function<void(int)> on_signal) {
  thread_ = std::thread([on_signal = std::move(on_signal)] {
    const sigset_t set = TerminationSet();
    int signo = 0;
    while (sigwait(&set, &signo) == 0) {
      if (signo == SIGUSR2) return;
      on_signal(signo);
      return;
    }
  });
}

TerminationSignals::~TerminationSignals() {
  if (thread_.joinable()) {
    pthread_kill(thread_.native_handle(), SIGUSR2);
    thread_.join();
  }
}

}  // namespace ziggy
