#include "client/net/curve_key.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "zmq.h"

namespace ziggy {
namespace {

constexpr size_t kZ85KeyLength = 40;
constexpr size_t kKeyBytes = 32;
// The most of a key file read: enough to tell a key and its newline from a
// longer file without reading whatever a wrong path points at.
constexpr size_t kMaxKeyFileBytes = 64;
constexpr absl::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    ".-:+=^!/*?&<>()[]{}@%$#";
constexpr absl::string_view kNoCurve =
    "CurveZMQ is not available: this libzmq was built without it "
    "(zmq_has(\"curve\") is false)";

// Overwrites memory that held a secret so that it does not linger.
void Wipe(void* data, size_t size) { explicit_bzero(data, size); }
void Wipe(std::string& s) { Wipe(&s[0], s.size()); }

// Why `z85` is not a Z85-encoded key; "" when it is. Never quotes it.
std::string Z85KeyProblem(absl::string_view z85) {
  if (z85.size() != kZ85KeyLength) {
    return absl::StrCat("expected one line of 40 Z85 characters, found ",
                        z85.size(), " characters");
  }
  for (size_t i = 0; i < z85.size(); ++i) {
    if (kZ85Alphabet.find(z85[i]) == absl::string_view::npos) {
      return absl::StrCat("character ", i + 1, " is not in the Z85 alphabet");
    }
  }
  char text[kZ85KeyLength + 1];
  memcpy(text, z85.data(), kZ85KeyLength);
  text[kZ85KeyLength] = '\0';
  uint8_t bytes[kKeyBytes];
  const bool decoded = zmq_z85_decode(bytes, text) != nullptr;
  Wipe(text, sizeof(text));
  Wipe(bytes, sizeof(bytes));
  return decoded ? "" : "not a Z85 encoding of 32 bytes";
}

// An open file descriptor, closed when this goes out of scope.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::Status CheckSecretMode(const std::string& path, mode_t mode) {
  if ((mode & 077) == 0) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrFormat(
      "secret key file %s has mode %04o: group or others may access it; run "
      "chmod 600 %s",
      path, mode & 07777, path));
}

absl::Status MalformedKeyFile(const std::string& path,
                              absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("key file ", path, ": ", problem));
}

// The content of `fd`, which a key file keeps under kMaxKeyFileBytes.
absl::StatusOr<std::string> ReadHead(int fd, const std::string& path) {
  std::string content(kMaxKeyFileBytes + 1, '\0');
  size_t size = 0;
  while (size < content.size()) {
    const ssize_t n = read(fd, &content[size], content.size() - size);
    if (n == 0) break;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      Wipe(content);
      return absl::ErrnoToStatus(error, absl::StrCat("cannot read ", path));
    }
    size += static_cast<size_t>(n);
  }
  content.resize(size);
  if (size > kMaxKeyFileBytes) {
    Wipe(content);
    return MalformedKeyFile(
        path, absl::StrCat("expected one line of 40 Z85 characters, found "
                           "more than ",
                           kMaxKeyFileBytes, " bytes"));
  }
  return content;
}

// The start of the key file `path`; a `secret` one only if its owner alone
// may access it.
absl::StatusOr<std::string> ReadKeyFile(const std::string& path, bool secret) {
  // O_NONBLOCK: a FIFO named like a key must not hang the caller.
  const ScopedFd fd(
      open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", path));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot stat ", path));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("key file ", path, " is not a regular file"));
  }
  if (secret) {
    if (absl::Status mode = CheckSecretMode(path, st.st_mode); !mode.ok()) {
      return mode;
    }
  }
  return ReadHead(fd.get(), path);
}

// A key file's content without its one optional newline.
absl::string_view KeyText(absl::string_view content) {
  if (absl::EndsWith(content, "\n")) content.remove_suffix(1);
  return content;
}

absl::Status CreateError(const std::string& path, int error) {
  if (error == EEXIST) {
    return absl::AlreadyExistsError(
        absl::StrCat("key file ", path,
                     " already exists; keys are never overwritten (remove it "
                     "first to replace it)"));
  }
  return absl::ErrnoToStatus(error, absl::StrCat("cannot create ", path));
}

