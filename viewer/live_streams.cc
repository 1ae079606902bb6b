#include "viewer/live_streams.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace ziggy {

struct LiveStreams::Follower {
  std::unique_ptr<StreamSubscriber> stream;
  std::thread thread;
};

LiveStreams::LiveStreams(std::vector<StreamOptions> daemons, size_t max_queued)
    : daemons_(std::move(daemons)), max_queued_(max_queued) {}

LiveStreams::~LiveStreams() {
  stopping_.store(true);
  for (auto& follower : followers_) {
    if (follower->thread.joinable()) follower->thread.join();
  }
}

std::vector<std::string> LiveStreams::Connect() {
  std::vector<std::unique_ptr<StreamSubscriber>> streams;
  std::vector<absl::Status> results(daemons_.size());
  std::vector<std::thread> connecting;
  for (size_t i = 0; i < daemons_.size(); ++i) {
    streams.push_back(std::make_unique<StreamSubscriber>(daemons_[i]));
    connecting.emplace_back(
        [&streams, &results, i] { results[i] = streams[i]->Connect(); });
  }
  for (std::thread& t : connecting) t.join();
  std::vector<std::string> errors;
  for (size_t i = 0; i < streams.size(); ++i) {
    if (!results[i].ok()) {
      errors.emplace_back(results[i].message());
      continue;
    }
    followers_.push_back(std::make_unique<Follower>());
    followers_.back()->stream = std::move(streams[i]);
  }
  for (auto& follower : followers_) {
    follower->thread = std::thread(&LiveStreams::Follow, this, follower.get());
  }
  return errors;
}

void LiveStreams::Follow(Follower* follower) {
  std::string type, bson;
  bool warned = false;  // once per time the stream is out of reach
  while (!stopping_.load()) {
    if (follower->stream->Next(&type, &bson, absl::Milliseconds(100))) {
      Push(std::move(bson));
    }
    const absl::Status health = follower->stream->Health();
    if (!health.ok() && !warned) {
      Note(absl::StrCat(health.message(), "; still trying"));
    }
    warned = !health.ok();
  }
}

void LiveStreams::Push(std::string bson) {
  absl::MutexLock lock(&mu_);
  auto room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return events_.size() < max_queued_ || stopping_.load();
  };
  // Polls the stop flag: it is not under mu_.
  while (
      !mu_.AwaitWithTimeout(absl::Condition(&room), absl::Milliseconds(100))) {
  }
  if (!stopping_.load()) events_.push_back(std::move(bson));
}

void LiveStreams::Note(std::string line) {
  absl::MutexLock lock(&mu_);
  notes_.push_back(std::move(line));
}

bool LiveStreams::Next(std::string* bson, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !events_.empty();
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&ready), timeout)) return false;
  *bson = std::move(events_.front());
  events_.pop_front();
  return true;
}

std::vector<std::string> LiveStreams::TakeNotes() {
  absl::MutexLock lock(&mu_);
  return std::exchange(notes_, {});
}

}  // namespace ziggy
