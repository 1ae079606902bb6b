// SegmentScanner: walks the records of one spool segment in order, reading
// it through a File a chunk at a time. It serves both the spool's recovery
// (find the last whole record, cut a torn tail) and its reads (the relay's
// batches), so that damage is judged the same way by both.
//
// Record format (little-endian): [u32 size][u32 crc32c][u64 index][event],
// the CRC covering the index and the event; see spool.h for the layout.
//
// A mark record (RELAY.md, "Tiers": a tier's note of a downstream
// forwarder's position) has no index: its index field is kSpoolMarkIndex.
// It is returned like any record, with `mark` set, and leaves the index
// order alone. Spools without marks read exactly as before.
//
// A record is sound when its size is at most kMaxSpoolRecord, its CRC
// matches and it is a mark or its index is above the previous sound
// record's (indexes only grow within a segment). Anything else is damage: the
// scanner skips it byte by byte to the next sound record and reports how much
// it skipped with that record (corruption inside the segment). Bytes at the end
// after which no sound record follows are the tail: the writer died there (or
// is appending right now, in the active segment), which LevelDB's log format
// also treats as a torn write rather than corruption.
//
// Thread-safety: none; one scanner per thread, short-lived.
//
//   SegmentScanner scanner(file, size, /*offset=*/0, first - 1, kChunk, &buf);
//   SegmentRecord record;
//   while (scanner.Next(&record) == SegmentScanner::Scan::kRecord) ...

#ifndef ZIGGY_FORWARDER_SEGMENT_SCANNER_H_
#define ZIGGY_FORWARDER_SEGMENT_SCANNER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/file_system.h"

namespace ziggy {

constexpr size_t kSpoolRecordHeader = 16;  // u32 size, u32 crc, u64 index
constexpr uint32_t kMaxSpoolRecord = 16 << 20;
// The index field of a mark record: no event index is ever this large.
constexpr uint64_t kSpoolMarkIndex = ~uint64_t{0};

// The CRC a record stores: over its index (8 bytes) and event.
uint32_t SpoolRecordCrc(absl::string_view index_and_event);

struct SegmentRecord {
  int64_t index = 0;        // -1 for a mark record
  bool mark = false;        // a mark record: `event` is its BSON document
  absl::string_view event;  // valid until the scanner's next Next()
  uint64_t offset = 0;      // where the record starts in the segment
  uint64_t end = 0;         // one past its last byte
  // Damage skipped just before it: its length and where it starts.
  uint64_t damaged_bytes = 0;
  uint64_t damage_start = 0;
};

class SegmentScanner {
 public:
  // Scans `file` over [offset, size), for records with indexes above
  // `last_index`. Reads at least `chunk` bytes at a time into *buffer
  // (scratch, reused across scanners). `file` and `buffer` must outlive it.
  SegmentScanner(File* file, uint64_t size, uint64_t offset, int64_t last_index,
                 size_t chunk, std::string* buffer);

  enum class Scan {
    kRecord,  // *record is the next sound record
    kEnd,     // the segment ends after the last record
    // The record at position() runs past the end: an append in progress,
    // a torn tail, or a damaged size. Next() again takes it for damage and
    // resynchronises past it.
    kIncomplete,
    kTail,   // no sound record from tail() to the end
    kError,  // reading failed: status()
  };
  Scan Next(SegmentRecord* record);

  // Where scanning stands: after the last record returned (or at the
  // incomplete one); the end of the segment after kEnd and kTail.
  uint64_t position() const { return position_; }
  uint64_t tail() const { return tail_; }
  int64_t last_index() const { return last_index_; }
  const absl::Status& status() const { return status_; }

 private:
  enum class Parse { kRecord, kIncomplete, kBad, kError };
  // The record at position_, reading more of the segment as needed.
  Parse ParseAt(bool resyncing, SegmentRecord* record);
  // Reads from position_ on so that at least `need` bytes are buffered.
  bool Refill(size_t need, bool resyncing);

  File* const file_;
  uint64_t size_;  // shrinks if the file turns out shorter
  uint64_t position_;
  int64_t last_index_;
  const size_t chunk_;
  std::string* const buffer_;
  uint64_t buffer_offset_ = 0;    // where (*buffer_)[0] is in the segment
  size_t buffered_ = 0;           // bytes of *buffer_ read by this scanner
  bool skip_incomplete_ = false;  // kIncomplete was returned at position_
  uint64_t tail_ = 0;
  absl::Status status_;
};

}  // namespace ziggy

#endif  // ZIGGY_FORWARDER_SEGMENT_SCANNER_H_
