#include "common/relay_protocol.h"

#include "client/format/event.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

RelayHeader Sample() {
  RelayHeader h;
  h.forwarder = "0123456789abcdef";
  h.token = "00112233445566778899aabbccddeeff";
  h.first = 10;
  h.end = 15;
  h.acked = 10;
  h.count = 5;
  h.size = 1234;
  return h;
}

TEST(RelayProtocolTest, HeaderRoundTrips) {
  RelayHeader h = Sample();
  h.zstd = true;
  absl::StatusOr<RelayHeader> parsed = ParseRelayHeader(EncodeRelayHeader(h));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->ping);
  EXPECT_EQ(parsed->forwarder, h.forwarder);
  EXPECT_EQ(parsed->token, h.token);
  EXPECT_EQ(parsed->first, 10);
  EXPECT_EQ(parsed->end, 15);
  EXPECT_EQ(parsed->acked, 10);
  EXPECT_EQ(parsed->count, 5);
  EXPECT_TRUE(parsed->zstd);
  EXPECT_EQ(parsed->size, 1234);
  RelayHeader ping;
  ping.ping = true;
  EXPECT_TRUE(ParseRelayHeader(EncodeRelayHeader(ping))->ping);
}

// Every cut of a sound header is refused, never read past its end.
TEST(RelayProtocolTest, EveryTruncationIsRefused) {
  const std::string bytes = EncodeRelayHeader(Sample());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(ParseRelayHeader(bytes.substr(0, n)).ok()) << n;
  }
}

TEST(RelayProtocolTest, HostileHeadersAreRefused) {
  const std::vector<std::pair<const char*, void (*)(RelayHeader&)>> changes = {
      {"path in the id", [](RelayHeader& h) { h.forwarder = "../etc"; }},
      {"empty id", [](RelayHeader& h) { h.forwarder = ""; }},
      {"long id", [](RelayHeader& h) { h.forwarder = std::string(65, 'a'); }},
      {"no token", [](RelayHeader& h) { h.token = ""; }},
      {"short token", [](RelayHeader& h) { h.token = "abc"; }},
      {"token not hex", [](RelayHeader& h) { h.token = std::string(32, 'z'); }},
      {"negative first", [](RelayHeader& h) { h.first = -1; }},
      {"end before first", [](RelayHeader& h) { h.end = 9; }},
      {"negative acked", [](RelayHeader& h) { h.acked = -5; }},
      {"count beyond the range", [](RelayHeader& h) { h.count = 6; }},
      {"negative size", [](RelayHeader& h) { h.size = -1; }},
      {"size over the limit",
       [](RelayHeader& h) { h.size = kMaxRelayBatchBytes + 1; }},
  };
  for (const auto& [what, change] : changes) {
    RelayHeader h = Sample();
    change(h);
    EXPECT_FALSE(ParseRelayHeader(EncodeRelayHeader(h)).ok()) << what;
  }
  EXPECT_FALSE(ParseRelayHeader("not bson").ok());
  EXPECT_FALSE(
      ParseRelayHeader(EncodeDocument(Value(Value::Map{{"forwarder", "a"}})))
          .ok());
}

TEST(RelayProtocolTest, PayloadsMustMatchTheirHeader) {
  const std::string events(300, 'e');
  RelayHeader h = Sample();
  h.size = static_cast<int64_t>(events.size());
  absl::string_view payload = events;
  std::string storage;
  EXPECT_TRUE(DecompressPayload(h, &payload, &storage).ok());
  h.size = 299;
  payload = events;
  EXPECT_FALSE(DecompressPayload(h, &payload, &storage).ok());

  std::string compressed;
  ASSERT_TRUE(CompressPayload(events, 1, &compressed).ok());
  h.zstd = true;
  h.size = static_cast<int64_t>(events.size());
  payload = compressed;
  ASSERT_TRUE(DecompressPayload(h, &payload, &storage).ok());
  EXPECT_EQ(payload, events);
  // Every cut of the compressed payload, and a wrong declared size, fail.
  for (size_t n = 0; n < compressed.size(); ++n) {
    payload = absl::string_view(compressed).substr(0, n);
    EXPECT_FALSE(DecompressPayload(h, &payload, &storage).ok()) << n;
  }
  h.size = 100;
  payload = compressed;
  EXPECT_FALSE(DecompressPayload(h, &payload, &storage).ok());
  payload = "not zstd at all";
  EXPECT_FALSE(DecompressPayload(h, &payload, &storage).ok());
}

TEST(RelayProtocolTest, RepliesRoundTrip) {
  absl::StatusOr<RelayReply> ack = ParseRelayReply(RelayAckReply("f", 42));
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->kind, RelayReply::Kind::kAck);
  EXPECT_EQ(ack->index, 42);
  EXPECT_EQ(ack->forwarder, "f");
  EXPECT_EQ(ParseRelayReply(RelayResend(7))->index, 7);
  EXPECT_EQ(ParseRelayReply(RelayPong())->kind, RelayReply::Kind::kPong);
  absl::StatusOr<RelayReply> error =
      ParseRelayReply(RelayError("bound elsewhere", kRefusedToken));
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->kind, RelayReply::Kind::kError);
  EXPECT_EQ(error->error, "bound elsewhere");
  EXPECT_EQ(error->reason, kRefusedToken);
  EXPECT_EQ(ParseRelayReply(RelayError("malformed"))->reason, "");
  EXPECT_FALSE(ParseRelayReply("garbage").ok());
  const std::string bytes = RelayAckReply("f", 42);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(ParseRelayReply(bytes.substr(0, n)).ok()) << n;
  }
}

}  // namespace
}  // namespace ziggy
