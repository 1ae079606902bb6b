#include "forwarder/segment_scanner.h"

#include <algorithm>

#include "absl/base/internal/endian.h"
#include "forwarder/crc32c.h"

namespace ziggy {

uint32_t SpoolRecordCrc(absl::string_view index_and_event) {
  return Crc32c(0, index_and_event);
}

SegmentScanner::SegmentScanner(File* file, uint64_t size, uint64_t offset,
                               int64_t last_index, size_t chunk,
                               std::string* buffer)
    : file_(file),
      size_(size),
      position_(offset),
      last_index_(last_index),
      chunk_(chunk),
      buffer_(buffer) {
  // Nothing buffered yet; *buffer keeps its size, so reading into it does
  // not zero-fill it again.
  buffer_offset_ = offset;
}

SegmentScanner::Scan SegmentScanner::Next(SegmentRecord* record) {
  uint64_t damaged = 0;
  uint64_t damage_start = 0;
  while (position_ < size_) {
    const Parse parse = ParseAt(damaged > 0, record);
    if (parse == Parse::kError) return Scan::kError;
    if (parse == Parse::kRecord &&
        (record->mark || record->index > last_index_)) {
      record->damaged_bytes = damaged;
      record->damage_start = damage_start;
      if (!record->mark) last_index_ = record->index;
      position_ = record->end;
      skip_incomplete_ = false;
      return Scan::kRecord;
    }
    if (parse == Parse::kIncomplete && damaged == 0 && !skip_incomplete_) {
      skip_incomplete_ = true;
      return Scan::kIncomplete;
    }
    skip_incomplete_ = false;
    if (damaged == 0) damage_start = position_;
    ++damaged;  // resynchronise: try the next byte
    ++position_;
  }
  if (damaged == 0) return Scan::kEnd;
  tail_ = damage_start;
  return Scan::kTail;
}

SegmentScanner::Parse SegmentScanner::ParseAt(bool resyncing,
                                              SegmentRecord* record) {
  while (true) {
    const uint64_t buffered_end = buffer_offset_ + buffered_;
    const size_t available =
        position_ >= buffer_offset_ && position_ <= buffered_end
            ? static_cast<size_t>(buffered_end - position_)
            : 0;
    const char* p =
        available > 0 ? buffer_->data() + (position_ - buffer_offset_) : "";
    size_t need = kSpoolRecordHeader;
    if (available >= kSpoolRecordHeader) {
      const uint32_t size = absl::little_endian::Load32(p);
      if (size > kMaxSpoolRecord) return Parse::kBad;
      need += size;
    }
    if (available < need) {
      if (position_ + available >= size_) return Parse::kIncomplete;
      if (!Refill(need, resyncing)) return Parse::kError;
      continue;
    }
    const uint32_t crc = absl::little_endian::Load32(p + 4);
    const size_t size = need - kSpoolRecordHeader;
    if (SpoolRecordCrc(absl::string_view(p + 8, 8 + size)) != crc) {
      return Parse::kBad;
    }
    const uint64_t index = absl::little_endian::Load64(p + 8);
    record->mark = index == kSpoolMarkIndex;
    record->index = record->mark ? -1 : static_cast<int64_t>(index);
    record->event = absl::string_view(p + kSpoolRecordHeader, size);
    record->offset = position_;
    record->end = position_ + need;
    return Parse::kRecord;
  }
}

bool SegmentScanner::Refill(size_t need, bool resyncing) {
  uint64_t want = std::max(chunk_, need);
  // While resynchronising every byte may claim a large record: read enough
  // that the positions of a whole chunk can be checked without reading
  // again.
  if (resyncing) want += kSpoolRecordHeader + kMaxSpoolRecord;
  want = std::min(want, size_ - position_);
  if (absl::Status s = file_->Read(position_, want, buffer_); !s.ok()) {
    buffered_ = 0;
    status_ = s;
    return false;
  }
  buffer_offset_ = position_;
  buffered_ = buffer_->size();
  // A file shorter than recorded ends where it ends.
  if (buffered_ < want) size_ = position_ + buffered_;
  return true;
}

}  // namespace ziggy
