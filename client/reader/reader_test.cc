#include "client/reader/reader.h"

#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "client/reader/zstd_testing.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

std::vector<std::string> ThreeEvents() {
  std::vector<std::string> docs;
  for (int i = 0; i < 3; ++i) {
    Event event;
    event.type = "t";
    event.id = absl::StrCat("id", i);
    event.body = Value(Value::Map{{"i", i}, {"pad", std::string(i * 7, 'x')}});
    docs.push_back(EncodeEvent(event));
  }
  return docs;
}

std::vector<std::string> ReadAll(DocumentReader& reader) {
  std::vector<std::string> out;
  absl::string_view doc;
  while (reader.Next(&doc)) out.emplace_back(doc);
  return out;
}

TEST(DocumentReaderTest, ReadsConcatenatedDocuments) {
  const std::vector<std::string> docs = ThreeEvents();
  const std::string stream = absl::StrCat(docs[0], docs[1], docs[2]);
  DocumentReader reader(stream);
  EXPECT_EQ(ReadAll(reader), docs);
  EXPECT_TRUE(reader.status().ok()) << reader.status();
  EXPECT_FALSE(reader.torn_tail());
  EXPECT_EQ(reader.offset(), stream.size());
  EXPECT_EQ(reader.documents(), 3u);
}

TEST(DocumentReaderTest, EmptyStreamIsACleanEnd) {
  DocumentReader reader(absl::string_view(""));
  EXPECT_TRUE(ReadAll(reader).empty());
  EXPECT_TRUE(reader.status().ok());
}

// Every cut of the stream yields exactly the whole documents before the cut,
// and a torn tail for the partial one.
TEST(DocumentReaderTest, EveryTruncationPoint) {
  const std::vector<std::string> docs = ThreeEvents();
  const std::string stream = absl::StrCat(docs[0], docs[1], docs[2]);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    SCOPED_TRACE(absl::StrCat("cut at ", cut));
    DocumentReader reader(absl::string_view(stream).substr(0, cut));
    const std::vector<std::string> got = ReadAll(reader);
    size_t whole = 0, boundary = 0;
    while (whole < docs.size() && boundary + docs[whole].size() <= cut) {
      boundary += docs[whole++].size();
    }
    ASSERT_EQ(got.size(), whole);
    for (size_t i = 0; i < whole; ++i) EXPECT_EQ(got[i], docs[i]);
    const bool torn = cut != boundary;
    EXPECT_EQ(reader.torn_tail(), torn);
    EXPECT_EQ(reader.status().ok(), !torn) << reader.status();
    EXPECT_EQ(reader.offset(), boundary);
    EXPECT_EQ(reader.skipped_bytes(), cut - boundary);
    if (torn) {
      EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
      EXPECT_NE(
          reader.status().message().find(absl::StrCat("offset ", boundary)),
          absl::string_view::npos)
          << reader.status();
    }
  }
}

TEST(DocumentReaderTest, CorruptLengthFields) {
  const std::vector<std::string> docs = ThreeEvents();
  struct Case {
    uint32_t length;
    const char* why;
  };
  for (const Case& c : std::vector<Case>{{0, "declared length"},
                                         {4, "declared length"},
                                         {0x80000000u, "declared length"},
                                         {0x7fffffffu, "declared length"},
                                         {20, ""}}) {
    SCOPED_TRACE(c.length);
    std::string second = docs[1];
    memcpy(&second[0], &c.length, 4);
    const std::string stream = absl::StrCat(docs[0], second, docs[2]);
    DocumentReader reader(stream);
    const std::vector<std::string> got = ReadAll(reader);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], docs[0]);
    EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(reader.status().message().find(c.why), absl::string_view::npos);
    EXPECT_EQ(reader.offset(), docs[0].size());
    EXPECT_EQ(reader.skipped_bytes(), stream.size() - docs[0].size());
  }
}

TEST(DocumentReaderTest, LengthRunningPastTheDataIsATornTail) {
  const std::vector<std::string> docs = ThreeEvents();
  std::string last = docs[2];
  const uint32_t length = static_cast<uint32_t>(last.size()) + 1000;
  memcpy(&last[0], &length, 4);
  const std::string stream = absl::StrCat(docs[0], last);
  DocumentReader reader(stream);
  EXPECT_EQ(ReadAll(reader).size(), 1u);
  EXPECT_TRUE(reader.torn_tail());
  EXPECT_EQ(reader.skipped_bytes(), last.size());
}

