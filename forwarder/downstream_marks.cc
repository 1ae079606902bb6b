#include "forwarder/downstream_marks.h"

#include <algorithm>

#include "client/format/event.h"
#include "client/format/value.h"
#include "common/durable_file.h"

namespace ziggy {
namespace {

bool GetInt(const Value& doc, absl::string_view key, int64_t* out) {
  const Value* v = doc.Get(key);
  if (v == nullptr || v->kind() != Value::Kind::kInt) return false;
  *out = v->AsInt();
  return true;
}

bool GetString(const Value& doc, absl::string_view key, std::string* out) {
  const Value* v = doc.Get(key);
  if (v == nullptr || v->kind() != Value::Kind::kString) return false;
  *out = v->AsString();
  return true;
}

// A mark record's document: its forwarder, mark and group size.
bool DecodeMarkRecord(absl::string_view bytes,
                      std::pair<std::string, DownstreamMark>* mark,
                      int64_t* records) {
  absl::StatusOr<Value> doc = DecodeDocument(bytes);
  return doc.ok() && GetString(*doc, "forwarder", &mark->first) &&
         GetString(*doc, "token", &mark->second.token) &&
         GetInt(*doc, "next", &mark->second.next) &&
         GetInt(*doc, "first", &mark->second.at) &&
         GetInt(*doc, "records", records) && *records >= 0;
}

}  // namespace

std::string EncodeMarkRecord(absl::string_view forwarder,
                             const DownstreamMark& mark, int64_t records) {
  return EncodeDocument(Value(Value::Map{{"forwarder", forwarder},
                                         {"token", mark.token},
                                         {"next", mark.next},
                                         {"first", mark.at},
                                         {"records", records}}));
}

void MarkGroups::Add(const SegmentRecord& record) {
  if (record.mark) {
    Close(false);  // a group still open never got all its records
    int64_t records = 0;
    if (!DecodeMarkRecord(record.event, &pending_, &records)) return;
    open_ = true;
    open_offset_ = static_cast<int64_t>(record.offset);
    left_ = records;
    expect_ = pending_.second.at;
    if (left_ == 0) Close(true);
    return;
  }
  if (!open_) return;
  if (record.damaged_bytes > 0 || record.index != expect_) {
    return Close(false);  // damage inside the group: no mark
  }
  ++expect_;
  if (--left_ == 0) Close(true);
}

void MarkGroups::Close(bool whole) {
  if (open_ && whole) marks_.push_back(pending_);
  open_ = false;
}

void ApplyMarks(
    const std::vector<std::pair<std::string, DownstreamMark>>& marks,
    DownstreamMarks* into) {
  for (const auto& [id, mark] : marks) (*into)[id] = mark;
}

void TrimMarks(size_t limit, DownstreamMarks* marks) {
  if (marks->size() <= limit) return;
  std::vector<int64_t> ats;
  ats.reserve(marks->size());
  for (const auto& [id, mark] : *marks) ats.push_back(mark.at);
  std::nth_element(ats.begin(), ats.end() - limit, ats.end());
  const int64_t keep_from = *(ats.end() - limit);
  for (auto it = marks->begin(); it != marks->end();) {
    auto here = it++;
    if (here->second.at < keep_from) marks->erase(here);
  }
}

DownstreamMarks ReadDownstreamSnapshot(const std::string& dir, FileSystem* fs) {
  DownstreamMarks marks;
  absl::StatusOr<Value> doc = DecodeDocument(
      ReadFileOrEmpty(absl::StrCat(dir, "/", kDownstreamSnapshot), fs));
  const Value* forwarders = doc.ok() ? doc->Get("forwarders") : nullptr;
  if (forwarders == nullptr || forwarders->kind() != Value::Kind::kMap) {
    return marks;
  }
  for (const auto& [id, entry] : forwarders->AsMap()) {
    DownstreamMark mark;
    if (entry.kind() == Value::Kind::kMap &&
        GetString(entry, "token", &mark.token) &&
        GetInt(entry, "next", &mark.next) && GetInt(entry, "at", &mark.at)) {
      marks[id] = std::move(mark);
    }
  }
  return marks;
}

absl::Status WriteDownstreamSnapshot(const std::string& dir,
                                     const DownstreamMarks& marks,
                                     FileSystem* fs) {
  Value::Map forwarders;
  for (const auto& [id, mark] : marks) {
    forwarders.emplace_back(
        id, Value(Value::Map{
                {"token", mark.token}, {"next", mark.next}, {"at", mark.at}}));
  }
  return ReplaceFileDurably(dir, kDownstreamSnapshot,
                            EncodeDocument(Value(Value::Map{
                                {"forwarders", Value(std::move(forwarders))}})),
                            0600, fs);
}

}  // namespace ziggy
