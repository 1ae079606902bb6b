#include "client/net/curve_key.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "zmq.hpp"

namespace ziggy {
namespace {

// A fresh directory under TEST_TMPDIR.
std::string TempDir() {
  const char* root = std::getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(root ? root : "/tmp", "/keysXXXXXX");
  EXPECT_NE(mkdtemp(&pattern[0]), nullptr);
  return pattern;
}

void WriteFile(const std::string& path, const std::string& bytes,
               mode_t mode = 0600) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

std::string ReadFile(const std::string& path) {
  std::ostringstream out;
  out << std::ifstream(path, std::ios::binary).rdbuf();
  return out.str();
}

// The permission bits of `path`, or -1 when it does not exist.
int ModeOf(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return -1;
  return st.st_mode & 07777;
}

bool Exists(const std::string& path) { return ModeOf(path) >= 0; }

CurveKeyPair NewPair() {
  absl::StatusOr<CurveKeyPair> pair = GenerateKeyPair();
  EXPECT_TRUE(pair.ok()) << pair.status();
  return *std::move(pair);
}

// A message that names `path` and shows no key.
void ExpectNamesFileNotKey(const absl::Status& status, const std::string& path,
                           const CurveKeyPair& pair) {
  EXPECT_TRUE(absl::StrContains(status.message(), path)) << status;
  EXPECT_FALSE(
      absl::StrContains(status.message(), pair.secret_z85().substr(0, 10)));
  EXPECT_EQ(status.message().find('\n'), absl::string_view::npos) << status;
}

TEST(CurveKeyTest, CurveZmqIsAvailable) {
  ASSERT_TRUE(zmq_has("curve")) << "the tests below need CurveZMQ";
}

TEST(CurveKeyTest, GeneratedPairsAreFreshAndWellFormed) {
  const CurveKeyPair a = NewPair();
  const CurveKeyPair b = NewPair();
  EXPECT_EQ(a.secret_z85().size(), 40u);
  EXPECT_EQ(a.public_key().z85().size(), 40u);
  EXPECT_NE(a.secret_z85(), b.secret_z85());
  EXPECT_NE(a.public_key(), b.public_key());
  absl::StatusOr<CurveKeyPair> again =
      CurveKeyPair::FromSecretZ85(a.secret_z85());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->public_key(), a.public_key());
}

TEST(CurveKeyTest, WriteThenLoadRoundTrips) {
  const std::string path = TempDir() + "/ziggyd.key";
  const CurveKeyPair pair = NewPair();
  ASSERT_TRUE(WriteKeyPair(pair, path).ok());
  EXPECT_EQ(ReadFile(path), pair.secret_z85() + "\n");
  EXPECT_EQ(ReadFile(path + ".pub"), pair.public_key().z85() + "\n");
  EXPECT_EQ(ModeOf(path), 0600);
  EXPECT_EQ(ModeOf(path + ".pub"), 0644);

  absl::StatusOr<CurveKeyPair> loaded = LoadSecretKey(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->secret_z85(), pair.secret_z85());
  absl::StatusOr<CurvePublicKey> written = LoadPublicKey(path + ".pub");
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(loaded->public_key(), *written);  // derived == written
}

TEST(CurveKeyTest, ModesHoldWhateverTheUmask) {
  const std::string dir = TempDir();
  for (const mode_t mask : {0000, 0022, 0077, 0777}) {
    const std::string path = absl::StrCat(dir, "/key", mask);
    const mode_t previous = umask(mask);
    const absl::Status written = WriteKeyPair(NewPair(), path);
    umask(previous);
    ASSERT_TRUE(written.ok()) << written;
    EXPECT_EQ(ModeOf(path), 0600) << "umask " << mask;
    EXPECT_EQ(ModeOf(path + ".pub"), 0644) << "umask " << mask;
    EXPECT_TRUE(LoadSecretKey(path).ok());
  }
}

TEST(CurveKeyTest, NeverOverwrites) {
  const std::string path = TempDir() + "/key";
  const CurveKeyPair first = NewPair();
  ASSERT_TRUE(WriteKeyPair(first, path).ok());
  const absl::Status again = WriteKeyPair(NewPair(), path);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  EXPECT_TRUE(absl::StrContains(again.message(), "already exists")) << again;
  EXPECT_EQ(ReadFile(path), first.secret_z85() + "\n");

  // Only the public file is there: nothing is written either.
  const std::string other = TempDir() + "/key";
  WriteFile(other + ".pub", "mine\n", 0644);
  const absl::Status pub = WriteKeyPair(NewPair(), other);
  EXPECT_EQ(pub.code(), absl::StatusCode::kAlreadyExists) << pub;
  EXPECT_TRUE(absl::StrContains(pub.message(), other + ".pub")) << pub;
  EXPECT_FALSE(Exists(other));
  EXPECT_EQ(ReadFile(other + ".pub"), "mine\n");
}

TEST(CurveKeyTest, UnwritableDirectoryLeavesNothing) {
  const std::string missing = TempDir() + "/no/such/dir/key";
  const absl::Status s = WriteKeyPair(NewPair(), missing);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), missing)) << s;

  const std::string file = TempDir() + "/plain";
  WriteFile(file, "x");
  const absl::Status not_dir = WriteKeyPair(NewPair(), file + "/key");
  EXPECT_FALSE(not_dir.ok());
  EXPECT_FALSE(Exists(file + "/key"));
}