TEST(DocumentReaderTest, CorruptElementInsideADocument) {
  const std::vector<std::string> docs = ThreeEvents();
  std::string bad = docs[1];
  bad[4] = '\x42';  // the first element's type byte: not a BSON type
  const std::string stream = absl::StrCat(docs[0], bad, docs[2]);
  DocumentReader reader(stream);
  EXPECT_EQ(ReadAll(reader).size(), 1u);
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(reader.torn_tail());
}

TEST(DocumentReaderTest, MaxDocumentSizeIsEnforced) {
  const std::vector<std::string> docs = ThreeEvents();
  ReaderOptions options;
  options.max_document_size = docs[0].size() - 1;
  DocumentReader reader(docs[0], options);
  EXPECT_TRUE(ReadAll(reader).empty());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
}

// Writes `stream` to `fd` `piece` bytes at a time, then closes it.
std::thread WriteInPieces(int fd, const std::string& stream, size_t piece) {
  return std::thread([fd, &stream, piece] {
    for (size_t at = 0; at < stream.size();) {
      const size_t n = std::min(piece, stream.size() - at);
      ASSERT_EQ(write(fd, stream.data() + at, n), static_cast<ssize_t>(n));
      at += n;
    }
    close(fd);
  });
}

// The fd reader sees the stream in small, uneven pieces through a pipe.
TEST(DocumentReaderTest, ReadsFromAPipeInPieces) {
  const std::vector<std::string> docs = ThreeEvents();
  std::string stream;
  std::vector<std::string> expected;
  for (int i = 0; i < 200; ++i) {
    stream += docs[i % 3];
    expected.push_back(docs[i % 3]);
  }
  stream += docs[0].substr(0, 9);  // torn tail
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::thread writer = WriteInPieces(fds[1], stream, 13);
  ReaderOptions options;
  options.read_size = 64;
  DocumentReader reader(fds[0], options);
  EXPECT_EQ(ReadAll(reader), expected);
  writer.join();
  close(fds[0]);
  EXPECT_TRUE(reader.torn_tail());
  EXPECT_EQ(reader.skipped_bytes(), 9u);
}

TEST(DocumentReaderTest, FdReaderCountsSkippedBytesAfterCorruption) {
  const std::vector<std::string> docs = ThreeEvents();
  std::string bad = docs[1];
  bad[bad.size() - 1] = 'x';  // missing terminator
  const std::string stream = absl::StrCat(docs[0], bad, docs[2], docs[2]);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], stream.data(), stream.size()),
            static_cast<ssize_t>(stream.size()));
  close(fds[1]);
  ReaderOptions options;
  options.read_size = 16;
  DocumentReader reader(fds[0], options);
  EXPECT_EQ(ReadAll(reader).size(), 1u);
  close(fds[0]);
  EXPECT_EQ(reader.skipped_bytes(), stream.size() - docs[0].size());
  EXPECT_NE(reader.status().message().find("NUL"), absl::string_view::npos);
}

// What ziggyview asks for: carry on after damage, at the next event.
ReaderOptions Resync(std::vector<SkippedRange>* skipped) {
  ReaderOptions options;
  options.resync = true;
  options.plausible = [](absl::string_view doc) {
    return DecodeEvent(doc).ok();
  };
  options.on_skip = [skipped](const SkippedRange& r) { skipped->push_back(r); };
  return options;
}

TEST(DocumentReaderTest, ResyncCarriesOnAfterACorruptLength) {
  const std::vector<std::string> docs = ThreeEvents();
  for (uint32_t length : {0u, 4u, 20u, 0x7fffffffu}) {
    SCOPED_TRACE(length);
    std::string second = docs[1];
    memcpy(&second[0], &length, 4);
    const std::string stream = absl::StrCat(docs[0], second, docs[2]);
    std::vector<SkippedRange> skipped;
    DocumentReader reader(stream, Resync(&skipped));
    // Not the body inside the damaged event, although it is valid BSON.
    EXPECT_EQ(ReadAll(reader), (std::vector<std::string>{docs[0], docs[2]}));
    ASSERT_EQ(skipped.size(), 1u);
    EXPECT_EQ(skipped[0].from, docs[0].size());
    EXPECT_EQ(skipped[0].to, docs[0].size() + docs[1].size());
    EXPECT_NE(skipped[0].why.find("corrupt document"), std::string::npos)
        << skipped[0].why;
    EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(reader.skipped_bytes(), docs[1].size());
    EXPECT_EQ(reader.offset(), stream.size());
  }
}

