#include "forwarder/spool.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

int dirs = 0;

SpoolOptions Options(uint64_t max_bytes = uint64_t{1} << 30,
                     uint64_t segment_bytes = uint64_t{64} << 20) {
  SpoolOptions options;
  options.dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/spool", dirs++);
  options.max_bytes = max_bytes;
  options.segment_bytes = segment_bytes;
  return options;
}

std::string Event(int i) {
  return absl::StrCat("event-", i, std::string(i % 50, '.'));
}

// Every event from `from` on, in batches of `per_batch`.
std::vector<std::string> ReadAll(Spool& spool, int64_t from,
                                 size_t per_batch = 7) {
  std::vector<std::string> out;
  SpoolBatch batch;
  while (true) {
    EXPECT_TRUE(spool.Read(from, per_batch, 1 << 20, &batch).ok());
    if (batch.end == batch.first) break;
    // Events are stored back to back; these test events have no framing,
    // so count by what was appended.
    out.push_back(batch.events);
    from = batch.end;
  }
  return out;
}

std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> files;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) {
    if (std::string(e->d_name).rfind("seg-", 0) == 0)
      files.push_back(dir + "/" + e->d_name);
  }
  closedir(d);
  std::sort(files.begin(), files.end());
  return files;
}

TEST(SpoolTest, AppendReadAcknowledgeAcrossSegments) {
  const SpoolOptions options = Options(uint64_t{1} << 30, 1000);
  auto spool = Spool::Open(options);
  ASSERT_TRUE(spool.ok()) << spool.status();
  std::string all;
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE((*spool)->Append(Event(i)).ok());
    all += Event(i);
  }
  ASSERT_TRUE((*spool)->Flush().ok());
  EXPECT_EQ((*spool)->end_index(), 200);
  EXPECT_GT((*spool)->segments(), 5u);
  std::string read;
  for (const std::string& b : ReadAll(**spool, 0)) read += b;
  EXPECT_EQ(read, all);
  // Reading from the middle starts at that index.
  SpoolBatch batch;
  ASSERT_TRUE((*spool)->Read(150, 1, 1 << 20, &batch).ok());
  EXPECT_EQ(batch.events, Event(150));
  EXPECT_EQ(batch.end, 151);
  // Acknowledging drops whole segments, and the mark survives a reopen.
  const uint64_t segments = (*spool)->segments();
  ASSERT_TRUE((*spool)->Acknowledge(150).ok());
  EXPECT_LT((*spool)->segments(), segments);
  spool->reset();
  auto reopened = Spool::Open(options);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->acked(), 150);
  EXPECT_EQ((*reopened)->end_index(), 200);
  std::string rest;
  for (const std::string& b : ReadAll(**reopened, 150)) rest += b;
  std::string expected;
  for (int i = 150; i < 200; ++i) expected += Event(i);
  EXPECT_EQ(rest, expected);
  ASSERT_TRUE((*reopened)->Append("after").ok());
  ASSERT_TRUE((*reopened)->Flush().ok());
  EXPECT_EQ((*reopened)->end_index(), 201);  // indexes continue, never reused
}

TEST(SpoolTest, TornTailIsTruncatedOnOpen) {
  const SpoolOptions options = Options();
  {
    auto spool = Spool::Open(options);
    ASSERT_TRUE(spool.ok());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE((*spool)->Append(Event(i)).ok());
  }
  const std::string segment = SegmentFiles(options.dir).back();
  struct stat st;
  ASSERT_EQ(stat(segment.c_str(), &st), 0);
  ASSERT_EQ(truncate(segment.c_str(), st.st_size - 3), 0);
  auto spool = Spool::Open(options);
  ASSERT_TRUE(spool.ok());
  EXPECT_GT((*spool)->repaired_tail_bytes(), 0u);
  // The cut record's index 9 was in use: it is not given out again.
  EXPECT_EQ((*spool)->end_index(), 10);
  EXPECT_EQ((*spool)->skipped(), 1);
  ASSERT_TRUE((*spool)->Append(Event(9)).ok());
  ASSERT_TRUE((*spool)->Flush().ok());
  std::string read;
  for (const std::string& b : ReadAll(**spool, 0)) read += b;
  std::string expected;
  for (int i = 0; i < 10; ++i) expected += Event(i);
  EXPECT_EQ(read, expected);
}