absl::Status WriteAll(int fd, absl::string_view bytes,
                      const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", path));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Creates `path` (never replacing a file) with exactly `mode` and `bytes`,
// synced. The file is created with no more than `mode` (the umask may only
// narrow it), then set to `mode`. On failure nothing is left at `path`.
absl::Status CreateFileWithMode(const std::string& path,
                                absl::string_view bytes, mode_t mode) {
  const int fd = open(
      path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return CreateError(path, errno);
  absl::Status status = absl::OkStatus();
  if (fchmod(fd, mode) != 0) {
    status = absl::ErrnoToStatus(errno, absl::StrCat("cannot chmod ", path));
  }
  if (status.ok()) status = WriteAll(fd, bytes, path);
  if (status.ok() && fsync(fd) != 0) {
    status = absl::ErrnoToStatus(errno, absl::StrCat("cannot sync ", path));
  }
  if (close(fd) != 0 && status.ok()) {
    status = absl::ErrnoToStatus(errno, absl::StrCat("cannot close ", path));
  }
  if (!status.ok()) unlink(path.c_str());
  return status;
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  return absl::EndsWith(dir, "/") ? dir + name : absl::StrCat(dir, "/", name);
}

// The names of `dir`'s entries that end in ".pub", sorted.
absl::StatusOr<std::vector<std::string>> ListPublicKeyNames(
    const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot list key directory ", dir));
  }
  std::vector<std::string> names;
  errno = 0;
  while (const struct dirent* entry = readdir(d)) {
    if (absl::EndsWith(entry->d_name, ".pub")) names.push_back(entry->d_name);
  }
  const int error = errno;
  closedir(d);
  if (error != 0) {
    return absl::ErrnoToStatus(error,
                               absl::StrCat("cannot list key directory ", dir));
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

absl::StatusOr<CurvePublicKey> CurvePublicKey::FromZ85(absl::string_view z85) {
  if (std::string problem = Z85KeyProblem(z85); !problem.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a CurveZMQ public key: ", problem));
  }
  return CurvePublicKey(std::string(z85));
}

absl::StatusOr<CurveKeyPair> CurveKeyPair::FromSecretZ85(
    absl::string_view z85) {
  if (!zmq_has("curve")) return absl::UnimplementedError(kNoCurve);
  if (std::string problem = Z85KeyProblem(z85); !problem.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a CurveZMQ secret key: ", problem));
  }
  char secret[kZ85KeyLength + 1];
  memcpy(secret, z85.data(), kZ85KeyLength);
  secret[kZ85KeyLength] = '\0';
  char public_z85[kZ85KeyLength + 1];
  const int derived = zmq_curve_public(public_z85, secret);
  Wipe(secret, sizeof(secret));
  if (derived != 0) {
    return absl::InternalError(
        absl::StrCat("zmq_curve_public: ", zmq_strerror(zmq_errno())));
  }
  absl::StatusOr<CurvePublicKey> public_key =
      CurvePublicKey::FromZ85(public_z85);
  if (!public_key.ok()) return public_key.status();  // libzmq's own output
  return CurveKeyPair(*std::move(public_key), std::string(z85));
}

absl::StatusOr<CurveKeyPair> GenerateKeyPair() {
  if (!zmq_has("curve")) return absl::UnimplementedError(kNoCurve);
  char public_z85[kZ85KeyLength + 1];
  char secret[kZ85KeyLength + 1];
  if (zmq_curve_keypair(public_z85, secret) != 0) {
    return absl::InternalError(
        absl::StrCat("zmq_curve_keypair: ", zmq_strerror(zmq_errno())));
  }
  absl::StatusOr<CurveKeyPair> pair =
      CurveKeyPair::FromSecretZ85(absl::string_view(secret, kZ85KeyLength));
  Wipe(secret, sizeof(secret));
  return pair;
}

absl::Status WriteKeyPair(const CurveKeyPair& pair, const std::string& path) {
  const std::string public_path = path + ".pub";
  for (const std::string* p : {&path, &public_path}) {
    struct stat st;
    if (lstat(p->c_str(), &st) == 0) return CreateError(*p, EEXIST);
  }
  std::string secret_line = pair.secret_z85() + "\n";
  absl::Status status = CreateFileWithMode(path, secret_line, 0600);
  Wipe(secret_line);
  if (!status.ok()) return status;
  status =
      CreateFileWithMode(public_path, pair.public_key().z85() + "\n", 0644);
  if (!status.ok()) unlink(path.c_str());
  return status;
}

absl::StatusOr<CurveKeyPair> LoadSecretKey(const std::string& path) {
  if (!zmq_has("curve")) return absl::UnimplementedError(kNoCurve);
  absl::StatusOr<std::string> content = ReadKeyFile(path, /*secret=*/true);
  if (!content.ok()) return content.status();
  const absl::string_view text = KeyText(*content);
  const std::string problem = Z85KeyProblem(text);
  absl::StatusOr<CurveKeyPair> pair =
      problem.empty()
          ? CurveKeyPair::FromSecretZ85(text)
          : absl::StatusOr<CurveKeyPair>(MalformedKeyFile(path, problem));
  Wipe(*content);
  return pair;
}

absl::StatusOr<CurvePublicKey> LoadPublicKey(const std::string& path) {
  absl::StatusOr<std::string> content = ReadKeyFile(path, /*secret=*/false);
  if (!content.ok()) return content.status();
  const absl::string_view text = KeyText(*content);
  if (std::string problem = Z85KeyProblem(text); !problem.empty()) {
    return MalformedKeyFile(path, problem);
  }
  return CurvePublicKey::FromZ85(text);
}

absl::StatusOr<PublicKeyDirectory> LoadPublicKeyDirectory(
    const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = ListPublicKeyNames(dir);
  if (!names.ok()) return names.status();
  PublicKeyDirectory found;
  for (const std::string& name : *names) {
    std::string path = JoinPath(dir, name);
    absl::StatusOr<CurvePublicKey> key = LoadPublicKey(path);
    if (key.ok()) {
      found.keys.push_back({std::move(path), *std::move(key)});
    } else {
      found.skipped.push_back(
          {std::move(path), std::string(key.status().message())});
    }
  }
  return found;
}

}  // namespace ziggy
