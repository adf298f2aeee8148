#include "agent/metrics/network_aggregator.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace flowscope::agent {
namespace {

struct NetKey {
  IpAddr ip;
  uint16_t server_port;
  uint8_t protocol;
  FlowRole role;
  friend bool operator==(const NetKey& a, const NetKey& b) {
    return a.ip == b.ip && a.server_port == b.server_port && a.protocol == b.protocol &&
           a.role == b.role;
  }
  template <typename H>
  friend H AbslHashValue(H h, const NetKey& k) {
    return H::combine(std::move(h), k.ip, k.server_port, k.protocol, k.role);
  }
};

struct MapKey {
  IpAddr ip_0;
  IpAddr ip_1;
  uint16_t server_port;
  uint8_t protocol;
  friend bool operator==(const MapKey& a, const MapKey& b) {
    return a.ip_0 == b.ip_0 && a.ip_1 == b.ip_1 && a.server_port == b.server_port &&
           a.protocol == b.protocol;
  }
  template <typename H>
  friend H AbslHashValue(H h, const MapKey& k) {
    return H::combine(std::move(h), k.ip_0, k.ip_1, k.server_port, k.protocol);
  }
};

// One table at one granularity: time buckets of `interval` seconds, each a set of rows keyed by
// the table's tags, emitted in time order once the watermark passes the bucket's end.
template <typename Key>
class Series {
 public:
  // Rows live in a vector (emitted in insertion order); the hash map only maps a key to its
  // row, so that growing it moves 4-byte values rather than whole meters.
  struct Bucket {
    absl::flat_hash_map<Key, uint32_t> index;
    std::vector<std::pair<Key, NetworkMeter>> rows;
    void Clear() {
      index.clear();
      rows.clear();
    }
  };
  explicit Series(uint32_t interval) : interval_(interval) {}

  // Returns false when the delta is for a bucket already emitted (it is then folded into the
  // oldest open bucket so that no traffic is lost).
  bool Add(uint32_t second, const Key& key, const NetworkMeter& m) {
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
template <typename Key>
class Table {
 public:
  Table(bool want_1s, bool want_1m) : want_1s_(want_1s), want_1m_(want_1m) {}
  bool enabled() const { return want_1s_ || want_1m_; }
  bool Add(uint32_t second, const Key& key, const NetworkMeter& m) {
    return s1_.Add(second, key, m);
  }
  // emit(time, interval, key, meter); returns {rows at 1 s, rows at 1 m}.
  template <typename EmitFn>
  std::pair<uint64_t, uint64_t> Emit(uint32_t watermark, EmitFn&& emit) {
    uint64_t rows_1s = 0;
    s1_.Emit(watermark, [&](uint32_t t, const Key& k, const NetworkMeter& m) {
      if (want_1s_) {
        emit(t, 1, k, m);
        ++rows_1s;
      }
      if (want_1m_) m1_.Add(t, k, m);
    });
    uint64_t rows_1m = m1_.Emit(watermark, [&](uint32_t t, const Key& k, const NetworkMeter& m) {
      emit(t, 60, k, m);
    });
    return {rows_1s, rows_1m};
  }

 private:
  bool want_1s_, want_1m_;
  Series<Key> s1_{1};
  Series<Key> m1_{60};
};

}  // namespace

class NetworkAggregator::Impl {
 public:
  Impl(const AggregatorConfig& c, NetworkFn on_network, NetworkMapFn on_map)
      : config_(c), on_network_(std::move(on_network)), on_map_(std::move(on_map)) {}

  void Add(const FlowMeterDelta& d) {
    ++stats_.deltas;
    bool on_time = true;
    if (net_.enabled()) {
      on_time &= net_.Add(d.second, NetKey{d.ip_0, d.server_port, d.protocol, FlowRole::kClient},
                          d.meter);
      on_time &= net_.Add(d.second, NetKey{d.ip_1, d.server_port, d.protocol, FlowRole::kServer},
                          d.meter.Reversed());
    }
    if (map_.enabled()) {
      on_time &= map_.Add(d.second, MapKey{d.ip_0, d.ip_1, d.server_port, d.protocol}, d.meter);
    }
    if (!on_time) ++stats_.late_deltas;
  }

  void Watermark(uint32_t second) {
    auto [n1, n60] = net_.Emit(second, [&](uint32_t t, uint32_t interval, const NetKey& k,
                                           const NetworkMeter& m) {
      NetworkRow r;
      r.time = t;
      r.interval = interval;
      r.ip = k.ip;
      r.server_port = k.server_port;
      r.protocol = k.protocol;
      r.role = k.role;
      r.agent_id = config_.agent_id;
      r.meter = m;
      on_network_(r);
    });
    auto [m1, m60] = map_.Emit(second, [&](uint32_t t, uint32_t interval, const MapKey& k,
                                           const NetworkMeter& m) {
      NetworkMapRow r;
      r.time = t;
      r.interval = interval;
      r.ip_0 = k.ip_0;
      r.ip_1 = k.ip_1;
      r.server_port = k.server_port;
      r.protocol = k.protocol;
      r.agent_id = config_.agent_id;
      r.meter = m;
      on_map_(r);
    });
    stats_.rows_1s += n1 + m1;
    stats_.rows_1m += n60 + m60;
  }

  AggregatorStats stats_;

 private:
  AggregatorConfig config_;
  NetworkFn on_network_;
  NetworkMapFn on_map_;
  Table<NetKey> net_{config_.network_1s, config_.network_1m};
  Table<MapKey> map_{config_.network_map_1s, config_.network_map_1m};
};

NetworkAggregator::NetworkAggregator(const AggregatorConfig& config, NetworkFn on_network,
                                     NetworkMapFn on_map)
    : impl_(std::make_unique<Impl>(config, std::move(on_network), std::move(on_map))) {}
NetworkAggregator::~NetworkAggregator() = default;
void NetworkAggregator::Add(const FlowMeterDelta& d) { impl_->Add(d); }
void NetworkAggregator::Watermark(uint32_t second) { impl_->Watermark(second); }
void NetworkAggregator::Flush() { impl_->Watermark(UINT32_MAX); }
const AggregatorStats& NetworkAggregator::stats() const { return impl_->stats_; }

}  // namespace flowscope::agent
