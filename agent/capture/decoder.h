// Decoder: turns a captured frame into a Packet. Handles Ethernet (and Linux cooked/raw-IP
// link types), 802.1Q/802.1ad (QinQ) tags, IPv4 and IPv6 with extension headers, TCP, UDP,
// ICMP/ICMPv6, and removes VXLAN, GRE (incl. ERSPAN type II/III) and IPIP encapsulation.
// Untrusted input: never reads past `cap_len`, never allocates, and reports what was wrong as a
// DecodeResult that the caller counts (DecodeStats).
#pragma once

#include <cstdint>

#include "agent/capture/packet.h"

namespace flowscope::agent {

// libpcap DLT values we accept.
inline constexpr int kLinkTypeNull = 0;         // BSD loopback
inline constexpr int kLinkTypeEthernet = 1;
inline constexpr int kLinkTypeRaw = 101;        // raw IPv4/IPv6 (also 12 and 14 on some OSes)
inline constexpr int kLinkTypeLoop = 108;
inline constexpr int kLinkTypeLinuxSll = 113;
inline constexpr int kLinkTypeLinuxSll2 = 276;

enum class DecodeResult : uint8_t {
  kOk = 0,            // Packet filled with L3 (and L4 if has_l4)
  kNotIp,             // ARP, LLDP, ...: valid but not for the flow engine
  kTruncated,         // a header is cut short by the capture length
  kMalformed,         // a length or version field that cannot be right
  kUnsupportedLink,   // unknown link type
  kTunnelTooDeep,     // more nested encapsulations than we unwrap
};

// Counters the caller keeps; every packet increments exactly one outcome counter.
struct DecodeStats {
  uint64_t ok = 0;
  uint64_t not_ip = 0;
  uint64_t truncated = 0;
  uint64_t malformed = 0;
  uint64_t unsupported_link = 0;
  uint64_t tunnel_too_deep = 0;
  uint64_t fragments = 0;     // subset of ok: IP fragments (L4 absent or partial)
  uint64_t tunnelled = 0;     // subset of ok: decapsulated at least once

  void Count(DecodeResult r, const Packet& p);
  uint64_t errors() const { return truncated + malformed + unsupported_link + tunnel_too_deep; }
};

struct DecoderConfig {
  uint16_t vxlan_port = 4789;  // UDP destination port that carries VXLAN
  bool decap_vxlan = true;
  bool decap_gre = true;
  bool decap_ipip = true;
  uint8_t max_tunnel_depth = 3;
};

class Decoder {
 public:
  explicit Decoder(DecoderConfig config = {}) : config_(config) {}

  // Decodes `data[0..cap_len)` of link type `link_type`. `out` is fully reset first.
  DecodeResult Decode(int link_type, const uint8_t* data, uint32_t cap_len, uint32_t wire_len,
                      uint64_t timestamp_ns, Packet* out) const;

 private:
  DecoderConfig config_;
};

const char* DecodeResultName(DecodeResult r);

}  // namespace flowscope::agent
