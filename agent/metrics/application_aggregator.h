// ApplicationAggregator: RED metrics from request logs: flow_metrics.application (per server
// ip, server port, l7 protocol, endpoint) and flow_metrics.application_map (per client→server
// path and endpoint), at 1 s and 1 m, with latency sketches. Rows are bucketed by the request
// log's `time`; a bucket is emitted once the watermark (the flow map's) has passed its end.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "common/records/application_metrics.h"
#include "common/records/l7_flow_log.h"

namespace flowscope::agent {

struct ApplicationAggregatorConfig {
  bool application_1s = true;
  bool application_1m = true;
  bool application_map_1s = true;
  bool application_map_1m = true;
  uint16_t agent_id = 0;
};

struct ApplicationAggregatorStats {
  uint64_t logs = 0;
  uint64_t rows_1s = 0;
  uint64_t rows_1m = 0;
  uint64_t late_logs = 0;  // for an already emitted second, folded into the next one
};

class ApplicationAggregator {
 public:
  using AppFn = std::function<void(const ApplicationRow&)>;
  using MapFn = std::function<void(const ApplicationMapRow&)>;
  ApplicationAggregator(const ApplicationAggregatorConfig& config, AppFn on_app, MapFn on_map);
  ~ApplicationAggregator();
  void Add(const L7FlowLog& row);
  void Watermark(uint32_t second);
  void Flush() { Watermark(UINT32_MAX); }
  const ApplicationAggregatorStats& stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowscope::agent
