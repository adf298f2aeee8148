// FlowMap unit tests on hand-built packets: each test drives one TCP/UDP behaviour with exact
// timestamps and asserts the exact counters, close type and latencies. Tests on recorded pcaps
// of real traffic are in flow_map_pcap_test.cc.
#include "agent/flow/flow_map.h"

#include <gtest/gtest.h>

#include <vector>

namespace flowscope::agent {
namespace {

constexpr uint64_t kT0 = 1'700'000'000'000'000'000ull;  // ns, a whole second
constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSec = 1'000'000'000;

class Collector : public FlowSink {
 public:
  void OnFlowLog(const L4FlowLog& log) override { logs.push_back(log); }
  void OnMeterDelta(const FlowMeterDelta& d) override {
    deltas.push_back(d);
    total.Merge(d.meter);
  }
  void OnWatermark(uint32_t second) override { watermarks.push_back(second); }
  std::vector<L4FlowLog> logs;
  std::vector<FlowMeterDelta> deltas;
  std::vector<uint32_t> watermarks;
  NetworkMeter total;
};

// Builds TCP/UDP packets between a client and a server endpoint.
struct Conn {
  IpAddr client, server;
  uint16_t cport = 40000, sport = 80;
  uint32_t cseq = 1000, sseq = 5000;  // next sequence numbers
  uint8_t proto = 6;

