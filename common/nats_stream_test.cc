#include "common/nats_stream.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/nats_server.h"
#include "tests/process.h"

namespace ziggy {
namespace {

TEST(NatsStreamTest, ListsAreNatsOrRelayNeverBoth) {
  EXPECT_TRUE(*IsNatsList("nats://a:4222,nats://b:4222"));
  EXPECT_FALSE(*IsNatsList("a:3515,b:3515"));
  absl::StatusOr<bool> mixed = IsNatsList("nats://a:4222,b:3515");
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("mixes NATS servers"),
            std::string::npos);
}

// The mixed-list error names the list, but never a URL's password (it is
// printed at start and returned to `ziggyctl upstream set`).
TEST(NatsStreamTest, MixedListErrorHidesPasswords) {
  absl::StatusOr<bool> mixed = IsNatsList("nats://ziggy:s3cret@a:4222,b:3515");
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.status().message().find("s3cret"), std::string::npos)
      << mixed.status();
  EXPECT_NE(mixed.status().message().find("nats://***@a:4222"),
            std::string::npos)
      << mixed.status();
}

TEST(NatsStreamTest, ParsesServersAndRefusesBadOnes) {
  auto servers = ParseNatsServers("nats://a:4222, nats://b:5222");
  ASSERT_TRUE(servers.ok()) << servers.status();
  EXPECT_EQ(*servers,
            (std::vector<std::string>{"nats://a:4222", "nats://b:5222"}));
  for (const char* bad :
       {"", "nats://a", "nats://:4222", "nats://a:0", "nats://a:70000",
        "http://a:4222", "nats://a:4222,"}) {
    EXPECT_FALSE(ParseNatsServers(bad).ok()) << bad;
  }
}

TEST(NatsStreamTest, ValidatesNames) {
  NatsStreamOptions options;
  EXPECT_TRUE(ValidateNatsStreamOptions(options).ok());
  options.stream = "A.B";
  EXPECT_FALSE(ValidateNatsStreamOptions(options).ok());
  options = NatsStreamOptions();
  options.subject = "ziggy.*";
  EXPECT_FALSE(ValidateNatsStreamOptions(options).ok());
  options.subject = "ziggy..x";
  EXPECT_FALSE(ValidateNatsStreamOptions(options).ok());
  options = NatsStreamOptions();
  options.replicas = 0;
  EXPECT_FALSE(ValidateNatsStreamOptions(options).ok());
}

TEST(NatsStreamTest, StreamFlagsParseWithTheirDefaultsAndNameTheBadOne) {
  NatsStreamFlags flags;
  flags.servers = "nats://127.0.0.1:4222";
  auto options = NatsStreamOptionsFromFlags(flags);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->stream, "ZIGGY");
  EXPECT_EQ(options->subject, "ziggy.batches");
  EXPECT_EQ(options->replicas, 1);
  EXPECT_EQ(options->max_age, absl::Hours(24));
  EXPECT_EQ(options->max_bytes, 0);
  flags.max_age = "0";
  EXPECT_EQ(NatsStreamOptionsFromFlags(flags)->max_age, absl::ZeroDuration());
  // Each case: the defaults on a loopback server, one flag made bad, and
  // what the message must name.
  using Change = void (*)(NatsStreamFlags&);
  const std::pair<Change, const char*> bad[] = {
      {[](NatsStreamFlags& f) { f.replicas = 0; }, "--nats-replicas=0"},
      {[](NatsStreamFlags& f) { f.max_age = "a day"; }, "--nats-max-age=a day"},
      {[](NatsStreamFlags& f) { f.max_age = "-1h"; }, "--nats-max-age=-1h"},
      {[](NatsStreamFlags& f) { f.max_bytes = -1; }, "--nats-max-bytes=-1"},
      {[](NatsStreamFlags& f) { f.servers = "a:3515"; }, "a:3515"},
      {[](NatsStreamFlags& f) { f.servers = "nats://a:4222"; },
       "plain text to NATS server nats://a:4222"},
      {[](NatsStreamFlags& f) { f.tls_ca = "/nonexistent/ca.pem"; },
       "--nats-tls-ca=/nonexistent/ca.pem: cannot read"},
  };
  for (const auto& [change, named] : bad) {
    NatsStreamFlags changed;
    changed.servers = "nats://127.0.0.1:4222";
    change(changed);
    auto parsed = NatsStreamOptionsFromFlags(changed);
    ASSERT_FALSE(parsed.ok()) << named;
    EXPECT_NE(parsed.status().message().find(named), std::string::npos)
        << parsed.status();
  }
  NatsStreamFlags remote;
  remote.servers = "nats://a:4222";
  remote.insecure = true;
  EXPECT_TRUE(NatsStreamOptionsFromFlags(remote).ok());
  EXPECT_EQ(*ParseNatsDuration("nats-ack-wait", "1m30s"), absl::Seconds(90));
  EXPECT_FALSE(ParseNatsDuration("nats-ack-wait", "0s").ok());
  EXPECT_FALSE(ParseNatsDuration("nats-ack-wait", "inf").ok());
  EXPECT_FALSE(ParseNatsDuration("nats-ack-wait", "30").ok());
}

