// ziggyd --source=nats://... against a real nats-server -js: batches in the
// shared format (common/nats_stream.h) published by the test itself, the
// way a forwarder chains them, and the conservation oracle over the files
// of one or two collectors: every (sender, seq) exactly once, through
// kills, a nats-server restart, redeliveries and malformed messages.

#include <nats/nats.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "common/durable_file.h"
#include "common/metrics.h"
#include "common/nats_stream.h"
#include "common/relay_protocol.h"
#include "gtest/gtest.h"
#include "tests/nats_server.h"
#include "tests/process.h"
#include "tests/ziggyd.h"

namespace ziggy::testing {
namespace {

constexpr int kEventsPerBatch = 20;

// Publishes numbered batches as a forwarder does: sender `sender`'s events
// seq 0, 1, ... in batches, each message the relay header and the payload
// (zstd every other batch), chained by ExpectLastSubjectSeq.
class TestPublisher {
 public:
  TestPublisher(const std::string& url, std::string forwarder, int sender)
      : forwarder_(std::move(forwarder)), sender_(sender) {
    options_.servers = {url};
    auto connection = NatsConnection::Connect(options_, "test publisher");
    EXPECT_TRUE(connection.ok()) << connection.status();
    connection_ = *std::move(connection);
    EXPECT_TRUE(WaitFor([&] { return connection_->connected(); }));
    EXPECT_TRUE(connection_->EnsureStream(options_).ok());
  }

  // The next batch of kEventsPerBatch events; false when NATS refused it.
  bool PublishBatch() {
    RelayHeader header = NextHeader();
    std::string events;
    for (int64_t i = header.first; i < header.end; ++i) {
      events += ForeignEvent("natsrc", sender_, i);
    }
    header.size = static_cast<int64_t>(events.size());
    std::string payload = events;
    if (header.zstd) {
      EXPECT_TRUE(CompressPayload(events, 1, &payload).ok());
    }
    std::string data;
    AppendBatchMessage(header, payload, &data);
    if (!Publish(BatchSubject(options_, forwarder_), data,
                 BatchMsgId(forwarder_, header.first))) {
      return false;
    }
    next_ = header.end;
    return true;
  }

  // Raw data on a subject (for malformed messages), outside the chain.
  void PublishRaw(const std::string& subject, const std::string& data) {
    jsPubAck* ack = nullptr;
    EXPECT_EQ(js_Publish(&ack, connection_->js(), subject.c_str(), data.data(),
                         static_cast<int>(data.size()), nullptr, nullptr),
              NATS_OK);
    jsPubAck_Destroy(ack);
  }

  RelayHeader NextHeader() const {
    RelayHeader header;
    header.forwarder = forwarder_;
    header.token = std::string(32, 'a');
    header.first = next_;
    header.end = next_ + kEventsPerBatch;
    header.acked = next_;
    header.count = kEventsPerBatch;
    header.zstd = (next_ / kEventsPerBatch) % 2 == 1;
    return header;
  }

  int64_t published() const { return next_; }
  NatsConnection& connection() { return *connection_; }

 private:
  bool Publish(const std::string& subject, const std::string& data,
               const std::string& id) {
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MsgId = id.c_str();
    options.ExpectLastSubjectSeq = last_sequence_;
    // A stream another client (ziggyd) is creating may not answer yet.
    natsStatus s = NATS_NO_RESPONDERS;
    for (int tries = 0; s == NATS_NO_RESPONDERS && tries < 50; ++tries) {
      if (tries > 0) absl::SleepFor(absl::Milliseconds(50));
      jsPubAck* ack = nullptr;
      s = js_Publish(&ack, connection_->js(), subject.c_str(), data.data(),
                     static_cast<int>(data.size()), &options, nullptr);
      if (s == NATS_OK) last_sequence_ = ack->Sequence;
      jsPubAck_Destroy(ack);
    }
    EXPECT_EQ(s, NATS_OK) << natsStatus_GetText(s);
    return s == NATS_OK;
  }

