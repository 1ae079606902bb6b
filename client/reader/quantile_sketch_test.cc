#include "client/reader/quantile_sketch.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace ziggy {
namespace {

constexpr double kQuantiles[] = {0,   0.01, 0.1,  0.25,  0.5, 0.75,
                                 0.9, 0.95, 0.99, 0.999, 1};

// The exact value the bound refers to: rank floor(q (n - 1)).
double Exact(std::vector<double> sorted, double q) {
  return sorted[static_cast<size_t>(q * (sorted.size() - 1))];
}

// Every quantile of `values` from a sketch is within 1 % of the exact one.
void ExpectWithinBound(std::vector<double> values) {
  QuantileSketch sketch;
  for (double x : values) sketch.Add(x);
  std::sort(values.begin(), values.end());
  ASSERT_EQ(sketch.count(), values.size());
  EXPECT_EQ(sketch.min(), values.front());
  EXPECT_EQ(sketch.max(), values.back());
  for (double q : kQuantiles) {
    const double exact = Exact(values, q);
    EXPECT_LE(std::abs(sketch.Quantile(q) - exact),
              0.01 * std::abs(exact) * (1 + 1e-9))
        << "q=" << q << " exact=" << exact << " got=" << sketch.Quantile(q);
  }
}

TEST(QuantileSketchTest, UniformWithinOnePercent) {
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> d(0, 1000);
  std::vector<double> v(100000);
  for (double& x : v) x = d(rng);
  ExpectWithinBound(v);
}

TEST(QuantileSketchTest, LognormalWithinOnePercent) {
  std::mt19937_64 rng(2);
  std::lognormal_distribution<double> d(-3, 2);  // request times, seconds
  std::vector<double> v(100000);
  for (double& x : v) x = d(rng);
  ExpectWithinBound(v);
}

TEST(QuantileSketchTest, NegativesAndZerosWithinOnePercent) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> d(0, 50);
  std::vector<double> v(50000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = i % 7 == 0 ? 0 : d(rng);
  ExpectWithinBound(v);
  std::vector<double> integers;  // int fields: many equal values
  for (int i = -500; i < 500; ++i) integers.push_back(i % 10);
  ExpectWithinBound(integers);
}

TEST(QuantileSketchTest, AFewHugeValuesWithinOnePercent) {
  std::mt19937_64 rng(4);
  std::lognormal_distribution<double> d(0, 1);
  std::vector<double> v(20000);
  for (double& x : v) x = d(rng);
  for (int i = 0; i < 300; ++i) v[i * 50] = 1e12 * (1 + i);  // 1.5 % huge
  ExpectWithinBound(v);
}

TEST(QuantileSketchTest, FewDistinctValuesAreExact) {
  QuantileSketch a, b;
  for (int i = 0; i < 1000; ++i) a.Add(i % 50 ? 200 : 500);  // 2 % are 500
  for (int i = 0; i < 14; ++i) b.Add(300 + i);
  EXPECT_EQ(a.Quantile(0.5), 200);
  EXPECT_EQ(a.Quantile(0.97), 200);
  EXPECT_EQ(a.Quantile(0.99), 500);    // a sketch bucket would say 497.8
  a.Merge(b);                          // 16 distinct values: still exact
  EXPECT_EQ(a.Quantile(0.9803), 313);  // rank 993 of 1014
  a.Add(1000);  // the 17th: the sketch answers from now on, within 1 %
  const double p99 = a.Quantile(0.99);
  EXPECT_NE(p99, 500);
  EXPECT_LE(std::abs(p99 - 500), 5);
  QuantileSketch c;
  c.Add(1);
  c.Merge(a);  // merging a sketch past its exact values ends exactness
  EXPECT_LE(std::abs(c.Quantile(0.99) - 500), 5);
}

TEST(QuantileSketchTest, SingleValueAndEmpty) {
  QuantileSketch sketch;
  EXPECT_EQ(sketch.Quantile(0.5), 0);
  EXPECT_EQ(sketch.count(), 0u);
  sketch.Add(42.5);
  for (double q : kQuantiles) EXPECT_EQ(sketch.Quantile(q), 42.5);  // clamped
  sketch.Add(std::nan(""));
  sketch.Add(INFINITY);
  sketch.Add(-INFINITY);
  EXPECT_EQ(sketch.count(), 1u);
  EXPECT_EQ(sketch.mean(), 42.5);
}

TEST(QuantileSketchTest, MergeEqualsOneSketchOfEverything) {
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> d(1, 3);
  QuantileSketch a, b, all;
  std::vector<double> values;
  for (int i = 0; i < 30000; ++i) {
    const double x = i % 3 ? d(rng) : -d(rng);
    (i % 2 ? a : b).Add(x);
    all.Add(x);
    values.push_back(x);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_NEAR(a.sum(), all.sum(), 1e-6 * std::abs(all.sum()));
  std::sort(values.begin(), values.end());
  for (double q : kQuantiles) {
    EXPECT_EQ(a.Quantile(q), all.Quantile(q)) << q;
    const double exact = Exact(values, q);
    EXPECT_LE(std::abs(a.Quantile(q) - exact), 0.01 * std::abs(exact) * 1.001);
  }
}

TEST(QuantileSketchTest, BucketsStayBoundedAndTheLowestCollapse) {
  QuantileSketch sketch({0.01, 100});
  std::vector<double> values;
  // Magnitudes over a factor 1e30: far more than 100 buckets span.
  for (int i = 0; i < 3000; ++i) {
    const double x = std::pow(10, i / 100.0);
    sketch.Add(x);
    sketch.Add(-x);
    values.push_back(x);
    ASSERT_LE(sketch.buckets(), 200u);
  }
  EXPECT_EQ(sketch.buckets(), 200u);
  std::sort(values.begin(), values.end());
  // The largest magnitudes keep the bound; the smallest are overestimated.
  const double p99 = sketch.Quantile(0.995);
  const double exact = values[static_cast<size_t>(0.99 * (values.size() - 1))];
  EXPECT_LE(std::abs(p99 - exact), 0.01 * exact * 1.001);
  // Rank 2999 is -1, the smallest magnitude: collapsed, so overestimated.
  EXPECT_LT(sketch.Quantile(0.5), -1.01);
  EXPECT_EQ(sketch.min(), -values.back());
  // Merging keeps the cap too.
  QuantileSketch other({0.01, 100});
  other.Add(1e-100);
  other.Merge(sketch);
  EXPECT_LE(other.buckets(), 200u);
  EXPECT_EQ(other.count(), 6001u);
}

}  // namespace
}  // namespace ziggy
