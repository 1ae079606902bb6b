#include "forwarder/relay_client.h"

#include <pthread.h>

#include "absl/strings/str_join.h"
#include "forwarder/relay_connection.h"
#include "glog/logging.h"

namespace ziggy {

RelayClient::RelayClient(Spool* spool, RelayOptions options)
    : UpstreamLink(options.upstreams),
      spool_(spool),
      options_(std::move(options)) {}

RelayClient::~RelayClient() { Stop(); }

void RelayClient::Run() {
  pthread_setname_np(pthread_self(), "forwarder-relay");
  RelayConnection connection(spool_, options_);
  uint64_t version = ~uint64_t{0};
  std::vector<std::string> upstreams;
  absl::Time last_status = absl::InfinitePast();
  while (!stopping()) {
    if (TakeUpstreams(&version, &upstreams)) {
      LOG(INFO) << "relay: upstreams now " << absl::StrJoin(upstreams, ",");
      connection.SetUpstreams(upstreams);
    }
    connection.FillWindow();
    connection.HandleReplies();
    connection.CheckTimeouts();
    connection.Probe();
    if (StatusDue(options_.clock->Now(), options_.status_interval,
                  &last_status)) {
      PublishStatus(connection.Status());
    }
  }
}

}  // namespace ziggy
