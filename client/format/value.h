// Value: an owned, typed field value of an event body.
//
// A Value is null, a bool, a 64-bit integer, a double, a string, a list of
// Values or a map from string keys to Values. Maps keep insertion order,
// because BSON documents are ordered and a round trip must not reorder them.
//
// Values are what applications pass for composite fields (lists, maps) and
// what the consumer side hands back after decoding an event. Scalars passed to
// Set/Append never need a Value: see FieldValue in ziggy.h.
//
// Thread-safety: a Value is a plain value type; const access is safe from
// several threads, mutation is not.

#ifndef ZIGGY_CLIENT_FORMAT_VALUE_H_
#define ZIGGY_CLIENT_FORMAT_VALUE_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/variant.h"

namespace ziggy {

class Value {
 public:
  enum class Kind { kNull, kBool, kInt, kDouble, kString, kList, kMap };
  using List = std::vector<Value>;
  using Map = std::vector<std::pair<std::string, Value>>;

  Value() = default;  // null
  Value(std::nullptr_t) {}
  Value(bool b) : rep_(b) {}
  // Every integer type but bool. An unsigned value above INT64_MAX has no
  // BSON integer type and is stored as a double.
  template <typename T, std::enable_if_t<std::is_integral<T>::value &&
                                             !std::is_same<T, bool>::value,
                                         int> = 0>
  Value(T i) : rep_(FromInteger(i)) {}
  Value(double d) : rep_(d) {}
  Value(const char* s) : rep_(std::string(s)) {}
  Value(absl::string_view s) : rep_(std::string(s)) {}
  Value(std::string s) : rep_(std::move(s)) {}
  Value(List list) : rep_(std::move(list)) {}
  Value(Map map) : rep_(std::move(map)) {}
  // Any other pointer would silently become a bool.
  template <typename T>
  Value(const T*) = delete;

  static Value MakeList(std::initializer_list<Value> items) {
    return Value(List(items));
  }
  static Value MakeMap() { return Value(Map()); }

  Kind kind() const { return static_cast<Kind>(rep_.index()); }
  bool is_null() const { return kind() == Kind::kNull; }

  // REQUIRES: kind() is the accessor's kind (AsDouble also accepts kInt).
  bool AsBool() const { return absl::get<bool>(rep_); }
  int64_t AsInt() const { return absl::get<int64_t>(rep_); }
  double AsDouble() const;
  const std::string& AsString() const { return absl::get<std::string>(rep_); }
  const List& AsList() const { return absl::get<List>(rep_); }
  const Map& AsMap() const { return absl::get<Map>(rep_); }
  List& MutableList() { return absl::get<List>(rep_); }
  Map& MutableMap() { return absl::get<Map>(rep_); }

  // Find("response.status") walks maps by key and lists by numeric index.
  // Returns nullptr when any step is missing or walks through a scalar.
  const Value* Find(absl::string_view dotted_path) const;

  // For map values: the value under `key` (not a path), or nullptr.
  const Value* Get(absl::string_view key) const;

  friend bool operator==(const Value& a, const Value& b) {
    return a.rep_ == b.rep_;
  }
  friend bool operator!=(const Value& a, const Value& b) { return !(a == b); }

  // A compact JSON-like rendering for test failure messages and debugging.
  std::string DebugString() const;

 private:
  using Rep = absl::variant<std::nullptr_t, bool, int64_t, double, std::string,
                            List, Map>;

  template <typename T>
  static Rep FromInteger(T i) {
    if (std::is_unsigned<T>::value &&
        static_cast<uint64_t>(i) > static_cast<uint64_t>(INT64_MAX)) {
      return static_cast<double>(i);
    }
    return static_cast<int64_t>(i);
  }

  Rep rep_;
};

// FieldValue: the value argument of Set and Append. A cheap, non-owning view
// of a scalar or of a Value, implicitly constructed from what callers pass
// (`Set("status", 200)`, `Set("agent", header)`, `Set("tags", list)`), so
// scalar fields never allocate on the caller's side.
//
// REQUIRES: a viewed string or Value outlives the call it is passed to.
class FieldValue {
 public:
  enum class Kind { kNull, kBool, kInt, kDouble, kString, kValue };

  FieldValue(std::nullptr_t) : kind_(Kind::kNull) {}
  FieldValue(bool b) : kind_(Kind::kBool) { scalar_.b = b; }
  template <typename T, std::enable_if_t<std::is_integral<T>::value &&
                                             !std::is_same<T, bool>::value,
                                         int> = 0>
  FieldValue(T i) {
    if (std::is_unsigned<T>::value &&
        static_cast<uint64_t>(i) > static_cast<uint64_t>(INT64_MAX)) {
      kind_ = Kind::kDouble;
      scalar_.d = static_cast<double>(i);
    } else {
      kind_ = Kind::kInt;
      scalar_.i = static_cast<int64_t>(i);
    }
  }
  FieldValue(double d) : kind_(Kind::kDouble) { scalar_.d = d; }
  FieldValue(const char* s) : kind_(Kind::kString), string_(s) {}
  FieldValue(absl::string_view s) : kind_(Kind::kString), string_(s) {}
  FieldValue(const std::string& s) : kind_(Kind::kString), string_(s) {}
  FieldValue(const Value& v) : kind_(Kind::kValue), value_(&v) {}
  template <typename T>
  FieldValue(const T*) = delete;

  Kind kind() const { return kind_; }
  bool AsBool() const { return scalar_.b; }
  int64_t AsInt() const { return scalar_.i; }
  double AsDouble() const { return scalar_.d; }
  absl::string_view AsString() const { return string_; }
  const Value& AsValue() const { return *value_; }

 private:
  Kind kind_;
  union {
    bool b;
    int64_t i;
    double d;
  } scalar_ = {};
  absl::string_view string_;
  const Value* value_ = nullptr;
};

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_FORMAT_VALUE_H_