TEST(CurveKeyTest, RefusesASecretOthersMayAccess) {
  const std::string path = TempDir() + "/key";
  const CurveKeyPair pair = NewPair();
  ASSERT_TRUE(WriteKeyPair(pair, path).ok());
  for (const mode_t mode : {0640, 0604, 0620, 0602, 0660, 0644, 0666, 0610}) {
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
    const absl::StatusOr<CurveKeyPair> loaded = LoadSecretKey(path);
    ASSERT_FALSE(loaded.ok()) << std::oct << mode;
    const absl::Status& s = loaded.status();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), absl::StrFormat("%04o", mode)))
        << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "chmod 600 " + path)) << s;
    ExpectNamesFileNotKey(s, path, pair);
  }
  for (const mode_t mode : {0400, 0600, 0700}) {
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
    EXPECT_TRUE(LoadSecretKey(path).ok()) << std::oct << mode;
  }
}

TEST(CurveKeyTest, RefusesMalformedKeyFiles) {
  const std::string dir = TempDir();
  const CurveKeyPair pair = NewPair();
  const std::string key = pair.secret_z85();
  std::string bad_char = key;
  bad_char[7] = '~';  // printable, not Z85
  const std::string cases[] = {
      "",
      "\n",
      key.substr(0, 39) + "\n",
      key + "x\n",
      key + "\n\n",
      key + "\r\n",
      key + " \n",
      " " + key,
      key + "\n" + key + "\n",
      bad_char + "\n",
      std::string(40, '#') + "\n",  // Z85 alphabet, but above 2^32 per group
      std::string(4096, 'a'),
  };
  int i = 0;
  for (const std::string& content : cases) {
    const std::string path = absl::StrCat(dir, "/bad", i++);
    WriteFile(path, content);
    const absl::StatusOr<CurveKeyPair> secret = LoadSecretKey(path);
    ASSERT_FALSE(secret.ok()) << "case " << i;
    EXPECT_EQ(secret.status().code(), absl::StatusCode::kInvalidArgument)
        << secret.status();
    ExpectNamesFileNotKey(secret.status(), path, pair);
    const absl::StatusOr<CurvePublicKey> pub = LoadPublicKey(path);
    ASSERT_FALSE(pub.ok()) << "case " << i;
    EXPECT_EQ(pub.status().code(), absl::StatusCode::kInvalidArgument);
    ExpectNamesFileNotKey(pub.status(), path, pair);
  }
  WriteFile(dir + "/bad_char", bad_char);
  EXPECT_TRUE(
      absl::StrContains(LoadSecretKey(dir + "/bad_char").status().message(),
                        "character 8 is not in the Z85 alphabet"));
}

TEST(CurveKeyTest, AcceptsAKeyWithoutItsNewline) {
  const std::string path = TempDir() + "/key";
  const CurveKeyPair pair = NewPair();
  WriteFile(path, pair.secret_z85());
  absl::StatusOr<CurveKeyPair> loaded = LoadSecretKey(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->public_key(), pair.public_key());
}

