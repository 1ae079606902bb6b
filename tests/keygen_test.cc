// `ziggyctl keygen` as a real process: the files it writes, their modes
// whatever the umask, and that the key loaders accept them.

#include <stdlib.h>
#include <sys/stat.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "client/net/curve_key.h"
#include "gtest/gtest.h"
#include "tests/process.h"

namespace ziggy {
namespace {

using testing::RunCommand;
using testing::RunfilesPath;
using testing::TempDir;

int ModeOf(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777)
                                      : -1;
}

// Runs `ziggyctl keygen path` under `mask`; its exit code, stdout, stderr.
int Keygen(const std::string& path, mode_t mask, std::string* out,
           std::string* err) {
  const mode_t previous = umask(mask);  // the child inherits it
  const int code =
      RunCommand({RunfilesPath("ctl/ziggyctl"), "keygen", path}, out, err);
  umask(previous);
  return code;
}

TEST(KeygenTest, WritesAPairTheLoadersAcceptWhateverTheUmask) {
  const std::string dir = TempDir("keygen");
  for (const mode_t mask : {0000, 0077}) {
    const std::string path = absl::StrCat(dir, "/central", mask, ".key");
    std::string out, err;
    ASSERT_EQ(Keygen(path, mask, &out, &err), 0) << err;
    EXPECT_EQ(err, "");
    EXPECT_EQ(ModeOf(path), 0600);
    EXPECT_EQ(ModeOf(path + ".pub"), 0644);
    absl::StatusOr<CurveKeyPair> pair = LoadSecretKey(path);
    ASSERT_TRUE(pair.ok()) << pair.status();
    absl::StatusOr<CurvePublicKey> written = LoadPublicKey(path + ".pub");
    ASSERT_TRUE(written.ok()) << written.status();
    EXPECT_EQ(pair->public_key(), *written);
    EXPECT_NE(out.find(path + ".pub\n" + written->z85() + "\n"),
              std::string::npos)
        << out;
    EXPECT_EQ(out.find(pair->secret_z85()), std::string::npos);
  }
}

TEST(KeygenTest, RefusesAnExistingKeyAndAMissingDirectory) {
  const std::string dir = TempDir("keygen");
  std::string out, err;
  ASSERT_EQ(Keygen(dir + "/key", 022, &out, &err), 0) << err;
  const std::string first = LoadSecretKey(dir + "/key")->secret_z85();
  EXPECT_EQ(Keygen(dir + "/key", 022, &out, &err), 1);
  EXPECT_EQ(out, "");
  EXPECT_EQ(err, "ziggyctl keygen: key file " + dir +
                     "/key already exists; keys are never overwritten "
                     "(remove it first to replace it)\n");
  EXPECT_EQ(LoadSecretKey(dir + "/key")->secret_z85(), first);
  EXPECT_EQ(Keygen(dir + "/none/key", 022, &out, &err), 1);
  EXPECT_EQ(err, "ziggyctl keygen: cannot create " + dir +
                     "/none/key: No such file or directory\n");
}

// Under `bazel run` a relative PATH is the caller's, not the runfiles'.
TEST(KeygenTest, ARelativePathIsTheCallersUnderBazelRun) {
  const std::string dir = TempDir("keygen");
  ASSERT_EQ(setenv("BUILD_WORKING_DIRECTORY", dir.c_str(), 1), 0);
  std::string out, err;
  const int code = Keygen("relative.key", 022, &out, &err);
  unsetenv("BUILD_WORKING_DIRECTORY");
  ASSERT_EQ(code, 0) << err;
  EXPECT_EQ(ModeOf(dir + "/relative.key"), 0600);
  EXPECT_TRUE(LoadSecretKey(dir + "/relative.key").ok());
}

}  // namespace
}  // namespace ziggy