TEST(NatsStreamTest, MessageIsTheHeaderThenThePayload) {
  RelayHeader header;
  header.forwarder = "f1";
  header.token = std::string(32, 'a');
  header.first = 10;
  header.end = 12;
  header.count = 2;
  header.size = 5;
  std::string data;
  AppendBatchMessage(header, "hello", &data);
  auto message = ParseBatchMessage(data);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->header.forwarder, "f1");
  EXPECT_EQ(message->header.end, 12);
  EXPECT_EQ(message->payload, "hello");
  EXPECT_EQ(BatchSubject(NatsStreamOptions(), "f1"), "ziggy.batches.f1");
  EXPECT_EQ(BatchMsgId("f1", 10), "f1:10");
  // Truncated, garbage, or a payload that does not fit the header.
  EXPECT_FALSE(ParseBatchMessage(data.substr(0, data.size() - 1)).ok());
  EXPECT_FALSE(ParseBatchMessage(data.substr(0, 3)).ok());
  EXPECT_FALSE(ParseBatchMessage(std::string(64, '\xff')).ok());
}

TEST(NatsStreamTest, EnsureStreamCreatesOnceAndChecksAnExistingOne) {
  auto server = testing::NatsServer::Start(testing::TempDir("nats"));
  ASSERT_TRUE(server.ok()) << server.status();
  NatsStreamOptions options;
  options.servers = {(*server)->url()};
  auto connection = NatsConnection::Connect(options, "test");
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_TRUE(testing::WaitFor([&] { return (*connection)->connected(); }));
  EXPECT_TRUE((*connection)->EnsureStream(options).ok());
  EXPECT_TRUE((*connection)->EnsureStream(options).ok());
  EXPECT_GT((*connection)->max_payload(), 0);
  NatsStreamOptions other = options;
  other.subject = "elsewhere";
  absl::Status wrong = (*connection)->EnsureStream(other);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kFailedPrecondition) << wrong;
}

TEST(NatsStreamTest, ConnectsLaterWhenNatsIsDownAtStart) {
  auto server = testing::NatsServer::Start(testing::TempDir("nats"));
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Stop();
  NatsStreamOptions options;
  options.servers = {(*server)->url()};
  auto connection = NatsConnection::Connect(options, "test");
  ASSERT_TRUE(connection.ok()) << connection.status();
  EXPECT_FALSE((*connection)->connected());
  EXPECT_EQ((*connection)->EnsureStream(options).code(),
            absl::StatusCode::kUnavailable);
  ASSERT_TRUE((*server)->Restart().ok());
  EXPECT_TRUE(testing::WaitFor([&] { return (*connection)->connected(); }));
  EXPECT_TRUE((*connection)->EnsureStream(options).ok());
}

