// NatsUpstream against a real nats-server (tests/nats_server.h) and a real
// spool in a temporary directory: what lands in the stream (subject, message
// id, header, every event once), the chain read back after a crash, NATS
// outages (SIGTERM and SIGKILL), and conflicting messages that must never
// move the acknowledged mark wrongly.

#include "forwarder/nats_upstream.h"

#include <nats/nats.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "common/nats_stream.h"
#include "forwarder/relay_batch.h"
#include "gtest/gtest.h"
#include "tests/nats_batches.h"
#include "tests/nats_server.h"
#include "tests/process.h"

namespace ziggy {
namespace {

using testing::CountSequences;
using testing::ReadStoredBatches;
using testing::StoredBatch;
using testing::WaitFor;

std::string Event(int64_t sender, int64_t seq) {
  return EncodeDocument(Value(Value::Map{
      {"type", "load"},
      {"body", Value(Value::Map{{"sender", sender},
                                {"seq", seq},
                                {"text", "some text to compress"}})}}));
}

class NatsUpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::NatsServer::Start(testing::TempDir("nats"));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    SpoolOptions spool;
    spool.dir = testing::TempDir("spool");
    auto opened = Spool::Open(spool);
    ASSERT_TRUE(opened.ok()) << opened.status();
    spool_ = *std::move(opened);
    options_.stream.servers = {server_->url()};
    options_.batch_events = 500;
    options_.timeout = absl::Seconds(2);
    options_.status_interval = absl::Milliseconds(10);
  }

  void Append(int64_t sender, int64_t from, int64_t to) {
    for (int64_t seq = from; seq < to; ++seq) {
      ASSERT_TRUE(spool_->Append(Event(sender, seq)).ok());
    }
    ASSERT_TRUE(spool_->Flush().ok());
  }

  void StartUpstream() {
    upstream_ = std::make_unique<NatsUpstream>(spool_.get(), options_);
    upstream_->Start();
  }

  // The spool acknowledged to its end, and the status (published every
  // status_interval by the publishing thread) taken since: its counters
  // then include the last PubAck.
  bool Drained(absl::Duration timeout = absl::Seconds(30)) {
    return WaitFor(
        [&] {
          const int64_t end = spool_->end_index();
          return spool_->acked() == end && StatusNumber("acked") == end;
        },
        timeout);
  }

  int64_t StatusNumber(absl::string_view name) {
    const Value status = upstream_->Status();
    const Value* n = status.Get(name);
    return n == nullptr ? -1 : n->AsInt();
  }

  std::vector<StoredBatch> Stored() {
    auto batches = ReadStoredBatches(server_->url(), options_.stream.stream);
    EXPECT_TRUE(batches.ok()) << batches.status();
    return batches.ok() ? *batches : std::vector<StoredBatch>();
  }

  // This forwarder's batches in the stream: contiguous from `first` (no
  // overlap, no gap) and each (sender 1, seq) below `sent` exactly once.
  void ExpectExactlyOnce(int64_t sent, int64_t first = 0) {
    std::vector<StoredBatch> mine;
    for (StoredBatch& b : Stored()) {
      if (b.error.empty() &&
          b.subject == BatchSubject(options_.stream, spool_->id())) {
        mine.push_back(std::move(b));
      }
    }
    int64_t expected_first = first;
    for (const StoredBatch& b : mine) {
      EXPECT_EQ(b.header.first, expected_first) << "sequence " << b.sequence;
      expected_first = b.header.end;
    }
    const auto counts = CountSequences(mine);
    for (int64_t seq = 0; seq < sent; ++seq) {
      auto it = counts.find({1, seq});
      ASSERT_TRUE(it != counts.end()) << "missing seq " << seq;
      ASSERT_EQ(it->second, 1) << "seq " << seq;
    }
    EXPECT_EQ(counts.size(), static_cast<size_t>(sent));
  }

  // A raw publish to the stream, as another client would.
  void PublishRaw(const std::string& subject, const std::string& data,
                  const std::string& msg_id = "") {
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    ASSERT_EQ(natsConnection_ConnectTo(&nc, server_->url().c_str()), NATS_OK);
    ASSERT_EQ(natsConnection_JetStream(&js, nc, nullptr), NATS_OK);
    jsPubOptions options;
    jsPubOptions_Init(&options);
    if (!msg_id.empty()) options.MsgId = msg_id.c_str();
    jsPubAck* ack = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    EXPECT_EQ(js_Publish(&ack, js, subject.c_str(), data.data(),
                         static_cast<int>(data.size()), &options, &code),
              NATS_OK)
        << code;
    jsPubAck_Destroy(ack);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
  }

