// Enumerations shared by the agent and the server, with DeepFlow's numeric values so that its
// users find the same codes (reference: deepflow-facts.md §1.3).
#pragma once

#include <cstdint>
#include <string_view>

namespace flowscope {

// How a flow report ended (`close_type` column).
enum class CloseType : uint8_t {
  kUnknown = 0,
  kFinish = 1,
  kTcpServerRst = 2,
  kTimeout = 3,
  kForcedReport = 5,          // periodic report of a flow that is still open
  kClientSynRepeat = 7,       // shown as "server SYN miss"
  kServerHalfClose = 8,
  kTcpClientRst = 9,
  kServerSynAckRepeat = 10,   // shown as "client ACK miss"
  kClientHalfClose = 11,
  kClientSourcePortReuse = 13,
  kServerReset = 15,
  kServerQueueLack = 17,
  kClientEstablishReset = 18,
  kServerEstablishReset = 19,
  kTcpFinClientRst = 20,
};

// `status` column of l4_flow_log.
enum class L4Status : uint8_t {
  kNormal = 0,
  kAbnormal = 1,
  kNotExist = 2,
  kServerError = 3,
  kClientError = 4,
};

// `signal_source` column.
enum class SignalSource : uint8_t { kPacket = 0, kXFlow = 1, kEbpf = 3, kOtel = 4 };

// `role` of an IP in flow_metrics.network.
enum class FlowRole : uint8_t { kClient = 0, kServer = 1, kLocal = 2, kOther = 3 };

// IP protocol numbers used by the `protocol` column.
inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoIcmpV6 = 58;

std::string_view CloseTypeName(CloseType t);
std::string_view L4StatusName(L4Status s);
std::string_view IpProtocolName(uint8_t proto);

// DeepFlow's mapping of TCP close types to status: the side blamed for the failure.
// Non-TCP flows are always kNormal.
L4Status StatusOfClose(CloseType t, uint8_t ip_protocol);

}  // namespace flowscope
