// Packet decoder. Specs followed:
//   Ethernet II / IEEE 802.1Q-2018 §9 (C-tag 0x8100, S-tag 0x88a8, legacy QinQ 0x9100)
//   Linux cooked capture: https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html, ..._SLL2.html
//   NULL/LOOP: https://www.tcpdump.org/linktypes/LINKTYPE_NULL.html
//   IPv4 RFC 791 §3.1; IPv6 RFC 8200 §4 (extension headers), AH RFC 4302 §2.2
//   TCP RFC 9293 §3.1, options MSS (RFC 9293 §3.2) and window scale (RFC 7323 §2)
//   UDP RFC 768; ICMP RFC 792; ICMPv6 RFC 4443 §4.1-4.2
//   VXLAN RFC 7348 §5; GRE RFC 2784 + RFC 2890 (key, sequence)
//   ERSPAN draft-foschiano-erspan-03 §4.1 (type II), §4.2 (type III)
//   IP-in-IP RFC 2003, IPv6-in-IPv4 RFC 4213 §3.5, IP-in-IPv6 RFC 2473
//
// Shape: one loop over layers. Each step consumes a header from a Span (bytes in the buffer and
// bytes the enclosing length field promises), fills Packet fields, and says what comes next.
// Decapsulation re-enters the loop with the inner span; L3/L4 fields are simply overwritten by
// the inner headers, TunnelInfo is written once, by the outermost tunnel.
#include "agent/capture/decoder.h"

#include <cstring>

namespace flowscope::agent {
namespace {

constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86DD;
constexpr uint16_t kEthVlan = 0x8100;     // 802.1Q C-tag
constexpr uint16_t kEthQinq = 0x88A8;     // 802.1ad S-tag
constexpr uint16_t kEthQinqOld = 0x9100;  // pre-standard QinQ
constexpr uint16_t kEthTeb = 0x6558;      // transparent Ethernet bridging (gretap)
constexpr uint16_t kEthErspan2 = 0x88BE;  // ERSPAN type I/II
constexpr uint16_t kEthErspan3 = 0x22EB;  // ERSPAN type III

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoIpip = 4;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIpv6 = 41;
constexpr uint8_t kProtoGre = 47;
constexpr uint8_t kProtoIcmpv6 = 58;

constexpr uint8_t kIp6HopByHop = 0;
constexpr uint8_t kIp6Routing = 43;
constexpr uint8_t kIp6Fragment = 44;
constexpr uint8_t kIp6Ah = 51;
constexpr uint8_t kIp6DestOpts = 60;
// RFC 8200 recommends at most one of each header (two for destination options); anything longer
// is an attack or garbage, and the bound keeps the loop's cost fixed.
constexpr int kMaxIpv6ExtHeaders = 8;

// Frame length unknown until an IP header states one. wire_len is deliberately not used to bound
// it: callers disagree on what it holds (FCS or not, GSO super-packets), and a snap-length cut
// and a lying IP length both just leave fewer bytes captured than the IP length promises.
constexpr uint32_t kUnbounded = 0xFFFFFFFFu;

inline uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t Be24(const uint8_t* p) {
  return (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2];
}
inline uint32_t Be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline uint32_t Le32(const uint8_t* p) {
  return (uint32_t{p[3]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[1]} << 8) | p[0];
}

// Bytes still to decode. `cap` are in the buffer; `len` is what the innermost length field seen
// so far says (kUnbounded before the first IP header). Invariant: cap <= len.
struct Span {
  const uint8_t* p;
  uint32_t cap;
  uint32_t len;

