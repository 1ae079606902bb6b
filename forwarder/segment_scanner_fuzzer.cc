// Fuzzes the spool's segment scanner with a damaged segment, as recovery
// and the relay's reads scan it: the first input byte picks a small read
// chunk, the rest is the segment, served from memory through the File seam.
// Invariants: records come in order with growing indexes (mark records, a
// tier's, carry none and leave the order alone), each within the segment, with
// a matching CRC and with the damage before it accounted for; the scan ends at
// the segment's end; a small and a large chunk find the same records.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/base/internal/endian.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/file_system.h"
#include "forwarder/segment_scanner.h"
#include "tools/fuzz_check.h"

namespace {

// A read-only segment in memory.
class MemoryFile : public ziggy::File {
 public:
  explicit MemoryFile(absl::string_view data) : data_(data) {}
  absl::Status Append(absl::string_view, size_t* written) override {
    *written = 0;
    return absl::UnimplementedError("read-only");
  }
  absl::Status Read(uint64_t offset, size_t n, std::string* out) override {
    out->clear();
    if (offset < data_.size()) {
      const absl::string_view part = data_.substr(offset, n);
      out->assign(part.data(), part.size());
    }
    return absl::OkStatus();
  }
  absl::Status Sync() override { return absl::OkStatus(); }
  absl::Status Truncate(uint64_t) override {
    return absl::UnimplementedError("read-only");
  }
  absl::StatusOr<ziggy::FileInfo> Stat() override {
    ziggy::FileInfo info;
    info.size = data_.size();
    return info;
  }
  void DropCache(uint64_t, uint64_t) override {}

 private:
  const absl::string_view data_;
};

// Checks one record against the segment and the record before it.
void CheckRecord(absl::string_view segment, const ziggy::SegmentRecord& record,
                 uint64_t previous_end, int64_t previous_index) {
  FUZZ_CHECK(record.mark ? record.index == -1 : record.index > previous_index);
  FUZZ_CHECK(record.offset >= previous_end && record.end <= segment.size());
  FUZZ_CHECK(record.end ==
             record.offset + ziggy::kSpoolRecordHeader + record.event.size());
  if (record.damaged_bytes > 0) {
    FUZZ_CHECK(record.damage_start >= previous_end &&
               record.damage_start + record.damaged_bytes == record.offset);
  }
  const absl::string_view bytes =
      segment.substr(record.offset, record.end - record.offset);
  FUZZ_CHECK(bytes.substr(ziggy::kSpoolRecordHeader) == record.event);
  FUZZ_CHECK(absl::little_endian::Load32(bytes.data()) == record.event.size());
  FUZZ_CHECK(absl::little_endian::Load32(bytes.data() + 4) ==
             ziggy::SpoolRecordCrc(bytes.substr(8)));
}

// Scans `segment` as recovery does; returns the records and how it ended.
std::vector<std::string> ScanAll(absl::string_view segment, size_t chunk) {
  MemoryFile file(segment);
  std::string buffer;
  ziggy::SegmentScanner scanner(&file, segment.size(), 0, -1, chunk, &buffer);
  std::vector<std::string> seen;
  ziggy::SegmentRecord record;
  uint64_t end = 0;
  int64_t index = -1;
  while (true) {
    switch (scanner.Next(&record)) {
      case ziggy::SegmentScanner::Scan::kRecord:
        CheckRecord(segment, record, end, index);
        end = record.end;
        if (!record.mark) index = record.index;
        seen.push_back(absl::StrCat(record.offset, "-", record.end, " #",
                                    record.index, " ", record.damaged_bytes));
        break;
      case ziggy::SegmentScanner::Scan::kIncomplete:
        FUZZ_CHECK(scanner.position() >= end &&
                   scanner.position() < segment.size());
        break;
      case ziggy::SegmentScanner::Scan::kEnd:
        FUZZ_CHECK(scanner.position() == segment.size() &&
                   end == segment.size());
        seen.push_back("end");
        return seen;
      case ziggy::SegmentScanner::Scan::kTail:
        FUZZ_CHECK(scanner.tail() >= end && scanner.tail() < segment.size());
        seen.push_back(absl::StrCat("tail ", scanner.tail()));
        return seen;
      case ziggy::SegmentScanner::Scan::kError:
        abort();  // memory cannot fail
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t small_chunk = 1 + data[0] % 64;
  const absl::string_view segment(reinterpret_cast<const char*>(data) + 1,
                                  size - 1);
  FUZZ_CHECK(ScanAll(segment, small_chunk) == ScanAll(segment, 1 << 16));
  return 0;
}
