// Time-bucketed aggregation shared by the metrics aggregators: rows keyed by a table's tags,
// summed per 1 s bucket, with 1 m buckets folded from emitted 1 s rows, emitted in time order
// once the watermark passes a bucket's end. `Meter` needs Merge(const Meter&).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace flowscope::agent {

// One table at one granularity: time buckets of `interval` seconds, each a set of rows keyed by
// the table's tags, emitted in time order once the watermark passes the bucket's end.
template <typename Key, typename Meter>
class Series {
 public:
  // Rows live in a vector (emitted in insertion order); the hash map only maps a key to its
  // row, so that growing it moves 4-byte values rather than whole meters.
  struct Bucket {
    absl::flat_hash_map<Key, uint32_t> index;
    std::vector<std::pair<Key, Meter>> rows;
    void Clear() {
      index.clear();
      rows.clear();
    }
  };
  explicit Series(uint32_t interval) : interval_(interval) {}

  // Returns false when the delta is for a bucket already emitted (it is then folded into the
  // oldest open bucket so that no traffic is lost).
  bool Add(uint32_t second, const Key& key, const Meter& m) {
    uint32_t start = second - second % interval_;
    bool on_time = true;
    if (start < emitted_until_) {
      start = emitted_until_;
      on_time = false;
    }
    auto it = buckets_.find(start);
    if (it == buckets_.end()) {
      it = buckets_.emplace(start, TakeBucket()).first;
    }
    Bucket& b = it->second;
    auto [slot, inserted] = b.index.try_emplace(key, static_cast<uint32_t>(b.rows.size()));
    if (inserted) {
      b.rows.emplace_back(key, m);
    } else {
      b.rows[slot->second].second.Merge(m);
    }
    return on_time;
  }

  // Calls emit(start, key, meter) for every row of every bucket that ends at or before
  // `watermark`, oldest bucket first; returns the number of rows.
  template <typename EmitFn>
  uint64_t Emit(uint32_t watermark, EmitFn&& emit) {
    uint64_t rows = 0;
    while (!buckets_.empty()) {
      auto it = buckets_.begin();
      const uint64_t end = uint64_t{it->first} + interval_;
      if (end > watermark) break;
      for (const auto& [key, meter] : it->second.rows) {
        emit(it->first, key, meter);
        ++rows;
      }
      emitted_until_ = static_cast<uint32_t>(std::min<uint64_t>(end, UINT32_MAX));
      it->second.Clear();
      pool_.push_back(std::move(it->second));
      buckets_.erase(it);
    }
    return rows;
  }

 private:
  // Emitted buckets are cleared and kept: the per-second churn would otherwise rebuild the hash
  // table and the row vector from empty every second.
  Bucket TakeBucket() {
    if (pool_.empty()) return Bucket();
    Bucket b = std::move(pool_.back());
    pool_.pop_back();
    return b;
  }
  uint32_t interval_;
  uint32_t emitted_until_ = 0;
  std::map<uint32_t, Bucket> buckets_;
  std::vector<Bucket> pool_;
};

// A table at 1 s and 1 m: deltas go into the 1 s series only; each emitted 1 s row is folded
// into the 1 m series, so a delta costs one hash update whatever is enabled.
template <typename Key, typename Meter>
class Table {
 public:
  Table(bool want_1s, bool want_1m) : want_1s_(want_1s), want_1m_(want_1m) {}
  bool enabled() const { return want_1s_ || want_1m_; }
  bool Add(uint32_t second, const Key& key, const Meter& m) {
    return s1_.Add(second, key, m);
  }
  // emit(time, interval, key, meter); returns {rows at 1 s, rows at 1 m}.
  template <typename EmitFn>
  std::pair<uint64_t, uint64_t> Emit(uint32_t watermark, EmitFn&& emit) {
    uint64_t rows_1s = 0;
    s1_.Emit(watermark, [&](uint32_t t, const Key& k, const Meter& m) {
      if (want_1s_) {
        emit(t, 1, k, m);
        ++rows_1s;
      }
      if (want_1m_) m1_.Add(t, k, m);
    });
    uint64_t rows_1m = m1_.Emit(watermark, [&](uint32_t t, const Key& k, const Meter& m) {
      emit(t, 60, k, m);
    });
    return {rows_1s, rows_1m};
  }

 private:
  bool want_1s_, want_1m_;
  Series<Key, Meter> s1_{1};
  Series<Key, Meter> m1_{60};
};

}  // namespace flowscope::agent
