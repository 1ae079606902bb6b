// Cheap hostile traffic against the real daemons (ziggyd and
// ziggy-forwarder): huge frames on the control and stream ports. Each attack
// must leave the daemon's memory within its bound, its control port
// answering within a second, and SIGTERM stopping it cleanly.

#include <arpa/inet.h>
#include <bson/bson.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/reader/control.h"
#include "gtest/gtest.h"
#include "tests/process.h"
#include "tests/ziggyd.h"
#include "zmq.hpp"

namespace ziggy::testing {
namespace {

// Peak resident memory of `pid` (VmHWM), in bytes; -1 if unknown.
int64_t PeakRss(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, "VmHWM:")) continue;
    const std::vector<absl::string_view> parts =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t kib = 0;
    if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kib)) {
      return kib * 1024;
    }
  }
  return -1;
}

// Under AddressSanitizer the daemon also keeps freed memory in quarantine
// (256 MiB by default) and shadow memory: allowed on top.
#if defined(__SANITIZE_ADDRESS__)
constexpr int64_t kSanitizerSlack = int64_t{320} << 20;
#else
constexpr int64_t kSanitizerSlack = 0;
#endif
// Well above an idle daemon (tens of MiB), far below the frames sent.
constexpr int64_t kRssBound = (int64_t{200} << 20) + kSanitizerSlack;

// Connects to `address` (host:port) over plain TCP, speaks ZMTP 3.0 as a
// `socket_type` peer, and sends `frames` ("" stands for an empty delimiter
// frame) and then one final frame declaring `size` bytes whose first byte
// is `first_byte` — a hostile peer that needs no ZeroMQ. True when the
// daemon hung up on it (within 10 s of the last byte it took).
bool DaemonHangsUpOnHugeFrame(const std::string& address,
                              const std::string& socket_type, bool delimiter,
                              uint64_t size, char first_byte) {
  const size_t colon = address.rfind(':');
  sockaddr_in to = {};
  to.sin_family = AF_INET;
  to.sin_port =
      htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &to.sin_addr);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ADD_FAILURE() << "cannot connect to " << address;
    return false;
  }
  std::string hello(64, '\0');  // signature, version 3.0, NULL mechanism
  hello[0] = '\xff';
  hello[9] = '\x7f';
  hello[10] = 3;
  hello.replace(12, 4, "NULL");
  // The daemon's greeting must be read before going on, or it hangs up.
  char greeting[64];
  size_t have = 0;
  ssize_t got = send(fd, hello.data(), hello.size(), MSG_NOSIGNAL);
  while (got > 0 && have < sizeof greeting) {
    got = recv(fd, greeting + have, sizeof greeting - have, 0);
    if (got > 0) have += static_cast<size_t>(got);
  }
  const std::string property = absl::StrCat(
      std::string(1, 11), "Socket-Type", std::string(3, '\0'),
      std::string(1, static_cast<char>(socket_type.size())), socket_type);
  const std::string ready = absl::StrCat(std::string(1, 5), "READY", property);
  std::string frames = absl::StrCat(  // a short command, then the message
      std::string(1, 4), std::string(1, static_cast<char>(ready.size())),
      ready);
  if (delimiter) frames.append("\x01\x00", 2);  // short, more, empty
  std::string header(9, '\0');                  // long, final
  header[0] = 2;
  for (int i = 0; i < 8; ++i) {
    header[8 - i] = static_cast<char>(size >> (8 * i));
  }
  std::string chunk(1 << 20, 'x');
  chunk[0] = first_byte;
  bool open = have == sizeof greeting &&
              send(fd, frames.data(), frames.size(), MSG_NOSIGNAL) > 0 &&
              send(fd, header.data(), header.size(), MSG_NOSIGNAL) > 0;
  for (uint64_t sent = 0; open && sent < size; sent += chunk.size()) {
    open = send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) > 0;
    chunk[0] = 'x';
  }
  // Whatever the daemon says (its greeting, a reply) until it hangs up.
  const timeval timeout = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  char buffer[4096];
  while ((got = recv(fd, buffer, sizeof buffer, 0)) > 0) {
  }
  const bool hung_up = got == 0 || errno == ECONNRESET || errno == EPIPE;
  close(fd);
  return hung_up;
}

// README "Limits": --max-queued-bytes (64 MiB) + --collect-queue-bytes
// per sending connection (1 GiB) + --stream-queue-bytes per subscriber
// (16 MiB) + recycled batch buffers, held events and file buffers
// (~100 MiB) + the daemon itself (~30 MiB): under 1.3 GiB with one sender
// and one subscriber.
constexpr int64_t kFloodRssBound = (int64_t{1300} << 20) + kSanitizerSlack;

// An event of about 1 MiB: body.filler holds `filler`.
std::string BigEvent(int64_t seq, const std::string& filler) {
  bson_t doc, body;
  bson_init(&doc);
  BSON_APPEND_UTF8(&doc, "type", "big");
  BSON_APPEND_DOUBLE(&doc, "end", 2.0);
  BSON_APPEND_DOCUMENT_BEGIN(&doc, "body", &body);
  BSON_APPEND_INT64(&body, "sender", 1);
  BSON_APPEND_INT64(&body, "seq", seq);
  bson_append_utf8(&body, "filler", -1, filler.data(),
                   static_cast<int>(filler.size() - 4096));
  bson_append_document_end(&doc, &body);
  std::string bytes(reinterpret_cast<const char*>(bson_get_data(&doc)),
                    doc.len);
  bson_destroy(&doc);
  return bytes;
}

bool AnswersWithinASecond(const std::string& control) {
  return CallControl(control, "STATUS", {}, absl::Seconds(1)).ok();
}

