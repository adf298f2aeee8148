#include "common/util/latency_sketch.h"

#include <algorithm>
#include <cmath>

namespace flowscope {
namespace {

const double kGamma = (1 + LatencySketch::kRelativeAccuracy) / (1 - LatencySketch::kRelativeAccuracy);
const double kLogGamma = std::log(kGamma);

}  // namespace

int32_t LatencySketch::IndexOf(uint64_t value) {
  return static_cast<int32_t>(std::ceil(std::log(static_cast<double>(value)) / kLogGamma));
}

double LatencySketch::ValueOf(int32_t index) {
  // The bucket (gamma^(i-1), gamma^i]; this estimate is within alpha of every value in it.
  return 2.0 * std::pow(kGamma, index) / (kGamma + 1);
}

void LatencySketch::Add(uint64_t value, uint64_t count) {
  if (count == 0) return;
  count_ += count;
  if (value == 0) {
    zeros_ += count;
    return;
  }
  const int32_t i = IndexOf(value);
  if (counts_.empty()) {
    offset_ = i;
    counts_.assign(1, 0);
  } else if (i < offset_) {
    counts_.insert(counts_.begin(), static_cast<size_t>(offset_ - i), 0);
    offset_ = i;
  } else if (i >= offset_ + static_cast<int32_t>(counts_.size())) {
    counts_.resize(static_cast<size_t>(i - offset_ + 1), 0);
  }
  counts_[static_cast<size_t>(i - offset_)] += count;
}

void LatencySketch::Merge(const LatencySketch& other) {
  zeros_ += other.zeros_;
  count_ += other.zeros_;
  for (size_t k = 0; k < other.counts_.size(); ++k) {
    if (other.counts_[k] == 0) continue;
    // Add() by index, without recomputing logarithms.
    const int32_t i = other.offset_ + static_cast<int32_t>(k);
    if (counts_.empty()) {
      offset_ = i;
      counts_.assign(1, 0);
    } else if (i < offset_) {
      counts_.insert(counts_.begin(), static_cast<size_t>(offset_ - i), 0);
      offset_ = i;
    } else if (i >= offset_ + static_cast<int32_t>(counts_.size())) {
      counts_.resize(static_cast<size_t>(i - offset_ + 1), 0);
    }
    counts_[static_cast<size_t>(i - offset_)] += other.counts_[k];
    count_ += other.counts_[k];
  }
}

double LatencySketch::Quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_ - 1));
  if (rank < zeros_) return 0;
  uint64_t seen = zeros_;
  for (size_t k = 0; k < counts_.size(); ++k) {
    seen += counts_[k];
    if (seen > rank) return ValueOf(offset_ + static_cast<int32_t>(k));
  }
  return ValueOf(offset_ + static_cast<int32_t>(counts_.size()) - 1);
}

std::vector<std::pair<int32_t, uint64_t>> LatencySketch::Buckets() const {
  std::vector<std::pair<int32_t, uint64_t>> out;
  if (zeros_) out.emplace_back(-1, zeros_);
  for (size_t k = 0; k < counts_.size(); ++k) {
    if (counts_[k]) out.emplace_back(offset_ + static_cast<int32_t>(k), counts_[k]);
  }
  return out;
}

}  // namespace flowscope
