#include "agent/flow/flow_map.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "agent/flow/flow_key.h"

namespace flowscope::agent {
namespace {

constexpr uint64_t kNsPerSec = 1'000'000'000;
constexpr uint64_t kNsPerUs = 1'000;
// Caps of deepflow-facts.md §1.3: samples above them are discarded, not clamped.
constexpr uint64_t kRttFullMaxNs = 30 * kNsPerSec;
constexpr uint64_t kRttMaxNs = 30 * kNsPerSec;
constexpr uint64_t kSrtMaxNs = 10 * kNsPerSec;
constexpr uint64_t kArtMaxNs = 30 * kNsPerSec;
// A segment below the highest sequence seen that arrives sooner than this after it is "out of
// order" rather than a retransmission (tshark's rule; the handshake RTT replaces it when known).
constexpr uint64_t kOooDefaultThresholdNs = 3'000'000;
constexpr uint64_t kFastRetransWindowNs = 20'000'000;
constexpr uint32_t kNil = std::numeric_limits<uint32_t>::max();
constexpr uint32_t kChunkBits = 12;
constexpr uint32_t kChunkSize = 1u << kChunkBits;

// Sequence-space comparison (RFC 793 modular arithmetic).
inline bool SeqLt(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }

enum class TcpState : uint8_t {
  kNone,         // not TCP
  kMidStream,    // first packet seen was not a SYN: treated as established
  kSynSent,      // SYN seen, no SYN-ACK
  kSynAckSeen,   // SYN-ACK seen, handshake ACK missing
  kEstablished,
  kSyn1,         // SYN answered by a bare ACK: the server still holds an old connection
  kSynAck1,      // established, then SYN-ACK again: server accept queue overflow
  kClientFin,    // client sent FIN, server has not
  kServerFin,    // server sent FIN, client has not
  kBothFin,      // both FINs seen, last ACK missing
  kClosed,       // both FINs acknowledged
  kReset,        // RST after the handshake
  kOpeningReset, // RST during the handshake (not a direct answer to the SYN)
  kServerReset,  // SYN answered by RST: nothing listens (connection refused)
};

// Every flow of one class has the same timeout; see FlowTimeouts.
enum TimeoutClass : uint8_t {
  kEstablishedClass,
  kClosingRstClass,
  kOpeningRstClass,
  kClosedFinClass,
  kOthersClass,
  kNumClasses
};

TimeoutClass ClassOf(TcpState s) {
  switch (s) {
    case TcpState::kMidStream:
    case TcpState::kEstablished:
    case TcpState::kSynAck1:
      return kEstablishedClass;
    case TcpState::kReset:
      return kClosingRstClass;
    case TcpState::kServerReset:
    case TcpState::kOpeningReset:
      return kOpeningRstClass;
    case TcpState::kClosed:
      return kClosedFinClass;
    default:
      return kOthersClass;
  }
}

// Hot fields (touched by every packet) first, so that a packet touches few cache lines; what
// only reports read comes last.
struct alignas(64) Flow {
  // Per packet. The key, compared on every lookup, shares the first cache line with these.
  FlowKey key;
  uint64_t last_ns = 0;
  uint32_t prev = kNil, next = kNil;  // timeout-class list links
  TcpState state = TcpState::kNone;
  TimeoutClass tclass = kOthersClass;
  bool in_use = false;
  bool a_is_client = true;  // key endpoint a is the client (_0)
  bool dirty = false;       // `sec` holds traffic not yet handed to the sink
  bool reported = false;    // a flow log has been emitted already
  uint8_t rst_dir = 0;      // direction of the RST that put the flow in a reset state
  bool fin_seen = false;
  uint8_t flags[2] = {};
  int8_t last_payload_dir = -1;
  uint32_t fin_count = 0;   // FIN packets in the current period
  uint32_t sec_second = 0;

  // Sequence and acknowledgement tracking per direction.
  bool seq_init[2] = {};
  bool ack_init[2] = {};
  uint16_t window[2] = {};
  uint32_t next_seq[2] = {};      // highest sequence end seen
  uint64_t next_seq_ns[2] = {};   // when it last advanced
  uint32_t last_ack[2] = {};
  uint32_t dup_acks[2] = {};
  uint64_t last_ack_ns[2] = {};

  // Response-time tracking.
  uint64_t srt_pending_ns = 0;      // client data waiting for the server's pure ACK
  uint64_t art_pending_ns = 0;      // last client payload waiting for the server's payload
  uint64_t last_server_data_ns = 0;

  // Meters of the current second, handed to the sink as deltas.
  NetworkMeter sec;

