// ZapHandler: the ZAP handler (RFC 27) of a daemon's CurveZMQ ports. Every
// CURVE handshake on a socket of the daemon's ZeroMQ context asks it, over
// inproc://zeromq.zap.01, whether the client's public key may connect: with
// an allow list only the listed keys (and the admin keys) may (others get
// status 400), without one every client that completed the handshake may.
// An accepted client's key (Z85) is the ZAP user id, so every message from
// it carries it as "User-Id" metadata (CurveUserId()).
//
// It also watches the handshakes that fail before ZAP is asked (a plain-text
// client on a CurveZMQ port, a client with a wrong server key, a connection
// dropped mid-handshake): WatchHandshakes() puts a ZeroMQ socket monitor on
// a port, counted in failed_handshakes() and logged at most once per 10 s
// per port.
//
// It serves from a small thread of its own (so a daemon's receive thread,
// busy with a burst or the disk, never delays a handshake), started by
// Start() and joined by the destructor, which must run before the context
// is closed.
//
// Refusals are logged at most once per 10 s per peer address, never with
// a key.
//
// Thread-safety: every public method from any thread, except
// WatchHandshakes() (see there).

#ifndef ZIGGY_COMMON_ZAP_HANDLER_H_
#define ZIGGY_COMMON_ZAP_HANDLER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client/net/curve_key.h"
#include "zmq.hpp"

namespace ziggy {

// The client keys a daemon's CurveZMQ ports take (--curve-allow and
// --curve-admin).
struct CurveKeyLists {
  // The clients that may connect; unset: any that completes the handshake.
  // The admin keys may always connect too.
  absl::optional<std::vector<CurvePublicKey>> allowed;
  // The clients whose control commands that change state are served;
  // unset: every client that may connect.
  absl::optional<std::vector<CurvePublicKey>> admins;
};

// How a daemon serves CurveZMQ (ziggyd's and ziggy-forwarder's --curve-key,
// --curve-allow, --curve-admin, --plain-collect).
struct CurveServerOptions {
  CurveKeyPair key;  // the daemon's own key pair, for every port
  CurveKeyLists clients;
  // The collect port stays plain text (for the original Python clients).
  bool plain_collect = false;
  // Where `clients` came from (empty: not given), re-read on SIGHUP.
  std::string allow_dir, admin_dir;
};

// The key lists in `allow_dir` (--curve-allow) and `admin_dir`
// (--curve-admin), each a directory of *.pub files (every file skipped is
// logged with its reason); an empty directory name leaves its list unset.
// kInvalidArgument naming the flag when a directory cannot be listed.
absl::StatusOr<CurveKeyLists> LoadCurveKeyLists(const std::string& allow_dir,
                                                const std::string& admin_dir);

// The options for the flags' values: `key_path` (--curve-key) is a secret
// key file, the directories as LoadCurveKeyLists() takes them. Empty
// key_path: nullopt, and kInvalidArgument if a directory or plain_collect
// is given too. Errors name the flag and the file, never a key.
absl::StatusOr<absl::optional<CurveServerOptions>> LoadCurveServerOptions(
    const std::string& key_path, const std::string& allow_dir,
    const std::string& admin_dir, bool plain_collect);

// The client key (Z85) the ZAP handler gave the connection `message` came
// from; empty for a plain-text connection.
std::string CurveUserId(const zmq::message_t& message);

class ZapHandler {
 public:
  // Binds inproc://zeromq.zap.01 in `context` and starts serving;
  // kUnavailable if the context already has a ZAP handler.
  static absl::StatusOr<std::unique_ptr<ZapHandler>> Start(
      zmq::context_t& context, CurveKeyLists keys);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  // Replaces the key lists: handshakes from now on use them, connections
  // already made stay. Logs how many keys are now allowed.
  void Reload(CurveKeyLists keys);
  // Reload() from the directories (LoadCurveKeyLists); when one cannot be
  // listed, the lists stay as they were, the failure is counted and its
  // error returned.
  absl::Status ReloadFrom(const std::string& allow_dir,
                          const std::string& admin_dir);

  // Whether the client with this user id (CurveUserId) may use the control
  // commands that change state: every client without an admin list.
  bool IsAdmin(absl::string_view user_id) const;

  // Counts and logs the failed handshakes of `socket`, the daemon's `port`
  // ("collect", "relay", ...), through a socket monitor. REQUIRES: called
  // from the thread that owns `socket`, before it closes, and `socket` is
  // in this handler's context.
  absl::Status WatchHandshakes(zmq::socket_t& socket, absl::string_view port);

  // CURVE clients accepted and refused (by key) so far; handshakes failed
  // before ZAP was asked on the watched ports; successful and failed
  // reloads.
  uint64_t accepted() const { return accepted_.load(); }
  uint64_t refused() const { return refused_.load(); }
  uint64_t failed_handshakes() const { return failed_handshakes_.load(); }
  uint64_t reloads() const { return reloads_.load(); }
  uint64_t reload_failures() const { return reload_failures_.load(); }

 private:
  // A port's monitor socket (PAIR), served by the ZAP thread.
  struct Watch {
    zmq::socket_t monitor;
    std::string port;
    absl::Time last_logged = absl::InfinitePast();
  };

  ZapHandler(zmq::context_t& context, zmq::socket_t socket, CurveKeyLists keys);
  void SetKeys(CurveKeyLists keys);
  void Serve();
  void ServeZap();
  // Takes the watches WatchHandshakes() added since the last call.
  void AdoptWatches();
  void ServeWatch(Watch& watch);
  // The reply's frames for one request's frames.
  std::vector<std::string> Answer(const std::vector<std::string>& request);
  bool Allowed(const std::string& z85) const;
  void LogRefusal(const std::string& address);

  zmq::context_t& context_;
  zmq::socket_t socket_;
  mutable absl::Mutex mu_;
  bool allow_all_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> allowed_ ABSL_GUARDED_BY(mu_);  // Z85
  bool all_admins_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> admins_ ABSL_GUARDED_BY(mu_);  // Z85
  std::vector<Watch> new_watches_ ABSL_GUARDED_BY(mu_);
  int watch_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> accepted_{0}, refused_{0}, failed_handshakes_{0};
  std::atomic<uint64_t> reloads_{0}, reload_failures_{0};
  std::atomic<bool> stop_{false};
  // The ZAP thread's own.
  absl::flat_hash_map<std::string, absl::Time> last_logged_;  // by address
  std::vector<Watch> watches_;
  std::thread thread_;
};

}  // namespace ziggy

#endif  // ZIGGY_COMMON_ZAP_HANDLER_H_
