#include "viewer/event_files.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <queue>
#include <tuple>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/format/bson_type.h"
#include "client/format/bson_validate.h"
#include "client/format/event.h"
#include "client/reader/grouper.h"
#include "viewer/viewer.h"

namespace ziggy {
namespace {

// A BSON number's value (`end` may be any of them, see client/format/event.h).
bool ReadNumber(BsonType type, absl::string_view value, double* number) {
  switch (type) {
    case BsonType::kDouble: {
      const uint64_t bits = absl::little_endian::Load64(value.data());
      std::memcpy(number, &bits, sizeof bits);
      return !std::isnan(*number);  // NaN would break MergeByEnd's order
    }
    case BsonType::kInt32:
      *number = static_cast<int32_t>(absl::little_endian::Load32(value.data()));
      return true;
    case BsonType::kInt64:
      *number = static_cast<double>(
          static_cast<int64_t>(absl::little_endian::Load64(value.data())));
      return true;
    default:  // not a number
      return false;
  }
}

// A resynchronisation point: what a collector writes, an event with a type.
bool PlausibleEvent(absl::string_view bson) {
  EventView event;
  std::string why;
  return InspectEvent(bson, &event, &why) && !event.type.empty();
}

}  // namespace

bool InspectEvent(absl::string_view bson, EventView* event, std::string* why) {
  *event = EventView();
  event->bson = bson;
  return ValidateDocument(
      bson, kMaxDepth, why,
      [event](absl::string_view key, BsonType type, absl::string_view value) {
        if (key == "end") event->has_end = ReadNumber(type, value, &event->end);
        if (type != BsonType::kString) return;
        if (key == "type") event->type = value;
        if (key == "id") event->id = value;
      });
}

EventFiles::EventFiles(std::vector<std::string> paths,
                       EventFilesOptions options)
    : options_(std::move(options)), paths_(std::move(paths)) {}

EventFiles::EventFiles(int fd, std::string name, EventFilesOptions options)
    : options_(std::move(options)),
      name_(std::move(name)),
      fd_(fd),
      owns_fd_(false) {
  StartReader();
}

EventFiles::~EventFiles() { CloseCurrent(); }

void EventFiles::Note(int code, const std::string& what) {
  if (code == kViewError || code_ == kViewOk) code_ = code;
  if (options_.report) options_.report(absl::StrCat("ziggyview: ", what));
}

void EventFiles::StartReader() {
  ReaderOptions reader;
  reader.validate = false;  // InspectEvent validates, reading the fields
  reader.read_size = options_.read_size;
  reader.resync = true;
  reader.plausible = PlausibleEvent;
  reader.on_skip = [this](const SkippedRange& r) {
    Note(kViewDamaged, absl::StrCat(name_, ": bytes ", r.from, "-", r.to,
                                    " skipped: ", r.why));
  };
  reader.cancel = options_.stop;
  reader_ = std::make_unique<DocumentReader>(fd_, std::move(reader));
}

bool EventFiles::OpenNext() {
  while (next_path_ < paths_.size()) {
    if (options_.stop != nullptr && options_.stop->load()) return false;
    name_ = paths_[next_path_++];
    fd_ = OpenLogFile(name_);  // its .zst if compressed since listed
    if (fd_ < 0) {
      Note(kViewError,
           absl::StrCat("cannot open ", name_, ": ", strerror(errno)));
      continue;
    }
    struct stat st;
    if (fstat(fd_, &st) == 0 && S_ISDIR(st.st_mode)) {
      Note(kViewError,
           absl::StrCat("cannot read ", name_, ": ", strerror(EISDIR)));
      CloseCurrent();
      continue;
    }
    StartReader();
    return true;
  }
  return false;
}

void EventFiles::CloseCurrent() {
  if (reader_ != nullptr &&
      reader_->status().code() == absl::StatusCode::kUnavailable) {
    Note(kViewError, absl::StrCat("cannot read ", name_, ": ",
                                  reader_->status().message()));
  }
  reader_.reset();
  if (fd_ >= 0 && owns_fd_) close(fd_);
  fd_ = -1;
}

bool EventFiles::Next(EventView* event) {
  while (reader_ != nullptr || OpenNext()) {
    absl::string_view doc;
    if (!reader_->Next(&doc)) {
      CloseCurrent();
      continue;
    }
    std::string why;
    if (InspectEvent(doc, event, &why)) {
      if (!event->has_end) event->end = last_end_;
      last_end_ = event->end;
      return true;
    }
    Note(kViewDamaged,
         absl::StrCat(name_, ": bytes ", reader_->offset() - doc.size(), "-",
                      reader_->offset(), " skipped: not a valid event: ", why));
  }
  return false;
}

void MergeByEnd(const std::vector<EventFiles*>& streams,
                absl::FunctionRef<void(const EventView&)> emit) {
  struct Head {
    double end;
    bool top_level;
    size_t stream;
  };
  auto later = [](const Head& a, const Head& b) {
    return std::tie(a.end, a.top_level, a.stream) >
           std::tie(b.end, b.top_level, b.stream);
  };
  std::priority_queue<Head, std::vector<Head>, decltype(later)> heads(later);
  std::vector<EventView> next(streams.size());
  auto advance = [&](size_t i) {
    if (streams[i]->Next(&next[i])) {
      heads.push({next[i].end, IsTopLevelType(next[i].type), i});
    }
  };
  for (size_t i = 0; i < streams.size(); ++i) advance(i);
  while (!heads.empty()) {
    const size_t i = heads.top().stream;
    heads.pop();
    emit(next[i]);
    advance(i);
  }
}

Where EndTimeFilter(const LogFileQuery& dates) {
  std::vector<std::string> terms;
  if (dates.start != absl::InfinitePast()) {
    terms.push_back(absl::StrCat("end >= ", absl::ToUnixSeconds(dates.start)));
  }
  if (dates.end != absl::InfiniteFuture()) {
    terms.push_back(absl::StrCat(
        "end < ", absl::ToUnixSeconds(dates.end + absl::Nanoseconds(1))));
  }
  if (terms.empty()) terms.push_back("exists(end)");
  return *Where::Parse(absl::StrJoin(terms, " and "));
}

}  // namespace ziggy
