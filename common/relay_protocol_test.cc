#include "common/relay_protocol.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "client/format/event.h"
#include "client/reader/reader.h"
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

// A whole batch as a forwarder sends it: the header frame and the payload
// frame, `events` documents, zstd-compressed or not.
struct Batch {
  std::string header;
  std::string payload;
  std::vector<std::string> events;
};

Batch MakeBatch(bool zstd, int events = 5) {
  Batch batch;
  std::string plain;
  for (int i = 0; i < events; ++i) {
    batch.events.push_back(EncodeDocument(Value(Value::Map{
        {"type", "request"}, {"seq", i}, {"text", std::string(i * 7, 'x')}})));
    plain += batch.events.back();
  }
  RelayHeader h = Sample();
  h.end = h.first + events;
  h.count = events;
  h.zstd = zstd;
  h.size = static_cast<int64_t>(plain.size());
  batch.header = EncodeRelayHeader(h);
  if (zstd) {
    EXPECT_TRUE(CompressPayload(plain, 3, &batch.payload).ok());
  } else {
    batch.payload = plain;
  }
  return batch;
}

// What a collector does with the two frames of a batch: parse the header,
// decompress the payload, and split it into exactly `count` documents.
absl::Status DecodeBatch(absl::string_view header, absl::string_view payload,
                         std::vector<std::string>* events) {
  events->clear();
  absl::StatusOr<RelayHeader> h = ParseRelayHeader(header);
  if (!h.ok()) return h.status();
  std::string storage;
  if (absl::Status s = DecompressPayload(*h, &payload, &storage); !s.ok()) {
    return s;
  }
  DocumentReader reader(payload, ReaderOptions{kMaxRelayBatchBytes, false});
  absl::string_view doc;
  while (reader.Next(&doc)) events->emplace_back(doc);
  if (!reader.status().ok()) return reader.status();
  if (events->size() != static_cast<size_t>(h->count)) {
    return absl::InvalidArgumentError("count does not match the payload");
  }
  return absl::OkStatus();
}

TEST(RelayProtocolTest, ValidBatchesDecode) {
  for (const bool zstd : {false, true}) {
    const Batch batch = MakeBatch(zstd);
    std::vector<std::string> events;
    ASSERT_TRUE(DecodeBatch(batch.header, batch.payload, &events).ok()) << zstd;
    EXPECT_EQ(events, batch.events) << zstd;
  }
}

// Frames arrive whole (ZeroMQ messages), so there is no partial input to
// resume from: a batch cut anywhere, in either frame, must be refused with
// a status, and nothing may be read past the cut (ASan would tell).
TEST(RelayProtocolTest, EveryTruncationOfABatchIsRefused) {
  for (const bool zstd : {false, true}) {
    const Batch batch = MakeBatch(zstd);
    std::vector<std::string> events;
    for (size_t n = 0; n < batch.header.size(); ++n) {
      const std::string cut = batch.header.substr(0, n);  // exact-size copy
      EXPECT_FALSE(DecodeBatch(cut, batch.payload, &events).ok()) << n;
    }
    for (size_t n = 0; n < batch.payload.size(); ++n) {
      const std::string cut = batch.payload.substr(0, n);
      const absl::Status s = DecodeBatch(batch.header, cut, &events);
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << zstd << n;
    }
  }
}

// A sender that cuts its own payload and declares the cut size (recompressed
// for zstd) still cannot get a partial document or a short count through.
TEST(RelayProtocolTest, EveryCutWithAMatchingSizeIsRefused) {
  const Batch batch = MakeBatch(false);
  std::vector<std::string> events;
  for (const bool zstd : {false, true}) {
    for (size_t n = 0; n < batch.payload.size(); ++n) {
      RelayHeader h = *ParseRelayHeader(batch.header);
      const std::string cut = batch.payload.substr(0, n);
      h.size = static_cast<int64_t>(n);
      h.zstd = zstd;
      std::string payload = cut;
      if (zstd) {
        ASSERT_TRUE(CompressPayload(cut, 1, &payload).ok());
      }
      EXPECT_FALSE(DecodeBatch(EncodeRelayHeader(h), payload, &events).ok())
          << zstd << n;
      EXPECT_LT(events.size(), batch.events.size());
    }
  }
}

