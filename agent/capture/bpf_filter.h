// Classic BPF filters for live capture: a tcpdump-style expression compiled by libpcap
// (pcap_compile on a dead handle of the interface's link type) into the instructions that
// SO_ATTACH_FILTER takes. The kernel runs them on every packet before it reaches the ring, so a
// narrow filter is the cheapest way to capture less.
//
// The filter's accept value is the snap length: a filter is also how the kernel truncates
// packets (an empty expression compiles to "accept `snaplen` bytes").
//
// Known gap: the expression is compiled for a generic link, not for a live Linux socket, so
// `vlan` primitives test the bytes in the frame; tags that the NIC or veth stripped into
// metadata (VLAN offload) are not seen by the filter (they are re-inserted in user space).
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace flowscope::agent {

inline constexpr uint32_t kMaxSnaplen = 262144;  // libpcap's MAXIMUM_SNAPLEN

class BpfProgram {
 public:
  BpfProgram() = default;
  // Copies `insns` (layout of struct sock_filter, which is also libpcap's struct bpf_insn).
  explicit BpfProgram(std::vector<sock_filter> insns) : insns_(std::move(insns)) {}

  const std::vector<sock_filter>& instructions() const { return insns_; }
  size_t size() const { return insns_.size(); }
  bool empty() const { return insns_.empty(); }
  // A view for setsockopt(SO_ATTACH_FILTER); valid while this program lives.
  sock_fprog AsSockFprog() const;
  // One instruction per line in `tcpdump -d` style, for --help and debugging.
  std::string Dump() const;

 private:
  std::vector<sock_filter> insns_;
};

// Compiles `expression` (pcap-filter(7) syntax; "" accepts everything) for frames of libpcap
// link type `link_type` (1 Ethernet, 101 raw IP), truncating accepted packets to `snaplen`.
// Errors are InvalidArgument and quote the expression and libpcap's message.
absl::StatusOr<BpfProgram> CompileFilter(const std::string& expression, int link_type = 1,
                                         uint32_t snaplen = kMaxSnaplen);

}  // namespace flowscope::agent
