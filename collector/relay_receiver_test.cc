// RelayReceiver against a forwarder's socket (DEALER) over real ZeroMQ, with
// a real EventWriter and RelayState writing under TEST_TMPDIR: what reaches
// the files, what reaches the stream hook, and what comes back.

#include "collector/relay_receiver.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "client/net/curve_key.h"
#include "client/net/socket.h"
#include "client/reader/reader.h"
#include "collector/event_writer.h"
#include "collector/relay_state.h"
#include "collector/stats.h"
#include "common/durable_file.h"
#include "common/intake.h"
#include "common/relay_protocol.h"
#include "common/zap_handler.h"
#include "gtest/gtest.h"
#include "zmq.hpp"

namespace ziggy {
namespace {

constexpr char kForwarder[] = "fwd-1";
constexpr char kToken[] = "0123456789abcdef";
constexpr char kOtherToken[] = "fedcba9876543210";

std::string Event(int n) {
  return EncodeDocument(Value(Value::Map{
      {"type", "request"}, {"host", "web1"}, {"end", 1.0 + n}, {"n", n}}));
}

// Events first..end-1, back to back: a batch's uncompressed payload.
std::string Events(int first, int end) {
  std::string payload;
  for (int n = first; n < end; ++n) payload += Event(n);
  return payload;
}

RelayHeader Header(int64_t first, int64_t end, const std::string& payload) {
  RelayHeader header;
  header.forwarder = kForwarder;
  header.token = kToken;
  header.first = first;
  header.end = end;
  header.count = static_cast<int32_t>(end - first);
  header.size = static_cast<int64_t>(payload.size());
  return header;
}

// Every event document in the files under `root` (dot files are the relay
// state), in file order.
std::vector<std::string> WrittenEvents(const std::string& root) {
  std::vector<std::string> docs;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file() ||
        entry.path().filename().string().front() == '.') {
      continue;
    }
    const std::string bytes = ReadFileOrEmpty(entry.path().string());
    DocumentReader reader(bytes);
    absl::string_view doc;
    while (reader.Next(&doc)) docs.emplace_back(doc);
    EXPECT_TRUE(reader.status().ok()) << entry.path();
  }
  return docs;
}

RelayReply Failure(std::string why) {
  RelayReply reply;
  reply.kind = RelayReply::Kind::kError;
  reply.error = std::move(why);
  return reply;
}

class RelayReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
    StartCollector();
  }

  // A receiver, writer and relay state over root_, as the collector makes
  // them (recovering what an earlier one checkpointed), and a forwarder's
  // socket connected to it. With `curve`, the relay port is a CurveZMQ
  // server with key server_key_ and the forwarder's socket uses `curve`.
  void StartCollector(absl::optional<CurveKeyPair> curve = absl::nullopt) {
    dealer_.reset();
    writer_.reset();
    absl::optional<CurveSocketOptions> server;
    if (curve) {
      if (zap_ == nullptr) zap_ = *ZapHandler::Start(context_, {});
      server = CurveSocketOptions::Server(server_key_);
    }
    receiver_ = std::make_unique<RelayReceiver>(
        context_, max_forwarders_, Clock::Real(), &intake_, &stats_,
        [this](absl::string_view doc, const EventFields& fields) {
          routed_.emplace_back(doc);
          EXPECT_EQ(fields.type, "request");
        },
        server);
    ASSERT_TRUE(receiver_->Bind("127.0.0.1:0").ok());
    absl::StatusOr<std::unique_ptr<RelayState>> state =
        RelayState::Recover(root_, &stats_);
    ASSERT_TRUE(state.ok()) << state.status();
    state_ = *std::move(state);
    StoreOptions store;
    store.root = root_;
    writer_ = std::make_unique<EventWriter>(store, &stats_, Clock::Real(),
                                            absl::Milliseconds(10),
                                            state_.get(), receiver_->ack_fd());
    receiver_->Start(*state_, writer_.get());
    ConnectForwarder(curve);
  }

  // A new forwarder socket: CurveZMQ with `curve` as its key, else plain.
  void ConnectForwarder(const absl::optional<CurveKeyPair>& curve) {
    SocketOptions options;
    if (curve) {
      options.curve =
          CurveSocketOptions::Client(*curve, server_key_.public_key());
    }
    dealer_ = std::make_unique<zmq::socket_t>(
        MakeSocket(context_, zmq::socket_type::dealer, options));
    dealer_->connect(receiver_->endpoint());
  }

  // Sends `frames` as the forwarder and serves the receiver until it
  // answers (the answer) or 10 s pass (an error reply saying so).
  RelayReply Exchange(const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
      dealer_->send(zmq::buffer(frames[i]), i + 1 < frames.size()
                                                ? zmq::send_flags::sndmore
                                                : zmq::send_flags::none);
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    zmq::message_t reply;
    while (absl::Now() < deadline) {
      std::vector<zmq::pollitem_t> items;
      receiver_->AddPollItems(true, &items);
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(5));
      receiver_->Serve(items, 0);
      if (dealer_->recv(reply, zmq::recv_flags::dontwait)) {
        absl::StatusOr<RelayReply> parsed = ParseRelayReply(
            absl::string_view(reply.data<char>(), reply.size()));
        EXPECT_TRUE(parsed.ok()) << parsed.status();
        if (parsed.ok()) return *parsed;
        return Failure(parsed.status().ToString());
      }
    }
    return Failure("no reply within 10 s");
  }

  RelayReply Send(const RelayHeader& header, const std::string& payload) {
    return Exchange({EncodeRelayHeader(header), payload});
  }

  // Events first..end-1 as forwarder `id` with its own token.
  RelayReply SendAs(const std::string& id, int first, int end) {
    const std::string payload = Events(first, end);
    RelayHeader header = Header(first, end, payload);
    header.forwarder = id;
    return Exchange({EncodeRelayHeader(header), payload});
  }

  // Sends events first..end-1 and expects {ack: end}.
  void SendAcked(int first, int end) {
    const std::string payload = Events(first, end);
    const RelayReply reply = Send(Header(first, end, payload), payload);
    ASSERT_EQ(reply.kind, RelayReply::Kind::kAck) << reply.error;
    EXPECT_EQ(reply.index, end);
    EXPECT_EQ(reply.forwarder, kForwarder);
  }

  // The relay section of STATUS.
  Value Status() const {
    Value::Map relay;
    receiver_->FillStatus(&relay);
    return Value(std::move(relay));
  }
  int64_t StatusCount(absl::string_view key) const {
    const Value status = Status();
    const Value* value = status.Get(key);
    return value == nullptr ? -1 : value->AsInt();
  }

  std::string root_;
  size_t max_forwarders_ = 100;
  const CurveKeyPair server_key_ = *GenerateKeyPair();
  zmq::context_t context_;
  std::unique_ptr<ZapHandler> zap_;  // with CurveZMQ; before the context goes
  EventIntake intake_{1 << 20};
  CollectorStats stats_;
  std::vector<std::string> routed_;  // events handed to the stream hook
  std::unique_ptr<RelayReceiver> receiver_;
  std::unique_ptr<RelayState> state_;
  std::unique_ptr<EventWriter> writer_;  // before state_ and receiver_ go
  std::unique_ptr<zmq::socket_t> dealer_;
};

TEST_F(RelayReceiverTest, ValidBatchesAreWrittenInOrderThenAcked) {
  SendAcked(0, 3);
  // The ack means durable: the events are in the files already.
  EXPECT_EQ(WrittenEvents(root_),
            (std::vector<std::string>{Event(0), Event(1), Event(2)}));
  SendAcked(3, 5);
  EXPECT_EQ(WrittenEvents(root_),
            (std::vector<std::string>{Event(0), Event(1), Event(2), Event(3),
                                      Event(4)}));
  EXPECT_EQ(routed_.size(), 5u);
  EXPECT_EQ(StatusCount("batches"), 2);
  EXPECT_EQ(StatusCount("events"), 5);
  EXPECT_EQ(StatusCount("acked"), 2);
  EXPECT_EQ(StatusCount("forwarders_known"), 1);
  EXPECT_EQ(Status().Get("forwarders")->Get(kForwarder)->Get("next")->AsInt(),
            5);
  EXPECT_GE(StatusCount("checkpoints"), 1);
}

