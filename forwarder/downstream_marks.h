// Downstream marks: what a tier forwarder (ziggy-forwarder --relay) keeps of
// each forwarder that relays to it, in its own spool (RELAY.md, "Tiers").
//
// Each downstream batch the tier takes in is spooled as one group, written
// with one write(): a mark record (spool index field kSpoolMarkIndex,
// segment_scanner.h) whose BSON document is
//   {forwarder: id, token: t, next: n, first: f, records: k}
// followed by the records of the batch's k events, spool indexes f..f+k-1.
// `next` is the downstream's new position (every index of it below `next` is
// spooled here), `token` what its id is bound to. A mark counts only when
// all k records follow it, sound and in order (MarkGroups): a group cut
// short by a torn write or damaged gives no mark, so the downstream's resend
// is taken again rather than discarded.
//
// Before a segment holding marks is deleted, the marks are folded into
// `<spool>/downstream`, a snapshot {forwarders: {id: {token, next, at}}}
// written durably (mode 0600: tokens are secrets).
//
// Thread-safety: plain values and functions; MarkGroups is one scan's.

#ifndef ZIGGY_FORWARDER_DOWNSTREAM_MARKS_H_
#define ZIGGY_FORWARDER_DOWNSTREAM_MARKS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/file_system.h"
#include "forwarder/segment_scanner.h"

namespace ziggy {

// A downstream forwarder's position at the tier.
struct DownstreamMark {
  std::string token;  // what its id is bound to
  int64_t next = 0;   // every index of it below this is spooled here
  int64_t at = 0;     // the spool index its last group started at
};
using DownstreamMarks = absl::flat_hash_map<std::string, DownstreamMark>;

inline constexpr char kDownstreamSnapshot[] = "downstream";

// The BSON document of a mark record for a group of `records` events.
std::string EncodeMarkRecord(absl::string_view forwarder,
                             const DownstreamMark& mark, int64_t records);

// Feeds on a segment's records in order and keeps the marks of whole groups.
class MarkGroups {
 public:
  void Add(const SegmentRecord& record);
  // Marks of the whole groups seen, in order (later ones win).
  const std::vector<std::pair<std::string, DownstreamMark>>& marks() const {
    return marks_;
  }
  // Where a group still open (cut short at the end) starts, or -1.
  int64_t open_offset() const { return open_ ? open_offset_ : -1; }
  // The spool index that open group starts at.
  int64_t open_first() const { return pending_.second.at; }

 private:
  void Close(bool whole);

  bool open_ = false;
  int64_t open_offset_ = 0;
  int64_t left_ = 0;    // records of the open group still to come
  int64_t expect_ = 0;  // the index of the next one
  std::pair<std::string, DownstreamMark> pending_;
  std::vector<std::pair<std::string, DownstreamMark>> marks_;
};

// Sets into[id] for each (id, mark), in order.
void ApplyMarks(
    const std::vector<std::pair<std::string, DownstreamMark>>& marks,
    DownstreamMarks* into);

// Keeps the `limit` marks with the latest `at`.
void TrimMarks(size_t limit, DownstreamMarks* marks);

// The snapshot under `dir` (empty when there is none or it is unreadable).
DownstreamMarks ReadDownstreamSnapshot(const std::string& dir, FileSystem* fs);
// Replaces it durably.
absl::Status WriteDownstreamSnapshot(const std::string& dir,
                                     const DownstreamMarks& marks,
                                     FileSystem* fs);

}  // namespace ziggy

#endif  // ZIGGY_FORWARDER_DOWNSTREAM_MARKS_H_
