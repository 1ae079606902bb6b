// Reading zstd-compressed event files: FileInput, and DocumentReader over
// it, give exactly the documents of the uncompressed bytes, however the
// frames and reads are cut, and report damaged streams once.

#include "client/reader/file_input.h"

#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "client/reader/reader.h"
#include "client/reader/zstd_testing.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

using ::ziggy::testing::ZstdFrames;

// Distinct events, as an event file holds them.
std::vector<std::string> Events(int n) {
  std::vector<std::string> docs;
  for (int i = 0; i < n; ++i) {
    Event event;
    event.type = i % 3 ? "request.sql" : "request";
    event.id = absl::StrCat("id-", i * 7919);
    event.body = Value(Value::Map{{"i", i},
                                  {"path", absl::StrCat("/api/", i % 17)},
                                  {"pad", std::string(i % 29, 'x')}});
    docs.push_back(EncodeEvent(event));
  }
  return docs;
}

std::string Concat(const std::vector<std::string>& docs) {
  std::string out;
  for (const std::string& d : docs) out += d;
  return out;
}

// An in-memory file holding `bytes`, at offset 0.
int MemFile(absl::string_view bytes) {
  const int fd = memfd_create("file_input_test", 0);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, bytes.data(), bytes.size()),
            static_cast<ssize_t>(bytes.size()));
  EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
  return fd;
}

struct Result {
  std::vector<std::string> docs;
  std::vector<SkippedRange> skipped;  // with resync
  absl::Status status;
  uint64_t offset = 0;
};

// Reads `bytes` from a descriptor, `read_size` bytes at a time.
Result ReadFd(absl::string_view bytes, size_t read_size, bool resync = false) {
  Result result;
  ReaderOptions options;
  options.read_size = read_size;
  options.resync = resync;
  options.on_skip = [&result](const SkippedRange& r) {
    result.skipped.push_back(r);
  };
  const int fd = MemFile(bytes);
  DocumentReader reader(fd, options);
  absl::string_view doc;
  while (reader.Next(&doc)) result.docs.emplace_back(doc);
  result.status = reader.status();
  result.offset = reader.offset();
  close(fd);
  return result;
}

bool Contains(const absl::Status& status, absl::string_view what) {
  return status.message().find(what) != absl::string_view::npos;
}

TEST(CompressedReadTest, OneFrameAtEveryReadSize) {
  const std::vector<std::string> docs = Events(40);
  const std::string plain = Concat(docs);
  const std::string zst = ZstdFrames(plain);
  ASSERT_LT(zst.size(), plain.size());
  for (size_t read_size : {1, 2, 3, 4, 5, 7, 64, 4096, 1 << 20}) {
    SCOPED_TRACE(absl::StrCat("read_size ", read_size));
    const Result result = ReadFd(zst, read_size);
    EXPECT_EQ(result.docs, docs);
    EXPECT_TRUE(result.status.ok()) << result.status;
    EXPECT_EQ(result.offset, plain.size());  // decompressed offsets
  }
}

// Frames cut at every size, including inside documents and one byte each.
TEST(CompressedReadTest, ManySmallFrames) {
  const std::vector<std::string> docs = Events(12);
  const std::string plain = Concat(docs);
  for (size_t frame_size : {1, 2, 5, 13, 100, 333}) {
    for (size_t read_size : {1, 7, 1 << 20}) {
      SCOPED_TRACE(absl::StrCat("frame ", frame_size, " read ", read_size));
      const Result result = ReadFd(ZstdFrames(plain, frame_size), read_size);
      EXPECT_EQ(result.docs, docs);
      EXPECT_TRUE(result.status.ok()) << result.status;
    }
  }
}

TEST(CompressedReadTest, EmptyFileAndEmptyFrame) {
  for (const std::string& bytes : {std::string(), ZstdFrames("")}) {
    const Result result = ReadFd(bytes, 1 << 20);
    EXPECT_TRUE(result.docs.empty());
    EXPECT_TRUE(result.status.ok()) << result.status;
  }
  EXPECT_GT(ZstdFrames("").size(), 4u);
}

// A skippable frame (zstd's metadata frames) is read over.
TEST(CompressedReadTest, SkippableFrameBetweenFrames) {
  const std::vector<std::string> docs = Events(6);
  const std::string skippable(
      "\x50\x2A\x4D\x18\x03\x00\x00\x00"
      "abc",
      11);
  const std::string zst =
      absl::StrCat(ZstdFrames(Concat({docs[0], docs[1], docs[2]})), skippable,
                   ZstdFrames(Concat({docs[3], docs[4], docs[5]})));
  const Result result = ReadFd(zst, 5);
  EXPECT_EQ(result.docs, docs);
  EXPECT_TRUE(result.status.ok()) << result.status;
}

