// L4FlowLog: one row of flow_log.l4_flow_log, i.e. one report of one flow (on close, and every
// minute for long flows). Column names follow DeepFlow (deepflow-facts.md §1.3); `_0` is the
// client side and `_1` the server side; `tx` is client→server and `rx` server→client.
// Counters are for the report's period; `total_*` are for the flow's whole life.
#pragma once

#include <cstdint>
#include <string>

#include "common/net/ip_addr.h"
#include "common/records/enums.h"

namespace flowscope {

struct L4FlowLog {
  // Flow info.
  uint32_t time = 0;         // s, end of the report
  uint64_t flow_id = 0;
  uint64_t start_time = 0;   // µs since the epoch
  uint64_t end_time = 0;     // µs since the epoch
  CloseType close_type = CloseType::kUnknown;
  L4Status status = L4Status::kNormal;
  SignalSource signal_source = SignalSource::kPacket;
  uint16_t agent_id = 0;
  bool is_new_flow = false;  // first report of this flow
  std::string capture_nic;   // interface name, or "" for a file

  // Data link.
  uint8_t mac_0[6] = {};
  uint8_t mac_1[6] = {};
  uint16_t eth_type = 0;
  uint16_t vlan = 0;

  // Network and tunnel.
  IpAddr ip_0;
  IpAddr ip_1;
  uint8_t protocol = 0;
  uint8_t tunnel_type = 0;   // TunnelType of agent/capture/packet.h; 0 none
  uint32_t tunnel_id = 0;    // VXLAN VNI, GRE key or ERSPAN session
  IpAddr tunnel_ip_0;        // outer source of the first packet of the flow
  IpAddr tunnel_ip_1;

  // Transport.
  uint16_t client_port = 0;
  uint16_t server_port = 0;
  uint8_t tcp_flags_bit_0 = 0;  // OR of the flags the client sent
  uint8_t tcp_flags_bit_1 = 0;
  uint32_t syn_seq = 0;
  uint32_t syn_ack_seq = 0;

  uint8_t l7_protocol = 0;

  // Metrics of the period.
  uint64_t packet_tx = 0, packet_rx = 0;
  uint64_t byte_tx = 0, byte_rx = 0;        // frame (L2) bytes as on the wire
  uint64_t l3_byte_tx = 0, l3_byte_rx = 0;  // IP payload bytes (L4 header + data)
  uint64_t l4_byte_tx = 0, l4_byte_rx = 0;  // transport payload bytes
  uint64_t total_packet_tx = 0, total_packet_rx = 0;
  uint64_t total_byte_tx = 0, total_byte_rx = 0;

  uint32_t l7_request = 0, l7_response = 0, l7_parse_failed = 0;
  uint32_t l7_client_error = 0, l7_server_error = 0, l7_server_timeout = 0, l7_error = 0;

  // Latencies in µs. rtt* are set on the report that saw the handshake.
  double rtt = 0;
  double rtt_client = 0;
  double rtt_server = 0;
  uint64_t srt_sum = 0, art_sum = 0, rrt_sum = 0, cit_sum = 0;
  uint32_t srt_count = 0, art_count = 0, rrt_count = 0, cit_count = 0;
  uint32_t srt_max = 0, art_max = 0, rrt_max = 0, cit_max = 0;

  uint32_t retrans_tx = 0, retrans_rx = 0;
  uint32_t zero_win_tx = 0, zero_win_rx = 0;
  uint32_t ooo_tx = 0, ooo_rx = 0;
  uint32_t syn_count = 0, synack_count = 0;
  uint32_t retrans_syn = 0, retrans_synack = 0;
  uint32_t fin_count = 0;
};

// Calls v(name, value) for every column, in table order. Values are integers, doubles, bools,
// std::string_view or IpAddr; consumers (JSON, tables, storage) decide how to render them.
template <typename V>
void VisitColumns(const L4FlowLog& r, V&& v) {
  v("time", r.time);
  v("flow_id", r.flow_id);
  v("start_time", r.start_time);
  v("end_time", r.end_time);
  v("duration", r.end_time >= r.start_time ? r.end_time - r.start_time : 0);
  v("close_type", static_cast<uint32_t>(r.close_type));
  v("status", static_cast<uint32_t>(r.status));
  v("signal_source", static_cast<uint32_t>(r.signal_source));
  v("agent_id", r.agent_id);
  v("is_new_flow", r.is_new_flow);
  v("capture_nic", std::string_view(r.capture_nic));
  v("mac_0", MacToString(r.mac_0));
  v("mac_1", MacToString(r.mac_1));
  v("eth_type", r.eth_type);
  v("vlan", r.vlan);
  v("is_ipv4", r.ip_0.is_v4);
  v("ip_0", r.ip_0);
  v("ip_1", r.ip_1);
  v("protocol", r.protocol);
  v("tunnel_type", r.tunnel_type);
  v("tunnel_id", r.tunnel_id);
  v("tunnel_ip_0", r.tunnel_ip_0);
  v("tunnel_ip_1", r.tunnel_ip_1);
  v("client_port", r.client_port);
  v("server_port", r.server_port);
  v("tcp_flags_bit_0", r.tcp_flags_bit_0);
  v("tcp_flags_bit_1", r.tcp_flags_bit_1);
  v("syn_seq", r.syn_seq);
  v("syn_ack_seq", r.syn_ack_seq);
  v("l7_protocol", r.l7_protocol);
  v("packet_tx", r.packet_tx);
  v("packet_rx", r.packet_rx);
  v("byte_tx", r.byte_tx);
  v("byte_rx", r.byte_rx);
  v("l3_byte_tx", r.l3_byte_tx);
  v("l3_byte_rx", r.l3_byte_rx);
  v("l4_byte_tx", r.l4_byte_tx);
  v("l4_byte_rx", r.l4_byte_rx);
  v("total_packet_tx", r.total_packet_tx);
  v("total_packet_rx", r.total_packet_rx);
  v("total_byte_tx", r.total_byte_tx);
  v("total_byte_rx", r.total_byte_rx);
  v("l7_request", r.l7_request);
  v("l7_response", r.l7_response);
  v("l7_parse_failed", r.l7_parse_failed);
  v("l7_client_error", r.l7_client_error);
  v("l7_server_error", r.l7_server_error);
  v("l7_server_timeout", r.l7_server_timeout);
  v("l7_error", r.l7_error);
  v("rtt", r.rtt);
  v("rtt_client", r.rtt_client);
  v("rtt_server", r.rtt_server);
  v("srt_sum", r.srt_sum);
  v("art_sum", r.art_sum);
  v("rrt_sum", r.rrt_sum);
  v("cit_sum", r.cit_sum);
  v("srt_count", r.srt_count);
  v("art_count", r.art_count);
  v("rrt_count", r.rrt_count);
  v("cit_count", r.cit_count);
  v("srt_max", r.srt_max);
  v("art_max", r.art_max);
  v("rrt_max", r.rrt_max);
  v("cit_max", r.cit_max);
  v("retrans_tx", r.retrans_tx);
  v("retrans_rx", r.retrans_rx);
  v("zero_win_tx", r.zero_win_tx);
  v("zero_win_rx", r.zero_win_rx);
  v("ooo_tx", r.ooo_tx);
  v("ooo_rx", r.ooo_rx);
  v("syn_count", r.syn_count);
  v("synack_count", r.synack_count);
  v("retrans_syn", r.retrans_syn);
  v("retrans_synack", r.retrans_synack);
  v("fin_count", r.fin_count);
}

}  // namespace flowscope
