// Rows of flow_metrics.network (per ip, server_port, protocol, role) and
// flow_metrics.network_map (per client→server path), at 1 s and 1 m. Meter names follow
// DeepFlow's FlowMeter (deepflow-facts.md §2.2). Latencies are in µs.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/net/ip_addr.h"
#include "common/records/enums.h"

namespace flowscope {

// A delay statistic: sum, count and max of samples, in µs.
struct DelayStat {
  uint64_t sum = 0;
  uint32_t count = 0;
  uint32_t max = 0;
  void Add(uint32_t us) {
    sum += us;
    ++count;
    max = std::max(max, us);
  }
  void Merge(const DelayStat& o) {
    sum += o.sum;
    count += o.count;
    max = std::max(max, o.max);
  }
};

// Field order matters: counters of one type are contiguous so that Merge() compiles to a few
// vector additions (it runs several times per flow and second).
struct NetworkMeter {
  uint64_t packet_tx = 0, packet_rx = 0;
  uint64_t byte_tx = 0, byte_rx = 0;
  uint64_t l3_byte_tx = 0, l3_byte_rx = 0;
  uint64_t l4_byte_tx = 0, l4_byte_rx = 0;
  uint32_t new_flow = 0, closed_flow = 0;
  uint32_t syn_count = 0, synack_count = 0;
  uint32_t retrans_tx = 0, retrans_rx = 0;
  uint32_t zero_win_tx = 0, zero_win_rx = 0;
  uint32_t ooo_tx = 0, ooo_rx = 0;
  uint32_t retrans_syn = 0, retrans_synack = 0;
  // Anomalies, one per abnormal close type.
  uint32_t client_rst_flow = 0, server_rst_flow = 0;
  uint32_t server_syn_miss = 0, client_ack_miss = 0;
  uint32_t client_half_close_flow = 0, server_half_close_flow = 0;
  uint32_t client_source_port_reuse = 0, server_reset = 0, server_queue_lack = 0;
  uint32_t client_establish_other_rst = 0, server_establish_other_rst = 0;
  uint32_t tcp_timeout = 0;
  DelayStat rtt, rtt_client, rtt_server, srt, art, cit;

  // Counts a closed flow and the anomaly its close type stands for.
  void AddClose(CloseType t);
  void Merge(const NetworkMeter& o);
  // The same traffic seen from the other end: tx and rx swap.
  NetworkMeter Reversed() const;
  bool Empty() const { return packet_tx + packet_rx + new_flow + closed_flow == 0; }

