// Disk faults injected under the collector's event files (FaultFileSystem):
// a short write or a full disk keeps what was written and loses nothing
// buffered, and a failed fdatasync is never claimed durable: the relay
// checkpoint, which gates the acknowledgements to forwarders, does not
// advance past it, and a restart rolls the files back to the last one.

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "collector/event_store.h"
#include "collector/event_writer.h"
#include "collector/log_file.h"
#include "collector/relay_state.h"
#include "common/clock.h"
#include "common/durable_file.h"
#include "common/fault_file_system.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

constexpr char kType[] = "relayed-type";

std::string TestPath(const std::string& name) {
  return absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
}

std::string Contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string Doc(int i) {
  Event e;
  e.type = kType;
  e.body = Value(Value::Map{{"i", i}});
  return EncodeEvent(e);
}

Fault Make(FaultOp op, int error, size_t write_first = 0) {
  Fault fault;
  fault.op = op;
  fault.error = error;
  fault.path_contains = ".log";
  fault.write_first = write_first;
  return fault;
}

std::unique_ptr<LogFile> OpenLog(const std::string& path, FileSystem* fs,
                                 OpenReport* report) {
  absl::StatusOr<std::unique_ptr<LogFile>> file =
      LogFile::Open(path, -1, report, fs);
  EXPECT_TRUE(file.ok()) << file.status();
  return file.ok() ? *std::move(file) : nullptr;
}

// A new file at `path` holding Doc(1), written.
std::unique_ptr<LogFile> OpenWithOneRecord(const std::string& path,
                                           FileSystem* fs) {
  OpenReport report;
  std::unique_ptr<LogFile> file = OpenLog(path, fs, &report);
  if (file == nullptr) return nullptr;
  file->Append(Doc(1));
  EXPECT_TRUE(file->Flush().ok());
  return file;
}