  // The stream, made as the forwarder would make it.
  void CreateStream() {
    auto connection = NatsConnection::Connect(options_.stream, "test");
    ASSERT_TRUE(connection.ok()) << connection.status();
    ASSERT_TRUE(WaitFor([&] { return (*connection)->connected(); }));
    ASSERT_TRUE((*connection)->EnsureStream(options_.stream).ok());
  }

  std::unique_ptr<testing::NatsServer> server_;
  std::unique_ptr<Spool> spool_;
  NatsUpstreamOptions options_;
  std::unique_ptr<NatsUpstream> upstream_;
};

TEST_F(NatsUpstreamTest, PublishesEveryBatchOnceWithSubjectIdAndHeader) {
  Append(1, 0, 3000);
  StartUpstream();
  ASSERT_TRUE(Drained()) << upstream_->Status().DebugString();
  const std::vector<StoredBatch> batches = Stored();
  ASSERT_EQ(batches.size(), 6u);  // 500 events each
  for (const StoredBatch& b : batches) {
    EXPECT_EQ(b.subject, "ziggy.batches." + spool_->id());
    EXPECT_EQ(b.msg_id, absl::StrCat(spool_->id(), ":", b.header.first));
    EXPECT_EQ(b.header.forwarder, spool_->id());
    EXPECT_EQ(b.header.token, spool_->token());
    EXPECT_EQ(b.header.end - b.header.first, 500);
    EXPECT_EQ(b.header.count, 500);
    EXPECT_FALSE(b.header.zstd);
    EXPECT_LE(b.header.acked, b.header.first);
  }
  ExpectExactlyOnce(3000);
  const Value status = upstream_->Status();
  EXPECT_EQ(status.Get("mode")->AsString(), "nats");
  EXPECT_EQ(status.Get("subject")->AsString(), "ziggy.batches." + spool_->id());
  EXPECT_EQ(status.Get("server")->AsString(), server_->url());
  EXPECT_TRUE(status.Get("connected")->AsBool());
  EXPECT_EQ(StatusNumber("acks"), 6);
  EXPECT_EQ(StatusNumber("events"), 3000);
  EXPECT_EQ(StatusNumber("acked"), 3000);
  EXPECT_EQ(StatusNumber("duplicates"), 0);
}

TEST_F(NatsUpstreamTest, CompressesWhenSmaller) {
  options_.zstd = true;
  Append(1, 0, 1000);
  StartUpstream();
  ASSERT_TRUE(Drained()) << upstream_->Status().DebugString();
  for (const StoredBatch& b : Stored()) {
    EXPECT_TRUE(b.header.zstd);
    EXPECT_GT(b.header.size, 0);
  }
  ExpectExactlyOnce(1000);
  EXPECT_EQ(upstream_->Status().Get("compression")->AsString(), "zstd");
}

// As after a kill -9 between the PubAck and recording the mark: the stream
// holds a batch beyond the spool's acked mark.
TEST_F(NatsUpstreamTest, ResyncsPastABatchTheStreamAlreadyHolds) {
  Append(1, 0, 1000);
  CreateStream();
  SpoolBatch batch;
  ASSERT_TRUE(spool_->Read(0, 600, 1 << 30, &batch).ok());
  ASSERT_EQ(batch.end, 600);
  std::string data;
  AppendBatchMessage(RelayHeaderFor(*spool_, batch), batch.events, &data);
  PublishRaw(BatchSubject(options_.stream, spool_->id()), data,
             BatchMsgId(spool_->id(), 0));
  ASSERT_EQ(spool_->acked(), 0);
  StartUpstream();
  ASSERT_TRUE(Drained()) << upstream_->Status().DebugString();
  ExpectExactlyOnce(1000);
  EXPECT_GE(StatusNumber("resyncs"), 1);
  EXPECT_EQ(StatusNumber("events"), 400);  // only what the stream lacked
}

// A foreign message on this forwarder's subject breaks the chain (wrong last
// sequence); a message elsewhere with the next batch's id makes the stream
// answer Duplicate. Neither may move the acknowledged mark.
TEST_F(NatsUpstreamTest, ConflictingMessagesNeverAdvanceTheMarkWrongly) {
  options_.stream.duplicate_window = absl::Seconds(3);
  StartUpstream();
  Append(1, 0, 100);
  ASSERT_TRUE(Drained()) << upstream_->Status().DebugString();
  const std::string subject = BatchSubject(options_.stream, spool_->id());
  PublishRaw(subject, "not a batch");
  Append(1, 100, 200);
  ASSERT_TRUE(Drained()) << upstream_->Status().DebugString();
  EXPECT_GE(StatusNumber("wrong_last"), 1);
  // The next batch (first 200) collides with a message of another subject.
  PublishRaw("ziggy.batches.other", "not a batch either",
             BatchMsgId(spool_->id(), 200));
  Append(1, 200, 300);
  ASSERT_TRUE(WaitFor([&] { return StatusNumber("duplicates") >= 2; }))
      << upstream_->Status().DebugString();
  EXPECT_EQ(spool_->acked(), 200);  // a duplicate PubAck is no ack
  // Once the duplicate window has passed, the batch goes through.
  ASSERT_TRUE(Drained()) << upstream_->Status().DebugString();
  ExpectExactlyOnce(300);
}

