#include "agent/pipeline/packet_pipeline.h"

#include <chrono>

namespace flowscope::agent {

// Routes the flow map's output: flow logs to the record sink, meter deltas and watermarks to
// the aggregator.
class PacketPipeline::Adapter final : public FlowSink, public l7::L7Sink {
 public:
  explicit Adapter(RecordSink* sink) : sink_(sink) {}
  void OnL7Log(const L7FlowLog& row) override {
    sink_->OnL7Log(row);
    app_aggregator_->Add(row);
  }
  void set_aggregators(NetworkAggregator* a, ApplicationAggregator* app) {
    aggregator_ = a;
    app_aggregator_ = app;
  }
  void OnFlowLog(const L4FlowLog& log) override { sink_->OnL4FlowLog(log); }
  void OnMeterDelta(const FlowMeterDelta& d) override { aggregator_->Add(d); }
  void OnWatermark(uint32_t second) override {
    aggregator_->Watermark(second);
    app_aggregator_->Watermark(second);
  }

 private:
  RecordSink* sink_;
  NetworkAggregator* aggregator_ = nullptr;
  ApplicationAggregator* app_aggregator_ = nullptr;
};

PacketPipeline::PacketPipeline(const PipelineConfig& config, RecordSink* sink)
    : decoder_(config.decoder), adapter_(std::make_unique<Adapter>(sink)) {
  AggregatorConfig mc = config.metrics;
  mc.agent_id = config.flow.agent_id;
  aggregator_ = std::make_unique<NetworkAggregator>(
      mc, [sink](const NetworkRow& r) { sink->OnNetwork(r); },
      [sink](const NetworkMapRow& r) { sink->OnNetworkMap(r); });
  ApplicationAggregatorConfig ac = config.application;
  ac.agent_id = config.flow.agent_id;
  app_aggregator_ = std::make_unique<ApplicationAggregator>(
      ac, [sink](const ApplicationRow& r) { sink->OnApplication(r); },
      [sink](const ApplicationMapRow& r) { sink->OnApplicationMap(r); });
  adapter_->set_aggregators(aggregator_.get(), app_aggregator_.get());
  if (config.l7_enabled) l7_ = std::make_unique<l7::L7Engine>(config.l7, adapter_.get());
  flow_map_ = std::make_unique<FlowMap>(config.flow, adapter_.get(), l7_.get());
}

PacketPipeline::~PacketPipeline() = default;

void PacketPipeline::OnFrame(const RawFrame& frame) {
  Packet p;
  DecodeResult r = decoder_.Decode(frame.link_type, frame.data, frame.cap_len, frame.wire_len,
                                   frame.timestamp_ns, &p);
  p.ifindex = frame.ifindex;
  decode_stats_.Count(r, p);
  if (r == DecodeResult::kOk) flow_map_->OnPacket(p);
}

void PacketPipeline::AdvanceTime(uint64_t now_ns) { flow_map_->AdvanceTime(now_ns); }

void PacketPipeline::Finish() {
  flow_map_->Finish();
  aggregator_->Flush();
  app_aggregator_->Flush();
}

PipelineStats PacketPipeline::Stats() const {
  PipelineStats s;
  s.decode = decode_stats_;
  s.flow = flow_map_->stats();
  s.metrics = aggregator_->stats();
  s.application = app_aggregator_->stats();
  if (l7_) s.l7 = l7_->stats();
  return s;
}

absl::Status RunSource(PacketSource& source, PacketPipeline& pipeline, const RunOptions& options) {
  using Clock = std::chrono::steady_clock;
  auto next_progress = Clock::now() + std::chrono::milliseconds(100);
  absl::Status status;
  while (options.stop == nullptr || !options.stop->load(std::memory_order_relaxed)) {
    auto polled = source.Poll(options.poll_timeout_ms,
                              [&pipeline](const RawFrame& f) { pipeline.OnFrame(f); });
    if (!polled.ok()) {
      status = polled.status();
      break;
    }
    if (*polled == PollResult::kEnd) break;
    if (options.live) {
      // Packet time follows the wall clock in a live capture; let idle flows time out.
      auto wall = std::chrono::system_clock::now().time_since_epoch();
      pipeline.AdvanceTime(
          static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(wall).count()));
    }
    if (options.on_progress && Clock::now() >= next_progress) {
      options.on_progress(source);
      next_progress = Clock::now() + std::chrono::milliseconds(100);
    }
  }
  pipeline.Finish();
  return status;
}

}  // namespace flowscope::agent
