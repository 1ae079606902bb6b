// ziggyctl: administers a running ziggy daemon. See ctl.h.

#include <iostream>
#include <string>
#include <vector>

#include "common/flag_values.h"
#include "common/version.h"
#include "ctl/ctl.h"
#include "gflags/gflags.h"

DEFINE_string(host, "127.0.0.1:3513",
              "The daemon's control port, host:port. Several (a pool of "
              "collectors): repeat the flag or separate them with commas; "
              "status then sums them with a line per daemon, ports and "
              "flush go to each, other commands take one.");
DEFINE_string(H, "", "Short for --host (repeatable, comma-separated too).");
DEFINE_bool(json, false, "Print the reply as JSON.");
DEFINE_double(timeout, 3, "Seconds to wait for the daemon's answer.");
DEFINE_string(curve_server_key, "",
              "CurveZMQ: the daemon's public key file (.pub); with "
              "--curve-key.");
DEFINE_string(curve_key, "",
              "CurveZMQ: this client's secret key file (ziggyctl keygen); "
              "with --curve-server-key.");

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "administers a running ziggy daemon over its control port, and makes\n"
      "CurveZMQ keys.\n"
      "  ziggyctl [-H host:port] [--json] status     summary (counters, types, "
      "hosts)\n"
      "  ziggyctl [-H host:port] shutdown            flush, close files, exit\n"
      "  ziggyctl [-H host:port] flush               write buffered events "
      "now\n"
      "  ziggyctl [-H host:port] [--json] ports      the bound ports\n"
      "  ziggyctl [-H host:port] upstream            a forwarder's collectors\n"
      "  ziggyctl [-H host:port] upstream set a:3515,b:3515   change them "
      "live\n"
      "  ziggyctl -H a:3513 -H b:3513 [--json] status   a pool: summed, and "
      "per daemon\n"
      "  ziggyctl keygen PATH    write a CurveZMQ key pair: PATH (secret, "
      "mode 0600)\n"
      "                          and PATH.pub (public); never overwrites\n"
      "With --curve-server-key=PATH.pub --curve-key=PATH every command\n"
      "speaks CurveZMQ; a wrong server key gets no answer within --timeout.\n"
      "Exit status: 0 done; 1 no answer within --timeout, an error from the\n"
      "daemon (several -H: from any of them; the others are still shown), a\n"
      "key pair that could not be written or read, or a bad command line.");
  gflags::SetVersionString(ziggy::kVersion);
  // gflags keeps a repeated flag's last value: the list is read first.
  const std::vector<std::string> hosts =
      ziggy::FlagValues(argc, argv, {"H", "host"});
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (FLAGS_timeout <= 0) {
    std::cerr << "ziggyctl: --timeout must be positive\n";
    return 1;
  }
  ziggy::CtlOptions options;
  if (!hosts.empty()) {
    options.hosts = hosts;
  } else {  // the default, or a --flagfile's
    options.hosts = {FLAGS_H.empty() ? FLAGS_host : FLAGS_H};
  }
  options.json = FLAGS_json;
  options.timeout = absl::Seconds(FLAGS_timeout);
  options.curve_server_key = FLAGS_curve_server_key;
  options.curve_key = FLAGS_curve_key;
  return ziggy::RunCtl(std::vector<std::string>(argv + 1, argv + argc), options,
                       std::cout, std::cerr);
}