// A spool left without a clean close (a crash: its directory copied while
// it is open), then losing its unsynced tail (a power loss): it goes on
// past every index it may have handed out, never reusing one, and the gap
// reads as a batch of no events.
TEST(SpoolTest, UncleanStopNeverReusesAnIndex) {
  SpoolOptions options = Options();
  auto spool = Spool::Open(options);
  ASSERT_TRUE(spool.ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*spool)->Append(Event(i)).ok());
  ASSERT_TRUE((*spool)->Flush().ok());
  SpoolOptions crashed = Options();
  ASSERT_EQ(
      std::system(absl::StrCat("cp -r '", options.dir, "' '", crashed.dir, "'")
                      .c_str()),
      0);
  const std::string segment = SegmentFiles(crashed.dir).back();
  struct stat st;
  ASSERT_EQ(stat(segment.c_str(), &st), 0);
  ASSERT_EQ(truncate(segment.c_str(), st.st_size / 2), 0);  // lost tail
  auto after = Spool::Open(crashed);
  ASSERT_TRUE(after.ok());
  EXPECT_GE((*after)->end_index(), 10);  // past every index used
  EXPECT_EQ((*after)->skipped(), (*after)->end_index() - 5);
  const int64_t resumed = (*after)->end_index();
  ASSERT_TRUE((*after)->Append("new").ok());
  ASSERT_TRUE((*after)->Flush().ok());
  // Reading across the gap: the kept events, an empty batch up to the new
  // segment, then the new event at its new index.
  SpoolBatch batch;
  ASSERT_TRUE((*after)->Read(0, 100, 1 << 20, &batch).ok());
  EXPECT_EQ(batch.count, 5);
  EXPECT_EQ(batch.end, 5);
  ASSERT_TRUE((*after)->Read(5, 100, 1 << 20, &batch).ok());
  EXPECT_EQ(batch.count, 0);
  EXPECT_EQ(batch.end, resumed);
  ASSERT_TRUE((*after)->Read(resumed, 100, 1 << 20, &batch).ok());
  EXPECT_EQ(batch.events, "new");
  // A clean close keeps the numbering as it is: nothing more is skipped.
  const int64_t skipped = (*after)->skipped();
  after->reset();
  auto reopened = Spool::Open(crashed);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->end_index(), resumed + 1);
  EXPECT_EQ((*reopened)->skipped(), skipped);
}

TEST(SpoolTest, DamageInsideASegmentIsSkippedAndCounted) {
  SpoolOptions options = Options();
  options.memory_bytes = 0;  // every read from the segment
  auto spool = Spool::Open(options);
  ASSERT_TRUE(spool.ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*spool)->Append(Event(i)).ok());
  ASSERT_TRUE((*spool)->Flush().ok());
  const std::string segment = SegmentFiles(options.dir).back();
  {
    // Overwrite a few bytes in the middle (inside record ~10).
    std::fstream f(segment, std::ios::binary | std::ios::in | std::ios::out);
    struct stat st;
    stat(segment.c_str(), &st);
    f.seekp(st.st_size / 2);
    f.write("XXXXXXXX", 8);
  }
  std::string read;
  for (const std::string& b : ReadAll(**spool, 0, 100)) read += b;
  EXPECT_GT((*spool)->damaged_records(), 0u);
  // Everything but the damaged record(s) arrives, in order.
  int present = 0;
  for (int i = 0; i < 20; ++i)
    present +=
        read.find(Event(i) + (i + 1 < 20 ? "event-" : "")) != std::string::npos;
  EXPECT_GE(present, 18);
  EXPECT_EQ(read.substr(0, Event(0).size()), Event(0));
  EXPECT_NE(read.find(Event(19)), std::string::npos);
}

TEST(SpoolTest, FullSpoolRefusesAndRecoversWhenAcknowledged) {
  const SpoolOptions options = Options(4000, 1000);
  auto spool = Spool::Open(options);
  ASSERT_TRUE(spool.ok());
  int accepted = 0;
  absl::Status status;
  for (int i = 0; i < 1000 && status.ok(); ++i) {
    status = (*spool)->Append(Event(i));
    if (status.ok()) ++accepted;
  }
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ((*spool)->refused_full(), 1u);
  ASSERT_TRUE((*spool)->Flush().ok());
  EXPECT_LE((*spool)->bytes(), 4000u);
  EXPECT_EQ((*spool)->end_index(), accepted);
  ASSERT_TRUE((*spool)->Acknowledge(accepted).ok());
  EXPECT_TRUE((*spool)->Append("room again").ok());
}

