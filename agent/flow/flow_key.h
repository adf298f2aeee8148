// FlowKey: the bidirectional identity of a flow. Both directions of a 5-tuple produce the same
// key (the endpoints are stored in a canonical order), so one hash lookup finds the flow
// whatever the packet's direction. Tunnel id and VLAN are part of the identity: the same inner
// 5-tuple in two VXLAN segments is two flows.
#pragma once

#include <cstdint>
#include <cstring>

#include "absl/hash/hash.h"
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
    return std::memcmp(&x, &y, sizeof(FlowKey)) == 0;
  }
  // Hashing the key as six 64-bit words is several times cheaper than hashing 48 bytes as a
  // string (which lands in libstdc++'s out-of-line byte hash).
  template <typename H>
  friend H AbslHashValue(H h, const FlowKey& k) {
    uint64_t w[6];
    std::memcpy(w, &k, sizeof(w));
    return H::combine(std::move(h), w[0], w[1], w[2], w[3], w[4], w[5]);
  }
};

static_assert(sizeof(FlowKey) == 48, "FlowKey must have no hidden padding");

}  // namespace flowscope::agent