// Whatever byte of the middle event is damaged, the events around it come
// back, and every byte is either returned or reported skipped, once.
TEST(DocumentReaderTest, ResyncAfterEveryDamagedByte) {
  const std::vector<std::string> docs = ThreeEvents();
  for (size_t at = 0; at < docs[1].size(); ++at) {
    SCOPED_TRACE(absl::StrCat("damage at ", at));
    std::string second = docs[1];
    second[at] = static_cast<char>(second[at] ^ 0xa5);
    const std::string stream = absl::StrCat(docs[0], second, docs[2]);
    std::vector<SkippedRange> skipped;
    DocumentReader reader(stream, Resync(&skipped));
    const std::vector<std::string> got = ReadAll(reader);
    ASSERT_GE(got.size(), 2u);
    EXPECT_EQ(got.front(), docs[0]);
    EXPECT_EQ(got.back(), docs[2]);
    uint64_t returned = 0, reported = 0;
    for (const std::string& doc : got) returned += doc.size();
    for (const SkippedRange& r : skipped) reported += r.to - r.from;
    EXPECT_EQ(returned + reported, stream.size());
    EXPECT_EQ(reader.skipped_bytes(), reported);
  }
}

TEST(DocumentReaderTest, ResyncThroughAPipeAndToTheEnd) {
  const std::vector<std::string> docs = ThreeEvents();
  // Garbage that keeps declaring plausible lengths, then a torn tail.
  std::string garbage;
  for (int i = 0; i < 50; ++i) garbage += std::string("\x30\0\0\0x", 5);
  const std::string stream =
      absl::StrCat(docs[0], garbage, docs[1], garbage, docs[2], "\x40\0\0");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::thread writer = WriteInPieces(fds[1], stream, 7);
  std::vector<SkippedRange> skipped;
  ReaderOptions options = Resync(&skipped);
  options.read_size = 16;
  DocumentReader reader(fds[0], options);
  EXPECT_EQ(ReadAll(reader), docs);
  writer.join();
  close(fds[0]);
  ASSERT_EQ(skipped.size(), 3u);
  EXPECT_EQ(skipped[0].from, docs[0].size());
  EXPECT_EQ(skipped[0].to, docs[0].size() + garbage.size());
  EXPECT_EQ(skipped[2].to, stream.size());
  EXPECT_NE(skipped[2].why.find("torn tail"), std::string::npos);
  EXPECT_TRUE(reader.torn_tail());
}

TEST(DocumentReaderTest, DefaultStillStopsAtDamage) {
  const std::vector<std::string> docs = ThreeEvents();
  const std::string stream = absl::StrCat(docs[0], "junk", docs[1]);
  DocumentReader reader(stream);
  EXPECT_EQ(ReadAll(reader).size(), 1u);
  EXPECT_EQ(reader.skipped_bytes(), 4 + docs[1].size());
}

// A pipe whose writer never writes nor closes: cancellation ends the wait,
// also inside a zstd frame that stops arriving.
TEST(DocumentReaderTest, CancelStopsAReaderWaitingOnAPipe) {
  const std::string zst = testing::ZstdFrames(
      absl::StrCat(ThreeEvents()[0], ThreeEvents()[1], ThreeEvents()[2]));
  for (const std::string& sent : {std::string(), zst.substr(0, 20)}) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    ASSERT_EQ(write(fds[1], sent.data(), sent.size()),
              static_cast<ssize_t>(sent.size()));
    std::atomic<bool> cancel{false};
    ReaderOptions options;
    options.cancel = &cancel;
    DocumentReader reader(fds[0], options);
    std::thread canceller([&] { cancel.store(true); });
    absl::string_view doc;
    EXPECT_FALSE(reader.Next(&doc));
    canceller.join();
    EXPECT_EQ(reader.status().code(), absl::StatusCode::kCancelled);
    close(fds[0]);
    close(fds[1]);
  }
}

}  // namespace
}  // namespace ziggy
