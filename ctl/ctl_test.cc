#include "ctl/ctl.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "client/net/curve_key.h"
#include "client/net/endpoint.h"
#include "client/net/socket.h"
#include "gtest/gtest.h"
#include "zmq.hpp"

namespace ziggy {
namespace {

TEST(CtlTest, FormatStatusShowsCountersTypesAndHosts) {
  const Value status(Value::Map{
      {"daemon", "ziggyd"},
      {"host", "web-1"},
      {"pid", 42},
      {"uptime", 3725.0},
      {"last", 1000.0},
      {"lag", 0.25},
      {"received", int64_t{1234567}},
      {"events",
       Value(Value::Map{
           {"request", Value(Value::Map{{"last", 999.0}, {"count", 7}})},
           {"evil\n\x1b[31m",
            Value(Value::Map{{"last", 990.0}, {"count", 1}})}})},
      {"hosts", Value(Value::Map{{"web-1", Value(Value::Map{{"last", 1000.0},
                                                            {"count", 8}})}})},
      {"dropped", Value(Value::Map{{"malformed", 2}, {"no_type", 0}})},
      {"repaired", Value(Value::Map{{"utf8", 3}})},
  });
  const std::string text = FormatStatus(status, 1002.0);
  EXPECT_NE(text.find("ziggyd on web-1 (pid 42), up 1h02m"), std::string::npos)
      << text;
  EXPECT_NE(text.find("1,234,567 events"), std::string::npos) << text;
  EXPECT_NE(text.find("3 with invalid UTF-8 repaired"), std::string::npos)
      << text;
  EXPECT_NE(text.find("lag 0.250s"), std::string::npos) << text;
  EXPECT_NE(text.find("dropped     2 (malformed 2)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("request"), std::string::npos);
  EXPECT_NE(text.find("3.0s ago"), std::string::npos) << text;
  // Hostile names cannot reach the terminal raw.
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_NE(text.find("evil\\n\\x1b[31m"), std::string::npos) << text;
  EXPECT_LT(text.find("request"), text.find("evil"));  // most recent first
}

TEST(CtlTest, UsageErrors) {
  std::ostringstream out, err;
  EXPECT_EQ(RunCtl({}, {}, out, err), 1);
  EXPECT_NE(err.str().find("no command"), std::string::npos);
  err.str("");
  EXPECT_EQ(RunCtl({"frobnicate"}, {}, out, err), 1);
  EXPECT_NE(err.str().find("unknown command 'frobnicate'"), std::string::npos);
  EXPECT_TRUE(out.str().empty());
}

// A daemon's control port that answers every request with `reply`, from its
// own thread, and keeps the last request it got.
class CannedDaemon {
 public:
  // `curve`: a CurveZMQ server (CurveSocketOptions::Server), or plain text.
  explicit CannedDaemon(const Value& reply,
                        absl::optional<CurveSocketOptions> curve = {})
      : reply_(EncodeDocument(reply)),
        socket_(MakeSocket(context_, zmq::socket_type::rep,
                           ServerOptions(std::move(curve)))) {
    socket_.bind("tcp://127.0.0.1:*");
    options_.hosts = {absl::StrCat(
        "127.0.0.1:", EndpointPort(socket_.get(zmq::sockopt::last_endpoint)))};
    options_.timeout = absl::Seconds(10);
    thread_ = std::thread([this] { Serve(); });
  }
  ~CannedDaemon() {
    stop_ = true;
    thread_.join();
  }

  const CtlOptions& options() const { return options_; }
  // Runs ziggyctl `args`; its exit code, and what it printed.
  int Run(const std::vector<std::string>& args, bool json = false) {
    out_.str("");
    err_.str("");
    CtlOptions options = options_;
    options.json = json;
    return RunCtl(args, options, out_, err_);
  }
  std::string out() const { return out_.str(); }
  std::string err() const { return err_.str(); }
  // The last request, decoded (after Run returned).
  Value request() const { return *DecodeDocument(request_); }

 private:
  static SocketOptions ServerOptions(absl::optional<CurveSocketOptions> curve) {
    SocketOptions options;
    options.receive_timeout_ms = 20;
    options.curve = std::move(curve);
    return options;
  }
  void Serve() {
    while (!stop_) {
      zmq::message_t message;
      if (!socket_.recv(message)) continue;
      request_ = message.to_string();
      socket_.send(zmq::buffer(reply_));
    }
  }

  const std::string reply_;
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  CtlOptions options_;
  std::atomic<bool> stop_{false};
  std::string request_;  // written before the reply is sent
  std::thread thread_;
  std::ostringstream out_, err_;
};

size_t Lines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

const Value kPorts(Value::Map{
    {"control", 3513}, {"collect", 3514}, {"stream", 41234}});

TEST(CtlTest, PortsListsTheBoundPorts) {
  CannedDaemon daemon(Value(Value::Map{{"ports", kPorts}}));
  EXPECT_EQ(daemon.Run({"ports"}), 0) << daemon.err();
  EXPECT_EQ(daemon.out(), "control 3513\ncollect 3514\nstream 41234\n");
  EXPECT_EQ(daemon.request(), Value(Value::Map{{"cmd", "STATUS"}}));
  EXPECT_EQ(daemon.Run({"ports"}, /*json=*/true), 0) << daemon.err();
  EXPECT_EQ(daemon.out(),
            "{\"control\":3513,\"collect\":3514,\"stream\":41234}\n");
}

// A STATUS without `ports`, or with one that is not a map: one line on
// stderr saying so, exit 1, nothing on stdout, with or without --json.
TEST(CtlTest, PortsWithoutAPortsMapIsAOneLineError) {
  const std::vector<std::pair<Value, std::string>> replies = {
      {Value(Value::Map{{"last", 1.0}}), "lists no ports in its STATUS"},
      {Value(Value::Map{{"ports", 3513}}), "'ports' that is not a map"},
      {Value(Value::Map{{"ports", "3513"}}), "'ports' that is not a map"},
      {Value(Value::Map{{"ports", Value::MakeList({3513})}}),
       "'ports' that is not a map"},
  };
  for (const auto& [reply, why] : replies) {
    for (const bool json : {false, true}) {
      CannedDaemon daemon(reply);
      EXPECT_EQ(daemon.Run({"ports"}, json), 1) << reply.DebugString();
      EXPECT_EQ(daemon.out(), "") << reply.DebugString();
      EXPECT_EQ(Lines(daemon.err()), 1u) << daemon.err();
      EXPECT_EQ(daemon.err().rfind("ziggyctl: " + daemon.options().hosts[0], 0),
                0u)
          << daemon.err();
      EXPECT_NE(daemon.err().find(why), std::string::npos) << daemon.err();
    }
  }
}

TEST(CtlTest, StatusSkipsAPortsLineItCannotFill) {
  for (const Value& ports : {Value(3513), Value(Value::Map{}),
                             Value(Value::Map{{"control", "x"}})}) {
    CannedDaemon daemon(
        Value(Value::Map{{"daemon", "ziggyd"}, {"ports", ports}}));
    EXPECT_EQ(daemon.Run({"status"}), 0) << daemon.err();
    EXPECT_EQ(daemon.out().find("ports"), std::string::npos) << daemon.out();
    EXPECT_EQ(daemon.out().rfind("ziggyd\n", 0), 0u) << daemon.out();
  }
  CannedDaemon daemon(Value(Value::Map{{"ports", kPorts}}));
  EXPECT_EQ(daemon.Run({"status"}), 0) << daemon.err();
  EXPECT_NE(daemon.out().find(
                "ports       control 3513, collect 3514, stream 41234\n"),
            std::string::npos)
      << daemon.out();
}

// Each command sends its request and prints its own line.
TEST(CtlTest, EachCommandSendsItsRequestAndPrintsItsReply) {
  struct Case {
    std::vector<std::string> args;
    Value reply;
    Value request;
    std::string printed;  // "{host}" stands for the daemon's address
  };
  const std::vector<Case> cases = {
      {{"flush"},
       Value(Value::Map{{"written", 1234}}),
       Value(Value::Map{{"cmd", "FLUSH"}}),
       "flushed: 1,234 events written\n"},
      {{"flush"},
       Value(Value::Map{{"synced", 99}}),
       Value(Value::Map{{"cmd", "FLUSH"}}),
       "flushed: spool synced, every event below index 99 durable\n"},
      {{"flush"},
       Value(Value::Map{}),
       Value(Value::Map{{"cmd", "FLUSH"}}),
       "flushed\n"},
      {{"shutdown"},
       Value(Value::Map{}),
       Value(Value::Map{{"cmd", "SHUTDOWN"}}),
       "shutting down {host}\n"},
      {{"upstream"},
       Value(Value::Map{{"upstreams", "a:1,b:2"}}),
       Value(Value::Map{{"cmd", "UPSTREAM"}}),
       "a:1,b:2\n"},
      {{"upstream", "set", "c:3"},
       Value(Value::Map{}),
       Value(Value::Map{{"cmd", "UPSTREAM_SET"}, {"upstreams", "c:3"}}),
       "upstreams set to c:3\n"},
  };
  for (const Case& c : cases) {
    CannedDaemon daemon(c.reply);
    EXPECT_EQ(daemon.Run(c.args), 0) << daemon.err();
    EXPECT_EQ(daemon.request(), c.request) << c.args[0];
    std::string printed = c.printed;
    if (size_t at = printed.find("{host}"); at != std::string::npos) {
      printed.replace(at, 6, daemon.options().hosts[0]);
    }
    EXPECT_EQ(daemon.out(), printed);
  }
}

TEST(CtlTest, WrongArgumentsAreRefusedBeforeAnythingIsSent) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"status", "x"},
                                             {"upstream", "set"},
                                             {"upstream", "get", "a:1"},
                                             {"upstream set"}}) {
    std::ostringstream out, err;
    CtlOptions options;
    options.hosts = {"127.0.0.1:1"};  // nobody: a request would time out
    options.timeout = absl::Seconds(30);
    EXPECT_EQ(RunCtl(args, options, out, err), 1) << args[0];
    EXPECT_EQ(Lines(err.str()), 1u) << err.str();
    EXPECT_TRUE(out.str().empty());
  }
}

