#include "agent/capture/decoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "agent/capture/pcap_file_source.h"

namespace flowscope::agent {
namespace {

// ---------------------------------------------------------------------------------------------
// Frame builders. Each returns the header followed by `payload`; checksums are left zero because
// the decoder does not verify them.

using Bytes = std::vector<uint8_t>;

Bytes Cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

void Put16(Bytes* b, uint16_t v) {
  b->push_back(static_cast<uint8_t>(v >> 8));
  b->push_back(static_cast<uint8_t>(v));
}
void Put32(Bytes* b, uint32_t v) {
  Put16(b, static_cast<uint16_t>(v >> 16));
  Put16(b, static_cast<uint16_t>(v));
}

IpAddr Ip(const char* text) {
  IpAddr a;
  EXPECT_TRUE(IpAddr::Parse(text, &a)) << text;
  return a;
}
void PutIp(Bytes* b, const char* text) {
  IpAddr a = Ip(text);
  b->insert(b->end(), a.bytes.begin(), a.bytes.begin() + (a.is_v4 ? 4 : 16));
}

constexpr uint8_t kMacA[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x0a};
constexpr uint8_t kMacB[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x0b};

struct Tag {
  uint16_t tpid;
  uint16_t vid;
};

// Ethernet II from kMacA to kMacB, with optional VLAN tags (outermost first).
Bytes Eth(uint16_t type, const Bytes& payload, std::initializer_list<Tag> tags = {}) {
  Bytes b(kMacB, kMacB + 6);
  b.insert(b.end(), kMacA, kMacA + 6);
  for (const Tag& t : tags) {
    Put16(&b, t.tpid);
    Put16(&b, static_cast<uint16_t>(0x2000 | t.vid));  // PCP 1, so that masking is exercised
  }
  Put16(&b, type);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

struct Ip4Opts {
  uint8_t ttl = 64;
  uint16_t id = 0x1234;
  uint16_t frag = 0x4000;  // flags + fragment offset field; DF by default
  uint8_t ihl_words = 5;
  int total_len = -1;  // override
  uint8_t version = 4;
};

Bytes Ipv4(const char* src, const char* dst, uint8_t proto, const Bytes& payload, Ip4Opts o = {}) {
  Bytes b;
  uint32_t hlen = o.ihl_words * 4u;
  b.push_back(static_cast<uint8_t>((o.version << 4) | (o.ihl_words & 0x0F)));
  b.push_back(0);
  Put16(&b, static_cast<uint16_t>(o.total_len >= 0 ? o.total_len : hlen + payload.size()));
  Put16(&b, o.id);
  Put16(&b, o.frag);
  b.push_back(o.ttl);
  b.push_back(proto);
  Put16(&b, 0);
  PutIp(&b, src);
  PutIp(&b, dst);
  while (b.size() < hlen) b.push_back(1);  // NOP options
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes Ipv6(const char* src, const char* dst, uint8_t nh, const Bytes& payload, uint8_t hops = 64,
           int plen = -1) {
  Bytes b = {0x60, 0x01, 0x23, 0x45};  // version 6, some traffic class / flow label
  Put16(&b, static_cast<uint16_t>(plen >= 0 ? plen : payload.size()));
  b.push_back(nh);
  b.push_back(hops);
  PutIp(&b, src);
  PutIp(&b, dst);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

// Hop-by-hop, routing or destination options header of `units` 8-byte units.
Bytes Ext6(uint8_t nh, uint8_t units, const Bytes& payload) {
  Bytes b = {nh, static_cast<uint8_t>(units - 1)};
  b.resize(size_t{units} * 8, 0);
  b[2] = 1;  // PadN / routing type, irrelevant to the decoder
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}
Bytes Frag6(uint8_t nh, uint16_t offset_units, bool more, uint32_t id, const Bytes& payload) {
  Bytes b = {nh, 0};
  Put16(&b, static_cast<uint16_t>((offset_units << 3) | (more ? 1 : 0)));
  Put32(&b, id);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}
// AH with a 12-byte ICV: 24 bytes, length field (24 / 4) - 2 = 4.
Bytes Ah(uint8_t nh, const Bytes& payload) {
  Bytes b = {nh, 4, 0, 0};
  Put32(&b, 0x1000);  // SPI
  Put32(&b, 1);       // sequence
  b.resize(24, 0xAA);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

struct TcpOpts {
  uint32_t seq = 1000;
  uint32_t ack = 2000;
  uint8_t flags = kTcpAck | kTcpPsh;
  uint16_t window = 502;
  Bytes options;        // padded to 4 bytes with EOL
  int doff_words = -1;  // override
};

Bytes Tcp(uint16_t sport, uint16_t dport, const Bytes& payload, const TcpOpts& o = {}) {
  Bytes opts = o.options;
  while (opts.size() % 4 != 0) opts.push_back(0);
  Bytes b;
  Put16(&b, sport);
  Put16(&b, dport);
  Put32(&b, o.seq);
  Put32(&b, o.ack);
  auto doff = static_cast<uint8_t>(o.doff_words >= 0 ? o.doff_words : 5 + opts.size() / 4);
  b.push_back(static_cast<uint8_t>(doff << 4));
  b.push_back(o.flags);
  Put16(&b, o.window);
  Put16(&b, 0);
  Put16(&b, 0);
  b.insert(b.end(), opts.begin(), opts.end());
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes Udp(uint16_t sport, uint16_t dport, const Bytes& payload, int len = -1) {
  Bytes b;
  Put16(&b, sport);
  Put16(&b, dport);
  Put16(&b, static_cast<uint16_t>(len >= 0 ? len : 8 + payload.size()));
  Put16(&b, 0);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes Icmp(uint8_t type, uint8_t code, uint16_t id, uint16_t seq, const Bytes& payload) {
  Bytes b = {type, code, 0, 0};
  Put16(&b, id);
  Put16(&b, seq);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes Vxlan(uint32_t vni, const Bytes& inner, uint8_t flags = 0x08) {
  Bytes b = {flags, 0, 0, 0};
  Put32(&b, vni << 8);
  b.insert(b.end(), inner.begin(), inner.end());
  return b;
}

struct GreOpts {
  bool csum = false;
  bool key = false;
  uint32_t key_value = 0;
  bool seq = false;
  uint8_t version = 0;
};

Bytes Gre(uint16_t proto, const Bytes& inner, GreOpts o = {}) {
  auto flags = static_cast<uint16_t>((o.csum ? 0x8000 : 0) | (o.key ? 0x2000 : 0) |
                                     (o.seq ? 0x1000 : 0) | o.version);
  Bytes b;
  Put16(&b, flags);
  Put16(&b, proto);
  if (o.csum) Put32(&b, 0xBEEF0000);
  if (o.key) Put32(&b, o.key_value);
  if (o.seq) Put32(&b, 77);
  b.insert(b.end(), inner.begin(), inner.end());
  return b;
}

// ERSPAN type II header (draft-foschiano-erspan §4.1): ver 1, VLAN 0, COS 0, En 3, T 0, session.
Bytes Erspan2(uint16_t session, const Bytes& inner) {
  Bytes b;
  Put16(&b, 0x1000);
  Put16(&b, static_cast<uint16_t>(0x1800 | (session & 0x3FF)));
  Put32(&b, 0x00000007);  // reserved + index
  b.insert(b.end(), inner.begin(), inner.end());
  return b;
}

// ERSPAN type III header (§4.2), frame type `ft`, optional platform subheader.
Bytes Erspan3(uint16_t session, const Bytes& inner, bool platform, uint8_t ft = 0) {
  Bytes b;
  Put16(&b, 0x2000);  // ver 2, VLAN 0
  Put16(&b, static_cast<uint16_t>(session & 0x3FF));
  Put32(&b, 0x11223344);  // timestamp
  Put16(&b, 0);           // SGT
  Put16(&b, static_cast<uint16_t>((ft & 0x1F) << 10 | (platform ? 1 : 0)));
  if (platform) {
    Put32(&b, 0x0C000000);  // platform id 3
    Put32(&b, 0x55667788);
  }
  b.insert(b.end(), inner.begin(), inner.end());
  return b;
}

Bytes Text(const std::string& s) { return {s.begin(), s.end()}; }

// An ordinary inner packet: TCP 10.0.0.1:40000 -> 10.0.0.2:80 with 5 bytes of payload.
Bytes InnerTcp4() { return Ipv4("10.0.0.1", "10.0.0.2", 6, Tcp(40000, 80, Text("hello"))); }

// Decodes `frame` from an exactly sized heap copy, so that ASan builds catch any over-read.
DecodeResult DecodeFrame(const Bytes& frame, Packet* p, int link = kLinkTypeEthernet,
                         DecoderConfig cfg = {}, uint32_t cap = UINT32_MAX) {
  uint32_t n = cap < frame.size() ? cap : static_cast<uint32_t>(frame.size());
  auto copy = std::make_unique<uint8_t[]>(n == 0 ? 1 : n);
  if (n != 0) std::memcpy(copy.get(), frame.data(), n);
  Decoder d(cfg);
  DecodeResult r = d.Decode(link, n == 0 ? nullptr : copy.get(), n,
                            static_cast<uint32_t>(frame.size()), 1234, p);
  // The payload pointer must lie inside the frame; rebase it onto `frame` for the caller.
  if (p->payload != nullptr) {
    EXPECT_GE(p->payload, copy.get());
    EXPECT_LE(p->payload + p->payload_cap_len, copy.get() + n);
    p->payload = frame.data() + (p->payload - copy.get());
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Table of frames with the fields that must come out.

struct Want {
  DecodeResult result = DecodeResult::kOk;
  const char* src = nullptr;  // nullptr: not checked
  const char* dst = nullptr;
  uint8_t proto = 0;
  uint16_t sport = 0;
  uint16_t dport = 0;
  bool has_l4 = false;
  bool fragment = false;
  uint32_t l3_len = 0;
  uint32_t payload_len = 0;
  uint16_t eth_type = 0;
  uint16_t vlan = 0;
  uint8_t vlan_depth = 0;
  TunnelType tunnel = TunnelType::kNone;
  uint8_t tier = 0;
  uint32_t tunnel_id = 0;
  const char* tunnel_src = nullptr;
  const char* tunnel_dst = nullptr;
};

struct Case {
  const char* name;
  Bytes frame;
  Want want;
  int link = kLinkTypeEthernet;
  DecoderConfig config = {};
};

Want TcpWant(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint32_t payload,
             uint16_t eth_type = 0x0800) {
  Want w;
  w.src = src;
  w.dst = dst;
  w.proto = 6;
  w.sport = sport;
  w.dport = dport;
  w.has_l4 = true;
  w.l3_len = 20 + payload;
  w.payload_len = payload;
  w.eth_type = eth_type;
  return w;
}
Want UdpWant(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint32_t payload,
             uint16_t eth_type = 0x0800) {
  Want w = TcpWant(src, dst, sport, dport, payload, eth_type);
  w.proto = 17;
  w.l3_len = 8 + payload;
  return w;
}
Want Result(DecodeResult r) {
  Want w;
  w.result = r;
  return w;
}
Want Tunnelled(Want w, TunnelType t, uint8_t tier, uint32_t id, const char* tsrc,
               const char* tdst) {
  w.tunnel = t;
  w.tier = tier;
  w.tunnel_id = id;
  w.tunnel_src = tsrc;
  w.tunnel_dst = tdst;
  return w;
}
template <typename F>
Want With(Want w, F f) {
  f(&w);
  return w;
}

std::vector<Case> Cases() {
  std::vector<Case> c;
  const Bytes tcp4 = InnerTcp4();
  const Want tcp4_want = TcpWant("10.0.0.1", "10.0.0.2", 40000, 80, 5);
  const Bytes tcp6 = Ipv6("fd00::1", "fd00::2", 6, Tcp(40001, 443, Text("hi")));
  const Want tcp6_want = TcpWant("fd00::1", "fd00::2", 40001, 443, 2, 0x86DD);

  // --- plain L2/L3/L4 ---
  c.push_back({"eth_ipv4_tcp", Eth(0x0800, tcp4), tcp4_want});
  c.push_back({"eth_ipv4_udp",
               Eth(0x0800, Ipv4("192.168.1.1", "8.8.8.8", 17, Udp(5353, 53, Text("query")))),
               UdpWant("192.168.1.1", "8.8.8.8", 5353, 53, 5)});
  c.push_back({"eth_ipv6_tcp", Eth(0x86DD, tcp6), tcp6_want});
  c.push_back({"eth_ipv6_udp",
               Eth(0x86DD, Ipv6("2001:db8::1", "2001:db8::2", 17, Udp(1000, 2000, Text("abc")))),
               UdpWant("2001:db8::1", "2001:db8::2", 1000, 2000, 3, 0x86DD)});
  c.push_back({"ipv4_options",
               Eth(0x0800, Ipv4("10.0.0.1", "10.0.0.2", 6, Tcp(40000, 80, Text("hello")),
                                Ip4Opts{.ihl_words = 8})),
               tcp4_want});
  c.push_back({"ipv4_other_proto_l3_only",
               Eth(0x0800, Ipv4("10.0.0.1", "10.0.0.2", 50, Bytes(16, 0xEE))),
               With(Result(DecodeResult::kOk), [](Want* w) {
                 w->src = "10.0.0.1";
                 w->proto = 50;
                 w->l3_len = 16;
                 w->eth_type = 0x0800;
               })});
  // Short frame padded to the 60-byte Ethernet minimum: the padding is not payload.
  {
    Bytes f = Eth(0x0800, Ipv4("10.1.1.1", "10.1.1.2", 17, Udp(7, 7, Text("ab"))));
    f.resize(60, 0);
    c.push_back({"ethernet_padding_ignored", f, UdpWant("10.1.1.1", "10.1.1.2", 7, 7, 2)});
  }
  {
    Bytes f = Eth(0x0800, tcp4);
    f.resize(f.size() + 4, 0xFF);  // trailing FCS-like bytes
    c.push_back({"trailing_bytes_ignored", f, tcp4_want});
  }

  // --- ICMP ---
  auto icmp_want = [](const char* s, const char* d, uint8_t proto, uint16_t id, uint16_t et) {
    Want w;
    w.src = s;
    w.dst = d;
    w.proto = proto;
    w.sport = id;
    w.dport = id;
    w.has_l4 = true;
    w.l3_len = 8 + 4;
    w.payload_len = 4;
    w.eth_type = et;
    return w;
  };
  c.push_back({"icmp_echo_request",
               Eth(0x0800, Ipv4("10.0.0.1", "10.0.0.2", 1, Icmp(8, 0, 0x4242, 1, Bytes(4, 0)))),
               icmp_want("10.0.0.1", "10.0.0.2", 1, 0x4242, 0x0800)});
  c.push_back({"icmp_echo_reply",
               Eth(0x0800, Ipv4("10.0.0.2", "10.0.0.1", 1, Icmp(0, 0, 0x4242, 1, Bytes(4, 0)))),
               icmp_want("10.0.0.2", "10.0.0.1", 1, 0x4242, 0x0800)});
  c.push_back({"icmpv6_echo_request",
               Eth(0x86DD, Ipv6("fd00::1", "fd00::2", 58, Icmp(128, 0, 7, 1, Bytes(4, 0)))),
               icmp_want("fd00::1", "fd00::2", 58, 7, 0x86DD)});
  c.push_back({"icmpv6_echo_reply",
               Eth(0x86DD, Ipv6("fd00::2", "fd00::1", 58, Icmp(129, 0, 7, 1, Bytes(4, 0)))),
               icmp_want("fd00::2", "fd00::1", 58, 7, 0x86DD)});
  c.push_back({"icmp_unreachable_no_ports",
               Eth(0x0800, Ipv4("10.0.0.9", "10.0.0.1", 1, Icmp(3, 1, 0, 0, Bytes(4, 0)))),
               With(icmp_want("10.0.0.9", "10.0.0.1", 1, 0, 0x0800), [](Want*) {})});

  // --- VLAN and other link types ---
  c.push_back({"vlan_8021q", Eth(0x0800, tcp4, {{0x8100, 100}}), With(tcp4_want, [](Want* w) {
                 w->vlan = 100;
                 w->vlan_depth = 1;
               })});
  c.push_back(
      {"qinq_88a8", Eth(0x86DD, tcp6, {{0x88A8, 200}, {0x8100, 100}}), With(tcp6_want, [](Want* w) {
         w->vlan = 200;
         w->vlan_depth = 2;
       })});
  c.push_back({"qinq_9100_triple", Eth(0x0800, tcp4, {{0x9100, 4095}, {0x8100, 1}, {0x8100, 2}}),
               With(tcp4_want, [](Want* w) {
                 w->vlan = 4095;
                 w->vlan_depth = 3;
               })});
  c.push_back({"arp_not_ip", Eth(0x0806, Bytes(28, 0)),
               With(Result(DecodeResult::kNotIp), [](Want* w) { w->eth_type = 0x0806; })});
  c.push_back({"vlan_arp_not_ip", Eth(0x0806, Bytes(28, 0), {{0x8100, 5}}),
               With(Result(DecodeResult::kNotIp), [](Want* w) {
                 w->eth_type = 0x0806;
                 w->vlan = 5;
                 w->vlan_depth = 1;
               })});
  c.push_back({"llc_length_field_not_ip", Eth(0x0026, Bytes(38, 0x42)),
               With(Result(DecodeResult::kNotIp), [](Want* w) { w->eth_type = 0x0026; })});
  c.push_back(
      {"raw_101_ipv4", tcp4, With(tcp4_want, [](Want* w) { w->eth_type = 0; }), kLinkTypeRaw});
  c.push_back(
      {"raw_101_ipv6", tcp6, With(tcp6_want, [](Want* w) { w->eth_type = 0; }), kLinkTypeRaw});
  c.push_back({"raw_12", tcp4, With(tcp4_want, [](Want* w) { w->eth_type = 0; }), 12});
  c.push_back({"raw_14", tcp6, With(tcp6_want, [](Want* w) { w->eth_type = 0; }), 14});
  c.push_back({"raw_bad_version",
               Ipv4("1.1.1.1", "2.2.2.2", 6, Bytes(20, 0), Ip4Opts{.version = 5}),
               Result(DecodeResult::kMalformed), kLinkTypeRaw});
  {
    // SLL: pkttype 0, hatype 1 (Ethernet), halen 6, address, protocol.
    Bytes sll = {0, 0, 0, 1, 0, 6};
    sll.insert(sll.end(), kMacA, kMacA + 6);
    sll.insert(sll.end(), {0, 0});
    Bytes f = sll;
    Put16(&f, 0x0800);
    f.insert(f.end(), tcp4.begin(), tcp4.end());
    c.push_back({"sll_ipv4", f, tcp4_want, kLinkTypeLinuxSll});
    Bytes v = sll;
    Put16(&v, 0x8100);
    Put16(&v, 300);
    Put16(&v, 0x86DD);
    v.insert(v.end(), tcp6.begin(), tcp6.end());
    c.push_back({"sll_vlan_ipv6", v,
                 With(tcp6_want,
                      [](Want* w) {
                        w->vlan = 300;
                        w->vlan_depth = 1;
                      }),
                 kLinkTypeLinuxSll});
    Bytes a = sll;
    Put16(&a, 0x0806);
    a.resize(a.size() + 28, 0);
    c.push_back({"sll_arp", a,
                 With(Result(DecodeResult::kNotIp), [](Want* w) { w->eth_type = 0x0806; }),
                 kLinkTypeLinuxSll});
  }
  {
    // SLL2: protocol, reserved, ifindex, hatype, pkttype, halen, address.
    Bytes f;
    Put16(&f, 0x86DD);
    Put16(&f, 0);
    Put32(&f, 7);
    Put16(&f, 1);
    f.push_back(4);
    f.push_back(6);
    f.insert(f.end(), kMacA, kMacA + 6);
    f.insert(f.end(), {0, 0});
    f.insert(f.end(), tcp6.begin(), tcp6.end());
    c.push_back({"sll2_ipv6", f, tcp6_want, kLinkTypeLinuxSll2});
  }
  c.push_back({"null_le_inet", Cat({{2, 0, 0, 0}, tcp4}),
               With(tcp4_want, [](Want* w) { w->eth_type = 0; }), kLinkTypeNull});
  c.push_back({"null_be_inet6_bsd", Cat({{0, 0, 0, 24}, tcp6}),
               With(tcp6_want, [](Want* w) { w->eth_type = 0; }), kLinkTypeNull});
  c.push_back({"null_le_inet6_darwin", Cat({{30, 0, 0, 0}, tcp6}),
               With(tcp6_want, [](Want* w) { w->eth_type = 0; }), kLinkTypeNull});
  c.push_back({"loop_inet", Cat({{0, 0, 0, 2}, tcp4}),
               With(tcp4_want, [](Want* w) { w->eth_type = 0; }), kLinkTypeLoop});
  c.push_back({"null_unknown_family", Cat({{7, 0, 0, 0}, tcp4}), Result(DecodeResult::kNotIp),
               kLinkTypeNull});
  c.push_back({"unsupported_link", Eth(0x0800, tcp4), Result(DecodeResult::kUnsupportedLink), 105});

  // --- malformed ---
  c.push_back({"ipv4_ethertype_but_version_6", Eth(0x0800, tcp6),
               With(Result(DecodeResult::kMalformed), [](Want* w) { w->eth_type = 0x0800; })});
  c.push_back({"ipv6_ethertype_but_version_4", Eth(0x86DD, Cat({tcp4, Bytes(40, 0)})),
               With(Result(DecodeResult::kMalformed), [](Want* w) { w->eth_type = 0x86DD; })});
  c.push_back({"ipv4_ihl_4",
               Eth(0x0800, Ipv4("10.0.0.1", "10.0.0.2", 6, Tcp(1, 2, {}), Ip4Opts{.ihl_words = 4})),
               With(Result(DecodeResult::kMalformed), [](Want* w) { w->eth_type = 0x0800; })});
  c.push_back(
      {"ipv4_total_len_below_header",
       Eth(0x0800, Ipv4("10.0.0.1", "10.0.0.2", 6, Tcp(1, 2, {}), Ip4Opts{.total_len = 19})),
       With(Result(DecodeResult::kMalformed), [](Want* w) { w->eth_type = 0x0800; })});
  c.push_back(
      {"tcp_doff_4",
       Eth(0x0800, Ipv4("10.0.0.1", "10.0.0.2", 6, Tcp(1, 2, {}, TcpOpts{.doff_words = 4}))),
       With(Result(DecodeResult::kMalformed), [](Want* w) {
         w->src = "10.0.0.1";
         w->proto = 6;
         w->l3_len = 20;
         w->eth_type = 0x0800;
       })});
  c.push_back({"tcp_doff_beyond_ip_length",
               Eth(0x0800, Ipv4("10.0.0.1", "10.0.0.2", 6,
                                Tcp(1, 2, Bytes(40, 0), TcpOpts{.doff_words = 15}),
                                Ip4Opts{.total_len = 20 + 24})),
               With(Result(DecodeResult::kMalformed), [](Want* w) {
                 w->proto = 6;
                 w->l3_len = 24;
                 w->eth_type = 0x0800;
               })});
  c.push_back(
      {"tcp_segment_shorter_than_header",
       Eth(0x0800, Ipv4("10.0.0.1", "10.0.0.2", 6, Tcp(1, 2, {}), Ip4Opts{.total_len = 30})),
       With(Result(DecodeResult::kMalformed), [](Want* w) {
         w->proto = 6;
         w->l3_len = 10;
         w->eth_type = 0x0800;
       })});
  c.push_back({"udp_length_below_8",
               Eth(0x0800, Ipv4("10.0.0.1", "10.0.0.2", 17, Udp(1, 2, Bytes(4, 0), 7))),
               With(Result(DecodeResult::kMalformed), [](Want* w) {
                 w->proto = 17;
                 w->l3_len = 12;
                 w->eth_type = 0x0800;
               })});
  c.push_back({"udp_length_beyond_ip",
               Eth(0x0800, Ipv4("10.0.0.1", "10.0.0.2", 17, Udp(1, 2, Bytes(4, 0), 100))),
               With(Result(DecodeResult::kMalformed), [](Want* w) {
                 w->proto = 17;
                 w->l3_len = 12;
                 w->eth_type = 0x0800;
               })});
  c.push_back({"udp_length_shorter_than_ip_payload_wins",
               Eth(0x0800, Ipv4("10.0.0.1", "10.0.0.2", 17, Udp(1, 2, Bytes(10, 0), 12))),
               With(UdpWant("10.0.0.1", "10.0.0.2", 1, 2, 4), [](Want* w) { w->l3_len = 18; })});
  c.push_back({"icmp_echo_shorter_than_8",
               Eth(0x0800, Ipv4("10.0.0.1", "10.0.0.2", 1, Bytes{8, 0, 0, 0, 0})),
               With(Result(DecodeResult::kMalformed), [](Want* w) {
                 w->proto = 1;
                 w->l3_len = 5;
                 w->eth_type = 0x0800;
               })});
  c.push_back({"ipv6_ext_longer_than_payload",
               Eth(0x86DD, Ipv6("fd00::1", "fd00::2", 0, Bytes{6, 3, 0, 0, 0, 0, 0, 0})),
               With(Result(DecodeResult::kMalformed), [](Want* w) { w->eth_type = 0x86DD; })});
  c.push_back(
      {"ipv6_too_many_ext_headers",
       Eth(0x86DD,
           Ipv6("fd00::1", "fd00::2", 60,
                Ext6(60, 1,
                     Ext6(60, 1,
                          Ext6(60, 1,
                               Ext6(60, 1,
                                    Ext6(60, 1,
                                         Ext6(60, 1,
                                              Ext6(60, 1,
                                                   Ext6(60, 1, Ext6(6, 1, Tcp(1, 2, {})))))))))))),
       With(Result(DecodeResult::kMalformed), [](Want* w) { w->eth_type = 0x86DD; })});
  c.push_back(
      {"ipv6_payload_beyond_inner_bound",
       Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 41, Ipv6("fd00::1", "fd00::2", 59, {}, 64, 100))),
       With(Result(DecodeResult::kMalformed), [](Want* w) {
         w->eth_type = 0x0800;
         w->tunnel = TunnelType::kIpip;
         w->tier = 1;
       })});

  // --- fragments ---
  {
    // First fragment: MF set, offset 0: L4 header present, UDP length covers the whole datagram.
    Bytes first = Ipv4("10.0.0.1", "10.0.0.2", 17, Udp(1111, 2222, Bytes(16, 0), 8 + 3000),
                       Ip4Opts{.id = 777, .frag = 0x2000});
    c.push_back({"ipv4_first_fragment", Eth(0x0800, first),
                 With(UdpWant("10.0.0.1", "10.0.0.2", 1111, 2222, 16),
                      [](Want* w) { w->fragment = true; })});
    Bytes middle =
        Ipv4("10.0.0.1", "10.0.0.2", 17, Bytes(24, 0x55), Ip4Opts{.id = 777, .frag = 0x2000 | 3});
    c.push_back({"ipv4_middle_fragment_no_l4", Eth(0x0800, middle),
                 With(Result(DecodeResult::kOk), [](Want* w) {
                   w->src = "10.0.0.1";
                   w->dst = "10.0.0.2";
                   w->proto = 17;
                   w->fragment = true;
                   w->l3_len = 24;
                   w->eth_type = 0x0800;
                 })});
    Bytes last = Ipv4("10.0.0.1", "10.0.0.2", 6, Tcp(1, 2, {}), Ip4Opts{.frag = 185});
    c.push_back({"ipv4_last_fragment_no_l4", Eth(0x0800, last),
                 With(Result(DecodeResult::kOk), [](Want* w) {
                   w->proto = 6;
                   w->fragment = true;
                   w->l3_len = 20;
                   w->eth_type = 0x0800;
                 })});
    Bytes tiny = Ipv4("10.0.0.1", "10.0.0.2", 6, Bytes(8, 0), Ip4Opts{.frag = 0x2000});
    c.push_back({"ipv4_tiny_first_fragment_no_l4", Eth(0x0800, tiny),
                 With(Result(DecodeResult::kOk), [](Want* w) {
                   w->proto = 6;
                   w->fragment = true;
                   w->l3_len = 8;
                   w->eth_type = 0x0800;
                 })});
    c.push_back(
        {"ipv6_first_fragment",
         Eth(0x86DD, Ipv6("fd00::1", "fd00::2", 44,
                          Frag6(17, 0, true, 0xABCD1234, Udp(53, 5353, Bytes(8, 1), 2000)))),
         With(UdpWant("fd00::1", "fd00::2", 53, 5353, 8, 0x86DD),
              [](Want* w) { w->fragment = true; })});
    c.push_back(
        {"ipv6_later_fragment_no_l4",
         Eth(0x86DD, Ipv6("fd00::1", "fd00::2", 44, Frag6(17, 100, false, 9, Bytes(32, 1)))),
         With(Result(DecodeResult::kOk), [](Want* w) {
           w->src = "fd00::1";
           w->proto = 17;
           w->fragment = true;
           w->l3_len = 32;
           w->eth_type = 0x86DD;
         })});
    c.push_back({"ipv6_atomic_fragment",
                 Eth(0x86DD, Ipv6("fd00::1", "fd00::2", 44,
                                  Frag6(6, 0, false, 1, Tcp(40001, 443, Text("hi"))))),
                 With(tcp6_want, [](Want* w) { w->l3_len = 22; })});
  }

  // --- IPv6 extension chains ---
  c.push_back({"ipv6_hbh_routing_dstopts_tcp",
               Eth(0x86DD, Ipv6("fd00::1", "fd00::2", 0,
                                Ext6(43, 1, Ext6(60, 3, Ext6(6, 2, Tcp(40001, 443, Text("hi"))))))),
               tcp6_want});
  c.push_back(
      {"ipv6_ah_udp",
       Eth(0x86DD, Ipv6("2001:db8::1", "2001:db8::2", 51, Ah(17, Udp(1000, 2000, Text("abc"))))),
       UdpWant("2001:db8::1", "2001:db8::2", 1000, 2000, 3, 0x86DD)});
  c.push_back({"ipv6_dstopts_fragment_tcp",
               Eth(0x86DD, Ipv6("fd00::1", "fd00::2", 60,
                                Ext6(44, 1, Frag6(6, 0, true, 5, Tcp(40001, 443, Text("hi")))))),
               With(tcp6_want, [](Want* w) { w->fragment = true; })});
  c.push_back({"ipv6_no_next_header",
               Eth(0x86DD, Ipv6("fd00::1", "fd00::2", 0, Ext6(59, 1, Bytes(4, 0)))),
               With(Result(DecodeResult::kOk), [](Want* w) {
                 w->src = "fd00::1";
                 w->proto = 59;
                 w->l3_len = 4;
                 w->eth_type = 0x86DD;
               })});

  // --- tunnels ---
  const Bytes inner_eth = Eth(0x0800, tcp4);
  c.push_back(
      {"vxlan",
       Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 17, Udp(51000, 4789, Vxlan(42, inner_eth)))),
       Tunnelled(tcp4_want, TunnelType::kVxlan, 1, 42, "192.0.2.1", "192.0.2.2")});
  c.push_back(
      {"vxlan_max_vni_over_ipv6",
       Eth(0x86DD, Ipv6("2001:db8::a", "2001:db8::b", 17,
                        Udp(51000, 4789, Vxlan(0xFFFFFF, Eth(0x86DD, tcp6, {{0x8100, 9}}))))),
       Tunnelled(With(tcp6_want,
                      [](Want* w) {
                        w->vlan = 9;
                        w->vlan_depth = 1;
                      }),
                 TunnelType::kVxlan, 1, 0xFFFFFF, "2001:db8::a", "2001:db8::b")});
  c.push_back({"vxlan_outer_vlan_is_reported",
               Eth(0x0800,
                   Ipv4("192.0.2.1", "192.0.2.2", 17,
                        Udp(51000, 4789, Vxlan(42, Eth(0x0800, tcp4, {{0x8100, 7}})))),
                   {{0x8100, 100}}),
               Tunnelled(With(tcp4_want,
                              [](Want* w) {
                                w->vlan = 100;
                                w->vlan_depth = 1;
                              }),
                         TunnelType::kVxlan, 1, 42, "192.0.2.1", "192.0.2.2")});
  c.push_back({"vxlan_without_i_flag_is_udp",
               Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 17,
                                Udp(51000, 4789, Vxlan(42, inner_eth, 0x00)))),
               UdpWant("192.0.2.1", "192.0.2.2", 51000, 4789, 8 + 14 + 45)});
  c.push_back(
      {"vxlan_disabled_is_udp",
       Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 17, Udp(51000, 4789, Vxlan(42, inner_eth)))),
       UdpWant("192.0.2.1", "192.0.2.2", 51000, 4789, 8 + 14 + 45), kLinkTypeEthernet,
       DecoderConfig{.decap_vxlan = false}});
  c.push_back(
      {"vxlan_custom_port",
       Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 17, Udp(51000, 8472, Vxlan(3, inner_eth)))),
       Tunnelled(tcp4_want, TunnelType::kVxlan, 1, 3, "192.0.2.1", "192.0.2.2"), kLinkTypeEthernet,
       DecoderConfig{.vxlan_port = 8472}});
  {
    // The inner IP claims 10 bytes that lie after the UDP datagram (but inside the outer IP
    // packet): the UDP length bounds the inner packet.
    Bytes inner = Ipv4("10.0.0.1", "10.0.0.2", 6, Tcp(40000, 80, Text("hello")),
                       Ip4Opts{.total_len = 45 + 10});
    Bytes udp = Udp(51000, 4789, Vxlan(42, Eth(0x0800, inner)));
    c.push_back({"vxlan_inner_ip_beyond_udp_length",
                 Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 17, Cat({udp, Bytes(10, 0)}))),
                 With(Result(DecodeResult::kMalformed), [](Want* w) {
                   w->eth_type = 0x0800;
                   w->tunnel = TunnelType::kVxlan;
                   w->tier = 1;
                   w->tunnel_id = 42;
                 })});
  }
  c.push_back({"vxlan_inner_arp_not_ip",
               Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 17,
                                Udp(51000, 4789, Vxlan(42, Eth(0x0806, Bytes(28, 0)))))),
               With(Result(DecodeResult::kNotIp), [](Want* w) {
                 w->eth_type = 0x0806;
                 w->tunnel = TunnelType::kVxlan;
                 w->tier = 1;
                 w->tunnel_id = 42;
               })});
  c.push_back({"gre_ipv4_with_key",
               Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 47,
                                Gre(0x0800, tcp4, GreOpts{.key = true, .key_value = 0xDEADBEEF}))),
               Tunnelled(tcp4_want, TunnelType::kGre, 1, 0xDEADBEEF, "192.0.2.1", "192.0.2.2")});
  c.push_back(
      {"gre_csum_key_seq_ipv6",
       Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 47,
                        Gre(0x86DD, tcp6,
                            GreOpts{.csum = true, .key = true, .key_value = 5, .seq = true}))),
       Tunnelled(With(tcp6_want, [](Want* w) { w->eth_type = 0x0800; }), TunnelType::kGre, 1, 5,
                 "192.0.2.1", "192.0.2.2")});
  c.push_back({"gre_no_options", Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 47, Gre(0x0800, tcp4))),
               Tunnelled(tcp4_want, TunnelType::kGre, 1, 0, "192.0.2.1", "192.0.2.2")});
  c.push_back({"gre_over_ipv6",
               Eth(0x86DD, Ipv6("2001:db8::a", "2001:db8::b", 47, Gre(0x0800, tcp4))),
               Tunnelled(With(tcp4_want, [](Want* w) { w->eth_type = 0x86DD; }), TunnelType::kGre,
                         1, 0, "2001:db8::a", "2001:db8::b")});
  c.push_back({"gretap_inner_ethernet_vlan",
               Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 47,
                                Gre(0x6558, Eth(0x0800, tcp4, {{0x8100, 33}}),
                                    GreOpts{.key = true, .key_value = 1}))),
               Tunnelled(With(tcp4_want,
                              [](Want* w) {
                                w->vlan = 33;
                                w->vlan_depth = 1;
                              }),
                         TunnelType::kGre, 1, 1, "192.0.2.1", "192.0.2.2")});
  c.push_back({"erspan_type1",
               Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 47, Gre(0x88BE, inner_eth))),
               Tunnelled(tcp4_want, TunnelType::kErspan, 1, 0, "192.0.2.1", "192.0.2.2")});
  c.push_back({"erspan_type2",
               Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 47,
                                Gre(0x88BE, Erspan2(0x155, inner_eth), GreOpts{.seq = true}))),
               Tunnelled(tcp4_want, TunnelType::kErspan, 1, 0x155, "192.0.2.1", "192.0.2.2")});
  c.push_back(
      {"erspan_type3",
       Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 47,
                        Gre(0x22EB, Erspan3(1023, inner_eth, false), GreOpts{.seq = true}))),
       Tunnelled(tcp4_want, TunnelType::kErspan, 1, 1023, "192.0.2.1", "192.0.2.2")});
  c.push_back({"erspan_type3_platform_subheader",
               Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 47,
                                Gre(0x22EB, Erspan3(12, inner_eth, true), GreOpts{.seq = true}))),
               Tunnelled(tcp4_want, TunnelType::kErspan, 1, 12, "192.0.2.1", "192.0.2.2")});
  c.push_back({"erspan_type3_ip_frame",
               Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 47,
                                Gre(0x22EB, Erspan3(12, tcp6, false, 2), GreOpts{.seq = true}))),
               Tunnelled(With(tcp6_want, [](Want* w) { w->eth_type = 0x0800; }),
                         TunnelType::kErspan, 1, 12, "192.0.2.1", "192.0.2.2")});
  {
    Want opaque_gre;
    opaque_gre.src = "192.0.2.1";
    opaque_gre.proto = 47;
    opaque_gre.eth_type = 0x0800;
    Bytes g = Gre(0x880B, Bytes(20, 0), GreOpts{.key = true, .version = 1});
    opaque_gre.l3_len = static_cast<uint32_t>(g.size());
    c.push_back({"gre_version1_pptp_not_decapsulated",
                 Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 47, g)), opaque_gre});
    Bytes m = Gre(0x8847, Bytes(20, 0));
    opaque_gre.l3_len = static_cast<uint32_t>(m.size());
    c.push_back({"gre_mpls_not_decapsulated", Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 47, m)),
                 opaque_gre});
    Bytes t = Gre(0x0800, tcp4);
    opaque_gre.l3_len = static_cast<uint32_t>(t.size());
    c.push_back({"gre_disabled", Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 47, t)), opaque_gre,
                 kLinkTypeEthernet, DecoderConfig{.decap_gre = false}});
    opaque_gre.fragment = true;
    c.push_back({"gre_fragment_not_decapsulated",
                 Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 47, t, Ip4Opts{.frag = 0x2000})),
                 opaque_gre});
  }
  c.push_back({"ipip", Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 4, tcp4)),
               Tunnelled(tcp4_want, TunnelType::kIpip, 1, 0, "192.0.2.1", "192.0.2.2")});
  c.push_back({"ipv6_in_ipv4_sit", Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 41, tcp6)),
               Tunnelled(With(tcp6_want, [](Want* w) { w->eth_type = 0x0800; }), TunnelType::kIpip,
                         1, 0, "192.0.2.1", "192.0.2.2")});
  c.push_back({"ipv4_in_ipv6", Eth(0x86DD, Ipv6("2001:db8::a", "2001:db8::b", 4, tcp4)),
               Tunnelled(With(tcp4_want, [](Want* w) { w->eth_type = 0x86DD; }), TunnelType::kIpip,
                         1, 0, "2001:db8::a", "2001:db8::b")});
  c.push_back({"ipv6_in_ipv6_after_routing_header",
               Eth(0x86DD, Ipv6("2001:db8::a", "2001:db8::b", 43, Ext6(41, 3, tcp6))),
               Tunnelled(tcp6_want, TunnelType::kIpip, 1, 0, "2001:db8::a", "2001:db8::b")});
  c.push_back({"ipip_disabled", Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 4, tcp4)),
               With(Result(DecodeResult::kOk),
                    [](Want* w) {
                      w->src = "192.0.2.1";
                      w->proto = 4;
                      w->l3_len = 45;
                      w->eth_type = 0x0800;
                    }),
               kLinkTypeEthernet, DecoderConfig{.decap_ipip = false}});
  c.push_back(
      {"tunnel_inner_ip_longer_than_outer",
       Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 4,
                        Ipv4("10.0.0.1", "10.0.0.2", 6, Tcp(1, 2, {}), Ip4Opts{.total_len = 80}))),
       With(Result(DecodeResult::kMalformed), [](Want* w) {
         w->eth_type = 0x0800;
         w->tunnel = TunnelType::kIpip;
         w->tier = 1;
       })});
  {
    // VXLAN in GRE in IPIP: three encapsulations, the outermost one is reported.
    Bytes vx = Ipv4("172.16.0.1", "172.16.0.2", 17, Udp(1, 4789, Vxlan(900, inner_eth)));
    Bytes gre = Ipv4("198.51.100.1", "198.51.100.2", 47,
                     Gre(0x0800, vx, GreOpts{.key = true, .key_value = 5}));
    Bytes ipip = Ipv4("192.0.2.1", "192.0.2.2", 4, gre);
    c.push_back({"nested_three_tunnels", Eth(0x0800, ipip),
                 Tunnelled(tcp4_want, TunnelType::kIpip, 3, 0, "192.0.2.1", "192.0.2.2")});
    Bytes four = Ipv4("203.0.113.1", "203.0.113.2", 4, ipip);
    c.push_back({"nested_four_tunnels_too_deep", Eth(0x0800, four),
                 With(Result(DecodeResult::kTunnelTooDeep), [](Want* w) {
                   w->eth_type = 0x0800;
                   w->tunnel = TunnelType::kIpip;
                   w->tier = 3;
                   w->tunnel_src = "203.0.113.1";
                 })});
    c.push_back({"nested_two_with_depth_limit_1", Eth(0x0800, gre),
                 With(Result(DecodeResult::kTunnelTooDeep),
                      [](Want* w) {
                        w->eth_type = 0x0800;
                        w->tunnel = TunnelType::kGre;
                        w->tier = 1;
                        w->tunnel_id = 5;
                      }),
                 kLinkTypeEthernet, DecoderConfig{.max_tunnel_depth = 1}});
    c.push_back({"nested_four_with_depth_limit_4", Eth(0x0800, four),
                 Tunnelled(tcp4_want, TunnelType::kIpip, 4, 0, "203.0.113.1", "203.0.113.2"),
                 kLinkTypeEthernet, DecoderConfig{.max_tunnel_depth = 4}});
  }
  return c;
}

