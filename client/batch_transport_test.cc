// Batched wire messages: the transport against a real ZeroMQ PULL socket
// that splits what it receives by the wire rule (client/testing/pull_sink.h).
// Events are opaque length-prefixed documents here, so every byte can be
// compared with what was sent.

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/internal/endian.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/internal/transport.h"
#include "client/testing/pull_sink.h"
#include "client/ziggy.h"
#include "gtest/gtest.h"
#include "zmq.hpp"

namespace ziggy {
namespace {

using internal::Transport;
using testing::PullSink;
using testing::UnusedPort;

constexpr absl::Duration kForever = absl::Hours(1);

// A document of exactly `size` (>= 24) bytes: its length, "t<thread>s<seq>;",
// filler, a NUL.
std::string Document(int thread, int seq, size_t size) {
  std::string doc(4, '\0');
  absl::StrAppend(&doc, "t", thread, "s", seq, ";");
  doc.resize(size - 1, static_cast<char>('a' + (seq + thread) % 26));
  doc.push_back('\0');
  absl::little_endian::Store32(&doc[0], static_cast<uint32_t>(size));
  return doc;
}

// The thread and seq a Document() carries.
std::pair<int, int> Origin(absl::string_view doc) {
  doc.remove_prefix(5);  // the length, "t"
  const size_t s = doc.find('s');
  const size_t end = doc.find(';');
  std::pair<int, int> origin{-1, -1};
  EXPECT_TRUE(absl::SimpleAtoi(doc.substr(0, s), &origin.first));
  EXPECT_TRUE(absl::SimpleAtoi(doc.substr(s + 1, end - s - 1), &origin.second));
  return origin;
}

std::unique_ptr<Transport> Connect(int port, const TransportOptions& options) {
  auto transport =
      Transport::Connect(absl::StrCat("tcp://127.0.0.1:", port), options);
  EXPECT_TRUE(transport.ok()) << transport.status();
  return transport.ok() ? *std::move(transport) : nullptr;
}

// Sends `count` documents of `size` bytes as thread 0.
void SendDocuments(Transport& transport, int count, size_t size) {
  for (int seq = 0; seq < count; ++seq) {
    transport.Send(Document(0, seq, size));
  }
}

// Every message within `batch_bytes`, unless it holds one document alone;
// one document per message when batching is off.
void ExpectMessagesWithin(const PullSink& sink, size_t batch_bytes) {
  const std::vector<size_t>& sizes = sink.message_sizes();
  const std::vector<size_t>& docs = sink.message_documents();
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (batch_bytes == 0 || docs[i] > 1) {
      EXPECT_TRUE(docs[i] == 1 || sizes[i] <= batch_bytes)
          << "message " << i << ": " << sizes[i] << " bytes, " << docs[i]
          << " documents";
    }
  }
}

class BatchSizeTest : public ::testing::TestWithParam<size_t> {
 protected:
  zmq::context_t context_;
};

// Four threads send documents of many sizes (some larger than a batch);
// every one arrives once, byte-identical, in its thread's order.
TEST_P(BatchSizeTest, EveryEventOnceInOrderByteIdentical) {
  constexpr int kThreads = 4, kPerThread = 1500;
  PullSink sink(context_);
  TransportOptions options;
  options.batch_bytes = GetParam();
  std::unique_ptr<Transport> transport = Connect(sink.port(), options);
  ASSERT_NE(transport, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&transport, t] {
      for (int seq = 0; seq < kPerThread; ++seq) {
        const size_t size = seq % 100 == 7 ? 6000 : 24 + (seq * 97 + t) % 1500;
        transport->Send(Document(t, seq, size));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_TRUE(transport->Flush(absl::Seconds(20)));
  const std::vector<std::string> docs = sink.Receive(kThreads * kPerThread);
  ASSERT_EQ(docs.size(), size_t{kThreads * kPerThread});
  std::map<int, int> next;  // thread -> the seq it must send next
  for (const std::string& doc : docs) {
    const auto [thread, seq] = Origin(doc);
    ASSERT_EQ(seq, next[thread]) << "thread " << thread;
    const size_t size = seq % 100 == 7 ? 6000 : 24 + (seq * 97 + thread) % 1500;
    ASSERT_EQ(doc, Document(thread, seq, size));
    ++next[thread];
  }
  const TransportStats stats = transport->stats();
  EXPECT_EQ(stats.sent, uint64_t{kThreads * kPerThread});
  EXPECT_EQ(stats.dropped_queue_full, 0u);
  EXPECT_EQ(stats.messages, sink.message_sizes().size());
  ExpectMessagesWithin(sink, GetParam());
  if (GetParam() == 0) {
    EXPECT_EQ(stats.messages, stats.sent);
  } else {
    EXPECT_LT(stats.messages, stats.sent);
  }
}

// A full queue (no daemon): the drops are counted as without batching, and
// at Shutdown whatever was queued was either sent or counted as dropped.
TEST_P(BatchSizeTest, DropsCountedUnderAFullQueue) {
  TransportOptions options;
  options.batch_bytes = GetParam();
  options.queue_bytes_per_thread = 64 << 10;
  options.send_high_water_mark = 10;
  options.linger = absl::Milliseconds(100);
  std::unique_ptr<Transport> transport = Connect(UnusedPort(), options);
  ASSERT_NE(transport, nullptr);
  constexpr int kEvents = 100000;
  SendDocuments(*transport, kEvents, 150);
  const TransportStats stats = transport->stats();
  EXPECT_EQ(stats.queued + stats.dropped_queue_full, uint64_t{kEvents});
  EXPECT_GT(stats.dropped_queue_full, uint64_t{kEvents / 2});
  transport->Shutdown();
  const TransportStats last = transport->stats();
  EXPECT_EQ(last.queued, stats.queued);
  EXPECT_EQ(last.dropped_queue_full, stats.dropped_queue_full);
  EXPECT_EQ(last.queued, last.sent + last.dropped_at_shutdown);
  EXPECT_EQ(last.pending_bytes, 0u);
}

INSTANTIATE_TEST_SUITE_P(Batch, BatchSizeTest,
                         ::testing::Values(0, 4096, 64 << 10),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return absl::StrCat("bytes", info.param);
                         });

class BatchTest : public ::testing::Test {
 protected:
  void TearDown() override {
    Shutdown();
    unsetenv("ZIGGY_BATCH");
    unsetenv("ZIGGY_HOST");
  }
  zmq::context_t context_;
};

// A transport to `sink` whose batches wait an hour, given 10 documents of
// 200 bytes.
std::unique_ptr<Transport> HoldTen(const PullSink& sink) {
  TransportOptions options;
  options.batch_delay = kForever;
  std::unique_ptr<Transport> transport = Connect(sink.port(), options);
  if (transport != nullptr) SendDocuments(*transport, 10, 200);
  return transport;
}

// An event larger than batch_bytes goes alone, after the events before it.
TEST_F(BatchTest, LargerEventGoesAloneInOrder) {
  PullSink sink(context_);
  TransportOptions options;
  options.batch_bytes = 1000;
  options.batch_delay = kForever;
  std::unique_ptr<Transport> transport = Connect(sink.port(), options);
  ASSERT_NE(transport, nullptr);
  transport->Send(Document(0, 0, 300));
  transport->Send(Document(0, 1, 300));
  transport->Send(Document(0, 2, 5000));
  transport->Send(Document(0, 3, 300));
  ASSERT_TRUE(transport->Flush(absl::Seconds(20)));
  const std::vector<std::string> docs = sink.Receive(4);
  ASSERT_EQ(docs.size(), 4u);
  for (int seq = 0; seq < 4; ++seq) {
    EXPECT_EQ(docs[seq], Document(0, seq, seq == 2 ? 5000 : 300));
  }
  EXPECT_EQ(sink.message_documents(), (std::vector<size_t>{2, 1, 1}));
  EXPECT_EQ(transport->stats().messages, 3u);
}

// With the default batch_delay a lone event leaves by itself: no Flush, no
// batch filling up.
TEST_F(BatchTest, LoneEventLeavesWithinTheDelay) {
  PullSink sink(context_);
  TransportOptions options;  // 64 KiB, 1 ms
  std::unique_ptr<Transport> transport = Connect(sink.port(), options);
  ASSERT_NE(transport, nullptr);
  transport->Send(Document(0, 0, 100));
  const std::vector<std::string> docs = sink.Receive(1, absl::Seconds(20));
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0], Document(0, 0, 100));
  // Later lone events too (the I/O thread went idle in between).
  transport->Send(Document(0, 1, 100));
  EXPECT_EQ(sink.Receive(1, absl::Seconds(20)).size(), 1u);
}