// The relay reads what was flushed lately from memory, older events from
// the segments; both give the same batches.
TEST(SpoolTest, ReadsRecentEventsFromMemoryAndOlderFromSegments) {
  for (const size_t memory : {size_t{0}, size_t{300}, size_t{1} << 20}) {
    SpoolOptions options = Options(uint64_t{1} << 30, 700);
    options.memory_bytes = memory;
    auto spool = Spool::Open(options);
    ASSERT_TRUE(spool.ok());
    std::string all;
    for (int i = 0; i < 60; ++i) {
      ASSERT_TRUE((*spool)->Append(Event(i)).ok());
      all += Event(i);
      if (i % 7 == 0) {
        ASSERT_TRUE((*spool)->Flush().ok());
      }
    }
    ASSERT_TRUE((*spool)->Flush().ok());
    for (const size_t per_batch : {1, 5, 100}) {
      for (const int from : {0, 3, 29, 59}) {
        std::string expected;
        for (int i = from; i < 60; ++i) expected += Event(i);
        std::string read;
        for (const std::string& b : ReadAll(**spool, from, per_batch)) {
          read += b;
        }
        EXPECT_EQ(read, expected) << memory << " " << per_batch << " " << from;
      }
    }
    // A batch stops at about max_bytes, wherever it is read from.
    SpoolBatch batch;
    ASSERT_TRUE((*spool)->Read(0, 100, 50, &batch).ok());
    EXPECT_GE(batch.events.size(), 50u);
    EXPECT_LT(batch.events.size(), 50u + Event(59).size());
    EXPECT_EQ(batch.events, all.substr(0, batch.events.size()));
    if (memory == 0) {
      EXPECT_GT((*spool)->read_from_disk(), 0u);
    }
    if (memory == (size_t{1} << 20)) {
      EXPECT_EQ((*spool)->read_from_disk(), 0u);
    }
    if (memory == 300) {
      // Acknowledged events leave memory too; what is left still reads.
      ASSERT_TRUE((*spool)->Acknowledge(58).ok());
      EXPECT_EQ(ReadAll(**spool, 58, 10).front(), Event(58) + Event(59));
    }
  }
}

TEST(SpoolTest, BurstsStagedInReusedBuffersHoldOnlyTheirOwnEvents) {
  // Blocks dropped from memory (acknowledged) lend their buffers to the
  // next bursts, larger and smaller ones: each reads back exactly.
  auto spool = Spool::Open(Options());
  ASSERT_TRUE(spool.ok());
  int next = 0;
  for (int round = 0; round < 20; ++round) {
    const int burst = round % 2 == 0 ? 40 - round : 1 + round;
    const int64_t from = (*spool)->end_index();
    std::string expected;
    for (int k = 0; k < burst; ++k, ++next) {
      ASSERT_TRUE((*spool)->Append(Event(next)).ok());
      expected += Event(next);
      if (k % 3 == 2) {
        ASSERT_TRUE((*spool)->Flush().ok());
      }
    }
    ASSERT_TRUE((*spool)->Flush().ok());
    std::string read;
    for (const std::string& b : ReadAll(**spool, from, 1000)) read += b;
    EXPECT_EQ(read, expected) << "round " << round;
    ASSERT_TRUE((*spool)->Acknowledge((*spool)->end_index()).ok());
  }
  EXPECT_EQ((*spool)->read_from_disk(), 0u);
}

TEST(SpoolTest, StagedEventsAreSpooledOnlyWhenFlushed) {
  const SpoolOptions options = Options();
  auto spool = Spool::Open(options);
  ASSERT_TRUE(spool.ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*spool)->Append(Event(i)).ok());
  // Staged: not yet spooled, so not readable and not on disk.
  EXPECT_EQ((*spool)->end_index(), 0);
  EXPECT_EQ((*spool)->bytes(), 0u);
  EXPECT_TRUE(ReadAll(**spool, 0).empty());
  ASSERT_TRUE((*spool)->Flush().ok());
  EXPECT_EQ((*spool)->end_index(), 5);
  std::string read;
  for (const std::string& b : ReadAll(**spool, 0)) read += b;
  EXPECT_EQ(read, Event(0) + Event(1) + Event(2) + Event(3) + Event(4));
}

// Group commit, step by step (no thread: sync_interval zero), with a grace
// of two seconds.
TEST(SpoolTest, GroupCommitSyncsOnlyWhatNoCollectorAcknowledgedInTime) {
  SpoolOptions options = Options();
  options.sync_interval = absl::ZeroDuration();
  auto spool = Spool::Open(options);
  ASSERT_TRUE(spool.ok());
  Spool& s = **spool;
  const absl::Duration grace = absl::Seconds(2);
  absl::Time now = absl::FromUnixSeconds(1000);
  auto step = [&](int seconds) {
    now += absl::Seconds(seconds);
    return s.GroupCommit(now, grace);
  };
  const uint64_t syncs_at_open = s.syncs();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(s.Append(Event(i)).ok());
  ASSERT_TRUE(s.Flush().ok());
  ASSERT_TRUE(step(0).ok());  // sees 0-4
  ASSERT_TRUE(step(1).ok());  // within the grace
  EXPECT_EQ(s.syncs(), syncs_at_open);
  // Acknowledged in time: durable at the collector, no sync needed.
  ASSERT_TRUE(s.Acknowledge(5).ok());
  ASSERT_TRUE(step(1).ok());
  EXPECT_EQ(s.syncs(), syncs_at_open);
  EXPECT_EQ(s.synced_index(), 0);
  // 5-7 not acknowledged within the grace: synced.
  for (int i = 5; i < 8; ++i) ASSERT_TRUE(s.Append(Event(i)).ok());
  ASSERT_TRUE(s.Flush().ok());
  ASSERT_TRUE(step(1).ok());  // sees 5-7
  ASSERT_TRUE(step(1).ok());
  EXPECT_EQ(s.syncs(), syncs_at_open);
  ASSERT_TRUE(step(1).ok());  // 5-7 flushed two seconds ago
  EXPECT_EQ(s.syncs(), syncs_at_open + 1);
  EXPECT_EQ(s.synced_index(), 8);
  ASSERT_TRUE(step(5).ok());  // nothing new
  EXPECT_EQ(s.syncs(), syncs_at_open + 1);
}

