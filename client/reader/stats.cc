#include "client/reader/stats.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/base/internal/endian.h"
#include "absl/strings/numbers.h"
#include "client/format/bson_type.h"

namespace ziggy {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr size_t kMaxLayout = 64;  // numbers per event whose paths are cached

// --by keys: a tag byte, then the value's text.
constexpr char kByValue = 'v', kByMissing = 'm', kByOther = 'o';

uint32_t U32(const char* p) { return absl::little_endian::Load32(p); }

// Bytes of the value of type `type` at p (in a validated document).
size_t ValueSize(BsonType type, const char* p) {
  switch (type) {
    case BsonType::kDouble:
    case BsonType::kDateTime:
    case BsonType::kTimestamp:
    case BsonType::kInt64:
      return 8;
    case BsonType::kString:
    case BsonType::kJavaScript:
    case BsonType::kSymbol:
      return 4 + U32(p);
    case BsonType::kDocument:
    case BsonType::kArray:
    case BsonType::kCodeWithScope:
      return U32(p);
    case BsonType::kBinary:
      return 5 + U32(p);
    case BsonType::kObjectId:
      return 12;
    case BsonType::kBool:
      return 1;
    case BsonType::kRegex: {
      const size_t pattern = strlen(p) + 1;
      return pattern + strlen(p + pattern) + 1;
    }
    case BsonType::kDbPointer:
      return 4 + U32(p) + 12;
    case BsonType::kInt32:
      return 4;
    case BsonType::kDecimal128:
      return 16;
    default:  // undefined, null, min/max key
      return 0;
  }
}

// Calls visit(key, type, value) for each element of the document at `doc`
// (length prefix included); stops early when visit returns false.
template <typename Visit>
void ForEachElement(const char* doc, Visit visit) {
  const char* p = doc + 4;
  const char* end = doc + U32(doc) - 1;
  while (p < end) {
    const auto type = static_cast<BsonType>(static_cast<uint8_t>(*p++));
    const size_t key_length = strlen(p);
    const absl::string_view key(p, key_length);
    p += key_length + 1;
    if (!visit(key, type, p)) return;
    p += ValueSize(type, p);
  }
}

// The number at p, when `type` is int32, int64 or double.
bool Number(BsonType type, const char* p, double* x) {
  switch (type) {
    case BsonType::kDouble: {
      const uint64_t bits = absl::little_endian::Load64(p);
      std::memcpy(x, &bits, sizeof bits);
      return true;
    }
    case BsonType::kInt32:
      *x = static_cast<int32_t>(U32(p));
      return true;
    case BsonType::kInt64:
      *x = static_cast<double>(
          static_cast<int64_t>(absl::little_endian::Load64(p)));
      return true;
    default:
      return false;
  }
}

// The --by key of the element at dotted `path` in the document at `doc`.
void ByKey(const char* doc, absl::string_view path, std::string* key) {
  key->assign(1, kByMissing);
  const size_t dot = path.find('.');
  const absl::string_view first = path.substr(0, dot);
  ForEachElement(doc, [&](absl::string_view k, BsonType type, const char* p) {
    if (k != first) return true;
    double x;
    if (dot != absl::string_view::npos) {
      if (type == BsonType::kDocument || type == BsonType::kArray) {
        ByKey(p, path.substr(dot + 1), key);
      }
    } else if (type == BsonType::kString) {
      key->assign(1, kByValue).append(p + 4, U32(p) - 1);
    } else if (type == BsonType::kBool) {
      key->assign(1, kByValue).append(*p ? "true" : "false");
    } else if (Number(type, p, &x)) {
      char text[32];
      const auto r = std::to_chars(text, text + sizeof text, x);
      key->assign(1, kByValue).append(text, r.ptr);
    }
    return false;
  });
}

// Sketches still allowed (StatsOptions::max_sketches), and the values
// refused for want of one.
struct Budget {
  size_t* used;
  size_t max;
  uint64_t* refused;
  bool Take() {
    if (*used >= max) return ++*refused, false;
    return ++*used, true;
  }
};

}  // namespace

// The events of one type with one --by value.
struct Stats::Group {
  uint64_t count = 0;
  double first_start = kInf, last_end = -kInf;
  std::vector<std::unique_ptr<QuantileSketch>> fields;  // by field index

  // Field i's sketch; a new one only while *budget (unless null) allows,
  // else null.
  QuantileSketch* Field(size_t i, Budget* budget) {
    if (i >= fields.size()) fields.resize(i + 1);
    if (fields[i] == nullptr) {
      if (budget != nullptr && !budget->Take()) return nullptr;
      fields[i] = std::make_unique<QuantileSketch>();
    }
    return fields[i].get();
  }
  void Merge(const Group& other) {
    count += other.count;
    first_start = std::min(first_start, other.first_start);
    last_end = std::max(last_end, other.last_end);
  }
};

