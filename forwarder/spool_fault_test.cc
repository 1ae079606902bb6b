// Disk faults injected under the spool (FaultFileSystem): nothing reported
// durable is lost, nothing is reported durable that is not, and a failing
// write or rename leaves what was spooled before intact.

#include <cstdlib>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fault_file_system.h"
#include "forwarder/spool.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

int dirs = 0;

SpoolOptions Options(FaultFileSystem* fs) {
  SpoolOptions options;
  options.dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/fault", dirs++);
  options.sync_interval = absl::ZeroDuration();  // syncs only when asked
  options.fs = fs;
  return options;
}

constexpr size_t kEventSize = 10;
std::string Event(int i) { return absl::StrFormat("event-%04d", i); }

void AppendEvents(Spool& spool, int from, int to) {
  for (int i = from; i < to; ++i) ASSERT_TRUE(spool.Append(Event(i)).ok());
}

// How often each event can be read back, from index 0 on.
std::map<std::string, int> ReadCounts(Spool& spool) {
  std::map<std::string, int> counts;
  SpoolBatch batch;
  for (int64_t from = 0;; from = batch.end) {
    EXPECT_TRUE(spool.Read(from, 7, 1 << 20, &batch).ok());
    if (batch.end == batch.first) break;
    for (size_t at = 0; at < batch.events.size(); at += kEventSize) {
      ++counts[batch.events.substr(at, kEventSize)];
    }
  }
  return counts;
}

Fault SyncFault() {
  Fault fault;
  fault.op = FaultOp::kSync;
  fault.error = EIO;
  fault.path_contains = "seg-";
  return fault;
}

