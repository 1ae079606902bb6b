// CurveZMQ keys: generating a key pair, writing it to files, and loading
// secret and public keys back with their permissions and format checked.
//
// A key is 32 bytes written as 40 Z85 characters. A key pair lives in two
// files: PATH holds the secret key (one line, mode 0600) and PATH.pub the
// public key (one line, mode 0644).
//
//   absl::StatusOr<CurveKeyPair> pair = GenerateKeyPair();
//   absl::Status written = WriteKeyPair(*pair, "/etc/ziggy/ziggyd.key");
//   ...
//   absl::StatusOr<CurveKeyPair> mine = LoadSecretKey("/etc/ziggy/ziggyd.key");
//   absl::StatusOr<CurvePublicKey> server = LoadPublicKey("collector.key.pub");
//
// No error message or log line from here ever contains a key: malformed
// content is described by its length or the offset of a bad character.
//
// Thread-safety: the functions share no state and may be called from any
// thread; the value types are as thread-safe as std::string (const access
// from many threads, mutation from one).

#ifndef ZIGGY_CLIENT_NET_CURVE_KEY_H_
#define ZIGGY_CLIENT_NET_CURVE_KEY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ziggy {

// A CurveZMQ public key: 40 Z85 characters, checked on construction. Public
// keys may be printed and logged.
class CurvePublicKey {
 public:
  // kInvalidArgument unless `z85` is 40 characters of the Z85 alphabet that
  // decode to 32 bytes.
  static absl::StatusOr<CurvePublicKey> FromZ85(absl::string_view z85);

  const std::string& z85() const { return z85_; }

  friend bool operator==(const CurvePublicKey& a, const CurvePublicKey& b) {
    return a.z85_ == b.z85_;
  }
  friend bool operator!=(const CurvePublicKey& a, const CurvePublicKey& b) {
    return !(a == b);
  }

 private:
  explicit CurvePublicKey(std::string z85) : z85_(std::move(z85)) {}
  std::string z85_;
};

// A CurveZMQ key pair. The public key is always the one derived from the
// secret key, and every way to make a pair checks that this libzmq supports
// CurveZMQ, so holding one means sockets can use it. Never print or log
// secret_z85().
class CurveKeyPair {
 public:
  // The pair of a secret key given as Z85: kInvalidArgument unless it is 40
  // Z85 characters that decode to 32 bytes; kUnimplemented when this libzmq
  // was built without CurveZMQ.
  static absl::StatusOr<CurveKeyPair> FromSecretZ85(absl::string_view z85);

  const CurvePublicKey& public_key() const { return public_key_; }
  const std::string& secret_z85() const { return secret_z85_; }

 private:
  CurveKeyPair(CurvePublicKey public_key, std::string secret_z85)
      : public_key_(std::move(public_key)),
        secret_z85_(std::move(secret_z85)) {}
  CurvePublicKey public_key_;
  std::string secret_z85_;
};

// A fresh random key pair (zmq_curve_keypair). kUnimplemented when this
// libzmq was built without CurveZMQ.
absl::StatusOr<CurveKeyPair> GenerateKeyPair();

// Writes `pair`'s secret key to `path` and its public key to `path`.pub,
// each as one line of Z85 followed by a newline. The secret file is created
// with mode 0600 (O_CREAT|O_EXCL, so never wider, whatever the umask) and
// the public one with mode 0644; both are fsync()ed. Never overwrites:
// kAlreadyExists when either file exists. Other failures (missing or
// unwritable directory, disk full) return the errno's code and leave
// neither file behind.
absl::Status WriteKeyPair(const CurveKeyPair& pair, const std::string& path);

// The key pair whose secret key `path` holds (the public key is derived
// from it with zmq_curve_public). Refuses:
// - a file that group or others may access: kFailedPrecondition, naming the
//   file and its mode and saying `chmod 600`;
// - anything but a regular file: kFailedPrecondition;
// - content other than 40 Z85 characters and at most one "\n":
//   kInvalidArgument;
// - a file that cannot be opened: kNotFound, kPermissionDenied, ...;
// - a libzmq without CurveZMQ: kUnimplemented.
absl::StatusOr<CurveKeyPair> LoadSecretKey(const std::string& path);

// The public key `path` holds: 40 Z85 characters and at most one "\n"
// (kInvalidArgument otherwise). Its mode is not checked: it is public.
absl::StatusOr<CurvePublicKey> LoadPublicKey(const std::string& path);

// A key file that LoadPublicKeyDirectory() passed over, and why.
struct SkippedKeyFile {
  std::string path;
  std::string reason;  // one line, never the file's content
};

// A public key and the file it came from.
struct PublicKeyFile {
  std::string path;
  CurvePublicKey key;
};

// What LoadPublicKeyDirectory() found, each list in file-name order.
struct PublicKeyDirectory {
  std::vector<PublicKeyFile> keys;
  std::vector<SkippedKeyFile> skipped;  // unreadable or malformed *.pub
};

// The public keys of every `*.pub` file directly in `dir` (other files are
// ignored). A file that cannot be read or holds no valid key is listed in
// `skipped` instead; only a directory that cannot be listed is an error.
//
//   absl::StatusOr<PublicKeyDirectory> allowed =
//       LoadPublicKeyDirectory("/etc/ziggy/clients");
//   for (const SkippedKeyFile& s : allowed->skipped)
//     LOG(WARNING) << "skipping " << s.path << ": " << s.reason;
absl::StatusOr<PublicKeyDirectory> LoadPublicKeyDirectory(
    const std::string& dir);

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_NET_CURVE_KEY_H_
