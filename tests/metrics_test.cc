// --metrics on the real ziggyd and ziggy-forwarder: GET /metrics over TCP
// against STATUS (received, written, dropped by reason, per type, the
// forwarder's spool and relay), checked by promtool; 404 and 405; and where
// --metrics may listen without keys.

#include "common/metrics.h"

#include <sys/stat.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/format/event.h"
#include "client/format/value.h"
#include "client/net/curve_key.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "tests/ziggyd.h"

namespace ziggy::testing {
namespace {

constexpr char kPromtool[] = "/usr/bin/promtool";

// The port of `daemon`'s --metrics, from SOCK_METRICS.
int MetricsPort(Ziggyd& daemon) {
  absl::StatusOr<Value> reply = daemon.Call("SOCK_METRICS");
  const Value* port = reply.ok() ? reply->Get("port") : nullptr;
  return port != nullptr && port->kind() == Value::Kind::kInt
             ? static_cast<int>(port->AsInt())
             : -1;
}

// GET /metrics; the body ("" after a failure, recorded).
std::string Scrape(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10);
  httplib::Result got = client.Get("/metrics");
  if (!got) {
    ADD_FAILURE() << "GET /metrics: " << httplib::to_string(got.error());
    return "";
  }
  EXPECT_EQ(got->status, 200) << got->body;
  EXPECT_EQ(got->get_header_value("Content-Type"),
            "text/plain; version=0.0.4; charset=utf-8");
  return got->body;
}

// series (name{labels}) -> value, from the text format.
std::map<std::string, double> Samples(const std::string& text) {
  std::map<std::string, double> samples;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    EXPECT_TRUE(absl::SimpleAtod(line.substr(space + 1), &value)) << line;
    samples[std::string(line.substr(0, space))] = value;
  }
  return samples;
}

std::string Series(absl::string_view name, absl::string_view label,
                   absl::string_view value) {
  return absl::StrCat(name, "{", label, "=\"", EscapeLabelValue(value), "\"}");
}

double Number(const Value* value) {
  if (value == nullptr) return -1;
  return value->kind() == Value::Kind::kInt
             ? static_cast<double>(value->AsInt())
             : value->AsDouble();
}

// promtool check metrics on `text`: no problems, exit 0. Fails (does not
// skip) when promtool is missing.
void ExpectPromtoolClean(const std::string& text) {
  struct stat st;
  ASSERT_EQ(stat(kPromtool, &st), 0)
      << kPromtool << " is missing: run tools/install-test-tools.sh "
      << "(Debian's prometheus package), as ./bazelw test does";
  const std::string dir = TempDir("promtool");
  ASSERT_TRUE(ReplaceFileDurably(dir, "metrics.txt", text).ok());
  const std::string path = dir + "/metrics.txt";
  std::string out, err;
  EXPECT_EQ(RunCommand({kPromtool, "check", "metrics"}, &out, &err,
                       absl::Seconds(60), path),
            0)
      << out << err;
  EXPECT_EQ(out + err, "");
}

// A good event of `type`.
std::string Event(absl::string_view type, int64_t seq) {
  return ForeignEvent(type, 1, seq, "web-1");
}