TEST(CtlTest, HostileNumbersPrintAsZeroOrTheirLimit) {
  const Value status(Value::Map{
      {"uptime", 1e300},
      {"received", -5},
      {"received_bytes", std::nan("")},
      {"dropped", Value(Value::Map{{"malformed", -1}, {"a.b\x1b", 2}})},
  });
  const std::string text = FormatStatus(status, 1000.0);
  EXPECT_NE(text.find("received    0 events (0 B)"), std::string::npos) << text;
  EXPECT_NE(text.find("dropped     2 (a.b\\x1b 2)"), std::string::npos) << text;
  EXPECT_NE(text.find(", up "), std::string::npos) << text;
}

TEST(CtlTest, FormatStatusShowsTheNatsSource) {
  const Value status(Value::Map{
      {"written", 10},
      {"nats", Value(Value::Map{{"servers", "nats://a:4222"},
                                {"server", "nats://a:4222"},
                                {"connected", true},
                                {"stream", "ZIGGY"},
                                {"consumer", "ziggyd"},
                                {"batches", 3},
                                {"events", 3000},
                                {"acks", 3},
                                {"pending_acks", 1},
                                {"ack_errors", 2},
                                {"duplicates_dropped", 20},
                                {"rejected", 1},
                                {"possible_duplicates", 0}})},
  });
  const std::string text = FormatStatus(status, 1000.0);
  EXPECT_NE(text.find("nats        ZIGGY/ziggyd at nats://a:4222: 3,000 "
                      "events in 3 batches, 3 acks (1 pending, 2 errors), 20 "
                      "duplicates dropped, 1 rejected, 0 possible "
                      "duplicates\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(
      FormatStatus(Value(Value::Map{{"written", 1}}), 1000.0).find("nats "),
      std::string::npos);
}

TEST(CtlTest, FormatStatusShowsTheDisk) {
  const Value status(Value::Map{
      {"written", 10},
      {"disk", Value(Value::Map{{"log_path_bytes", 3 << 20},
                                {"free_bytes", 1 << 30},
                                {"min_free_bytes", int64_t{2} << 30},
                                {"accepting", false},
                                {"low_disk_pauses", 2},
                                {"files_compressed", 4},
                                {"bytes_saved", 5 << 20},
                                {"days_removed", 6},
                                {"compression_errors", 0},
                                {"oldest_day", "20231101"}})},
  });
  const std::string text = FormatStatus(status, 1000.0);
  EXPECT_NE(text.find("disk        3.0 MiB of event files, 1.00 GiB free "
                      "(min 2.00 GiB), oldest day 20231101; NOT ACCEPTING "
                      "(low disk)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("4 files compressed (5.0 MiB saved), 6 days removed, "
                      "2 low-disk pauses, 0 compression errors"),
            std::string::npos)
      << text;
  // Without a disk section (older daemons, the forwarder): no disk line.
  EXPECT_EQ(
      FormatStatus(Value(Value::Map{{"written", 1}}), 1000.0).find("disk "),
      std::string::npos);
}

// A tier forwarder (--relay) has a relay_in section: one line for it.
TEST(CtlTest, FormatStatusShowsATiersRelayPort) {
  const Value status(Value::Map{
      {"relay_in", Value(Value::Map{{"batches", 12},
                                    {"events", 3400},
                                    {"acked", 11},
                                    {"duplicates_dropped", 5},
                                    {"rejected", 1},
                                    {"refused_full", 2},
                                    {"forwarders_known", 3}})},
  });
  const std::string text = FormatStatus(status, 1000.0);
  EXPECT_NE(text.find("relay in    3,400 events in 12 batches from 3 "
                      "forwarders, 11 acked, 5 duplicates dropped, 1 "
                      "rejected, 2 refused (spool full)\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(
      FormatStatus(Value(Value::Map{{"written", 1}}), 1000.0).find("relay in"),
      std::string::npos);
}

// A fresh directory under TEST_TMPDIR.
std::string TempDir() {
  const char* root = std::getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(root ? root : "/tmp", "/ctlXXXXXX");
  EXPECT_NE(mkdtemp(&pattern[0]), nullptr);
  return pattern;
}

int ModeOf(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777)
                                      : -1;
}

TEST(CtlTest, KeygenWritesAPairAndPrintsOnlyThePublicKey) {
  const std::string path = TempDir() + "/ziggyd.key";
  std::ostringstream out, err;
  ASSERT_EQ(RunCtl({"keygen", path}, {}, out, err), 0) << err.str();
  EXPECT_EQ(err.str(), "");
  EXPECT_EQ(ModeOf(path), 0600);
  EXPECT_EQ(ModeOf(path + ".pub"), 0644);
  absl::StatusOr<CurveKeyPair> pair = LoadSecretKey(path);
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_EQ(out.str(), absl::StrCat("secret key: ", path,
                                    " (mode 0600; keep it on this host)\n",
                                    "public key: ", path, ".pub\n",
                                    pair->public_key().z85(), "\n"));
  EXPECT_EQ(out.str().find(pair->secret_z85()), std::string::npos);
}

// Runs `args` with `options` and `server_key`/`key` as the curve flags.
int RunWithKeys(const std::vector<std::string>& args, CtlOptions options,
                const std::string& server_key, const std::string& key,
                std::string* err) {
  options.curve_server_key = server_key;
  options.curve_key = key;
  std::ostringstream out, errors;
  const int code = RunCtl(args, options, out, errors);
  *err = errors.str();
  return code;
}

TEST(CtlTest, CurveKeysReachACurveDaemonAndAWrongServerKeyFailsInTime) {
  const std::string dir = TempDir();
  std::ostringstream out, err;
  ASSERT_EQ(RunCtl({"keygen", dir + "/daemon"}, {}, out, err), 0);
  ASSERT_EQ(RunCtl({"keygen", dir + "/me"}, {}, out, err), 0);
  ASSERT_EQ(RunCtl({"keygen", dir + "/other"}, {}, out, err), 0);
  CannedDaemon daemon(
      Value(Value::Map{{"ok", 1}}),
      CurveSocketOptions::Server(*LoadSecretKey(dir + "/daemon")));
  std::string error;
  EXPECT_EQ(RunWithKeys({"flush"}, daemon.options(), dir + "/daemon.pub",
                        dir + "/me", &error),
            0)
      << error;

  CtlOptions quick = daemon.options();
  quick.timeout = absl::Milliseconds(500);
  const absl::Time start = absl::Now();
  EXPECT_EQ(
      RunWithKeys({"flush"}, quick, dir + "/other.pub", dir + "/me", &error),
      1);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_NE(error.find("server key"), std::string::npos) << error;
  EXPECT_EQ(Lines(error), 1u) << error;
}

TEST(CtlTest, CurveFlagsGoTogetherAndBadKeyFilesAreOneLine) {
  const std::string dir = TempDir();
  std::ostringstream out, err;
  ASSERT_EQ(RunCtl({"keygen", dir + "/me"}, {}, out, err), 0);
  const absl::StatusOr<CurveKeyPair> me = LoadSecretKey(dir + "/me");
  std::string error;
  EXPECT_EQ(RunWithKeys({"status"}, {}, "", dir + "/me", &error), 1);
  EXPECT_NE(error.find("--curve-server-key and --curve-key go together"),
            std::string::npos)
      << error;
  EXPECT_EQ(RunWithKeys({"status"}, {}, dir + "/none.pub", dir + "/me", &error),
            1);
  EXPECT_NE(error.find("--curve-server-key: cannot open " + dir + "/none.pub"),
            std::string::npos)
      << error;
  // The public file where the secret belongs: its mode 0644 is refused.
  EXPECT_EQ(
      RunWithKeys({"status"}, {}, dir + "/me.pub", dir + "/me.pub", &error), 1);
  EXPECT_NE(error.find("--curve-key: "), std::string::npos) << error;
  EXPECT_EQ(error.find(me->secret_z85()), std::string::npos);
  EXPECT_EQ(error.find(me->public_key().z85()), std::string::npos);
  EXPECT_EQ(Lines(error), 1u) << error;
}

TEST(CtlTest, KeygenRefusesToOverwriteOrToWriteNowhere) {
  const std::string dir = TempDir();
  std::ostringstream out, err;
  ASSERT_EQ(RunCtl({"keygen", dir + "/key"}, {}, out, err), 0) << err.str();
  const absl::StatusOr<CurveKeyPair> first = LoadSecretKey(dir + "/key");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {dir + "/key", "already exists"},
      {dir + "/missing/key", "cannot create " + dir + "/missing/key: "},
      {dir + "/key/inside", "cannot create " + dir + "/key/inside: "},
  };
  for (const auto& [path, why] : cases) {
    out.str("");
    err.str("");
    EXPECT_EQ(RunCtl({"keygen", path}, {}, out, err), 1) << path;
    EXPECT_EQ(out.str(), "");
    EXPECT_EQ(Lines(err.str()), 1u) << err.str();
    EXPECT_EQ(err.str().rfind("ziggyctl keygen: ", 0), 0u) << err.str();
    EXPECT_NE(err.str().find(why), std::string::npos) << err.str();
  }
  const absl::StatusOr<CurveKeyPair> still = LoadSecretKey(dir + "/key");
  ASSERT_TRUE(first.ok() && still.ok());
  EXPECT_EQ(still->public_key(), first->public_key());
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"keygen"}, {"keygen", ""}, {"keygen", "a", "b"}}) {
    err.str("");
    EXPECT_EQ(RunCtl(args, {}, out, err), 1);
    EXPECT_NE(err.str().find("keygen takes one PATH"), std::string::npos);
  }
}