struct Stats::TypeStats {
  absl::flat_hash_map<std::string, size_t> field_index;
  std::vector<std::string> field_names;
  absl::flat_hash_map<std::string, size_t> group_index;  // --by key
  std::vector<std::string> group_keys;
  std::vector<Group> groups;
  std::string path, key;  // scratch
  // The previous event's numbers: (path, field index) in the order met.
  // Events of a type mostly share a layout, so a number's path is compared
  // with the one met at the same position before hashing it.
  std::vector<std::pair<std::string, size_t>> layout;
  size_t position = 0;  // in `layout`, during Walk

  size_t CachedFieldIndex(const StatsOptions& options) {
    const size_t at = position++;
    if (at < layout.size() && layout[at].first == path)
      return layout[at].second;
    const size_t i = FieldIndex(path, options);
    if (at < layout.size()) {
      layout[at] = {path, i};
    } else if (at < kMaxLayout) {
      layout.emplace_back(path, i);
    }
    return i;
  }

  // The index of field `name`; npos when it is not wanted.
  size_t FieldIndex(absl::string_view name, const StatsOptions& options) {
    auto it = field_index.find(name);
    if (it != field_index.end()) return it->second;
    if (!options.fields.empty()) return std::string::npos;
    if (field_names.size() >= options.max_fields) name = kStatsOther;
    it = field_index.find(name);
    if (it != field_index.end()) return it->second;
    field_names.emplace_back(name);
    field_index.emplace(name, field_names.size() - 1);
    return field_names.size() - 1;
  }
  Group& GroupFor(const std::string& by_key, const StatsOptions& options) {
    auto it = group_index.find(by_key);
    if (it != group_index.end()) return groups[it->second];
    if (groups.size() >= options.max_by_values && by_key[0] != kByOther) {
      return GroupFor(std::string(1, kByOther), options);
    }
    group_keys.push_back(by_key);
    group_index.emplace(by_key, groups.size());
    return groups.emplace_back();
  }
  // Counts every wanted number under the document at `doc`; `path` holds
  // the document's own path.
  void Walk(const char* doc, Group& group, const StatsOptions& options,
            Budget& budget) {
    ForEachElement(doc, [&](absl::string_view k, BsonType type, const char* p) {
      const size_t length = path.size();
      path.push_back('.');
      path.append(k.data(), k.size());
      double x;
      if (type == BsonType::kDocument) {
        Walk(p, group, options, budget);
      } else if (Number(type, p, &x)) {
        const size_t i = CachedFieldIndex(options);
        QuantileSketch* s =
            i == std::string::npos ? nullptr : group.Field(i, &budget);
        if (s != nullptr) s->Add(x);
      }
      path.resize(length);
      return true;
    });
  }
};

Stats::Stats(StatsOptions options) : options_(std::move(options)) {}
Stats::~Stats() = default;
Stats::Stats(Stats&&) noexcept = default;
Stats& Stats::operator=(Stats&&) noexcept = default;

Stats::TypeStats* Stats::FindType(absl::string_view type) {
  if (last_ != nullptr && type == last_name_) return last_;
  auto it = types_.find(type);
  if (it == types_.end()) {
    if (types_.size() >= options_.max_types && type != kStatsOther) {
      return FindType(kStatsOther);
    }
    auto stats = std::make_unique<TypeStats>();
    StatsOptions every;  // the fields asked for, uncapped
    every.max_fields = options_.fields.size();
    for (const std::string& f : options_.fields) stats->FieldIndex(f, every);
    it = types_.emplace(type, std::move(stats)).first;
  }
  last_name_.assign(type.data(), type.size());
  return last_ = it->second.get();
}

void Stats::Add(absl::string_view bson) {
  absl::string_view type;
  const char* body = nullptr;
  double start = kInf, end = -kInf;
  ForEachElement(
      bson.data(), [&](absl::string_view k, BsonType t, const char* p) {
        double x;
        if (k == "type" && t == BsonType::kString) {
          type = absl::string_view(p + 4, U32(p) - 1);
        } else if (k == "body" && t == BsonType::kDocument) {
          body = p;
        } else if (k == "start" && Number(t, p, &x) && std::isfinite(x)) {
          start = x;
        } else if (k == "end" && Number(t, p, &x) && std::isfinite(x)) {
          end = x;
        }
        return true;
      });
  if (type.empty()) return;
  TypeStats* stats = FindType(type);
  stats->key.assign(1, kByMissing);
  if (!options_.by.empty()) ByKey(bson.data(), options_.by, &stats->key);
  Group& group = stats->GroupFor(stats->key, options_);
  ++group.count;
  ++events_;
  group.first_start = std::min(group.first_start, start);
  group.last_end = std::max(group.last_end, end);
  if (body == nullptr) return;
  stats->path.assign("body");
  stats->position = 0;
  Budget budget{&sketches_, options_.max_sketches, &untracked_values_};
  stats->Walk(body, group, options_, budget);
}

