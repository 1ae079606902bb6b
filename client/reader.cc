#include "client/reader.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "client/event.h"
#include "client/internal/bson_validate.h"

namespace ziggy {

// The smallest BSON document: int32 length + terminating NUL.
constexpr size_t kMinDocument = 5;

DocumentReader::DocumentReader(absl::string_view data, ReaderOptions options)
    : options_(options), eof_(true), data_(data) {}

DocumentReader::DocumentReader(int fd, ReaderOptions options)
    : options_(options), fd_(fd) {}

DocumentReader::Scan DocumentReader::ScanDocument(absl::string_view data,
                                                  size_t* size,
                                                  std::string* why) {
  if (data.size() < 4) return Scan::kNeedMore;
  const int32_t declared =
      static_cast<int32_t>(absl::little_endian::Load32(data.data()));
  if (declared < static_cast<int32_t>(kMinDocument) ||
      static_cast<size_t>(declared) > options_.max_document_size) {
    *why = absl::StrCat("declared length ", declared, " is outside [",
                        kMinDocument, ", ", options_.max_document_size, "]");
    return Scan::kCorrupt;
  }
  *size = static_cast<size_t>(declared);
  if (data.size() < *size) return Scan::kNeedMore;
  if (data[*size - 1] != '\0') {
    *why = "document does not end with a NUL byte";
    return Scan::kCorrupt;
  }
  if (options_.validate &&
      !internal::ValidateDocument(data.substr(0, *size), kMaxDepth, why)) {
    *why = absl::StrCat("malformed document: ", *why);
    return Scan::kCorrupt;
  }
  return Scan::kDocument;
}

bool DocumentReader::Fill(size_t want) {
  if (eof_) return false;
  // Move the unread bytes to the front, then read behind them.
  const size_t unread = data_.size();
  if (unread > 0 && data_.data() != buffer_.data()) {
    memmove(&buffer_[0], data_.data(), unread);
  }
  buffer_.resize(std::max({buffer_.size(), want, options_.read_size}));
  size_t filled = unread;
  while (filled < want) {
    const ssize_t n = read(fd_, &buffer_[filled], buffer_.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status_ = absl::UnavailableError(absl::StrCat(
          "read failed at offset ", offset_ + filled, ": ", strerror(errno)));
      eof_ = true;
      break;
    }
    if (n == 0) {
      eof_ = true;
      break;
    }
    filled += static_cast<size_t>(n);
  }
  data_ = absl::string_view(buffer_.data(), filled);
  return filled >= want;
}

uint64_t DocumentReader::DrainRemaining() {
  uint64_t total = 0;
  char scratch[1 << 16];
  while (!eof_) {
    const ssize_t n = read(fd_, scratch, sizeof scratch);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    total += static_cast<uint64_t>(n);
  }
  eof_ = true;
  return total;
}

void DocumentReader::Stop(absl::Status status, uint64_t skipped) {
  done_ = true;
  if (status_.ok()) status_ = std::move(status);
  skipped_bytes_ = skipped;
}

bool DocumentReader::Next(absl::string_view* doc) {
  while (!done_) {
    size_t size = 0;
    std::string why;
    switch (ScanDocument(data_, &size, &why)) {
      case Scan::kDocument:
        *doc = data_.substr(0, size);
        data_.remove_prefix(size);
        offset_ += size;
        ++documents_;
        return true;
      case Scan::kCorrupt: {
        const uint64_t skipped = data_.size() + DrainRemaining();
        Stop(absl::DataLossError(absl::StrCat("corrupt document at offset ",
                                              offset_, ": ", why, "; ", skipped,
                                              " bytes skipped")),
             skipped);
        return false;
      }
      case Scan::kNeedMore: {
        const size_t want = std::max(size, data_.size() + 1);
        if (Fill(want)) break;
        if (data_.size() >= want) break;
        if (data_.empty()) {
          done_ = true;
          return false;
        }
        torn_tail_ = true;
        Stop(absl::DataLossError(absl::StrCat(
                 "torn tail at offset ", offset_, ": ", data_.size(),
                 " bytes of an incomplete document",
                 size ? absl::StrCat(" (declares ", size, " bytes)") : "")),
             data_.size());
        return false;
      }
    }
  }
  return false;
}

}  // namespace ziggy
