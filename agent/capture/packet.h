// Packet: one decoded frame, as every packet source (pcap file, AF_PACKET) hands it to the flow
// engine. It points into the source's buffer (no copy): valid only during the callback that
// receives it. Header fields are in host byte order. For tunnelled traffic the fields describe
// the innermost packet and `tunnel` the outermost encapsulation.
#pragma once

#include <cstdint>

#include "common/net/ip_addr.h"

namespace flowscope::agent {

enum class TunnelType : uint8_t { kNone = 0, kVxlan = 1, kIpip = 2, kGre = 3, kErspan = 4 };

// TCP flag bits as in the header's 13th byte.
inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;
inline constexpr uint8_t kTcpUrg = 0x20;

struct TunnelInfo {
  TunnelType type = TunnelType::kNone;
  uint8_t tier = 0;       // number of encapsulations removed
  uint32_t id = 0;        // VXLAN VNI, GRE key, ERSPAN session id
  IpAddr src;             // outer IP header of the outermost tunnel
  IpAddr dst;
};

struct Packet {
  // Capture metadata.
  uint64_t timestamp_ns = 0;
  uint32_t cap_len = 0;   // bytes present in the buffer
  uint32_t wire_len = 0;  // frame length on the wire (what byte counters count)
  uint32_t ifindex = 0;   // live capture only

  // L2 (of the innermost Ethernet header; zero for raw-IP link types).
  uint8_t mac_src[6] = {};
  uint8_t mac_dst[6] = {};
  uint16_t eth_type = 0;  // after VLAN tags
  uint16_t vlan = 0;      // outermost VLAN id, 0 if none
  uint8_t vlan_depth = 0;

  TunnelInfo tunnel;

  // L3.
  IpAddr src_ip;
  IpAddr dst_ip;
  uint8_t ip_proto = 0;      // transport protocol after IPv6 extension headers
  uint8_t ttl = 0;
  uint16_t ip_id = 0;
  uint32_t l3_payload_len = 0;  // IP length minus IP header(s): L4 header + payload, per IP length
  bool is_fragment = false;     // non-first fragment or MF set: no reliable L4 header
  bool has_l4 = false;          // src_port/dst_port (and TCP/ICMP fields) are valid

  // L4.
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  // TCP only.
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint16_t window = 0;       // raw header value (not scaled)
  uint8_t tcp_flags = 0;
  uint8_t tcp_header_len = 0;
  int8_t window_scale = -1;  // from the SYN's option, -1 when absent
  uint16_t mss = 0;
  // ICMP / ICMPv6 only (also echo id → src_port/dst_port so that echo flows pair up).
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;

  // Transport payload: `payload_len` is what the IP length says; `payload` holds the captured
  // part of it (`payload_cap_len` ≤ payload_len when the snap length cut it).
  const uint8_t* payload = nullptr;
  uint32_t payload_len = 0;
  uint32_t payload_cap_len = 0;

  bool IsTcp() const { return ip_proto == 6; }
  bool IsUdp() const { return ip_proto == 17; }
};

}  // namespace flowscope::agent