TEST(SpoolFaultTest, AFailedSyncIsNotClaimedDurableEvenWhenARetrySucceeds) {
  FaultFileSystem fs;
  const SpoolOptions options = Options(&fs);
  auto spool = Spool::Open(options);
  ASSERT_TRUE(spool.ok()) << spool.status();
  AppendEvents(**spool, 0, 10);
  ASSERT_TRUE((*spool)->Sync().ok());
  EXPECT_EQ((*spool)->synced_index(), 10);

  fs.Inject(SyncFault());
  AppendEvents(**spool, 10, 20);
  EXPECT_EQ((*spool)->Sync().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(fs.injected(), 1);
  EXPECT_EQ((*spool)->sync_errors(), 1u);
  EXPECT_EQ((*spool)->synced_index(), 10);
  // The disk answers again, but the failed writeback may have lost 10-19:
  // a successful sync does not vouch for them.
  EXPECT_EQ((*spool)->Sync().code(), absl::StatusCode::kDataLoss);
  AppendEvents(**spool, 20, 30);
  EXPECT_EQ((*spool)->Sync().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ((*spool)->synced_index(), 10);
  const int64_t reported_durable = (*spool)->synced_index();

  // Power loss: only what the disk really holds survives.
  spool->reset();
  ASSERT_TRUE(fs.SimulateCrash().ok());
  auto reopened = Spool::Open(options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  const std::map<std::string, int> counts = ReadCounts(**reopened);
  for (int i = 0; i < reported_durable; ++i) {
    EXPECT_EQ(counts.count(Event(i)) ? counts.at(Event(i)) : 0, 1) << i;
  }
  for (const auto& [event, count] : counts) EXPECT_EQ(count, 1) << event;
  // The zeroed records are damage, skipped and counted.
  EXPECT_GT((*reopened)->damaged_bytes(), 0u);
  // Indexes that may have been in use are never handed out again.
  EXPECT_GE((*reopened)->end_index(), 30);
}

TEST(SpoolFaultTest, AcknowledgementMakesRecordsOfAFailedSyncDurable) {
  FaultFileSystem fs;
  auto spool = Spool::Open(Options(&fs));
  ASSERT_TRUE(spool.ok());
  AppendEvents(**spool, 0, 10);
  fs.Inject(SyncFault());
  EXPECT_FALSE((*spool)->Sync().ok());
  AppendEvents(**spool, 10, 15);
  EXPECT_EQ((*spool)->Sync().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ((*spool)->synced_index(), 0);
  // A collector has them durably: the doubt is gone.
  ASSERT_TRUE((*spool)->Acknowledge(10).ok());
  EXPECT_TRUE((*spool)->Sync().ok());
  EXPECT_EQ((*spool)->synced_index(), 15);
}

// What ReadCounts gives when each of these events is there exactly once.
std::map<std::string, int> OnceEach(std::initializer_list<int> events) {
  std::map<std::string, int> counts;
  for (const int i : events) counts[Event(i)] = 1;
  return counts;
}

// A disk that fills in the middle of a write: a whole record header and
// part of an event reach the file, then ENOSPC.
Fault ShortWrite() {
  Fault fault;
  fault.op = FaultOp::kAppend;
  fault.error = ENOSPC;
  fault.write_first = 20;
  return fault;
}

TEST(SpoolFaultTest, ShortWriteAndFullDiskKeepWhatWasSpooled) {
  FaultFileSystem fs;
  const SpoolOptions options = Options(&fs);
  auto spool = Spool::Open(options);
  ASSERT_TRUE(spool.ok());
  AppendEvents(**spool, 0, 5);
  ASSERT_TRUE((*spool)->Flush().ok());
  const uint64_t bytes = (*spool)->bytes();

  const Fault short_write = ShortWrite();
  fs.Inject(short_write);
  AppendEvents(**spool, 5, 8);
  EXPECT_EQ((*spool)->Flush().code(), absl::StatusCode::kResourceExhausted);
  fs.Clear();
  Fault full = short_write;
  full.write_first = 0;
  fs.Inject(full);
  AppendEvents(**spool, 8, 9);
  EXPECT_EQ((*spool)->Flush().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(fs.injected(), 2);
  // Refused events are dropped and counted, never published.
  EXPECT_EQ((*spool)->write_failed(), 4u);
  EXPECT_EQ((*spool)->end_index(), 5);
  EXPECT_EQ((*spool)->bytes(), bytes);

  fs.Clear();
  AppendEvents(**spool, 100, 101);
  ASSERT_TRUE((*spool)->Sync().ok());
  spool->reset();
  auto reopened = Spool::Open(options);
  ASSERT_TRUE(reopened.ok());
  // The partial record was undone: no torn tail, no damage.
  EXPECT_EQ((*reopened)->repaired_tail_bytes(), 0u);
  EXPECT_EQ(ReadCounts(**reopened), OnceEach({0, 1, 2, 3, 4, 100}));
  EXPECT_EQ((*reopened)->damaged_bytes(), 0u);
}

// A short write whose undo (ftruncate) fails too: the torn bytes are cut
// before anything else is appended, so no later record follows them.
TEST(SpoolFaultTest, ATornAppendThatCannotBeUndoneBlocksUntilItIs) {
  FaultFileSystem fs;
  const SpoolOptions options = Options(&fs);
  auto spool = Spool::Open(options);
  ASSERT_TRUE(spool.ok());
  AppendEvents(**spool, 0, 5);
  ASSERT_TRUE((*spool)->Flush().ok());

  fs.Inject(ShortWrite());
  Fault no_undo;
  no_undo.op = FaultOp::kTruncate;
  no_undo.times = 2;  // the undo, then the retry before the next append
  fs.Inject(no_undo);
  AppendEvents(**spool, 5, 8);
  EXPECT_EQ((*spool)->Flush().code(), absl::StatusCode::kResourceExhausted);
  AppendEvents(**spool, 8, 9);
  EXPECT_FALSE((*spool)->Flush().ok());  // refused: the torn bytes stay
  EXPECT_EQ(fs.injected(), 3);
  EXPECT_EQ((*spool)->write_failed(), 4u);
  EXPECT_EQ((*spool)->end_index(), 5);

  // The disk recovers: the torn bytes go, then the new events are spooled.
  AppendEvents(**spool, 100, 102);
  ASSERT_TRUE((*spool)->Sync().ok());
  EXPECT_EQ((*spool)->end_index(), 7);
  spool->reset();
  auto reopened = Spool::Open(options);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(ReadCounts(**reopened), OnceEach({0, 1, 2, 3, 4, 100, 101}));
  EXPECT_EQ((*reopened)->damaged_bytes(), 0u);
  EXPECT_EQ((*reopened)->repaired_tail_bytes(), 0u);
}

TEST(SpoolFaultTest, AFailedRenameOfTheAckedMarkKeepsTheSegments) {
  FaultFileSystem fs;
  SpoolOptions options = Options(&fs);
  options.segment_bytes = 50;  // a few records per segment
  auto spool = Spool::Open(options);
  ASSERT_TRUE(spool.ok());
  AppendEvents(**spool, 0, 20);
  ASSERT_TRUE((*spool)->Sync().ok());
  const uint64_t segments = (*spool)->segments();
  Fault rename;
  rename.op = FaultOp::kRename;
  rename.path_contains = "acked";
  fs.Inject(rename);
  EXPECT_EQ((*spool)->Acknowledge(15).code(), absl::StatusCode::kUnavailable);
  // The mark was not recorded, so no segment may go.
  EXPECT_EQ((*spool)->segments(), segments);
  spool->reset();
  ASSERT_TRUE(fs.SimulateCrash().ok());
  auto reopened = Spool::Open(options);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->acked(), 0);
  const std::map<std::string, int> counts = ReadCounts(**reopened);
  EXPECT_EQ(counts.size(), 20u);
  for (const auto& [event, count] : counts) EXPECT_EQ(count, 1) << event;
}

TEST(SpoolFaultTest, AFailedReadIsRetriedNotSkipped) {
  FaultFileSystem fs;
  SpoolOptions options = Options(&fs);
  options.segment_bytes = 50;
  options.memory_bytes = 0;  // every read comes from the segments
  auto spool = Spool::Open(options);
  ASSERT_TRUE(spool.ok());
  AppendEvents(**spool, 0, 10);
  ASSERT_TRUE((*spool)->Flush().ok());
  Fault read;
  read.op = FaultOp::kRead;
  read.path_contains = "seg-";
  fs.Inject(read);
  SpoolBatch batch;
  EXPECT_EQ((*spool)->Read(0, 100, 1 << 20, &batch).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(batch.end, batch.first);
  std::map<std::string, int> counts = ReadCounts(**spool);
  EXPECT_EQ(counts.size(), 10u);
  EXPECT_EQ((*spool)->damaged_bytes(), 0u);
}

}  // namespace
}  // namespace ziggy
