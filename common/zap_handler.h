// ZapHandler: the ZAP handler (RFC 27) of a daemon's CurveZMQ ports. Every
// CURVE handshake on a socket of the daemon's ZeroMQ context asks it, over
// inproc://zeromq.zap.01, whether the client's public key may connect: with
// an allow list only the listed keys may (others get status 400), without
// one every client that completed the handshake may.
//
// It serves from a small thread of its own (so a daemon's receive thread,
// busy with a burst or the disk, never delays a handshake), started by
// Start() and joined by the destructor, which must run before the context
// is closed.
//
// Refusals are logged at most once per 10 s per peer address, never with
// a key.
//
// Thread-safety: accepted() and refused() from any thread.

#ifndef ZIGGY_COMMON_ZAP_HANDLER_H_
#define ZIGGY_COMMON_ZAP_HANDLER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client/net/curve_key.h"
#include "zmq.hpp"

namespace ziggy {

// How a daemon serves CurveZMQ (ziggyd's and ziggy-forwarder's --curve-key,
// --curve-allow, --plain-collect).
struct CurveServerOptions {
  CurveKeyPair key;  // the daemon's own key pair, for every port
  // The clients that may connect; unset: any that completes the handshake.
  absl::optional<std::vector<CurvePublicKey>> allowed;
  // The collect port stays plain text (for the original Python clients).
  bool plain_collect = false;
};

// The options for the flags' values: `key_path` (--curve-key) is a secret
// key file, `allow_dir` (--curve-allow) a directory of *.pub files (every
// file skipped is logged with its reason). Empty key_path: nullopt, and
// kInvalidArgument if allow_dir or plain_collect is given too. Errors name
// the flag and the file, never a key.
absl::StatusOr<absl::optional<CurveServerOptions>> LoadCurveServerOptions(
    const std::string& key_path, const std::string& allow_dir,
    bool plain_collect);

class ZapHandler {
 public:
  // Binds inproc://zeromq.zap.01 in `context` and starts serving;
  // kUnavailable if the context already has a ZAP handler.
  static absl::StatusOr<std::unique_ptr<ZapHandler>> Start(
      zmq::context_t& context,
      absl::optional<std::vector<CurvePublicKey>> allowed);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  // CURVE clients accepted and refused so far.
  uint64_t accepted() const { return accepted_.load(); }
  uint64_t refused() const { return refused_.load(); }

 private:
  ZapHandler(zmq::socket_t socket,
             absl::optional<std::vector<CurvePublicKey>> allowed);
  void Serve();
  // The reply's frames for one request's frames.
  std::vector<std::string> Answer(const std::vector<std::string>& request);
  bool Allowed(const std::string& binary_key) const;
  void LogRefusal(const std::string& address);

  zmq::socket_t socket_;
  bool allow_all_;
  absl::flat_hash_set<std::string> allowed_;  // Z85 keys
  std::atomic<uint64_t> accepted_{0}, refused_{0};
  std::atomic<bool> stop_{false};
  absl::flat_hash_map<std::string, absl::Time> last_logged_;  // by address
  std::thread thread_;
};

}  // namespace ziggy

#endif  // ZIGGY_COMMON_ZAP_HANDLER_H_