  // Composite anomaly counters, derived as DeepFlow defines them.
  uint32_t client_establish_fail() const {
    return client_ack_miss + client_source_port_reuse + client_establish_other_rst;
  }
  uint32_t server_establish_fail() const {
    return server_syn_miss + server_reset + server_queue_lack + server_establish_other_rst;
  }
  uint32_t tcp_establish_fail() const {
    return client_establish_fail() + server_establish_fail();
  }
  uint32_t tcp_transfer_fail() const {
    return tcp_timeout + client_half_close_flow + server_half_close_flow + client_rst_flow +
           server_rst_flow;
  }
  uint32_t tcp_rst_fail() const {
    return client_rst_flow + server_rst_flow + server_reset + client_establish_other_rst +
           server_establish_other_rst + client_source_port_reuse;
  }
};

template <typename V>
void VisitMeterColumns(const NetworkMeter& m, V&& v) {
  v("packet_tx", m.packet_tx);
  v("packet_rx", m.packet_rx);
  v("packet", m.packet_tx + m.packet_rx);
  v("byte_tx", m.byte_tx);
  v("byte_rx", m.byte_rx);
  v("byte", m.byte_tx + m.byte_rx);
  v("l3_byte_tx", m.l3_byte_tx);
  v("l3_byte_rx", m.l3_byte_rx);
  v("l4_byte_tx", m.l4_byte_tx);
  v("l4_byte_rx", m.l4_byte_rx);
  v("new_flow", m.new_flow);
  v("closed_flow", m.closed_flow);
  v("syn_count", m.syn_count);
  v("synack_count", m.synack_count);
  auto delay = [&v](const char* sum, const char* count, const char* max, const DelayStat& d) {
    v(sum, d.sum);
    v(count, d.count);
    v(max, d.max);
  };
  delay("rtt_sum", "rtt_count", "rtt_max", m.rtt);
  delay("rtt_client_sum", "rtt_client_count", "rtt_client_max", m.rtt_client);
  delay("rtt_server_sum", "rtt_server_count", "rtt_server_max", m.rtt_server);
  delay("srt_sum", "srt_count", "srt_max", m.srt);
  delay("art_sum", "art_count", "art_max", m.art);
  delay("cit_sum", "cit_count", "cit_max", m.cit);
  v("retrans_tx", m.retrans_tx);
  v("retrans_rx", m.retrans_rx);
  v("retrans", m.retrans_tx + m.retrans_rx);
  v("zero_win_tx", m.zero_win_tx);
  v("zero_win_rx", m.zero_win_rx);
  v("zero_win", m.zero_win_tx + m.zero_win_rx);
  v("ooo_tx", m.ooo_tx);
  v("ooo_rx", m.ooo_rx);
  v("retrans_syn", m.retrans_syn);
  v("retrans_synack", m.retrans_synack);
  v("client_rst_flow", m.client_rst_flow);
  v("server_rst_flow", m.server_rst_flow);
  v("server_syn_miss", m.server_syn_miss);
  v("client_ack_miss", m.client_ack_miss);
  v("client_half_close_flow", m.client_half_close_flow);
  v("server_half_close_flow", m.server_half_close_flow);
  v("client_source_port_reuse", m.client_source_port_reuse);
  v("server_reset", m.server_reset);
  v("server_queue_lack", m.server_queue_lack);
  v("client_establish_other_rst", m.client_establish_other_rst);
  v("server_establish_other_rst", m.server_establish_other_rst);
  v("tcp_timeout", m.tcp_timeout);
  v("client_establish_fail", m.client_establish_fail());
  v("server_establish_fail", m.server_establish_fail());
  v("tcp_establish_fail", m.tcp_establish_fail());
  v("tcp_transfer_fail", m.tcp_transfer_fail());
  v("tcp_rst_fail", m.tcp_rst_fail());
}

// flow_metrics.network: traffic of one IP as client or server of one service (server_port,
// protocol). tx is what that IP sent.
struct NetworkRow {
  uint32_t time = 0;      // s, start of the interval
  uint32_t interval = 1;  // s: 1 or 60
  IpAddr ip;
  uint16_t server_port = 0;
  uint8_t protocol = 0;
  FlowRole role = FlowRole::kClient;
  SignalSource signal_source = SignalSource::kPacket;
  uint16_t agent_id = 0;
  NetworkMeter meter;
};

// flow_metrics.network_map: traffic of one client→server path. tx is client→server.
struct NetworkMapRow {
  uint32_t time = 0;
  uint32_t interval = 1;
  IpAddr ip_0;
  IpAddr ip_1;
  uint16_t server_port = 0;
  uint8_t protocol = 0;
  SignalSource signal_source = SignalSource::kPacket;
  uint16_t agent_id = 0;
  NetworkMeter meter;
};

template <typename V>
void VisitColumns(const NetworkRow& r, V&& v) {
  v("time", r.time);
  v("interval", r.interval);
  v("is_ipv4", r.ip.is_v4);
  v("ip", r.ip);
  v("server_port", r.server_port);
  v("protocol", r.protocol);
  v("role", static_cast<uint32_t>(r.role));
  v("signal_source", static_cast<uint32_t>(r.signal_source));
  v("agent_id", r.agent_id);
  VisitMeterColumns(r.meter, v);
}

template <typename V>
void VisitColumns(const NetworkMapRow& r, V&& v) {
  v("time", r.time);
  v("interval", r.interval);
  v("is_ipv4", r.ip_0.is_v4);
  v("ip_0", r.ip_0);
  v("ip_1", r.ip_1);
  v("server_port", r.server_port);
  v("protocol", r.protocol);
  v("signal_source", static_cast<uint32_t>(r.signal_source));
  v("agent_id", r.agent_id);
  VisitMeterColumns(r.meter, v);
}

}  // namespace flowscope
