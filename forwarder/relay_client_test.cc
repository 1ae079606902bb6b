// RelayClient against fake collectors: ROUTER sockets (the collector's relay
// port type) bound in this process, which decode batches with
// relay_protocol.h and answer with crafted replies. The source is a real
// Spool under TEST_TMPDIR; time is a ManualClock the tests move, so
// timeouts, backoffs and probes happen exactly when a test says.

#include "forwarder/relay_client.h"

#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "client/net/socket.h"
#include "client/testing/curve_keys.h"
#include "common/clock.h"
#include "common/relay_protocol.h"
#include "forwarder/relay_connection.h"
#include "forwarder/spool.h"
#include "gtest/gtest.h"
#include "zmq.hpp"
#include "zmq_addon.hpp"

namespace ziggy {
namespace {

using ::ziggy::testing::NewCurveKeyPair;

constexpr absl::Duration kDeadline = absl::Seconds(20);
constexpr absl::Duration kAckTimeout = absl::Seconds(1);
constexpr absl::Duration kFailbackInterval = absl::Seconds(2);
// Past the longest first backoff (100 ms, jittered by up to 1.5).
constexpr absl::Duration kPastBackoff = absl::Milliseconds(200);

// Calls `condition` until it holds or the deadline passes.
bool WaitFor(const std::function<bool()>& condition) {
  const absl::Time deadline = absl::Now() + kDeadline;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

// What a fake collector received: a batch (its events decompressed) or a
// ping.
struct Received {
  std::string peer;  // the sender's routing id, to reply to
  RelayHeader header;
  std::string events;
};

class FakeCollector {
 public:
  // Binds `endpoint` (a free port by default); a CurveZMQ server with
  // `curve` (CurveSocketOptions::Server), else plain text.
  explicit FakeCollector(zmq::context_t& context,
                         const std::string& endpoint = "tcp://127.0.0.1:*",
                         absl::optional<CurveSocketOptions> curve = {})
      : socket_(MakeSocket(context, zmq::socket_type::router,
                           ServerOptions(std::move(curve)))) {
    socket_.bind(endpoint);
    const std::string bound = socket_.get(zmq::sockopt::last_endpoint);
    address_ = bound.substr(bound.find("//") + 2);
  }

  // host:port, as RelayOptions::upstreams wants it.
  const std::string& address() const { return address_; }
  std::string endpoint() const { return "tcp://" + address_; }

  // The next batch or ping; nullopt if none comes within `wait`.
  std::optional<Received> Next(absl::Duration wait = kDeadline) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, absl::ToChronoMilliseconds(wait));
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(socket_, std::back_inserter(frames),
                             zmq::recv_flags::dontwait)) {
      return std::nullopt;
    }
    Received got;
    got.peer = frames[0].to_string();
    absl::StatusOr<RelayHeader> header =
        ParseRelayHeader(frames[1].to_string());
    EXPECT_TRUE(header.ok()) << header.status();
    if (!header.ok()) return std::nullopt;
    got.header = *header;
    EXPECT_EQ(frames.size(), got.header.ping ? 2u : 3u);
    if (got.header.ping || frames.size() != 3) return got;
    absl::string_view payload(frames[2].data<char>(), frames[2].size());
    std::string storage;
    EXPECT_TRUE(DecompressPayload(got.header, &payload, &storage).ok());
    got.events = std::string(payload);
    return got;
  }

  // The next message, which must be a batch starting at `first`.
  Received NextBatch(int64_t first) {
    std::optional<Received> got = Next();
    EXPECT_TRUE(got.has_value()) << "no batch from " << first;
    if (!got.has_value()) return Received();
    EXPECT_FALSE(got->header.ping);
    EXPECT_EQ(got->header.first, first);
    return *got;
  }

  // The next message, which must be a ping.
  Received NextPing() {
    std::optional<Received> got = Next();
    EXPECT_TRUE(got.has_value()) << "no ping";
    if (!got.has_value()) return Received();
    EXPECT_TRUE(got->header.ping);
    return *got;
  }

  void Reply(const Received& to, const std::string& bytes) {
    socket_.send(zmq::buffer(to.peer), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(bytes));
  }
  void Ack(const Received& batch) {
    Reply(batch, RelayAckReply(batch.header.forwarder, batch.header.end));
  }