// A batch forged on this forwarder's subject with its id (ids are not
// secret: they name the subject) but not its token is not this forwarder's
// batch: resyncing on it must not move the acknowledged mark past events
// the stream never got.
TEST_F(NatsUpstreamTest, ForgedBatchWithoutTheTokenMovesNoMark) {
  Append(1, 0, 1000);
  CreateStream();
  RelayHeader forged;
  forged.forwarder = spool_->id();
  forged.token = std::string(32, 'f');
  ASSERT_NE(forged.token, spool_->token());
  forged.first = 0;
  forged.end = 1000;
  forged.count = 1;
  const std::string event = Event(9, 0);
  forged.size = static_cast<int64_t>(event.size());
  std::string data;
  AppendBatchMessage(forged, event, &data);
  PublishRaw(BatchSubject(options_.stream, spool_->id()), data, "forged:0");
  StartUpstream();
  ASSERT_TRUE(Drained()) << upstream_->Status().DebugString();
  EXPECT_EQ(StatusNumber("events"), 1000) << upstream_->Status().DebugString();
  std::vector<StoredBatch> mine;
  for (StoredBatch& b : Stored()) {
    if (b.error.empty() && b.header.token == spool_->token()) {
      mine.push_back(std::move(b));
    }
  }
  const auto counts = CountSequences(mine);
  for (int64_t seq = 0; seq < 1000; ++seq) {
    auto it = counts.find({1, seq});
    ASSERT_TRUE(it != counts.end()) << "missing seq " << seq;
    EXPECT_EQ(it->second, 1) << "seq " << seq;
  }
}

TEST_F(NatsUpstreamTest, NatsStoppedWhileAppendingSpoolsThenPublishesOnce) {
  StartUpstream();
  Append(1, 0, 500);
  ASSERT_TRUE(Drained());
  server_->Stop();
  Append(1, 500, 1500);  // the spool keeps accepting
  ASSERT_TRUE(
      WaitFor([&] { return !upstream_->Status().Get("connected")->AsBool(); }));
  EXPECT_EQ(spool_->acked(), 500);
  ASSERT_TRUE(server_->Restart().ok());
  ASSERT_TRUE(Drained()) << upstream_->Status().DebugString();
  ExpectExactlyOnce(1500);
}

TEST_F(NatsUpstreamTest, NatsKilledAndRestartedLosesNothingAcknowledged) {
  StartUpstream();
  for (int round = 0; round < 3; ++round) {
    Append(1, round * 1000, round * 1000 + 500);
    ASSERT_TRUE(Drained()) << round;
    server_->Kill();
    Append(1, round * 1000 + 500, (round + 1) * 1000);
    ASSERT_TRUE(server_->Restart().ok());
    ASSERT_TRUE(Drained()) << upstream_->Status().DebugString();
  }
  ExpectExactlyOnce(3000);
  EXPECT_GE(StatusNumber("resyncs"), 4);  // the start, then each reconnect
}

TEST_F(NatsUpstreamTest, NatsDownAtStartThenUp) {
  server_->Stop();
  Append(1, 0, 700);
  StartUpstream();
  ASSERT_TRUE(WaitFor([&] { return StatusNumber("acked") == 0; }));
  EXPECT_EQ(spool_->acked(), 0);
  ASSERT_TRUE(server_->Restart().ok());
  ASSERT_TRUE(Drained()) << upstream_->Status().DebugString();
  ExpectExactlyOnce(700);
}

// Many full batches (2,000 events each) one after the other: every event
// once, the chain unbroken. (Speed: benchmarks/pipeline_benchmark,
// BM_JetStreamToZiggyd.)
TEST_F(NatsUpstreamTest, ManyFullBatchesExactlyOnce) {
  options_.batch_events = 2000;
  constexpr int64_t kEvents = 200000;
  Append(1, 0, kEvents);
  StartUpstream();
  ASSERT_TRUE(Drained(absl::Seconds(120)));
  ExpectExactlyOnce(kEvents);
}

}  // namespace
}  // namespace ziggy
