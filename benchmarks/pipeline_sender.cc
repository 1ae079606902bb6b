// pipeline_sender: the separate processes of pipeline_benchmark (see there).
//
//   pipeline_sender pull <messages>
//     Binds a PULL socket on 127.0.0.1 port 0, prints "endpoint=<endpoint>",
//     receives <messages> messages (counting only) and exits 0: the raw
//     ZeroMQ ceiling's receiver.
//   pipeline_sender push <endpoint> <events> <docs_per_message> <bytes>
//     Builds seed-shaped events of <bytes> bytes, <docs_per_message> of them
//     back to back per message (1: the seed's single-document message), then
//     sends <events> events to <endpoint> over one PUSH socket and exits
//     once ZeroMQ has sent them all.
//   pipeline_sender client <host:port> <events> <batch>
//     ziggy::Configure() with ZIGGY_HOST=<host:port> (and ZIGGY_BATCH=0 when
//     <batch> is 0; unset otherwise: the client's default), then records
//     <events> / 2 typical request events (two events each: "request" and
//     "request.sql") through the public API, flushes and exits. It keeps the
//     client's queue below half full (waiting while it is fuller), so no
//     event is dropped: 3 when some were nonetheless.
//   pipeline_sender syslog <host:port> <events> <bytes>
//     Builds syslog lines of <bytes> bytes (newline included: an RFC 3164
//     header, then the seed event's fields as text), then writes <events>
//     of them to a plain TCP connection (rsyslog's imtcp framing: one line
//     each) and exits once they are written and the connection closed.
//
// Each prints "cpu_ns=<n>" last: the CPU time of its whole process (all
// threads) from the start signal (pull: from its start) to its end.
//
// push, syslog and client build what they can before the clock: after set-up
// they print "ready" and wait for SIGUSR1, the benchmark's start signal.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "benchmarks/events.h"
#include "benchmarks/typical_request.h"
#include "client/ziggy.h"
#include "zmq.hpp"

namespace ziggy::bench {
namespace {

constexpr int kHighWaterMark = 100000;  // as collector_benchmark's senders
constexpr int kDistinctMessages = 64;   // sent round robin

// SIGUSR1 alone.
sigset_t StartSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  return set;
}

// CPU time of the whole process (every thread, ZeroMQ's and the client's
// included), in nanoseconds.
int64_t CpuNs() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  const auto ns = [](const timeval& t) {
    return int64_t{t.tv_sec} * 1000000000 + int64_t{t.tv_usec} * 1000;
  };
  return ns(usage.ru_utime) + ns(usage.ru_stime);
}

int64_t cpu_at_start = 0;  // CpuNs() when the clock started

// Says "ready" and waits for SIGUSR1 (blocked in every thread: main blocks
// it before ZeroMQ or the client start theirs).
void WaitForStart() {
  const sigset_t set = StartSignal();
  std::printf("ready\n");
  std::fflush(stdout);
  int signo = 0;
  sigwait(&set, &signo);
  cpu_at_start = CpuNs();
}

// Prints "cpu_ns=<CPU time since the start>", what the benchmark reads.
void PrintCpu() {
  std::printf("cpu_ns=%lld\n", static_cast<long long>(CpuNs() - cpu_at_start));
  std::fflush(stdout);
}

int64_t Number(const char* text) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(text, &n) || n < 0) {
    std::fprintf(stderr, "pipeline_sender: not a count: %s\n", text);
    std::exit(2);
  }
  return n;
}

int Pull(int64_t messages) {
  zmq::context_t context(1);
  zmq::socket_t pull(context, zmq::socket_type::pull);
  pull.set(zmq::sockopt::rcvhwm, kHighWaterMark);
  pull.bind("tcp://127.0.0.1:*");
  std::printf("endpoint=%s\n", pull.get(zmq::sockopt::last_endpoint).c_str());
  std::fflush(stdout);
  zmq::message_t message;
  for (int64_t i = 0; i < messages; ++i) {
    if (!pull.recv(message)) return 1;
  }
  PrintCpu();
  return 0;
}

// kDistinctMessages messages of `docs` events of `bytes` bytes each, every
// event with its own sequence number.
std::vector<std::string> BuildMessages(int64_t docs, int64_t bytes) {
  std::vector<std::string> messages(kDistinctMessages);
  int64_t seq = 0;
  for (std::string& message : messages) {
    for (int64_t d = 0; d < docs; ++d) {
      message += EventOfSize(static_cast<size_t>(bytes), seq++);
    }
  }
  return messages;
}

