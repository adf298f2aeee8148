// Decoder::Decode on the frame shapes that dominate real captures (pure ACKs, MSS-sized data
// cut by a 128-byte snap length, IPv6, VLAN-tagged DNS) and on a VXLAN-encapsulated frame.
// Figures only: run `build/release/bench/decoder_benchmark`.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "agent/capture/decoder.h"

namespace flowscope::agent {
namespace {

// Appends headers in network byte order.
class FrameBuilder {
 public:
  FrameBuilder& Eth(uint16_t type) {
    const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
    Bytes(macs, sizeof(macs));
    return U16(type);
  }
  FrameBuilder& Vlan(uint16_t id, uint16_t type) { return U16(id).U16(type); }
  FrameBuilder& Ipv4(uint8_t proto, uint16_t payload_len) {
    U8(0x45).U8(0).U16(static_cast<uint16_t>(20 + payload_len)).U16(0x1234).U16(0x4000);
    U8(64).U8(proto).U16(0);
    const uint8_t addrs[8] = {10, 64, 1, 2, 172, 16, 0, 10};
    return Bytes(addrs, sizeof(addrs));
  }
  FrameBuilder& Ipv6(uint8_t next, uint16_t payload_len) {
    U32(0x60012345).U16(payload_len).U8(next).U8(64);
    uint8_t addrs[32] = {0x20, 0x01, 0x0d, 0xb8, 0x10};
    addrs[15] = 1;
    addrs[16] = 0x20;
    addrs[17] = 0x01;
    addrs[31] = 2;
    return Bytes(addrs, sizeof(addrs));
  }
  // TCP header with NOP, NOP, timestamps (32 bytes).
  FrameBuilder& Tcp(uint8_t flags) {
    U16(40123).U16(443).U32(1000).U32(2000).U8(0x80).U8(flags).U16(501).U16(0).U16(0);
    return U8(1).U8(1).U8(8).U8(10).U32(12345).U32(54321);
  }
  FrameBuilder& Udp(uint16_t src, uint16_t dst, uint16_t payload_len) {
    return U16(src).U16(dst).U16(static_cast<uint16_t>(8 + payload_len)).U16(0);
  }
  FrameBuilder& Vxlan(uint32_t vni) { return U32(0x08000000).U32(vni << 8); }
  FrameBuilder& Fill(size_t n) {
    for (size_t i = 0; i < n; ++i) bytes_.push_back(static_cast<uint8_t>(i * 7));
    return *this;
  }
  std::vector<uint8_t> Build() const { return bytes_; }

 private:
  FrameBuilder& U8(uint8_t v) {
    bytes_.push_back(v);
    return *this;
  }
  FrameBuilder& U16(uint16_t v) {
    return U8(static_cast<uint8_t>(v >> 8)).U8(static_cast<uint8_t>(v));
  }
  FrameBuilder& U32(uint32_t v) {
    return U16(static_cast<uint16_t>(v >> 16)).U16(static_cast<uint16_t>(v));
  }
  FrameBuilder& Bytes(const uint8_t* p, size_t n) {
    bytes_.insert(bytes_.end(), p, p + n);
    return *this;
  }
  std::vector<uint8_t> bytes_;
};

constexpr uint32_t kSnapLen = 128;

void RunDecode(benchmark::State& state, const std::vector<uint8_t>& frame, uint32_t wire_len) {
  Decoder decoder;
  Packet packet;
  const uint32_t cap = static_cast<uint32_t>(frame.size());
  if (decoder.Decode(kLinkTypeEthernet, frame.data(), cap, wire_len, 1, &packet) !=
      DecodeResult::kOk) {
    state.SkipWithError("frame does not decode");
    return;
  }
  for (auto _ : state) {
    DecodeResult r = decoder.Decode(kLinkTypeEthernet, frame.data(), cap, wire_len, 1, &packet);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(packet);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_Ipv4TcpAck(benchmark::State& state) {
  auto f = FrameBuilder().Eth(0x0800).Ipv4(6, 32).Tcp(0x10).Build();
  RunDecode(state, f, static_cast<uint32_t>(f.size()));
}
BENCHMARK(BM_Ipv4TcpAck);

void BM_Ipv4TcpMssSnap128(benchmark::State& state) {
  auto f = FrameBuilder().Eth(0x0800).Ipv4(6, 32 + 1448).Tcp(0x18).Fill(1448).Build();
  f.resize(kSnapLen);
  RunDecode(state, f, 1514);
}
BENCHMARK(BM_Ipv4TcpMssSnap128);

void BM_Ipv6TcpMssSnap128(benchmark::State& state) {
  auto f = FrameBuilder().Eth(0x86dd).Ipv6(6, 32 + 1428).Tcp(0x18).Fill(1428).Build();
  f.resize(kSnapLen);
  RunDecode(state, f, 1514);
}
BENCHMARK(BM_Ipv6TcpMssSnap128);

void BM_VlanIpv4UdpDns(benchmark::State& state) {
  auto f = FrameBuilder()
               .Eth(0x8100)
               .Vlan(100, 0x0800)
               .Ipv4(17, 8 + 37)
               .Udp(51000, 53, 37)
               .Fill(37)
               .Build();
  RunDecode(state, f, static_cast<uint32_t>(f.size()));
}
BENCHMARK(BM_VlanIpv4UdpDns);

void BM_VxlanIpv4Tcp(benchmark::State& state) {
  const uint16_t inner = 14 + 20 + 32 + 1380;
  auto f = FrameBuilder()
               .Eth(0x0800)
               .Ipv4(17, 8 + 8 + inner)
               .Udp(49152, 4789, 8 + inner)
               .Vxlan(5001)
               .Eth(0x0800)
               .Ipv4(6, 32 + 1380)
               .Tcp(0x18)
               .Fill(1380)
               .Build();
  f.resize(kSnapLen + 50);
  RunDecode(state, f, 14 + 20 + 8 + 8 + inner);
}
BENCHMARK(BM_VxlanIpv4Tcp);

}  // namespace
}  // namespace flowscope::agent

BENCHMARK_MAIN();