  void Skip(uint32_t n) {  // caller checked n <= cap
    p += n;
    cap -= n;
    if (len != kUnbounded) len -= n;
  }
  // Narrows the span to the first `n` bytes per a length field (n <= len checked by caller).
  void Limit(uint32_t n) {
    len = n;
    if (cap > n) cap = n;
  }
};

enum class Layer : uint8_t { kEthernet, kIpv4, kIpv6, kIpAny, kDone };

// What the transport step found: a final result, or an encapsulation to remove.
struct Next {
  DecodeResult result = DecodeResult::kOk;
  Layer layer = Layer::kDone;
  TunnelType tunnel = TunnelType::kNone;
  uint32_t tunnel_id = 0;
};

inline Next Done(DecodeResult r) { return Next{r, Layer::kDone, TunnelType::kNone, 0}; }
inline Next Decap(Layer l, TunnelType t, uint32_t id) { return Next{DecodeResult::kOk, l, t, id}; }

// Walks the ethertype and any VLAN tags that follow it. `s` starts right after the first
// ethertype field. Only the first tagged header of the packet sets vlan/vlan_depth, so that they
// describe the outermost tag stack.
inline DecodeResult EtherTypeChain(uint16_t type, Span* s, Packet* out, Layer* next) {
  uint16_t vlan = 0;
  uint32_t depth = 0;
  while (type == kEthVlan || type == kEthQinq || type == kEthQinqOld) {
    if (s->cap < 4) return DecodeResult::kTruncated;
    if (depth == 0) vlan = Be16(s->p) & 0x0FFF;
    ++depth;
    type = Be16(s->p + 2);
    s->Skip(4);
  }
  if (depth > 0 && out->vlan_depth == 0) {
    out->vlan = vlan;
    out->vlan_depth = static_cast<uint8_t>(depth > 255 ? 255 : depth);
  }
  out->eth_type = type;
  if (type == kEthIpv4) {
    *next = Layer::kIpv4;
  } else if (type == kEthIpv6) {
    *next = Layer::kIpv6;
  } else {
    return DecodeResult::kNotIp;
  }
  return DecodeResult::kOk;
}

inline DecodeResult Ethernet(Span* s, Packet* out, Layer* next) {
  if (s->cap < 14) return DecodeResult::kTruncated;
  std::memcpy(out->mac_dst, s->p, 6);
  std::memcpy(out->mac_src, s->p + 6, 6);
  uint16_t type = Be16(s->p + 12);
  s->Skip(14);
  return EtherTypeChain(type, s, out, next);
}

// L4 region of one IP packet: `s` spans the transport header and payload.
struct L4 {
  uint8_t proto = 0;
  bool first = true;  // the L4 header is in this packet (not a non-first fragment)
};

inline DecodeResult Ipv4(Span* s, Packet* out, L4* l4) {
  if (s->cap < 20) return DecodeResult::kTruncated;
  const uint8_t* p = s->p;
  if ((p[0] >> 4) != 4) return DecodeResult::kMalformed;
  uint32_t ihl = (p[0] & 0x0Fu) * 4;
  if (ihl < 20) return DecodeResult::kMalformed;
  uint32_t total = Be16(p + 2);
  if (total < ihl || total > s->len) return DecodeResult::kMalformed;
  if (s->cap < ihl) return DecodeResult::kTruncated;
  uint16_t frag = Be16(p + 6);
  out->ttl = p[8];
  out->ip_id = Be16(p + 4);
  out->ip_proto = p[9];
  out->src_ip = IpAddr::V4(p + 12);
  out->dst_ip = IpAddr::V4(p + 16);
  out->l3_payload_len = total - ihl;
  // Per the IP length, not the frame: Ethernet pads short frames to 60 bytes.
  s->Limit(total);
  s->Skip(ihl);
  uint16_t offset = frag & 0x1FFF;
  bool more = (frag & 0x2000) != 0;
  out->is_fragment = more || offset != 0;
  l4->proto = p[9];
  l4->first = offset == 0;
  return DecodeResult::kOk;
}

inline DecodeResult Ipv6(Span* s, Packet* out, L4* l4) {
  if (s->cap < 40) return DecodeResult::kTruncated;
  const uint8_t* p = s->p;
  if ((p[0] >> 4) != 6) return DecodeResult::kMalformed;
  uint32_t plen = Be16(p + 4);
  if (40 + plen > s->len) return DecodeResult::kMalformed;
  uint8_t nh = p[6];
  out->ttl = p[7];
  out->src_ip = IpAddr::V6(p + 8);
  out->dst_ip = IpAddr::V6(p + 24);
  out->ip_id = 0;
  s->Limit(40 + plen);
  s->Skip(40);
  l4->first = true;
  for (int i = 0;; ++i) {
    if (nh != kIp6HopByHop && nh != kIp6Routing && nh != kIp6Fragment && nh != kIp6DestOpts &&
        nh != kIp6Ah) {
      break;  // upper layer (or 59, no next header: nothing follows)
    }
    if (i == kMaxIpv6ExtHeaders) return DecodeResult::kMalformed;
    if (s->len < 8) return DecodeResult::kMalformed;
    if (s->cap < 8) return DecodeResult::kTruncated;
    const uint8_t* e = s->p;
    uint32_t hlen;
    if (nh == kIp6Fragment) {
      hlen = 8;
      uint16_t off_m = Be16(e + 2);
      // An atomic fragment (offset 0, M clear; RFC 6946) is a whole packet, not a fragment.
      out->is_fragment = off_m != 0 && (off_m & 0xFFF9) != 0;
      out->ip_id = static_cast<uint16_t>(Be32(e + 4));
      if ((off_m >> 3) != 0) l4->first = false;
    } else if (nh == kIp6Ah) {
      hlen = (uint32_t{e[1]} + 2) * 4;
    } else {
      hlen = (uint32_t{e[1]} + 1) * 8;
    }
    if (hlen > s->len) return DecodeResult::kMalformed;
    if (hlen > s->cap) return DecodeResult::kTruncated;
    nh = e[0];
    s->Skip(hlen);
    if (!l4->first) break;  // the rest of a non-first fragment is opaque
  }
  out->ip_proto = nh;
  out->l3_payload_len = s->len;
  l4->proto = nh;
  return DecodeResult::kOk;
}

inline void SetPayload(const Span& s, uint32_t header, uint32_t len, Packet* out) {
  // Callers checked header <= s.cap.
  out->payload = s.p + header;
  out->payload_len = len;
  uint32_t cap = s.cap - header;
  out->payload_cap_len = cap < len ? cap : len;
}

inline DecodeResult Tcp(const Span& s, bool fragment, Packet* out) {
  // A first fragment too short for the header is legal (if odd): report it without L4.
  if (s.len < 20) return fragment ? DecodeResult::kOk : DecodeResult::kMalformed;
  if (s.cap < 20) return DecodeResult::kTruncated;
  const uint8_t* t = s.p;
  uint32_t doff = (t[12] >> 4) * 4u;
  if (doff < 20) return DecodeResult::kMalformed;
  if (doff > s.len) return fragment ? DecodeResult::kOk : DecodeResult::kMalformed;
  if (doff > s.cap) return DecodeResult::kTruncated;
  out->src_port = Be16(t);
  out->dst_port = Be16(t + 2);
  out->seq = Be32(t + 4);
  out->ack = Be32(t + 8);
  out->tcp_flags = t[13];
  out->window = Be16(t + 14);
  out->tcp_header_len = static_cast<uint8_t>(doff);
  if ((t[13] & kTcpSyn) != 0) {
    const uint8_t* o = t + 20;
    uint32_t n = doff - 20;
    uint32_t i = 0;
    while (i < n) {
      uint8_t kind = o[i];
      if (kind == 0) break;  // end of option list
      if (kind == 1) {       // no-operation
        ++i;
        continue;
      }
      if (i + 1 >= n) break;
      uint32_t olen = o[i + 1];
      if (olen < 2 || i + olen > n) break;  // bad option: keep what was parsed
      if (kind == 2 && olen == 4) {
        out->mss = Be16(o + i + 2);
      } else if (kind == 3 && olen == 3) {
        uint8_t shift = o[i + 2];
        out->window_scale = static_cast<int8_t>(shift > 14 ? 14 : shift);  // RFC 7323 §2.3
      }
      i += olen;
    }
  }
  out->has_l4 = true;
  SetPayload(s, doff, s.len - doff, out);
  return DecodeResult::kOk;
}

inline DecodeResult Icmp(const Span& s, bool v6, bool fragment, Packet* out) {
  if (s.len < 4) return fragment ? DecodeResult::kOk : DecodeResult::kMalformed;
  if (s.cap < 4) return DecodeResult::kTruncated;
  uint8_t type = s.p[0];
  out->icmp_type = type;
  out->icmp_code = s.p[1];
  bool echo = v6 ? (type == 128 || type == 129) : (type == 8 || type == 0);
  if (s.len >= 8) {
    if (s.cap < 8) return DecodeResult::kTruncated;
    if (echo) {
      // Request and reply carry the same identifier: one flow.
      out->src_port = out->dst_port = Be16(s.p + 4);
    }
    SetPayload(s, 8, s.len - 8, out);
  } else if (echo && !fragment) {
    return DecodeResult::kMalformed;
  }
  out->has_l4 = true;
  return DecodeResult::kOk;
}

// GRE (RFC 2784/2890) and what it carries. `s` starts at the GRE header.
inline Next Gre(Span* s) {
  if (s->len < 4) return Done(DecodeResult::kMalformed);
  if (s->cap < 4) return Done(DecodeResult::kTruncated);
  const uint8_t* g = s->p;
  uint16_t flags = Be16(g);
  uint16_t proto = Be16(g + 2);
  // Version 1 is PPTP's enhanced GRE; the routing bit is RFC 1701 source routing. Neither is a
  // tunnel we unwrap: the packet stays an opaque GRE packet.
  if ((flags & 0x0007) != 0 || (flags & 0x4000) != 0) return Done(DecodeResult::kOk);
  bool has_csum = (flags & 0x8000) != 0;
  bool has_key = (flags & 0x2000) != 0;
  bool has_seq = (flags & 0x1000) != 0;
  uint32_t hlen = 4 + (has_csum ? 4 : 0) + (has_key ? 4 : 0) + (has_seq ? 4 : 0);
  if (hlen > s->len) return Done(DecodeResult::kMalformed);
  if (hlen > s->cap) return Done(DecodeResult::kTruncated);
  uint32_t key = has_key ? Be32(g + 4 + (has_csum ? 4 : 0)) : 0;
  switch (proto) {
    case kEthIpv4:
      s->Skip(hlen);
      return Decap(Layer::kIpv4, TunnelType::kGre, key);
    case kEthIpv6:
      s->Skip(hlen);
      return Decap(Layer::kIpv6, TunnelType::kGre, key);
    case kEthTeb:
      s->Skip(hlen);
      return Decap(Layer::kEthernet, TunnelType::kGre, key);
    case kEthErspan2: {
      s->Skip(hlen);
      // Type I has no ERSPAN header and no GRE sequence number; type II always sets S.
      if (!has_seq) return Decap(Layer::kEthernet, TunnelType::kErspan, 0);
      if (s->len < 8) return Done(DecodeResult::kMalformed);
      if (s->cap < 8) return Done(DecodeResult::kTruncated);
      uint32_t session = Be16(s->p + 2) & 0x03FF;
      s->Skip(8);
      return Decap(Layer::kEthernet, TunnelType::kErspan, session);
    }
    case kEthErspan3: {
      s->Skip(hlen);
      if (s->len < 12) return Done(DecodeResult::kMalformed);
      if (s->cap < 12) return Done(DecodeResult::kTruncated);
      uint32_t session = Be16(s->p + 2) & 0x03FF;
      uint16_t word = Be16(s->p + 10);  // P(1) FT(5) HW ID(6) D(1) Gra(2) O(1)
      uint32_t frame_type = (word >> 10) & 0x1F;
      uint32_t len = 12 + ((word & 0x0001) != 0 ? 8 : 0);  // O: platform-specific subheader
      if (s->len < len) return Done(DecodeResult::kMalformed);
      if (s->cap < len) return Done(DecodeResult::kTruncated);
      s->Skip(len);
      if (frame_type == 0) return Decap(Layer::kEthernet, TunnelType::kErspan, session);
      if (frame_type == 2) return Decap(Layer::kIpAny, TunnelType::kErspan, session);
      return Done(DecodeResult::kOk);  // other frame types are not decoded
    }
    default:
      return Done(DecodeResult::kOk);  // MPLS, PPP, ...: an opaque GRE packet
  }
}

// Transport layer of one IP packet: a tunnel to remove or the final L4 fields.
inline Next Transport(Span* s, const L4& l4, bool v6, const DecoderConfig& cfg, Packet* out) {
  bool fragment = out->is_fragment;
  if (!l4.first) return Done(DecodeResult::kOk);  // non-first fragment: no L4 header here
  switch (l4.proto) {
    case kProtoTcp:
      return Done(Tcp(*s, fragment, out));
    case kProtoUdp: {
      if (s->len < 8) return Done(fragment ? DecodeResult::kOk : DecodeResult::kMalformed);
      if (s->cap < 8) return Done(DecodeResult::kTruncated);
      const uint8_t* u = s->p;
      uint32_t ulen = Be16(u + 4);
      uint32_t plen;
      if (fragment) {
        // The UDP length covers the reassembled datagram; this fragment holds less.
        if (ulen < 8) return Done(DecodeResult::kMalformed);
        plen = s->len - 8;
      } else {
        if (ulen < 8 || ulen > s->len) return Done(DecodeResult::kMalformed);
        plen = ulen - 8;
      }
      uint16_t dport = Be16(u + 2);
      if (cfg.decap_vxlan && !fragment && dport == cfg.vxlan_port && plen >= 8) {
        if (s->cap < 16) return Done(DecodeResult::kTruncated);
        const uint8_t* v = u + 8;
        if ((v[0] & 0x08) != 0) {  // I flag: the VNI is valid
          uint32_t vni = Be24(v + 4);
          s->Limit(ulen);
          s->Skip(16);
          return Decap(Layer::kEthernet, TunnelType::kVxlan, vni);
        }
      }
      out->src_port = Be16(u);
      out->dst_port = dport;
      out->has_l4 = true;
      SetPayload(*s, 8, plen, out);
      return Done(DecodeResult::kOk);
    }
    case kProtoIcmp:
      return Done(v6 ? DecodeResult::kOk : Icmp(*s, false, fragment, out));
    case kProtoIcmpv6:
      return Done(v6 ? Icmp(*s, true, fragment, out) : DecodeResult::kOk);
    case kProtoGre:
      if (!cfg.decap_gre || fragment) return Done(DecodeResult::kOk);
      return Gre(s);
    case kProtoIpip:
    case kProtoIpv6:
      if (!cfg.decap_ipip || fragment) return Done(DecodeResult::kOk);
      return Decap(l4.proto == kProtoIpip ? Layer::kIpv4 : Layer::kIpv6, TunnelType::kIpip, 0);
    default:
      return Done(DecodeResult::kOk);  // ESP, SCTP, ...: L3 only
  }
}

}  // namespace

DecodeResult Decoder::Decode(int link_type, const uint8_t* data, uint32_t cap_len,
                             uint32_t wire_len, uint64_t timestamp_ns, Packet* out) const {
  *out = Packet{};
  out->timestamp_ns = timestamp_ns;
  out->cap_len = cap_len;
  out->wire_len = wire_len;
  if (data == nullptr) cap_len = 0;

  Span s{data, cap_len, kUnbounded};
  Layer layer;
  switch (link_type) {
    case kLinkTypeEthernet:
      layer = Layer::kEthernet;
      break;
    case kLinkTypeRaw:
    case 12:  // DLT_RAW on some BSDs
    case 14:  // DLT_RAW on OpenBSD
      layer = Layer::kIpAny;
      break;
    case kLinkTypeNull:
    case kLinkTypeLoop: {
      if (s.cap < 4) return DecodeResult::kTruncated;
      // NULL stores the address family in the capturing host's byte order, LOOP in network
      // order. Families are small numbers, so a big value means the other order.
      uint32_t family = Be32(s.p);
      if (link_type == kLinkTypeNull && family > 0xFFFF) family = Le32(s.p);
      s.Skip(4);
      if (family == 2) {
        layer = Layer::kIpv4;
      } else if (family == 10 || family == 23 || family == 24 || family == 28 || family == 30) {
        layer = Layer::kIpv6;  // AF_INET6 of Linux, Windows, NetBSD/OpenBSD, FreeBSD, Darwin
      } else {
        return DecodeResult::kNotIp;
      }
      break;
    }
    case kLinkTypeLinuxSll: {
      // pkttype(2) hatype(2) halen(2) addr(8) protocol(2)
      if (s.cap < 16) return DecodeResult::kTruncated;
      if (Be16(s.p + 2) == 1 && Be16(s.p + 4) == 6) std::memcpy(out->mac_src, s.p + 6, 6);
      uint16_t proto = Be16(s.p + 14);
      s.Skip(16);
      DecodeResult r = EtherTypeChain(proto, &s, out, &layer);
      if (r != DecodeResult::kOk) return r;
      break;
    }
    case kLinkTypeLinuxSll2: {
      // protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8)
      if (s.cap < 20) return DecodeResult::kTruncated;
      if (Be16(s.p + 8) == 1 && s.p[11] == 6) std::memcpy(out->mac_src, s.p + 12, 6);
      uint16_t proto = Be16(s.p);
      s.Skip(20);
      DecodeResult r = EtherTypeChain(proto, &s, out, &layer);
      if (r != DecodeResult::kOk) return r;
      break;
    }
    default:
      return DecodeResult::kUnsupportedLink;
  }

  uint8_t tier = 0;
  for (;;) {
    if (layer == Layer::kEthernet) {
      DecodeResult r = Ethernet(&s, out, &layer);
      if (r != DecodeResult::kOk) return r;
    } else if (layer == Layer::kIpAny) {
      if (s.cap < 1) return DecodeResult::kTruncated;
      uint8_t version = s.p[0] >> 4;
      if (version == 4) {
        layer = Layer::kIpv4;
      } else if (version == 6) {
        layer = Layer::kIpv6;
      } else {
        return DecodeResult::kMalformed;
      }
    }
    bool v6 = layer == Layer::kIpv6;
    L4 l4;
    DecodeResult r = v6 ? Ipv6(&s, out, &l4) : Ipv4(&s, out, &l4);
    if (r != DecodeResult::kOk) return r;
    Next next = Transport(&s, l4, v6, config_, out);
    if (next.layer == Layer::kDone) return next.result;
    if (tier >= config_.max_tunnel_depth) return DecodeResult::kTunnelTooDeep;
    if (tier == 0) {
      out->tunnel.type = next.tunnel;
      out->tunnel.id = next.tunnel_id;
      out->tunnel.src = out->src_ip;
      out->tunnel.dst = out->dst_ip;
    }
    out->tunnel.tier = ++tier;
    layer = next.layer;
  }
}

void DecodeStats::Count(DecodeResult r, const Packet& p) {
  switch (r) {
    case DecodeResult::kOk:
      ++ok;
      if (p.is_fragment) ++fragments;
      if (p.tunnel.tier > 0) ++tunnelled;
      break;
    case DecodeResult::kNotIp:
      ++not_ip;
      break;
    case DecodeResult::kTruncated:
      ++truncated;
      break;
    case DecodeResult::kMalformed:
      ++malformed;
      break;
    case DecodeResult::kUnsupportedLink:
      ++unsupported_link;
      break;
    case DecodeResult::kTunnelTooDeep:
      ++tunnel_too_deep;
      break;
  }
}

const char* DecodeResultName(DecodeResult r) {
  switch (r) {
    case DecodeResult::kOk:
      return "ok";
    case DecodeResult::kNotIp:
      return "not_ip";
    case DecodeResult::kTruncated:
      return "truncated";
    case DecodeResult::kMalformed:
      return "malformed";
    case DecodeResult::kUnsupportedLink:
      return "unsupported_link";
    case DecodeResult::kTunnelTooDeep:
      return "tunnel_too_deep";
  }
  return "unknown";
}

}  // namespace flowscope::agent
