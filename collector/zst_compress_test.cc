// CompressFileDurably and its start-up counterpart ResolveTwin: the output
// decompresses (with libzstd here, not our code) to exactly the original,
// and a failure at every step leaves the original, or the original and a
// whole .zst, never neither and never a .tmp.

#include "collector/zst_compress.h"

#include <sys/stat.h>
#include <zstd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collector/lifecycle_testing.h"
#include "common/fault_file_system.h"
#include "gtest/gtest.h"

namespace ziggy::testing {
namespace {

// Event-like bytes: repetitive enough to compress, varied enough to matter.
std::string Sample(size_t bytes, int seed = 1) {
  std::mt19937 rng(seed);
  std::string out;
  while (out.size() < bytes) {
    absl::StrAppend(&out, "{type: request, host: web", rng() % 20,
                    ", ms: ", rng() % 100000, ", path: /api/v", rng() % 3, "}");
  }
  out.resize(bytes);
  return out;
}

// A FaultFileSystem that can also fail unlink() and a directory's fsync():
// the steps FaultOp has no name for.
class StepFaultFileSystem : public FaultFileSystem {
 public:
  int fail_remove = -1;    // the Nth Remove() (0-based) fails
  int fail_dir_sync = -1;  // the Nth SyncDirectory() fails
  absl::Status Remove(const std::string& path) override {
    if (removes_++ == fail_remove) return absl::UnavailableError("injected");
    return FaultFileSystem::Remove(path);
  }
  absl::Status SyncDirectory(const std::string& dir) override {
    if (dir_syncs_++ == fail_dir_sync) {
      return absl::UnavailableError("injected");
    }
    return FaultFileSystem::SyncDirectory(dir);
  }

