// What an eavesdropper on the network sees: a TCP proxy inside the test sits
// between a client and a real daemon's port and keeps every byte it
// forwards. With CurveZMQ the events are stored and no event's text (a
// marker string and a type name) is in those bytes; in plain text the same
// events are there in clear, which shows the capture would have caught them.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/net/curve_key.h"
#include "client/testing/batch_mode.h"
#include "client/testing/curve_keys.h"
#include "client/ziggy.h"
#include "gtest/gtest.h"
#include "tests/process.h"
#include "tests/ziggyd.h"

namespace ziggy::testing {
namespace {

constexpr absl::string_view kMarker = "zq-capture-marker-5b1e9d04";
constexpr absl::string_view kType = "capture_type_x7kq";
constexpr int kEvents = 200;

// A TCP socket connected to 127.0.0.1:`port` (-1 on failure).
int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A listening TCP socket on 127.0.0.1, any free port; sets *port.
int ListenLoopback(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), size) != 0 ||
      listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// The port of a "host:port" address.
int PortOf(const std::string& address) {
  return std::stoi(address.substr(address.rfind(':') + 1));
}

// A TCP proxy: every connection to address() is forwarded to a target port
// on 127.0.0.1, and every byte forwarded is kept, one stream per connection
// and direction. Threads: one accepting, two per connection; the public
// methods may be called from any thread.
class TcpProxy {
 public:
  explicit TcpProxy(const std::string& target) : target_(PortOf(target)) {
    listen_fd_ = ListenLoopback(&port_);
    EXPECT_GE(listen_fd_, 0) << "cannot listen: " << errno;
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  // Stops accepting, cuts every connection and joins the threads.
  ~TcpProxy() {
    shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
    acceptor_.join();
    absl::MutexLock lock(&mu_);
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);  // wakes the pumps
    for (std::thread& pump : pumps_) pump.join();
    for (int fd : fds_) close(fd);
    close(listen_fd_);
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  // Whether any one stream holds `needle` (never split across chunks or
  // mixed with the other direction).
  bool Saw(absl::string_view needle) {
    absl::MutexLock lock(&mu_);
    for (const std::string& stream : streams_) {
      if (absl::StrContains(stream, needle)) return true;
    }
    return false;
  }
  size_t bytes() {
    absl::MutexLock lock(&mu_);
    size_t total = 0;
    for (const std::string& stream : streams_) total += stream.size();
    return total;
  }
  // The security mechanism each stream's ZMTP 3 greeting names ("NULL",
  // "CURVE"): its bytes 12 to 31, up to the first NUL.
  std::set<std::string> Mechanisms() {
    absl::MutexLock lock(&mu_);
    std::set<std::string> names;
    for (const std::string& stream : streams_) {
      if (stream.size() < 32) continue;
      const std::string field = stream.substr(12, 20);
      names.insert(field.substr(0, field.find('\0')));
    }
    return names;
  }
  int connections() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(fds_.size() / 2);
  }

 private:
  void AcceptLoop() {
    while (true) {
      const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0 && (errno == EINTR || errno == ECONNABORTED)) continue;
      if (client < 0) return;  // shut down
      const int daemon = ConnectLoopback(target_);
      if (daemon < 0) {
        close(client);
        continue;
      }
      absl::MutexLock lock(&mu_);
      const size_t first = streams_.size();
      streams_.resize(first + 2);
      fds_.insert(fds_.end(), {client, daemon});
      pumps_.emplace_back([=] { Pump(client, daemon, first); });
      pumps_.emplace_back([=] { Pump(daemon, client, first + 1); });
    }
  }

