// NatsServer: a real `nats-server -js` (Debian's nats-server, installed by
// tools/install-test-tools.sh) for integration tests: a free loopback port,
// its JetStream store in a directory of the test's, and the stops a test
// needs (SIGTERM, SIGKILL) and a restart on the same port and store, so the
// clients' URL stays valid.

#ifndef ZIGGY_TESTS_NATS_SERVER_H_
#define ZIGGY_TESTS_NATS_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/process.h"

namespace ziggy::testing {

class NatsServer {
 public:
  // Starts nats-server with JetStream, its store under `dir` (made if
  // missing), on a port the kernel picks, with `args` added (e.g. --tls
  // ..., --user/--pass); returns once it takes TCP connections.
  static absl::StatusOr<std::unique_ptr<NatsServer>> Start(
      const std::string& dir, std::vector<std::string> args = {});
  // The README's NATS cluster: docs/nats-server.conf (in the test's
  // runfiles) on three servers, its example hosts and cluster ports
  // replaced by free ports on 127.0.0.1 and its certificate paths by
  // `certs` (a directory MakeTestCertificates() filled); each server's
  // client port and store are moved on its command line.
  static absl::StatusOr<std::vector<std::unique_ptr<NatsServer>>>
  StartReadmeCluster(const std::string& certs);
  ~NatsServer();  // SIGKILL if still running

  // "nats://127.0.0.1:<port>"; the same across restarts.
  const std::string& url() const { return url_; }
  int port() const { return port_; }
  // The running server's process id (-1 when none).
  pid_t pid() const { return process_ == nullptr ? -1 : process_->pid(); }

  // SIGTERM (JetStream flushes its store) and wait.
  void Stop();
  // SIGKILL and wait.
  void Kill();
  // Starts it again (after Stop() or Kill()) on the same port and store.
  absl::Status Restart();
  bool running() { return process_ != nullptr && process_->running(); }
  // What the server logged (this run's).
  std::string Log() const;

 private:
  NatsServer(std::string dir, std::vector<std::string> args)
      : dir_(std::move(dir)), args_(std::move(args)) {}
  // Starts the process on port_ (-1: any) and waits until it listens.
  absl::Status Launch();

  const std::string dir_;
  const std::vector<std::string> args_;
  int port_ = -1;
  std::string url_;
  int runs_ = 0;
  std::unique_ptr<Subprocess> process_;
};

// A TCP port on 127.0.0.1 that nothing listens on now (bound to port 0 and
// released, so another process could take it before it is used: for ports
// that must be known in advance, such as a NATS cluster's routes); -1 when
// none is found.
int FreeTcpPort();

// Makes, with the openssl tool, ca.pem (a CA) and server.pem / server.key (a
// certificate it signed for 127.0.0.1, also usable as a client certificate)
// in `dir`; false (a gtest failure added) when openssl fails.
bool MakeTestCertificates(const std::string& dir);

}  // namespace ziggy::testing

#endif  // ZIGGY_TESTS_NATS_SERVER_H_
