#include "forwarder/relay_client.h"

#include <pthread.h>

#include "absl/strings/str_join.h"
#include "forwarder/relay_connection.h"
#include "glog/logging.h"

namespace ziggy {

RelayClient::RelayClient(Spool* spool, RelayOptions options)
    : spool_(spool), options_(std::move(options)) {
  upstreams_ = options_.upstreams;
}

RelayClient::~RelayClient() { Stop(); }

void RelayClient::Start() { thread_ = std::thread(&RelayClient::Run, this); }

void RelayClient::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void RelayClient::SetUpstreams(std::vector<std::string> upstreams) {
  absl::MutexLock lock(&mu_);
  upstreams_ = std::move(upstreams);
  ++upstreams_version_;
}

std::vector<std::string> RelayClient::upstreams() const {
  absl::MutexLock lock(&mu_);
  return upstreams_;
}

Value RelayClient::Status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

bool RelayClient::TakeUpstreams(uint64_t* version,
                                std::vector<std::string>* upstreams) {
  absl::MutexLock lock(&mu_);
  if (*version == upstreams_version_) return false;
  *version = upstreams_version_;
  *upstreams = upstreams_;
  return true;
}

void RelayClient::Run() {
  pthread_setname_np(pthread_self(), "forwarder-relay");
  RelayConnection connection(spool_, options_);
  uint64_t version = ~uint64_t{0};
  std::vector<std::string> upstreams;
  absl::Time last_status = absl::InfinitePast();
  while (!stop_.load()) {
    if (TakeUpstreams(&version, &upstreams)) {
      LOG(INFO) << "relay: upstreams now " << absl::StrJoin(upstreams, ",");
      connection.SetUpstreams(upstreams);
    }
    connection.FillWindow();
    connection.HandleReplies();
    connection.CheckTimeouts();
    connection.Probe();
    PublishStatus(connection, &last_status);
  }
}

void RelayClient::PublishStatus(const RelayConnection& connection,
                                absl::Time* last) {
  const absl::Time now = options_.clock->Now();
  if (now - *last < options_.status_interval) return;
  *last = now;
  Value status = connection.Status();
  absl::MutexLock lock(&mu_);
  status_ = std::move(status);
}

}  // namespace ziggy
