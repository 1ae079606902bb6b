#include "client/net/endpoint.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ziggy {

absl::StatusOr<std::string> TcpEndpoint(absl::string_view host, int port) {
  if (host.empty()) return absl::InvalidArgumentError("empty host");
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port ", port, " is outside 0-65535"));
  }
  const bool bare_ipv6 =
      host.find(':') != absl::string_view::npos && host.front() != '[';
  return absl::StrCat("tcp://", bare_ipv6 ? "[" : "", host,
                      bare_ipv6 ? "]" : "", ":",
                      port == 0 ? "*" : absl::StrCat(port));
}

absl::StatusOr<std::string> TcpEndpoint(absl::string_view host_port) {
  const size_t colon = host_port.rfind(':');
  int port;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(host_port.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", host_port, "' is not host:port (e.g. 127.0.0.1:3514)"));
  }
  absl::StatusOr<std::string> endpoint =
      TcpEndpoint(host_port.substr(0, colon), port);
  if (!endpoint.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", host_port, "': ", endpoint.status().message()));
  }
  return endpoint;
}

int EndpointPort(absl::string_view endpoint) {
  int port;
  const size_t colon = endpoint.rfind(':');
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(endpoint.substr(colon + 1), &port)) {
    return -1;
  }
  return port;
}

}  // namespace ziggy