// Full segments wait for the group commit too: synced when not
// acknowledged in time, closed unsynced when acknowledged.
TEST(SpoolTest, GroupCommitSyncsFullSegmentsOnlyWhenNotAcknowledged) {
  SpoolOptions options = Options(uint64_t{1} << 30, 200);
  options.sync_interval = absl::ZeroDuration();
  auto spool = Spool::Open(options);
  ASSERT_TRUE(spool.ok());
  Spool& s = **spool;
  absl::Time now = absl::FromUnixSeconds(1000);
  const absl::Duration grace = absl::Seconds(1);
  const uint64_t syncs_at_open = s.syncs();
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(s.Append(Event(i)).ok());
    ASSERT_TRUE(s.Flush().ok());
  }
  const uint64_t segments = s.segments();
  ASSERT_GT(segments, 3u);
  ASSERT_TRUE(s.GroupCommit(now, grace).ok());
  ASSERT_TRUE(s.Acknowledge(40).ok());
  ASSERT_TRUE(s.GroupCommit(now += grace, grace).ok());
  EXPECT_EQ(s.syncs(), syncs_at_open);  // all acknowledged: none synced
  for (int i = 40; i < 80; ++i) {
    ASSERT_TRUE(s.Append(Event(i)).ok());
    ASSERT_TRUE(s.Flush().ok());
  }
  ASSERT_TRUE(s.GroupCommit(now += grace, grace).ok());
  ASSERT_TRUE(s.GroupCommit(now += grace, grace).ok());
  EXPECT_GT(s.syncs(), syncs_at_open + 3);  // each unacknowledged segment
  EXPECT_EQ(s.synced_index(), 80);
  EXPECT_EQ(s.sync_errors(), 0u);
}

TEST(SpoolTest, GroupCommitThreadSyncsUnacknowledgedRecords) {
  SpoolOptions options = Options();
  options.sync_interval = absl::Milliseconds(5);
  auto spool = Spool::Open(options);
  ASSERT_TRUE(spool.ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*spool)->Append(Event(i)).ok());
  ASSERT_TRUE((*spool)->Flush().ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while ((*spool)->synced_index() < 5 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ((*spool)->synced_index(), 5);
  EXPECT_EQ((*spool)->sync_errors(), 0u);
}

// A write error (here: the file size limit, EFBIG) drops what was staged,
// counts it, and leaves the segment holding only whole records, so the
// spool goes on once writes succeed again.
TEST(SpoolTest, WriteErrorDropsTheStagedEventsAndKeepsTheSegmentSound) {
  const SpoolOptions options = Options();
  auto spool = Spool::Open(options);
  ASSERT_TRUE(spool.ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*spool)->Append(Event(i)).ok());
  ASSERT_TRUE((*spool)->Flush().ok());
  const uint64_t size = (*spool)->bytes();

  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  const sighandler_t old_handler = signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = saved;
  limit.rlim_cur = size + 20;  // room for part of one more record
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  for (int i = 3; i < 6; ++i) ASSERT_TRUE((*spool)->Append(Event(i)).ok());
  const absl::Status failed = (*spool)->Flush();
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  signal(SIGXFSZ, old_handler);

  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable) << failed;
  EXPECT_EQ((*spool)->write_failed(), 3u);
  EXPECT_EQ((*spool)->end_index(), 3);
  EXPECT_EQ((*spool)->bytes(), size);
  ASSERT_TRUE((*spool)->Append("after").ok());
  ASSERT_TRUE((*spool)->Flush().ok());
  spool->reset();
  auto reopened = Spool::Open(options);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->repaired_tail_bytes(), 0u);
  EXPECT_EQ((*reopened)->end_index(), 4);
  std::string read;
  for (const std::string& b : ReadAll(**reopened, 0)) read += b;
  EXPECT_EQ(read, Event(0) + Event(1) + Event(2) + "after");
}

}  // namespace
}  // namespace ziggy