 private:
  static SocketOptions ServerOptions(absl::optional<CurveSocketOptions> curve) {
    SocketOptions options;
    options.curve = std::move(curve);
    return options;
  }

  zmq::socket_t socket_;
  std::string address_;
};

int64_t IntField(const Value& doc, absl::string_view key) {
  const Value* v = doc.Get(key);
  return v != nullptr && v->kind() == Value::Kind::kInt ? v->AsInt() : -1;
}

std::string StringField(const Value& doc, absl::string_view key) {
  const Value* v = doc.Get(key);
  return v != nullptr && v->kind() == Value::Kind::kString ? v->AsString() : "";
}

class RelayClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SpoolOptions options;
    options.dir = absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/spool-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    options.sync_interval = absl::ZeroDuration();
    absl::StatusOr<std::unique_ptr<Spool>> spool = Spool::Open(options);
    ASSERT_TRUE(spool.ok()) << spool.status();
    spool_ = *std::move(spool);
  }

  RelayOptions Options(std::vector<std::string> upstreams) {
    RelayOptions options;
    options.upstreams = std::move(upstreams);
    options.batch_events = 10;
    options.ack_timeout = kAckTimeout;
    options.failback_interval = kFailbackInterval;
    options.clock = &clock_;
    options.status_interval = absl::ZeroDuration();
    return options;
  }

  void Start(RelayOptions options) {
    relay_ = std::make_unique<RelayClient>(spool_.get(), std::move(options));
    relay_->Start();
  }

  // Spools `n` more events (`padding` bytes of filler each).
  void SpoolEvents(int n, size_t padding = 0) {
    for (int i = 0; i < n; ++i) {
      const int64_t index = static_cast<int64_t>(events_.size());
      events_.push_back(EncodeDocument(Value(
          Value::Map{{"type", "relay_test"},
                     {"index", index},
                     {"filler", std::string(padding + index % 7, 'x')}})));
      ASSERT_TRUE(spool_->Append(events_.back()).ok());
    }
    ASSERT_TRUE(spool_->Flush().ok());
  }

  // The spooled events [first, end), back to back, as a batch carries them.
  std::string Events(int64_t first, int64_t end) const {
    std::string out;
    for (int64_t i = first; i < end; ++i) out += events_[i];
    return out;
  }

  // Checks a batch against what was spooled.
  void ExpectBatch(const Received& batch, int64_t first, int64_t end) {
    EXPECT_FALSE(batch.header.ping);
    EXPECT_EQ(batch.header.forwarder, spool_->id());
    EXPECT_EQ(batch.header.token, spool_->token());
    EXPECT_EQ(batch.header.first, first);
    EXPECT_EQ(batch.header.end, end);
    EXPECT_EQ(batch.header.count, end - first);
    EXPECT_EQ(batch.header.size, static_cast<int64_t>(batch.events.size()));
    EXPECT_EQ(batch.events, Events(first, end));
  }

  // The next batch at `collector` must be the spooled [first, end).
  Received ExpectNext(FakeCollector& collector, int64_t first, int64_t end) {
    Received batch = collector.NextBatch(first);
    ExpectBatch(batch, first, end);
    return batch;
  }

  // The next batches at `collector` must be the spooled [0, end), in
  // batches of 10.
  std::vector<Received> ExpectAll(FakeCollector& collector, int64_t end) {
    std::vector<Received> batches;
    for (int64_t first = 0; first < end; first += 10) {
      batches.push_back(
          ExpectNext(collector, first, std::min<int64_t>(first + 10, end)));
    }
    return batches;
  }

  // The next batch at `collector` must be the spooled [first, end), and
  // once acknowledged, the spool's mark moves to `end`.
  void ExpectDelivered(FakeCollector& collector, int64_t first, int64_t end) {
    collector.Ack(ExpectNext(collector, first, end));
    EXPECT_TRUE(WaitForAcked(end));
  }

  bool WaitForAcked(int64_t acked) {
    return WaitFor([&] { return spool_->acked() == acked; });
  }

  // Waits until the published STATUS satisfies `condition`.
  bool WaitForStatus(const std::function<bool(const Value&)>& condition) {
    return WaitFor([&] { return condition(relay_->Status()); });
  }

  Value UpstreamStatus(const std::string& address) {
    const Value status = relay_->Status();
    const Value* upstreams = status.Get("upstreams");
    const Value* up = upstreams == nullptr ? nullptr : upstreams->Get(address);
    return up == nullptr ? Value() : *up;
  }

  bool WaitForCurrent(const std::string& address) {
    return WaitForStatus([&](const Value& status) {
      return StringField(status, "current") == address;
    });
  }

  ManualClock clock_{absl::FromUnixSeconds(1700000000)};
  zmq::context_t context_{1};
  std::unique_ptr<Spool> spool_;
  std::vector<std::string> events_;     // events_[i] has spool index i
  std::unique_ptr<RelayClient> relay_;  // stopped before the rest goes
};