  // Copies `from` to `to`, keeping the bytes in streams_[stream], until
  // either side ends; then ends both, as a dropped connection would.
  void Pump(int from, int to, size_t stream) {
    char buffer[16384];
    while (true) {
      const ssize_t n = read(from, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      {
        absl::MutexLock lock(&mu_);
        streams_[stream].append(buffer, static_cast<size_t>(n));
      }
      if (!SendAll(to, buffer, static_cast<size_t>(n))) break;
    }
    shutdown(from, SHUT_RDWR);
    shutdown(to, SHUT_RDWR);
  }

  static bool SendAll(int fd, const char* data, size_t size) {
    while (size > 0) {
      const ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  }

  const int target_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  absl::Mutex mu_;
  std::vector<std::string> streams_ ABSL_GUARDED_BY(mu_);
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> pumps_ ABSL_GUARDED_BY(mu_);
};

// Key pairs under TEST_TMPDIR: the collector's, the forwarder's, and a
// client's; the collector allows the forwarder and the client.
struct Keys {
  Keys()
      : dir(TempDir("keys")),
        allow_dir(TempDir("allow")),
        collector(NewKey(dir + "/ziggyd.key")),
        forwarder(NewKey(allow_dir + "/forwarder.key")),
        client(NewKey(allow_dir + "/client.key")) {}

  static CurveKeyPair NewKey(const std::string& path) {
    CurveKeyPair pair = NewCurveKeyPair();
    EXPECT_TRUE(WriteKeyPair(pair, path).ok()) << path;
    return pair;
  }
  // The producer's options for a daemon whose public key is `server`.
  TransportOptions ClientOf(const CurveKeyPair& server) const {
    TransportOptions options;
    options.curve_key = client;
    options.curve_server_key = server.public_key();
    return options;
  }

  std::string dir, allow_dir;
  CurveKeyPair collector, forwarder, client;
};

// Records kEvents events of kType, each carrying kMarker, with the producer
// library configured for 127.0.0.1:`port`, and waits until every one is
// handed to its socket: batched, in a few messages (the batch waits for
// Flush), or with ZIGGY_BATCH=0 one message per event.
void RecordMarkedEvents(int port, TransportOptions options, bool batched) {
  options.batch_delay = absl::Hours(1);
  ASSERT_TRUE(Configure("127.0.0.1", port, options).ok());
  for (int seq = 0; seq < kEvents; ++seq) {
    Context event(kType);
    event.Set("note", kMarker);
    event.Set("seq", seq);
  }
  ASSERT_TRUE(Flush());
  const TransportStats stats = GetTransportStats();
  EXPECT_EQ(stats.sent, uint64_t{kEvents});
  if (batched) {
    EXPECT_LT(stats.messages, 10u);
  } else {
    EXPECT_EQ(stats.messages, uint64_t{kEvents});
  }
}

// The events of kType carrying kMarker in the files under `log_path`.
int StoredMarkedEvents(const std::string& log_path) {
  int marked = 0;
  for (const std::string& file : ListFiles(log_path)) {
    if (file[0] == '.' || !absl::StrContains(file, ".log")) continue;
    for (const Event& event : ReadEvents(log_path + "/" + file)) {
      const Value* note = event.body.Find("note");
      marked += event.type == kType && note != nullptr &&
                note->kind() == Value::Kind::kString &&
                note->AsString() == kMarker;
    }
  }
  return marked;
}

// Waits until `collector` has written kEvents, flushes it, and checks its
// files hold them all.
void ExpectAllStored(Ziggyd& collector) {
  ASSERT_TRUE(collector.WaitWritten(kEvents))
      << collector.Status().DebugString();
  ASSERT_TRUE(collector.Call("FLUSH").ok());
  EXPECT_EQ(StoredMarkedEvents(collector.log_path()), kEvents);
}

// What the proxy saw: every event went through it (at least their text's
// bytes), on connections whose ZeroMQ greetings name CURVE (or NULL, plain
// text); the text only in plain text.
void ExpectCapture(TcpProxy& proxy, bool curve) {
  EXPECT_GE(proxy.connections(), 1);
  EXPECT_GE(proxy.bytes(), kEvents * (kMarker.size() + kType.size()));
  EXPECT_EQ(proxy.Mechanisms(),
            std::set<std::string>{curve ? "CURVE" : "NULL"});
  EXPECT_EQ(proxy.Saw(kMarker), !curve);
  EXPECT_EQ(proxy.Saw(kType), !curve);
}

// Parameters: CurveZMQ or plain text; the client batched (its default) or
// not (ZIGGY_BATCH=0).
class CaptureTest : public ::testing::TestWithParam<std::tuple<bool, bool>> {
 protected:
  ~CaptureTest() override { Shutdown(); }
  bool curve() const { return std::get<0>(GetParam()); }
  bool batched() const { return batch_mode_.batched(); }
  BatchMode batch_mode_{std::get<1>(GetParam())};
  Keys keys_;
};

// Client -> proxy -> ziggyd's collect port.
TEST_P(CaptureTest, CollectPortCarriesNoEventText) {
  std::vector<std::string> flags;
  if (curve()) {
    flags = {"--curve-key=" + keys_.dir + "/ziggyd.key",
             "--curve-allow=" + keys_.allow_dir};
  }
  auto collector = Ziggyd::Start(TempDir("logs"), flags);
  ASSERT_NE(collector, nullptr);
  TcpProxy proxy(collector->collect());
  TransportOptions options;
  if (curve()) {
    options = keys_.ClientOf(keys_.collector);
    collector->set_control_curve(
        CurveSocketOptions::Client(keys_.client, keys_.collector.public_key()));
  }
  RecordMarkedEvents(PortOf(proxy.address()), options, batched());
  ExpectAllStored(*collector);
  ExpectCapture(proxy, curve());
}

// Client -> forwarder -> proxy -> ziggyd's relay port (batches uncompressed,
// so only encryption can hide the text).
TEST_P(CaptureTest, RelayCarriesNoEventText) {
  std::vector<std::string> collector_flags, forwarder_flags{"--compress=none"};
  if (curve()) {
    collector_flags = {"--curve-key=" + keys_.dir + "/ziggyd.key",
                       "--curve-allow=" + keys_.allow_dir};
    forwarder_flags.push_back("--curve-key=" + keys_.allow_dir +
                              "/forwarder.key");
    forwarder_flags.push_back("--upstream-server-key=" + keys_.dir +
                              "/ziggyd.key.pub");
  }
  auto collector = Ziggyd::Start(TempDir("logs"), collector_flags);
  ASSERT_NE(collector, nullptr);
  TcpProxy proxy(collector->relay());
  auto forwarder = Ziggyd::StartForwarder(TempDir("spool"), proxy.address(),
                                          forwarder_flags);
  ASSERT_NE(forwarder, nullptr);
  TransportOptions options;
  if (curve()) {
    options = keys_.ClientOf(keys_.forwarder);
    collector->set_control_curve(
        CurveSocketOptions::Client(keys_.client, keys_.collector.public_key()));
  }
  RecordMarkedEvents(PortOf(forwarder->collect()), options, batched());
  ExpectAllStored(*collector);
  ExpectCapture(proxy, curve());
}

INSTANTIATE_TEST_SUITE_P(
    Transport, CaptureTest,
    ::testing::Combine(::testing::Bool(), ::testing::Bool()),
    [](const ::testing::TestParamInfo<std::tuple<bool, bool>>& info) {
      return absl::StrCat(std::get<0>(info.param) ? "curve" : "plain", "_",
                          BatchMode::Name(std::get<1>(info.param)));
    });

}  // namespace
}  // namespace ziggy::testing
