// AfPacketSource: live capture from Linux network interfaces through AF_PACKET TPACKET_V3 RX
// rings. One packet socket and one memory-mapped ring per interface, bound to its ifindex; the
// kernel fills fixed-size blocks with many packets each and hands a block to user space when it
// is full or when `retire_timeout_ms` has passed, so Poll() costs one poll(2) per batch of
// blocks rather than a syscall per packet.
//
// Interface selection (`AfPacketOptions::interfaces`, one entry per pattern):
//   - "/regex/"                    a POSIX extended regex between slashes, matched against the
//                                  whole name of every interface of the network namespace;
//   - a name containing one of  * ? [ ] ( ) { } | ^ $ + \  is also taken as such a regex
//                                  (so `veth.*` and `eth[01]` work without slashes);
//   - anything else                an exact interface name ('.', '-', '@', ':' are ordinary
//                                  name characters: `eth0.100` is a VLAN device, not a regex).
// Every entry must match at least one interface. An interface matched by several entries is
// captured once.
//
// Link types: Ethernet and loopback devices are read with SOCK_RAW and delivered as Ethernet
// (DLT 1). Devices without an Ethernet header (tun/wireguard ARPHRD_NONE, ipip, sit, gre, ...)
// are read with SOCK_DGRAM, i.e. from the IP header on, and delivered as raw IP (DLT 101); the
// filter is compiled for the same link type.
//
// Loopback: the kernel delivers every packet sent on `lo` twice (PACKET_OUTGOING, then as
// received). The outgoing copy is skipped and counted in SourceStats::duplicates. Only on
// loopback devices: on veth or physical NICs outgoing packets are real transmits.
//
// VLAN tags that the driver moved into packet metadata (offload) are written back into the frame
// in place, so that the decoder sees the frame as it was on the wire.
#pragma once

#include <poll.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/capture/packet_source.h"

namespace flowscope::agent {

enum class FanoutMode : uint8_t {
  kHash,  // PACKET_FANOUT_HASH (with DEFRAG): both directions of a flow go to the same socket
  kLoadBalance,  // PACKET_FANOUT_LB: round robin, flows are split (metrics only)
  kCpu,          // PACKET_FANOUT_CPU: by the CPU that received the packet
};

// Parses "hash", "lb" or "cpu".
absl::StatusOr<FanoutMode> ParseFanoutMode(std::string_view name);
std::string_view FanoutModeName(FanoutMode mode);

struct FanoutOptions {
  // Processes (or threads) that open the same interface with the same group and mode share its
  // packets. With several interfaces, interface i (in ifindex order) joins group `group + i`,
  // because a kernel fanout group belongs to one device.
  uint16_t group = 0;
  FanoutMode mode = FanoutMode::kHash;
};

struct AfPacketOptions {
  std::vector<std::string> interfaces;  // names or regexes, see above
  std::string filter;                   // pcap-filter(7) expression, "" for everything
  std::optional<FanoutOptions> fanout;
  // Ring geometry, per interface. The ring is block_size * block_count bytes of kernel memory
  // (not locked against RLIMIT_MEMLOCK: the kernel pages are never swapped anyway).
  uint32_t block_size = 1u << 20;  // bytes, a multiple of the page size; bounds the largest frame
  uint32_t block_count = 4;
  uint32_t frame_size = 2048;       // TPACKET_V3 packs frames; only the kernel's bookkeeping unit
  uint32_t retire_timeout_ms = 50;  // a partly filled block is handed over after this long
  uint32_t snaplen = 262144;        // bytes kept of each frame
  bool promiscuous = false;
};

// One network interface as the source sees it.
struct InterfaceInfo {
  std::string name;
  uint32_t ifindex = 0;
  uint16_t hatype = 0;  // ARPHRD_* of the device
  int link_type = 1;    // DLT the frames are delivered as
};

// The interfaces of the current network namespace (if_nameindex), in ifindex order.
absl::StatusOr<std::vector<InterfaceInfo>> ListInterfaces();

// True when `spec` is taken as a regex rather than an exact name (rule in the file comment).
bool IsInterfaceRegex(std::string_view spec);

// Resolves `specs` against `available` (pure: no system calls, unit-tested). Result in
// ifindex order, without duplicates. Errors name the entry and list the available interfaces.
absl::StatusOr<std::vector<InterfaceInfo>> MatchInterfaces(
    const std::vector<std::string>& specs, const std::vector<InterfaceInfo>& available);

// Validates ring geometry and snaplen; errors name the option and the accepted range.
absl::Status ValidateOptions(const AfPacketOptions& options);

class AfPacketSource final : public PacketSource {
 public:
  // Resolves the interfaces, opens one ring per interface, attaches the filter, joins the fanout
  // group and sets promiscuous mode. Fails with PermissionDenied without CAP_NET_RAW, NotFound
  // for an unknown interface, InvalidArgument for a bad filter or geometry.
  static absl::StatusOr<std::unique_ptr<AfPacketSource>> Open(const AfPacketOptions& options);
  ~AfPacketSource() override;
  AfPacketSource(const AfPacketSource&) = delete;
  AfPacketSource& operator=(const AfPacketSource&) = delete;

  // Delivers the packets of every ready block of every ring, returning each block to the kernel
  // as soon as its packets are delivered. Waits up to `timeout_ms` in poll(2) only when no ring
  // has a ready block. An interface that disappears (deleted veth) is dropped from the capture;
  // when none is left Poll() fails.
  absl::StatusOr<PollResult> Poll(int timeout_ms, FrameFn fn) override;
  // Also collects the kernel's drop counter (PACKET_STATISTICS resets it on each read, so the
  // source accumulates it).
  SourceStats Stats() const override;
  // "eth0, veth1" (the captured interfaces).
  std::string Describe() const override;

  const std::vector<InterfaceInfo>& interfaces() const { return interface_info_; }
  // Name of a captured interface for RawFrame::ifindex, "" if it is not one of ours.
  std::string_view InterfaceName(uint32_t ifindex) const;

 private:
  struct Ring;
  AfPacketSource() = default;
  // Delivers up to `max_blocks` ready blocks of `ring`; returns how many it consumed.
  uint32_t DrainRing(Ring& ring, uint32_t max_blocks, FrameFn fn);
  absl::Status HandleSocketError(Ring& ring);
  void CollectKernelStats() const;

  void RebuildPollSet();

  std::vector<std::unique_ptr<Ring>> rings_;
  std::vector<InterfaceInfo> interface_info_;
  // poll(2) set over the live rings; rebuilt when an interface disappears.
  std::vector<pollfd> pollfds_;
  std::vector<Ring*> poll_rings_;
  int64_t last_stats_s_ = -1;
  mutable SourceStats stats_;
};

}  // namespace flowscope::agent