class DecodeTable : public testing::TestWithParam<Case> {};

TEST_P(DecodeTable, Fields) {
  const Case& tc = GetParam();
  Packet p;
  DecodeResult r = DecodeFrame(tc.frame, &p, tc.link, tc.config);
  const Want& w = tc.want;
  ASSERT_EQ(DecodeResultName(r), std::string(DecodeResultName(w.result)));
  if (w.src != nullptr) {
    EXPECT_EQ(p.src_ip.ToString(), w.src);
  }
  if (w.dst != nullptr) {
    EXPECT_EQ(p.dst_ip.ToString(), w.dst);
  }
  EXPECT_EQ(p.eth_type, w.eth_type);
  EXPECT_EQ(p.vlan, w.vlan);
  EXPECT_EQ(p.vlan_depth, w.vlan_depth);
  EXPECT_EQ(p.tunnel.type, w.tunnel);
  EXPECT_EQ(p.tunnel.tier, w.tier);
  EXPECT_EQ(p.tunnel.id, w.tunnel_id);
  if (w.tunnel_src != nullptr) {
    EXPECT_EQ(p.tunnel.src.ToString(), w.tunnel_src);
  }
  if (w.tunnel_dst != nullptr) {
    EXPECT_EQ(p.tunnel.dst.ToString(), w.tunnel_dst);
  }
  EXPECT_EQ(p.cap_len, tc.frame.size());
  EXPECT_EQ(p.wire_len, tc.frame.size());
  EXPECT_EQ(p.timestamp_ns, 1234u);
  EXPECT_EQ(p.has_l4, w.has_l4);
  // After an error the L3/L4 fields hold whatever was parsed before it: not part of the contract.
  if (r != DecodeResult::kOk) return;
  EXPECT_EQ(p.ip_proto, w.proto);
  EXPECT_EQ(p.has_l4, w.has_l4);
  EXPECT_EQ(p.src_port, w.sport);
  EXPECT_EQ(p.dst_port, w.dport);
  EXPECT_EQ(p.is_fragment, w.fragment);
  EXPECT_EQ(p.l3_payload_len, w.l3_len);
  EXPECT_EQ(p.payload_len, w.payload_len);
  EXPECT_EQ(p.payload_cap_len, w.payload_len);  // everything captured in these frames
}

