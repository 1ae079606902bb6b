#include "tests/nats_server.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace ziggy::testing {
namespace {

// Debian puts it in /usr/sbin, which a test's PATH may lack.
std::string NatsServerBinary() {
  for (const char* path : {"/usr/sbin/nats-server", "/usr/bin/nats-server"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

// Whether something accepts TCP connections on 127.0.0.1:port.
bool Listening(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok =
      connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return ok;
}

// The port in a --ports_file_dir file: {"nats":["nats://127.0.0.1:N"]}.
int PortIn(const std::string& ports_file) {
  std::ifstream in(ports_file);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  size_t colon = s.rfind(':');
  if (colon == std::string::npos) return -1;
  size_t end = s.find('"', colon);
  int port = -1;
  if (end == std::string::npos ||
      !absl::SimpleAtoi(s.substr(colon + 1, end - colon - 1), &port)) {
    return -1;
  }
  return port;
}

// A TCP port on 127.0.0.1 nothing listens on now; -1 when none is found.
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace

absl::StatusOr<std::vector<std::unique_ptr<NatsServer>>>
NatsServer::StartCluster(const std::string& dir, int size) {
  std::vector<std::unique_ptr<NatsServer>> servers;
  if (size == 1) {
    auto one = Start(dir);
    if (!one.ok()) return one.status();
    servers.push_back(*std::move(one));
    return servers;
  }
  std::vector<int> ports;
  std::vector<std::string> routes;
  for (int i = 0; i < size; ++i) {
    ports.push_back(FreePort());
    routes.push_back(absl::StrCat("nats://127.0.0.1:", ports.back()));
  }
  for (int i = 0; i < size; ++i) {
    servers.emplace_back(new NatsServer(
        absl::StrCat(dir, "/", i),
        {"-n", absl::StrCat("nats-", i), "--cluster_name", "ziggy", "--cluster",
         routes[i], "--routes", absl::StrJoin(routes, ",")}));
    absl::Status launched = servers.back()->Launch();
    if (!launched.ok()) return launched;
  }
  return servers;
}

absl::StatusOr<std::unique_ptr<NatsServer>> NatsServer::Start(
    const std::string& dir, std::vector<std::string> args) {
  std::unique_ptr<NatsServer> server(new NatsServer(dir, std::move(args)));
  absl::Status launched = server->Launch();
  if (!launched.ok()) return launched;
  return server;
}

NatsServer::~NatsServer() = default;

absl::Status NatsServer::Launch() {
  std::string binary = NatsServerBinary();
  if (binary.empty()) {
    return absl::FailedPreconditionError(
        "nats-server not found: run tools/install-test-tools.sh (./bazelw "
        "test does)");
  }
  ++runs_;
  std::string ports_dir = absl::StrCat(dir_, "/ports-", runs_);
  std::filesystem::create_directories(ports_dir);
  std::filesystem::create_directories(dir_ + "/store");
  std::vector<std::string> argv = {binary,
                                   "-js",
                                   "-a",
                                   "127.0.0.1",
                                   "-p",
                                   absl::StrCat(port_),
                                   "-sd",
                                   dir_ + "/store",
                                   "--ports_file_dir",
                                   ports_dir,
                                   "-l",
                                   absl::StrCat(dir_, "/nats-", runs_, ".log")};
  argv.insert(argv.end(), args_.begin(), args_.end());
  process_ = Subprocess::Start(argv);
  std::string ports_file =
      absl::StrCat(ports_dir, "/nats-server_", process_->pid(), ".ports");
  int port = -1;
  bool up = WaitFor(
      [&] {
        if (!process_->running()) return true;
        port = PortIn(ports_file);
        return port > 0 && Listening(port);
      },
      absl::Seconds(30));
  if (!up || !process_->running() || port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("nats-server did not start: ", process_->Stderr(), Log()));
  }
  port_ = port;
  url_ = absl::StrCat("nats://127.0.0.1:", port_);
  return absl::OkStatus();
}

void NatsServer::Stop() {
  if (process_ == nullptr) return;
  process_->Signal(SIGTERM);
  process_->Wait(absl::Seconds(30));
}

void NatsServer::Kill() {
  if (process_ == nullptr) return;
  process_->Signal(SIGKILL);
  process_->Wait(absl::Seconds(30));
}

absl::Status NatsServer::Restart() {
  Stop();
  return Launch();
}

std::string NatsServer::Log() const {
  std::ifstream in(absl::StrCat(dir_, "/nats-", runs_, ".log"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace ziggy::testing