TEST(PayloadPoolTest, GivesBackBuffersEmptyWithTheirRoom) {
  PayloadPool pool;
  EXPECT_EQ(pool.Take().capacity(), std::string().capacity());  // none yet
  std::string bytes(1 << 20, 'x');
  const char* data = bytes.data();
  pool.Give(std::move(bytes));
  std::string again = pool.Take();
  EXPECT_TRUE(again.empty());
  EXPECT_GE(again.capacity(), size_t{1} << 20);
  EXPECT_EQ(again.data(), data);  // the same buffer, not a copy
  EXPECT_EQ(pool.Take().capacity(), std::string().capacity());
}

TEST_F(RelayClientTest, SendsBatchesInOrderAndAdvancesTheSpoolOnlyOnAcks) {
  FakeCollector collector(context_);
  SpoolEvents(45);
  Start(Options({collector.address()}));
  const std::vector<Received> batches = ExpectAll(collector, 45);
  for (const Received& batch : batches) {
    EXPECT_EQ(batch.header.acked, 0);
    EXPECT_FALSE(batch.header.zstd);
  }
  ASSERT_TRUE(WaitForStatus([](const Value& status) {
    return IntField(status, "sent_batches") == 5;
  }));
  EXPECT_EQ(IntField(relay_->Status(), "in_flight"), 45);
  EXPECT_EQ(spool_->acked(), 0);  // everything sent, nothing acknowledged

  collector.Ack(batches[0]);
  ASSERT_TRUE(WaitForAcked(10));
  ASSERT_TRUE(WaitForStatus(
      [](const Value& status) { return IntField(status, "in_flight") == 35; }));
  EXPECT_EQ(spool_->acked(), 10);
  for (size_t i = 1; i < batches.size(); ++i) collector.Ack(batches[i]);
  ASSERT_TRUE(WaitForAcked(45));

  // New events go out in a batch that carries the new acked mark.
  SpoolEvents(5);
  const Received next = ExpectNext(collector, 45, 50);
  EXPECT_EQ(next.header.acked, 45);
}

TEST_F(RelayClientTest, StatusReflectsSendsAndAcks) {
  FakeCollector collector(context_);
  SpoolEvents(20);
  Start(Options({collector.address()}));
  const std::vector<Received> batches = ExpectAll(collector, 20);
  collector.Ack(batches[0]);
  ASSERT_TRUE(WaitForStatus(
      [](const Value& status) { return IntField(status, "acked") == 10; }));
  Value status = relay_->Status();
  EXPECT_EQ(StringField(status, "current"), collector.address());
  EXPECT_EQ(IntField(status, "in_flight"), 10);
  EXPECT_EQ(IntField(status, "sent_batches"), 2);
  EXPECT_EQ(IntField(status, "retransmitted"), 0);
  EXPECT_EQ(IntField(status, "resend_requests"), 0);
  EXPECT_EQ(StringField(status, "compression"), "none");
  Value up = UpstreamStatus(collector.address());
  EXPECT_EQ(StringField(up, "state"), "up");
  EXPECT_EQ(IntField(up, "batches"), 2);
  EXPECT_EQ(IntField(up, "acks"), 1);
  EXPECT_EQ(IntField(up, "timeouts"), 0);
  EXPECT_EQ(IntField(up, "refusals"), 0);

  collector.Ack(batches[1]);
  ASSERT_TRUE(WaitForStatus([](const Value& status) {
    return IntField(status, "acked") == 20 &&
           IntField(status, "in_flight") == 0;
  }));
  EXPECT_EQ(IntField(UpstreamStatus(collector.address()), "acks"), 2);
}

