#include "tests/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace ziggy::testing {
namespace {

std::string TmpRoot() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

std::atomic<int> next_id{0};

}  // namespace

std::string RunfilesPath(const std::string& path) {
  const char* root = std::getenv("TEST_SRCDIR");
  return absl::StrCat(root != nullptr ? root : ".", "/ziggy/", path);
}

std::string TempDir(const std::string& name) {
  const std::string dir =
      absl::StrCat(TmpRoot(), "/", name, "-", getpid(), "-", next_id++);
  mkdir(dir.c_str(), 0755);
  return dir;
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout,
             absl::Duration poll) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (condition()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(poll);
  }
}

std::unique_ptr<Subprocess> Subprocess::Start(
    const std::vector<std::string>& argv, const std::string& stdin_path) {
  std::unique_ptr<Subprocess> p(new Subprocess);
  const std::string base =
      absl::StrCat(TmpRoot(), "/proc-", getpid(), "-", next_id++);
  p->stdout_path_ = base + ".out";
  p->stderr_path_ = base + ".err";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, stdin_path.c_str(), O_RDONLY,
                                   0);
  posix_spawn_file_actions_addopen(&actions, 1, p->stdout_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, p->stderr_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // posix_spawnp: a bare name ("cp") is looked up in PATH.
  const int rc =
      posix_spawnp(&p->pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    p->pid_ = -1;  // nothing to wait for or kill (kill(-1) is everyone's)
    p->exit_code_ = 127;
    return nullptr;
  }
  return p;
}

Subprocess::~Subprocess() {
  if (running()) {
    kill(pid_, SIGKILL);  // running() implies pid_ > 0
    Wait(absl::Seconds(10));
  }
}

void Subprocess::Signal(int signo) {
  if (exit_code_ < 0 && pid_ > 0) kill(pid_, signo);
}

bool Subprocess::running() {
  if (exit_code_ >= 0 || pid_ <= 0) return false;
  int status;
  const pid_t done = waitpid(pid_, &status, WNOHANG);
  if (done == pid_) {
    exit_code_ =
        WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

int Subprocess::Wait(absl::Duration timeout) {
  // waitpid() is cheap: poll often, so restarts cost little.
  WaitFor([this] { return !running(); }, timeout, absl::Milliseconds(2));
  return exit_code_;
}

int RunCommand(const std::vector<std::string>& argv, std::string* out,
               std::string* err, absl::Duration timeout,
               const std::string& stdin_path) {
  std::unique_ptr<Subprocess> p = Subprocess::Start(argv, stdin_path);
  if (p == nullptr) return -1;
  const int code = p->Wait(timeout);
  if (out != nullptr) *out = p->Stdout();
  if (err != nullptr) *err = p->Stderr();
  return code;
}

}  // namespace ziggy::testing
