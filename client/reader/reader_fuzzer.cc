// Fuzzes DocumentReader over the bytes of an event file, from memory and
// from a file descriptor read a few bytes at a time, stopping at damage and
// resynchronising. Invariants: every document returned is valid BSON; the
// documents and skipped ranges tile the data exactly, in order; a stopped
// reader accounts for every byte; both sources read the same. Compressed
// input: the input as zstd frames reads the same from a descriptor; an
// input that starts with the zstd magic is read from a descriptor as
// what zstd decodes of it, and its damage ends the reading.

#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "client/format/bson_validate.h"
#include "client/format/event.h"
#include "client/reader/file_input.h"
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

// `data` as zstd frames of 64 input bytes each (level 1: fast).
std::string Compress(absl::string_view data) {
  std::string out;
  for (size_t at = 0; at < data.size() || at == 0; at += 64) {
    const absl::string_view piece = data.substr(at, 64);
    std::string frame(ZSTD_compressBound(piece.size()), '\0');
    const size_t n =
        ZSTD_compress(&frame[0], frame.size(), piece.data(), piece.size(), 1);
    FUZZ_CHECK(!ZSTD_isError(n));
    out.append(frame.data(), n);
    if (data.empty()) break;
  }
  return out;
}

// What zstd decodes of `data`: kClean (all of it, truncated or not) or
// kDamaged (zstd refused some of it: how much was decoded before then
// depends on how the input was cut, the output of the refusing call being
// dropped), or kTooLarge beyond `limit` bytes.
enum class Decoded { kClean, kDamaged, kTooLarge };
Decoded Decode(absl::string_view data, size_t limit, std::string* decoded) {
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  char buffer[4096];
  decoded->clear();
  Decoded result = Decoded::kClean;
  while (result == Decoded::kClean) {
    ZSTD_outBuffer out{buffer, sizeof buffer, 0};
    const size_t used = in.pos;
    const size_t hint = ZSTD_decompressStream(dctx, &out, &in);
    if (ZSTD_isError(hint)) result = Decoded::kDamaged;
    decoded->append(buffer, out.pos);
    if (decoded->size() > limit) result = Decoded::kTooLarge;
    if (out.pos == 0 && in.pos == used) break;
  }
  ZSTD_freeDCtx(dctx);
  return result;
}

// Checks that the documents and skipped ranges in `seen` follow each other
// from offset 0 without gaps or overlaps.
void CheckContiguous(const std::vector<std::string>& seen) {
  uint64_t position = 0;
  for (const std::string& s : seen) {
    if (s.rfind("doc ", 0) == 0) {
      position += s.size() - 4;
    } else {
      FUZZ_CHECK(s.rfind(absl::StrCat("skip ", position, "-"), 0) == 0);
      position = std::strtoull(s.c_str() + s.find('-') + 1, nullptr, 10);
    }
  }
}

// `seen` without the empty ranges a damaged zstd stream reports at its end.
std::vector<std::string> WithoutEmptySkips(std::vector<std::string> seen) {
  std::vector<std::string> kept;
  for (std::string& s : seen) {
    const size_t dash = s.find('-');
    if (s.rfind("skip ", 0) == 0 &&
        s.substr(5, dash - 5) == s.substr(dash + 1)) {
      continue;
    }
    kept.push_back(std::move(s));
  }
  return kept;
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
  FUZZ_CHECK(ReadFromDescriptor(Compress(input)) == from_memory);
  if (input.substr(0, 4) != absl::string_view(ziggy::kZstdMagic, 4)) {
    FUZZ_CHECK(ReadFromDescriptor(input) == from_memory);
    return 0;
  }
  // Compressed input (a zstd bomb aside): the decoded bytes, tiled.
  std::string decoded;
  const Decoded decoding = Decode(input, 1 << 18, &decoded);
  if (decoding == Decoded::kTooLarge) return 0;
  const std::vector<std::string> from_descriptor =
      WithoutEmptySkips(ReadFromDescriptor(input));
  if (decoding == Decoded::kClean) {
    CheckTiling(decoded, from_descriptor);
  } else {
    CheckContiguous(from_descriptor);
  }
  return 0;
}
