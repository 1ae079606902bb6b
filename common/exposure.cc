#include "common/exposure.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/net/endpoint.h"
#include "common/cli.h"
#include "common/daemon_sockets.h"
#include "glog/logging.h"

namespace ziggy {
namespace {

// A plain port that would face the network.
struct FacingPort {
  std::string name;  // "--control=*:3513"
  bool given;        // false for the stream that follows --control
  const char* harm;  // what anyone who reaches it could do
};

// The host of a host:port, without IPv6 brackets.
absl::string_view HostOf(absl::string_view address) {
  absl::string_view host = address.substr(0, address.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

// Whether binding `address` would listen beyond loopback. One that is not
// host:port never binds (BindSocket refuses it first).
bool FacesNetwork(absl::string_view address) {
  return TcpEndpoint(address).ok() && !IsLoopbackHost(HostOf(address));
}

constexpr char kStreamHarm[] = "read its live stream";

// Control, stream and relay ports off loopback, in that order.
std::vector<FacingPort> FacingPorts(const PortAddresses& ports) {
  std::vector<FacingPort> facing;
  if (FacesNetwork(ports.control)) {
    facing.push_back(
        {"--control=" + ports.control, true,
         "send this daemon SHUTDOWN and every other control command"});
    if (ports.stream.empty()) {
      facing.push_back(
          {absl::StrCat("the stream (", DefaultStreamAddress(ports.control),
                        ", on --control's host)"),
           false, kStreamHarm});
    }
  }
  if (!ports.stream.empty() && FacesNetwork(ports.stream)) {
    facing.push_back({"--stream=" + ports.stream, true, kStreamHarm});
  }
  if (!ports.relay.empty() && FacesNetwork(ports.relay)) {
    facing.push_back({"--relay=" + ports.relay, true,
                      "relay events under any forwarder id"});
  }
  if (!ports.metrics.empty() && FacesNetwork(ports.metrics)) {
    facing.push_back({"--metrics=" + ports.metrics, true,
                      "read its metrics (counters, event types and hosts)"});
  }
  return facing;
}

// "a", "a <last> b", "a, b <last> c".
std::string JoinAll(const std::vector<std::string>& items,
                    absl::string_view last) {
  if (items.size() < 2) return absl::StrJoin(items, "");
  return absl::StrCat(absl::StrJoin(items.begin(), items.end() - 1, ", "), " ",
                      last, " ", items.back());
}

std::string Harms(const std::vector<FacingPort>& facing) {
  std::vector<std::string> harms;
  for (const FacingPort& port : facing) harms.push_back(port.harm);
  return JoinAll(harms, "or");
}

absl::Status Refusal(const std::vector<FacingPort>& facing) {
  std::vector<std::string> names;
  for (const FacingPort& port : facing) {
    if (port.given) names.push_back(port.name);
  }
  const bool one = names.size() == 1;
  return absl::InvalidArgumentError(absl::StrCat(
      JoinAll(names, "and"),
      one ? " is not a loopback address" : " are not loopback addresses",
      "; without --curve-key anyone who reaches ", one ? "it" : "them", " can ",
      Harms(facing),
      ". Add --curve-key (see \"Securing Ziggy\" in README.md) or "
      "--insecure"));
}

std::string InsecureWarning(const std::vector<FacingPort>& facing) {
  std::vector<std::string> names;
  for (const FacingPort& port : facing) names.push_back(port.name);
  return absl::StrCat("--insecure: plain text on a non-loopback address: ",
                      JoinAll(names, "and"), "; anyone who reaches ",
                      facing.size() == 1 ? "it" : "them", " can ",
                      Harms(facing));
}

}  // namespace

bool IsLoopbackHost(absl::string_view host) {
  if (absl::AsciiStrToLower(host) == "localhost") return true;
  const std::string text(host);
  in_addr v4;
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return false;
  return IN6_IS_ADDR_LOOPBACK(&v6) ||
         (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
}

absl::StatusOr<std::vector<std::string>> CheckExposure(
    const PortAddresses& ports, const ExposureFlags& flags) {
  std::vector<std::string> warnings;
  if ((!flags.curve || flags.plain_collect) && FacesNetwork(ports.collect)) {
    warnings.push_back(absl::StrCat(
        "--collect=", ports.collect,
        " is plain text on a non-loopback address: anyone who can reach it "
        "can write events"));
  }
  if (flags.curve) {
    // CurveZMQ does not cover HTTP: Prometheus scrapes plain text.
    if (!ports.metrics.empty()) {
      warnings.push_back(absl::StrCat(
          "--metrics=", ports.metrics,
          ": /metrics is unauthenticated plain HTTP (--curve-key covers the "
          "ZeroMQ ports only); whoever reaches it can read the counters, "
          "event types and hosts"));
    }
    return warnings;
  }
  const std::vector<FacingPort> facing = FacingPorts(ports);
  if (facing.empty()) return warnings;
  if (!flags.insecure) return Refusal(facing);
  warnings.push_back(InsecureWarning(facing));
  return warnings;
}

bool ExposureAllowed(absl::string_view program, const PortAddresses& ports,
                     const ExposureFlags& flags) {
  std::vector<std::string> warnings;
  if (!TakeOrReport(program, CheckExposure(ports, flags), &warnings)) {
    return false;
  }
  for (const std::string& warning : warnings) LOG(WARNING) << warning;
  return true;
}

}  // namespace ziggy
