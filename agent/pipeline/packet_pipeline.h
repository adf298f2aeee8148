// PacketPipeline: frames → Decoder → FlowMap → network metrics aggregator → RecordSink.
// One pipeline is single-threaded; the caller owns the source loop (RunSource does it).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "agent/capture/decoder.h"
#include "agent/capture/packet_source.h"
#include "agent/flow/flow_map.h"
#include "agent/l7/engine.h"
#include "agent/metrics/application_aggregator.h"
#include "agent/metrics/network_aggregator.h"
#include "common/records/l4_flow_log.h"
#include "common/records/network_metrics.h"

namespace flowscope::agent {

// Consumer of everything the packet path produces. Default implementations ignore a kind.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void OnL4FlowLog(const L4FlowLog&) {}
  virtual void OnNetwork(const NetworkRow&) {}
  virtual void OnNetworkMap(const NetworkMapRow&) {}
  virtual void OnL7Log(const L7FlowLog&) {}
  virtual void OnApplication(const ApplicationRow&) {}
  virtual void OnApplicationMap(const ApplicationMapRow&) {}
};

struct PipelineConfig {
  DecoderConfig decoder;
  FlowMapConfig flow;
  AggregatorConfig metrics;
  ApplicationAggregatorConfig application;
  bool l7_enabled = true;  // request logs from payloads (protocol inference and parsing)
  l7::L7Config l7;
};

struct PipelineStats {
  SourceStats source;
  DecodeStats decode;
  FlowMapStats flow;
  AggregatorStats metrics;
  ApplicationAggregatorStats application;
  l7::L7Stats l7;
};

class PacketPipeline {
 public:
  PacketPipeline(const PipelineConfig& config, RecordSink* sink);
  ~PacketPipeline();

  void OnFrame(const RawFrame& frame);
  void AdvanceTime(uint64_t now_ns);
  void Finish();

  // Source counters are the caller's (RunSource fills them in).
  PipelineStats Stats() const;

 private:
  class Adapter;
  Decoder decoder_;
  DecodeStats decode_stats_;
  std::unique_ptr<Adapter> adapter_;
  std::unique_ptr<NetworkAggregator> aggregator_;
  std::unique_ptr<ApplicationAggregator> app_aggregator_;
  std::unique_ptr<l7::L7Engine> l7_;
  std::unique_ptr<FlowMap> flow_map_;
};

struct RunOptions {
  const std::atomic<bool>* stop = nullptr;  // set from a signal handler to end a live run
  int poll_timeout_ms = 100;
  // Called about every 100 ms of wall time with the source (for progress display).
  std::function<void(const PacketSource&)> on_progress;
  // Live sources: advance the pipeline clock with the wall clock when idle.
  bool live = false;
};

// Pumps `source` into `pipeline` until the source ends, fails or `stop` is set, then calls
// Finish(). A source error is returned after Finish(), so what was read is still reported.
absl::Status RunSource(PacketSource& source, PacketPipeline& pipeline, const RunOptions& options);

}  // namespace flowscope::agent
