#include "common/metrics_server.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace ziggy {

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    absl::string_view address, DaemonSockets* sockets, StatusSchema schema) {
  StatusSnapshots* snapshots = &sockets->status_snapshots();
  const auto scrape = [snapshots, schema] {
    HttpResponse response;
    const StatusSnapshots::Snapshot status = snapshots->Get(kSnapshotTimeout);
    if (status == nullptr) {
      response.status = 503;
      response.body = "the daemon did not answer (stopping or busy)\n";
      return response;
    }
    response.content_type = kPrometheusContentType;
    response.body = PrometheusText(*status, schema);
    return response;
  };
  absl::StatusOr<std::unique_ptr<HttpServer>> http =
      HttpServer::Start(address, {{"/metrics", scrape}});
  if (!http.ok()) {
    return absl::Status(http.status().code(),
                        absl::StrCat("--metrics: ", http.status().message()));
  }
  sockets->AddPort("metrics", (*http)->url());
  return std::unique_ptr<MetricsServer>(new MetricsServer(*std::move(http)));
}

}  // namespace ziggy