TEST(MetricsTest, CollectorScrapeMatchesStatusAndPassesPromtool) {
  auto ziggyd = Ziggyd::Start(
      TempDir("logs"), {"--metrics=127.0.0.1:0", "--max-event-bytes=4096"});
  ASSERT_NE(ziggyd, nullptr);
  const int port = MetricsPort(*ziggyd);
  ASSERT_GT(port, 0);
  Sender sender(ziggyd->collect());
  int good = 0;
  const auto send = [&](absl::string_view type) {
    sender.Send(Event(type, good++));
  };
  const std::string odd = "odd \"type\" \\ with\na newline";
  for (int i = 0; i < 3; ++i) send("db");
  for (int i = 0; i < 2; ++i) send(odd);
  SendMalformedMix(sender, [&] { send("web"); });
  SendInvalidUtf8(sender, [&] { send("web"); });
  ASSERT_TRUE(ziggyd->WaitWritten(good + kInvalidUtf8Events));

  const std::map<std::string, double> samples = Samples(Scrape(port));
  const Value status = ziggyd->Status();
  EXPECT_EQ(samples.at("ziggy_events_received_total"),
            Number(status.Get("received")));
  EXPECT_EQ(samples.at("ziggy_events_written_total"), good + 4);
  EXPECT_EQ(samples.at("ziggy_events_written_total"),
            Number(status.Get("written")));
  for (const auto& [reason, count] : status.Get("dropped")->AsMap()) {
    EXPECT_EQ(
        samples.at(Series("ziggy_events_dropped_total", "reason", reason)),
        Number(&count))
        << reason;
  }
  for (const auto& [path, count] : kMalformedMixDrops) {
    const std::string reason(absl::string_view(path).substr(8));
    EXPECT_EQ(
        samples.at(Series("ziggy_events_dropped_total", "reason", reason)),
        count)
        << reason;
  }
  EXPECT_EQ(samples.at(Series("ziggy_events_repaired_total", "reason", "utf8")),
            kInvalidUtf8Events);
  const Value::Map& types = status.Get("events")->AsMap();
  EXPECT_EQ(types.size(), 5u);  // db, odd, web, utf8 and "bad\uFFFD"
  for (const auto& [type, entry] : types) {
    EXPECT_EQ(samples.at(Series("ziggy_type_events_total", "type", type)),
              Number(entry.Get("count")))
        << type;
  }
  EXPECT_EQ(samples.at(Series("ziggy_type_events_total", "type", odd)), 2);
  EXPECT_EQ(samples.at(Series("ziggy_host_events_total", "host", "web-1")),
            good);
  EXPECT_EQ(UnexportedFields(status.AsMap(), StatusSchema::kCollector),
            std::vector<std::string>{});
  ExpectPromtoolClean(Scrape(port));
}

TEST(MetricsTest, AScrapeShowsTheCountersOfItsTime) {
  auto ziggyd = Ziggyd::Start(TempDir("logs"), {"--metrics=127.0.0.1:0"});
  ASSERT_NE(ziggyd, nullptr);
  const int port = MetricsPort(*ziggyd);
  Sender sender(ziggyd->collect());
  for (int round = 1; round <= 3; ++round) {
    for (int i = 0; i < 10; ++i) sender.Send(Event("db", i));
    ASSERT_TRUE(ziggyd->WaitWritten(10 * round));
    // A scrape may be given a snapshot up to 100 ms old (StatusSnapshots'
    // max_age): the last round's, when this one was quick. So scrape until
    // one shows this round's writes; its counters must all agree.
    std::map<std::string, double> samples;
    ASSERT_TRUE(WaitFor(
        [&] {
          samples = Samples(Scrape(port));
          return samples.at("ziggy_events_written_total") >= 10 * round;
        },
        absl::Seconds(10), absl::Milliseconds(10)));
    EXPECT_EQ(samples.at("ziggy_events_received_total"), 10 * round);
    EXPECT_EQ(samples.at("ziggy_events_written_total"), 10 * round);
    EXPECT_EQ(samples.at(Series("ziggy_type_events_total", "type", "db")),
              10 * round);
  }
}