// Cut anywhere inside the stream: the whole documents decoded before the
// cut, then one report, with and without resync, never a crash or a hang.
TEST(CompressedReadTest, TruncatedAtEveryByte) {
  const std::vector<std::string> docs = Events(8);
  const std::string plain = Concat(docs);
  const std::string zst = ZstdFrames(plain);
  for (size_t cut = 4; cut < zst.size(); ++cut) {
    SCOPED_TRACE(absl::StrCat("cut at ", cut));
    const absl::string_view bytes = absl::string_view(zst).substr(0, cut);
    const Result stopping = ReadFd(bytes, 3);
    ASSERT_LE(stopping.docs.size(), docs.size());
    for (size_t i = 0; i < stopping.docs.size(); ++i) {
      EXPECT_EQ(stopping.docs[i], docs[i]);
    }
    EXPECT_EQ(stopping.status.code(), absl::StatusCode::kDataLoss);
    EXPECT_TRUE(Contains(stopping.status, "truncated zstd stream"))
        << stopping.status;
    const Result resyncing = ReadFd(bytes, 1 << 20, /*resync=*/true);
    EXPECT_EQ(resyncing.docs, stopping.docs);
    ASSERT_EQ(resyncing.skipped.size(), 1u);
    EXPECT_NE(resyncing.skipped[0].why.find("truncated zstd stream"),
              std::string::npos)
        << resyncing.skipped[0].why;
  }
}

// The reported range is in decompressed offsets: from the end of the last
// whole document to the end of what was decoded.
TEST(CompressedReadTest, TruncationBetweenFramesReportsDecompressedOffsets) {
  const std::vector<std::string> docs = Events(4);
  const std::string first = ZstdFrames(Concat({docs[0], docs[1]}));
  const std::string second = ZstdFrames(Concat({docs[2], docs[3]}));
  const std::string cut = absl::StrCat(first, second.substr(0, 6));
  const Result result = ReadFd(cut, 1 << 20, /*resync=*/true);
  EXPECT_EQ(result.docs, (std::vector<std::string>{docs[0], docs[1]}));
  ASSERT_EQ(result.skipped.size(), 1u);
  const uint64_t end = docs[0].size() + docs[1].size();
  EXPECT_EQ(result.skipped[0].from, end);
  EXPECT_EQ(result.skipped[0].to, end);
  EXPECT_EQ(result.skipped[0].why,
            absl::StrCat("truncated zstd stream at decompressed offset ", end));
}

// The size of the header of the frame at the start of `frame` (RFC 8878
// 3.1.1.1), where its first block header starts.
size_t FrameHeaderSize(absl::string_view frame) {
  const uint8_t descriptor = static_cast<uint8_t>(frame[4]);
  const bool single_segment = (descriptor >> 5) & 1;
  const size_t content_size[] = {single_segment ? 1u : 0u, 2, 4, 8};
  const size_t dictionary_id[] = {0, 1, 2, 4};
  return 5 + (single_segment ? 0 : 1) + dictionary_id[descriptor & 3] +
         content_size[descriptor >> 6];
}

// A reserved block type in the second frame: zstd refuses it.
TEST(CompressedReadTest, CorruptFrameAfterAValidOne) {
  const std::vector<std::string> docs = Events(6);
  const std::string first = ZstdFrames(Concat({docs[0], docs[1], docs[2]}));
  std::string second = ZstdFrames(Concat({docs[3], docs[4], docs[5]}));
  const size_t header = FrameHeaderSize(second);
  second[header] = static_cast<char>(second[header] | 0x06);
  for (size_t read_size : {7, 1 << 20}) {
    SCOPED_TRACE(absl::StrCat("read_size ", read_size));
    const bool resync = read_size == 7;
    const Result result = ReadFd(first + second, read_size, resync);
    EXPECT_EQ(result.docs,
              (std::vector<std::string>{docs[0], docs[1], docs[2]}));
    EXPECT_EQ(result.status.code(), absl::StatusCode::kDataLoss);
    EXPECT_TRUE(Contains(result.status, "corrupt zstd stream"))
        << result.status;
    EXPECT_EQ(result.skipped.size(), resync ? 1u : 0u);
  }
}

