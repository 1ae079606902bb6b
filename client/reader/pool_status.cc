#include "client/reader/pool_status.h"

#include <algorithm>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ziggy {
namespace {

enum class Combine { kSum, kMax, kMin, kLeaveOut };

Combine CombineFor(const std::string& path, absl::string_view key) {
  static const std::set<std::string> kLeftOut = {"pid",
                                                 "now",
                                                 "rotate_hours",
                                                 "ports",
                                                 "disk.retain_days",
                                                 "disk.compress_after_days"};
  if (kLeftOut.count(path) > 0) return Combine::kLeaveOut;
  if (key == "last" || key == "next" || key == "lag" || key == "lag_median") {
    return Combine::kMax;
  }
  return key == "uptime" ? Combine::kMin : Combine::kSum;
}

bool IsNumber(const Value& v) {
  return v.kind() == Value::Kind::kInt || v.kind() == Value::Kind::kDouble;
}

Value CombineNumbers(const Value& a, const Value& b, Combine how) {
  const bool ints =
      a.kind() == Value::Kind::kInt && b.kind() == Value::Kind::kInt;
  switch (how) {
    case Combine::kMax:
      return a.AsDouble() >= b.AsDouble() ? a : b;
    case Combine::kMin:
      return a.AsDouble() <= b.AsDouble() ? a : b;
    default:
      if (ints) return Value(a.AsInt() + b.AsInt());
      return Value(a.AsDouble() + b.AsDouble());
  }
}

// Sums the maps of the replies into one, noting the paths of values that
// differ between daemons in *differing.
class StatusSum {
 public:
  void Add(const Value::Map& from) { Merge(from, "", &total_); }

  Value Take() {
    Strip(&total_, "");
    return Value(std::move(total_));
  }

 private:
  void Merge(const Value::Map& from, const std::string& prefix,
             Value::Map* into) {
    for (const auto& [key, value] : from) {
      const std::string path = prefix.empty() ? key : prefix + "." + key;
      const Combine how = CombineFor(path, key);
      if (how == Combine::kLeaveOut) continue;
      auto it =
          std::find_if(into->begin(), into->end(),
                       [&key = key](const auto& e) { return e.first == key; });
      if (it == into->end()) {
        into->emplace_back(
            key, value.kind() == Value::Kind::kMap ? Value::MakeMap() : value);
        it = std::prev(into->end());
        if (value.kind() != Value::Kind::kMap) continue;
      }
      MergeValue(value, path, how, &it->second);
    }
  }

  void MergeValue(const Value& value, const std::string& path, Combine how,
                  Value* into) {
    if (value.kind() == Value::Kind::kMap &&
        into->kind() == Value::Kind::kMap) {
      Merge(value.AsMap(), path, &into->MutableMap());
    } else if (IsNumber(value) && IsNumber(*into)) {
      *into = CombineNumbers(*into, value, how);
    } else if (value != *into) {
      differing_.insert(path);
    }
  }

  // Leaves out what differs between daemons.
  void Strip(Value::Map* map, const std::string& prefix) {
    Value::Map kept;
    for (auto& [key, value] : *map) {
      const std::string path = prefix.empty() ? key : prefix + "." + key;
      if (differing_.count(path) > 0) continue;
      if (value.kind() == Value::Kind::kMap) Strip(&value.MutableMap(), path);
      kept.emplace_back(std::move(key), std::move(value));
    }
    *map = std::move(kept);
  }

  Value::Map total_;
  std::set<std::string> differing_;
};

}  // namespace

std::vector<DaemonReply> CallEach(const std::vector<std::string>& hosts,
                                  absl::string_view command,
                                  const Value::Map& args,
                                  const ControlOptions& options) {
  std::vector<DaemonReply> replies;
  for (const std::string& host : hosts) {
    replies.push_back({host, absl::UnknownError("not asked")});
  }
  std::vector<std::thread> calls;
  for (DaemonReply& daemon : replies) {
    calls.emplace_back([&daemon, command, &args, &options] {
      daemon.reply = CallControl(daemon.host, command, args, options);
    });
  }
  for (std::thread& call : calls) call.join();
  return replies;
}

Value SumStatus(const std::vector<const Value*>& replies) {
  StatusSum sum;
  for (const Value* reply : replies) {
    if (reply->kind() == Value::Kind::kMap) sum.Add(reply->AsMap());
  }
  return sum.Take();
}

Value PoolStatus(const std::vector<DaemonReply>& daemons) {
  std::vector<const Value*> answers;
  Value::Map each;
  for (const DaemonReply& daemon : daemons) {
    if (daemon.reply.ok()) {
      answers.push_back(&*daemon.reply);
      each.emplace_back(daemon.host, *daemon.reply);
    } else {
      each.emplace_back(
          daemon.host,
          Value(Value::Map{
              {"down", true},
              {"error", std::string(daemon.reply.status().message())}}));
    }
  }
  return Value(Value::Map{{"total", SumStatus(answers)},
                          {"daemons", Value(std::move(each))}});
}

}  // namespace ziggy
