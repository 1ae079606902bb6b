#include "common/durable_file.h"

#include <sys/stat.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/fault_file_system.h"
#include "common/file_system.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

std::string TestDir(const std::string& name) {
  const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  EXPECT_TRUE(MakeDirectories(dir).ok());
  return dir;
}

TEST(DurableFileTest, ReplacesTheFileWithTheGivenMode) {
  const std::string dir = TestDir("replace");
  ASSERT_TRUE(ReplaceFileDurably(dir, "mark", "one").ok());
  ASSERT_TRUE(ReplaceFileDurably(dir, "mark", "two", 0600).ok());
  EXPECT_EQ(ReadFileOrEmpty(dir + "/mark"), "two");
  ASSERT_TRUE(ReplaceFileDurably(dir, "secret", "s", 0600).ok());
  struct stat st;
  ASSERT_EQ(stat((dir + "/secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(DurableFileTest, MakeDirectoriesAndReadFileOrEmpty) {
  const std::string dir = TestDir("mkdir") + "/a/b/c";
  ASSERT_TRUE(MakeDirectories(dir).ok());
  ASSERT_TRUE(MakeDirectories(dir).ok());  // already there
  EXPECT_EQ(ReadFileOrEmpty(dir + "/missing"), "");
  ASSERT_TRUE(ReplaceFileDurably(dir, "f", "x").ok());
  // A file in the way of a directory is an error.
  EXPECT_FALSE(MakeDirectories(dir + "/f/g").ok());
}

// Each fault of the atomic replace leaves the old contents in place and is
// reported with its canonical code; a crash afterwards keeps them too.
struct ReplaceFault {
  const char* name;
  Fault fault;
  absl::StatusCode code;
};

class ReplaceFaultTest : public testing::TestWithParam<ReplaceFault> {};

TEST_P(ReplaceFaultTest, LeavesTheOldFileIntact) {
  const std::string dir = TestDir(GetParam().name);
  FaultFileSystem fs;
  ASSERT_TRUE(ReplaceFileDurably(dir, "state", "old", 0644, &fs).ok());
  fs.Inject(GetParam().fault);
  const absl::Status status =
      ReplaceFileDurably(dir, "state", "new contents", 0644, &fs);
  EXPECT_EQ(status.code(), GetParam().code) << status;
  EXPECT_EQ(fs.injected(), 1);
  EXPECT_EQ(ReadFileOrEmpty(dir + "/state"), "old");
  ASSERT_TRUE(fs.SimulateCrash().ok());
  EXPECT_EQ(ReadFileOrEmpty(dir + "/state"), "old");
  // The disk recovers: the next replace goes through.
  ASSERT_TRUE(ReplaceFileDurably(dir, "state", "new", 0644, &fs).ok());
  EXPECT_EQ(ReadFileOrEmpty(dir + "/state"), "new");
}

Fault Make(FaultOp op, int error, size_t write_first = 0) {
  Fault fault;
  fault.op = op;
  fault.error = error;
  fault.write_first = write_first;
  return fault;
}

INSTANTIATE_TEST_SUITE_P(
    Faults, ReplaceFaultTest,
    testing::Values(ReplaceFault{"rename_eio", Make(FaultOp::kRename, EIO),
                                 absl::StatusCode::kUnavailable},
                    ReplaceFault{"sync_eio", Make(FaultOp::kSync, EIO),
                                 absl::StatusCode::kUnavailable},
                    ReplaceFault{"write_enospc", Make(FaultOp::kAppend, ENOSPC),
                                 absl::StatusCode::kResourceExhausted},
                    ReplaceFault{"short_write",
                                 Make(FaultOp::kAppend, ENOSPC, 4),
                                 absl::StatusCode::kResourceExhausted}),
    [](const testing::TestParamInfo<ReplaceFault>& info) {
      return std::string(info.param.name);
    });

TEST(DurableFileTest, AReplacedFileSurvivesACrash) {
  const std::string dir = TestDir("crash");
  FaultFileSystem fs;
  ASSERT_TRUE(ReplaceFileDurably(dir, "state", "durable", 0644, &fs).ok());
  ASSERT_TRUE(fs.SimulateCrash().ok());
  EXPECT_EQ(ReadFileOrEmpty(dir + "/state"), "durable");
}

TEST(FaultFileSystemTest, CrashKeepsOnlySyncedBytesAndZeroesFailedOnes) {
  const std::string path = TestDir("fault_fs") + "/f";
  FaultFileSystem fs;
  auto file = fs.Open(path, OpenOptions::Append(/*create=*/true));
  ASSERT_TRUE(file.ok());
  size_t written;
  ASSERT_TRUE((*file)->Append("aaaa", &written).ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Append("bbbb", &written).ok());
  fs.Inject(Make(FaultOp::kSync, EIO));
  EXPECT_FALSE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Append("cccc", &written).ok());
  ASSERT_TRUE((*file)->Sync().ok());  // Linux: the failed pages stay lost
  ASSERT_TRUE((*file)->Append("dddd", &written).ok());
  // A short write: part of the data reaches the file.
  fs.Inject(Make(FaultOp::kAppend, ENOSPC, 2));
  EXPECT_EQ((*file)->Append("eeee", &written).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(written, 2u);
  EXPECT_EQ(ReadFileOrEmpty(path), "aaaabbbbccccddddee");
  ASSERT_TRUE(fs.SimulateCrash().ok());
  EXPECT_EQ(ReadFileOrEmpty(path), "aaaa" + std::string(4, '\0') + "cccc");
}

}  // namespace
}  // namespace ziggy
