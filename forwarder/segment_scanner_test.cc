#include "forwarder/segment_scanner.h"

#include <cstdlib>
#include <vector>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "common/file_system.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

using Scan = SegmentScanner::Scan;

std::string Record(int64_t index, absl::string_view event) {
  std::string record(kSpoolRecordHeader, '\0');
  absl::little_endian::Store32(&record[0], static_cast<uint32_t>(event.size()));
  absl::little_endian::Store64(&record[8], static_cast<uint64_t>(index));
  record.append(event.data(), event.size());
  absl::little_endian::Store32(
      &record[4], SpoolRecordCrc(absl::string_view(record).substr(8)));
  return record;
}

// Writes `bytes` as a segment file and scans it from the start.
class Segment {
 public:
  Segment(const std::string& name, const std::string& bytes, size_t chunk)
      : size_(bytes.size()) {
    const std::string path =
        absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
    OpenOptions options = OpenOptions::Append(/*create=*/true);
    options.read = true;
    options.truncate = true;
    file_ = *FileSystem::Default()->Open(path, options);
    size_t written;
    EXPECT_TRUE(file_->Append(bytes, &written).ok());
    scanner_ = std::make_unique<SegmentScanner>(file_.get(), size_, 0, -1,
                                                chunk, &buffer_);
  }
  SegmentScanner& scanner() { return *scanner_; }

 private:
  const uint64_t size_;
  std::unique_ptr<File> file_;
  std::string buffer_;
  std::unique_ptr<SegmentScanner> scanner_;
};

TEST(SegmentScannerTest, ReadsRecordsAcrossChunksAndReportsTheEnd) {
  const std::string big(3000, 'b');
  Segment segment("clean", Record(0, "a") + Record(1, big) + Record(2, "c"),
                  /*chunk=*/100);
  SegmentRecord record;
  ASSERT_EQ(segment.scanner().Next(&record), Scan::kRecord);
  EXPECT_EQ(record.index, 0);
  EXPECT_EQ(record.event, "a");
  ASSERT_EQ(segment.scanner().Next(&record), Scan::kRecord);
  EXPECT_EQ(record.event, big);  // larger than a chunk: read whole
  ASSERT_EQ(segment.scanner().Next(&record), Scan::kRecord);
  EXPECT_EQ(record.event, "c");
  EXPECT_EQ(record.damaged_bytes, 0u);
  EXPECT_EQ(segment.scanner().Next(&record), Scan::kEnd);
}

TEST(SegmentScannerTest, SkipsDamageToARecordThatCrossesAChunkBoundary) {
  // The damage ends just before a record that a chunk boundary cuts in two:
  // resynchronising must read on rather than skip it.
  const std::string damage(90, '\xee');
  const std::string bytes = Record(0, "a") + damage +
                            Record(1, std::string(200, 'x')) + Record(2, "c");
  Segment segment("damage", bytes, /*chunk=*/128);
  SegmentRecord record;
  ASSERT_EQ(segment.scanner().Next(&record), Scan::kRecord);
  ASSERT_EQ(segment.scanner().Next(&record), Scan::kRecord);
  EXPECT_EQ(record.index, 1);
  EXPECT_EQ(record.damaged_bytes, damage.size());
  EXPECT_EQ(record.damage_start, Record(0, "a").size());
  ASSERT_EQ(segment.scanner().Next(&record), Scan::kRecord);
  EXPECT_EQ(record.index, 2);
  EXPECT_EQ(segment.scanner().Next(&record), Scan::kEnd);
}

TEST(SegmentScannerTest, ATornLastRecordIsIncompleteThenTheTail) {
  const std::string first = Record(0, "a");
  const std::string torn = Record(1, "bbbbbbbb").substr(0, 20);
  Segment segment("torn", first + torn, /*chunk=*/1 << 20);
  SegmentRecord record;
  ASSERT_EQ(segment.scanner().Next(&record), Scan::kRecord);
  EXPECT_EQ(segment.scanner().Next(&record), Scan::kIncomplete);
  EXPECT_EQ(segment.scanner().position(), first.size());
  // Asked again, it is taken for damage: nothing sound follows.
  EXPECT_EQ(segment.scanner().Next(&record), Scan::kTail);
  EXPECT_EQ(segment.scanner().tail(), first.size());
  EXPECT_EQ(segment.scanner().last_index(), 0);
}