INSTANTIATE_TEST_SUITE_P(Frames, DecodeTable, testing::ValuesIn(Cases()),
                         [](const testing::TestParamInfo<Case>& i) { return i.param.name; });

// ---------------------------------------------------------------------------------------------
// Field-level checks the table does not cover.

TEST(Decoder, TcpHeaderFields) {
  Bytes f = Eth(0x0800, Ipv4("10.0.0.1", "10.0.0.2", 6,
                             Tcp(40000, 80, Text("hello"),
                                 TcpOpts{.seq = 0xFEDCBA98,
                                         .ack = 0x01234567,
                                         .flags = kTcpAck | kTcpPsh | kTcpFin,
                                         .window = 4096}),
                             Ip4Opts{.ttl = 63, .id = 0xBEEF}));
  Packet p;
  ASSERT_EQ(DecodeFrame(f, &p), DecodeResult::kOk);
  EXPECT_EQ(p.seq, 0xFEDCBA98u);
  EXPECT_EQ(p.ack, 0x01234567u);
  EXPECT_EQ(p.tcp_flags, kTcpAck | kTcpPsh | kTcpFin);
  EXPECT_EQ(p.window, 4096);
  EXPECT_EQ(p.tcp_header_len, 20);
  EXPECT_EQ(p.ttl, 63);
  EXPECT_EQ(p.ip_id, 0xBEEF);
  EXPECT_EQ(p.window_scale, -1);
  EXPECT_EQ(p.mss, 0);
  EXPECT_EQ(std::memcmp(p.mac_src, kMacA, 6), 0);
  EXPECT_EQ(std::memcmp(p.mac_dst, kMacB, 6), 0);
  ASSERT_EQ(p.payload_cap_len, 5u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(p.payload), 5), "hello");
  EXPECT_TRUE(p.IsTcp());
  EXPECT_FALSE(p.IsUdp());
}