// A loopback control port nobody listens on (bound, then released).
std::string Nobody() {
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::rep);
  socket.bind("tcp://127.0.0.1:*");
  return absl::StrCat("127.0.0.1:",
                      EndpointPort(socket.get(zmq::sockopt::last_endpoint)));
}

// Several -H: status asks each and sums; a daemon that does not answer is
// shown down (a line on stderr, exit 1) and the others still summed;
// ports and flush go to each; shutdown is refused.
TEST(CtlTest, APoolOfDaemons) {
  CannedDaemon a(Value::Map{{"daemon", "ziggyd"}, {"received", 5}});
  CannedDaemon b(Value::Map{{"daemon", "ziggyd"}, {"received", 7}});
  CtlOptions options;
  options.hosts = {a.options().hosts[0], b.options().hosts[0]};
  options.timeout = absl::Seconds(10);
  std::ostringstream out, err;
  ASSERT_EQ(RunCtl({"status"}, options, out, err), 0) << err.str();
  EXPECT_NE(out.str().find("pool of 2 daemons: 2 up, 0 down"),
            std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("received    12 events"), std::string::npos)
      << out.str();
  options.hosts.push_back(Nobody());
  options.timeout = absl::Milliseconds(300);
  for (bool json : {false, true}) {
    out.str("");
    err.str("");
    options.json = json;
    EXPECT_EQ(RunCtl({"status"}, options, out, err), 1);
    EXPECT_EQ(Lines(err.str()), 1u) << err.str();
    EXPECT_NE(err.str().find(options.hosts[2]), std::string::npos);
    const std::string want =
        json ? "\"total\":{\"daemon\":\"ziggyd\",\"received\":12}"
             : "2 up, 1 down";
    EXPECT_NE(out.str().find(want), std::string::npos) << out.str();
    EXPECT_NE(out.str().find(options.hosts[2]), std::string::npos);
  }
  options.json = false;
  out.str("");
  EXPECT_EQ(RunCtl({"shutdown"}, options, out, err), 1);
  EXPECT_NE(err.str().find("shutdown takes one -H"), std::string::npos);
  options.hosts.pop_back();
  out.str("");
  EXPECT_EQ(RunCtl({"flush"}, options, out, err), 0);
  EXPECT_NE(out.str().find(a.options().hosts[0] + ":\nflushed"),
            std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find(b.options().hosts[0] + ":\nflushed"),
            std::string::npos);
}

}  // namespace
}  // namespace ziggy