TEST_F(RelayClientTest, CompressesWithZstdWhenThatIsSmaller) {
  FakeCollector collector(context_);
  SpoolEvents(10, /*padding=*/500);
  RelayOptions options = Options({collector.address()});
  options.zstd = true;
  Start(options);
  const Received batch = ExpectNext(collector, 0, 10);  // decompressed
  EXPECT_TRUE(batch.header.zstd);
  collector.Ack(batch);
  ASSERT_TRUE(WaitForStatus(
      [](const Value& status) { return IntField(status, "acked") == 10; }));
  EXPECT_EQ(StringField(relay_->Status(), "compression"), "zstd");
}

TEST_F(RelayClientTest, NeverMoreThanTheWindowInFlight) {
  constexpr int kWindow = 3;
  constexpr int64_t kEvents = 12;
  FakeCollector collector(context_);
  SpoolEvents(kEvents);  // all there before the relay starts
  RelayOptions options = Options({collector.address()});
  options.window = kWindow;
  options.batch_events = 1;
  Start(options);
  std::deque<Received> unacked;
  int64_t received = 0;
  int64_t acked = 0;
  while (acked < kEvents) {
    if (received < kEvents && static_cast<int>(unacked.size()) < kWindow) {
      unacked.push_back(collector.NextBatch(received));
      ++received;
      // Sent after the relay saw at most the acks sent so far.
      EXPECT_LE(unacked.back().header.end - acked, kWindow);
      continue;
    }
    // The window is full: the relay has stopped sending.
    ASSERT_TRUE(WaitForStatus([&](const Value& status) {
      return IntField(status, "sent_batches") >= received;
    }));
    EXPECT_EQ(IntField(relay_->Status(), "sent_batches"), received);
    collector.Ack(unacked.front());
    acked = unacked.front().header.end;
    unacked.pop_front();
  }
  ASSERT_TRUE(WaitForAcked(kEvents));
}

TEST_F(RelayClientTest, ResendRequestRewindsToTheIndexAsked) {
  FakeCollector collector(context_);
  SpoolEvents(30);
  Start(Options({collector.address()}));
  const Received first = ExpectAll(collector, 30)[0];
  collector.Ack(first);
  collector.Reply(first, RelayResend(10));  // [10, 20) went missing
  EXPECT_EQ(ExpectNext(collector, 10, 20).header.acked, 10);
  ExpectDelivered(collector, 20, 30);
  ASSERT_TRUE(WaitForStatus(
      [](const Value& status) { return IntField(status, "acked") == 30; }));
  EXPECT_EQ(IntField(relay_->Status(), "resend_requests"), 1);
  EXPECT_EQ(IntField(relay_->Status(), "retransmitted"), 20);
}

TEST_F(RelayClientTest, IgnoresRepliesForOldBatchesAndUnreadableOnes) {
  FakeCollector collector(context_);
  SpoolEvents(30);
  Start(Options({collector.address()}));
  const std::vector<Received> batches = ExpectAll(collector, 30);
  const Received& b0 = batches[0];
  collector.Ack(b0);
  ASSERT_TRUE(WaitForAcked(10));
  collector.Reply(b0, RelayAckReply(spool_->id(), 5));   // long acknowledged
  collector.Reply(b0, RelayAckReply(spool_->id(), 10));  // b0 again
  collector.Reply(b0, "not a BSON document");
  collector.Reply(b0, RelayPong());  // nobody pinged
  collector.Ack(batches[1]);         // handled after all of the above
  ASSERT_TRUE(WaitForStatus(
      [](const Value& status) { return IntField(status, "acked") == 20; }));
  const Value status = relay_->Status();
  EXPECT_EQ(spool_->acked(), 20);
  EXPECT_EQ(IntField(status, "in_flight"), 10);  // b2, still
  EXPECT_EQ(IntField(status, "retransmitted"), 0);
  EXPECT_EQ(IntField(status, "resend_requests"), 0);
  EXPECT_EQ(IntField(UpstreamStatus(collector.address()), "refusals"), 0);
  // Nothing was resent: the next batch is a new one.
  collector.Ack(batches[2]);
  ASSERT_TRUE(WaitForAcked(30));
  SpoolEvents(3);
  ExpectNext(collector, 30, 33);
}

