#include "agent/metrics/network_aggregator.h"

#include <map>
#include <utility>

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

// One table at one granularity: time buckets of `interval` seconds, each a hash map of keys to
// meters, emitted in time order once the watermark passes the bucket's end.
template <typename Key>
class Series {
 public:
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
    buckets_[start][key].Merge(m);
    return on_time;
  }

  template <typename EmitFn>
  uint64_t Emit(uint32_t watermark, EmitFn&& emit) {
    uint64_t rows = 0;
    while (!buckets_.empty()) {
      auto it = buckets_.begin();
      const uint64_t end = uint64_t{it->first} + interval_;
      if (end > watermark) break;
      for (const auto& [key, meter] : it->second) {
        emit(it->first, key, meter);
        ++rows;
      }
      emitted_until_ = static_cast<uint32_t>(std::min<uint64_t>(end, UINT32_MAX));
      buckets_.erase(it);
    }
    return rows;
  }

 private:
  uint32_t interval_;
  uint32_t emitted_until_ = 0;
  std::map<uint32_t, absl::flat_hash_map<Key, NetworkMeter>> buckets_;
};

}  // namespace

class NetworkAggregator::Impl {
 public:
  Impl(const AggregatorConfig& c, NetworkFn on_network, NetworkMapFn on_map)
      : config_(c), on_network_(std::move(on_network)), on_map_(std::move(on_map)) {}

  void Add(const FlowMeterDelta& d) {
    ++stats_.deltas;
    bool late = false;
    if (config_.network_1s || config_.network_1m) {
      NetKey client{d.ip_0, d.server_port, d.protocol, FlowRole::kClient};
      NetKey server{d.ip_1, d.server_port, d.protocol, FlowRole::kServer};
      const NetworkMeter reversed = d.meter.Reversed();
      for (auto* s : {config_.network_1s ? &net_1s_ : nullptr,
                      config_.network_1m ? &net_1m_ : nullptr}) {
        if (s == nullptr) continue;
        late |= !s->Add(d.second, client, d.meter);
        late |= !s->Add(d.second, server, reversed);
      }
    }
    MapKey mk{d.ip_0, d.ip_1, d.server_port, d.protocol};
    for (auto* s : {config_.network_map_1s ? &map_1s_ : nullptr,
                    config_.network_map_1m ? &map_1m_ : nullptr}) {
      if (s == nullptr) continue;
      late |= !s->Add(d.second, mk, d.meter);
    }
    if (late) ++stats_.late_deltas;
  }

  void Watermark(uint32_t second) {
    stats_.rows_1s += EmitNet(net_1s_, 1, second) + EmitMap(map_1s_, 1, second);
    stats_.rows_1m += EmitNet(net_1m_, 60, second) + EmitMap(map_1m_, 60, second);
  }

  AggregatorStats stats_;

 private:
  uint64_t EmitNet(Series<NetKey>& s, uint32_t interval, uint32_t watermark) {
    return s.Emit(watermark, [&](uint32_t t, const NetKey& k, const NetworkMeter& m) {
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
  }
  uint64_t EmitMap(Series<MapKey>& s, uint32_t interval, uint32_t watermark) {
    return s.Emit(watermark, [&](uint32_t t, const MapKey& k, const NetworkMeter& m) {
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
  }

  AggregatorConfig config_;
  NetworkFn on_network_;
  NetworkMapFn on_map_;
  Series<NetKey> net_1s_{1}, net_1m_{60};
  Series<MapKey> map_1s_{1}, map_1m_{60};
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