  NatsStreamOptions options_;
  std::string forwarder_;
  int sender_;
  std::unique_ptr<NatsConnection> connection_;
  int64_t next_ = 0;
  uint64_t last_sequence_ = 0;
};

// The consumer's messages neither acknowledged nor yet delivered.
struct ConsumerState {
  int64_t ack_pending = -1;
  uint64_t pending = 0;
};
ConsumerState Consumer(NatsConnection& connection,
                       const std::string& name = "ziggyd") {
  jsConsumerInfo* info = nullptr;
  ConsumerState state;
  if (js_GetConsumerInfo(&info, connection.js(), "ZIGGY", name.c_str(), nullptr,
                         nullptr) == NATS_OK) {
    state.ack_pending = info->NumAckPending;
    state.pending = info->NumPending;
  }
  jsConsumerInfo_Destroy(info);
  return state;
}

bool ConsumerDrained(NatsConnection& connection) {
  const ConsumerState state = Consumer(connection);
  return state.ack_pending == 0 && state.pending == 0;
}

std::vector<std::string> SourceFlags(const NatsServer& server,
                                     const std::string& ack_wait = "3s") {
  return {"--source=" + server.url(), "--nats-ack-wait=" + ack_wait,
          "--flush-interval-ms=50"};
}

// Every (sender, seq) over the collectors' files, counted.
std::map<std::pair<int64_t, int64_t>, int> Union(
    const std::vector<std::string>& log_paths) {
  std::map<std::pair<int64_t, int64_t>, int> counts;
  for (const std::string& path : log_paths) {
    for (const auto& key : ReadSequences(path)) ++counts[key];
  }
  return counts;
}

// Each sender's events 0..published-1 exactly once, nothing else.
void ExpectExactlyOnce(const std::vector<std::string>& log_paths,
                       const std::map<int, int64_t>& published) {
  const auto counts = Union(log_paths);
  size_t expected = 0;
  for (const auto& [sender, n] : published) {
    expected += static_cast<size_t>(n);
    for (int64_t seq = 0; seq < n; ++seq) {
      const auto it = counts.find({sender, seq});
      ASSERT_TRUE(it != counts.end()) << "lost " << sender << ":" << seq;
      ASSERT_EQ(it->second, 1) << "duplicate " << sender << ":" << seq;
    }
  }
  EXPECT_EQ(counts.size(), expected);
}

size_t UnionSize(const std::vector<std::string>& log_paths) {
  return Union(log_paths).size();
}

struct Fixture {
  Fixture() {
    auto started = NatsServer::Start(TempDir("nats"));
    EXPECT_TRUE(started.ok()) << started.status();
    server = *std::move(started);
  }
  // Starts `n` collectors on the consumer, on log paths TempDir(name + i);
  // false (after a test failure) when one did not start.
  bool StartPool(const std::string& name, int n) {
    for (int i = 0; i < n; ++i) {
      logs.push_back(TempDir(absl::StrCat(name, i)));
      pool.push_back(Ziggyd::Start(logs.back(), SourceFlags(*server)));
      if (pool.back() == nullptr) {
        ADD_FAILURE() << "ziggyd " << i << " did not start";
        return false;
      }
    }
    return true;
  }
  std::unique_ptr<NatsServer> server;
  std::vector<std::string> logs;
  std::vector<std::unique_ptr<Ziggyd>> pool;
};

TEST(NatsSourceTest, OneCollectorWritesEveryEventOnceAndAcksIt) {
  Fixture f;
  const std::string logs = TempDir("one");
  auto ziggyd = Ziggyd::Start(logs, SourceFlags(*f.server));
  ASSERT_NE(ziggyd, nullptr);
  TestPublisher a(f.server->url(), "fwd-a", 1), b(f.server->url(), "fwd-b", 2);
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(a.PublishBatch());
    ASSERT_TRUE(b.PublishBatch());
  }
  ASSERT_TRUE(ziggyd->WaitWritten(60 * kEventsPerBatch));
  ASSERT_TRUE(WaitFor([&] { return ConsumerDrained(a.connection()); }));
  ASSERT_TRUE(WaitFor([&] { return ziggyd->StatusNumber("nats.acks") >= 60; }));
  ExpectExactlyOnce({logs}, {{1, a.published()}, {2, b.published()}});
  EXPECT_EQ(ziggyd->StatusNumber("nats.batches"), 60);
  EXPECT_EQ(ziggyd->StatusNumber("nats.events"), 60 * kEventsPerBatch);
  EXPECT_EQ(ziggyd->StatusNumber("nats.rejected"), 0);
  EXPECT_EQ(ziggyd->StatusNumber("nats.pending_acks"), 0);
  EXPECT_EQ(ziggyd->StatusNumber("nats.possible_duplicates"), 0);
  const Value status = ziggyd->Status();
  ASSERT_NE(status.Find("nats.connected"), nullptr);
  EXPECT_TRUE(status.Find("nats.connected")->AsBool());
  EXPECT_EQ(status.Find("nats.consumer")->AsString(), "ziggyd");
  EXPECT_EQ(status.Find("nats.server")->AsString(), f.server->url());
  // Every number of STATUS nats is a metric.
  const std::string metrics =
      PrometheusText(status.AsMap(), StatusSchema::kCollector);
  EXPECT_NE(metrics.find("\nziggy_nats_batches_total 60\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("\nziggy_nats_connected 1\n"), std::string::npos);
  for (const std::string& field :
       UnexportedFields(status.AsMap(), StatusSchema::kCollector)) {
    EXPECT_NE(field.rfind("nats.", 0), 0u) << field;
  }
  // NATS acks move no relay forwarder's mark.
  EXPECT_EQ(ziggyd->StatusNumber("relay.forwarders_known"), 0);
  // A clean stop leaves no ack to redo.
  ziggyd->process().Signal(SIGTERM);
  ASSERT_EQ(ziggyd->process().Wait(), 0);
  auto snapshot = DecodeDocument(ReadFileOrEmpty(logs + "/.relay-state"));
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->Get("nats"), nullptr) << snapshot->DebugString();
}

TEST(NatsSourceTest, TwoCollectorsShareTheConsumerAndWriteEachEventOnce) {
  Fixture f;
  ASSERT_TRUE(f.StartPool("pool", 2));
  Ziggyd& one = *f.pool[0];
  Ziggyd& two = *f.pool[1];
  TestPublisher a(f.server->url(), "fwd-a", 1), b(f.server->url(), "fwd-b", 2);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(a.PublishBatch());
    ASSERT_TRUE(b.PublishBatch());
    if (i % 10 == 0) absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(WaitFor([&] {
    return UnionSize(f.logs) == 200u * kEventsPerBatch &&
           ConsumerDrained(a.connection());
  }));
  ExpectExactlyOnce(f.logs, {{1, a.published()}, {2, b.published()}});
  // Both took a share, and nothing was taken twice.
  EXPECT_GT(one.StatusNumber("nats.batches"), 0);
  EXPECT_GT(two.StatusNumber("nats.batches"), 0);
  EXPECT_EQ(one.StatusNumber("nats.batches") + two.StatusNumber("nats.batches"),
            200);
}

// Publishes `batches` batches from each publisher in a thread of its own,
// a little at a time, while the test kills and restarts things.
class Background {
 public:
  Background(std::vector<TestPublisher*> publishers, int batches)
      : thread_([this, publishers, batches] {
          for (int i = 0; i < batches && !failed_; ++i) {
            for (TestPublisher* p : publishers) {
              if (!p->PublishBatch()) failed_ = true;
            }
            absl::SleepFor(absl::Milliseconds(5));
          }
        }) {}
  ~Background() { Join(); }
  bool Join() {
    if (thread_.joinable()) thread_.join();
    return !failed_;
  }

