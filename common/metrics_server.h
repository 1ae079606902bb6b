// MetricsServer: a daemon's --metrics=host:port, GET /metrics in the
// Prometheus text format (metrics.h) from its STATUS, over HTTP
// (http_server.h; other paths 404, other methods 405).
//
// Each scrape asks the receive thread for STATUS (DaemonSockets'
// status_snapshots(), see status_snapshots.h for why and how): the numbers
// are those of the scrape's time (or at most 100 ms older, when scrapes
// come faster than that), and the receive thread never waits for a scrape.
// When it does not answer within kSnapshotTimeout (it is stopping, or
// blocked in a FLUSH), the scrape gets 503.
//
// /metrics is plain, unauthenticated HTTP even with --curve-key: it only
// reads, but it names event types and hosts; exposure.h decides where it
// may listen.
//
// Thread-safety: Start() and the destructor from the daemon's owning
// thread; requests are served on the server's own threads.

#ifndef ZIGGY_COMMON_METRICS_SERVER_H_
#define ZIGGY_COMMON_METRICS_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/daemon_sockets.h"
#include "common/http_server.h"
#include "common/metrics.h"

namespace ziggy {

class MetricsServer {
 public:
  static constexpr absl::Duration kSnapshotTimeout = absl::Seconds(2);

  // Listens on `address` (host:port, port 0 picks a free one) and adds
  // STATUS ports.metrics and SOCK_METRICS to `sockets`.
  // REQUIRES: `sockets` outlives the server; called before serving, from
  // the thread that owns `sockets`.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      absl::string_view address, DaemonSockets* sockets, StatusSchema schema);

  // "http://host:port".
  const std::string& url() const { return http_->url(); }

 private:
  explicit MetricsServer(std::unique_ptr<HttpServer> http)
      : http_(std::move(http)) {}
  std::unique_ptr<HttpServer> http_;
};

}  // namespace ziggy

#endif  // ZIGGY_COMMON_METRICS_SERVER_H_