TEST(MetricsTest, ForwarderScrapeShowsSpoolAndRelay) {
  auto ziggyd = Ziggyd::Start(TempDir("logs"), {"--metrics=127.0.0.1:0"});
  ASSERT_NE(ziggyd, nullptr);
  auto forwarder = Ziggyd::StartForwarder(TempDir("spool"), ziggyd->relay(),
                                          {"--metrics=127.0.0.1:0"});
  ASSERT_NE(forwarder, nullptr);
  const int port = MetricsPort(*forwarder);
  ASSERT_GT(port, 0);
  Sender sender(forwarder->collect());
  for (int i = 0; i < 20; ++i) sender.Send(Event(i % 2 ? "a" : "b", i));
  ASSERT_TRUE(ziggyd->WaitWritten(20));

  // The relay publishes its STATUS every 100 ms: wait until the forwarder
  // has heard every acknowledgement, then compare scrape and STATUS.
  std::map<std::string, double> samples;
  Value status;
  const std::string up = ziggyd->relay();
  const auto upstream = [&](const char* field) {
    return status.Get("relay")->Get("upstreams")->Get(up)->Get(field);
  };
  const std::vector<std::pair<std::string, const char*>> spool = {
      {"ziggy_spool_spooled_events", "spooled"},
      {"ziggy_spool_acked_events", "acked"},
      {"ziggy_spool_pending_events", "pending"},
      {"ziggy_spool_bytes", "bytes"},
      {"ziggy_spool_segments", "segments"}};
  const auto settled = [&] {
    samples = Samples(Scrape(port));
    status = forwarder->Status();
    bool same = status.Find("relay.acked") != nullptr &&
                Number(status.Find("relay.acked")) == 20 &&
                samples["ziggy_relay_acked_events"] == 20;
    for (const auto& [name, field] : spool) {
      same = same && samples[name] == Number(status.Get("spool")->Get(field));
    }
    return same;
  };
  ASSERT_TRUE(WaitFor(settled, absl::Seconds(30), absl::Milliseconds(50)))
      << status.DebugString();
  EXPECT_EQ(samples.at("ziggy_spool_spooled_events"), 20);
  EXPECT_EQ(samples.at("ziggy_spool_pending_events"), 0);
  EXPECT_EQ(samples.at("ziggy_events_received_total"), 20);
  EXPECT_EQ(samples.at(Series("ziggy_type_events_total", "type", "a")), 10);
  EXPECT_EQ(upstream("state")->AsString(), "up");
  const std::string state =
      absl::StrCat("ziggy_relay_upstream_state{upstream=\"", up, "\",state=");
  EXPECT_EQ(samples.at(state + "\"up\"}"), 1);
  EXPECT_EQ(samples.at(state + "\"down\"}"), 0);
  EXPECT_EQ(samples.at(Series("ziggy_relay_current_upstream", "upstream", up)),
            1);
  EXPECT_EQ(
      samples.at(Series("ziggy_relay_upstream_acks_total", "upstream", up)),
      Number(upstream("acks")));
  EXPECT_EQ(samples.at("ziggy_relay_sent_batches_total"),
            Number(status.Find("relay.sent_batches")));
  EXPECT_EQ(UnexportedFields(status.AsMap(), StatusSchema::kForwarder),
            std::vector<std::string>{});
  ExpectPromtoolClean(Scrape(port));

  // The collector's side: the relay counters and the forwarder it knows.
  const Value collector = ziggyd->Status();
  const std::map<std::string, double> received =
      Samples(Scrape(MetricsPort(*ziggyd)));
  EXPECT_EQ(received.at("ziggy_relay_received_events_total"), 20);
  EXPECT_EQ(collector.Find("relay.forwarders")->AsMap().size(), 1u);
  EXPECT_EQ(UnexportedFields(collector.AsMap(), StatusSchema::kCollector),
            std::vector<std::string>{});
  ExpectPromtoolClean(Scrape(MetricsPort(*ziggyd)));
}

TEST(MetricsTest, OtherPathsAre404AndOtherMethods405) {
  auto ziggyd = Ziggyd::Start(TempDir("logs"), {"--metrics=127.0.0.1:0"});
  ASSERT_NE(ziggyd, nullptr);
  httplib::Client client("127.0.0.1", MetricsPort(*ziggyd));
  for (const char* path : {"/", "/metrics/x", "/status"}) {
    httplib::Result got = client.Get(path);
    ASSERT_TRUE(got) << path;
    EXPECT_EQ(got->status, 404) << path;
  }
  httplib::Result post = client.Post("/metrics", "", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD");
  httplib::Result put = client.Put("/metrics", "x", "text/plain");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 405);
}

