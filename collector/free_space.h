// FreeSpaceGuard: --min-free-disk. The writer asks it before appending;
// while the log path's file system has less free space than the minimum it
// says no, and the collector treats that as it treats a disk that refuses
// writes: the writer holds its batch, the receive thread stops reading the
// collect and relay ports (clients queue, forwarders keep spooling), nothing
// received is dropped. It says yes again once space returns.
//
// Free space is statvfs()'s f_bavail * f_frsize of the log path, or, for
// tests, the number in a file (fake_free_file). It is measured again after
// every kCheckBytes appended and at every Tick() a second after the last
// measurement, so a fast writer cannot run far past the threshold.
//
// Thread-safety: MayWrite() and Tick() from the writer thread only; the
// accessors from any thread.

#ifndef ZIGGY_COLLECTOR_FREE_SPACE_H_
#define ZIGGY_COLLECTOR_FREE_SPACE_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ziggy {

// "2G" -> 2147483648: bytes, with an optional K, M, G or T suffix (powers
// of 1024, either case). kInvalidArgument for anything else or overflow.
absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text);

struct FreeSpaceOptions {
  std::string path;             // the log path
  uint64_t min_free_bytes = 0;  // 0: off (MayWrite() always true)
  std::string fake_free_file;   // tests: free bytes read from here instead
};

class FreeSpaceGuard {
 public:
  static constexpr uint64_t kCheckBytes = 1 << 20;

  explicit FreeSpaceGuard(FreeSpaceOptions options);

  // Whether `bytes` more may be appended now.
  bool MayWrite(size_t bytes);
  // Measures again when a second has passed since the last measurement.
  void Tick();

  // Free bytes now (measured on the spot; 0 when unknown).
  uint64_t FreeBytes() const;
  uint64_t min_free_bytes() const { return options_.min_free_bytes; }
  bool accepting() const { return accepting_.load(); }
  // Times accepting turned false.
  uint64_t pauses() const { return pauses_.load(); }

 private:
  void Check();

  const FreeSpaceOptions options_;
  uint64_t unchecked_bytes_ = 0;  // writer thread
  absl::Time last_check_ = absl::InfinitePast();
  std::atomic<bool> accepting_{true};
  std::atomic<uint64_t> pauses_{0};
};

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_FREE_SPACE_H_
