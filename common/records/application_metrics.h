// Rows of flow_metrics.application (per service endpoint: server ip, server port, l7 protocol,
// endpoint) and flow_metrics.application_map (per client→server path and endpoint), at 1 s and
// 1 m: RED metrics of request logs. Meter names follow DeepFlow (deepflow-facts.md §2.2);
// latencies in µs; the latency sketch gives p50/p90/p99 within 1 %.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "common/net/ip_addr.h"
#include "common/records/l7_flow_log.h"
#include "common/util/latency_sketch.h"

namespace flowscope {

struct ApplicationMeter {
  uint64_t request = 0;
  uint64_t response = 0;
  uint64_t client_error = 0;
  uint64_t server_error = 0;
  uint64_t timeout = 0;
  uint64_t rrt_sum = 0;
  uint64_t rrt_count = 0;
  uint64_t rrt_max = 0;
  LatencySketch rrt_sketch;

  // Counts one request log row.
  void Add(const L7FlowLog& row);
  void Merge(const ApplicationMeter& o);
  uint64_t error() const { return client_error + server_error + timeout; }
};

struct ApplicationRow {
  uint32_t time = 0;
  uint32_t interval = 1;
  IpAddr ip;  // the server
  uint16_t server_port = 0;
  uint8_t protocol = 0;
  L7Protocol l7_protocol = L7Protocol::kUnknown;
  std::string endpoint;
  uint16_t agent_id = 0;
  SignalSource signal_source = SignalSource::kPacket;
  // The server process when the requests were seen by eBPF on its host (0 / "" otherwise).
  uint32_t process_id = 0;
  std::string process_kname;
  ApplicationMeter meter;
};

struct ApplicationMapRow {
  uint32_t time = 0;
  uint32_t interval = 1;
  IpAddr ip_0, ip_1;
  uint16_t server_port = 0;
  uint8_t protocol = 0;
  L7Protocol l7_protocol = L7Protocol::kUnknown;
  std::string endpoint;
  uint16_t agent_id = 0;
  SignalSource signal_source = SignalSource::kPacket;
  // Client (_0) and server (_1) processes, when eBPF saw them (0 / "" otherwise).
  uint32_t process_id_0 = 0, process_id_1 = 0;
  std::string process_kname_0, process_kname_1;
  ApplicationMeter meter;
};

template <typename V>
void VisitMeterColumns(const ApplicationMeter& m, V&& v) {
  v("request", m.request);
  v("response", m.response);
  v("client_error", m.client_error);
  v("server_error", m.server_error);
  v("timeout", m.timeout);
  v("error", m.error());
  v("rrt_sum", m.rrt_sum);
  v("rrt_count", m.rrt_count);
  v("rrt_max", m.rrt_max);
  v("rrt_p50", m.rrt_sketch.Quantile(0.5));
  v("rrt_p90", m.rrt_sketch.Quantile(0.9));
  v("rrt_p99", m.rrt_sketch.Quantile(0.99));
}

template <typename V>
void VisitColumns(const ApplicationRow& r, V&& v) {
  v("time", r.time);
  v("interval", r.interval);
  v("is_ipv4", r.ip.is_v4);
  v("ip", r.ip);
  v("server_port", r.server_port);
  v("protocol", r.protocol);
  v("l7_protocol", static_cast<uint32_t>(r.l7_protocol));
  v("l7_protocol_str", L7ProtocolName(r.l7_protocol));
  v("endpoint", std::string_view(r.endpoint));
  v("agent_id", r.agent_id);
  v("signal_source", static_cast<uint32_t>(r.signal_source));
  v("process_id", r.process_id);
  v("process_kname", std::string_view(r.process_kname));
  VisitMeterColumns(r.meter, v);
}

template <typename V>
void VisitColumns(const ApplicationMapRow& r, V&& v) {
  v("time", r.time);
  v("interval", r.interval);
  v("is_ipv4", r.ip_0.is_v4);
  v("ip_0", r.ip_0);
  v("ip_1", r.ip_1);
  v("server_port", r.server_port);
  v("protocol", r.protocol);
  v("l7_protocol", static_cast<uint32_t>(r.l7_protocol));
  v("l7_protocol_str", L7ProtocolName(r.l7_protocol));
  v("endpoint", std::string_view(r.endpoint));
  v("agent_id", r.agent_id);
  v("signal_source", static_cast<uint32_t>(r.signal_source));
  v("process_id_0", r.process_id_0);
  v("process_id_1", r.process_id_1);
  v("process_kname_0", std::string_view(r.process_kname_0));
  v("process_kname_1", std::string_view(r.process_kname_1));
  VisitMeterColumns(r.meter, v);
}

}  // namespace flowscope