void Stats::Merge(const Stats& other) {
  Budget budget{&sketches_, options_.max_sketches, &untracked_values_};
  for (const auto& [name, from] : other.types_) {
    TypeStats* to = FindType(name);
    for (size_t g = 0; g < from->groups.size(); ++g) {
      const Group& source = from->groups[g];
      Group& group = to->GroupFor(from->group_keys[g], options_);
      group.Merge(source);
      for (size_t i = 0; i < source.fields.size(); ++i) {
        if (source.fields[i] == nullptr) continue;
        const size_t j = to->FieldIndex(from->field_names[i], options_);
        if (j == std::string::npos) continue;
        if (QuantileSketch* s = group.Field(j, &budget)) {
          s->Merge(*source.fields[i]);
        } else {
          untracked_values_ += source.fields[i]->count() - 1;  // 1 counted
        }
      }
    }
  }
  events_ += other.events_;
  untracked_values_ += other.untracked_values_;
}

namespace {

// Appends the rows of one group to *rows: `row` (type and --by filled in)
// for the events, then one per field.
void AppendRows(StatsRow row, const std::vector<std::string>& field_names,
                const std::vector<std::unique_ptr<QuantileSketch>>& fields,
                std::vector<StatsRow>* rows) {
  rows->push_back(row);
  std::vector<size_t> order;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i] != nullptr && fields[i]->count() > 0) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return field_names[a] < field_names[b];
  });
  for (size_t i : order) {
    const QuantileSketch& s = *fields[i];
    row.field = field_names[i];
    row.count = s.count();
    row.min = s.min();
    row.mean = s.mean();
    row.p50 = s.Quantile(0.5);
    row.p90 = s.Quantile(0.9);
    row.p99 = s.Quantile(0.99);
    row.max = s.max();
    row.rate = row.span > 0 ? row.count / row.span : 0;
    rows->push_back(row);
  }
}

}  // namespace

void Stats::AppendGroup(const std::string& type, const std::string& by_key,
                        const Group& group, const RowOptions& options,
                        std::vector<StatsRow>* rows) const {
  StatsRow row;
  row.type = type;
  row.has_by = !options_.by.empty();
  row.by_missing = row.has_by && by_key[0] == kByMissing;
  if (row.has_by && !row.by_missing) {
    row.by =
        by_key[0] == kByOther ? std::string(kStatsOther) : by_key.substr(1);
  }
  row.count = group.count;
  const double span =
      options.span ? *options.span : group.last_end - group.first_start;
  row.span = std::isfinite(span) ? span : 0;
  row.rate = row.span > 0 ? row.count / row.span : 0;
  AppendRows(row, types_.at(type)->field_names, group.fields, rows);
}

void Stats::AppendType(const std::string& name, const RowOptions& options,
                       std::vector<StatsRow>* rows) const {
  const TypeStats& type = *types_.at(name);
  std::vector<size_t> order(type.groups.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return type.groups[a].count > type.groups[b].count;
  });
  Group other;
  bool has_other = false;
  size_t shown = 0;
  for (size_t i : order) {
    const Group& g = type.groups[i];
    if (type.group_keys[i][0] != kByOther && shown < options_.top_by) {
      AppendGroup(name, type.group_keys[i], g, options, rows);
      ++shown;
      continue;
    }
    has_other = true;
    other.Merge(g);
    for (size_t f = 0; f < g.fields.size(); ++f) {
      if (g.fields[f] != nullptr) other.Field(f, nullptr)->Merge(*g.fields[f]);
    }
  }
  if (has_other)
    AppendGroup(name, std::string(1, kByOther), other, options, rows);
}

std::vector<StatsRow> Stats::Rows(const RowOptions& options) const {
  std::vector<std::string> names;
  for (const auto& entry : types_) names.push_back(entry.first);
  std::sort(names.begin(), names.end());
  std::vector<StatsRow> rows;
  for (const std::string& name : names) AppendType(name, options, &rows);
  return rows;
}

}  // namespace ziggy
