#include "collector/free_space.h"

#include <sys/statvfs.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/durable_file.h"
#include "glog/logging.h"

namespace ziggy {
namespace {

constexpr absl::Duration kCheckInterval = absl::Seconds(1);

// Free bytes, or -1 when they cannot be told.
int64_t MeasureFree(const FreeSpaceOptions& options) {
  if (!options.fake_free_file.empty()) {
    uint64_t free = 0;
    const std::string text = ReadFileOrEmpty(options.fake_free_file);
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &free)) return -1;
    return static_cast<int64_t>(free);
  }
  struct statvfs st;
  if (statvfs(options.path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(static_cast<uint64_t>(st.f_bavail) * st.f_frsize);
}

}  // namespace

absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text) {
  int shift = 0;
  absl::string_view digits = text;
  if (!digits.empty()) {
    switch (absl::ascii_toupper(digits.back())) {
      case 'K':
        shift = 10;
        break;
      case 'M':
        shift = 20;
        break;
      case 'G':
        shift = 30;
        break;
      case 'T':
        shift = 40;
        break;
      default:
        break;
    }
    if (shift != 0) digits.remove_suffix(1);
  }
  uint64_t value = 0;
  const bool all_digits =
      !digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      });
  if (!all_digits || !absl::SimpleAtoi(digits, &value) ||
      (value << shift >> shift) != value) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' is not a size (bytes, or a number with K, M, G or T)"));
  }
  return value << shift;
}

FreeSpaceGuard::FreeSpaceGuard(FreeSpaceOptions options)
    : options_(std::move(options)) {}

bool FreeSpaceGuard::MayWrite(size_t bytes) {
  if (options_.min_free_bytes == 0) return true;
  unchecked_bytes_ += bytes;
  // Held back: asked again each time the writer retries.
  if (unchecked_bytes_ >= kCheckBytes || !accepting_.load()) Check();
  return accepting_.load();
}

void FreeSpaceGuard::Tick() {
  if (options_.min_free_bytes == 0) return;
  if (absl::Now() - last_check_ >= kCheckInterval) Check();
}

void FreeSpaceGuard::Check() {
  unchecked_bytes_ = 0;
  last_check_ = absl::Now();
  const int64_t free = MeasureFree(options_);
  if (free < 0) return;  // unknown: as it was
  const bool ok = static_cast<uint64_t>(free) >= options_.min_free_bytes;
  if (ok == accepting_.load()) return;
  accepting_.store(ok);
  if (!ok) {
    pauses_.fetch_add(1);
    LOG(WARNING) << options_.path << ": " << free << " bytes free, under "
                 << "--min-free-disk=" << options_.min_free_bytes
                 << "; not accepting events until space returns";
  } else {
    LOG(INFO) << options_.path << ": " << free << " bytes free again; "
              << "accepting events";
  }
}

uint64_t FreeSpaceGuard::FreeBytes() const {
  const int64_t free = MeasureFree(options_);
  return free < 0 ? 0 : static_cast<uint64_t>(free);
}

}  // namespace ziggy