// What Linux sends in a SYN: MSS, SACK permitted, timestamps, NOP, window scale.
Bytes LinuxSynOptions() {
  return {2, 4, 0x05, 0xB4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7};
}

TEST(Decoder, SynOptions) {
  Bytes f = Eth(0x0800,
                Ipv4("10.0.0.1", "10.0.0.2", 6,
                     Tcp(40000, 80, {}, TcpOpts{.flags = kTcpSyn, .options = LinuxSynOptions()})));
  Packet p;
  ASSERT_EQ(DecodeFrame(f, &p), DecodeResult::kOk);
  EXPECT_EQ(p.mss, 1460);
  EXPECT_EQ(p.window_scale, 7);
  EXPECT_EQ(p.tcp_header_len, 40);
  EXPECT_EQ(p.payload_len, 0u);
}

TEST(Decoder, OptionsIgnoredWithoutSyn) {
  Bytes f = Eth(0x0800, Ipv4("10.0.0.1", "10.0.0.2", 6,
                             Tcp(40000, 80, {}, TcpOpts{.options = LinuxSynOptions()})));
  Packet p;
  ASSERT_EQ(DecodeFrame(f, &p), DecodeResult::kOk);
  EXPECT_EQ(p.mss, 0);
  EXPECT_EQ(p.window_scale, -1);
}

