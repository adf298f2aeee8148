// FlowMap: the L4 flow engine. Packets of both directions of a 5-tuple meet in one Flow; the
// map decides who is client and server, runs the TCP state machine, accumulates per-direction
// counters and TCP performance (RTT, SRT, ART, CIT, retransmissions, zero window, out of
// order), and emits L4 flow logs (on close, and every `report_interval` for long flows) and
// per-second network meters to its sink.
//
// Time is packet time: the map never reads a clock, so that a pcap file and a live capture
// behave the same. Timeouts fire when packet time (or AdvanceTime) passes them.
// Memory is bounded by `max_flows`: beyond it the flow idle the longest is closed early and
// counted in FlowMapStats::evicted.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "agent/capture/packet.h"
#include "agent/l7/engine.h"
#include "common/records/l4_flow_log.h"
#include "common/records/network_metrics.h"

namespace flowscope::agent {

// Idle timeouts, named as DeepFlow's `timeouts` settings (deepflow-facts.md §1.3).
struct FlowTimeouts {
  uint64_t established_ns = 300'000'000'000;  // established TCP
  uint64_t closing_rst_ns = 35'000'000'000;   // reset after the handshake
  uint64_t opening_rst_ns = 1'000'000'000;    // reset during the handshake (incl. refused)
  uint64_t others_ns = 5'000'000'000;         // handshake in progress, FIN exchange in
                                              // progress, UDP, ICMP, other IP
  uint64_t closed_fin_ns = 2'000'000'000;     // both FINs acknowledged: linger for stragglers
};

struct FlowMapConfig {
  FlowTimeouts timeouts;
  uint64_t report_interval_ns = 60'000'000'000;  // periodic flow log of long flows
  uint32_t max_flows = 1u << 20;                 // concurrent flows before eviction
  uint16_t agent_id = 0;
  std::string capture_nic;                       // written to flow logs
  // Live capture: names the interface of a packet's ifindex; when set, a flow's capture_nic is
  // the interface its first packet came from (capture_nic above is the fallback).
  std::function<std::string(uint32_t ifindex)> interface_name;
};

struct FlowMapStats {
  uint64_t packets = 0;          // packets accounted to a flow
  uint64_t flows_created = 0;
  uint64_t flows_closed = 0;     // final reports (close, timeout, eviction, end of input)
  uint64_t flow_logs = 0;        // rows emitted, including periodic reports
  uint64_t evicted = 0;          // closed early because of max_flows
  uint64_t no_l4 = 0;            // fragments and other packets without ports (flow by IPs)
  uint64_t out_of_order_time = 0;  // packets older than the map's clock (clamped)
  uint64_t active_flows = 0;
};

// Where the map's output goes. Per-second meters are handed over as "flow deltas": the traffic
// of one flow in one second, already oriented (tx = client→server); the metrics aggregator
// turns them into network and network_map rows.
struct FlowMeterDelta {
  uint32_t second = 0;  // unix time of the second
  IpAddr ip_0;
  IpAddr ip_1;
  uint16_t server_port = 0;
  uint8_t protocol = 0;
  NetworkMeter meter;
};

class FlowSink {
 public:
  virtual ~FlowSink() = default;
  virtual void OnFlowLog(const L4FlowLog& log) = 0;
  virtual void OnMeterDelta(const FlowMeterDelta& delta) = 0;
  // The map promises that no more deltas for seconds < `second` will come.
  virtual void OnWatermark(uint32_t second) = 0;
};

class FlowMap {
 public:
  // `l7` (optional) receives the payloads of TCP and UDP flows and their ends.
  FlowMap(const FlowMapConfig& config, FlowSink* sink, l7::L7Engine* l7 = nullptr);
  ~FlowMap();
  FlowMap(const FlowMap&) = delete;
  FlowMap& operator=(const FlowMap&) = delete;

  // Accounts one decoded packet (decode result kOk).
  void OnPacket(const Packet& p);
  // Moves the map's clock forward without a packet (live capture when idle).
  void AdvanceTime(uint64_t now_ns);
  // End of input: every flow is closed as if its timeout had passed, all meters flushed.
  void Finish();

  const FlowMapStats& stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowscope::agent
