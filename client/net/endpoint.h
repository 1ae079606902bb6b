// Endpoints as users write them ("host:port", port 0 = any free port) and as
// ZeroMQ wants them ("tcp://host:port").

#ifndef ZIGGY_CLIENT_NET_ENDPOINT_H_
#define ZIGGY_CLIENT_NET_ENDPOINT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ziggy {

// "127.0.0.1:3514" -> "tcp://127.0.0.1:3514"; "*:0" -> "tcp://*:*";
// "[::1]:3514" and "::1:3514" -> "tcp://[::1]:3514". kInvalidArgument names
// the problem. Port 0 (any free port) is accepted only for binding.
absl::StatusOr<std::string> TcpEndpoint(absl::string_view host_port);

// The same from separate parts.
absl::StatusOr<std::string> TcpEndpoint(absl::string_view host, int port);

// The port of a bound endpoint such as ZeroMQ's last_endpoint
// ("tcp://127.0.0.1:41234"), or -1.
int EndpointPort(absl::string_view endpoint);

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_NET_ENDPOINT_H_