TEST_F(RelayReceiverTest, DuplicateBatchIsAckedButNotWrittenTwice) {
  SendAcked(0, 3);
  SendAcked(0, 3);  // the forwarder missed the ack and sent it again
  SendAcked(1, 3);  // or part of it
  EXPECT_EQ(WrittenEvents(root_),
            (std::vector<std::string>{Event(0), Event(1), Event(2)}));
  EXPECT_EQ(routed_.size(), 3u);
  EXPECT_EQ(StatusCount("duplicates_dropped"), 5);
  EXPECT_EQ(StatusCount("events"), 3);
  EXPECT_EQ(StatusCount("acked"), 3);
}

TEST_F(RelayReceiverTest, RecoveredForwarderKeepsItsPlaceAcrossRestarts) {
  SendAcked(0, 3);
  StartCollector();  // a restart: the mark comes from the checkpoint
  SendAcked(0, 3);
  EXPECT_EQ(StatusCount("duplicates_dropped"), 3);
  SendAcked(3, 4);
  EXPECT_EQ(WrittenEvents(root_).size(), 4u);
}

TEST_F(RelayReceiverTest, EveryTruncatedPayloadIsRefusedAndNothingWritten) {
  const std::string payload = Events(0, 2);
  for (size_t size = 0; size < payload.size(); ++size) {
    const std::string cut = payload.substr(0, size);
    // Declared at its real size, so only the framing can tell.
    RelayHeader header = Header(0, 2, cut);
    const RelayReply reply = Send(header, cut);
    ASSERT_EQ(reply.kind, RelayReply::Kind::kError) << "size " << size;
    EXPECT_EQ(reply.reason, "") << "size " << size;
  }
  EXPECT_EQ(StatusCount("rejected"), static_cast<int64_t>(payload.size()));
  EXPECT_EQ(StatusCount("events"), 0);
  EXPECT_TRUE(routed_.empty());
  // The receiver still expects index 0, and takes it whole.
  SendAcked(0, 2);
  EXPECT_EQ(WrittenEvents(root_),
            (std::vector<std::string>{Event(0), Event(1)}));
}

TEST_F(RelayReceiverTest, MalformedFramesAreRefused) {
  const std::string payload = Events(0, 2);
  // A payload shorter than the header says.
  EXPECT_EQ(Send(Header(0, 2, payload), payload.substr(1)).kind,
            RelayReply::Kind::kError);
  // A header that is not one.
  EXPECT_EQ(Exchange({"not bson", payload}).kind, RelayReply::Kind::kError);
  // A header without its payload.
  EXPECT_EQ(Exchange({EncodeRelayHeader(Header(0, 2, payload))}).kind,
            RelayReply::Kind::kError);
  // A payload of a corrupt document: framed right, counted as one.
  std::string corrupt = Event(0);
  corrupt[corrupt.size() - 1] = 'x';  // not NUL-terminated
  EXPECT_EQ(Send(Header(0, 1, corrupt), corrupt).kind,
            RelayReply::Kind::kError);
  EXPECT_EQ(StatusCount("rejected"), 4);
  EXPECT_TRUE(WrittenEvents(root_).empty());
  EXPECT_TRUE(routed_.empty());
}

TEST_F(RelayReceiverTest, BadEventInAGoodBatchIsDroppedTheOthersWritten) {
  const std::string no_type =
      EncodeDocument(Value(Value::Map{{"host", "web1"}, {"n", 7}}));
  const std::string payload = Event(0) + no_type + Event(2);
  const RelayReply reply = Send(Header(0, 3, payload), payload);
  ASSERT_EQ(reply.kind, RelayReply::Kind::kAck) << reply.error;
  EXPECT_EQ(reply.index, 3);
  EXPECT_EQ(WrittenEvents(root_),
            (std::vector<std::string>{Event(0), Event(2)}));
  Value::Map intake;
  intake_.AppendStatus(&intake);
  EXPECT_EQ(Value(std::move(intake)).Get("dropped")->Get("no_type")->AsInt(),
            1);
}