  // TCP handshake.
  bool syn_seen = false, synack_seen = false, handshake_done = false;
  uint32_t syn_seq = 0, synack_seq = 0;
  uint64_t syn_ns = 0, synack_first_ns = 0, synack_last_ns = 0;
  uint64_t rtt_ns = 0, rtt_client_ns = 0, rtt_server_ns = 0;  // set in the current period

  // Identity and output only.
  uint64_t flow_id = 0;
  IpAddr ip[2];
  uint16_t port[2] = {};
  uint8_t mac[2][6] = {};
  uint16_t eth_type = 0;
  uint16_t vlan = 0;
  uint32_t ifindex = 0;
  TunnelInfo tunnel;
  uint64_t start_ns = 0;
  uint64_t period_start_ns = 0;
  NetworkMeter period;  // since the last flow log
  uint64_t total_packets[2] = {};
  uint64_t total_bytes[2] = {};
  l7::FlowL7StatePtr l7;  // the L7 engine's state of this flow, created on the first payload
};

uint32_t UsOf(uint64_t ns) {
  uint64_t us = ns / kNsPerUs;
  return us > std::numeric_limits<uint32_t>::max() ? std::numeric_limits<uint32_t>::max()
                                                   : static_cast<uint32_t>(us);
}

}  // namespace

class FlowMap::Impl {
 public:
  Impl(const FlowMapConfig& config, FlowSink* sink, l7::L7Engine* l7)
      : config_(config), sink_(sink), l7_(l7) {
    std::fill(std::begin(head_), std::end(head_), kNil);
    std::fill(std::begin(tail_), std::end(tail_), kNil);
    timeout_ns_[kEstablishedClass] = config.timeouts.established_ns;
    timeout_ns_[kClosingRstClass] = config.timeouts.closing_rst_ns;
    timeout_ns_[kOpeningRstClass] = config.timeouts.opening_rst_ns;
    timeout_ns_[kClosedFinClass] = config.timeouts.closed_fin_ns;
    timeout_ns_[kOthersClass] = config.timeouts.others_ns;
    index_.reserve(std::min<uint32_t>(config.max_flows, 1u << 16));
  }

  void OnPacket(const Packet& p);
  void AdvanceTime(uint64_t now_ns);
  void Finish();
  const FlowMapStats& stats() {
    stats_.active_flows = index_.size();
    return stats_;
  }

 private:
  FlowMapStats stats_;
  Flow& At(uint32_t i) { return chunks_[i >> kChunkBits][i & (kChunkSize - 1)]; }
  uint32_t Allocate();
  uint32_t CreateFlow(const FlowKey& key, bool a_is_src, const Packet& p, uint64_t now);
  void ListRemove(uint32_t i);
  void ListAppend(uint32_t i, TimeoutClass c);
  void Touch(uint32_t i);
  void Advance(uint64_t now);
  void ExpireUntil(uint64_t now);
  void FlushSecond(Flow& f);
  void MarkDirty(uint32_t i, Flow& f, uint32_t second);
  void Report(Flow& f, CloseType close, uint64_t end_ns);
  void Close(uint32_t i, CloseType close, uint64_t now);
  void PeriodicReports(uint64_t now);
  void UpdateTcp(Flow& f, int dir, const Packet& p, uint64_t now);
  void UpdatePerf(Flow& f, int dir, const Packet& p, uint64_t now);
  CloseType CloseTypeOf(const Flow& f, bool end_of_input) const;

  l7::FlowInfo L7Info(const Flow& f) const;