TEST(CurveKeyTest, RefusesMissingFilesAndNonFiles) {
  const std::string dir = TempDir();
  EXPECT_EQ(LoadSecretKey(dir + "/none").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadPublicKey(dir + "/none.pub").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_EQ(chmod(dir.c_str(), 0700), 0);
  EXPECT_EQ(LoadSecretKey(dir).status().code(),
            absl::StatusCode::kFailedPrecondition);
  const std::string fifo = dir + "/fifo.pub";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(LoadPublicKey(fifo).status().code(),  // and does not hang
            absl::StatusCode::kFailedPrecondition);
}

TEST(CurveKeyTest, DirectoryLoadingSkipsBadFiles) {
  const std::string dir = TempDir();
  const CurveKeyPair a = NewPair(), c = NewPair(), other = NewPair();
  WriteFile(dir + "/a.pub", a.public_key().z85() + "\n", 0644);
  WriteFile(dir + "/b.pub", "not a key\n", 0644);
  WriteFile(dir + "/c.pub", c.public_key().z85(), 0644);
  WriteFile(dir + "/d.txt", other.public_key().z85() + "\n", 0644);
  WriteFile(dir + "/e.pub~", other.public_key().z85() + "\n", 0644);
  ASSERT_EQ(symlink("/nonexistent/key.pub", (dir + "/f.pub").c_str()), 0);
  ASSERT_EQ(mkdir((dir + "/g.pub").c_str(), 0700), 0);

  absl::StatusOr<PublicKeyDirectory> found = LoadPublicKeyDirectory(dir);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->keys.size(), 2u);
  EXPECT_EQ(found->keys[0].path, dir + "/a.pub");
  EXPECT_EQ(found->keys[0].key, a.public_key());
  EXPECT_EQ(found->keys[1].path, dir + "/c.pub");
  EXPECT_EQ(found->keys[1].key, c.public_key());
  ASSERT_EQ(found->skipped.size(), 3u);
  const std::string skipped[] = {"/b.pub", "/f.pub", "/g.pub"};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(found->skipped[i].path, dir + skipped[i]);
    EXPECT_TRUE(absl::StrContains(found->skipped[i].reason, skipped[i]))
        << found->skipped[i].reason;
  }
  EXPECT_TRUE(absl::StrContains(found->skipped[0].reason, "40 Z85"));

  EXPECT_EQ(LoadPublicKeyDirectory(dir + "/missing").status().code(),
            absl::StatusCode::kNotFound);
}

// A REP socket on tcp://127.0.0.1:* that is a CurveZMQ server with `server`
// as its key pair, set up with plain cppzmq calls (socket_test.cc covers
// MakeSocket's).
class CurveServer {
 public:
  explicit CurveServer(const CurveKeyPair& server)
      : socket_(context_, zmq::socket_type::rep) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::rcvtimeo, 500);
    socket_.set(zmq::sockopt::curve_server, 1);
    socket_.set(zmq::sockopt::curve_secretkey, server.secret_z85());
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
  }

  // Sends "ping" from a client with `client` that trusts `server_key` and
  // answers it if it arrives. Returns the reply the client got, or "".
  std::string Ping(const CurveKeyPair& client, const CurvePublicKey& server_key,
                   int timeout_ms) {
    zmq::socket_t req(context_, zmq::socket_type::req);
    req.set(zmq::sockopt::linger, 0);
    req.set(zmq::sockopt::rcvtimeo, timeout_ms);
    req.set(zmq::sockopt::sndtimeo, timeout_ms);
    req.set(zmq::sockopt::curve_serverkey, server_key.z85());
    req.set(zmq::sockopt::curve_publickey, client.public_key().z85());
    req.set(zmq::sockopt::curve_secretkey, client.secret_z85());
    req.connect(endpoint_);
    if (!req.send(zmq::str_buffer("ping"))) return "";
    socket_.set(zmq::sockopt::rcvtimeo, timeout_ms);
    zmq::message_t request;
    if (socket_.recv(request)) {
      received_ = request.to_string();
      socket_.send(zmq::str_buffer("pong"));
    }
    zmq::message_t reply;
    return req.recv(reply) ? reply.to_string() : "";
  }

  const std::string& received() const { return received_; }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
  std::string endpoint_;
  std::string received_;
};

TEST(CurveKeyTest, LoadedKeysHandshake) {
  const std::string path = TempDir() + "/server.key";
  ASSERT_TRUE(WriteKeyPair(NewPair(), path).ok());
  absl::StatusOr<CurveKeyPair> server = LoadSecretKey(path);
  absl::StatusOr<CurvePublicKey> server_public = LoadPublicKey(path + ".pub");
  ASSERT_TRUE(server.ok() && server_public.ok());

  CurveServer daemon(*server);
  EXPECT_EQ(daemon.Ping(NewPair(), *server_public, 10000), "pong");
  EXPECT_EQ(daemon.received(), "ping");
}

TEST(CurveKeyTest, AWrongServerKeyGetsNothingAndDoesNotHang) {
  const CurveKeyPair server = NewPair();
  CurveServer daemon(server);
  const absl::Time start = absl::Now();
  EXPECT_EQ(daemon.Ping(NewPair(), NewPair().public_key(), 500), "");
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(daemon.received(), "");
  // The same server answers a client with its real key.
  EXPECT_EQ(daemon.Ping(NewPair(), server.public_key(), 10000), "pong");
}

}  // namespace
}  // namespace ziggy