// A partly filled batch is held for batch_delay; Flush sends it at once.
TEST_F(BatchTest, FlushSendsAPartlyFilledBatch) {
  PullSink sink(context_);
  std::unique_ptr<Transport> transport = HoldTen(sink);
  ASSERT_NE(transport, nullptr);
  // Held: nothing arrives while the batch waits (an hour).
  EXPECT_TRUE(sink.Receive(1, absl::Milliseconds(300)).empty());
  EXPECT_GE(transport->stats().pending_bytes, 10u * 200);
  ASSERT_TRUE(transport->Flush(absl::Seconds(20)));
  EXPECT_EQ(transport->stats().sent, 10u);
  EXPECT_EQ(sink.Receive(10).size(), 10u);
  EXPECT_EQ(sink.message_documents(), std::vector<size_t>{10});
}

// Shutdown sends a partly filled batch within its linger.
TEST_F(BatchTest, ShutdownSendsAPartlyFilledBatch) {
  PullSink sink(context_);
  std::unique_ptr<Transport> transport = HoldTen(sink);
  ASSERT_NE(transport, nullptr);
  transport->Shutdown();
  EXPECT_EQ(sink.Receive(10).size(), 10u);
  EXPECT_EQ(sink.message_documents(), std::vector<size_t>{10});
  const TransportStats stats = transport->stats();
  EXPECT_EQ(stats.sent, 10u);
  EXPECT_EQ(stats.messages, 1u);
  EXPECT_EQ(stats.dropped_at_shutdown, 0u);
}

