// A tier's spool: downstream batches spooled as groups (a mark record, then
// the events' records, in one write), the marks recovered from the segments
// and from the snapshot, and groups cut short or damaged giving no mark.

#include "forwarder/downstream_marks.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "forwarder/spool.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

int dirs = 0;

SpoolOptions TierOptions(uint64_t segment_bytes = uint64_t{64} << 20) {
  SpoolOptions options;
  options.dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/tier", dirs++);
  options.segment_bytes = segment_bytes;
  options.downstream = true;
  return options;
}

std::unique_ptr<Spool> OpenSpool(const SpoolOptions& options) {
  absl::StatusOr<std::unique_ptr<Spool>> spool = Spool::Open(options);
  EXPECT_TRUE(spool.ok()) << spool.status();
  return spool.ok() ? *std::move(spool) : nullptr;
}

// A downstream batch of `n` events named <id>-<first>..
std::vector<std::string> Events(const std::string& id, int first, int n) {
  std::vector<std::string> events;
  for (int i = first; i < first + n; ++i) {
    events.push_back(absl::StrCat(id, "-", i));
  }
  return events;
}

absl::Status AppendBatch(Spool& spool, const std::string& id, int64_t next,
                         const std::vector<std::string>& events) {
  const std::vector<absl::string_view> views(events.begin(), events.end());
  DownstreamMark mark;
  mark.token = "token-of-" + id;
  mark.next = next;
  return spool.AppendBatch(id, mark, views);
}

// Every event from 0 on, concatenated.
std::string ReadAll(Spool& spool) {
  std::string all;
  SpoolBatch batch;
  for (int64_t from = 0;; from = batch.end) {
    EXPECT_TRUE(spool.Read(from, 3, 1 << 20, &batch).ok());
    if (batch.end == batch.first) return all;
    all += batch.events;
  }
}

std::string Join(const std::vector<std::string>& events) {
  std::string all;
  for (const std::string& e : events) all += e;
  return all;
}