TEST(Decoder, WindowScaleClampedTo14) {
  Bytes f =
      Eth(0x0800, Ipv4("10.0.0.1", "10.0.0.2", 6,
                       Tcp(1, 2, {}, TcpOpts{.flags = kTcpSyn | kTcpAck, .options = {3, 3, 20}})));
  Packet p;
  ASSERT_EQ(DecodeFrame(f, &p), DecodeResult::kOk);
  EXPECT_EQ(p.window_scale, 14);
}

TEST(Decoder, BadOptionLengthStopsOptionParsingOnly) {
  // MSS, then an option claiming 30 bytes in a 12-byte option area, then a window scale that
  // must not be read.
  Bytes f = Eth(
      0x0800,
      Ipv4("10.0.0.1", "10.0.0.2", 6,
           Tcp(1, 2, {},
               TcpOpts{.flags = kTcpSyn, .options = {2, 4, 0x23, 0x28, 8, 30, 0, 0, 3, 3, 5, 0}})));
  Packet p;
  ASSERT_EQ(DecodeFrame(f, &p), DecodeResult::kOk);
  EXPECT_EQ(p.mss, 9000);
  EXPECT_EQ(p.window_scale, -1);
  EXPECT_TRUE(p.has_l4);
}

TEST(Decoder, ZeroLengthOptionDoesNotLoop) {
  Bytes f = Eth(0x0800, Ipv4("10.0.0.1", "10.0.0.2", 6,
                             Tcp(1, 2, {}, TcpOpts{.flags = kTcpSyn, .options = {5, 0, 2, 4}})));
  Packet p;
  ASSERT_EQ(DecodeFrame(f, &p), DecodeResult::kOk);
  EXPECT_EQ(p.mss, 0);
}