TEST(SegmentScannerTest, ADamagedSizeRunningPastTheEndIsResynchronised) {
  std::string bad = Record(1, "bbbb");
  absl::little_endian::Store32(&bad[0], 1000);  // beyond the segment's end
  const std::string bytes = Record(0, "a") + bad + Record(2, "c");
  Segment segment("bad_size", bytes, /*chunk=*/1 << 20);
  SegmentRecord record;
  ASSERT_EQ(segment.scanner().Next(&record), Scan::kRecord);
  EXPECT_EQ(segment.scanner().Next(&record), Scan::kIncomplete);
  ASSERT_EQ(segment.scanner().Next(&record), Scan::kRecord);
  EXPECT_EQ(record.index, 2);
  EXPECT_EQ(record.damaged_bytes, bad.size());
}

TEST(SegmentScannerTest, IndexesThatDoNotGrowAreDamage) {
  const std::string bytes = Record(5, "a") + Record(3, "old") + Record(6, "c");
  Segment segment("order", bytes, /*chunk=*/1 << 20);
  SegmentRecord record;
  ASSERT_EQ(segment.scanner().Next(&record), Scan::kRecord);
  ASSERT_EQ(segment.scanner().Next(&record), Scan::kRecord);
  EXPECT_EQ(record.index, 6);
  EXPECT_EQ(record.damaged_bytes, Record(3, "old").size());
}

// Writes `bytes` as the file `name` and opens it for reading.
std::unique_ptr<File> WriteFile(const std::string& name,
                                const std::string& bytes) {
  const std::string path = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  OpenOptions options = OpenOptions::Append(/*create=*/true);
  options.read = true;
  options.truncate = true;
  std::unique_ptr<File> file = *FileSystem::Default()->Open(path, options);
  size_t written;
  EXPECT_TRUE(file->Append(bytes, &written).ok());
  return file;
}

TEST(SegmentScannerTest, AScannerNeverTakesAnEarlierScannersBytes) {
  // Scanners share one scratch buffer, which keeps its size between them:
  // a later one, over a segment shorter than the buffer (and than its
  // recorded size), sees only its own records.
  std::string longer;
  for (int i = 0; i < 10; ++i) longer += Record(i, std::string(100, 'x'));
  const std::string shorter = Record(20, "a") + Record(21, "b");
  std::unique_ptr<File> first = WriteFile("first", longer);
  std::unique_ptr<File> second = WriteFile("second", shorter);
  std::string buffer;
  SegmentRecord record;
  SegmentScanner all(first.get(), longer.size(), 0, -1, 4096, &buffer);
  while (all.Next(&record) == Scan::kRecord) {
  }
  ASSERT_GE(buffer.size(), longer.size());
  SegmentScanner scanner(second.get(), longer.size(), 0, -1, 4096, &buffer);
  std::vector<int64_t> indexes;
  while (scanner.Next(&record) == Scan::kRecord) {
    indexes.push_back(record.index);
    EXPECT_EQ(record.damaged_bytes, 0u);
  }
  EXPECT_EQ(indexes, (std::vector<int64_t>{20, 21}));
  EXPECT_EQ(scanner.position(), shorter.size());
}

// A tier's mark record (index field kSpoolMarkIndex) comes back as a mark
// and leaves the index order as it was: the record after it is judged
// against the record before it.
TEST(SegmentScannerTest, MarkRecordsCarryNoIndex) {
  Segment segment("marks",
                  Record(4, "a") + Record(-1, "mark") + Record(5, "b") +
                      Record(-1, "mark2") + Record(3, "stale") + Record(6, "c"),
                  /*chunk=*/16);
  SegmentRecord record;
  std::vector<std::string> seen;
  while (segment.scanner().Next(&record) == Scan::kRecord) {
    seen.push_back(absl::StrCat(record.mark ? "mark " : "", record.index, " ",
                                record.event, " ", record.damaged_bytes));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"4 a 0", "mark -1 mark 0", "5 b 0",
                                            "mark -1 mark2 0", "6 c 21"}));
  EXPECT_EQ(segment.scanner().last_index(), 6);
}

}  // namespace
}  // namespace ziggy