TEST_F(RelayClientTest, NoAckWithinTheTimeoutResendsTheSameEvents) {
  FakeCollector collector(context_);
  SpoolEvents(25);
  Start(Options({collector.address()}));
  const std::vector<Received> sent = ExpectAll(collector, 25);
  clock_.Advance(kAckTimeout + absl::Milliseconds(1));  // silence
  ASSERT_TRUE(WaitForStatus([&](const Value&) {
    return IntField(UpstreamStatus(collector.address()), "timeouts") == 1;
  }));
  EXPECT_EQ(IntField(relay_->Status(), "retransmitted"), 25);
  EXPECT_EQ(spool_->acked(), 0);
  clock_.Advance(kPastBackoff);
  for (const Received& before : sent) {
    const Received again = collector.NextBatch(before.header.first);
    EXPECT_NE(again.peer, before.peer);  // a new connection
    ExpectBatch(again, before.header.first, before.header.end);
    EXPECT_EQ(again.events, before.events);
    collector.Ack(again);
  }
  ASSERT_TRUE(WaitForAcked(25));
}

TEST_F(RelayClientTest, RefusalOfTheTokenFailsOverToTheNextUpstream) {
  FakeCollector first(context_);
  FakeCollector second(context_);
  SpoolEvents(10);
  Start(Options({first.address(), second.address()}));
  const Received refused = first.NextBatch(0);
  first.Reply(refused, RelayError("id bound to another token", kRefusedToken));
  ASSERT_TRUE(WaitForCurrent(second.address()));
  const Value up = UpstreamStatus(first.address());
  EXPECT_EQ(StringField(up, "state"), "refused");
  EXPECT_EQ(IntField(up, "refusals"), 1);
  EXPECT_EQ(StringField(up, "refused"), "id bound to another token");
  EXPECT_EQ(IntField(up, "timeouts"), 0);
  EXPECT_EQ(spool_->acked(), 0);
  clock_.Advance(kPastBackoff);
  ExpectDelivered(second, 0, 10);
}

TEST_F(RelayClientTest, OtherRefusalRetriesTheSameUpstreamAfterABackoff) {
  FakeCollector collector(context_);
  SpoolEvents(10);
  Start(Options({collector.address()}));
  collector.Reply(collector.NextBatch(0), RelayError("payload framing"));
  ASSERT_TRUE(WaitForStatus([&](const Value&) {
    return IntField(UpstreamStatus(collector.address()), "refusals") == 1;
  }));
  EXPECT_EQ(StringField(relay_->Status(), "current"), collector.address());
  EXPECT_EQ(StringField(UpstreamStatus(collector.address()), "refused"),
            "payload framing");
  clock_.Advance(kPastBackoff);
  ExpectDelivered(collector, 0, 10);
  EXPECT_EQ(IntField(relay_->Status(), "retransmitted"), 10);
}

TEST_F(RelayClientTest, FailsOverWhenSilentAndFailsBackWhenTheFirstAnswers) {
  FakeCollector first(context_);
  FakeCollector second(context_);
  SpoolEvents(20);
  Start(Options({first.address(), second.address()}));
  first.Ack(first.NextBatch(0));
  first.NextBatch(10);  // never acknowledged
  ASSERT_TRUE(WaitForAcked(10));
  clock_.Advance(kAckTimeout + absl::Milliseconds(1));
  ASSERT_TRUE(WaitForCurrent(second.address()));
  EXPECT_EQ(StringField(UpstreamStatus(first.address()), "state"), "down");
  EXPECT_EQ(IntField(UpstreamStatus(first.address()), "timeouts"), 1);

  // The backup gets what the first did not acknowledge.
  clock_.Advance(kPastBackoff);
  const Received resent = ExpectNext(second, 10, 20);
  EXPECT_EQ(resent.header.acked, 10);
  second.Ack(resent);
  ASSERT_TRUE(WaitForStatus([](const Value& status) {
    return IntField(status, "acked") == 20 &&
           IntField(status, "in_flight") == 0;
  }));

  // Meanwhile the first is pinged; unanswered, it is pinged again a
  // failback interval later, and the answer brings the relay back.
  first.NextPing();
  EXPECT_EQ(StringField(relay_->Status(), "current"), second.address());
  clock_.Advance(kFailbackInterval);
  first.Reply(first.NextPing(), RelayPong());
  ASSERT_TRUE(WaitForCurrent(first.address()));
  SpoolEvents(5);
  ExpectDelivered(first, 20, 25);
}

