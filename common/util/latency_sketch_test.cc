#include "common/util/latency_sketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace flowscope {
namespace {

double Exact(std::vector<uint64_t> v, double q) {
  std::sort(v.begin(), v.end());
  return static_cast<double>(v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))]);
}

TEST(LatencySketchTest, QuantilesWithinOnePercentOnSkewedData) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(7.0, 1.5);  // µs: median ~1 ms, long tail
  LatencySketch s;
  std::vector<uint64_t> values;
  for (int i = 0; i < 100000; ++i) {
    uint64_t v = 1 + static_cast<uint64_t>(dist(rng));
    values.push_back(v);
    s.Add(v);
  }
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double exact = Exact(values, q);
    EXPECT_NEAR(s.Quantile(q), exact, exact * LatencySketch::kRelativeAccuracy) << q;
  }
  EXPECT_EQ(s.count(), 100000u);
}

TEST(LatencySketchTest, MergeEqualsOneSketchOfEverything) {
  LatencySketch a, b, all;
  for (uint64_t v = 1; v < 5000; v += 7) {
    a.Add(v);
    all.Add(v);
  }
  for (uint64_t v = 100; v < 90000; v += 13) {
    b.Add(v);
    all.Add(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.Buckets(), all.Buckets());
  for (double q : {0.1, 0.5, 0.99}) EXPECT_DOUBLE_EQ(a.Quantile(q), all.Quantile(q));
}

TEST(LatencySketchTest, ZerosAndEmpty) {
  LatencySketch s;
  EXPECT_EQ(s.Quantile(0.5), 0.0);
  s.Add(0, 10);
  s.Add(1000);
  EXPECT_EQ(s.Quantile(0.5), 0.0);
  EXPECT_NEAR(s.Quantile(1.0), 1000.0, 10.0);
}

}  // namespace
}  // namespace flowscope