// The frame every truncation test cuts: Ethernet + VLAN + IPv4 + TCP with MSS option + payload.
Bytes ReferenceFrame() {
  return Eth(0x0800,
             Ipv4("10.0.0.1", "10.0.0.2", 6,
                  Tcp(40000, 80, Text("0123456789"),
                      TcpOpts{.flags = kTcpSyn, .options = {2, 4, 5, 0xB4}})),
             {{0x8100, 10}});
}
constexpr uint32_t kReferenceHeaders = 18 + 20 + 24;

TEST(Decoder, EveryTruncationPointOfTcpFrame) {
  const Bytes f = ReferenceFrame();
  ASSERT_EQ(f.size(), kReferenceHeaders + 10);
  for (uint32_t cut = 0; cut < f.size(); ++cut) {
    SCOPED_TRACE(cut);
    Packet p;
    DecodeResult r = DecodeFrame(f, &p, kLinkTypeEthernet, {}, cut);
    if (cut < kReferenceHeaders) {
      EXPECT_EQ(r, DecodeResult::kTruncated);
      EXPECT_FALSE(p.has_l4);
    } else {
      // Headers complete, payload cut by the snap length: still a good packet.
      ASSERT_EQ(r, DecodeResult::kOk);
      EXPECT_TRUE(p.has_l4);
      EXPECT_EQ(p.payload_len, 10u);
      EXPECT_EQ(p.payload_cap_len, cut - kReferenceHeaders);
      EXPECT_EQ(p.mss, 1460);
      EXPECT_EQ(p.cap_len, cut);
      EXPECT_EQ(p.wire_len, f.size());
    }
  }
}

// Every prefix of every table frame: no crash (ASan build), and a prefix shorter than the one
// that decodes fine can only be truncated, or ok when the cut falls in a payload.
TEST(Decoder, EveryTruncationPointOfEveryTableFrame) {
  for (const Case& tc : Cases()) {
    SCOPED_TRACE(tc.name);
    Packet full;
    DecodeResult full_r = DecodeFrame(tc.frame, &full, tc.link, tc.config);
    for (uint32_t cut = 0; cut < tc.frame.size(); ++cut) {
      SCOPED_TRACE(cut);
      Packet p;
      DecodeResult r = DecodeFrame(tc.frame, &p, tc.link, tc.config, cut);
      if (full_r == DecodeResult::kOk) {
        EXPECT_TRUE(r == DecodeResult::kOk || r == DecodeResult::kTruncated) << DecodeResultName(r);
      }
      if (r == DecodeResult::kOk) {
        EXPECT_LE(p.payload_cap_len, p.payload_len);
        EXPECT_EQ(p.src_port, full.src_port);
        EXPECT_EQ(p.tunnel.tier, full.tunnel.tier);
      }
    }
  }
}

TEST(Decoder, TruncatedTunnelHeaders) {
  struct Cut {
    const char* name;
    Bytes frame;
    uint32_t keep;
  };
  const Bytes inner = Eth(0x0800, InnerTcp4());
  const Bytes vxlan =
      Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 17, Udp(51000, 4789, Vxlan(42, inner))));
  const Bytes gre =
      Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 47,
                       Gre(0x88BE, Erspan2(1, inner), GreOpts{.key = true, .seq = true})));
  const Bytes e3 = Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 47,
                                    Gre(0x22EB, Erspan3(1, inner, true), GreOpts{.seq = true})));
  for (const Cut& c : std::vector<Cut>{
           {"vxlan header", vxlan, 14 + 20 + 8 + 4},
           {"vxlan inner ethernet", vxlan, 14 + 20 + 8 + 8 + 10},
           {"gre key", gre, 14 + 20 + 6},
           {"erspan2 header", gre, 14 + 20 + 12 + 4},
           {"erspan3 platform subheader", e3, 14 + 20 + 8 + 12 + 4},
           {"inner tcp", vxlan, static_cast<uint32_t>(vxlan.size() - 10)},
       }) {
    Packet p;
    EXPECT_EQ(DecodeFrame(c.frame, &p, kLinkTypeEthernet, {}, c.keep), DecodeResult::kTruncated)
        << c.name;
  }
}

