#include "common/records/enums.h"

namespace flowscope {

std::string_view CloseTypeName(CloseType t) {
  switch (t) {
    case CloseType::kUnknown: return "unknown";
    case CloseType::kFinish: return "finish";
    case CloseType::kTcpServerRst: return "server reset";
    case CloseType::kTimeout: return "timeout";
    case CloseType::kForcedReport: return "forced report";
    case CloseType::kClientSynRepeat: return "server SYN miss";
    case CloseType::kServerHalfClose: return "server half close";
    case CloseType::kTcpClientRst: return "client reset";
    case CloseType::kServerSynAckRepeat: return "client ACK miss";
    case CloseType::kClientHalfClose: return "client half close";
    case CloseType::kClientSourcePortReuse: return "client port reuse";
    case CloseType::kServerReset: return "server direct reset";
    case CloseType::kServerQueueLack: return "server queue lack";
    case CloseType::kClientEstablishReset: return "client other reset";
    case CloseType::kServerEstablishReset: return "server other reset";
    case CloseType::kTcpFinClientRst: return "client reset after FIN";
  }
  return "unknown";
}

std::string_view L4StatusName(L4Status s) {
  switch (s) {
    case L4Status::kNormal: return "normal";
    case L4Status::kAbnormal: return "abnormal";
    case L4Status::kNotExist: return "not exist";
    case L4Status::kServerError: return "server error";
    case L4Status::kClientError: return "client error";
  }
  return "unknown";
}

std::string_view IpProtocolName(uint8_t proto) {
  switch (proto) {
    case kIpProtoTcp: return "TCP";
    case kIpProtoUdp: return "UDP";
    case kIpProtoIcmp: return "ICMP";
    case kIpProtoIcmpV6: return "ICMPv6";
    default: return "IP";
  }
}

L4Status StatusOfClose(CloseType t, uint8_t ip_protocol) {
  if (ip_protocol != kIpProtoTcp) return L4Status::kNormal;
  switch (t) {
    case CloseType::kTcpClientRst:
    case CloseType::kClientHalfClose:
    case CloseType::kClientSourcePortReuse:
    case CloseType::kServerSynAckRepeat:
    case CloseType::kClientEstablishReset:
      return L4Status::kClientError;
    case CloseType::kTcpServerRst:
    case CloseType::kTimeout:
    case CloseType::kServerHalfClose:
    case CloseType::kServerReset:
    case CloseType::kServerQueueLack:
    case CloseType::kServerEstablishReset:
    case CloseType::kClientSynRepeat:
      return L4Status::kServerError;
    default:
      return L4Status::kNormal;
  }
}

}  // namespace flowscope