// batch_bytes beyond 1 MiB is capped at 1 MiB, what daemons accept.
TEST_F(BatchTest, BatchBytesCappedAtOneMiB) {
  PullSink sink(context_);
  TransportOptions options;
  options.batch_bytes = 8 << 20;
  options.batch_delay = kForever;
  options.queue_bytes_per_thread = 16 << 20;
  std::unique_ptr<Transport> transport = Connect(sink.port(), options);
  ASSERT_NE(transport, nullptr);
  SendDocuments(*transport, 3000, 1000);
  ASSERT_TRUE(transport->Flush(absl::Seconds(20)));
  EXPECT_EQ(sink.Receive(3000).size(), 3000u);
  const std::vector<size_t>& sizes = sink.message_sizes();
  EXPECT_EQ(sizes.size(), 3u);  // 1048 + 1048 + 904 documents
  EXPECT_LE(*std::max_element(sizes.begin(), sizes.end()), size_t{1} << 20);
  EXPECT_GT(*std::max_element(sizes.begin(), sizes.end()), size_t{1000} << 10);
}

// Records `count` events through the public API and checks how many
// messages carried them.
void RecordAndExpectMessages(PullSink& sink, int count, size_t messages) {
  for (int i = 0; i < count; ++i) Context c("request");
  ASSERT_TRUE(Flush(absl::Seconds(20)));
  EXPECT_EQ(sink.Receive(count).size(), static_cast<size_t>(count));
  EXPECT_EQ(sink.message_sizes().size(), messages);
  EXPECT_EQ(GetTransportStats().messages, messages);
  EXPECT_EQ(GetTransportStats().sent, static_cast<uint64_t>(count));
}

// ZIGGY_BATCH=0 turns batching off in both Configure overloads; 1 leaves
// the options in charge.
TEST_F(BatchTest, ZiggyBatchEnvironment) {
  TransportOptions options;
  options.batch_delay = kForever;
  {
    PullSink sink(context_);
    setenv("ZIGGY_BATCH", "1", 1);
    ASSERT_TRUE(Configure("127.0.0.1", sink.port(), options).ok());
    RecordAndExpectMessages(sink, 50, 1);
  }
  {
    PullSink sink(context_);
    setenv("ZIGGY_BATCH", "0", 1);
    ASSERT_TRUE(Configure("127.0.0.1", sink.port(), options).ok());
    RecordAndExpectMessages(sink, 50, 50);
  }
  {
    PullSink sink(context_);
    setenv("ZIGGY_HOST", absl::StrCat("127.0.0.1:", sink.port()).c_str(), 1);
    ASSERT_TRUE(Configure().ok());
    RecordAndExpectMessages(sink, 50, 50);
  }
}

}  // namespace
}  // namespace ziggy
