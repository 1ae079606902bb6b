#include "common/intake.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "client/format/bson_repair.h"
#include "client/format/bson_type.h"
#include "client/format/bson_validate.h"
#include "client/format/event.h"
#include "client/format/swar.h"
#include "client/format/wire.h"
#include "glog/logging.h"

namespace ziggy {

void EventIntake::SeenMap::Note(absl::string_view key, double now) {
  Seen* seen;
  if (recent_[0].seen != nullptr && SameString(recent_[0].key, key)) {
    seen = recent_[0].seen;
  } else if (recent_[1].seen != nullptr && SameString(recent_[1].key, key)) {
    std::swap(recent_[0], recent_[1]);
    seen = recent_[0].seen;
  } else if ((seen = Find(key)) == nullptr) {
    ++untracked_;
    return;
  }
  seen->last = now;
  ++seen->count;
}

EventIntake::Seen* EventIntake::SeenMap::Find(absl::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) {
    if (map_.size() >= kMaxTracked) return nullptr;
    it = map_.try_emplace(key).first;
  }
  recent_[1] = recent_[0];
  recent_[0] = {it->first, &it->second};
  return &it->second;
}

Value EventIntake::SeenMap::ToValue() const {
  Value::Map map;
  for (const auto& [key, seen] : map_) {
    map.emplace_back(
        key, Value(Value::Map{{"last", seen.last}, {"count", seen.count}}));
  }
  return Value(std::move(map));
}

void EventIntake::LogEvery10s(absl::string_view what, absl::string_view reason,
                              absl::string_view detail) {
  auto& [last_logged, since] = logged_[reason];
  ++since;
  const absl::Time now = absl::Now();
  if (now - last_logged < absl::Seconds(10)) return;
  LOG(WARNING) << what << " " << since << " event(s): " << reason
               << " (latest: " << detail << ")";
  last_logged = now;
  since = 0;
}

void EventIntake::Drop(uint64_t* counter, absl::string_view reason,
                       absl::string_view detail) {
  ++*counter;
  LogEvery10s("dropped", reason, detail);
}

void EventIntake::DropMultipart() {
  Drop(&multipart_, "multipart message", "an event is one frame");
}

namespace {

// What one pass over an event finds.
struct Checked {
  RoutingFields routing;
  bool utf8 = true;
  std::string why;  // when malformed
};

// Validates `doc` and reads the fields the daemons route by, in one pass.
bool CheckEvent(absl::string_view doc, EventFields* fields, Checked* checked) {
  const bool valid = ValidateEvent(doc, kMaxDepth, &checked->why,
                                   &checked->routing, &checked->utf8);
  fields->type = checked->routing.type;
  fields->host = checked->routing.host;
  fields->end = checked->routing.end;
  return valid;
}

}  // namespace

size_t EventIntake::AcceptMessage(absl::string_view message, double now,
                                  OnAccepted on_event) {
  documents_.clear();
  if (!SplitMessage(message, &documents_)) {
    Drop(&malformed_, "malformed BSON",
         absl::StrCat("document lengths do not tile the ", message.size(),
                      "-byte message"));
    return 0;
  }
  size_t accepted = 0;
  for (absl::string_view doc : documents_) {
    EventFields fields;
    if (Accept(&doc, now, &fields)) {
      on_event(doc, fields);
      ++accepted;
    }
  }
  return accepted;
}

bool EventIntake::Accept(absl::string_view* doc, double now,
                         EventFields* fields) {
  const size_t size = doc->size();
  if (size > max_event_bytes_) {
    Drop(&oversized_, "oversized",
         absl::StrCat(size, " > ", max_event_bytes_, " bytes"));
    return false;
  }
  Checked checked;
  if (!CheckEvent(*doc, fields, &checked)) {
    Drop(&malformed_, "malformed BSON", checked.why);
    return false;
  }
  const RoutingFields& routing = checked.routing;
  if (!routing.has_type || !routing.type_is_string || fields->type.empty()) {
    Drop(&no_type_, "no string type",
         !routing.has_type        ? "missing"
         : routing.type_is_string ? "empty"
                                  : "not a string");
    return false;
  }
  if (ABSL_PREDICT_FALSE(!checked.utf8) && !Repair(doc, fields)) return false;
  ++received_;
  received_bytes_ += size;
  last_ = now;
  lag_ = fields->end > 0 ? now - fields->end : 0;
  if (fields->end > 0) {
    recent_lags_[lags_seen_++ % kRecentLags] = static_cast<float>(lag_);
  }
  types_.Note(fields->type, now);
  hosts_.Note(fields->host, now);
  return true;
}

bool EventIntake::Repair(absl::string_view* doc, EventFields* fields) {
  repaired_.Clear();
  CHECK(RepairUtf8(*doc, &repaired_));
  if (repaired_.size() > max_event_bytes_) {
    Drop(&oversized_, "oversized once invalid UTF-8 is repaired",
         absl::StrCat(repaired_.size(), " > ", max_event_bytes_, " bytes"));
    return false;
  }
  *doc = repaired_.view();
  Checked checked;
  CHECK(CheckEvent(*doc, fields, &checked) && checked.utf8) << checked.why;
  ++repaired_utf8_;
  LogEvery10s("repaired", "invalid UTF-8 replaced by U+FFFD",
              absl::StrCat("type ", fields->type, ", host ", fields->host));
  return true;
}

void EventIntake::AppendStatus(Value::Map* status,
                               Value::Map more_dropped) const {
  status->emplace_back("last", last_);
  status->emplace_back("lag", lag_);
  std::vector<float> lags(
      recent_lags_.begin(),
      recent_lags_.begin() + std::min<uint64_t>(lags_seen_, kRecentLags));
  double median = 0;
  if (!lags.empty()) {
    std::nth_element(lags.begin(), lags.begin() + lags.size() / 2, lags.end());
    median = lags[lags.size() / 2];
  }
  status->emplace_back("lag_median", median);
  status->emplace_back("events", types_.ToValue());
  status->emplace_back("hosts", hosts_.ToValue());
  status->emplace_back("untracked",
                       Value(Value::Map{{"types", types_.untracked()},
                                        {"hosts", hosts_.untracked()}}));
  status->emplace_back("received", received_);
  status->emplace_back("received_bytes", received_bytes_);
  status->emplace_back("repaired", Value(Value::Map{{"utf8", repaired_utf8_}}));
  Value::Map dropped{
      {"malformed", malformed_},
      {"no_type", no_type_},
      {"oversized", oversized_},
      {"multipart", multipart_},
  };
  for (auto& reason : more_dropped) dropped.push_back(std::move(reason));
  status->emplace_back("dropped", Value(std::move(dropped)));
}

}  // namespace ziggy
