// LatencySketch: a mergeable quantile sketch with bounded relative error (DDSketch's idea:
// logarithmically sized buckets, so every value is within `alpha` of its bucket's estimate).
// Values are non-negative integers (µs); alpha is 1% (gamma = 1.01/0.99). Latencies from 1 µs
// to 1 hour need at most ~1100 buckets; memory grows only with the spread actually seen.
// Merging two sketches adds their counts, so per-second sketches roll up into minutes and across
// agents without losing accuracy.
#pragma once

#include <cstdint>
#include <vector>

namespace flowscope {

class LatencySketch {
 public:
  static constexpr double kRelativeAccuracy = 0.01;

  void Add(uint64_t value, uint64_t count = 1);
  void Merge(const LatencySketch& other);
  // The q-quantile (0 ≤ q ≤ 1) within kRelativeAccuracy of a true value of rank q; 0 if empty.
  double Quantile(double q) const;
  uint64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  // Non-empty buckets as (bucket index, count), for serialisation; index -1 holds zeros.
  std::vector<std::pair<int32_t, uint64_t>> Buckets() const;

 private:
  static int32_t IndexOf(uint64_t value);
  static double ValueOf(int32_t index);
  uint64_t zeros_ = 0;               // values below 1 µs
  int32_t offset_ = 0;               // bucket index of counts_[0]
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
};

}  // namespace flowscope
