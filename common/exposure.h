// Secure by default: which of a daemon's ports its command line would open
// to the network in plain text, decided from the flags before anything is
// bound. Without CurveZMQ (--curve-key) a daemon refuses a control, stream,
// relay or metrics port on anything but a loopback address unless the
// operator says --insecure; a plain collect port anywhere is allowed (the
// original Python clients need it) with a warning. The metrics port is
// plain HTTP even with --curve-key (Prometheus scrapes it; it only reads):
// allowed then, on any address, with a warning that it is unauthenticated.
//
// Pure functions: thread-safe.

#ifndef ZIGGY_COMMON_EXPOSURE_H_
#define ZIGGY_COMMON_EXPOSURE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ziggy {

// A daemon's bind addresses as its flags give them (host:port).
struct PortAddresses {
  std::string control;
  std::string collect;
  // Empty: a free port on the control port's host (DefaultStreamAddress),
  // so it faces whatever the control port faces.
  std::string stream;
  // Empty: no relay port (ziggyd --relay=, ziggy-forwarder without --relay).
  std::string relay;
  // --metrics (HTTP); empty: off.
  std::string metrics;
};

// The flags that decide what a non-loopback port may be.
struct ExposureFlags {
  bool curve = false;          // --curve-key: every port is a CurveZMQ server
  bool plain_collect = false;  // --plain-collect: except the collect port
  bool insecure = false;       // --insecure: plain ports may face the network
};

// Whether `host` (the host of a host:port, IPv6 in brackets or not) names
// the loopback interface only: an IPv4 address in 127.0.0.0/8, ::1 (or
// ::ffff:127.x.y.z) or "localhost". "*", 0.0.0.0, ::, interface names
// (even "lo") and any other name or address are not.
bool IsLoopbackHost(absl::string_view host);

// Whether the daemon may bind `ports` with `flags`. OK holds the warnings
// to log at start (possibly none): a plain collect port off loopback, with
// --insecure the plain ports that face the network, and with --curve-key a
// metrics port (unauthenticated plain HTTP wherever it is).
// kInvalidArgument when, without --curve-key or --insecure, control,
// stream, relay or metrics is not on loopback: one line naming the flags,
// their addresses, what anyone reaching them could do, and --insecure.
// An address that is not host:port is left to binding, which refuses it
// (binding nothing).
//   CheckExposure({"*:3513", "127.0.0.1:3514", "", ""}, {}) ->
//     "--control=*:3513 is not a loopback address; without --curve-key ..."
absl::StatusOr<std::vector<std::string>> CheckExposure(
    const PortAddresses& ports, const ExposureFlags& flags);

// CheckExposure for a daemon's main(): logs each warning (glog WARNING) and
// returns true, or prints "program: refusal" on stderr and returns false.
// REQUIRES: glog initialized; nothing bound yet.
bool ExposureAllowed(absl::string_view program, const PortAddresses& ports,
                     const ExposureFlags& flags);

}  // namespace ziggy

#endif  // ZIGGY_COMMON_EXPOSURE_H_
