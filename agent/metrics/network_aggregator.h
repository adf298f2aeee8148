// NetworkAggregator: sums per-flow per-second meter deltas from the FlowMap into
// flow_metrics.network rows (one per ip, server_port, protocol, role) and flow_metrics.network_map
// rows (one per client→server path), at 1 s and 1 m. A bucket is emitted once the FlowMap's
// watermark has passed its end.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "agent/flow/flow_map.h"
#include "common/records/network_metrics.h"

namespace flowscope::agent {

struct AggregatorConfig {
  bool network_1s = true;
  bool network_1m = true;
  bool network_map_1s = true;
  bool network_map_1m = true;
  uint16_t agent_id = 0;
};

struct AggregatorStats {
  uint64_t deltas = 0;
  uint64_t rows_1s = 0;
  uint64_t rows_1m = 0;
  uint64_t late_deltas = 0;  // deltas for an already emitted second, folded into the next one
};

class NetworkAggregator {
 public:
  using NetworkFn = std::function<void(const NetworkRow&)>;
  using NetworkMapFn = std::function<void(const NetworkMapRow&)>;

  NetworkAggregator(const AggregatorConfig& config, NetworkFn on_network, NetworkMapFn on_map);
  ~NetworkAggregator();

  void Add(const FlowMeterDelta& delta);
  // Emits every 1 s bucket that ends at or before `second`, and 1 m buckets likewise.
  void Watermark(uint32_t second);
  // Emits everything still held.
  void Flush();
  const AggregatorStats& stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowscope::agent
