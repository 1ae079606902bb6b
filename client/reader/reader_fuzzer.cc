// Fuzzes DocumentReader over the bytes of an event file, from memory and
// from a file descriptor read a few bytes at a time, stopping at damage and
// resynchronising. Invariants: every document returned is valid BSON; the
// documents and skipped ranges tile the data exactly, in order; a stopped
// reader accounts for every byte; both sources read the same.

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "client/format/bson_validate.h"
#include "client/format/event.h"
#include "client/reader/reader.h"
#include "tools/fuzz_check.h"

namespace {

// Reads `data` to its end or its damage.
void ReadStopping(absl::string_view data) {
  ziggy::DocumentReader reader(data);
  absl::string_view doc;
  uint64_t end = 0;
  std::string why;
  while (reader.Next(&doc)) {
    FUZZ_CHECK(doc.data() == data.data() + end);
    FUZZ_CHECK(ziggy::ValidateDocument(doc, ziggy::kMaxDepth, &why));
    end += doc.size();
    FUZZ_CHECK(reader.offset() == end);
  }
  FUZZ_CHECK(reader.offset() == end);
  FUZZ_CHECK(reader.offset() + reader.skipped_bytes() == data.size());
  FUZZ_CHECK(reader.status().ok() == (reader.skipped_bytes() == 0));
}

// Options that resynchronise, noting each skipped range in *seen.
ziggy::ReaderOptions Resyncing(std::vector<std::string>* seen) {
  ziggy::ReaderOptions options;
  // Small, so that a descriptor reader does not fill 16 MiB per input.
  options.max_document_size = 4096;
  options.resync = true;
  options.on_skip = [seen](const ziggy::SkippedRange& range) {
    seen->push_back(absl::StrCat("skip ", range.from, "-", range.to));
  };
  return options;
}

// What a resynchronising reader sees, reading from memory.
std::vector<std::string> ReadFromMemory(absl::string_view data) {
  std::vector<std::string> seen;
  ziggy::DocumentReader reader(data, Resyncing(&seen));
  absl::string_view doc;
  std::string why;
  while (reader.Next(&doc)) {
    FUZZ_CHECK(ziggy::ValidateDocument(doc, ziggy::kMaxDepth, &why));
    seen.push_back(absl::StrCat("doc ", doc));
  }
  FUZZ_CHECK(reader.status().ok() == (reader.skipped_bytes() == 0));
  FUZZ_CHECK(reader.offset() == data.size());
  return seen;
}

// The same, reading a descriptor 7 bytes at a time.
std::vector<std::string> ReadFromDescriptor(absl::string_view data) {
  const int fd = memfd_create("reader_fuzzer", 0);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(write(fd, data.data(), data.size()) ==
             static_cast<ssize_t>(data.size()));
  FUZZ_CHECK(lseek(fd, 0, SEEK_SET) == 0);
  std::vector<std::string> seen;
  ziggy::ReaderOptions options = Resyncing(&seen);
  options.read_size = 7;
  ziggy::DocumentReader reader(fd, options);
  absl::string_view doc;
  while (reader.Next(&doc)) seen.push_back(absl::StrCat("doc ", doc));
  close(fd);
  return seen;
}

// Checks that the documents and skipped ranges in `seen` tile `data`.
void CheckTiling(absl::string_view data, const std::vector<std::string>& seen) {
  uint64_t position = 0;
  for (const std::string& s : seen) {
    if (s.rfind("doc ", 0) == 0) {
      const size_t n = s.size() - 4;
      FUZZ_CHECK(data.substr(position, n) == absl::string_view(s).substr(4));
      position += n;
    } else {
      FUZZ_CHECK(s.rfind(absl::StrCat("skip ", position, "-"), 0) == 0);
      position = std::strtoull(s.c_str() + s.find('-') + 1, nullptr, 10);
    }
  }
  FUZZ_CHECK(position == data.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  ReadStopping(input);
  const std::vector<std::string> from_memory = ReadFromMemory(input);
  CheckTiling(input, from_memory);
  FUZZ_CHECK(ReadFromDescriptor(input) == from_memory);
  return 0;
}