class HostileTest : public ::testing::TestWithParam<bool> {
 protected:
  std::unique_ptr<Ziggyd> StartDaemon() {
    if (GetParam()) {
      return Ziggyd::StartForwarder(TempDir("spool"),
                                    absl::StrCat("127.0.0.1:", UnusedPort()));
    }
    return Ziggyd::Start(TempDir("logs"));
  }
};

// Sends the frame from a thread of its own while the main thread checks
// that the control port keeps answering, then the daemon's memory and that
// SIGTERM still stops it.
void Attack(Ziggyd& daemon, const std::string& address,
            const std::string& socket_type, bool delimiter, uint64_t size,
            char first_byte) {
  std::atomic<bool> hung_up{false};
  std::thread attacker([&] {
    hung_up = DaemonHangsUpOnHugeFrame(address, socket_type, delimiter, size,
                                       first_byte);
  });
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(AnswersWithinASecond(daemon.control())) << i;
  }
  attacker.join();
  EXPECT_TRUE(hung_up);
  EXPECT_TRUE(AnswersWithinASecond(daemon.control()));
  EXPECT_LT(PeakRss(daemon.process().pid()), kRssBound);
  daemon.process().Signal(SIGTERM);
  EXPECT_EQ(daemon.process().Wait(absl::Seconds(10)), 0);
}

TEST_P(HostileTest, HalfGigabyteControlRequest) {
  auto daemon = StartDaemon();
  ASSERT_NE(daemon, nullptr);
  Attack(*daemon, daemon->control(), "REQ", true, uint64_t{512} << 20, 'x');
}

// The frame is sent raw: libzmq's own SUB socket keeps a subscription in a
// trie one node per byte, and tearing down a 64 MiB one overflows its stack.
TEST_P(HostileTest, SixtyFourMegabyteSubscription) {
  auto daemon = StartDaemon();
  ASSERT_NE(daemon, nullptr);
  Attack(*daemon, daemon->stream(), "SUB", false, 64 << 20, '\x01');
}

// 1 MiB events flood the collect port while the disk refuses every write
// (a file size limit, as a full disk) and a live subscriber never reads:
// memory stays within the documented bound (README "Limits"), the control
// port answers, and once the disk takes writes again every event the
// senders handed over is kept.
TEST_P(HostileTest, MegabyteEventsAgainstAStalledDiskAndSubscriber) {
  auto daemon = StartDaemon();
  ASSERT_NE(daemon, nullptr);
  zmq::context_t context;
  zmq::socket_t stalled(context, zmq::socket_type::sub);
  stalled.set(zmq::sockopt::subscribe, "");
  stalled.connect("tcp://" + daemon->stream());
  ASSERT_TRUE(
      WaitFor([&] { return daemon->StatusNumber("stream_subscribers") == 1; }));
  LimitFileSize(daemon->process().pid(), 64 << 10);
  std::atomic<int64_t> handed_over{0};
  std::atomic<bool> stop{false};
  std::thread flood([&] {
    zmq::socket_t push(context, zmq::socket_type::push);
    push.set(zmq::sockopt::sndhwm, 16);
    push.set(zmq::sockopt::linger, 60000);
    push.connect("tcp://" + daemon->collect());
    const std::string filler(1 << 20, 'f');
    for (int64_t seq = 0; !stop.load() && seq < 3000;) {
      const std::string big = BigEvent(seq, filler);
      if (push.send(zmq::buffer(big), zmq::send_flags::dontwait)) {
        handed_over = ++seq;
      } else {
        std::this_thread::yield();
      }
    }
  });
  // The daemon is saturated: the collector's queue for the disk is full
  // (it then stops reading, and senders are pushed back); the forwarder's
  // spool refuses (it drops, counted).
  // The collector has taken about all its bounds allow (~1,050 events:
  // ZeroMQ's queue, the writer's, what the disk refused) and pushes the
  // sender back; the forwarder drops what its spool refuses, so the sender
  // gets everything out. (3 GB through an ASan-built daemon on a busy
  // 2-core machine can take longer than WaitFor's default 30 s.)
  EXPECT_TRUE(WaitFor(
      [&] {
        return GetParam() ? handed_over.load() == 3000 &&
                                daemon->StatusNumber("dropped.spool_error") > 0
                          : handed_over.load() >= 900 &&
                                daemon->StatusNumber("queue_bytes") >= 60 << 20;
      },
      absl::Minutes(2)))
      << handed_over.load() << " " << daemon->Status().DebugString();
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(AnswersWithinASecond(daemon->control())) << i;
  }
  if (!GetParam()) {
    EXPECT_LT(handed_over.load(), 1200);
  }
  EXPECT_LT(PeakRss(daemon->process().pid()), kFloodRssBound);
  stop = true;
  LimitFileSize(daemon->process().pid(), 0);
  flood.join();
  if (!GetParam()) {
    EXPECT_TRUE(daemon->WaitWritten(handed_over.load(), absl::Seconds(60)))
        << daemon->Status().DebugString();
    EXPECT_GT(daemon->StatusNumber("stream_dropped.too_large"), 0);
  }
  EXPECT_LT(PeakRss(daemon->process().pid()), kFloodRssBound);
}

TEST_P(HostileTest, ReportsFileDescriptorsWithTheLimitRaised) {
  auto daemon = StartDaemon();
  ASSERT_NE(daemon, nullptr);
  EXPECT_GT(daemon->StatusNumber("fds.open"), 3);
  struct rlimit limit;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(daemon->StatusNumber("fds.limit"),
            static_cast<double>(limit.rlim_max));
}

INSTANTIATE_TEST_SUITE_P(Daemons, HostileTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Forwarder" : "Collector";
                         });

}  // namespace
}  // namespace ziggy::testing
