#include "client/reader/quantile_sketch.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ziggy {

QuantileSketch::QuantileSketch(QuantileSketchOptions options)
    : options_(options),
      gamma_((1 + options.relative_accuracy) / (1 - options.relative_accuracy)),
      inv_log_gamma_(1 / std::log(gamma_)),
      min_(std::numeric_limits<double>::infinity()),
      max_(-std::numeric_limits<double>::infinity()) {
  if (options_.max_buckets < 1) options_.max_buckets = 1;
}

int QuantileSketch::Index(double magnitude) const {
  // |log_gamma| of any finite double is below 2^31 for a >= 1e-6.
  return static_cast<int>(std::ceil(std::log(magnitude) * inv_log_gamma_));
}

double QuantileSketch::Value(int index) const {
  return 2 * std::pow(gamma_, index) / (gamma_ + 1);
}

void QuantileSketch::Store::Extend(int low, int high, size_t max_buckets) {
  if (counts.empty()) {
    low = std::max<int64_t>(low, int64_t{high} - max_buckets + 1);
    offset = low;
    counts.assign(static_cast<size_t>(high - low + 1), 0);
    return;
  }
  const int old_high = offset + static_cast<int>(counts.size()) - 1;
  low = std::min(low, offset);
  high = std::max(high, old_high);
  low =
      static_cast<int>(std::max<int64_t>(low, int64_t{high} - max_buckets + 1));
  std::vector<uint64_t> grown(static_cast<size_t>(high - low + 1), 0);
  for (size_t i = 0; i < counts.size(); ++i) {
    const int index = std::max(offset + static_cast<int>(i), low);
    grown[static_cast<size_t>(index - low)] += counts[i];
  }
  counts.swap(grown);
  offset = low;
}

void QuantileSketch::Store::Add(int index, uint64_t n, size_t max_buckets) {
  if (counts.empty() || index < offset ||
      index >= offset + static_cast<int>(counts.size())) {
    Extend(index, index, max_buckets);
  }
  index = std::max(index, offset);  // collapsed into the lowest kept bucket
  counts[static_cast<size_t>(index - offset)] += n;
  total += n;
}

void QuantileSketch::Add(double x, uint64_t times) {
  if (!std::isfinite(x) || times == 0) return;
  if (x > 0) {
    positive_.Add(Index(x), times, options_.max_buckets);
  } else if (x < 0) {
    negative_.Add(Index(-x), times, options_.max_buckets);
  } else {
    zeros_ += times;
  }
  AddExact(x, times);
  count_ += times;
  sum_ += x * static_cast<double>(times);
  min_ = std::min(min_, x);
  max_ = std::max(max_, x);
}

void QuantileSketch::AddExact(double x, uint64_t times) {
  if (!exact_) return;
  for (auto& [value, count] : exact_values_) {
    if (value == x) return count += times, void();
  }
  if (exact_values_.size() < options_.exact_values) {
    return exact_values_.emplace_back(x, times), void();
  }
  exact_ = false;
  exact_values_.clear();
  exact_values_.shrink_to_fit();
}

double QuantileSketch::ExactQuantile(uint64_t rank) const {
  std::vector<std::pair<double, uint64_t>> sorted = exact_values_;
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [value, count] : sorted) {
    if (rank < count) return value;
    rank -= count;
  }
  return max_;  // unreachable: the counts add up to count_
}

void QuantileSketch::Merge(const QuantileSketch& other) {
  if (!other.exact_) {
    exact_ = false;
    exact_values_.clear();
  }
  for (const auto& [value, count] : other.exact_values_) AddExact(value, count);
  for (auto [from, to] : {std::make_pair(&other.positive_, &positive_),
                          std::make_pair(&other.negative_, &negative_)}) {
    for (size_t i = 0; i < from->counts.size(); ++i) {
      if (from->counts[i] == 0) continue;
      to->Add(from->offset + static_cast<int>(i), from->counts[i],
              options_.max_buckets);
    }
  }
  zeros_ += other.zeros_;
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

bool QuantileSketch::Find(const Store& store, bool down, uint64_t* rank,
                          int* index) const {
  if (*rank >= store.total) {
    *rank -= store.total;
    return false;
  }
  const size_t n = store.counts.size();
  for (size_t k = 0; k < n; ++k) {
    const size_t i = down ? n - 1 - k : k;
    if (*rank < store.counts[i]) {
      *index = store.offset + static_cast<int>(i);
      return true;
    }
    *rank -= store.counts[i];
  }
  return false;  // unreachable: the counts add up to total
}

double QuantileSketch::Quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::min(1.0, std::max(0.0, q));
  uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_ - 1));
  if (exact_) return ExactQuantile(rank);
  double v = 0;
  int index;
  if (Find(negative_, /*down=*/true, &rank, &index)) {
    v = -Value(index);
  } else if (rank < zeros_) {
    v = 0;
  } else if (rank -= zeros_; Find(positive_, /*down=*/false, &rank, &index)) {
    v = Value(index);
  }
  return std::min(max_, std::max(min_, v));
}

}  // namespace ziggy
