// QuantileSketch: a mergeable summary of a stream of numbers that answers
// quantiles with a bounded relative error in bounded memory (DDSketch,
// Masson et al., VLDB 2019).
//
// Each value x != 0 falls in a log-spaced bucket i = ceil(log_gamma |x|),
// gamma = (1 + a) / (1 - a), which holds (gamma^(i-1), gamma^i]; a bucket is
// reported as 2 gamma^i / (gamma + 1), within a relative error a of every
// value in it. Positive and negative values have a bucket store each; zeros
// are counted apart. Count, sum, min and max are exact.
//
// The bound: Quantile(q) returns v with |v - x| <= a |x| (a = 0.01 by
// default: 1 %), where x is the exact value of rank floor(q (n - 1)) in the
// sorted input, as long as x's bucket was not collapsed. Each store keeps
// at most `max_buckets` buckets (2048 by default: 16 KiB of counts per
// sign, values spanning a factor gamma^2048 ~ 5.5e17 with a = 0.01, e.g.
// 1e-9 to 5e8); a value beyond that span at the small end (of either sign's
// magnitude) is counted in the smallest kept bucket, so only quantiles
// that land among the smallest magnitudes lose the bound (they are then
// overestimated in magnitude). Results are clamped to [min, max]. NaN and
// infinities are not counted. While at most `exact_values` (16) distinct
// values were seen — status codes, small enums — quantiles are exact.
//
// Memory: at most 2 * max_buckets * 8 bytes plus exact_values * 16 bytes
// and a few words, whatever the input size.
//
// Thread-safety: none; a plain value type (copyable).
//
//   QuantileSketch sketch;
//   for (double t : request_times) sketch.Add(t);
//   double p99 = sketch.Quantile(0.99);

#ifndef ZIGGY_CLIENT_READER_QUANTILE_SKETCH_H_
#define ZIGGY_CLIENT_READER_QUANTILE_SKETCH_H_

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace ziggy {

struct QuantileSketchOptions {
  double relative_accuracy = 0.01;  // a, in (0, 1)
  size_t max_buckets = 2048;        // per sign; at least 1
  size_t exact_values = 16;         // distinct values kept exactly
};

class QuantileSketch {
 public:
  explicit QuantileSketch(QuantileSketchOptions options = {});

  // Counts `x`; NaN and +-infinity are ignored.
  void Add(double x) { Add(x, 1); }
  void Add(double x, uint64_t times);

  // Adds everything `other` counted.
  // REQUIRES: `other` has the same relative_accuracy.
  void Merge(const QuantileSketch& other);

  // The value at quantile q in [0, 1] within the bound above; 0 when empty.
  double Quantile(double q) const;

  uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  double min() const { return min_; }  // +inf when empty
  double max() const { return max_; }  // -inf when empty
  double mean() const { return count_ == 0 ? 0 : sum_ / count_; }
  // Buckets in use (both signs): what memory grows with.
  size_t buckets() const {
    return positive_.counts.size() + negative_.counts.size();
  }
  double relative_accuracy() const { return options_.relative_accuracy; }

 private:
  // Counts of consecutive bucket indexes [offset, offset + counts.size()).
  struct Store {
    std::vector<uint64_t> counts;
    int offset = 0;
    uint64_t total = 0;
    void Add(int index, uint64_t n, size_t max_buckets);
    // Makes room for [low, high], collapsing the lowest beyond max_buckets.
    void Extend(int low, int high, size_t max_buckets);
  };
  int Index(double magnitude) const;
  double Value(int index) const;
  // The bucket at `rank` (0-based) walking `store` up (or down), or false.
  bool Find(const Store& store, bool down, uint64_t* rank, int* index) const;

  // Counts `x` in the exact table while it lasts.
  void AddExact(double x, uint64_t times);
  double ExactQuantile(uint64_t rank) const;

  QuantileSketchOptions options_;
  // (value, count) of every distinct value while there are few; dropped
  // (and `exact_` false) beyond options_.exact_values.
  std::vector<std::pair<double, uint64_t>> exact_values_;
  bool exact_ = true;
  double gamma_, inv_log_gamma_;
  Store positive_, negative_;
  uint64_t zeros_ = 0;
  uint64_t count_ = 0;
  double sum_ = 0;
  double min_, max_;
};

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_READER_QUANTILE_SKETCH_H_