TEST_F(RelayReceiverTest, ZstdBatchIsDecompressedAndWritten) {
  const std::string events = Events(0, 4);
  std::string compressed;
  ASSERT_TRUE(CompressPayload(events, 3, &compressed).ok());
  RelayHeader header = Header(0, 4, events);
  header.zstd = true;
  const RelayReply reply = Send(header, compressed);
  ASSERT_EQ(reply.kind, RelayReply::Kind::kAck) << reply.error;
  EXPECT_EQ(reply.index, 4);
  EXPECT_EQ(WrittenEvents(root_),
            (std::vector<std::string>{Event(0), Event(1), Event(2), Event(3)}));

  // Damaged compressed bytes: refused, nothing more written.
  const std::string next = Events(4, 6);
  ASSERT_TRUE(CompressPayload(next, 3, &compressed).ok());
  compressed[compressed.size() / 2] ^= 0x55;
  compressed.resize(compressed.size() - 3);
  header = Header(4, 6, next);
  header.zstd = true;
  EXPECT_EQ(Send(header, compressed).kind, RelayReply::Kind::kError);
  EXPECT_EQ(WrittenEvents(root_).size(), 4u);
  EXPECT_EQ(StatusCount("rejected"), 1);
}

TEST_F(RelayReceiverTest, WrongTokenIsRefusedAndMovesNothing) {
  SendAcked(0, 2);
  const std::string payload = Events(2, 4);
  RelayHeader header = Header(2, 4, payload);
  header.token = kOtherToken;
  header.acked = 1000;  // would move the forwarder on, if it were believed
  const RelayReply reply = Send(header, payload);
  ASSERT_EQ(reply.kind, RelayReply::Kind::kError);
  EXPECT_EQ(reply.reason, kRefusedToken);
  EXPECT_EQ(StatusCount("refused_token"), 1);
  EXPECT_EQ(WrittenEvents(root_).size(), 2u);
  EXPECT_EQ(Status().Get("forwarders")->Get(kForwarder)->Get("next")->AsInt(),
            2);
  SendAcked(2, 4);  // the token's holder goes on where it was
  EXPECT_EQ(WrittenEvents(root_).size(), 4u);
}

// Over CurveZMQ the client's key, not the token, speaks for a forwarder id,
// also after a restart; the refused batch moves nothing.
TEST_F(RelayReceiverTest, OverCurveTheIdIsBoundToTheKey) {
  const CurveKeyPair mine = *GenerateKeyPair(), other = *GenerateKeyPair();
  StartCollector(mine);
  SendAcked(0, 2);
  ConnectForwarder(other);  // same id and token, another key
  const std::string payload = Events(2, 4);
  RelayReply reply = Send(Header(2, 4, payload), payload);
  ASSERT_EQ(reply.kind, RelayReply::Kind::kError);
  EXPECT_EQ(reply.reason, kRefusedToken);
  EXPECT_NE(reply.error.find("bound to another key"), std::string::npos);
  EXPECT_EQ(StatusCount("refused_token"), 1);
  StartCollector(other);  // a restart: the binding comes from the checkpoint
  EXPECT_EQ(Send(Header(2, 4, payload), payload).reason, kRefusedToken);
  EXPECT_EQ(WrittenEvents(root_).size(), 2u);
  ConnectForwarder(mine);
  SendAcked(2, 4);
  EXPECT_EQ(WrittenEvents(root_).size(), 4u);
}