TEST(MetricsTest, OffByDefault) {
  auto ziggyd = Ziggyd::Start(TempDir("logs"));
  ASSERT_NE(ziggyd, nullptr);
  EXPECT_EQ(ziggyd->Status().Find("ports.metrics"), nullptr);
  EXPECT_EQ(MetricsPort(*ziggyd), -1);
}

// Runs `binary` with `flags` and port-0 loopback ZeroMQ ports; its exit
// code, stderr in *err.
int RunRefused(const std::string& binary, std::vector<std::string> flags,
               std::string* err) {
  std::vector<std::string> argv = {
      RunfilesPath(binary), "--control=127.0.0.1:0", "--collect=127.0.0.1:0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  std::string out;
  return RunCommand(argv, &out, err, absl::Seconds(20));
}

TEST(MetricsTest, NonLoopbackMetricsWithoutKeysNeedsInsecure) {
  std::string err;
  EXPECT_EQ(RunRefused("collector/ziggyd",
                       {"--relay=127.0.0.1:0", "--metrics=0.0.0.0:0",
                        "--log-path=" + TempDir("refused")},
                       &err),
            1);
  EXPECT_TRUE(
      absl::StrContains(err, "--metrics=0.0.0.0:0 is not a loopback address"))
      << err;
  EXPECT_TRUE(absl::StrContains(err, "--insecure")) << err;
  EXPECT_EQ(RunRefused("forwarder/ziggy-forwarder",
                       {"--metrics=[::]:0", "--upstream=127.0.0.1:1",
                        "--spool-path=" + TempDir("refused-spool")},
                       &err),
            1);
  EXPECT_TRUE(
      absl::StrContains(err, "--metrics=[::]:0 is not a loopback address"))
      << err;

  auto insecure =
      Ziggyd::Start(TempDir("logs"), {"--metrics=0.0.0.0:0", "--insecure"});
  ASSERT_NE(insecure, nullptr);
  EXPECT_TRUE(absl::StrContains(
      insecure->process().Stderr(),
      "--insecure: plain text on a non-loopback address: --metrics=0.0.0.0:0"));
  EXPECT_NE(Scrape(MetricsPort(*insecure)), "");
}

// The port in the daemon's "metrics: http://host:port/metrics" line.
int LoggedMetricsPort(const std::string& log) {
  const size_t at = log.find("/metrics\n");
  const size_t colon = log.rfind(':', at);
  int port = -1;
  if (at != std::string::npos && colon != std::string::npos) {
    absl::SimpleAtoi(log.substr(colon + 1, at - colon - 1), &port);
  }
  return port;
}

TEST(MetricsTest, WithCurveKeyMetricsIsAllowedAnywhereWithAWarning) {
  const std::string dir = TempDir("keys");
  absl::StatusOr<CurveKeyPair> key = GenerateKeyPair();
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(WriteKeyPair(*key, dir + "/ziggyd.key").ok());
  auto ziggyd = Ziggyd::Start(
      TempDir("logs"),
      {"--metrics=0.0.0.0:0", "--curve-key=" + dir + "/ziggyd.key"});
  ASSERT_NE(ziggyd, nullptr);
  std::string log;
  ASSERT_TRUE(WaitFor([&] {
    log = ziggyd->process().Stderr();
    return absl::StrContains(log, "/metrics\n");
  }));
  EXPECT_TRUE(absl::StrContains(
      log, "--metrics=0.0.0.0:0: /metrics is unauthenticated plain HTTP"))
      << log;
  const std::string text = Scrape(LoggedMetricsPort(log));
  EXPECT_TRUE(absl::StrContains(text, "\nziggy_auth_accepted_total "));
  ExpectPromtoolClean(text);
}

}  // namespace
}  // namespace ziggy::testing
