// DNS (RFC 1035 §4: header, question, resource records; §4.1.4 name compression; §4.2.2 TCP
// length prefix; RFC 3596 AAAA; RFC 2782 SRV). One UDP datagram or one length-prefixed TCP
// message = one message. Requests and responses pair by transaction id (DNS multiplexes).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "agent/l7/l7_config.h"
#include "agent/l7/parser.h"

namespace flowscope::agent::l7::dns {

extern const ProtocolSpec kSpec;

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxNameLength = 255;  // RFC 1035 §2.3.4, wire form
inline constexpr uint32_t kMaxPointerJumps = 32;
inline constexpr size_t kMaxResultBytes = 512;  // formatted answers kept in `result`
inline constexpr uint32_t kMaxRecords = 64;     // resource records looked at per section

// QTYPE / TYPE mnemonic ("A", "AAAA", ...; "TYPE<n>" when unassigned here, RFC 3597 §5).
std::string TypeName(uint16_t type);
std::string_view OpcodeName(uint8_t opcode);

class DnsParser final : public Parser {
 public:
  explicit DnsParser(const L7Config& config) : max_parse_bytes_(config.max_parse_bytes) {}
  ParseResult Parse(const ParseInput& in, L7Message* out) override;
  size_t FindBoundary(Direction dir, std::string_view data) override;
  // The request already carries the opcode attribute: the session row needs it once.
  void OnPaired(const L7Message& request, L7Message* response) override;

 private:
  uint32_t max_parse_bytes_;  // a datagram this long may have been cut by the engine
};

}  // namespace flowscope::agent::l7::dns
