// ziggyd's relay port spoken to as a foreign forwarder would (headers built
// with libbson, from forwarder/RELAY.md alone): the replies it promises,
// and hostile batches answered with {error} or counted, never a crash, never
// a bad byte in the files, never an effect on the good events around them.

#include <bson/bson.h>
#include <zstd.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/process.h"
#include "tests/ziggyd.h"
#include "zmq.hpp"

namespace ziggy::testing {
namespace {

struct Header {
  std::string forwarder = "peer-1";
  std::string token = "0123456789abcdef0123456789abcdef";  // "": none
  int64_t first = 0;
  int64_t end = 0;
  int64_t acked = 0;
  int32_t count = 0;
  std::string compression = "none";
  int64_t size = 0;
};

std::string Encode(const Header& h) {
  bson_t doc;
  bson_init(&doc);
  BSON_APPEND_UTF8(&doc, "forwarder", h.forwarder.c_str());
  if (!h.token.empty()) BSON_APPEND_UTF8(&doc, "token", h.token.c_str());
  BSON_APPEND_INT64(&doc, "first", h.first);
  BSON_APPEND_INT64(&doc, "end", h.end);
  BSON_APPEND_INT64(&doc, "acked", h.acked);
  BSON_APPEND_INT32(&doc, "count", h.count);
  BSON_APPEND_UTF8(&doc, "compression", h.compression.c_str());
  BSON_APPEND_INT64(&doc, "size", h.size);
  std::string bytes(reinterpret_cast<const char*>(bson_get_data(&doc)),
                    doc.len);
  bson_destroy(&doc);
  return bytes;
}

// Events (sender 9, seq first..end-1) back to back: a batch's payload.
std::string Events(int64_t first, int64_t end) {
  std::string payload;
  for (int64_t seq = first; seq < end; ++seq) {
    payload += ForeignEvent("relayed", 9, seq);
  }
  return payload;
}

Header For(int64_t first, int64_t end, const std::string& payload) {
  Header h;
  h.first = first;
  h.end = end;
  h.count = static_cast<int32_t>(end - first);
  h.size = static_cast<int64_t>(payload.size());
  return h;
}

// A DEALER on the relay port; each call sends frames and returns the reply
// as a document (empty when none came within the deadline).
class Peer {
 public:
  explicit Peer(const std::string& relay)
      : socket_(context_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::rcvtimeo, 10000);
    socket_.connect("tcp://" + relay);
  }

  Value Call(const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
      socket_.send(zmq::buffer(frames[i]), i + 1 < frames.size()
                                               ? zmq::send_flags::sndmore
                                               : zmq::send_flags::none);
    }
    zmq::message_t reply;
    if (!socket_.recv(reply)) return Value(Value::Map{});
    absl::StatusOr<Value> doc =
        DecodeDocument(absl::string_view(reply.data<char>(), reply.size()));
    return doc.ok() ? *doc : Value(Value::Map{{"undecodable", true}});
  }

  Value Batch(const Header& header, const std::string& payload) {
    return Call({Encode(header), payload});
  }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
};

bool IsError(const Value& reply) {
  const Value* error = reply.Get("error");
  return error != nullptr && error->kind() == Value::Kind::kString &&
         !error->AsString().empty();
}

int64_t Int(const Value& reply, absl::string_view key) {
  const Value* v = reply.Get(key);
  return v != nullptr && v->kind() == Value::Kind::kInt ? v->AsInt() : -1;
}

// Batches for indexes 3-4 (`next`), each broken in one way, by name.
std::vector<std::pair<std::string, std::vector<std::string>>> HostileBatches(
    const std::string& next) {
  std::vector<std::pair<std::string, std::vector<std::string>>> hostile;
  hostile.push_back({"garbage header", {"\x05\x00\x00\x00", next}});
  hostile.push_back({"not BSON at all", {"hello", next}});
  // A good header for indexes 3-4, changed in one way.
  auto changed = [&](const char* what, std::function<void(Header&)> change) {
    Header header = For(3, 5, next);
    change(header);
    hostile.push_back({what, {Encode(header), next}});
  };
  changed("bad forwarder id", [](Header& h) { h.forwarder = "../../etc"; });
  changed("no token", [](Header& h) { h.token = ""; });
  changed("token not hex", [](Header& h) { h.token = "not-a-token-at-all!"; });
  changed("size mismatch", [](Header& h) { h.size -= 1; });
  changed("count beyond end-first", [](Header& h) { h.count = 7; });
  changed("end before first", [](Header& h) { h.end = 2; });
  changed("unknown compression", [](Header& h) { h.compression = "lz4"; });
  changed("absurd size", [](Header& h) {
    h.compression = "zstd";
    h.size = int64_t{1} << 40;
  });
  changed("count not the documents", [](Header& h) { h.count = 1; });
  changed("zstd that is not", [](Header& h) { h.compression = "zstd"; });
  // Framing that breaks mid-payload: the batch is refused whole rather
  // than cut short (what follows the break could never be found).
  const std::string torn = next + std::string(10, '\x01');
  hostile.push_back({"broken framing", {Encode(For(3, 5, torn)), torn}});
  hostile.push_back({"three frames", {Encode(For(3, 5, next)), next, "x"}});
  hostile.push_back({"header alone", {Encode(For(3, 5, next))}});
  return hostile;
}