TEST(NatsStreamTest, UserInformationIsNeverShown) {
  EXPECT_EQ(RedactNatsUrl("nats://ziggy:s3cret@a:4222"), "nats://***@a:4222");
  EXPECT_EQ(RedactNatsUrl("tls://tok@a:4222"), "tls://***@a:4222");
  EXPECT_EQ(RedactNatsUrl("nats://a:4222"), "nats://a:4222");
  absl::StatusOr<std::vector<std::string>> bad =
      ParseNatsServers("nats://ziggy:s3cret@a");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("s3cret"), std::string::npos);
}

TEST(NatsStreamTest, PlainTextOffThisHostNeedsTlsOrInsecure) {
  NatsStreamOptions options;
  options.servers = {"nats://127.0.0.1:4222", "nats://localhost:4222",
                     "nats://[::1]:4222", "tls://nats.example.com:4222"};
  EXPECT_TRUE(CheckNatsExposure(options, false).ok());
  options.servers.push_back("nats://u:p@nats.example.com:4222");
  absl::Status refused = CheckNatsExposure(options, false);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("nats://***@nats.example.com:4222"),
            std::string::npos)
      << refused;
  EXPECT_TRUE(CheckNatsExposure(options, true).ok());
  options.tls_ca = "/etc/ziggy/nats-ca.pem";
  EXPECT_TRUE(CheckNatsExposure(options, false).ok());
}

TEST(NatsStreamTest, SpeaksTlsWithTheGivenCaAndNotWithout) {
  const std::string certs = testing::TempDir("certs");
  ASSERT_TRUE(testing::MakeTestCertificates(certs));
  auto server = testing::NatsServer::Start(
      testing::TempDir("nats"), {"--tls", "--tlscert", certs + "/server.pem",
                                 "--tlskey", certs + "/server.key"});
  ASSERT_TRUE(server.ok()) << server.status();
  NatsStreamOptions options;
  options.servers = {(*server)->url()};
  options.tls_ca = certs + "/ca.pem";
  auto connection = NatsConnection::Connect(options, "test");
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_TRUE(testing::WaitFor([&] { return (*connection)->connected(); }));
  EXPECT_TRUE((*connection)->EnsureStream(options).ok());

  // Without the CA the server is refused (it requires TLS; a client that
  // does not trust it never connects).
  options.tls_ca.clear();
  auto plain = NatsConnection::Connect(options, "test");
  ASSERT_TRUE(plain.ok()) << plain.status();
  // (A client that would connect does within a second here.)
  EXPECT_FALSE(testing::WaitFor([&] { return (*plain)->connected(); },
                                absl::Seconds(1)));

  options.tls_ca = certs + "/missing.pem";
  absl::StatusOr<std::unique_ptr<NatsConnection>> bad =
      NatsConnection::Connect(options, "test");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--nats-tls-ca"), std::string::npos)
      << bad.status();
}

TEST(NatsStreamTest, UserAndPasswordInTheUrl) {
  auto server = testing::NatsServer::Start(
      testing::TempDir("nats"), {"--user", "ziggy", "--pass", "s3cret"});
  ASSERT_TRUE(server.ok()) << server.status();
  NatsStreamOptions options;
  const int port = (*server)->port();
  options.servers = {absl::StrCat("nats://ziggy:s3cret@127.0.0.1:", port)};
  auto connection = NatsConnection::Connect(options, "test");
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_TRUE(testing::WaitFor([&] { return (*connection)->connected(); }));
  EXPECT_TRUE((*connection)->EnsureStream(options).ok());
  EXPECT_EQ((*connection)->server().find("s3cret"), std::string::npos)
      << (*connection)->server();
}

}  // namespace
}  // namespace ziggy