// A corrupt block inside a frame: the documents of the blocks before it
// come back, however much input zstd had at once.
TEST(CompressedReadTest, CorruptBlockInsideAFrame) {
  const std::vector<std::string> docs = Events(3000);
  std::string zst = ZstdFrames(Concat(docs));
  // The second block's header: after the first block (RFC 8878 3.1.1.2).
  const size_t first = FrameHeaderSize(zst);
  const uint32_t header = static_cast<uint8_t>(zst[first]) |
                          static_cast<uint8_t>(zst[first + 1]) << 8 |
                          static_cast<uint8_t>(zst[first + 2]) << 16;
  ASSERT_EQ(header & 1, 0u) << "one block only";
  const size_t second = first + 3 + (header >> 3);
  ASSERT_LT(second, zst.size());
  zst[second] = static_cast<char>(zst[second] | 0x06);
  // The documents within the first block's 128 KiB.
  std::vector<std::string> expected;
  size_t end = 0;
  for (const std::string& doc : docs) {
    if ((end += doc.size()) > (128 << 10)) break;
    expected.push_back(doc);
  }
  for (size_t read_size : {7, 4096, 1 << 20}) {
    SCOPED_TRACE(absl::StrCat("read_size ", read_size));
    const Result result = ReadFd(zst, read_size);
    EXPECT_EQ(result.docs.size(), expected.size());
    EXPECT_TRUE(result.docs == expected);
    EXPECT_TRUE(Contains(result.status, "corrupt zstd stream"))
        << result.status;
  }
}

TEST(CompressedReadTest, GarbageAfterAValidFrame) {
  const std::vector<std::string> docs = Events(5);
  const std::string zst =
      absl::StrCat(ZstdFrames(Concat(docs)), "garbage, not a frame");
  const Result result = ReadFd(zst, 1 << 20, /*resync=*/true);
  EXPECT_EQ(result.docs, docs);
  ASSERT_EQ(result.skipped.size(), 1u);
  EXPECT_EQ(result.skipped[0].from, Concat(docs).size());
  EXPECT_NE(result.skipped[0].why.find("corrupt zstd stream"),
            std::string::npos)
      << result.skipped[0].why;
  EXPECT_EQ(result.status.code(), absl::StatusCode::kDataLoss);
}

// Damage inside the compressed bytes that zstd cannot see (no checksum)
// still yields valid documents only, and every flip ends.
TEST(CompressedReadTest, EveryFlippedByteEnds) {
  const std::vector<std::string> docs = Events(5);
  const std::string zst = ZstdFrames(Concat(docs));
  for (size_t at = 0; at < zst.size(); ++at) {
    SCOPED_TRACE(absl::StrCat("flip at ", at));
    std::string bad = zst;
    bad[at] = static_cast<char>(bad[at] ^ 0x5a);
    const Result result = ReadFd(bad, 16, /*resync=*/true);
    EXPECT_LE(result.docs.size(), docs.size());
  }
}

// Not the magic: plain bytes, even when they start like it.
TEST(CompressedReadTest, PlainInputIsPassedThrough) {
  const std::string bytes = absl::StrCat(std::string(kZstdMagic, 3), "xyz");
  const int fd = MemFile(bytes);
  FileInput input(fd, 1);
  std::string got;
  char c;
  while (input.Read(&c, 1) == 1) got += c;
  close(fd);
  EXPECT_EQ(got, bytes);
  EXPECT_FALSE(input.compressed());
  EXPECT_TRUE(input.damage().empty());
}

// Standard input is a pipe: the stream arrives in pieces.
TEST(CompressedReadTest, ReadsFromAPipeInPieces) {
  const std::vector<std::string> docs = Events(50);
  const std::string zst = ZstdFrames(Concat(docs), 500);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::thread writer([&] {
    for (size_t at = 0; at < zst.size(); at += 3) {
      const size_t n = std::min<size_t>(3, zst.size() - at);
      ASSERT_EQ(write(fds[1], zst.data() + at, n), static_cast<ssize_t>(n));
    }
    close(fds[1]);
  });
  ReaderOptions options;
  options.read_size = 64;
  DocumentReader reader(fds[0], options);
  std::vector<std::string> got;
  absl::string_view doc;
  while (reader.Next(&doc)) got.emplace_back(doc);
  writer.join();
  close(fds[0]);
  EXPECT_EQ(got, docs);
  EXPECT_TRUE(reader.status().ok()) << reader.status();
}

}  // namespace
}  // namespace ziggy
