#include "client/reader/control.h"

#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "client/net/endpoint.h"
#include "client/net/socket.h"
#include "zmq.hpp"

namespace ziggy {

namespace {

// Why a request got no answer, for the message.
std::string NoAnswer(absl::string_view host_port,
                     const ControlOptions& options) {
  return absl::StrCat(
      "no answer from ", host_port, " within ",
      absl::FormatDuration(options.timeout),
      options.curve.has_value()
          ? " (CurveZMQ: is the daemon up, and is the server key its key?)"
          : "");
}

}  // namespace

absl::StatusOr<Value> CallControl(absl::string_view host_port,
                                  absl::string_view command,
                                  const Value::Map& args,
                                  absl::Duration timeout) {
  ControlOptions options;
  options.timeout = timeout;
  return CallControl(host_port, command, args, options);
}

absl::StatusOr<Value> CallControl(absl::string_view host_port,
                                  absl::string_view command,
                                  const Value::Map& args,
                                  const ControlOptions& control) {
  absl::StatusOr<std::string> endpoint = TcpEndpoint(host_port);
  if (!endpoint.ok()) return endpoint.status();
  if (EndpointPort(*endpoint) <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", host_port, "': give the daemon's control port"));
  }
  // `cmd`, as the original Python Ziggy's tools send it, so its daemons
  // answer too.
  Value::Map request{{"cmd", std::string(command)}};
  request.insert(request.end(), args.begin(), args.end());
  const std::string bytes = EncodeDocument(Value(std::move(request)));

  const int timeout_ms =
      static_cast<int>(absl::ToInt64Milliseconds(control.timeout));
  zmq::context_t context(1);
  SocketOptions options;
  options.send_timeout_ms = timeout_ms;
  options.receive_timeout_ms = timeout_ms;
  options.curve = control.curve;
  zmq::socket_t socket = MakeSocket(context, zmq::socket_type::req, options);
  zmq::message_t reply;
  try {
    socket.connect(*endpoint);
    if (!socket.send(zmq::buffer(bytes)) || !socket.recv(reply)) {
      return absl::UnavailableError(NoAnswer(host_port, control));
    }
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot reach ", host_port, ": ", e.what()));
  }
  absl::StatusOr<Value> doc =
      DecodeDocument(absl::string_view(reply.data<char>(), reply.size()));
  if (!doc.ok()) {
    return absl::DataLossError(
        absl::StrCat("reply from ", host_port, ": ", doc.status().message()));
  }
  if (const Value* error = doc->Get("error");
      error != nullptr && error->kind() == Value::Kind::kString) {
    return absl::FailedPreconditionError(
        absl::StrCat(host_port, ": ", error->AsString()));
  }
  return doc;
}

}  // namespace ziggy