// A header as a map, to write fields RelayHeader cannot hold.
Value::Map HeaderFields(const Batch& batch) {
  return DecodeDocument(batch.header)->AsMap();
}

void SetField(Value::Map* map, const std::string& key, Value value) {
  for (auto& [k, v] : *map) {
    if (k == key) v = std::move(value);
  }
}

TEST(RelayProtocolTest, HostileNumbersInABatchAreRefused) {
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  const std::vector<std::pair<const char*, Value::Map>> changes = {
      {"size past the payload", {{"size", 10000}}},
      {"size zero", {{"size", 0}}},
      {"size at the limit", {{"size", int64_t{kMaxRelayBatchBytes}}}},
      {"size huge", {{"size", std::numeric_limits<int64_t>::max()}}},
      {"count one too many", {{"count", 6}, {"end", 16}}},
      {"count far too many", {{"count", kInt32Max}, {"end", 10 + kInt32Max}}},
      // Not an int32: must not wrap around to a count that matches.
      {"count past int32",
       {{"count", (int64_t{1} << 32) + 5}, {"end", int64_t{1} << 40}}},
      {"count as a double", {{"count", 5.0}}},
      {"end past int64",
       {{"end", std::numeric_limits<int64_t>::max()},
        {"first", std::numeric_limits<int64_t>::min()}}},
  };
  for (const bool zstd : {false, true}) {
    const Batch batch = MakeBatch(zstd);
    for (const auto& [what, fields] : changes) {
      Value::Map header = HeaderFields(batch);
      for (const auto& [key, value] : fields) SetField(&header, key, value);
      std::vector<std::string> events;
      const absl::Status s =
          DecodeBatch(EncodeDocument(Value(header)), batch.payload, &events);
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument)
          << what << (zstd ? " (zstd)" : "") << ": " << s;
      EXPECT_FALSE(s.message().empty()) << what;
    }
  }
}

// Documents whose own lengths lie: past the payload's end, or too short to
// be a document. The batch is refused whole.
TEST(RelayProtocolTest, DocumentLengthsPastThePayloadAreRefused) {
  const Batch batch = MakeBatch(false);
  RelayHeader h = *ParseRelayHeader(batch.header);
  for (const uint32_t length : {0u, 1u, 4u, 0x7fffffffu, 0xffffffffu,
                                static_cast<uint32_t>(h.size + 1)}) {
    std::string payload = batch.payload;
    const size_t last = payload.size() - batch.events.back().size();
    for (int i = 0; i < 4; ++i) payload[last + i] = (length >> (8 * i)) & 0xff;
    std::vector<std::string> events;
    const absl::Status s = DecodeBatch(batch.header, payload, &events);
    EXPECT_FALSE(s.ok()) << length;
    EXPECT_NE(s.message(), "") << length;
  }
}

// A zstd payload that inflates beyond the size its header declares.
TEST(RelayProtocolTest, ZstdPayloadLargerThanDeclaredIsRefused) {
  const std::string big(1 << 20, 'z');
  std::string compressed;
  ASSERT_TRUE(CompressPayload(big, 1, &compressed).ok());
  RelayHeader h = Sample();
  h.zstd = true;
  for (const int64_t size : {int64_t{0}, int64_t{1}, int64_t{(1 << 20) - 1}}) {
    h.size = size;
    absl::string_view payload = compressed;
    std::string storage;
    EXPECT_EQ(DecompressPayload(h, &payload, &storage).code(),
              absl::StatusCode::kInvalidArgument)
        << size;
  }
}

}  // namespace
}  // namespace ziggy