 private:
  std::atomic<bool> failed_{false};
  std::thread thread_;
};

TEST(NatsSourceTest, KillNineOfACollectorMidStreamLosesAndDuplicatesNothing) {
  Fixture f;
  ASSERT_TRUE(f.StartPool("kill", 2));
  std::unique_ptr<Ziggyd>& one = f.pool[0];
  Ziggyd& two = *f.pool[1];
  TestPublisher a(f.server->url(), "fwd-a", 1), b(f.server->url(), "fwd-b", 2);
  {
    Background publishing({&a, &b}, 150);
    ASSERT_TRUE(WaitFor([&] { return one->StatusNumber("written") > 400; }));
    one->process().Signal(SIGKILL);
    one->process().Wait();
    absl::SleepFor(absl::Milliseconds(500));
    one = Ziggyd::Start(f.logs[0], SourceFlags(*f.server));
    ASSERT_NE(one, nullptr);
    ASSERT_TRUE(publishing.Join());
  }
  ASSERT_TRUE(WaitFor([&] {
    return UnionSize(f.logs) == 300u * kEventsPerBatch &&
           ConsumerDrained(a.connection());
  }));
  ExpectExactlyOnce(f.logs, {{1, a.published()}, {2, b.published()}});
  // Restarted within the ack wait: nothing can have gone elsewhere twice.
  EXPECT_EQ(one->StatusNumber("nats.possible_duplicates"), 0);
  EXPECT_EQ(two.StatusNumber("nats.possible_duplicates"), 0);
}

TEST(NatsSourceTest, NatsServerRestartMidStreamLosesAndDuplicatesNothing) {
  Fixture f;
  ASSERT_TRUE(f.StartPool("restart", 2));
  std::map<int, int64_t> published;
  {
    TestPublisher a(f.server->url(), "fwd-a", 1);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(a.PublishBatch());
    // While the collectors take them in and ack them.
    f.server->Stop();
    published[1] = a.published();
  }
  absl::SleepFor(absl::Seconds(1));
  ASSERT_TRUE(f.server->Restart().ok()) << f.server->Log();
  TestPublisher b(f.server->url(), "fwd-b", 2);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(b.PublishBatch());
  published[2] = b.published();
  ASSERT_TRUE(WaitFor(
      [&] {
        return UnionSize(f.logs) == 150u * kEventsPerBatch &&
               ConsumerDrained(b.connection());
      },
      absl::Seconds(60)));
  ExpectExactlyOnce(f.logs, published);
}

TEST(NatsSourceTest, RedeliveryOfAMessageWrittenButNotAckedIsNotWrittenTwice) {
  Fixture f;
  const std::string logs = TempDir("redeliver");
  auto ziggyd = Ziggyd::Start(logs, SourceFlags(*f.server, "1s"));
  ASSERT_NE(ziggyd, nullptr);
  TestPublisher a(f.server->url(), "fwd-a", 1);
  ASSERT_TRUE(a.PublishBatch());
  ASSERT_TRUE(ziggyd->WaitWritten(kEventsPerBatch));
  ASSERT_TRUE(WaitFor([&] { return ConsumerDrained(a.connection()); }));
  // The disk refuses: batches are taken in (and remembered as written)
  // but held, unacknowledged.
  LimitFileSize(ziggyd->process().pid(), 1);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(a.PublishBatch());
  ASSERT_TRUE(
      WaitFor([&] { return ziggyd->StatusNumber("nats.pending_acks") == 5; }));
  // Held, they are kept "in progress": nothing is redelivered.
  absl::SleepFor(absl::Seconds(3));
  EXPECT_GT(ziggyd->StatusNumber("nats.in_progress"), 0);
  EXPECT_EQ(ziggyd->StatusNumber("nats.redelivered"), 0);
  // Stopped past the ack wait, ziggyd cannot say so: NATS redelivers.
  ziggyd->process().Signal(SIGSTOP);
  absl::SleepFor(absl::Seconds(3));
  ziggyd->process().Signal(SIGCONT);
  ASSERT_TRUE(WaitFor(
      [&] { return ziggyd->StatusNumber("nats.duplicates_dropped") > 0; }));
  EXPECT_GT(ziggyd->StatusNumber("nats.redelivered"), 0);
  LimitFileSize(ziggyd->process().pid(), 0);
  ASSERT_TRUE(ziggyd->WaitWritten(6 * kEventsPerBatch));
  ASSERT_TRUE(WaitFor([&] { return ConsumerDrained(a.connection()); }));
  ASSERT_TRUE(
      WaitFor([&] { return ziggyd->StatusNumber("nats.pending_acks") == 0; }));
  ExpectExactlyOnce({logs}, {{1, a.published()}});
  EXPECT_EQ(ziggyd->StatusNumber("nats.batches"), 6);
}

// nats-server 2.9 confirms an ack before the consumer's replicas store
// it, so a consumer leader killed then gives out again messages whose
// acks it confirmed. A consumer deleted and made again (by ziggyd, at its
// next idle check) gives out every message again the same way: each
// remembered as confirmed is dropped and acknowledged again, not written
// twice.
TEST(NatsSourceTest, MessagesGivenOutAgainAfterTheirAcksAreNotWrittenTwice) {
  Fixture f;
  const std::string logs = TempDir("again");
  auto ziggyd = Ziggyd::Start(logs, SourceFlags(*f.server, "30s"));
  ASSERT_NE(ziggyd, nullptr);
  TestPublisher a(f.server->url(), "fwd-a", 1);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(a.PublishBatch());
  ASSERT_TRUE(ziggyd->WaitWritten(5 * kEventsPerBatch));
  ASSERT_TRUE(WaitFor([&] { return ziggyd->StatusNumber("nats.acks") >= 5; }));
  ASSERT_EQ(js_DeleteConsumer(a.connection().js(), "ZIGGY", "ziggyd", nullptr,
                              nullptr),
            NATS_OK);
  ASSERT_TRUE(WaitFor([&] {
    return ziggyd->StatusNumber("nats.duplicates_dropped") ==
           5 * kEventsPerBatch;
  })) << ziggyd->Status().DebugString();
  ASSERT_TRUE(WaitFor([&] { return ConsumerDrained(a.connection()); }));
  ASSERT_TRUE(a.PublishBatch());
  ASSERT_TRUE(ziggyd->WaitWritten(6 * kEventsPerBatch));
  ASSERT_TRUE(WaitFor([&] { return ConsumerDrained(a.connection()); }));
  ExpectExactlyOnce({logs}, {{1, a.published()}});
  EXPECT_EQ(ziggyd->StatusNumber("nats.batches"), 6);
  EXPECT_GE(ziggyd->StatusNumber("nats.resubscribes"), 1);
}

// Dedup remembers each sequence's batch (its message id): a stream made
// again numbers other batches from 1, and those are new, not redeliveries.
TEST(NatsSourceTest, ASequenceThatComesBackWithAnotherBatchIsTakenIn) {
  Fixture f;
  const std::string logs = TempDir("reused");
  auto ziggyd = Ziggyd::Start(logs, SourceFlags(*f.server, "30s"));
  ASSERT_NE(ziggyd, nullptr);
  std::map<int, int64_t> published;
  {
    TestPublisher a(f.server->url(), "fwd-a", 1);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(a.PublishBatch());
    ASSERT_TRUE(ziggyd->WaitWritten(3 * kEventsPerBatch));
    ASSERT_TRUE(
        WaitFor([&] { return ziggyd->StatusNumber("nats.acks") >= 3; }));
    ASSERT_EQ(js_DeleteStream(a.connection().js(), "ZIGGY", nullptr, nullptr),
              NATS_OK);
    published[1] = a.published();
  }
  TestPublisher b(f.server->url(), "fwd-b", 2);  // makes the stream again
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b.PublishBatch());
  ASSERT_TRUE(ziggyd->WaitWritten(6 * kEventsPerBatch))
      << ziggyd->Status().DebugString();
  ASSERT_TRUE(WaitFor([&] { return ConsumerDrained(b.connection()); }));
  published[2] = b.published();
  ExpectExactlyOnce({logs}, published);
  EXPECT_EQ(ziggyd->StatusNumber("nats.duplicates_dropped"), 0);
  EXPECT_NE(ziggyd->process().Stderr().find("reused the sequence"),
            std::string::npos);
}

TEST(NatsSourceTest, MalformedMessagesAreTerminatedAndCountedGoodOnesKept) {
  Fixture f;
  const std::string logs = TempDir("malformed");
  auto ziggyd = Ziggyd::Start(logs, SourceFlags(*f.server, "1s"));
  ASSERT_NE(ziggyd, nullptr);
  TestPublisher a(f.server->url(), "fwd-a", 1);
  ASSERT_TRUE(a.PublishBatch());
  // Not a batch at all.
  a.PublishRaw("ziggy.batches.fwd-x", std::string(100, '\xff'));
  ASSERT_TRUE(a.PublishBatch());
  // A sound batch of fwd-a on another forwarder's subject.
  RelayHeader header = a.NextHeader();
  std::string events;
  for (int64_t i = 0; i < header.count; ++i) {
    events += ForeignEvent("natsrc", 9, i);
  }
  header.zstd = false;
  header.size = static_cast<int64_t>(events.size());
  std::string data;
  AppendBatchMessage(header, events, &data);
  a.PublishRaw("ziggy.batches.fwd-b", data);
  // Broken framing: the header counts one document more than there is
  // (forwarder fwd-c: fwd-a's chain stays as the test publisher has it).
  header.forwarder = "fwd-c";
  header.count += 1;
  data.clear();
  AppendBatchMessage(header, events, &data);
  a.PublishRaw("ziggy.batches.fwd-c", data);
  // Well framed, one document not an event: dropped, the batch kept.
  header.count = 2;
  events = ForeignEvent("natsrc", 7, 0) +
           EncodeDocument(Value(Value::Map{{"not", "an event"}}));
  header.size = static_cast<int64_t>(events.size());
  data.clear();
  AppendBatchMessage(header, events, &data);
  a.PublishRaw("ziggy.batches.fwd-c", data);
  ASSERT_TRUE(a.PublishBatch());
  ASSERT_TRUE(WaitFor([&] { return ConsumerDrained(a.connection()); }));
  ASSERT_TRUE(ziggyd->WaitWritten(3 * kEventsPerBatch + 1));
  EXPECT_EQ(ziggyd->StatusNumber("nats.rejected"), 3);
  EXPECT_EQ(ziggyd->StatusNumber("dropped.no_type"), 1);
  // Terminated, never redelivered (past the ack wait).
  absl::SleepFor(absl::Seconds(2));
  EXPECT_EQ(ziggyd->StatusNumber("nats.redelivered"), 0);
  EXPECT_TRUE(ziggyd->process().running());
  auto counts = Union({logs});
  counts.erase({7, 0});
  EXPECT_EQ(counts.size(), 3u * kEventsPerBatch);
  for (const auto& [key, n] : counts) {
    EXPECT_EQ(key.first, 1);
    EXPECT_EQ(n, 1);
  }
}

// A checkpoint recorded acks NATS never confirmed (ziggyd was killed
// between the two): the restart re-acks them before fetching, and counts
// them as possible duplicates only when the checkpoint is older than the
// ack wait allows.
// `timer` (unix seconds) and `batch`, when set, are the ack's own timer
// start and batch; older snapshots have neither.
void WriteSnapshotWithAck(const std::string& logs, uint64_t sequence,
                          const std::string& reply, double time,
                          double timer = 0, const std::string& batch = "") {
  ASSERT_TRUE(MakeDirectories(logs).ok());
  Value::Map ack{{"seq", static_cast<int64_t>(sequence)}, {"reply", reply}};
  if (timer > 0) ack.emplace_back("timer", timer);
  if (!batch.empty()) ack.emplace_back("batch", batch);
  const Value snapshot(Value::Map{
      {"forwarders", Value::MakeMap()},
      {"files", Value::MakeMap()},
      {"nats",
       Value(Value::Map{{"time", time},
                        {"acks", Value::MakeList({Value(std::move(ack))})}})}});
  ASSERT_TRUE(
      ReplaceFileDurably(logs, ".relay-state", EncodeDocument(snapshot)).ok());
}

// Delivers the next message to the test itself, unacknowledged, as
// ziggyd's consumer would have: its stream sequence and reply subject.
std::pair<uint64_t, std::string> TakeOne(
    TestPublisher& publisher, absl::Duration ack_wait = absl::Seconds(2)) {
  natsSubscription* sub = nullptr;
  jsSubOptions options;
  jsSubOptions_Init(&options);
  options.Stream = "ZIGGY";
  options.Consumer = "ziggyd";
  jsConsumerConfig config;
  jsConsumerConfig_Init(&config);
  config.Durable = "ziggyd";
  config.AckPolicy = js_AckExplicit;
  config.AckWait = absl::ToInt64Nanoseconds(ack_wait);
  config.FilterSubject = "ziggy.batches.>";
  jsConsumerInfo* info = nullptr;
  EXPECT_EQ(js_AddConsumer(&info, publisher.connection().js(), "ZIGGY", &config,
                           nullptr, nullptr),
            NATS_OK);
  jsConsumerInfo_Destroy(info);
  EXPECT_EQ(
      js_PullSubscribe(&sub, publisher.connection().js(), "ziggy.batches.>",
                       "ziggyd", nullptr, &options, nullptr),
      NATS_OK);
  natsMsgList list{};
  EXPECT_EQ(natsSubscription_Fetch(&list, sub, 1, 5000, nullptr), NATS_OK);
  std::pair<uint64_t, std::string> taken{0, ""};
  if (list.Count == 1) {
    jsMsgMetaData* meta = nullptr;
    EXPECT_EQ(natsMsg_GetMetaData(&meta, list.Msgs[0]), NATS_OK);
    taken = {meta->Sequence.Stream, natsMsg_GetReply(list.Msgs[0])};
    jsMsgMetaData_Destroy(meta);
  }
  natsMsgList_Destroy(&list);
  natsSubscription_Destroy(sub);
  return taken;
}

// ziggyd started on a log path whose checkpoint, `age` old, records the
// unconfirmed ack of a batch it wrote (the publisher's first), as a
// ziggyd killed between the two leaves it. Past the ack wait (2 s), the
// message is due to be redelivered: to this collector a duplicate, to
// another one a batch to write.
// `reply` replaces the message's reply subject when not empty.
std::unique_ptr<Ziggyd> StartAfterAnUnconfirmedAck(
    const NatsServer& server, TestPublisher& publisher, const std::string& logs,
    absl::Duration age, const std::string& reply = "") {
  EXPECT_TRUE(publisher.PublishBatch());
  const auto [sequence, taken_reply] = TakeOne(publisher);
  EXPECT_GT(sequence, 0u);
  WriteSnapshotWithAck(
      logs, sequence, reply.empty() ? taken_reply : reply,
      absl::ToDoubleSeconds(absl::Now() - age - absl::UnixEpoch()));
  if (age > absl::Seconds(2)) absl::SleepFor(absl::Seconds(3));
  return Ziggyd::Start(logs, SourceFlags(server, "2s"));
}

TEST(NatsSourceTest, RestartReAcksTheCheckpointsUnconfirmedAcks) {
  Fixture f;
  TestPublisher a(f.server->url(), "fwd-a", 1);
  const std::string logs = TempDir("reack");
  auto ziggyd =
      StartAfterAnUnconfirmedAck(*f.server, a, logs, absl::ZeroDuration());
  ASSERT_NE(ziggyd, nullptr);
  ASSERT_TRUE(WaitFor([&] { return ziggyd->StatusNumber("nats.acks") >= 1; }));
  ASSERT_TRUE(WaitFor([&] { return ConsumerDrained(a.connection()); }));
  EXPECT_EQ(ziggyd->StatusNumber("nats.possible_duplicates"), 0);
  ASSERT_TRUE(a.PublishBatch());
  ASSERT_TRUE(ziggyd->WaitWritten(kEventsPerBatch));
  // The re-acked batch is taken as written: only the new one is there.
  const auto counts = Union({logs});
  EXPECT_EQ(counts.size(), static_cast<size_t>(kEventsPerBatch));
  EXPECT_EQ(counts.count({1, 0}), 0u);
  EXPECT_EQ(counts.count({1, kEventsPerBatch}), 1u);
}

TEST(NatsSourceTest, ReAckOfAnOldCheckpointCountsAPossibleDuplicate) {
  Fixture f;
  TestPublisher a(f.server->url(), "fwd-a", 1);
  const std::string logs = TempDir("reack-old");
  auto ziggyd = StartAfterAnUnconfirmedAck(*f.server, a, logs, absl::Hours(1));
  ASSERT_NE(ziggyd, nullptr);
  ASSERT_TRUE(WaitFor([&] { return ConsumerDrained(a.connection()); }));
  EXPECT_EQ(ziggyd->StatusNumber("nats.possible_duplicates"), 1);
  EXPECT_EQ(ziggyd->StatusNumber("nats.batches"), 0);
  EXPECT_TRUE(Union({logs}).empty());
}

// A snapshot written since (checkpoints of relay or collect traffic)
// keeps each ack's own timer: one an hour old counts though the snapshot
// is new.
TEST(NatsSourceTest, ReAckCountsByTheAcksOwnTimerNotTheSnapshotsTime) {
  Fixture f;
  TestPublisher a(f.server->url(), "fwd-a", 1);
  const std::string logs = TempDir("reack-timer");
  ASSERT_TRUE(a.PublishBatch());
  // The consumer's own ack wait is long: only the recorded timer is late.
  const auto [sequence, reply] = TakeOne(a, absl::Seconds(30));
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  WriteSnapshotWithAck(logs, sequence, reply, now, now - 3600);
  auto ziggyd = Ziggyd::Start(logs, SourceFlags(*f.server, "30s"));
  ASSERT_NE(ziggyd, nullptr);
  ASSERT_TRUE(WaitFor([&] { return ziggyd->StatusNumber("nats.acks") >= 1; }));
  EXPECT_EQ(ziggyd->StatusNumber("nats.possible_duplicates"), 1);
}

// A checkpoint records each unconfirmed ack's batch: after a restart and
// the re-ack, the message given out again (here by a consumer made again)
// is known as written and dropped. An older ziggyd's checkpoint, without
// batches, cannot say which batch was written: the message is taken in
// (never dropped on a guess).
int64_t BatchesAfterARestartAndTheConsumerMadeAgain(const std::string& batch) {
  Fixture f;
  TestPublisher a(f.server->url(), "fwd-a", 1);
  const std::string logs = TempDir("checkpointed-batch");
  EXPECT_TRUE(a.PublishBatch());
  const auto [sequence, reply] = TakeOne(a);
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  WriteSnapshotWithAck(logs, sequence, reply, now, now, batch);
  auto ziggyd = Ziggyd::Start(logs, SourceFlags(*f.server, "30s"));
  EXPECT_NE(ziggyd, nullptr);
  if (ziggyd == nullptr) return -1;
  EXPECT_TRUE(WaitFor([&] { return ziggyd->StatusNumber("nats.acks") >= 1; }));
  EXPECT_EQ(js_DeleteConsumer(a.connection().js(), "ZIGGY", "ziggyd", nullptr,
                              nullptr),
            NATS_OK);
  EXPECT_TRUE(WaitFor([&] { return ziggyd->StatusNumber("nats.acks") >= 2; }))
      << ziggyd->Status().DebugString();
  EXPECT_TRUE(WaitFor([&] { return ConsumerDrained(a.connection()); }));
  return ziggyd->StatusNumber("nats.batches");
}

TEST(NatsSourceTest, ACheckpointedBatchIsKnownAfterARestart) {
  EXPECT_EQ(BatchesAfterARestartAndTheConsumerMadeAgain(
                absl::StrCat("fwd-a:0-", kEventsPerBatch)),
            0);
  EXPECT_EQ(BatchesAfterARestartAndTheConsumerMadeAgain(""), 1);
}

// The dedup set, seeded from the checkpoint: the message's ack cannot go
// (nothing answers at the recorded reply subject), so NATS redelivers it,
// here, where it was written: dropped, and acknowledged this time.
TEST(NatsSourceTest, ARedeliveryOfACheckpointedMessageIsDroppedAtRestart) {
  Fixture f;
  TestPublisher a(f.server->url(), "fwd-a", 1);
  const std::string logs = TempDir("seeded");
  auto ziggyd = StartAfterAnUnconfirmedAck(
      *f.server, a, logs, absl::ZeroDuration(), "$JS.ACK.nowhere");
  ASSERT_NE(ziggyd, nullptr);
  ASSERT_TRUE(WaitFor([&] {
    return ziggyd->StatusNumber("nats.duplicates_dropped") == kEventsPerBatch;
  }));
  ASSERT_TRUE(WaitFor([&] { return ConsumerDrained(a.connection()); }));
  EXPECT_EQ(ziggyd->StatusNumber("nats.redelivered"), 1);
  EXPECT_EQ(ziggyd->StatusNumber("nats.batches"), 0);
  EXPECT_GT(ziggyd->StatusNumber("nats.ack_errors"), 0);
  EXPECT_TRUE(Union({logs}).empty());
}

// A consumer made elsewhere with acks that cover other messages (ack
// policy "all") is refused with a line saying why, and nothing is taken
// from it.
TEST(NatsSourceTest, AConsumerWithoutExplicitAcksIsRefused) {
  Fixture f;
  TestPublisher a(f.server->url(), "fwd-a", 1);
  ASSERT_TRUE(a.PublishBatch());
  NatsStreamOptions options;
  options.servers = {f.server->url()};
  auto connection = NatsConnection::Connect(options, "test");
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_TRUE(WaitFor([&] { return (*connection)->connected(); }));
  jsConsumerConfig config;
  jsConsumerConfig_Init(&config);
  config.Durable = "all";
  config.AckPolicy = js_AckAll;
  jsConsumerInfo* info = nullptr;
  ASSERT_EQ(js_AddConsumer(&info, (*connection)->js(), "ZIGGY", &config,
                           nullptr, nullptr),
            NATS_OK);
  jsConsumerInfo_Destroy(info);
  const std::string logs = TempDir("refused");
  std::vector<std::string> flags = SourceFlags(*f.server);
  flags.push_back("--nats-consumer=all");
  auto ziggyd = Ziggyd::Start(logs, flags);
  ASSERT_NE(ziggyd, nullptr);
  EXPECT_TRUE(WaitFor([&] {
    return ziggyd->process().Stderr().find("exists without explicit acks") !=
           std::string::npos;
  })) << ziggyd->process().Stderr();
  EXPECT_EQ(ziggyd->StatusNumber("nats.batches"), 0);
  EXPECT_EQ(UnionSize({logs}), 0u);
}

TEST(NatsSourceTest, BadNatsFlagsAreOneLineErrorsWithExitCodeOne) {
  const std::vector<std::vector<std::string>> bad = {
      {"--source=127.0.0.1:3515"},
      {"--source=nats://127.0.0.1:4222,127.0.0.1:3515"},
      {"--source=nats://127.0.0.1"},
      {"--source=nats://127.0.0.1:4222", "--nats-ack-wait=soon"},
      {"--source=nats://127.0.0.1:4222", "--nats-ack-wait=0s"},
      {"--source=nats://127.0.0.1:4222", "--nats-replicas=7"},
      {"--source=nats://127.0.0.1:4222", "--nats-max-age=-1h"},
      {"--source=nats://127.0.0.1:4222", "--nats-max-bytes=-5"},
      {"--source=nats://127.0.0.1:4222", "--nats-consumer=a.b"},
      {"--source=nats://127.0.0.1:4222", "--nats-stream=A.B"},
      {"--source=nats://127.0.0.1:4222", "--nats-subject=ziggy.*"},
  };
  for (const std::vector<std::string>& flags : bad) {
    std::vector<std::string> argv = {RunfilesPath("collector/ziggyd"),
                                     "--log-path=" + TempDir("bad")};
    argv.insert(argv.end(), flags.begin(), flags.end());
    std::string out, err;
    EXPECT_EQ(RunCommand(argv, &out, &err), 1) << flags.back() << ": " << err;
    EXPECT_EQ(err.rfind("ziggyd: ", 0), 0u) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  }
}

}  // namespace
}  // namespace ziggy::testing
