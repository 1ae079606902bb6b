#include "tests/nats_server.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

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

// The client port in a --ports_file_dir file:
// {"nats":["nats://127.0.0.1:N"],"cluster":[...]} (the scheme is tls:// when
// the server requires TLS).
int PortIn(const std::string& ports_file) {
  std::ifstream in(ports_file);
  std::stringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  const size_t nats = s.find("\"nats\":[\"");
  const size_t end = nats == std::string::npos ? nats : s.find('"', nats + 9);
  const size_t colon = end == std::string::npos ? end : s.rfind(':', end);
  int port = -1;
  if (colon == std::string::npos || colon < nats ||
      !absl::SimpleAtoi(s.substr(colon + 1, end - colon - 1), &port)) {
    return -1;
  }
  return port;
}

}  // namespace

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
                                   "--ports_file_dir",
                                   ports_dir,
                                   "-l",
                                   absl::StrCat(dir_, "/nats-", runs_, ".log")};
  // A configuration file names its store (nats-server refuses two).
  if (std::find(args_.begin(), args_.end(), "-c") == args_.end()) {
    argv.insert(argv.end(), {"-sd", dir_ + "/store"});
  }
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

absl::StatusOr<std::vector<std::unique_ptr<NatsServer>>>
NatsServer::StartReadmeCluster(const std::string& certs) {
  const std::string config =
      ReadFileOrEmpty(RunfilesPath("docs/nats-server.conf"));
  if (config.empty()) {
    return absl::FailedPreconditionError(
        "docs/nats-server.conf is not in the test's runfiles (data = "
        "[\"//docs:nats-server.conf\"])");
  }
  std::vector<std::pair<std::string, std::string>> hosts;
  for (int i = 1; i <= 3; ++i) {
    hosts.emplace_back(absl::StrCat("nats-", i, ".example.com:6222"),
                       absl::StrCat("127.0.0.1:", FreeTcpPort()));
  }
  std::vector<std::unique_ptr<NatsServer>> servers;
  for (int i = 1; i <= 3; ++i) {
    const std::string dir = TempDir(absl::StrCat("nats-", i));
    const std::string path = dir + "/nats-server.conf";
    std::vector<std::pair<std::string, std::string>> edits = hosts;
    edits.emplace_back("server_name: nats-1",
                       absl::StrCat("server_name: nats-", i));
    edits.emplace_back("0.0.0.0:6222", hosts[i - 1].second);
    edits.emplace_back("/etc/nats/", certs + "/");
    edits.emplace_back("/var/lib/nats", dir + "/store");
    std::ofstream(path) << absl::StrReplaceAll(config, edits);
    auto server = NatsServer::Start(dir, {"-c", path});
    if (!server.ok()) return server.status();
    servers.push_back(*std::move(server));
  }
  return servers;
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

int FreeTcpPort() {
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

bool MakeTestCertificates(const std::string& dir) {
  const std::string script = absl::StrCat(
      "cd ", dir,
      " && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ca"
      " -keyout ca.key -out ca.pem"
      " && openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1"
      " -keyout server.key -out server.csr"
      " && printf 'subjectAltName=IP:127.0.0.1' > ext"
      " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key"
      " -CAcreateserial -days 2 -extfile ext -out server.pem");
  std::string out, err;
  const int exit_code = RunCommand({"/bin/sh", "-c", script}, &out, &err);
  EXPECT_EQ(exit_code, 0) << err;
  return exit_code == 0;
}

}  // namespace ziggy::testing
