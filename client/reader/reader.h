// DocumentReader: reads a stream of concatenated BSON documents (an event
// file, a pipe, a buffer) one document at a time.
//
// Damage is reported, never trusted: a declared length is checked against the
// data before anything is read, so a corrupt length cannot make the reader
// run past the data or allocate without bound. Like LevelDB's log reader, a
// stream that ends inside a document is a torn tail (the writer died
// mid-write), reported as such rather than as corruption. Either way the
// reader stops at the damage (what the collector's recovery relies on);
// status() and the accessors say what was skipped and where. Tools that show
// what they can (ziggyview) set ReaderOptions::resync instead, to skip the
// damage and carry on.
//
// Compressed input: a descriptor whose bytes start with the zstd magic
// number (a `<name>.zst` event file, `zstd` output on a pipe) is
// decompressed as it is read, streaming (file_input.h), so the reader sees
// the original bytes whatever the file is called. Every offset the reader
// gives (offset(), skipped ranges, the messages) then counts decompressed
// bytes, i.e. is the offset in the original uncompressed file. A zstd
// stream that is truncated or corrupt ends the input after the documents
// decoded before the damage: the bytes of an incomplete document there are
// reported as one damage, "truncated zstd stream ..." or "corrupt zstd
// stream: <zstd's reason> ...", with status() kDataLoss.
//
// Thread-safety: none; one reader per thread.
//
//   DocumentReader reader(file_bytes);
//   absl::string_view doc;
//   while (reader.Next(&doc)) Handle(doc);
//   if (!reader.status().ok()) LOG(WARNING) << reader.status();

#ifndef ZIGGY_CLIENT_READER_READER_H_
#define ZIGGY_CLIENT_READER_READER_H_

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ziggy {

class FileInput;

// Bytes of a stream that were not returned as documents.
struct SkippedRange {
  uint64_t from = 0;  // offset of the first byte skipped
  uint64_t to = 0;    // offset just past the last
  std::string why;    // what was wrong at `from`
};

struct ReaderOptions {
  // Documents declaring more than this are corrupt (BSON's own limit is 16
  // MiB).
  size_t max_document_size = 16 << 20;
  // Check every document's structure (internal/bson_validate.h) before
  // returning it. Without it only the length and final NUL are checked.
  bool validate = true;
  // Bytes read from a file descriptor at a time.
  size_t read_size = 1 << 20;
  // Resynchronise after damage instead of stopping: scan forward byte by byte
  // for the next offset where a plausible document starts (a length within
  // bounds, a final NUL, fully valid by internal/bson_validate.h whatever
  // `validate` says, and accepted by `plausible` when set) and continue from
  // there. Each skipped range, a torn tail included, goes to `on_skip`
  // before the next document is returned; status() keeps the first damage.
  bool resync = false;
  // With resync: what else a resynchronisation point must be, e.g. "has a
  // type", so that a sub-document inside a damaged document (itself valid
  // BSON) is not taken for the next document. Given only valid documents.
  std::function<bool(absl::string_view doc)> plausible = nullptr;
  std::function<void(const SkippedRange&)> on_skip = nullptr;
  // When set, Next() returns false with kCancelled soon after *cancel
  // becomes true: between documents, while skipping damage and while
  // waiting for a pipe (polled every 100 ms).
  const std::atomic<bool>* cancel = nullptr;
};

class DocumentReader {
 public:
  // Reads from `data`, which must outlive the reader.
  explicit DocumentReader(absl::string_view data, ReaderOptions options = {});
  // A temporary string would dangle.
  DocumentReader(std::string&& data, ReaderOptions options = {}) = delete;
  // Reads from an open file descriptor (not closed by the reader) until EOF,
  // decompressing it when it is zstd frames (see above).
  explicit DocumentReader(int fd, ReaderOptions options = {});
  ~DocumentReader();

  DocumentReader(const DocumentReader&) = delete;
  DocumentReader& operator=(const DocumentReader&) = delete;

  // Next sets *doc to the next whole document and returns true; the view is
  // valid until the next call. Returns false at the end of the data or at
  // damage; status() then tells which.
  bool Next(absl::string_view* doc);

  // OK while reading and at a clean end. kDataLoss at a torn tail or a
  // corrupt document, with the offset in the message; kUnavailable when
  // read() failed; kCancelled when *options.cancel stopped it.
  const absl::Status& status() const { return status_; }

  // True when the data ended inside a document.
  bool torn_tail() const { return torn_tail_; }
  // Offset just past the last whole document returned (with resync, past
  // the bytes skipped after it).
  uint64_t offset() const { return offset_; }
  // Bytes at and after the damage that were not returned as documents.
  uint64_t skipped_bytes() const { return skipped_bytes_; }
  // Whole documents returned so far.
  uint64_t documents() const { return documents_; }

 private:
  enum class Scan { kDocument, kNeedMore, kCorrupt };
  // *why (unless null) says what is corrupt.
  Scan ScanDocument(absl::string_view data, size_t* size, std::string* why);
  // Whether `data` starts with a resynchronisation point; kNeedMore with
  // *size the bytes needed to tell.
  Scan ScanResyncPoint(absl::string_view data, size_t* size);
  // What Resync skips: a corrupt document; an incomplete one at the end of
  // the data (a torn tail, when nothing follows); one where a damaged zstd
  // stream ended (`why` says so).
  enum class Damage { kCorrupt, kMaybeTorn, kInput };
  // Skips from the damage at offset_ to the next resynchronisation point or
  // the end, and reports the range. False when cancelled.
  bool Resync(const std::string& why, Damage damage);
  void Skip(size_t n);
  // Reads more from input_ so that at least `want` unread bytes are
  // buffered. Returns false at EOF, error or cancellation.
  bool Fill(size_t want);
  // Reads input_ to EOF, discarding; returns the byte count.
  uint64_t DrainRemaining();
  // The input ended with data_ unread (`size`: the length the document
  // there declares, 0 when unknown): a clean end, a torn tail or the damage
  // of a zstd stream, reported. True when resynchronisation found more to
  // read; false when done or cancelled.
  bool EndOfInput(size_t size);
  bool CancelRequested() const {
    return options_.cancel != nullptr &&
           options_.cancel->load(std::memory_order_relaxed);
  }
  // True (and stops) when cancellation was requested.
  bool Cancelled();
  void Stop(absl::Status status, uint64_t skipped);
  // Records damage without stopping (resync); reports it to on_skip.
  void Report(SkippedRange range);

  ReaderOptions options_;
  std::unique_ptr<FileInput> input_;  // fd mode
  bool eof_ = false;
  std::string buffer_;      // fd mode: bytes read and not yet consumed
  absl::string_view data_;  // unread bytes (into buffer_ in fd mode)
  absl::Status status_;
  std::string scratch_;  // reasons nobody reads, while resynchronising
  bool done_ = false;
  bool damage_reported_ = false;  // input_->damage()
  bool torn_tail_ = false;
  uint64_t offset_ = 0;
  uint64_t skipped_bytes_ = 0;
  uint64_t documents_ = 0;
};

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_READER_READER_H_