// A forwarder that relayed in plain text turns CurveZMQ on: the first
// CurveZMQ batch that carries its token binds the id to its key, for good.
TEST_F(RelayReceiverTest, PlainTokenBindingMovesToTheKeyOnce) {
  const CurveKeyPair mine = *GenerateKeyPair(), other = *GenerateKeyPair();
  SendAcked(0, 2);  // plain: bound to kToken
  StartCollector(other);
  const std::string payload = Events(2, 4);
  RelayHeader guess = Header(2, 4, payload);
  guess.token = kOtherToken;
  EXPECT_EQ(Send(guess, payload).reason, kRefusedToken);  // no token, no move
  ConnectForwarder(mine);
  SendAcked(2, 4);  // kToken over `mine`: bound to the key now
  ConnectForwarder(other);
  EXPECT_EQ(Send(Header(4, 6, Events(4, 6)), Events(4, 6)).reason,
            kRefusedToken);  // the token alone no longer speaks for it
  StartCollector(mine);
  SendAcked(4, 6);
  EXPECT_EQ(StatusCount("refused_token"), 2);
  EXPECT_EQ(WrittenEvents(root_).size(), 6u);
}

TEST_F(RelayReceiverTest, ForwarderOwnAckedMarkMovesItOn) {
  SendAcked(0, 2);
  // Acknowledged up to 10 by another collector meanwhile.
  const std::string payload = Events(10, 12);
  RelayHeader header = Header(10, 12, payload);
  header.acked = 10;
  const RelayReply reply = Send(header, payload);
  ASSERT_EQ(reply.kind, RelayReply::Kind::kAck) << reply.error;
  EXPECT_EQ(reply.index, 12);
  EXPECT_EQ(StatusCount("jumps"), 1);
  EXPECT_EQ(WrittenEvents(root_).size(), 4u);
}

TEST_F(RelayReceiverTest, BeyondCapacityTheLeastRecentForwarderIsForgotten) {
  max_forwarders_ = 2;
  StartCollector();
  for (const char* id : {"a", "b", "c"}) {
    EXPECT_EQ(SendAs(id, 0, 1).kind, RelayReply::Kind::kAck) << id;
  }
  EXPECT_EQ(StatusCount("forwarders_known"), 2);
  EXPECT_EQ(StatusCount("forgotten"), 1);
  const Value status = Status();
  EXPECT_EQ(status.Get("forwarders")->Get("a"), nullptr);
  EXPECT_NE(status.Get("forwarders")->Get("c"), nullptr);
  // Forgotten, it is welcomed again from its own mark: written twice.
  EXPECT_EQ(SendAs("a", 0, 1).kind, RelayReply::Kind::kAck);
  EXPECT_EQ(WrittenEvents(root_).size(), 4u);
}

TEST_F(RelayReceiverTest, GapIsAnsweredWithResend) {
  SendAcked(0, 2);
  const std::string payload = Events(5, 6);
  const RelayReply reply = Send(Header(5, 6, payload), payload);
  ASSERT_EQ(reply.kind, RelayReply::Kind::kResend);
  EXPECT_EQ(reply.index, 2);
  EXPECT_EQ(StatusCount("resend_requests"), 1);
  EXPECT_EQ(WrittenEvents(root_).size(), 2u);
}

TEST_F(RelayReceiverTest, PingGetsPong) {
  RelayHeader ping;
  ping.ping = true;
  EXPECT_EQ(Exchange({EncodeRelayHeader(ping)}).kind, RelayReply::Kind::kPong);
  EXPECT_EQ(StatusCount("batches"), 0);
}

TEST_F(RelayReceiverTest, StatusSectionKeepsItsKeysInOrder) {
  const Value status = Status();
  std::vector<std::string> keys;
  for (const auto& [key, value] : status.AsMap()) keys.push_back(key);
  EXPECT_EQ(keys,
            (std::vector<std::string>{
                "batches", "events", "acked", "duplicates_dropped",
                "resend_requests", "rejected", "refused_token", "jumps",
                "forwarders_known", "forgotten", "checkpoints",
                "checkpoint_written", "rolled_back_bytes", "forwarders"}));
}

}  // namespace
}  // namespace ziggy