  Conn() {
    IpAddr::Parse("10.0.0.1", &client);
    IpAddr::Parse("10.0.0.2", &server);
  }
  Packet Make(bool from_client, uint64_t t, uint8_t flags, uint32_t payload, uint16_t window = 512) {
    Packet p;
    p.timestamp_ns = t;
    p.src_ip = from_client ? client : server;
    p.dst_ip = from_client ? server : client;
    p.src_port = from_client ? cport : sport;
    p.dst_port = from_client ? sport : cport;
    p.ip_proto = proto;
    p.has_l4 = true;
    p.eth_type = 0x0800;
    const uint32_t l4_header = proto == 6 ? 20 : 8;
    p.payload_len = payload;
    p.l3_payload_len = l4_header + payload;
    p.wire_len = 14 + 20 + l4_header + payload;
    p.cap_len = p.wire_len;
    if (proto == 6) {
      uint32_t& seq = from_client ? cseq : sseq;
      uint32_t& peer = from_client ? sseq : cseq;
      p.seq = seq;
      p.ack = (flags & kTcpAck) ? peer : 0;
      p.tcp_flags = flags;
      p.window = window;
      seq += payload + ((flags & (kTcpSyn | kTcpFin)) ? 1 : 0);
    }
    return p;
  }
  Packet Client(uint64_t t, uint8_t flags, uint32_t payload = 0) {
    return Make(true, t, flags, payload);
  }
  Packet Server(uint64_t t, uint8_t flags, uint32_t payload = 0) {
    return Make(false, t, flags, payload);
  }
};

constexpr uint8_t kAck = kTcpAck;
constexpr uint8_t kPshAck = kTcpPsh | kTcpAck;
constexpr uint8_t kFinAck = kTcpFin | kTcpAck;
constexpr uint8_t kRstAck = kTcpRst | kTcpAck;
constexpr uint8_t kSynAck = kTcpSyn | kTcpAck;

// Handshake at kT0: SYN, SYN-ACK after 100 µs, ACK after 150 µs more.
void Handshake(FlowMap& m, Conn& c) {
  m.OnPacket(c.Client(kT0, kTcpSyn));
  m.OnPacket(c.Server(kT0 + 100'000, kSynAck));
  m.OnPacket(c.Client(kT0 + 250'000, kAck));
}

TEST(FlowMapTest, HandshakeRequestResponseAndGracefulClose) {
  Collector out;
  FlowMap m(FlowMapConfig{}, &out);
  Conn c;
  Handshake(m, c);
  m.OnPacket(c.Client(kT0 + 1 * kMs, kPshAck, 100));   // request
  m.OnPacket(c.Server(kT0 + 1 * kMs + 40'000, kAck));  // pure ACK: SRT 40 µs
  m.OnPacket(c.Server(kT0 + 3 * kMs, kPshAck, 1000));  // response: ART 2 ms
  m.OnPacket(c.Client(kT0 + 3 * kMs + 50'000, kAck));
  m.OnPacket(c.Client(kT0 + 10 * kMs, kPshAck, 60));   // next request: CIT 7 ms
  m.OnPacket(c.Server(kT0 + 11 * kMs, kPshAck, 10));   // ART 1 ms
  m.OnPacket(c.Client(kT0 + 20 * kMs, kFinAck));
  m.OnPacket(c.Server(kT0 + 20 * kMs + 10'000, kFinAck));
  m.OnPacket(c.Client(kT0 + 20 * kMs + 20'000, kAck));
  EXPECT_TRUE(out.logs.empty());  // a closed flow lingers for stragglers
  m.AdvanceTime(kT0 + 3 * kSec);
  ASSERT_EQ(out.logs.size(), 1u);
  const L4FlowLog& r = out.logs[0];
  EXPECT_EQ(r.close_type, CloseType::kFinish);
  EXPECT_EQ(r.status, L4Status::kNormal);
  EXPECT_EQ(r.ip_0.ToString(), "10.0.0.1");
  EXPECT_EQ(r.client_port, 40000);
  EXPECT_EQ(r.server_port, 80);
  EXPECT_EQ(r.packet_tx, 7u);  // SYN, ACK, request, ACK, request, FIN, ACK
  EXPECT_EQ(r.packet_rx, 5u);  // SYN-ACK, ACK, response, response, FIN
  EXPECT_EQ(r.l4_byte_tx, 160u);
  EXPECT_EQ(r.l4_byte_rx, 1010u);
  EXPECT_EQ(r.byte_tx, 7u * 54 + 160);
  EXPECT_EQ(r.byte_rx, 5u * 54 + 1010);
  EXPECT_EQ(r.l3_byte_tx, 7u * 20 + 160);
  EXPECT_DOUBLE_EQ(r.rtt, 250.0);
  EXPECT_DOUBLE_EQ(r.rtt_client, 150.0);
  EXPECT_DOUBLE_EQ(r.rtt_server, 100.0);
  EXPECT_EQ(r.srt_count, 1u);
  EXPECT_EQ(r.srt_sum, 40u);
  EXPECT_EQ(r.art_count, 2u);
  EXPECT_EQ(r.art_sum, 3000u);
  EXPECT_EQ(r.art_max, 2000u);
  EXPECT_EQ(r.cit_count, 1u);
  EXPECT_EQ(r.cit_sum, 7000u);
  EXPECT_EQ(r.syn_count, 1u);
  EXPECT_EQ(r.synack_count, 1u);
  EXPECT_EQ(r.fin_count, 2u);
  EXPECT_EQ(r.retrans_tx + r.retrans_rx + r.ooo_tx + r.ooo_rx, 0u);
  EXPECT_EQ(r.tcp_flags_bit_0, kTcpSyn | kTcpAck | kTcpPsh | kTcpFin);
  EXPECT_EQ(r.syn_seq, 1000u);
  EXPECT_EQ(r.syn_ack_seq, 5000u);
  EXPECT_TRUE(r.is_new_flow);
  EXPECT_EQ(r.start_time, kT0 / 1000);
  EXPECT_EQ(r.end_time, (kT0 + 20 * kMs + 20'000) / 1000);
  // The meters carry the same traffic, one new and one closed flow.
  EXPECT_EQ(out.total.packet_tx, 7u);
  EXPECT_EQ(out.total.byte_rx, r.byte_rx);
  EXPECT_EQ(out.total.new_flow, 1u);
  EXPECT_EQ(out.total.closed_flow, 1u);
  EXPECT_EQ(out.total.rtt.count, 1u);
  EXPECT_EQ(out.total.rtt.sum, 250u);
  EXPECT_EQ(m.stats().flows_created, 1u);
  EXPECT_EQ(m.stats().active_flows, 0u);
}

TEST(FlowMapTest, ServerClosesFirst) {
  Collector out;
  FlowMap m(FlowMapConfig{}, &out);
  Conn c;
  Handshake(m, c);
  m.OnPacket(c.Server(kT0 + kMs, kFinAck));
  m.OnPacket(c.Client(kT0 + 2 * kMs, kFinAck));
  m.OnPacket(c.Server(kT0 + 3 * kMs, kAck));
  m.Finish();
  ASSERT_EQ(out.logs.size(), 1u);
  EXPECT_EQ(out.logs[0].close_type, CloseType::kFinish);
}

struct ResetCase {
  bool from_client;
  CloseType expected;
  L4Status status;
};

class FlowMapResetTest : public ::testing::TestWithParam<ResetCase> {};

TEST_P(FlowMapResetTest, ResetAfterEstablished) {
  Collector out;
  FlowMap m(FlowMapConfig{}, &out);
  Conn c;
  Handshake(m, c);
  m.OnPacket(c.Client(kT0 + kMs, kPshAck, 10));
  m.OnPacket(c.Server(kT0 + 2 * kMs, kPshAck, 10));
  m.OnPacket(GetParam().from_client ? c.Client(kT0 + 3 * kMs, kRstAck)
                                    : c.Server(kT0 + 3 * kMs, kRstAck));
  m.AdvanceTime(kT0 + 10 * kSec);
  EXPECT_TRUE(out.logs.empty());  // closing timeout (35 s) not yet over
  m.AdvanceTime(kT0 + 36 * kSec);  // before the minute boundary at kT0 + 40 s
  ASSERT_EQ(out.logs.size(), 1u);
  EXPECT_EQ(out.logs[0].close_type, GetParam().expected);
  EXPECT_EQ(out.logs[0].status, GetParam().status);
  EXPECT_EQ(out.logs[0].packet_tx + out.logs[0].packet_rx, 6u);
}

INSTANTIATE_TEST_SUITE_P(
    BothSides, FlowMapResetTest,
    ::testing::Values(ResetCase{true, CloseType::kTcpClientRst, L4Status::kClientError},
                      ResetCase{false, CloseType::kTcpServerRst, L4Status::kServerError}));

TEST(FlowMapTest, RefusedConnectionIsServerReset) {
  Collector out;
  FlowMap m(FlowMapConfig{}, &out);
  Conn c;
  m.OnPacket(c.Client(kT0, kTcpSyn));
  m.OnPacket(c.Server(kT0 + 30'000, kRstAck));
  m.AdvanceTime(kT0 + 500 * kMs);
  EXPECT_TRUE(out.logs.empty());
  m.AdvanceTime(kT0 + 2 * kSec);  // opening_rst timeout 1 s
  ASSERT_EQ(out.logs.size(), 1u);
  EXPECT_EQ(out.logs[0].close_type, CloseType::kServerReset);
  EXPECT_EQ(out.logs[0].status, L4Status::kServerError);
  EXPECT_EQ(out.total.server_reset, 1u);
  EXPECT_EQ(out.total.server_establish_fail(), 1u);
}

TEST(FlowMapTest, UnansweredSynTimesOutAsServerSynMiss) {
  Collector out;
  FlowMap m(FlowMapConfig{}, &out);
  Conn c;
  Packet syn = c.Client(kT0, kTcpSyn);
  m.OnPacket(syn);
  syn.timestamp_ns = kT0 + 900 * kMs;  // retransmission, same sequence number
  m.OnPacket(syn);
  m.AdvanceTime(kT0 + 5800 * kMs);
  EXPECT_TRUE(out.logs.empty());  // 4.9 s after the last SYN: still opening (others: 5 s)
  m.AdvanceTime(kT0 + 6 * kSec);
  ASSERT_EQ(out.logs.size(), 1u);
  EXPECT_EQ(out.logs[0].close_type, CloseType::kClientSynRepeat);
  EXPECT_EQ(out.logs[0].syn_count, 2u);
  EXPECT_EQ(out.logs[0].retrans_syn, 1u);
  EXPECT_EQ(out.logs[0].packet_rx, 0u);
  EXPECT_EQ(out.total.server_syn_miss, 1u);
}

TEST(FlowMapTest, MissingHandshakeAckIsClientAckMiss) {
  Collector out;
  FlowMap m(FlowMapConfig{}, &out);
  Conn c;
  m.OnPacket(c.Client(kT0, kTcpSyn));
  m.OnPacket(c.Server(kT0 + kMs, kSynAck));
  m.Finish();
  ASSERT_EQ(out.logs.size(), 1u);
  EXPECT_EQ(out.logs[0].close_type, CloseType::kServerSynAckRepeat);
  EXPECT_EQ(out.logs[0].status, L4Status::kClientError);
}

TEST(FlowMapTest, HalfCloseTimesOutBlamingTheSideThatDidNotClose) {
  Collector out;
  FlowMap m(FlowMapConfig{}, &out);
  Conn c;
  Handshake(m, c);
  m.OnPacket(c.Client(kT0 + kMs, kPshAck, 20));
  m.OnPacket(c.Client(kT0 + 2 * kMs, kFinAck));
  m.OnPacket(c.Server(kT0 + 3 * kMs, kPshAck, 500));  // the server keeps sending
  m.OnPacket(c.Client(kT0 + 4 * kMs, kAck));
  m.AdvanceTime(kT0 + 36 * kSec);
  ASSERT_EQ(out.logs.size(), 1u);
  EXPECT_EQ(out.logs[0].close_type, CloseType::kServerHalfClose);
  EXPECT_EQ(out.logs[0].l4_byte_rx, 500u);
}

TEST(FlowMapTest, RetransmissionAndOutOfOrder) {
  Collector out;
  FlowMap m(FlowMapConfig{}, &out);
  Conn c;
  Handshake(m, c);  // RTT 250 µs: the out-of-order threshold
  // Segments 1,2,3 of 100 bytes; segment 2 is delayed 100 µs behind 3 (out of order).
  const uint32_t s1 = c.cseq;
  Packet p1 = c.Client(kT0 + kMs, kPshAck, 100);
  Packet p2 = c.Client(0, kPshAck, 100);
  Packet p3 = c.Client(kT0 + kMs + 10'000, kPshAck, 100);
  p2.timestamp_ns = kT0 + kMs + 110'000;
  m.OnPacket(p1);
  m.OnPacket(p3);
  m.OnPacket(p2);
  // Segment 1 again, 200 ms later: a retransmission.
  p1.timestamp_ns = kT0 + 200 * kMs;
  m.OnPacket(p1);
  EXPECT_EQ(p1.seq, s1);
  m.Finish();
  ASSERT_EQ(out.logs.size(), 1u);
  EXPECT_EQ(out.logs[0].ooo_tx, 1u);
  EXPECT_EQ(out.logs[0].retrans_tx, 1u);
  EXPECT_EQ(out.logs[0].ooo_rx + out.logs[0].retrans_rx, 0u);
  EXPECT_EQ(out.logs[0].close_type, CloseType::kForcedReport);  // still open at end of input
  EXPECT_EQ(out.logs[0].status, L4Status::kNormal);
}

TEST(FlowMapTest, KeepAliveIsNotARetransmission) {
  Collector out;
  FlowMap m(FlowMapConfig{}, &out);
  Conn c;
  Handshake(m, c);
  m.OnPacket(c.Client(kT0 + kMs, kPshAck, 10));
  c.cseq -= 1;  // keep-alive: seq = next - 1, no data
  m.OnPacket(c.Client(kT0 + 60 * kSec, kAck, 0));
  m.Finish();
  ASSERT_GE(out.logs.size(), 1u);
  uint32_t retrans = 0;
  for (const auto& r : out.logs) retrans += r.retrans_tx;
  EXPECT_EQ(retrans, 0u);
}

TEST(FlowMapTest, ZeroWindowPerDirection) {
  Collector out;
  FlowMap m(FlowMapConfig{}, &out);
  Conn c;
  Handshake(m, c);
  m.OnPacket(c.Client(kT0 + kMs, kPshAck, 1000));
  m.OnPacket(c.Make(false, kT0 + 2 * kMs, kAck, 0, /*window=*/0));
  m.OnPacket(c.Make(false, kT0 + 3 * kMs, kAck, 0, /*window=*/0));
  m.OnPacket(c.Make(false, kT0 + 4 * kMs, kAck, 0, /*window=*/100));
  m.Finish();
  ASSERT_EQ(out.logs.size(), 1u);
  EXPECT_EQ(out.logs[0].zero_win_rx, 2u);
  EXPECT_EQ(out.logs[0].zero_win_tx, 0u);
}

TEST(FlowMapTest, PortReuseAfterCloseStartsANewFlow) {
  Collector out;
  FlowMap m(FlowMapConfig{}, &out);
  Conn c;
  Handshake(m, c);
  m.OnPacket(c.Server(kT0 + kMs, kFinAck));
  m.OnPacket(c.Client(kT0 + 2 * kMs, kFinAck));
  m.OnPacket(c.Server(kT0 + 3 * kMs, kAck));
  // 10 ms later the client reuses its port with a fresh ISN.
  c.cseq = 777777;
  c.sseq = 888888;
  m.OnPacket(c.Client(kT0 + 13 * kMs, kTcpSyn));
  ASSERT_EQ(out.logs.size(), 1u);
  EXPECT_EQ(out.logs[0].close_type, CloseType::kFinish);
  m.OnPacket(c.Server(kT0 + 14 * kMs, kSynAck));
  m.OnPacket(c.Client(kT0 + 15 * kMs, kAck));
  m.OnPacket(c.Client(kT0 + 16 * kMs, kFinAck));
  m.OnPacket(c.Server(kT0 + 17 * kMs, kFinAck));
  m.OnPacket(c.Client(kT0 + 18 * kMs, kAck));
  m.Finish();
  ASSERT_EQ(out.logs.size(), 2u);
  EXPECT_NE(out.logs[0].flow_id, out.logs[1].flow_id);
  EXPECT_EQ(out.logs[1].close_type, CloseType::kFinish);
  EXPECT_EQ(out.logs[1].syn_seq, 777777u);
  EXPECT_EQ(out.logs[0].packet_tx + out.logs[0].packet_rx, 6u);
  EXPECT_EQ(out.logs[1].packet_tx + out.logs[1].packet_rx, 6u);
  EXPECT_DOUBLE_EQ(out.logs[1].rtt, 2000.0);
  EXPECT_EQ(m.stats().flows_created, 2u);
}

TEST(FlowMapTest, EstablishedFlowTimesOutAfterConfiguredIdleTime) {
  Collector out;
  FlowMapConfig cfg;
  cfg.timeouts.established_ns = 10 * kSec;
  cfg.report_interval_ns = 3600 * kSec;
  FlowMap m(cfg, &out);
  Conn c;
  Handshake(m, c);
  m.OnPacket(c.Client(kT0 + kSec, kPshAck, 5));
  m.AdvanceTime(kT0 + 10 * kSec);
  EXPECT_TRUE(out.logs.empty());
  m.AdvanceTime(kT0 + 11 * kSec);
  ASSERT_EQ(out.logs.size(), 1u);
  EXPECT_EQ(out.logs[0].close_type, CloseType::kTimeout);
  EXPECT_EQ(out.logs[0].status, L4Status::kServerError);
  EXPECT_EQ(out.total.tcp_timeout, 1u);
}

TEST(FlowMapTest, LongFlowIsReportedEveryInterval) {
  Collector out;
  FlowMap m(FlowMapConfig{}, &out);
  Conn c;
  Handshake(m, c);  // kT0 is a minute boundary + 20 s (1.7e9 % 60 == 20)
  for (int s = 1; s <= 150; ++s) m.OnPacket(c.Client(kT0 + s * kSec, kPshAck, 10));
  m.Finish();
  // Reports at the minute boundaries kT0+40 s and kT0+100 s, then the final one.
  ASSERT_EQ(out.logs.size(), 3u);
  EXPECT_EQ(out.logs[0].close_type, CloseType::kForcedReport);
  EXPECT_TRUE(out.logs[0].is_new_flow);
  EXPECT_FALSE(out.logs[1].is_new_flow);
  EXPECT_DOUBLE_EQ(out.logs[0].rtt, 250.0);
  EXPECT_DOUBLE_EQ(out.logs[1].rtt, 0.0);  // the handshake is reported once
  uint64_t sum = 0;
  for (const auto& r : out.logs) sum += r.packet_tx;
  EXPECT_EQ(sum, 152u);  // SYN + ACK + 150 data packets, each counted once
  EXPECT_EQ(out.logs[2].total_packet_tx, 152u);
  EXPECT_EQ(out.logs[0].packet_tx, 2u + 39u);
  EXPECT_EQ(out.logs[1].start_time, out.logs[0].time * 1000000ull);
}

TEST(FlowMapTest, MaxFlowsEvictsTheLongestIdleFlow) {
  Collector out;
  FlowMapConfig cfg;
  cfg.max_flows = 2;
  FlowMap m(cfg, &out);
  Conn a, b, d;
  b.cport = 40001;
  d.cport = 40002;
  Handshake(m, a);
  m.OnPacket(b.Client(kT0 + kMs, kTcpSyn));
  m.OnPacket(a.Client(kT0 + 2 * kMs, kPshAck, 1));  // a is now more recent than b
  m.OnPacket(d.Client(kT0 + 3 * kMs, kTcpSyn));     // over the limit: b goes
  ASSERT_EQ(out.logs.size(), 1u);
  EXPECT_EQ(out.logs[0].client_port, 40001);
  EXPECT_EQ(out.logs[0].close_type, CloseType::kForcedReport);
  EXPECT_EQ(m.stats().evicted, 1u);
  EXPECT_EQ(m.stats().active_flows, 2u);
}

TEST(FlowMapTest, UdpRequestResponse) {
  Collector out;
  FlowMap m(FlowMapConfig{}, &out);
  Conn c;
  c.proto = 17;
  c.cport = 53000;
  c.sport = 53;
  // The server's reply arrives first in the capture window? No: the port heuristic still
  // makes 53 the server even when its packet is seen first.
  m.OnPacket(c.Server(kT0, 0, 80));
  m.OnPacket(c.Client(kT0 + kMs, 0, 40));
  m.OnPacket(c.Server(kT0 + kMs + 300'000, 0, 120));
  m.AdvanceTime(kT0 + 4 * kSec);
  EXPECT_TRUE(out.logs.empty());
  m.AdvanceTime(kT0 + 7 * kSec);  // others timeout 5 s
  ASSERT_EQ(out.logs.size(), 1u);
  const auto& r = out.logs[0];
  EXPECT_EQ(r.server_port, 53);
  EXPECT_EQ(r.client_port, 53000);
  EXPECT_EQ(r.packet_tx, 1u);
  EXPECT_EQ(r.packet_rx, 2u);
  EXPECT_EQ(r.l4_byte_rx, 200u);
  EXPECT_EQ(r.art_count, 1u);
  EXPECT_EQ(r.art_sum, 300u);
  EXPECT_EQ(r.close_type, CloseType::kTimeout);
  EXPECT_EQ(r.status, L4Status::kNormal);
}

TEST(FlowMapTest, MetersAreHandedOverPerSecondWithWatermarks) {
  Collector out;
  FlowMap m(FlowMapConfig{}, &out);
  Conn c;
  Handshake(m, c);
  m.OnPacket(c.Client(kT0 + kSec + kMs, kPshAck, 10));
  m.OnPacket(c.Client(kT0 + 2 * kSec + kMs, kPshAck, 10));
  // Seconds kT0 and kT0+1 are over: one delta each, and the watermark says so.
  ASSERT_EQ(out.deltas.size(), 2u);
  EXPECT_EQ(out.deltas[0].second, kT0 / kSec);
  EXPECT_EQ(out.deltas[0].meter.packet_tx, 2u);
  EXPECT_EQ(out.deltas[0].meter.packet_rx, 1u);
  EXPECT_EQ(out.deltas[0].meter.new_flow, 1u);
  EXPECT_EQ(out.deltas[1].second, kT0 / kSec + 1);
  EXPECT_EQ(out.watermarks.back(), kT0 / kSec + 2);
  EXPECT_EQ(out.deltas[0].server_port, 80);
  EXPECT_EQ(out.deltas[0].ip_0.ToString(), "10.0.0.1");
}

TEST(FlowMapTest, PacketsWithoutPortsFormAnIpFlow) {
  Collector out;
  FlowMap m(FlowMapConfig{}, &out);
  Conn c;
  Packet frag = c.Client(kT0, 0, 1400);
  frag.has_l4 = false;
  frag.is_fragment = true;
  frag.src_port = frag.dst_port = 0;
  m.OnPacket(frag);
  m.Finish();
  ASSERT_EQ(out.logs.size(), 1u);
  EXPECT_EQ(out.logs[0].client_port, 0);
  EXPECT_EQ(m.stats().no_l4, 1u);
}

}  // namespace
}  // namespace flowscope::agent
