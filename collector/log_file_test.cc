#include "collector/log_file.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "client/reader/reader.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

std::string Doc(int i) {
  Event e;
  e.type = "t";
  e.body = Value(Value::Map{{"i", i}});
  return EncodeEvent(e);
}

std::string TestPath(const std::string& name) {
  return absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name, "/sub/dir/f.log");
}

std::string Contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Pages of `path` in the page cache, of its whole pages.
std::pair<size_t, size_t> ResidentPages(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  struct stat st;
  fstat(fd, &st);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t size = static_cast<size_t>(st.st_size);
  void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  std::vector<unsigned char> resident((size + page - 1) / page);
  mincore(map, size, resident.data());
  munmap(map, size);
  close(fd);
  size_t in_cache = 0;
  for (size_t i = 0; i < size / page; ++i) in_cache += resident[i] & 1;
  return {in_cache, size / page};
}

TEST(LogFileTest, SyncHandsWrittenPagesBackToTheKernel) {
  const std::string path = TestPath("dontneed");
  OpenReport report;
  auto file = LogFile::Open(path, -1, &report);
  ASSERT_TRUE(file.ok()) << file.status();
  struct statfs fs;
  ASSERT_EQ(statfs(path.c_str(), &fs), 0);
  if (fs.f_type == TMPFS_MAGIC) GTEST_SKIP() << "tmpfs pages are the file";
  for (int i = 0; i < 10000; ++i) (*file)->Append(Doc(i));
  ASSERT_TRUE((*file)->Flush().ok());
  const auto [cached_before, pages] = ResidentPages(path);
  ASSERT_GT(pages, 10u);
  EXPECT_GT(cached_before, pages / 2);  // just written: in the page cache
  ASSERT_TRUE((*file)->Sync().ok());
  EXPECT_EQ(ResidentPages(path).first, 0u);
  // Appending goes on after the partly written last page, which was kept.
  (*file)->Append(Doc(10000));
  ASSERT_TRUE((*file)->Flush().ok());
  std::string expected;
  for (int i = 0; i <= 10000; ++i) expected += Doc(i);
  EXPECT_EQ(Contents(path), expected);
}

TEST(LogFileTest, CreatesParentsAndAppendsOnFlush) {
  const std::string path = TestPath("create");
  OpenReport report;
  auto file = LogFile::Open(path, -1, &report);
  ASSERT_TRUE(file.ok()) << file.status();
  (*file)->Append(Doc(1));
  (*file)->Append(Doc(2));
  EXPECT_EQ(Contents(path), "");  // buffered
  EXPECT_EQ((*file)->pending_records(), 2u);
  ASSERT_TRUE((*file)->Flush().ok());
  EXPECT_EQ((*file)->last_flushed_records(), 2u);
  EXPECT_EQ(Contents(path), Doc(1) + Doc(2));
  EXPECT_EQ((*file)->size(), static_cast<off_t>(Doc(1).size() * 2));
  EXPECT_FALSE((*file)->Removed());
  ASSERT_EQ(unlink(path.c_str()), 0);
  EXPECT_TRUE((*file)->Removed());
}

TEST(LogFileTest, TruncatesATornTail) {
  const std::string path = TestPath("torn");
  {
    OpenReport report;
    auto file = LogFile::Open(path, -1, &report);
    ASSERT_TRUE(file.ok());
    (*file)->Append(Doc(1));
    (*file)->Append(Doc(2));
    ASSERT_TRUE((*file)->Flush().ok());
  }
  const std::string whole = Contents(path);
  ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(whole.size() - 3)), 0);
  OpenReport report;
  auto file = LogFile::Open(path, -1, &report);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(report.repaired_bytes, Doc(2).size() - 3);
  EXPECT_TRUE(report.set_aside.empty());
  (*file)->Append(Doc(3));
  ASSERT_TRUE((*file)->Flush().ok());
  EXPECT_EQ(Contents(path), Doc(1) + Doc(3));
}

TEST(LogFileTest, VerifiedSizeSkipsTheScan) {
  const std::string path = TestPath("verified");
  {
    OpenReport report;
    auto file = LogFile::Open(path, -1, &report);
    ASSERT_TRUE(file.ok());
    (*file)->Append(Doc(1));
    ASSERT_TRUE((*file)->Flush().ok());
  }
  // A torn tail that the verified size does not match is still repaired.
  std::ofstream(path, std::ios::binary | std::ios::app) << "xx";
  OpenReport report;
  auto file = LogFile::Open(path, static_cast<off_t>(Doc(1).size()), &report);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(report.repaired_bytes, 2u);
}

TEST(LogFileTest, DamageInsideIsSetAsideWhole) {
  const std::string path = TestPath("damage");
  {
    OpenReport report;
    ASSERT_TRUE(LogFile::Open(path, -1, &report).ok());
  }
  const std::string damaged = Doc(1) + std::string(8, '\xee') + Doc(2);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << damaged;
  OpenReport report;
  auto file = LogFile::Open(path, -1, &report);
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE(absl::StrContains(report.set_aside, ".corrupt-"));
  EXPECT_EQ(Contents(report.set_aside), damaged);
  EXPECT_EQ(Contents(path), "");
}

TEST(LogFileTest, MovePendingToKeepsRecords) {
  OpenReport report;
  auto a = LogFile::Open(TestPath("move_a"), -1, &report);
  auto b = LogFile::Open(TestPath("move_b"), -1, &report);
  ASSERT_TRUE(a.ok() && b.ok());
  (*a)->Append(Doc(1));
  (*a)->Append(Doc(2));
  (*a)->MovePendingTo(b->get());
  EXPECT_EQ((*a)->pending_records(), 0u);
  EXPECT_EQ((*b)->pending_records(), 2u);
  ASSERT_TRUE((*b)->Flush().ok());
  EXPECT_EQ(Contents(TestPath("move_b")), Doc(1) + Doc(2));
}

TEST(LogFileTest, WriteFailureKeepsRecordsAndAsksForRepair) {
  // /dev/full accepts open() and fails every write() with ENOSPC.
  OpenReport report;
  auto file = LogFile::Open("/dev/full", -1, &report);
  if (!file.ok()) GTEST_SKIP() << "no /dev/full: " << file.status();
  (*file)->Append(Doc(1));
  const absl::Status status = (*file)->Flush();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_TRUE((*file)->needs_repair());
  EXPECT_EQ((*file)->pending_records(), 1u);
  EXPECT_EQ((*file)->last_flushed_records(), 0u);
}

}  // namespace
}  // namespace ziggy