  FlowMapConfig config_;
  FlowSink* sink_;
  l7::L7Engine* l7_;
  uint64_t timeout_ns_[kNumClasses];
  // The index holds flow numbers only (4 bytes a slot, so it stays in cache); hashing and
  // comparing go through the flow's own key, which lookups by FlowKey use directly.
  struct IndexHash {
    using is_transparent = void;
    const Impl* map;
    size_t operator()(uint32_t i) const { return map->AtConst(i).key.Hash(); }
    size_t operator()(const FlowKey& k) const { return k.Hash(); }
  };
  struct IndexEq {
    using is_transparent = void;
    const Impl* map;
    const FlowKey& KeyOf(uint32_t i) const { return map->AtConst(i).key; }
    const FlowKey& KeyOf(const FlowKey& k) const { return k; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const { return KeyOf(a) == KeyOf(b); }
  };
  const Flow& AtConst(uint32_t i) const { return chunks_[i >> kChunkBits][i & (kChunkSize - 1)]; }
  absl::flat_hash_set<uint32_t, IndexHash, IndexEq> index_{0, IndexHash{this}, IndexEq{this}};
  std::vector<std::unique_ptr<Flow[]>> chunks_;
  uint32_t capacity_ = 0;
  std::vector<uint32_t> free_;
  uint32_t head_[kNumClasses];
  uint32_t tail_[kNumClasses];
  std::vector<uint32_t> dirty_;
  uint64_t clock_ns_ = 0;
  uint32_t clock_sec_ = 0;
  uint64_t next_expire_ns_ = 0;
  uint64_t next_report_ns_ = 0;
  uint64_t next_flow_id_ = 1;
};

uint32_t FlowMap::Impl::Allocate() {
  if (!free_.empty()) {
    uint32_t i = free_.back();
    free_.pop_back();
    return i;
  }
  if (capacity_ % kChunkSize == 0) {
    chunks_.push_back(std::make_unique<Flow[]>(kChunkSize));
  }
  return capacity_++;
}

void FlowMap::Impl::ListRemove(uint32_t i) {
  Flow& f = At(i);
  if (f.prev != kNil) At(f.prev).next = f.next; else head_[f.tclass] = f.next;
  if (f.next != kNil) At(f.next).prev = f.prev; else tail_[f.tclass] = f.prev;
  f.prev = f.next = kNil;
}

void FlowMap::Impl::ListAppend(uint32_t i, TimeoutClass c) {
  Flow& f = At(i);
  f.tclass = c;
  f.next = kNil;
  f.prev = tail_[c];
  if (tail_[c] != kNil) At(tail_[c]).next = i; else head_[c] = i;
  tail_[c] = i;
}

// Moves the flow to the back of the list of its (possibly new) timeout class. Every flow of
// one list has the same timeout, so each list is ordered by expiry and only heads are checked.
void FlowMap::Impl::Touch(uint32_t i) {
  Flow& f = At(i);
  TimeoutClass c = ClassOf(f.state);
  if (tail_[f.tclass] == i && f.tclass == c) return;
  ListRemove(i);
  ListAppend(i, c);
}

uint32_t FlowMap::Impl::CreateFlow(const FlowKey& key, bool a_is_src, const Packet& p,
                                   uint64_t now) {
  if (index_.size() >= config_.max_flows) {
    // Evict the flow idle the longest: the oldest head among the lists.
    uint32_t victim = kNil;
    for (int c = 0; c < kNumClasses; ++c) {
      uint32_t h = head_[c];
      if (h != kNil && (victim == kNil || At(h).last_ns < At(victim).last_ns)) victim = h;
    }
    if (victim != kNil) {
      ++stats_.evicted;
      Close(victim, CloseType::kForcedReport, now);
    }
  }
  uint32_t i = Allocate();
  Flow& f = At(i);
  f = Flow();
  f.key = key;
  f.in_use = true;
  f.flow_id = next_flow_id_++;
  f.start_ns = f.last_ns = f.period_start_ns = now;
  f.eth_type = p.eth_type;
  f.vlan = p.vlan;
  f.ifindex = p.ifindex;
  f.tunnel = p.tunnel;

  // Who is the client: SYN sender; SYN-ACK receiver; ICMP echo requester; else the port
  // heuristic (a well-known port is the server, an ephemeral one the client); else the sender
  // of the first packet.
  bool src_is_client = true;
  const uint8_t fl = p.tcp_flags;
  if (p.IsTcp() && (fl & kTcpSyn)) {
    src_is_client = !(fl & kTcpAck);
  } else if ((p.ip_proto == kIpProtoIcmp || p.ip_proto == kIpProtoIcmpV6) && p.has_l4) {
    src_is_client = p.icmp_type == 8 || p.icmp_type == 128;
  } else if (p.has_l4) {
    auto well_known = [](uint16_t port) { return port < 1024; };
    auto ephemeral = [](uint16_t port) { return port >= 32768; };
    if (well_known(p.dst_port) != well_known(p.src_port)) {
      src_is_client = well_known(p.dst_port);
    } else if (ephemeral(p.src_port) != ephemeral(p.dst_port)) {
      src_is_client = ephemeral(p.src_port);
    }
  }
  f.a_is_client = (a_is_src == src_is_client);
  const int src = src_is_client ? 0 : 1;
  f.ip[src] = p.src_ip;
  f.ip[1 - src] = p.dst_ip;
  f.port[src] = p.src_port;
  f.port[1 - src] = p.dst_port;
  std::memcpy(f.mac[src], p.mac_src, 6);
  std::memcpy(f.mac[1 - src], p.mac_dst, 6);
  f.state = p.IsTcp() ? TcpState::kMidStream : TcpState::kNone;
  ListAppend(i, ClassOf(f.state));
  index_.insert(i);
  ++stats_.flows_created;
  f.sec_second = static_cast<uint32_t>(now / kNsPerSec);
  f.sec.new_flow = 1;
  f.dirty = true;
  dirty_.push_back(i);
  return i;
}

void FlowMap::Impl::FlushSecond(Flow& f) {
  if (!f.dirty) return;
  f.dirty = false;
  FlowMeterDelta d;
  d.second = f.sec_second;
  d.ip_0 = f.ip[0];
  d.ip_1 = f.ip[1];
  d.server_port = f.port[1];
  d.protocol = f.key.protocol;
  d.meter = f.sec;
  sink_->OnMeterDelta(d);
  f.period.Merge(f.sec);
  f.sec = NetworkMeter();
}

void FlowMap::Impl::MarkDirty(uint32_t i, Flow& f, uint32_t second) {
  if (f.dirty && f.sec_second != second) FlushSecond(f);
  if (!f.dirty) {
    f.dirty = true;
    f.sec_second = second;
    dirty_.push_back(i);
  }
}

CloseType FlowMap::Impl::CloseTypeOf(const Flow& f, bool end_of_input) const {
  switch (f.state) {
    case TcpState::kNone:
    case TcpState::kMidStream:
    case TcpState::kEstablished:
      // At the end of the input a flow that was not idle long enough to time out is simply
      // still open: report it as such rather than blame the server with a timeout.
      return end_of_input ? CloseType::kForcedReport : CloseType::kTimeout;
    case TcpState::kSynSent: return CloseType::kClientSynRepeat;
    case TcpState::kSynAckSeen: return CloseType::kServerSynAckRepeat;
    case TcpState::kSyn1: return CloseType::kClientSourcePortReuse;
    case TcpState::kSynAck1: return CloseType::kServerQueueLack;
    case TcpState::kClientFin: return CloseType::kServerHalfClose;
    case TcpState::kServerFin: return CloseType::kClientHalfClose;
    case TcpState::kBothFin:
    case TcpState::kClosed:
      return CloseType::kFinish;
    case TcpState::kReset:
      if (f.rst_dir == 1) return CloseType::kTcpServerRst;
      return f.fin_seen ? CloseType::kTcpFinClientRst : CloseType::kTcpClientRst;
    case TcpState::kOpeningReset:
      return f.rst_dir == 0 ? CloseType::kClientEstablishReset : CloseType::kServerEstablishReset;
    case TcpState::kServerReset: return CloseType::kServerReset;
  }
  return CloseType::kUnknown;
}

void FlowMap::Impl::Report(Flow& f, CloseType close, uint64_t end_ns) {
  const NetworkMeter& m = f.period;
  L4FlowLog r;
  r.flow_id = f.flow_id;
  r.start_time = f.period_start_ns / kNsPerUs;
  r.end_time = std::max(f.last_ns, f.period_start_ns) / kNsPerUs;
  r.time = static_cast<uint32_t>(end_ns / kNsPerSec);
  r.close_type = close;
  r.status = StatusOfClose(close, f.key.protocol);
  r.signal_source = SignalSource::kPacket;
  r.agent_id = config_.agent_id;
  r.is_new_flow = !f.reported;
  r.capture_nic = f.ifindex != 0 && config_.interface_name ? config_.interface_name(f.ifindex)
                                                            : config_.capture_nic;
  std::memcpy(r.mac_0, f.mac[0], 6);
  std::memcpy(r.mac_1, f.mac[1], 6);
  r.eth_type = f.eth_type;
  r.vlan = f.vlan;
  r.ip_0 = f.ip[0];
  r.ip_1 = f.ip[1];
  r.protocol = f.key.protocol;
  r.tunnel_type = static_cast<uint8_t>(f.tunnel.type);
  r.tunnel_id = f.tunnel.id;
  r.tunnel_ip_0 = f.tunnel.src;
  r.tunnel_ip_1 = f.tunnel.dst;
  r.client_port = f.port[0];
  r.server_port = f.port[1];
  r.tcp_flags_bit_0 = f.flags[0];
  r.tcp_flags_bit_1 = f.flags[1];
  r.syn_seq = f.syn_seq;
  r.syn_ack_seq = f.synack_seq;
  r.l7_protocol = static_cast<uint8_t>(l7::L7Engine::ProtocolOf(f.l7.get()));
  r.packet_tx = m.packet_tx;
  r.packet_rx = m.packet_rx;
  r.byte_tx = m.byte_tx;
  r.byte_rx = m.byte_rx;
  r.l3_byte_tx = m.l3_byte_tx;
  r.l3_byte_rx = m.l3_byte_rx;
  r.l4_byte_tx = m.l4_byte_tx;
  r.l4_byte_rx = m.l4_byte_rx;
  f.total_packets[0] += m.packet_tx;
  f.total_packets[1] += m.packet_rx;
  f.total_bytes[0] += m.byte_tx;
  f.total_bytes[1] += m.byte_rx;
  r.total_packet_tx = f.total_packets[0];
  r.total_packet_rx = f.total_packets[1];
  r.total_byte_tx = f.total_bytes[0];
  r.total_byte_rx = f.total_bytes[1];
  r.rtt = static_cast<double>(f.rtt_ns) / kNsPerUs;
  r.rtt_client = static_cast<double>(f.rtt_client_ns) / kNsPerUs;
  r.rtt_server = static_cast<double>(f.rtt_server_ns) / kNsPerUs;
  r.srt_sum = m.srt.sum;
  r.srt_count = m.srt.count;
  r.srt_max = m.srt.max;
  r.art_sum = m.art.sum;
  r.art_count = m.art.count;
  r.art_max = m.art.max;
  r.cit_sum = m.cit.sum;
  r.cit_count = m.cit.count;
  r.cit_max = m.cit.max;
  r.retrans_tx = m.retrans_tx;
  r.retrans_rx = m.retrans_rx;
  r.zero_win_tx = m.zero_win_tx;
  r.zero_win_rx = m.zero_win_rx;
  r.ooo_tx = m.ooo_tx;
  r.ooo_rx = m.ooo_rx;
  r.syn_count = m.syn_count;
  r.synack_count = m.synack_count;
  r.retrans_syn = m.retrans_syn;
  r.retrans_synack = m.retrans_synack;
  if (f.l7 != nullptr) {
    const l7::L7FlowCounters c = l7::L7Engine::TakeCounters(f.l7.get());
    r.l7_request = c.request;
    r.l7_response = c.response;
    r.l7_client_error = c.client_error;
    r.l7_server_error = c.server_error;
    r.l7_server_timeout = c.timeout;
    r.l7_error = c.client_error + c.server_error + c.timeout;
    r.rrt_sum = c.rrt_sum;
    r.rrt_count = c.rrt_count;
    r.rrt_max = c.rrt_max;
  }
  r.fin_count = f.fin_count;
  f.fin_count = 0;
  sink_->OnFlowLog(r);
  ++stats_.flow_logs;
  f.reported = true;
  f.period = NetworkMeter();
  f.rtt_ns = f.rtt_client_ns = f.rtt_server_ns = 0;
  f.period_start_ns = end_ns;
}

l7::FlowInfo FlowMap::Impl::L7Info(const Flow& f) const {
  l7::FlowInfo info;
  info.flow_id = f.flow_id;
  info.ip_0 = f.ip[0];
  info.ip_1 = f.ip[1];
  info.client_port = f.port[0];
  info.server_port = f.port[1];
  info.protocol = f.key.protocol;
  info.agent_id = config_.agent_id;
  info.capture_nic = config_.capture_nic;
  return info;
}

void FlowMap::Impl::Close(uint32_t i, CloseType close, uint64_t now) {
  Flow& f = At(i);
  if (f.l7 != nullptr) l7_->OnFlowEnd(&f.l7, L7Info(f), now);
  const uint32_t second = static_cast<uint32_t>(now / kNsPerSec);
  MarkDirty(i, f, second);
  f.sec.AddClose(close);
  FlushSecond(f);
  Report(f, close, std::max(now, f.last_ns));
  ++stats_.flows_closed;
  f.l7.reset();
  ListRemove(i);
  index_.erase(i);
  f.in_use = false;
  free_.push_back(i);
}

void FlowMap::Impl::UpdateTcp(Flow& f, int dir, const Packet& p, uint64_t now) {
  const uint8_t fl = p.tcp_flags;
  f.flags[dir] |= fl;
  NetworkMeter& m = f.sec;
  const bool syn = fl & kTcpSyn, ack = fl & kTcpAck, fin = fl & kTcpFin, rst = fl & kTcpRst;

  // Handshake bookkeeping and RTTs.
  if (syn && !ack) {
    ++m.syn_count;
    if (!f.syn_seen) {
      f.syn_seen = true;
      f.syn_seq = p.seq;
      f.syn_ns = now;
    } else if (p.seq == f.syn_seq) {
      ++m.retrans_syn;
    }
  } else if (syn && ack) {
    ++m.synack_count;
    if (!f.synack_seen) {
      f.synack_seen = true;
      f.synack_seq = p.seq;
      f.synack_first_ns = now;
    } else if (p.seq == f.synack_seq) {
      ++m.retrans_synack;
    }
    f.synack_last_ns = now;
  } else if (dir == 0 && ack && !rst && f.synack_seen && !f.handshake_done &&
             p.ack == f.synack_seq + 1) {
    f.handshake_done = true;
    if (f.syn_seen && now - f.syn_ns <= kRttFullMaxNs) {
      f.rtt_ns = now - f.syn_ns;
      m.rtt.Add(UsOf(f.rtt_ns));
    }
    if (now - f.synack_first_ns <= kRttMaxNs) {
      f.rtt_client_ns = now - f.synack_first_ns;
      m.rtt_client.Add(UsOf(f.rtt_client_ns));
    }
    if (f.syn_seen && f.synack_last_ns - f.syn_ns <= kRttMaxNs) {
      f.rtt_server_ns = f.synack_last_ns - f.syn_ns;
      m.rtt_server.Add(UsOf(f.rtt_server_ns));
    }
  }
  if (fin) {
    ++f.fin_count;
    f.fin_seen = true;
  }
  if (p.window == 0 && !(fl & (kTcpSyn | kTcpFin | kTcpRst))) {
    if (dir == 0) ++m.zero_win_tx; else ++m.zero_win_rx;
  }

  // State machine. Packets are from the client when dir == 0.
  using S = TcpState;
  S s = f.state;
  if (rst) {
    f.rst_dir = static_cast<uint8_t>(dir);
    switch (s) {
      case S::kSynSent:
        // A RST straight after the SYN is the server refusing; from the client it aborts.
        f.state = dir == 1 ? S::kServerReset : S::kOpeningReset;
        break;
      case S::kSynAckSeen:
      case S::kSyn1:
        f.state = S::kOpeningReset;
        break;
      case S::kBothFin:
      case S::kClosed:
      case S::kReset:
      case S::kOpeningReset:
      case S::kServerReset:
        break;  // already over; the RST only confirms it
      default:
        f.state = S::kReset;
    }
    return;
  }
  if (syn && !ack) {
    if (s == S::kMidStream && !f.synack_seen) f.state = S::kSynSent;
    return;
  }
  if (syn && ack) {
    if (s == S::kSynSent || s == S::kMidStream) f.state = S::kSynAckSeen;
    else if (s == S::kEstablished && dir == 1) f.state = S::kSynAck1;
    return;
  }
  if (fin) {
    switch (s) {
      case S::kClientFin: if (dir == 1) f.state = S::kBothFin; break;
      case S::kServerFin: if (dir == 0) f.state = S::kBothFin; break;
      case S::kBothFin: case S::kClosed: case S::kReset: case S::kOpeningReset:
      case S::kServerReset: break;
      default: f.state = dir == 0 ? S::kClientFin : S::kServerFin;
    }
    return;
  }
  if (ack) {
    switch (s) {
      case S::kSynSent:
        // The server answers a SYN with a bare ACK: it still has the old connection.
        if (dir == 1) f.state = S::kSyn1;
        break;
      case S::kSynAckSeen:
        if (dir == 0) f.state = S::kEstablished;
        break;
      case S::kSynAck1:
      case S::kSyn1:
        if (dir == 0) f.state = S::kEstablished;
        break;
      case S::kBothFin:
        f.state = S::kClosed;
        break;
      default:
        break;
    }
  }
}

// Sequence analysis (retransmission, out of order) and response times (SRT, ART, CIT).
void FlowMap::Impl::UpdatePerf(Flow& f, int dir, const Packet& p, uint64_t now) {
  NetworkMeter& m = f.sec;
  const uint32_t payload = p.payload_len;
  if (p.IsTcp()) {
    const uint8_t fl = p.tcp_flags;
    const uint32_t seg = payload + ((fl & kTcpFin) ? 1 : 0);
    if ((fl & kTcpSyn) && !f.seq_init[dir]) {
      f.seq_init[dir] = true;
      f.next_seq[dir] = p.seq + 1;
      f.next_seq_ns[dir] = now;
    }
    if (seg > 0 && !(fl & (kTcpSyn | kTcpRst))) {
      const uint32_t end = p.seq + seg;
      const int rev = 1 - dir;
      if (!f.seq_init[dir]) {
        f.seq_init[dir] = true;
        f.next_seq[dir] = end;
        f.next_seq_ns[dir] = now;
      } else if (!SeqLt(p.seq, f.next_seq[dir])) {
        // In order, or after a gap (a segment the capture did not see): new data either way.
        f.next_seq[dir] = end;
        f.next_seq_ns[dir] = now;
      } else if (payload <= 1 && p.seq + 1 == f.next_seq[dir] && !(fl & kTcpFin)) {
        // Keep-alive probe: one byte (or none) just below the window edge. Not data.
      } else {
        // Below the highest sequence seen: a fast retransmission when it answers two or more
        // duplicate ACKs (within 20 ms of the last), out of order when it comes within one
        // handshake RTT of the highest segment, else a retransmission (tshark's rules).
        const bool fast_retrans = f.dup_acks[rev] >= 2 && f.last_ack[rev] == p.seq &&
                                  now - f.last_ack_ns[rev] < kFastRetransWindowNs;
        const uint64_t threshold = f.rtt_ns ? f.rtt_ns : kOooDefaultThresholdNs;
        const bool ooo = !fast_retrans && now - f.next_seq_ns[dir] < threshold &&
                         end != f.next_seq[dir];
        if (ooo) {
          if (dir == 0) ++m.ooo_tx; else ++m.ooo_rx;
        } else {
          if (dir == 0) ++m.retrans_tx; else ++m.retrans_rx;
        }
        if (SeqLt(f.next_seq[dir], end)) {
          f.next_seq[dir] = end;
          f.next_seq_ns[dir] = now;
        }
      }
    }
    const bool pure_ack =
        payload == 0 && (fl & kTcpAck) && !(fl & (kTcpSyn | kTcpFin | kTcpRst));
    // Duplicate ACKs: same ack, same non-zero window, no data, at the sender's sequence edge.
    if (fl & kTcpAck) {
      if (f.ack_init[dir] && p.ack == f.last_ack[dir]) {
        if (pure_ack && p.window != 0 && p.window == f.window[dir] &&
            (!f.seq_init[dir] || p.seq == f.next_seq[dir])) {
          ++f.dup_acks[dir];
        }
      } else {
        f.ack_init[dir] = true;
        f.last_ack[dir] = p.ack;
        f.dup_acks[dir] = 0;
      }
      f.last_ack_ns[dir] = now;
    }
    f.window[dir] = p.window;
    // SRT: client data, then the server's pure ACK (its TCP stack's response time).
    if (dir == 0 && payload > 0) {
      if (f.srt_pending_ns == 0) f.srt_pending_ns = now;
    } else if (dir == 1) {
      if (pure_ack && f.srt_pending_ns != 0) {
        const uint64_t d = now - f.srt_pending_ns;
        if (d <= kSrtMaxNs) m.srt.Add(UsOf(d));
      }
      if (pure_ack || payload > 0) f.srt_pending_ns = 0;
    }
  }
  if (payload == 0) return;
  // ART: last client payload before the server's first payload (TCP and UDP alike).
  // CIT: the client's next payload (> 1 byte) after the server's last payload.
  if (dir == 0) {
    if (f.last_payload_dir == 1 && payload > 1 && f.last_server_data_ns != 0) {
      m.cit.Add(UsOf(now - f.last_server_data_ns));
    }
    f.art_pending_ns = now;
  } else {
    if (f.last_payload_dir == 0 && f.art_pending_ns != 0) {
      const uint64_t d = now - f.art_pending_ns;
      if (d <= kArtMaxNs) m.art.Add(UsOf(d));
    }
    f.art_pending_ns = 0;
    f.last_server_data_ns = now;
  }
  f.last_payload_dir = static_cast<int8_t>(dir);
}

void FlowMap::Impl::OnPacket(const Packet& p) {
  uint64_t now = p.timestamp_ns;
  if (now < clock_ns_) {
    ++stats_.out_of_order_time;
    now = clock_ns_;
  }
  Advance(now);
  ++stats_.packets;
  if (!p.has_l4) ++stats_.no_l4;

  bool a_is_src = false;
  FlowKey key = FlowKey::FromPacket(p, &a_is_src);
  uint32_t i;
  auto it = index_.find(key);
  if (it == index_.end()) {
    i = CreateFlow(key, a_is_src, p, now);
  } else {
    i = *it;
    Flow& old = At(i);
    // A new connection on a 5-tuple whose previous one is over (port reuse): a SYN whose
    // sequence number differs from the recorded one ends the old flow and starts a new one.
    if (p.IsTcp() && (p.tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn && old.syn_seen &&
        p.seq != old.syn_seq) {
      const bool over = old.fin_seen || old.state == TcpState::kReset ||
                        old.state == TcpState::kServerReset ||
                        old.state == TcpState::kOpeningReset;
      Close(i, over ? CloseTypeOf(old, false) : CloseType::kClientSourcePortReuse, now);
      i = CreateFlow(key, a_is_src, p, now);
    }
  }
  Flow& f = At(i);
  const int dir = (a_is_src == f.a_is_client) ? 0 : 1;
  const uint32_t second = static_cast<uint32_t>(now / kNsPerSec);
  MarkDirty(i, f, second);
  f.last_ns = now;
  NetworkMeter& m = f.sec;
  if (dir == 0) {
    ++m.packet_tx;
    m.byte_tx += p.wire_len;
    m.l3_byte_tx += p.l3_payload_len;
    m.l4_byte_tx += p.payload_len;
  } else {
    ++m.packet_rx;
    m.byte_rx += p.wire_len;
    m.l3_byte_rx += p.l3_payload_len;
    m.l4_byte_rx += p.payload_len;
  }
  if (p.IsTcp() && p.has_l4) UpdateTcp(f, dir, p, now);
  if (p.has_l4) UpdatePerf(f, dir, p, now);
  if (l7_ != nullptr && p.payload_cap_len > 0 && (p.IsTcp() || p.IsUdp()) && !p.is_fragment) {
    l7_->OnPayload(&f.l7, L7Info(f), static_cast<l7::Direction>(dir), now, p.IsTcp(), p.seq,
                   std::string_view(reinterpret_cast<const char*>(p.payload), p.payload_cap_len),
                   p.payload_len);
  }
  Touch(i);
}

// Moves the clock to `now`: closes the second (meters), emits periodic reports and expires
// idle flows.
void FlowMap::Impl::Advance(uint64_t now) {
  if (clock_ns_ == 0) {
    clock_ns_ = now;
    clock_sec_ = static_cast<uint32_t>(now / kNsPerSec);
    next_report_ns_ = (now / config_.report_interval_ns + 1) * config_.report_interval_ns;
    next_expire_ns_ = now;
    return;
  }
  clock_ns_ = now;
  const uint32_t sec = static_cast<uint32_t>(now / kNsPerSec);
  if (sec != clock_sec_) {
    // Hand over the previous seconds of every flow active in them.
    std::vector<uint32_t> keep;
    for (uint32_t i : dirty_) {
      Flow& f = At(i);
      if (!f.in_use || !f.dirty) continue;
      if (f.sec_second < sec) FlushSecond(f); else keep.push_back(i);
    }
    dirty_.swap(keep);
    clock_sec_ = sec;
    sink_->OnWatermark(sec);
  }
  if (now >= next_report_ns_) {
    PeriodicReports(now);
    next_report_ns_ = (now / config_.report_interval_ns + 1) * config_.report_interval_ns;
  }
  if (now >= next_expire_ns_) {
    ExpireUntil(now);
    next_expire_ns_ = now + 1'000'000;  // at most once per millisecond of packet time
  }
}

void FlowMap::Impl::ExpireUntil(uint64_t now) {
  for (int c = 0; c < kNumClasses; ++c) {
    while (head_[c] != kNil) {
      uint32_t i = head_[c];
      Flow& f = At(i);
      if (f.last_ns + timeout_ns_[c] > now) break;
      // Reported at the clock's time, so that its meters land in the open second.
      Close(i, CloseTypeOf(f, false), now);
    }
  }
}

void FlowMap::Impl::PeriodicReports(uint64_t now) {
  // Long flows get a report every interval (close type "forced report"), so that a flow that
  // lasts hours is visible while it lasts. Only flows with traffic in the period report.
  for (int c = 0; c < kNumClasses; ++c) {
    for (uint32_t i = head_[c]; i != kNil; i = At(i).next) {
      Flow& f = At(i);
      FlushSecond(f);
      if (f.period.packet_tx + f.period.packet_rx == 0) continue;
      Report(f, CloseType::kForcedReport, now);
    }
  }
}

void FlowMap::Impl::AdvanceTime(uint64_t now_ns) {
  if (clock_ns_ == 0 || now_ns <= clock_ns_) return;
  Advance(now_ns);
}

void FlowMap::Impl::Finish() {
  for (int c = 0; c < kNumClasses; ++c) {
    while (head_[c] != kNil) {
      uint32_t i = head_[c];
      Flow& f = At(i);
      const bool timed_out = clock_ns_ >= f.last_ns + timeout_ns_[c];
      Close(i, CloseTypeOf(f, !timed_out), clock_ns_);
    }
  }
  dirty_.clear();
  sink_->OnWatermark(std::numeric_limits<uint32_t>::max());
}

FlowMap::FlowMap(const FlowMapConfig& config, FlowSink* sink, l7::L7Engine* l7)
    : impl_(std::make_unique<Impl>(config, sink, l7)) {}
FlowMap::~FlowMap() = default;
void FlowMap::OnPacket(const Packet& p) { impl_->OnPacket(p); }
void FlowMap::AdvanceTime(uint64_t now_ns) { impl_->AdvanceTime(now_ns); }
void FlowMap::Finish() { impl_->Finish(); }
const FlowMapStats& FlowMap::stats() const { return impl_->stats(); }

}  // namespace flowscope::agent
