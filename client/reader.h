// DocumentReader: reads a stream of concatenated BSON documents (an event
// file, a pipe, a buffer) one document at a time.
//
// Damage is reported, never trusted: a declared length is checked against the
// data before anything is read, so a corrupt length cannot make the reader
// run past the data or allocate without bound. Like LevelDB's log reader, a
// stream that ends inside a document is a torn tail (the writer died
// mid-write), reported as such rather than as corruption. Either way the
// reader stops at the damage; status() and the accessors say what was
// skipped and where.
//
// Thread-safety: none; one reader per thread.
//
//   DocumentReader reader(file_bytes);
//   absl::string_view doc;
//   while (reader.Next(&doc)) Handle(doc);
//   if (!reader.status().ok()) LOG(WARNING) << reader.status();

#ifndef ZIGGY_CLIENT_READER_H_
#define ZIGGY_CLIENT_READER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ziggy {

struct ReaderOptions {
  // Documents declaring more than this are corrupt (BSON's own limit is 16
  // MiB).
  size_t max_document_size = 16 << 20;
  // Check every document's structure (internal/bson_validate.h) before
  // returning it. Without it only the length and final NUL are checked.
  bool validate = true;
  // Bytes read from a file descriptor at a time.
  size_t read_size = 1 << 20;
};

class DocumentReader {
 public:
  // Reads from `data`, which must outlive the reader.
  explicit DocumentReader(absl::string_view data, ReaderOptions options = {});
  // A temporary string would dangle.
  DocumentReader(std::string&& data, ReaderOptions options = {}) = delete;
  // Reads from an open file descriptor (not closed by the reader) until EOF.
  explicit DocumentReader(int fd, ReaderOptions options = {});

  DocumentReader(const DocumentReader&) = delete;
  DocumentReader& operator=(const DocumentReader&) = delete;

  // Next sets *doc to the next whole document and returns true; the view is
  // valid until the next call. Returns false at the end of the data or at
  // damage; status() then tells which.
  bool Next(absl::string_view* doc);

  // OK while reading and at a clean end. kDataLoss at a torn tail or a
  // corrupt document, with the offset in the message; kUnavailable when
  // read() failed.
  const absl::Status& status() const { return status_; }

  // True when the data ended inside a document.
  bool torn_tail() const { return torn_tail_; }
  // Offset just past the last whole document returned.
  uint64_t offset() const { return offset_; }
  // Bytes at and after the damage that were not returned as documents.
  uint64_t skipped_bytes() const { return skipped_bytes_; }
  // Whole documents returned so far.
  uint64_t documents() const { return documents_; }

 private:
  enum class Scan { kDocument, kNeedMore, kCorrupt };
  Scan ScanDocument(absl::string_view data, size_t* size, std::string* why);
  // Reads more from fd_ so that at least `want` unread bytes are buffered.
  // Returns false at EOF or error.
  bool Fill(size_t want);
  // Reads fd_ to EOF, discarding; returns the byte count.
  uint64_t DrainRemaining();
  void Stop(absl::Status status, uint64_t skipped);

  ReaderOptions options_;
  int fd_ = -1;
  bool eof_ = false;
  std::string buffer_;      // fd mode: bytes read and not yet consumed
  absl::string_view data_;  // unread bytes (into buffer_ in fd mode)
  absl::Status status_;
  bool done_ = false;
  bool torn_tail_ = false;
  uint64_t offset_ = 0;
  uint64_t skipped_bytes_ = 0;
  uint64_t documents_ = 0;
};

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_READER_H_
