// EventFiles: ziggyview's input, the events of files read one after
// another (or of standard input), every document checked and every skipped
// byte range reported; and MergeByEnd, which interleaves several such
// streams in time order so that --group sees sub-events filed under other
// types before their parent.
//
// Damage never stops an EventFiles: its reader resynchronises at the next
// plausible event (ReaderOptions::resync), and a well-framed document that
// is not a valid event is skipped. Each skipped range becomes one line for
// stderr, "ziggyview: <file>: bytes <from>-<to> skipped: <why>", and sets
// code() to kViewDamaged; a file that cannot be opened or read sets
// kViewError. Files and stdin may be zstd-compressed (`<name>.log.zst`),
// decompressed as read (client/reader/reader.h; the offsets in reports are
// then those of the decompressed bytes). Memory: one reader buffer
// (read_size, or the largest document), with a compressed input zstd's
// buffers and window (at most 128 KiB + 2 MiB at level 3), and one file
// open at a time.
//
// Thread-safety: none.

#ifndef ZIGGY_VIEWER_EVENT_FILES_H_
#define ZIGGY_VIEWER_EVENT_FILES_H_

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "client/reader/log_files.h"
#include "client/reader/reader.h"
#include "client/reader/where.h"

namespace ziggy {

// One event as read: views into its document.
struct EventView {
  absl::string_view bson;
  absl::string_view id, type;  // empty when absent or not strings
  double end = 0;              // the event's end time (Unix seconds)
  bool has_end = false;        // false when absent, not a number or NaN
};

// --start-date/--end-date as a filter on each event's own end time, with
// the bounds FindLogFiles gives the files: end in [dates.start, dates.end]
// (the end date's last moment included); an event without a numeric end
// does not match (neither bound: every event that has an end).
Where EndTimeFilter(const LogFileQuery& dates);

// Whether `bson` is one valid BSON document (internal/bson_validate.h),
// reading its fields in the same pass. Otherwise false with the reason in
// *why.
bool InspectEvent(absl::string_view bson, EventView* event, std::string* why);

struct EventFilesOptions {
  // Given each line meant for stderr (without the newline).
  std::function<void(const std::string& line)> report;
  // Reading stops soon after this becomes true (a signal).
  const std::atomic<bool>* stop = nullptr;
  size_t read_size = 1 << 20;  // per read(); the buffer's usual size
};

class EventFiles {
 public:
  // Reads `paths` in order.
  EventFiles(std::vector<std::string> paths, EventFilesOptions options);
  // Reads the open descriptor `fd` (not closed), called `name` in reports.
  EventFiles(int fd, std::string name, EventFilesOptions options);
  ~EventFiles();

  EventFiles(const EventFiles&) = delete;
  EventFiles& operator=(const EventFiles&) = delete;

  // Sets *event to the next valid event and returns true; the views are
  // valid until the next call. An event without an end time gets the
  // previous one's (so it keeps its place in MergeByEnd). False at the end
  // of the last file or when stopped.
  bool Next(EventView* event);

  // kViewOk, kViewDamaged (something was skipped) or kViewError (some
  // input could not be opened or read), the worst seen so far.
  int code() const { return code_; }

 private:
  bool OpenNext();
  void StartReader();
  void CloseCurrent();
  void Note(int code, const std::string& what);

  EventFilesOptions options_;
  std::vector<std::string> paths_;
  size_t next_path_ = 0;
  std::string name_;
  int fd_ = -1;
  bool owns_fd_ = true;
  std::unique_ptr<DocumentReader> reader_;
  double last_end_ = 0;
  int code_ = 0;
};

// Calls `emit` with every event of every stream, each time taking the
// event that ends first among the streams' next events (on a tie a
// sub-event before a top-level event, then the earlier stream). The result
// is in end order when each stream is, as a collector's file of one type
// is: events are filed as they arrive and a sub-event ends before its
// parent. The view passed to `emit` is valid during the call.
void MergeByEnd(const std::vector<EventFiles*>& streams,
                absl::FunctionRef<void(const EventView&)> emit);

}  // namespace ziggy

#endif  // ZIGGY_VIEWER_EVENT_FILES_H_
