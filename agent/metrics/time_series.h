// Time-bucketed aggregation shared by the metrics aggregators: rows keyed by a table's tags,
// summed per 1 s bucket, with 1 m buckets folded from emitted 1 s rows, emitted in time order
// once the watermark passes a bucket's end. `Meter` needs Merge(const Meter&).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"

namespace flowscope::agent {

// One table at one granularity: time buckets of `interval` seconds, each a set of rows keyed by
// the table's tags, emitted in time order once the watermark passes the bucket's end.
template <typename Key, typename Meter, typename Hash = absl::Hash<Key>,
          typename Eq = std::equal_to<Key>>
class Series {
 public:
  // Rows live in a vector (emitted in insertion order); the hash map only maps a key to its
  // row, so that growing it moves 4-byte values rather than whole meters.
  struct Bucket {
    absl::flat_hash_map<Key, uint32_t, Hash, Eq> index;
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
    bool on_time = true;
    Meter* row = Find(second, key, &on_time);
    if (row != nullptr) {
      row->Merge(m);
    } else {
      Insert(key, Meter(m));
    }
    return on_time;
  }

  // The row of `key` in the bucket of `second`, created empty when missing, for callers that
  // add to a meter in place (no one-row meter built and merged). `lookup` is anything the
  // index hashes and compares like a Key (a view of one), `make_key()` builds the Key.
  template <typename Lookup, typename MakeKey>
  Meter& Upsert(uint32_t second, const Lookup& lookup, MakeKey&& make_key, bool* on_time) {
    Meter* row = Find(second, lookup, on_time);
    return row != nullptr ? *row : Insert(make_key(), Meter());
  }

 private:
  template <typename Lookup>
  Meter* Find(uint32_t second, const Lookup& lookup, bool* on_time) {
    uint32_t start = second - second % interval_;
    if (start < emitted_until_) {
      start = emitted_until_;
      *on_time = false;
    }
    if (start != last_start_ || last_ == nullptr) {
      auto it = buckets_.find(start);
      if (it == buckets_.end()) it = buckets_.emplace(start, TakeBucket()).first;
      last_start_ = start;
      last_ = &it->second;
    }
    auto slot = last_->index.find(lookup);
    return slot == last_->index.end() ? nullptr : &last_->rows[slot->second].second;
  }
  // Adds a row to the bucket Find just looked in.
  Meter& Insert(Key key, Meter m) {
    Bucket& b = *last_;
    b.index.emplace(key, static_cast<uint32_t>(b.rows.size()));
    b.rows.emplace_back(std::move(key), std::move(m));
    return b.rows.back().second;
  }

 public:

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
      if (last_ == &it->second) last_ = nullptr;
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
  // The bucket of the previous Find (rows mostly arrive in time order): skips the map lookup.
  uint32_t last_start_ = 0;
  Bucket* last_ = nullptr;
  std::map<uint32_t, Bucket> buckets_;
  std::vector<Bucket> pool_;
};

// A table at 1 s and 1 m: deltas go into the 1 s series only; each emitted 1 s row is folded
// into the 1 m series, so a delta costs one hash update whatever is enabled.
template <typename Key, typename Meter, typename Hash = absl::Hash<Key>,
          typename Eq = std::equal_to<Key>>
class Table {
 public:
  Table(bool want_1s, bool want_1m) : want_1s_(want_1s), want_1m_(want_1m) {}
  bool enabled() const { return want_1s_ || want_1m_; }
  bool Add(uint32_t second, const Key& key, const Meter& m) {
    return s1_.Add(second, key, m);
  }
  // Series::Upsert on the 1 s series.
  template <typename Lookup, typename MakeKey>
  Meter& Upsert(uint32_t second, const Lookup& lookup, MakeKey&& make_key, bool* on_time) {
    return s1_.Upsert(second, lookup, std::forward<MakeKey>(make_key), on_time);
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
  Series<Key, Meter, Hash, Eq> s1_{1};
  Series<Key, Meter, Hash, Eq> m1_{60};
};

}  // namespace flowscope::agent
