#include "common/records/network_metrics.h"

#include <utility>

namespace flowscope {

void NetworkMeter::AddClose(CloseType t) {
  ++closed_flow;
  switch (t) {
    case CloseType::kTcpClientRst: ++client_rst_flow; break;
    case CloseType::kTcpServerRst: ++server_rst_flow; break;
    case CloseType::kClientSynRepeat: ++server_syn_miss; break;
    case CloseType::kServerSynAckRepeat: ++client_ack_miss; break;
    case CloseType::kClientHalfClose: ++client_half_close_flow; break;
    case CloseType::kServerHalfClose: ++server_half_close_flow; break;
    case CloseType::kClientSourcePortReuse: ++client_source_port_reuse; break;
    case CloseType::kServerReset: ++server_reset; break;
    case CloseType::kServerQueueLack: ++server_queue_lack; break;
    case CloseType::kClientEstablishReset: ++client_establish_other_rst; break;
    case CloseType::kServerEstablishReset: ++server_establish_other_rst; break;
    case CloseType::kTimeout: ++tcp_timeout; break;
    default: break;
  }
}

void NetworkMeter::Merge(const NetworkMeter& o) {
  packet_tx += o.packet_tx;
  packet_rx += o.packet_rx;
  byte_tx += o.byte_tx;
  byte_rx += o.byte_rx;
  l3_byte_tx += o.l3_byte_tx;
  l3_byte_rx += o.l3_byte_rx;
  l4_byte_tx += o.l4_byte_tx;
  l4_byte_rx += o.l4_byte_rx;
  new_flow += o.new_flow;
  closed_flow += o.closed_flow;
  syn_count += o.syn_count;
  synack_count += o.synack_count;
  retrans_tx += o.retrans_tx;
  retrans_rx += o.retrans_rx;
  zero_win_tx += o.zero_win_tx;
  zero_win_rx += o.zero_win_rx;
  ooo_tx += o.ooo_tx;
  ooo_rx += o.ooo_rx;
  retrans_syn += o.retrans_syn;
  retrans_synack += o.retrans_synack;
  client_rst_flow += o.client_rst_flow;
  server_rst_flow += o.server_rst_flow;
  server_syn_miss += o.server_syn_miss;
  client_ack_miss += o.client_ack_miss;
  client_half_close_flow += o.client_half_close_flow;
  server_half_close_flow += o.server_half_close_flow;
  client_source_port_reuse += o.client_source_port_reuse;
  server_reset += o.server_reset;
  server_queue_lack += o.server_queue_lack;
  client_establish_other_rst += o.client_establish_other_rst;
  server_establish_other_rst += o.server_establish_other_rst;
  tcp_timeout += o.tcp_timeout;
  rtt.Merge(o.rtt);
  rtt_client.Merge(o.rtt_client);
  rtt_server.Merge(o.rtt_server);
  srt.Merge(o.srt);
  art.Merge(o.art);
  cit.Merge(o.cit);
}

NetworkMeter NetworkMeter::Reversed() const {
  NetworkMeter m = *this;
  std::swap(m.packet_tx, m.packet_rx);
  std::swap(m.byte_tx, m.byte_rx);
  std::swap(m.l3_byte_tx, m.l3_byte_rx);
  std::swap(m.l4_byte_tx, m.l4_byte_rx);
  std::swap(m.retrans_tx, m.retrans_rx);
  std::swap(m.zero_win_tx, m.zero_win_rx);
  std::swap(m.ooo_tx, m.ooo_rx);
  return m;
}

}  // namespace flowscope
