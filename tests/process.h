// Subprocess: a real child process for integration tests, with its stdout
// and stderr captured in files under TEST_TMPDIR.

#ifndef ZIGGY_TESTS_PROCESS_H_
#define ZIGGY_TESTS_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/durable_file.h"  // ReadFileOrEmpty

namespace ziggy::testing {

// Path of a built binary in the test's runfiles, e.g. "collector/ziggyd".
std::string RunfilesPath(const std::string& path);

// A fresh directory under TEST_TMPDIR.
std::string TempDir(const std::string& name);

// Calls `condition` every `poll` until it returns true or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition,
             absl::Duration timeout = absl::Seconds(30),
             absl::Duration poll = absl::Milliseconds(20));

class Subprocess {
 public:
  // Starts `argv` (argv[0] is the binary's path) with standard input read
  // from `stdin_path`.
  static std::unique_ptr<Subprocess> Start(
      const std::vector<std::string>& argv,
      const std::string& stdin_path = "/dev/null");
  // Kills (SIGKILL) a child that is still running.
  ~Subprocess();

  void Signal(int signo);
  // The exit code (or 128 + signal), or -1 if still running after `timeout`.
  int Wait(absl::Duration timeout = absl::Seconds(30));
  bool running();

  std::string Stdout() const { return ReadFileOrEmpty(stdout_path_); }
  std::string Stderr() const { return ReadFileOrEmpty(stderr_path_); }
  pid_t pid() const { return pid_; }

 private:
  Subprocess() = default;
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string stdout_path_, stderr_path_;
};

// Runs a command to completion (up to `timeout`); returns its exit code and
// fills *out and *err.
int RunCommand(const std::vector<std::string>& argv, std::string* out,
               std::string* err, absl::Duration timeout = absl::Seconds(30),
               const std::string& stdin_path = "/dev/null");

}  // namespace ziggy::testing

#endif  // ZIGGY_TESTS_PROCESS_H_
