#include "agent/metrics/network_aggregator.h"

#include <utility>

#include "agent/metrics/time_series.h"

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
  Table<NetKey, NetworkMeter> net_{config_.network_1s, config_.network_1m};
  Table<MapKey, NetworkMeter> map_{config_.network_map_1s, config_.network_map_1m};
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