// Sends `count` of `messages` round robin to `endpoint` after the start
// signal; returns once ZeroMQ has sent them all.
void SendAll(const std::string& endpoint,
             const std::vector<std::string>& messages, int64_t count) {
  zmq::context_t context(1);
  zmq::socket_t push(context, zmq::socket_type::push);
  push.set(zmq::sockopt::sndhwm, kHighWaterMark);
  push.set(zmq::sockopt::linger, -1);
  push.connect(endpoint);
  WaitForStart();
  for (int64_t i = 0; i < count; ++i) {
    push.send(zmq::buffer(messages[i % messages.size()]),
              zmq::send_flags::none);
  }
}  // the context's destructor waits until everything is sent

int Push(const std::string& endpoint, int64_t events, int64_t docs,
         int64_t bytes) {
  if (docs < 1 || events % docs != 0) {
    std::fprintf(stderr, "pipeline_sender: events not a multiple of docs\n");
    return 2;
  }
  SendAll(endpoint, BuildMessages(docs, bytes), events / docs);
  PrintCpu();
  return 0;
}

// kDistinctMessages syslog lines of `bytes` bytes each (at least ~160),
// newline-terminated, the same length whatever their sequence number.
std::string BuildSyslogLines(int64_t bytes) {
  std::string lines;
  for (int seq = 0; seq < kDistinctMessages; ++seq) {
    std::string line = absl::StrFormat(
        "<14>Dec  1 03:00:00 web-1.example.com request[4242]: "
        "id=5f1d2a3b000102030405060708090a0b seq=%08d "
        "user_agent=\"Mozilla/5.0 (X11; Linux x86_64)\" path=/api/v1/items "
        "response.status=200 request_time=0.0123 pad=",
        seq);
    line.resize(std::max<size_t>(line.size(), bytes - 1), 'x');
    lines += line + "\n";
  }
  return lines;
}

// A TCP connection to "host:port"; -1 (after a message) when it fails.
int ConnectTcp(const std::string& address) {
  const size_t colon = address.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(
      static_cast<uint16_t>(std::atoi(address.substr(colon + 1).c_str())));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::perror("pipeline_sender: connect");
    return -1;
  }
  return fd;
}

// Writes all of `data` to `fd`; false on an error.
bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

int Syslog(const std::string& address, int64_t events, int64_t bytes) {
  const std::string lines = BuildSyslogLines(bytes);
  const size_t line_size = lines.size() / kDistinctMessages;
  const int fd = ConnectTcp(address);
  if (fd < 0) return 1;
  WaitForStart();
  for (int64_t left = events; left > 0; left -= kDistinctMessages) {
    const size_t n =
        static_cast<size_t>(std::min<int64_t>(left, kDistinctMessages));
    if (!WriteAll(fd, absl::string_view(lines).substr(0, n * line_size))) {
      std::perror("pipeline_sender: write");
      return 1;
    }
  }
  close(fd);
  PrintCpu();
  return 0;
}

int Client(const std::string& host, int64_t events, bool batch) {
  setenv("ZIGGY_HOST", host.c_str(), 1);
  if (batch) {
    unsetenv("ZIGGY_BATCH");
  } else {
    setenv("ZIGGY_BATCH", "0", 1);
  }
  if (absl::Status s = Configure(); !s.ok()) {
    std::fprintf(stderr, "pipeline_sender: %s\n", s.ToString().c_str());
    return 1;
  }
  WaitForStart();
  for (int64_t i = 0; i < events / 2; ++i) {
    if (i % 256 == 0) KeepQueueBelowHalf();
    RecordTypicalRequest(i);
  }
  Flush(absl::Seconds(120));
  const TransportStats stats = GetTransportStats();
  std::printf("queued=%llu sent=%llu dropped=%llu\n",
              static_cast<unsigned long long>(stats.queued),
              static_cast<unsigned long long>(stats.sent),
              static_cast<unsigned long long>(stats.dropped_queue_full));
  Shutdown();  // the rest leaves within TransportOptions::linger
  PrintCpu();
  return stats.dropped_queue_full + stats.dropped_too_large > 0 ? 3 : 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: pipeline_sender pull <messages>\n"
               "       pipeline_sender push <endpoint> <events> <docs> "
               "<bytes>\n"
               "       pipeline_sender client <host:port> <events> <batch>\n"
               "       pipeline_sender syslog <host:port> <events> <bytes>\n");
  return 2;
}

int Main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "pull" && argc == 3) return Pull(Number(argv[2]));
  if (mode == "push" && argc == 6) {
    return Push(argv[2], Number(argv[3]), Number(argv[4]), Number(argv[5]));
  }
  if (mode == "syslog" && argc == 5) {
    return Syslog(argv[2], Number(argv[3]), Number(argv[4]));
  }
  if (mode == "client" && argc == 5) {
    return Client(argv[2], Number(argv[3]), Number(argv[4]) != 0);
  }
  return Usage();
}

}  // namespace
}  // namespace ziggy::bench

int main(int argc, char** argv) {
  const sigset_t start = ziggy::bench::StartSignal();
  pthread_sigmask(SIG_BLOCK, &start, nullptr);
  return ziggy::bench::Main(argc, argv);
}
