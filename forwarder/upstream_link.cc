#include "forwarder/upstream_link.h"

#include <utility>

namespace ziggy {

UpstreamLink::UpstreamLink(std::vector<std::string> upstreams)
    : upstreams_(std::move(upstreams)) {}

UpstreamLink::~UpstreamLink() = default;

void UpstreamLink::Start() {
  thread_ = std::thread([this] { Run(); });
}

void UpstreamLink::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void UpstreamLink::SetUpstreams(std::vector<std::string> upstreams) {
  absl::MutexLock lock(&mu_);
  upstreams_ = std::move(upstreams);
  ++upstreams_version_;
}

std::vector<std::string> UpstreamLink::upstreams() const {
  absl::MutexLock lock(&mu_);
  return upstreams_;
}

Value UpstreamLink::Status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

bool UpstreamLink::TakeUpstreams(uint64_t* version,
                                 std::vector<std::string>* upstreams) {
  absl::MutexLock lock(&mu_);
  if (*version == upstreams_version_) return false;
  *version = upstreams_version_;
  *upstreams = upstreams_;
  return true;
}

bool UpstreamLink::StatusDue(absl::Time now, absl::Duration interval,
                             absl::Time* last) {
  if (now - *last < interval) return false;
  *last = now;
  return true;
}

void UpstreamLink::PublishStatus(Value status) {
  absl::MutexLock lock(&mu_);
  status_ = std::move(status);
}

}  // namespace ziggy
