#include "client/reader/reader.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "client/format/bson_validate.h"
#include "client/format/event.h"
#include "client/reader/file_input.h"

namespace ziggy {

// The smallest BSON document: int32 length + terminating NUL.
constexpr size_t kMinDocument = 5;

DocumentReader::DocumentReader(absl::string_view data, ReaderOptions options)
    : options_(options), eof_(true), data_(data) {}

DocumentReader::DocumentReader(int fd, ReaderOptions options)
    : options_(options),
      input_(std::make_unique<FileInput>(fd, options_.read_size,
                                         options_.cancel)) {}

DocumentReader::~DocumentReader() = default;

DocumentReader::Scan DocumentReader::ScanDocument(absl::string_view data,
                                                  size_t* size,
                                                  std::string* why) {
  if (data.size() < 4) return Scan::kNeedMore;
  const int32_t declared =
      static_cast<int32_t>(absl::little_endian::Load32(data.data()));
  if (declared < static_cast<int32_t>(kMinDocument) ||
      static_cast<size_t>(declared) > options_.max_document_size) {
    if (why != nullptr) {
      *why = absl::StrCat("declared length ", declared, " is outside [",
                          kMinDocument, ", ", options_.max_document_size, "]");
    }
    return Scan::kCorrupt;
  }
  *size = static_cast<size_t>(declared);
  if (data.size() < *size) return Scan::kNeedMore;
  if (data[*size - 1] != '\0') {
    if (why != nullptr) *why = "document does not end with a NUL byte";
    return Scan::kCorrupt;
  }
  if (options_.validate &&
      !ValidateDocument(data.substr(0, *size), kMaxDepth,
                        why != nullptr ? why : &scratch_)) {
    if (why != nullptr) *why = absl::StrCat("malformed document: ", *why);
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
    const ssize_t n = input_->Read(&buffer_[filled], buffer_.size() - filled);
    if (n < 0 && errno == ECANCELED) break;
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
    const ssize_t n = input_->Read(scratch, sizeof scratch);
    if (n <= 0) break;
    total += static_cast<uint64_t>(n);
  }
  eof_ = true;
  return total;
}

bool DocumentReader::Cancelled() {
  if (!CancelRequested()) return false;
  Stop(absl::CancelledError(absl::StrCat("stopped at offset ", offset_)), 0);
  return true;
}

void DocumentReader::Stop(absl::Status status, uint64_t skipped) {
  done_ = true;
  if (status_.ok()) status_ = std::move(status);
  skipped_bytes_ += skipped;
}

void DocumentReader::Report(SkippedRange range) {
  if (status_.ok()) {
    status_ = absl::DataLossError(absl::StrCat(
        "bytes ", range.from, "-", range.to, " skipped: ", range.why));
  }
  skipped_bytes_ += range.to - range.from;
  if (options_.on_skip) options_.on_skip(range);
}

void DocumentReader::Skip(size_t n) {
  data_.remove_prefix(n);
  offset_ += n;
}

DocumentReader::Scan DocumentReader::ScanResyncPoint(absl::string_view data,
                                                     size_t* size) {
  // No reason formatted: most offsets inside damage are no document.
  const Scan scan = ScanDocument(data, size, /*why=*/nullptr);
  if (scan != Scan::kDocument) return scan;
  const absl::string_view doc = data.substr(0, *size);
  if ((!options_.validate && !ValidateDocument(doc, kMaxDepth, &scratch_)) ||
      (options_.plausible && !options_.plausible(doc))) {
    return Scan::kCorrupt;
  }
  return Scan::kDocument;
}

bool DocumentReader::Resync(const std::string& why, Damage damage) {
  const uint64_t from = offset_;
  Skip(1);
  while (true) {
    size_t size = 0;
    const Scan scan = ScanResyncPoint(data_, &size);
    if (scan == Scan::kDocument) break;
    if (scan == Scan::kNeedMore && !eof_) {
      if (!Fill(std::max(size, data_.size() + 1)) && Cancelled()) return false;
      continue;
    }
    if (data_.empty()) break;  // the end: no document after the damage
    Skip(1);
  }
  // Only the end behind it makes an incomplete document a torn tail.
  torn_tail_ = damage == Damage::kMaybeTorn && data_.empty();
  const char* label = damage == Damage::kInput ? ""
                      : torn_tail_             ? "torn tail: "
                                               : "corrupt document: ";
  Report({from, offset_, absl::StrCat(label, why)});
  return true;
}

bool DocumentReader::EndOfInput(size_t size) {
  std::string damage;  // of a zstd stream, reported once
  if (input_ != nullptr && !input_->damage().empty() && !damage_reported_) {
    damage_reported_ = true;
    damage = absl::StrCat(input_->damage(), " at decompressed offset ",
                          offset_ + data_.size());
  }
  if (data_.empty()) {
    done_ = true;
    if (damage.empty()) return false;
    if (options_.resync) {
      Report({offset_, offset_, damage});
    } else {
      Stop(absl::DataLossError(damage), 0);
    }
    return false;
  }
  std::string what =
      absl::StrCat(data_.size(), " bytes of an incomplete document",
                   size ? absl::StrCat(" (declares ", size, " bytes)") : "");
  if (!damage.empty()) what = absl::StrCat(damage, ": ", what);
  // Resync: a length running past the end may be a corrupt one with whole
  // documents behind it.
  if (options_.resync) {
    return Resync(what, damage.empty() ? Damage::kMaybeTorn : Damage::kInput);
  }
  torn_tail_ = damage.empty();
  Stop(absl::DataLossError(
           damage.empty()
               ? absl::StrCat("torn tail at offset ", offset_, ": ", what)
               : absl::StrCat(what, " from offset ", offset_, " skipped")),
       data_.size());
  return false;
}

bool DocumentReader::Next(absl::string_view* doc) {
  while (!done_) {
    if (Cancelled()) return false;
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
        if (options_.resync) {
          if (!Resync(why, Damage::kCorrupt)) return false;
          break;
        }
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
        if (Cancelled()) return false;
        if (data_.size() >= want) break;
        if (!EndOfInput(size)) return false;
        break;
      }
    }
  }
  return false;
}

}  // namespace ziggy
