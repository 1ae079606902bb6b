// MakeSocket: every ZeroMQ socket in Ziggy is set up here, so the choices
// each one needs (how long close waits, IPv6, queue and message bounds,
// timeouts, CurveZMQ) are written as one options struct beside the socket's use
// instead of as a run of setsockopt calls, and errors come back as Status.
//
//   SocketOptions options;
//   options.send_timeout_ms = 2000;
//   zmq::socket_t socket = MakeSocket(context, zmq::socket_type::req, options);
//   absl::Status connected = ConnectSocket(socket, "tcp://127.0.0.1:3514");
//
// Thread-safety: a socket belongs to one thread, as ZeroMQ requires.

#ifndef ZIGGY_CLIENT_NET_SOCKET_H_
#define ZIGGY_CLIENT_NET_SOCKET_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "client/net/curve_key.h"
#include "zmq.hpp"

namespace ziggy {

// CurveZMQ on one socket: its traffic is encrypted and its peers
// authenticated. A server accepts any client that knows its public key
// (a ZAP handler, where there is one, narrows that); a client talks only to
// the server whose public key it was given.
//
//   options.curve = CurveSocketOptions::Server(*LoadSecretKey(key_path));
//   options.curve = CurveSocketOptions::Client(
//       *GenerateKeyPair(), *LoadPublicKey(server_key_path));
struct CurveSocketOptions {
  static CurveSocketOptions Server(CurveKeyPair own) {
    return {std::move(own), absl::nullopt};
  }
  static CurveSocketOptions Client(CurveKeyPair own,
                                   CurvePublicKey server_key) {
    return {std::move(own), std::move(server_key)};
  }

  CurveKeyPair own;  // this socket's key pair
  // Unset: this socket is a CurveZMQ server. Set: a client of that server.
  absl::optional<CurvePublicKey> server_key;
};

// The client options for a user's two key files: `server_key_path` holds
// the server's public key (a .pub file), `key_path` this client's secret
// key (its public key is derived). Both empty: nullopt (plain text).
// `server_key_name` and `key_name` say where each path came from (a flag,
// an environment variable) and start every message: kInvalidArgument when
// only one path is given; otherwise LoadPublicKey's / LoadSecretKey's
// error, which names the file and never a key.
//
//   absl::StatusOr<absl::optional<CurveSocketOptions>> curve =
//       LoadCurveClientOptions(FLAGS_curve_server_key, "--curve-server-key",
//                              FLAGS_curve_key, "--curve-key");
absl::StatusOr<absl::optional<CurveSocketOptions>> LoadCurveClientOptions(
    const std::string& server_key_path, absl::string_view server_key_name,
    const std::string& key_path, absl::string_view key_name);

// -1 everywhere means "ZeroMQ's default".
struct SocketOptions {
  // How long closing waits to deliver what is still queued; 0 drops it.
  int linger_ms = 0;
  // Queue bounds, in messages (ZeroMQ counts messages, not bytes).
  int send_high_water_mark = -1;
  int receive_high_water_mark = -1;
  // A peer sending a larger message is disconnected.
  int64_t max_message_bytes = -1;
  // Send and receive give up (EAGAIN) after this long.
  int send_timeout_ms = -1;
  int receive_timeout_ms = -1;
  // Reconnection backoff, first and longest interval.
  int reconnect_interval_ms = -1;
  int reconnect_interval_max_ms = -1;
  // Queue messages only for completed connections (a dealer with no live
  // peer then blocks instead of queueing for a peer that may never come).
  bool immediate = false;
  // Dual-stack: connect to IPv6 and IPv4 hosts. Bound sockets choose by
  // address (BindSocket).
  bool ipv6 = true;
  // CurveZMQ as a server or a client; unset = plain text.
  absl::optional<CurveSocketOptions> curve;
};

// A socket of `type` in `context` with `options` applied. Throws
// zmq::error_t only if the context is closed (a broken invariant; a
// CurveKeyPair exists only where libzmq supports CurveZMQ).
zmq::socket_t MakeSocket(zmq::context_t& context, zmq::socket_type type,
                         const SocketOptions& options);

// Connects `socket` to a ZeroMQ endpoint ("tcp://host:port");
// kInvalidArgument if ZeroMQ refuses it.
absl::Status ConnectSocket(zmq::socket_t& socket, const std::string& endpoint);

// Binds `socket` to a user's host:port `address` (port 0 = any free port)
// and sets *endpoint to the bound endpoint. IPv6 only when the address is
// an IPv6 one, so IPv4 peers read as a.b.c.d, not [::ffff:a.b.c.d]. `name`
// is the flag the address came from, for messages: kInvalidArgument for a
// malformed address, kUnavailable when it cannot be bound (in use, no such
// interface).
absl::Status BindSocket(zmq::socket_t& socket, const std::string& address,
                        absl::string_view name, std::string* endpoint);

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_NET_SOCKET_H_
