#include "client/net/socket.h"

#include "absl/strings/str_cat.h"
#include "client/net/endpoint.h"

namespace ziggy {
namespace {

template <typename Option, typename T>
void SetUnlessDefault(zmq::socket_t& socket, Option option, T value) {
  if (value >= 0) socket.set(option, value);
}

// Keys are set as Z85 text (40 characters), which libzmq decodes.
void ApplyCurve(zmq::socket_t& socket, const CurveSocketOptions& curve) {
  if (curve.server_key.has_value()) {
    socket.set(zmq::sockopt::curve_serverkey, curve.server_key->z85());
  } else {
    socket.set(zmq::sockopt::curve_server, 1);
  }
  socket.set(zmq::sockopt::curve_publickey, curve.own.public_key().z85());
  socket.set(zmq::sockopt::curve_secretkey, curve.own.secret_z85());
}

}  // namespace

zmq::socket_t MakeSocket(zmq::context_t& context, zmq::socket_type type,
                         const SocketOptions& options) {
  zmq::socket_t socket(context, type);
  socket.set(zmq::sockopt::linger, options.linger_ms);
  SetUnlessDefault(socket, zmq::sockopt::sndhwm, options.send_high_water_mark);
  SetUnlessDefault(socket, zmq::sockopt::rcvhwm,
                   options.receive_high_water_mark);
  SetUnlessDefault(socket, zmq::sockopt::maxmsgsize, options.max_message_bytes);
  SetUnlessDefault(socket, zmq::sockopt::sndtimeo, options.send_timeout_ms);
  SetUnlessDefault(socket, zmq::sockopt::rcvtimeo, options.receive_timeout_ms);
  SetUnlessDefault(socket, zmq::sockopt::reconnect_ivl,
                   options.reconnect_interval_ms);
  SetUnlessDefault(socket, zmq::sockopt::reconnect_ivl_max,
                   options.reconnect_interval_max_ms);
  if (options.immediate) socket.set(zmq::sockopt::immediate, 1);
  socket.set(zmq::sockopt::ipv6, options.ipv6 ? 1 : 0);
  if (options.curve.has_value()) ApplyCurve(socket, *options.curve);
  return socket;
}

absl::Status ConnectSocket(zmq::socket_t& socket, const std::string& endpoint) {
  try {
    socket.connect(endpoint);
  } catch (const zmq::error_t& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot connect to ", endpoint, ": ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status BindSocket(zmq::socket_t& socket, const std::string& address,
                        absl::string_view name, std::string* endpoint) {
  absl::StatusOr<std::string> tcp = TcpEndpoint(address);
  if (!tcp.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, ": ", tcp.status().message()));
  }
  const bool ipv6 =
      address.find(':') != address.rfind(':') || address.front() == '[';
  socket.set(zmq::sockopt::ipv6, ipv6 ? 1 : 0);
  try {
    socket.bind(*tcp);
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot bind --", name, "=", address, ": ", e.what()));
  }
  *endpoint = socket.get(zmq::sockopt::last_endpoint);
  return absl::OkStatus();
}

absl::StatusOr<absl::optional<CurveSocketOptions>> LoadCurveClientOptions(
    const std::string& server_key_path, absl::string_view server_key_name,
    const std::string& key_path, absl::string_view key_name) {
  if (server_key_path.empty() && key_path.empty()) {
    return absl::optional<CurveSocketOptions>();
  }
  if (server_key_path.empty() || key_path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(server_key_name, " and ", key_name,
                     " go together: give both (CurveZMQ) or neither"));
  }
  absl::StatusOr<CurvePublicKey> server = LoadPublicKey(server_key_path);
  if (!server.ok()) {
    return absl::Status(
        server.status().code(),
        absl::StrCat(server_key_name, ": ", server.status().message()));
  }
  absl::StatusOr<CurveKeyPair> own = LoadSecretKey(key_path);
  if (!own.ok()) {
    return absl::Status(own.status().code(),
                        absl::StrCat(key_name, ": ", own.status().message()));
  }
  return absl::optional<CurveSocketOptions>(
      CurveSocketOptions::Client(*std::move(own), *std::move(server)));
}

}  // namespace ziggy