 private:
  int removes_ = 0, dir_syncs_ = 0;
};

// The names in `dir` that ResolveTwin() set `name`'s .zst aside as.
std::vector<std::string> ConflictFiles(const std::string& dir,
                                       const std::string& name) {
  std::vector<std::string> found;
  absl::StatusOr<std::vector<std::string>> names =
      FileSystem::Default()->ListDirectory(dir);
  for (const std::string& entry : names.value_or(std::vector<std::string>{})) {
    if (absl::StartsWith(entry, name + ".zst.conflict-")) {
      found.push_back(entry);
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

CompressOptions SmallChunks(FileSystem* fs) {
  CompressOptions options;
  options.fs = fs;
  options.chunk_bytes = 4096;  // many chunks, many frames' worth of calls
  return options;
}

TEST(ZstCompressTest, OutputDecompressesToTheOriginalBytes) {
  const std::string dir = TestDir("round_trip");
  for (const size_t size :
       {size_t{0}, size_t{1}, size_t{4096}, size_t{300000}}) {
    const std::string path = absl::StrCat(dir, "/t-", size, ".log");
    const std::string original = Sample(size);
    Write(path, original);
    absl::StatusOr<CompressedFile> done =
        CompressFileDurably(path, SmallChunks(FileSystem::Default()));
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_FALSE(Exists(path));
    EXPECT_FALSE(Exists(path + ".zst.tmp"));
    const std::string zst = Contents(path + ".zst");
    EXPECT_EQ(Decompress(zst), original) << size;
    EXPECT_EQ(done->original_bytes, size);
    EXPECT_EQ(done->compressed_bytes, zst.size());
    if (size == 300000) {
      EXPECT_LT(zst.size(), size / 3);
    }
  }
}

// What a failure at `step` must leave: the original whole, and either no
// .zst or one that decompresses to it; never a .tmp.
void ExpectOriginalOrBoth(const std::string& path, const std::string& original,
                          bool want_zst, const std::string& step) {
  EXPECT_FALSE(Exists(path + ".zst.tmp")) << step;
  ASSERT_TRUE(Exists(path)) << step;
  EXPECT_EQ(Contents(path), original) << step;
  EXPECT_EQ(Exists(path + ".zst"), want_zst) << step;
  if (Exists(path + ".zst")) {
    EXPECT_EQ(Decompress(Contents(path + ".zst")), original) << step;
  }
}

TEST(ZstCompressTest, AFailureAtEveryStepLeavesTheOriginalOrBoth) {
  const std::string dir = TestDir("faults");
  const std::string original = Sample(50000);
  struct Step {
    std::string name;
    std::function<void(StepFaultFileSystem*)> inject;
    bool leaves_zst;
  };
  auto on_tmp = [](FaultOp op) {
    return [op](StepFaultFileSystem* fs) {
      Fault fault;
      fault.op = op;
      fault.error = op == FaultOp::kAppend ? ENOSPC : EIO;
      fault.path_contains = ".zst.tmp";
      fault.skip = op == FaultOp::kAppend ? 2 : 0;  // a half-written .tmp
      fs->Inject(fault);
    };
  };
  const Step steps[] = {
      {"write", on_tmp(FaultOp::kAppend), false},
      {"fsync", on_tmp(FaultOp::kSync), false},
      {"verify", on_tmp(FaultOp::kRead), false},
      {"rename", on_tmp(FaultOp::kRename), false},
      {"dir sync after rename",
       [](StepFaultFileSystem* fs) { fs->fail_dir_sync = 0; }, true},
      {"unlink", [](StepFaultFileSystem* fs) { fs->fail_remove = 0; }, true},
  };
  int n = 0;
  for (const Step& step : steps) {
    const std::string path = absl::StrCat(dir, "/step", n++, ".log");
    Write(path, original);
    StepFaultFileSystem fs;
    step.inject(&fs);
    absl::StatusOr<CompressedFile> done =
        CompressFileDurably(path, SmallChunks(&fs));
    EXPECT_FALSE(done.ok()) << step.name;
    ExpectOriginalOrBoth(path, original, step.leaves_zst, step.name);
    if (step.leaves_zst) {  // the next start settles it: the .zst stays
      bool kept_zst = false;
      ASSERT_TRUE(
          ResolveTwin(path, SmallChunks(FileSystem::Default()), &kept_zst)
              .ok());
      EXPECT_TRUE(kept_zst);
      EXPECT_FALSE(Exists(path));
      EXPECT_EQ(Decompress(Contents(path + ".zst")), original);
    }
  }
}

TEST(ZstCompressTest, TheLastDirectorySyncFailingLeavesTheZst) {
  const std::string path = TestDir("last_sync") + "/a.log";
  const std::string original = Sample(10000);
  Write(path, original);
  StepFaultFileSystem fs;
  fs.fail_dir_sync = 1;
  EXPECT_FALSE(CompressFileDurably(path, SmallChunks(&fs)).ok());
  EXPECT_FALSE(Exists(path));
  EXPECT_EQ(Decompress(Contents(path + ".zst")), original);
}

TEST(ZstCompressTest, StoppingLeavesTheOriginalAndNoTmp) {
  const std::string path = TestDir("stop") + "/a.log";
  const std::string original = Sample(100000);
  Write(path, original);
  CompressOptions options = SmallChunks(FileSystem::Default());
  int chunks = 0;
  options.stop = [&chunks] { return ++chunks > 5; };
  absl::StatusOr<CompressedFile> done = CompressFileDurably(path, options);
  EXPECT_TRUE(absl::IsCancelled(done.status())) << done.status();
  ExpectOriginalOrBoth(path, original, false, "stop");
}

TEST(ZstCompressTest, VerifyFindsADifferenceAndATruncatedCopy) {
  const std::string dir = TestDir("verify");
  const std::string original = Sample(20000);
  Write(dir + "/a.log", original);
  ASSERT_TRUE(
      CompressFileDurably(dir + "/a.log", SmallChunks(FileSystem::Default()))
          .ok());
  const CompressOptions options = SmallChunks(FileSystem::Default());
  Write(dir + "/a.log", original);
  EXPECT_TRUE(
      VerifyCompressed(dir + "/a.log.zst", dir + "/a.log", options).ok());
  Write(dir + "/b.log", original + "x");
  EXPECT_TRUE(absl::IsDataLoss(
      VerifyCompressed(dir + "/a.log.zst", dir + "/b.log", options)));
  const std::string zst = Contents(dir + "/a.log.zst");
  Write(dir + "/half.zst", zst.substr(0, zst.size() / 2));
  EXPECT_TRUE(absl::IsDataLoss(
      VerifyCompressed(dir + "/half.zst", dir + "/a.log", options)));
}

TEST(ZstCompressTest, ResolveTwinKeepsTheOriginalWhenTheZstDiffers) {
  const std::string dir = TestDir("twin");
  const std::string original = Sample(20000);
  Write(dir + "/a.log", original);
  ASSERT_TRUE(
      CompressFileDurably(dir + "/a.log", SmallChunks(FileSystem::Default()))
          .ok());
  // Rolled back or grown since: the original is what counts.
  Write(dir + "/a.log", original.substr(0, 100));
  bool kept_zst = true;
  ASSERT_TRUE(
      ResolveTwin(dir + "/a.log", SmallChunks(FileSystem::Default()), &kept_zst)
          .ok());
  EXPECT_FALSE(kept_zst);
  EXPECT_FALSE(Exists(dir + "/a.log.zst"));
  EXPECT_EQ(Contents(dir + "/a.log"), original.substr(0, 100));
  // The .zst is set aside whole, under a name no reader takes.
  const std::vector<std::string> conflicts = ConflictFiles(dir, "a.log");
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_EQ(Decompress(Contents(dir + "/" + conflicts[0])), original);
}

// The writer appended to a day after its file was compressed: the original
// is a prefix-extension of the .zst's contents. Neither may go: the .zst
// is set aside (bytes intact), the original stays, and a second conflict of
// the same file in the same second takes another name.
TEST(ZstCompressTest, ResolveTwinNeverDeletesADifferingZst) {
  const std::string dir = TestDir("twin_grown");
  const std::string path = dir + "/a.log";
  const std::string original = Sample(20000);
  const CompressOptions options = SmallChunks(FileSystem::Default());
  std::vector<std::string> zsts;
  for (int round = 0; round < 2; ++round) {
    Write(path, original);
    ASSERT_TRUE(CompressFileDurably(path, options).ok());
    zsts.push_back(Contents(path + ".zst"));
    Write(path, original + "appended later");
    bool kept_zst = true;
    std::string set_aside;
    ASSERT_TRUE(ResolveTwin(path, options, &kept_zst, &set_aside).ok());
    EXPECT_FALSE(kept_zst);
    EXPECT_FALSE(Exists(path + ".zst"));
    EXPECT_EQ(Contents(path), original + "appended later");
    EXPECT_TRUE(absl::StartsWith(set_aside, path + ".zst.conflict-"))
        << set_aside;
    EXPECT_TRUE(Contents(set_aside) == zsts.back()) << "changed";
  }
  const std::vector<std::string> conflicts = ConflictFiles(dir, "a.log");
  ASSERT_EQ(conflicts.size(), 2u);
  for (const std::string& name : conflicts) {
    EXPECT_EQ(Decompress(Contents(dir + "/" + name)), original) << name;
  }
}

// ziggyd appends to a compressed day again (its clock stepped back): the
// original comes back from the .zst first, whole, and the .zst goes.
TEST(ZstCompressTest, RestoreCompressedTwinBringsTheOriginalBack) {
  const std::string dir = TestDir("restore");
  const CompressOptions options = SmallChunks(FileSystem::Default());
  for (const size_t size : {size_t{0}, size_t{300000}}) {
    const std::string path = absl::StrCat(dir, "/t-", size, ".log");
    const std::string original = Sample(size);
    Write(path, original);
    ASSERT_TRUE(CompressFileDurably(path, options).ok());
    uint64_t restored = 1;
    ASSERT_TRUE(RestoreCompressedTwin(path, options, &restored).ok());
    EXPECT_EQ(restored, size);
    EXPECT_EQ(Contents(path), original) << size;
    EXPECT_FALSE(Exists(path + ".zst"));
    EXPECT_FALSE(Exists(path + ".zst.tmp"));
  }
  // Nothing compressed: nothing to do; both as exact copies: the .zst's
  // events come back once.
  const std::string plain = dir + "/plain.log";
  Write(plain, "abc");
  ASSERT_TRUE(RestoreCompressedTwin(plain, options).ok());
  EXPECT_EQ(Contents(plain), "abc");
  const std::string both = dir + "/both.log";
  Write(both, Sample(5000));
  ASSERT_TRUE(CompressFileDurably(both, options).ok());
  Write(both, Sample(5000));
  ASSERT_TRUE(RestoreCompressedTwin(both, options).ok());
  EXPECT_EQ(Contents(both), Sample(5000));
  EXPECT_FALSE(Exists(both + ".zst"));
}

// A failure at each step of restoring leaves the .zst whole (maybe beside
// an exact original), never neither and never a .tmp; a .zst that does not
// decompress is set aside, not lost, and the original may be started anew.
TEST(ZstCompressTest, RestoreCompressedTwinNeverLosesTheZst) {
  const std::string dir = TestDir("restore_faults");
  const std::string original = Sample(50000);
  for (int step = 0; step < 4; ++step) {
    const std::string path = absl::StrCat(dir, "/step", step, ".log");
    Write(path, original);
    ASSERT_TRUE(
        CompressFileDurably(path, SmallChunks(FileSystem::Default())).ok());
    StepFaultFileSystem fs;
    if (step < 2) {
      Fault fault;
      fault.op = step == 0 ? FaultOp::kAppend : FaultOp::kSync;
      fault.path_contains = ".zst.tmp";
      fs.Inject(fault);
    } else if (step == 2) {
      fs.fail_dir_sync = 0;
    } else {
      fs.fail_remove = 0;
    }
    EXPECT_FALSE(RestoreCompressedTwin(path, SmallChunks(&fs)).ok()) << step;
    EXPECT_FALSE(Exists(path + ".zst.tmp")) << step;
    EXPECT_EQ(Decompress(Contents(path + ".zst")), original) << step;
    if (Exists(path)) {
      EXPECT_EQ(Contents(path), original) << step;
    }
  }
  const std::string damaged = dir + "/damaged.log";
  Write(damaged + ".zst", "\x28\xB5\x2F\xFD not zstd");
  ASSERT_TRUE(
      RestoreCompressedTwin(damaged, SmallChunks(FileSystem::Default())).ok());
  EXPECT_FALSE(Exists(damaged));
  EXPECT_FALSE(Exists(damaged + ".zst"));
  EXPECT_EQ(ConflictFiles(dir, "damaged.log").size(), 1u);
}

}  // namespace
}  // namespace ziggy::testing