TEST(Decoder, SnapLengthCutsPayloadNotHeaders) {
  Bytes f = Eth(0x86DD, Ipv6("fd00::1", "fd00::2", 17, Udp(1, 2, Bytes(1000, 0x61))));
  Packet p;
  ASSERT_EQ(DecodeFrame(f, &p, kLinkTypeEthernet, {}, 96), DecodeResult::kOk);
  EXPECT_EQ(p.l3_payload_len, 1008u);
  EXPECT_EQ(p.payload_len, 1000u);
  EXPECT_EQ(p.payload_cap_len, 96u - 14 - 40 - 8);
  EXPECT_EQ(p.wire_len, f.size());
}

TEST(Decoder, ResetsPacketBetweenCalls) {
  Packet p;
  ASSERT_EQ(DecodeFrame(Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 17,
                                         Udp(1, 4789, Vxlan(42, Eth(0x0800, InnerTcp4()), 0x08)))),
                        &p, kLinkTypeEthernet),
            DecodeResult::kOk);
  ASSERT_EQ(p.tunnel.tier, 1);
  ASSERT_TRUE(p.has_l4);
  ASSERT_EQ(DecodeFrame(Eth(0x0806, Bytes(28, 0)), &p), DecodeResult::kNotIp);
  EXPECT_EQ(p.tunnel.tier, 0);
  EXPECT_EQ(p.tunnel.type, TunnelType::kNone);
  EXPECT_FALSE(p.has_l4);
  EXPECT_EQ(p.src_port, 0);
  EXPECT_EQ(p.payload, nullptr);
  EXPECT_EQ(p.window_scale, -1);
}

TEST(Decoder, InnerMacsReplaceOuterOnes) {
  Bytes inner = InnerTcp4();
  Bytes inner_eth = {1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x08, 0x00};
  inner_eth.insert(inner_eth.end(), inner.begin(), inner.end());
  Packet p;
  ASSERT_EQ(
      DecodeFrame(
          Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 17, Udp(1, 4789, Vxlan(1, inner_eth)))), &p),
      DecodeResult::kOk);
  const uint8_t dst[6] = {1, 1, 1, 1, 1, 1};
  const uint8_t src[6] = {2, 2, 2, 2, 2, 2};
  EXPECT_EQ(std::memcmp(p.mac_dst, dst, 6), 0);
  EXPECT_EQ(std::memcmp(p.mac_src, src, 6), 0);
}

TEST(Decoder, ZeroDepthLimitRejectsAnyTunnel) {
  Packet p;
  EXPECT_EQ(DecodeFrame(Eth(0x0800, Ipv4("192.0.2.1", "192.0.2.2", 4, InnerTcp4())), &p,
                        kLinkTypeEthernet, DecoderConfig{.max_tunnel_depth = 0}),
            DecodeResult::kTunnelTooDeep);
}

TEST(Decoder, NullDataIsTruncated) {
  Decoder d;
  Packet p;
  EXPECT_EQ(d.Decode(kLinkTypeEthernet, nullptr, 0, 0, 0, &p), DecodeResult::kTruncated);
  EXPECT_EQ(d.Decode(kLinkTypeRaw, nullptr, 0, 0, 0, &p), DecodeResult::kTruncated);
}

TEST(Decoder, SllSourceMac) {
  Bytes f = {0, 4, 0, 1, 0, 6};
  f.insert(f.end(), kMacA, kMacA + 6);
  f.insert(f.end(), {0, 0, 0x08, 0x00});
  Bytes ip = InnerTcp4();
  f.insert(f.end(), ip.begin(), ip.end());
  Packet p;
  ASSERT_EQ(DecodeFrame(f, &p, kLinkTypeLinuxSll), DecodeResult::kOk);
  EXPECT_EQ(std::memcmp(p.mac_src, kMacA, 6), 0);
  EXPECT_EQ(p.eth_type, 0x0800);
}

TEST(DecodeStats, CountsEachOutcomeOnce) {
  DecodeStats s;
  Packet p;
  s.Count(DecodeResult::kOk, p);
  p.is_fragment = true;
  s.Count(DecodeResult::kOk, p);
  p.is_fragment = false;
  p.tunnel.tier = 2;
  s.Count(DecodeResult::kOk, p);
  s.Count(DecodeResult::kNotIp, p);
  s.Count(DecodeResult::kTruncated, p);
  s.Count(DecodeResult::kMalformed, p);
  s.Count(DecodeResult::kMalformed, p);
  s.Count(DecodeResult::kUnsupportedLink, p);
  s.Count(DecodeResult::kTunnelTooDeep, p);
  EXPECT_EQ(s.ok, 3u);
  EXPECT_EQ(s.fragments, 1u);
  EXPECT_EQ(s.tunnelled, 1u);  // tunnel counts only on ok
  EXPECT_EQ(s.not_ip, 1u);
  EXPECT_EQ(s.truncated, 1u);
  EXPECT_EQ(s.malformed, 2u);
  EXPECT_EQ(s.unsupported_link, 1u);
  EXPECT_EQ(s.tunnel_too_deep, 1u);
  EXPECT_EQ(s.errors(), 5u);
}

TEST(DecodeStats, ResultNames) {
  EXPECT_STREQ(DecodeResultName(DecodeResult::kOk), "ok");
  EXPECT_STREQ(DecodeResultName(DecodeResult::kNotIp), "not_ip");
  EXPECT_STREQ(DecodeResultName(DecodeResult::kTruncated), "truncated");
  EXPECT_STREQ(DecodeResultName(DecodeResult::kMalformed), "malformed");
  EXPECT_STREQ(DecodeResultName(DecodeResult::kUnsupportedLink), "unsupported_link");
  EXPECT_STREQ(DecodeResultName(DecodeResult::kTunnelTooDeep), "tunnel_too_deep");
  EXPECT_STREQ(DecodeResultName(static_cast<DecodeResult>(200)), "unknown");
}

// ---------------------------------------------------------------------------------------------
// Captures of real traffic through each encapsulation, recorded by scripts/record-tunnel-pcaps
// (see testdata/README.md): a TCP echo exchange of three lines (UDP datagrams for seg6).

struct Capture {
  const char* file;
  int link_type;
  int packets;
  TunnelType tunnel;
  uint32_t tunnel_id;
  const char* outer_a;  // tunnel endpoints, either direction
  const char* outer_b;
  const char* inner_a;  // innermost endpoints, either direction (a second pair for seg6)
  const char* inner_b;
  uint16_t port;  // server port
  uint16_t vlan;
  uint8_t vlan_depth;
  const char* inner6_a = nullptr;
  const char* inner6_b = nullptr;
};

void PrintTo(const Capture& c, std::ostream* os) { *os << c.file; }

class DecodeCapture : public testing::TestWithParam<Capture> {};