TEST(RelayTest, AnswersAsDocumentedAndContainsHostileBatches) {
  const std::string logs = TempDir("logs");
  auto collector = Ziggyd::Start(logs);
  ASSERT_NE(collector, nullptr);
  Peer peer(collector->relay());

  // ping
  bson_t* ping = BCON_NEW("ping", BCON_BOOL(true));
  const std::string ping_bytes(
      reinterpret_cast<const char*>(bson_get_data(ping)), ping->len);
  bson_destroy(ping);
  EXPECT_NE(peer.Call({ping_bytes}).Get("pong"), nullptr);

  // A good batch: acknowledged with its end once durable.
  const std::string first = Events(0, 3);
  Value reply = peer.Batch(For(0, 3, first), first);
  EXPECT_EQ(Int(reply, "ack"), 3) << reply.DebugString();

  // Hostile headers and payloads: each answered {error}, nothing written.
  const std::string next = Events(3, 5);
  const auto hostile = HostileBatches(next);
  for (const auto& [what, frames] : hostile) {
    EXPECT_TRUE(IsError(peer.Call(frames))) << what;
  }
  EXPECT_GE(collector->StatusNumber("relay.rejected"), hostile.size());

  // Another peer claiming peer-1's id (read from STATUS) with its own token
  // cannot move peer-1's position, however far it jumps: refused.
  Peer forger(collector->relay());
  const std::string forged = Events(500, 501);
  Header jump = For(int64_t{1} << 62, (int64_t{1} << 62) + 1, forged);
  jump.acked = int64_t{1} << 62;
  jump.token = "ffffffffffffffffffffffffffffffff";
  EXPECT_TRUE(IsError(forger.Batch(jump, forged)));
  EXPECT_EQ(collector->StatusNumber("relay.refused_token"), 1);

  // A batch skipping ahead is told where to resume.
  const std::string ahead = Events(10, 12);
  reply = peer.Batch(For(10, 12, ahead), ahead);
  EXPECT_EQ(Int(reply, "resend"), 3) << reply.DebugString();

  // A malformed event inside a batch (framed right: its length and final
  // NUL hold) is dropped and counted; the events around it land.
  std::string broken = ForeignEvent("relayed", 9, 999);
  std::fill(broken.begin() + 4, broken.end() - 1, '\x7e');  // unknown type
  const std::string mixed =
      ForeignEvent("relayed", 9, 3) + broken + ForeignEvent("relayed", 9, 4);
  reply = peer.Batch(For(3, 6, mixed), mixed);  // indexes 3, 4, 5
  EXPECT_EQ(Int(reply, "ack"), 6) << reply.DebugString();
  EXPECT_GE(collector->StatusNumber("dropped.malformed"), 1);

  // zstd, as a peer would compress it.
  const std::string tail = Events(5, 8);
  std::string compressed(ZSTD_compressBound(tail.size()), '\0');
  compressed.resize(ZSTD_compress(compressed.data(), compressed.size(),
                                  tail.data(), tail.size(), 3));
  Header zstd = For(6, 9, tail);  // seq 5-7 as indexes 6-8
  zstd.compression = "zstd";
  reply = peer.Batch(zstd, compressed);
  EXPECT_EQ(Int(reply, "ack"), 9) << reply.DebugString();

  // A replay is acknowledged again and written once.
  reply = peer.Batch(For(0, 3, first), first);
  EXPECT_EQ(Int(reply, "ack"), 3) << reply.DebugString();
  EXPECT_GE(collector->StatusNumber("relay.duplicates_dropped"), 3);

  // Exactly seq 0..7 of sender 9, once each, and nothing else.
  ASSERT_TRUE(collector->WaitWritten(8));
  const auto seen = ReadSequences(logs);
  std::multiset<std::pair<int64_t, int64_t>> expected;
  for (int64_t seq = 0; seq < 8; ++seq) expected.insert({9, seq});
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(collector->StatusNumber("relay.forwarders.peer-1.next"), 9);
}

}  // namespace
}  // namespace ziggy::testing
