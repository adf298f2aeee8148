// libFuzzer entry for the packet decoder. Input layout:
//   byte 0: selector. Bits 0-2 pick the link type from kLinkTypes; bits 3-4 lower the tunnel
//           depth limit (0 keeps the default 3); bit 5 disables all decapsulation; bit 6 claims a
//           wire length larger than the captured bytes (a snap-length cut).
//   rest:   the frame.
// Seed files in testdata/decoder_corpus start with that selector byte (0 = Ethernet).
// Besides ASan/UBSan findings, the target traps when a decoded Packet breaks the decoder's
// contract: payload outside the frame, captured payload longer than the payload, or counters
// that disagree with the result.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "agent/capture/decoder.h"

namespace {

using flowscope::agent::DecodeResult;

constexpr int kLinkTypes[8] = {flowscope::agent::kLinkTypeEthernet,
                               flowscope::agent::kLinkTypeLinuxSll,
                               flowscope::agent::kLinkTypeLinuxSll2,
                               flowscope::agent::kLinkTypeRaw,
                               flowscope::agent::kLinkTypeNull,
                               flowscope::agent::kLinkTypeLoop,
                               12,
                               14};

volatile uint64_t g_sink;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t selector = data[0];
  const uint8_t* frame = data + 1;
  const auto cap = static_cast<uint32_t>(size - 1);

  flowscope::agent::DecoderConfig config;
  config.max_tunnel_depth = static_cast<uint8_t>(3 - ((selector >> 3) & 3));
  if ((selector & 0x20) != 0) {
    config.decap_vxlan = config.decap_gre = config.decap_ipip = false;
  }
  const uint32_t wire = (selector & 0x40) != 0 ? cap + 1000 : cap;
  const flowscope::agent::Decoder decoder(config);

  flowscope::agent::Packet p;
  const DecodeResult r =
      decoder.Decode(kLinkTypes[selector & 7], cap == 0 ? nullptr : frame, cap, wire, 7, &p);

  flowscope::agent::DecodeStats stats;
  stats.Count(r, p);
  Check(stats.ok + stats.not_ip + stats.errors() == 1);
  Check(std::strcmp(flowscope::agent::DecodeResultName(r), "unknown") != 0);
  Check(p.cap_len == cap && p.wire_len == wire);
  Check(p.tunnel.tier <= config.max_tunnel_depth);

  // Touch every output field so that a wrong read shows up here, not in the flow engine.
  uint64_t h = p.timestamp_ns + p.ip_proto + p.ttl + p.ip_id + p.l3_payload_len + p.src_port +
               p.dst_port + p.seq + p.ack + p.window + p.tcp_flags + p.tcp_header_len +
               static_cast<uint64_t>(p.window_scale + 1) + p.mss + p.icmp_type + p.icmp_code +
               p.eth_type + p.vlan + p.vlan_depth + p.tunnel.id + p.tunnel.tier +
               static_cast<uint64_t>(p.tunnel.type) + p.is_fragment + p.has_l4;
  for (int i = 0; i < 16; ++i) {
    h += p.src_ip.bytes[i] ^ p.dst_ip.bytes[i] ^ p.tunnel.src.bytes[i] ^ p.tunnel.dst.bytes[i];
  }
  for (int i = 0; i < 6; ++i) h += p.mac_src[i] ^ p.mac_dst[i];

  if (p.payload != nullptr) {
    Check(r == DecodeResult::kOk && p.has_l4);
    Check(p.payload >= frame && p.payload + p.payload_cap_len <= frame + cap);
    Check(p.payload_cap_len <= p.payload_len);
    for (uint32_t i = 0; i < p.payload_cap_len; ++i) h += p.payload[i];
  } else {
    Check(p.payload_len == 0 && p.payload_cap_len == 0);
  }
  if (r == DecodeResult::kOk) {
    Check(p.src_ip.is_v4 == p.dst_ip.is_v4);
    Check(p.payload_len <= p.l3_payload_len);
    if (p.tunnel.tier == 0) Check(p.tunnel.type == flowscope::agent::TunnelType::kNone);
    if (p.tunnel.tier > 0) Check(p.tunnel.type != flowscope::agent::TunnelType::kNone);
    if (p.IsTcp() && p.has_l4) Check(p.tcp_header_len >= 20 && p.tcp_header_len <= 60);
    if (p.window_scale > 14 || p.window_scale < -1) __builtin_trap();
  }
  g_sink = g_sink + h;
  return 0;
}