TEST_P(DecodeCapture, EveryPacketDecodesToTheInnerFlow) {
  const Capture& c = GetParam();
  std::string path = std::string(FS_SOURCE_DIR) + "/agent/capture/testdata/tunnels/" + c.file;
  auto src = PcapFileSource::Open(path);
  ASSERT_TRUE(src.ok()) << src.status();
  EXPECT_EQ((*src)->link_type(), c.link_type);

  Decoder decoder;
  DecodeStats stats;
  std::string to_server;
  std::string to_client;
  int packets = 0;
  int syns = 0;
  bool ended = false;
  while (!ended) {
    auto polled = (*src)->Poll(0, [&](const RawFrame& f) {
      ++packets;
      SCOPED_TRACE(packets);
      Packet p;
      DecodeResult r =
          decoder.Decode(f.link_type, f.data, f.cap_len, f.wire_len, f.timestamp_ns, &p);
      stats.Count(r, p);
      ASSERT_EQ(r, DecodeResult::kOk) << DecodeResultName(r);
      EXPECT_EQ(p.tunnel.type, c.tunnel);
      EXPECT_EQ(p.tunnel.tier, c.tunnel == TunnelType::kNone ? 0 : 1);
      EXPECT_EQ(p.tunnel.id, c.tunnel_id);
      if (c.tunnel != TunnelType::kNone) {
        std::string ts = p.tunnel.src.ToString(), td = p.tunnel.dst.ToString();
        EXPECT_TRUE((ts == c.outer_a && td == c.outer_b) || (ts == c.outer_b && td == c.outer_a))
            << ts << " -> " << td;
      }
      std::string s = p.src_ip.ToString(), d = p.dst_ip.ToString();
      bool v4_pair = (s == c.inner_a && d == c.inner_b) || (s == c.inner_b && d == c.inner_a);
      bool v6_pair = c.inner6_a != nullptr &&
                     ((s == c.inner6_a && d == c.inner6_b) || (s == c.inner6_b && d == c.inner6_a));
      EXPECT_TRUE(v4_pair || v6_pair) << s << " -> " << d;
      EXPECT_EQ(p.vlan, c.vlan);
      EXPECT_EQ(p.vlan_depth, c.vlan_depth);
      EXPECT_FALSE(p.is_fragment);
      ASSERT_TRUE(p.has_l4);
      EXPECT_TRUE(p.src_port == c.port || p.dst_port == c.port);
      EXPECT_EQ(p.payload_cap_len, p.payload_len);
      EXPECT_EQ(p.wire_len, f.wire_len);
      std::string payload(reinterpret_cast<const char*>(p.payload), p.payload_cap_len);
      (p.dst_port == c.port ? to_server : to_client) += payload;
      if (p.IsTcp() && (p.tcp_flags & kTcpSyn) != 0) {
        ++syns;
        EXPECT_GT(p.mss, 1000);  // 1500 minus headers and tunnel overhead
        EXPECT_GE(p.window_scale, 0);
      }
    });
    ASSERT_TRUE(polled.ok()) << polled.status();
    ended = *polled == PollResult::kEnd;
  }
  EXPECT_EQ(packets, c.packets);
  EXPECT_EQ(stats.ok, static_cast<uint64_t>(c.packets));
  EXPECT_EQ(stats.errors(), 0u);
  EXPECT_EQ(stats.tunnelled, c.tunnel == TunnelType::kNone ? 0u : stats.ok);
  if (c.port == 7010) {  // seg6: one-way UDP, 3 datagrams over IPv4 and 3 over IPv6
    EXPECT_EQ(to_server,
              "flowscope udp 0flowscope udp 1flowscope udp 2"
              "flowscope udp 0flowscope udp 1flowscope udp 2");
  } else {
    // The payload pointers are right if the echoed bytes read back as what was sent.
    const std::string lines =
        "flowscope decoder test 0\nflowscope decoder test 1\n"
        "flowscope decoder test 2\n";
    EXPECT_EQ(to_server, lines);
    EXPECT_EQ(to_client, lines);
    EXPECT_EQ(syns, 2);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Tunnels, DecodeCapture,
    testing::Values(Capture{"vlan.pcap", kLinkTypeEthernet, 16, TunnelType::kNone, 0, nullptr,
                            nullptr, "10.251.1.1", "10.251.1.2", 7001, 100, 1},
                    Capture{"qinq.pcap", kLinkTypeEthernet, 16, TunnelType::kNone, 0, nullptr,
                            nullptr, "10.251.2.1", "10.251.2.2", 7002, 200, 2},
                    Capture{"vxlan.pcap", kLinkTypeEthernet, 16, TunnelType::kVxlan, 42,
                            "10.251.3.1", "10.251.3.2", "10.251.103.1", "10.251.103.2", 7003, 0, 0},
                    Capture{"vxlan_sll2.pcap", kLinkTypeLinuxSll2, 16, TunnelType::kVxlan, 42,
                            "10.251.3.1", "10.251.3.2", "10.251.103.1", "10.251.103.2", 7003, 0, 0},
                    Capture{"gre.pcap", kLinkTypeEthernet, 16, TunnelType::kGre, 7, "10.251.4.1",
                            "10.251.4.2", "10.251.104.1", "10.251.104.2", 7004, 0, 0},
                    Capture{"gretap.pcap", kLinkTypeEthernet, 16, TunnelType::kGre, 8, "10.251.5.1",
                            "10.251.5.2", "10.251.105.1", "10.251.105.2", 7005, 0, 0},
                    Capture{"ipip.pcap", kLinkTypeEthernet, 16, TunnelType::kIpip, 0, "10.251.6.1",
                            "10.251.6.2", "10.251.106.1", "10.251.106.2", 7006, 0, 0},
                    Capture{"sit.pcap", kLinkTypeEthernet, 16, TunnelType::kIpip, 0, "10.251.7.1",
                            "10.251.7.2", "fd51:251:7::1", "fd51:251:7::2", 7007, 0, 0},
                    Capture{"erspan_v1.pcap", kLinkTypeEthernet, 16, TunnelType::kErspan, 100,
                            "10.251.108.1", "10.251.108.2", "10.251.8.1", "10.251.8.2", 7008, 0, 0},
                    Capture{"erspan_v2.pcap", kLinkTypeEthernet, 16, TunnelType::kErspan, 101,
                            "10.251.109.1", "10.251.109.2", "10.251.9.1", "10.251.9.2", 7009, 0, 0},
                    Capture{"seg6_sll2.pcap", kLinkTypeLinuxSll2, 6, TunnelType::kIpip, 0,
                            "fd51:251:a::1", "fd51:251:a::2", "10.251.10.1", "10.251.10.2", 7010, 0,
                            0, "fd51:251:b::1", "fd51:251:b::2"}),
    [](const testing::TestParamInfo<Capture>& i) {
      std::string name = i.param.file;
      return name.substr(0, name.find('.'));
    });

TEST(DecodeVxlanCapture, InnerMacsAreTheOverlayDevices) {
  auto src = PcapFileSource::Open(std::string(FS_SOURCE_DIR) +
                                  "/agent/capture/testdata/tunnels/vxlan.pcap");
  ASSERT_TRUE(src.ok()) << src.status();
  Decoder decoder;
  Packet p;
  DecodeResult r = DecodeResult::kTruncated;
  auto polled = (*src)->Poll(0, [&](const RawFrame& f) {
    if (p.cap_len == 0) r = decoder.Decode(f.link_type, f.data, f.cap_len, f.wire_len, 0, &p);
  });
  ASSERT_TRUE(polled.ok());
  ASSERT_EQ(r, DecodeResult::kOk);
  // First packet: the SYN from A (02:fd:00:00:ff:0a) to B (02:fd:00:00:ff:0b).
  const uint8_t a[6] = {0x02, 0xfd, 0x00, 0x00, 0xff, 0x0a};
  const uint8_t b[6] = {0x02, 0xfd, 0x00, 0x00, 0xff, 0x0b};
  EXPECT_EQ(std::memcmp(p.mac_src, a, 6), 0);
  EXPECT_EQ(std::memcmp(p.mac_dst, b, 6), 0);
  EXPECT_EQ(p.tcp_flags, kTcpSyn);
  EXPECT_EQ(p.src_ip.ToString(), "10.251.103.1");
}

// The fuzzer's seed corpus (testdata/decoder_corpus) holds the interesting table frames, each
// prefixed with decoder_fuzzer.cc's selector byte. This test fails when a seed no longer matches
// its table entry; FS_WRITE_DECODER_CORPUS=<dir> rewrites them into <dir>. The corpus also holds
// frames minimised from fuzzing (fuzz-*) and one frame of each recorded capture (pcap-*).
TEST(DecoderCorpus, SeedsMatchTable) {
  const char* write_dir = std::getenv("FS_WRITE_DECODER_CORPUS");
  const std::string dir =
      write_dir != nullptr ? std::string(write_dir)
                           : std::string(FS_SOURCE_DIR) + "/agent/capture/testdata/decoder_corpus";
  // Selector byte: link type index, depth-limit bits, no-decap bit.
  auto selector = [](const Case& c) -> int {
    const int links[8] = {kLinkTypeEthernet,
                          kLinkTypeLinuxSll,
                          kLinkTypeLinuxSll2,
                          kLinkTypeRaw,
                          kLinkTypeNull,
                          kLinkTypeLoop,
                          12,
                          14};
    int sel = -1;
    for (int i = 0; i < 8; ++i) {
      if (links[i] == c.link) sel = i;
    }
    if (sel < 0 || c.config.vxlan_port != 4789 || c.config.max_tunnel_depth > 3) return -1;
    sel |= (3 - c.config.max_tunnel_depth) << 3;
    if (!c.config.decap_vxlan) sel |= 0x20;
    return sel;
  };
  const std::vector<std::string> wanted = {"eth_ipv4_tcp",
                                           "ethernet_padding_ignored",
                                           "icmp_echo_request",
                                           "icmpv6_echo_reply",
                                           "qinq_88a8",
                                           "arp_not_ip",
                                           "raw_101_ipv6",
                                           "sll_vlan_ipv6",
                                           "sll2_ipv6",
                                           "null_le_inet6_darwin",
                                           "loop_inet",
                                           "ipv4_first_fragment",
                                           "ipv4_middle_fragment_no_l4",
                                           "ipv6_first_fragment",
                                           "ipv6_hbh_routing_dstopts_tcp",
                                           "ipv6_ah_udp",
                                           "vxlan_max_vni_over_ipv6",
                                           "gre_csum_key_seq_ipv6",
                                           "gretap_inner_ethernet_vlan",
                                           "erspan_type1",
                                           "erspan_type2",
                                           "erspan_type3_platform_subheader",
                                           "ipv6_in_ipv4_sit",
                                           "nested_three_tunnels"};
  int seen = 0;
  for (const Case& c : Cases()) {
    if (std::find(wanted.begin(), wanted.end(), c.name) == wanted.end()) continue;
    SCOPED_TRACE(c.name);
    int sel = selector(c);
    ASSERT_GE(sel, 0) << "the fuzzer's selector cannot express this case";
    Bytes seed = Cat({{static_cast<uint8_t>(sel)}, c.frame});
    const std::string path = dir + "/" + c.name;
    ++seen;
    if (write_dir != nullptr) {
      std::ofstream out(path, std::ios::binary);
      out.write(reinterpret_cast<const char*>(seed.data()),
                static_cast<std::streamsize>(seed.size()));
      ASSERT_TRUE(out.good()) << path;
      continue;
    }
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in.good()) << path << " missing: rerun with FS_WRITE_DECODER_CORPUS";
    Bytes committed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(committed, seed) << path << " is stale: rerun with FS_WRITE_DECODER_CORPUS";
  }
  EXPECT_EQ(seen, static_cast<int>(wanted.size()));
}

}  // namespace
}  // namespace flowscope::agent
