// FlowKey: the bidirectional identity of a flow. Both directions of a 5-tuple produce the same
// key (the endpoints are stored in a canonical order), so one hash lookup finds the flow
// whatever the packet's direction. Tunnel id and VLAN are part of the identity: the same inner
// 5-tuple in two VXLAN segments is two flows.
#pragma once

#include <cstdint>
#include <cstring>

#include "agent/capture/packet.h"

namespace flowscope::agent {

struct FlowKey {
  uint8_t ip_a[16];
  uint8_t ip_b[16];
  uint16_t port_a;
  uint16_t port_b;
  uint32_t tunnel_id;
  uint16_t vlan;
  uint8_t protocol;
  uint8_t is_v4;
  uint32_t reserved;  // zero; makes the key six whole 64-bit words for hashing

  // Builds the key of `p`; sets *a_is_src when the packet's source is endpoint a.
  static FlowKey FromPacket(const Packet& p, bool* a_is_src) {
    FlowKey k;
    std::memset(&k, 0, sizeof(k));  // padding too: the key is hashed and compared as bytes
    const int c = std::memcmp(p.src_ip.bytes.data(), p.dst_ip.bytes.data(), 16);
    const bool src_first = c < 0 || (c == 0 && p.src_port <= p.dst_port);
    const IpAddr& a = src_first ? p.src_ip : p.dst_ip;
    const IpAddr& b = src_first ? p.dst_ip : p.src_ip;
    std::memcpy(k.ip_a, a.bytes.data(), 16);
    std::memcpy(k.ip_b, b.bytes.data(), 16);
    k.port_a = src_first ? p.src_port : p.dst_port;
    k.port_b = src_first ? p.dst_port : p.src_port;
    k.tunnel_id = p.tunnel.id;
    k.vlan = p.vlan;
    k.protocol = p.ip_proto;
    k.is_v4 = p.src_ip.is_v4 ? 1 : 0;
    *a_is_src = src_first;
    return k;
  }

  friend bool operator==(const FlowKey& x, const FlowKey& y) {
    uint64_t a[6], b[6];
    std::memcpy(a, &x, sizeof(a));
    std::memcpy(b, &y, sizeof(b));
    return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4]) |
            (a[5] ^ b[5])) == 0;
  }
  // A multiply-xorshift per 64-bit word and a final avalanche: cheap, and every bit of the
  // result depends on every bit of the key (the hash table uses both the low and high bits).
  uint64_t Hash() const {
    uint64_t w[6];
    std::memcpy(w, this, sizeof(w));
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (uint64_t v : w) {
      x = (x ^ v) * 0xbf58476d1ce4e5b9ull;
      x ^= x >> 29;
    }
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 32);
  }
};

static_assert(sizeof(FlowKey) == 48, "FlowKey must have no hidden padding");

}  // namespace flowscope::agent