TEST_F(RelayClientTest, FailsOverWhenUnreachableAndBackWhenTheFirstComesUp) {
  std::string first_endpoint, first_address;
  {
    FakeCollector gone(context_);  // a free port, closed again
    first_endpoint = gone.endpoint();
    first_address = gone.address();
  }
  FakeCollector second(context_);
  SpoolEvents(10);
  Start(Options({first_address, second.address()}));
  // Batches are refused while not connected: the first counts as down once
  // that has lasted the ack timeout.
  ASSERT_TRUE(WaitForStatus([&](const Value&) {
    return StringField(UpstreamStatus(first_address), "state") == "connecting";
  }));
  clock_.Advance(kAckTimeout + absl::Milliseconds(1));
  ASSERT_TRUE(WaitForCurrent(second.address()));
  EXPECT_EQ(IntField(UpstreamStatus(first_address), "timeouts"), 1);
  clock_.Advance(kPastBackoff);
  ExpectDelivered(second, 0, 10);

  // The probe's ping waits for the first; once it is up, it is answered.
  FakeCollector first(context_, first_endpoint);
  first.Reply(first.NextPing(), RelayPong());
  ASSERT_TRUE(WaitForCurrent(first_address));
  SpoolEvents(5);
  ExpectDelivered(first, 10, 15);
}

TEST_F(RelayClientTest, CurveDeliversToACollectorHoldingTheServerKey) {
  const CurveKeyPair server = NewCurveKeyPair();
  FakeCollector collector(context_, "tcp://127.0.0.1:*",
                          CurveSocketOptions::Server(server));
  SpoolEvents(25);
  RelayOptions options = Options({collector.address()});
  options.curve =
      CurveSocketOptions::Client(NewCurveKeyPair(), server.public_key());
  Start(options);
  for (const Received& batch : ExpectAll(collector, 25)) collector.Ack(batch);
  ASSERT_TRUE(WaitForAcked(25));
  EXPECT_EQ(IntField(UpstreamStatus(collector.address()), "timeouts"), 0);
}

// An upstream whose key is not --upstream-server-key never completes the
// handshake: nothing reaches it, it times out like a silent upstream and
// the relay fails over to the next, which holds the key.
TEST_F(RelayClientTest, CurveWithAWrongServerKeyTimesOutAndFailsOver) {
  const CurveKeyPair server = NewCurveKeyPair();
  FakeCollector impostor(context_, "tcp://127.0.0.1:*",
                         CurveSocketOptions::Server(NewCurveKeyPair()));
  FakeCollector second(context_, "tcp://127.0.0.1:*",
                       CurveSocketOptions::Server(server));
  SpoolEvents(10);
  RelayOptions options = Options({impostor.address(), second.address()});
  options.curve =
      CurveSocketOptions::Client(NewCurveKeyPair(), server.public_key());
  Start(options);
  ASSERT_TRUE(WaitForStatus([&](const Value&) {
    return StringField(UpstreamStatus(impostor.address()), "state") ==
           "connecting";
  }));
  EXPECT_FALSE(impostor.Next(absl::Milliseconds(300)).has_value());
  clock_.Advance(kAckTimeout + absl::Milliseconds(1));
  ASSERT_TRUE(WaitForCurrent(second.address()));
  EXPECT_EQ(IntField(UpstreamStatus(impostor.address()), "timeouts"), 1);
  EXPECT_EQ(spool_->acked(), 0);
  clock_.Advance(kPastBackoff);
  ExpectDelivered(second, 0, 10);
  EXPECT_FALSE(impostor.Next(absl::Milliseconds(100)).has_value());
}

TEST_F(RelayClientTest, SetUpstreamsMovesToTheNewFirstAndResends) {
  FakeCollector old_collector(context_);
  FakeCollector new_collector(context_);
  SpoolEvents(10);
  Start(Options({old_collector.address()}));
  old_collector.NextBatch(0);  // never acknowledged
  relay_->SetUpstreams({new_collector.address()});
  EXPECT_EQ(relay_->upstreams(),
            std::vector<std::string>{new_collector.address()});
  ExpectDelivered(new_collector, 0, 10);
  ASSERT_TRUE(WaitForCurrent(new_collector.address()));
}

}  // namespace
}  // namespace ziggy