TEST(LogFileFaultTest, AShortWriteIsRepairedAndNothingIsLostOrDoubled) {
  const std::string path = TestPath("short/events.log");
  FaultFileSystem fs;
  std::unique_ptr<LogFile> file = OpenWithOneRecord(path, &fs);
  ASSERT_NE(file, nullptr);
  // Doc(2) and 3 bytes of Doc(3) reach the file, then the disk is full.
  fs.Inject(Make(FaultOp::kAppend, ENOSPC, Doc(2).size() + 3));
  file->Append(Doc(2));
  file->Append(Doc(3));
  EXPECT_EQ(file->Flush().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(fs.injected(), 1);
  EXPECT_EQ(file->last_flushed_records(), 1u);
  EXPECT_EQ(file->pending_records(), 1u);
  EXPECT_TRUE(file->needs_repair());
  // What was written before is intact and readable; the torn record is
  // the writer's failure, repaired by reopening, not corruption.
  OpenReport repaired;
  std::unique_ptr<LogFile> reopened = OpenLog(path, &fs, &repaired);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(repaired.repaired_bytes, 3u);
  EXPECT_TRUE(repaired.set_aside.empty());
  EXPECT_EQ(Contents(path), Doc(1) + Doc(2));
  file->MovePendingTo(reopened.get());
  ASSERT_TRUE(reopened->Flush().ok());
  EXPECT_EQ(Contents(path), Doc(1) + Doc(2) + Doc(3));
}

std::string BigDoc(int i) {
  Event e;
  e.type = kType;
  e.body = Value(Value::Map{{"i", i}, {"pad", std::string(700000, 'p')}});
  return EncodeEvent(e);
}

void WriteFile(const std::string& path, const std::string& bytes) {
  ASSERT_TRUE(MakeDirectories(path.substr(0, path.rfind('/'))).ok());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Opening scans the file a chunk (1 MiB) at a time: documents that cross
// a chunk boundary are whole, a torn tail past the first chunk is cut, and
// damage past it is still found.
TEST(LogFileFaultTest, OpeningScansLargeFilesInChunks) {
  const std::string whole = BigDoc(1) + BigDoc(2) + BigDoc(3);
  const std::string torn_path = TestPath("chunks/torn.log");
  WriteFile(torn_path, whole + BigDoc(4).substr(0, 1000));
  OpenReport report;
  ASSERT_NE(OpenLog(torn_path, FileSystem::Default(), &report), nullptr);
  EXPECT_EQ(report.repaired_bytes, 1000u);
  EXPECT_TRUE(report.set_aside.empty());
  EXPECT_EQ(Contents(torn_path), whole);

  const std::string damaged_path = TestPath("chunks/damaged.log");
  const std::string damaged = whole + std::string(8, '\xee') + BigDoc(4);
  WriteFile(damaged_path, damaged);
  OpenReport set_aside;
  ASSERT_NE(OpenLog(damaged_path, FileSystem::Default(), &set_aside), nullptr);
  EXPECT_EQ(Contents(set_aside.set_aside), damaged);
  EXPECT_EQ(Contents(damaged_path), "");
}

TEST(LogFileFaultTest, AFullDiskKeepsEveryBufferedRecord) {
  const std::string path = TestPath("full/events.log");
  FaultFileSystem fs;
  std::unique_ptr<LogFile> file = OpenWithOneRecord(path, &fs);
  ASSERT_NE(file, nullptr);
  fs.Inject(Make(FaultOp::kAppend, ENOSPC));
  file->Append(Doc(2));
  EXPECT_EQ(file->Flush().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(file->pending_records(), 1u);
  EXPECT_EQ(Contents(path), Doc(1));
  ASSERT_TRUE(file->Flush().ok());  // the disk has room again
  EXPECT_EQ(Contents(path), Doc(1) + Doc(2));
}

TEST(LogFileFaultTest, AFailedSyncIsFinal) {
  const std::string path = TestPath("sync/events.log");
  FaultFileSystem fs;
  std::unique_ptr<LogFile> file = OpenWithOneRecord(path, &fs);
  ASSERT_NE(file, nullptr);
  fs.Inject(Make(FaultOp::kSync, EIO));
  EXPECT_EQ(file->Sync().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(file->sync_failed());
  const int syncs = fs.calls(FaultOp::kSync);
  // A retried fdatasync() would succeed without the lost pages: not tried.
  EXPECT_EQ(file->Sync().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(file->SyncIfWritten().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(fs.calls(FaultOp::kSync), syncs);
}

TEST(EventStoreFaultTest, AFailedSyncIsNeverReportedDurable) {
  const std::string root = TestPath("store");
  FaultFileSystem fs;
  CollectorStats stats;
  StoreOptions options{root, 24};
  options.fs = &fs;
  EventStore store(options, &stats);
  std::vector<std::string> closed;
  store.set_on_close(
      [&](const std::string& path, off_t) { closed.push_back(path); });
  const absl::Time now = absl::Now();
  ASSERT_TRUE(store.Append(kType, Doc(1), now));
  store.OpenWaitingFiles(absl::InfiniteDuration());
  std::vector<std::pair<std::string, off_t>> lengths;
  ASSERT_TRUE(store.SyncOpenFiles(&lengths));
  fs.Inject(Make(FaultOp::kSync, EIO));
  ASSERT_TRUE(store.Append(kType, Doc(2), now));
  EXPECT_FALSE(store.SyncOpenFiles(&lengths));
  EXPECT_TRUE(store.durability_lost());
  EXPECT_GE(stats.write_errors.load(), 1u);
  // The disk answers again; the store still vouches for nothing.
  ASSERT_TRUE(store.Append(kType, Doc(3), now));
  EXPECT_FALSE(store.SyncOpenFiles(&lengths));
  EXPECT_FALSE(store.CloseAll(/*sync=*/true));
  EXPECT_TRUE(closed.empty());
  // Every event was written all the same.
  EXPECT_EQ(Contents(store.PathFor(kType, now)), Doc(1) + Doc(2) + Doc(3));
}

// Drives the writer thread with relayed batches and reads its acks.
class RelayedWriter {
 public:
  RelayedWriter(const std::string& root, FileSystem* fs)
      : state_(*RelayState::Recover(root, &stats_)),
        ack_fd_(eventfd(0, EFD_CLOEXEC)) {
    StoreOptions options{root, 24};
    options.fs = fs;
    writer_ = std::make_unique<EventWriter>(options, &stats_, Clock::Real(),
                                            absl::Milliseconds(10),
                                            state_.get(), ack_fd_);
  }
  ~RelayedWriter() {
    writer_.reset();
    close(ack_fd_);
  }

  // Submits Doc(first)...Doc(end - 1) as one relayed batch owing an ack of
  // `end`, and waits until the writer has handled it (and checkpointed).
  void Write(int first, int end, absl::Time received) {
    std::unique_ptr<EventBatch> batch = writer_->NewBatch();
    for (int i = first; i < end; ++i) {
      const std::string doc = Doc(i);
      batch->Add(doc, doc.find(kType), strlen(kType));
    }
    batch->received = received;
    batch->acks.push_back({"identity", "forwarder-1", end, "token"});
    writer_->Submit(std::move(batch));
    ASSERT_TRUE(writer_->Flush(absl::Seconds(30)));
  }

  // Acks released so far (waits up to `wait` for the first).
  std::vector<RelayAck> Acks(absl::Duration wait) {
    std::vector<RelayAck> acks;
    const absl::Time deadline = absl::Now() + wait;
    do {
      writer_->TakeAcks(&acks);
      if (!acks.empty()) break;
      absl::SleepFor(absl::Milliseconds(5));
    } while (absl::Now() < deadline);
    return acks;
  }

  void Finish() { writer_->Finish(); }
  CollectorStats& stats() { return stats_; }
  bool durability_lost() const { return writer_->durability_lost(); }

 private:
  CollectorStats stats_;
  std::unique_ptr<RelayState> state_;
  const int ack_fd_;
  std::unique_ptr<EventWriter> writer_;
};

TEST(EventWriterFaultTest, AFailedSyncHoldsBackEveryLaterAcknowledgement) {
  const std::string root = TestPath("relay");
  FaultFileSystem fs;
  const absl::Time now = absl::Now();
  CollectorStats path_stats;
  const std::string path =
      EventStore(StoreOptions{root, 24}, &path_stats).PathFor(kType, now);
  {
    RelayedWriter writer(root, &fs);
    writer.Write(0, 3, now);
    std::vector<RelayAck> acks = writer.Acks(absl::Seconds(30));
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].end, 3);
    const uint64_t checkpoints = writer.stats().checkpoints.load();
    EXPECT_FALSE(writer.durability_lost());

    fs.Inject(Make(FaultOp::kSync, EIO));
    writer.Write(3, 6, now);
    EXPECT_EQ(fs.injected(), 1);
    EXPECT_GE(writer.stats().write_errors.load(), 1u);
    // The fault is over, and fdatasync() would succeed again: still no
    // acknowledgement, for this batch or the one before.
    writer.Write(6, 9, now);
    EXPECT_TRUE(writer.Acks(absl::ZeroDuration()).empty());
    EXPECT_EQ(writer.stats().checkpoints.load(), checkpoints);
    EXPECT_EQ(Contents(path), Doc(0) + Doc(1) + Doc(2) + Doc(3) + Doc(4) +
                                  Doc(5) + Doc(6) + Doc(7) + Doc(8));
    writer.Finish();
    EXPECT_TRUE(writer.Acks(absl::ZeroDuration()).empty());
    // The collector stops on this (Collector::Run), and the one fault is
    // counted once, however many checkpoints were tried after it.
    EXPECT_TRUE(writer.durability_lost());
    EXPECT_EQ(writer.stats().write_errors.load(), 1u);
  }
  // A restart rolls the file back to the checkpoint: the acknowledged
  // events once, the rest to come again from the forwarder (which was
  // never told they landed).
  CollectorStats stats;
  absl::StatusOr<std::unique_ptr<RelayState>> state =
      RelayState::Recover(root, &stats);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(Contents(path), Doc(0) + Doc(1) + Doc(2));
  EXPECT_EQ((*state)->forwarders().at("forwarder-1").next, 3);
  EXPECT_GT(stats.rolled_back_bytes.load(), 0u);
}

}  // namespace
}  // namespace ziggy