// The first segment, where these tests' groups all go.
std::string OnlySegment(const std::string& dir) {
  return dir + "/seg-00000000000000000000.log";
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// Spools a group of `first` events for each id (with next = 2, 4, ...),
// closes the spool and returns the segment's size after the first group.
uint64_t WriteGroups(const SpoolOptions& options,
                     const std::vector<std::string>& ids) {
  auto spool = OpenSpool(options);
  uint64_t first_group = 0;
  for (size_t i = 0; i < ids.size() && spool != nullptr; ++i) {
    const int n = static_cast<int>(2 * i);
    EXPECT_TRUE(AppendBatch(*spool, ids[i], n + 2, Events(ids[i], n, 2)).ok());
    if (i == 0) first_group = FileSize(OnlySegment(options.dir));
  }
  return first_group;
}

TEST(DownstreamMarksTest, GroupsSpoolEventsAndTheirMarksTogether) {
  const SpoolOptions options = TierOptions();
  std::string expected;
  {
    auto spool = OpenSpool(options);
    ASSERT_NE(spool, nullptr);
    ASSERT_TRUE(spool->Append("own-0").ok());  // a local event, staged
    ASSERT_TRUE(AppendBatch(*spool, "a", 3, Events("a", 0, 3)).ok());
    ASSERT_TRUE(AppendBatch(*spool, "b", 2, Events("b", 0, 2)).ok());
    ASSERT_TRUE(AppendBatch(*spool, "a", 5, {}).ok());  // no event, a mark
    ASSERT_TRUE(AppendBatch(*spool, "a", 7, Events("a", 5, 2)).ok());
    EXPECT_EQ(spool->end_index(), 8);  // marks take no index
    expected = "own-0" + Join(Events("a", 0, 3)) + Join(Events("b", 0, 2)) +
               Join(Events("a", 5, 2));
    EXPECT_EQ(ReadAll(*spool), expected);  // from memory
  }
  auto spool = OpenSpool(options);
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(ReadAll(*spool), expected);  // from the segment
  const DownstreamMarks& marks = spool->recovered_downstream();
  ASSERT_EQ(marks.size(), 2u);
  EXPECT_EQ(marks.at("a").next, 7);
  EXPECT_EQ(marks.at("a").token, "token-of-a");
  EXPECT_EQ(marks.at("a").at, 6);
  EXPECT_EQ(marks.at("b").next, 2);
  EXPECT_EQ(spool->damaged_records(), 0u);
}

// A write that died inside a group (kill -9 mid-write): the group is cut
// off whole, wherever the tear is (inside the mark record or an event's),
// and its mark does not count; the group before it is kept.
TEST(DownstreamMarksTest, TornGroupIsCutWholeAndGivesNoMark) {
  for (const uint64_t keep : {5u, 20u, 60u, 80u}) {
    const SpoolOptions options = TierOptions();
    const uint64_t first_group = WriteGroups(options, {"a", "a"});
    const std::string segment = OnlySegment(options.dir);
    ASSERT_LT(first_group + keep, FileSize(segment)) << keep;
    ASSERT_EQ(truncate(segment.c_str(), first_group + keep), 0);
    auto spool = OpenSpool(options);
    ASSERT_NE(spool, nullptr);
    EXPECT_EQ(spool->recovered_downstream().at("a").next, 2) << keep;
    EXPECT_EQ(spool->repaired_tail_bytes(), keep) << keep;
    EXPECT_EQ(ReadAll(*spool), Join(Events("a", 0, 2))) << keep;
    EXPECT_EQ(FileSize(segment), first_group) << keep;
  }
}

// Damage inside an earlier group (a flipped byte in one of its events): that
// group's mark does not count (its resend is taken again rather than lost),
// the later groups' do; the sound records are read around the damage.
TEST(DownstreamMarksTest, DamagedGroupGivesNoMark) {
  const SpoolOptions options = TierOptions();
  const uint64_t first_group = WriteGroups(options, {"a", "b", "c"});
  {
    // The last byte of b's first event.
    std::fstream file(OnlySegment(options.dir),
                      std::ios::in | std::ios::out | std::ios::binary);
    const std::string mark = EncodeMarkRecord("b", {"token-of-b", 4, 2}, 2);
    file.seekp(
        static_cast<std::streamoff>(first_group + 16 + mark.size() + 16 + 2));
    file.put('X');
  }
  auto spool = OpenSpool(options);
  ASSERT_NE(spool, nullptr);
  const DownstreamMarks& marks = spool->recovered_downstream();
  EXPECT_EQ(marks.count("a"), 1u);
  EXPECT_EQ(marks.count("b"), 0u);
  EXPECT_EQ(marks.count("c"), 1u);
  EXPECT_EQ(ReadAll(*spool),
            Join(Events("a", 0, 2)) + "b-3" + Join(Events("c", 4, 2)));
  EXPECT_EQ(spool->damaged_records(), 1u);
}

// Segments holding marks are deleted once acknowledged, but only after their
// marks are in the snapshot: a restart still knows every downstream.
TEST(DownstreamMarksTest, AcknowledgedSegmentsLeaveTheirMarksInTheSnapshot) {
  const SpoolOptions options = TierOptions(/*segment_bytes=*/200);
  {
    auto spool = OpenSpool(options);
    ASSERT_NE(spool, nullptr);
    for (int i = 0; i < 20; ++i) {
      const std::string id = absl::StrCat("f", i % 4);
      ASSERT_TRUE(AppendBatch(*spool, id, i + 1, Events(id, i, 1)).ok());
    }
    ASSERT_GT(spool->segments(), 5u);
    ASSERT_TRUE(spool->Acknowledge(spool->end_index()).ok());
    EXPECT_LE(spool->segments(), 2u);
    const std::string snapshot = options.dir + "/" + kDownstreamSnapshot;
    struct stat st;
    ASSERT_EQ(stat(snapshot.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);  // tokens are secrets
  }
  auto spool = OpenSpool(options);
  ASSERT_NE(spool, nullptr);
  const DownstreamMarks& marks = spool->recovered_downstream();
  ASSERT_EQ(marks.size(), 4u);
  for (int f = 0; f < 4; ++f) {
    EXPECT_EQ(marks.at(absl::StrCat("f", f)).next, 16 + f + 1) << f;
  }
}

// The snapshot keeps the max_downstream marks heard from last.
TEST(DownstreamMarksTest, SnapshotIsBounded) {
  SpoolOptions options = TierOptions(/*segment_bytes=*/200);
  options.max_downstream = 3;
  {
    auto spool = OpenSpool(options);
    ASSERT_NE(spool, nullptr);
    for (int i = 0; i < 30; ++i) {
      const std::string id = absl::StrCat("f", i);
      ASSERT_TRUE(AppendBatch(*spool, id, 1, Events(id, 0, 1)).ok());
    }
    ASSERT_TRUE(spool->Acknowledge(spool->end_index()).ok());
  }
  const DownstreamMarks snapshot =
      ReadDownstreamSnapshot(options.dir, FileSystem::Default());
  EXPECT_LE(snapshot.size(), 3u);
  EXPECT_GE(snapshot.size(), 1u);
  for (const auto& [id, mark] : snapshot) EXPECT_GE(mark.at, 20) << id;
}

TEST(DownstreamMarksTest, FullSpoolRefusesTheWholeBatch) {
  SpoolOptions options = TierOptions();
  options.max_bytes = 100;
  auto spool = OpenSpool(options);
  ASSERT_NE(spool, nullptr);
  const absl::Status s = AppendBatch(*spool, "a", 5, Events("a", 0, 5));
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_EQ(spool->end_index(), 0);
  EXPECT_EQ(spool->write_failed(), 0u);
  EXPECT_EQ(ReadAll(*spool), "");
}

// A spool written before tiers opens as a tier's (no marks, no snapshot),
// and a tier's spool opens as a plain forwarder's: the events read alike,
// the marks skipped, nothing counted as damage.
TEST(DownstreamMarksTest, SpoolsWithAndWithoutMarksReadBothWays) {
  SpoolOptions options = TierOptions();
  options.downstream = false;
  {
    auto spool = OpenSpool(options);
    ASSERT_NE(spool, nullptr);
    ASSERT_TRUE(spool->Append("old-0").ok());
    ASSERT_TRUE(spool->Append("old-1").ok());
  }
  options.downstream = true;
  {
    auto spool = OpenSpool(options);
    ASSERT_NE(spool, nullptr);
    EXPECT_TRUE(spool->recovered_downstream().empty());
    EXPECT_EQ(ReadAll(*spool), "old-0old-1");
    ASSERT_TRUE(AppendBatch(*spool, "a", 2, Events("a", 0, 2)).ok());
  }
  options.downstream = false;
  auto spool = OpenSpool(options);
  ASSERT_NE(spool, nullptr);
  EXPECT_TRUE(spool->recovered_downstream().empty());
  EXPECT_EQ(ReadAll(*spool), "old-0old-1a-0a-1");
  EXPECT_EQ(spool->damaged_records(), 0u);
  EXPECT_EQ(spool->repaired_tail_bytes(), 0u);
}

}  // namespace
}  // namespace ziggy
