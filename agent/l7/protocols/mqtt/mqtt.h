// MQTT 3.1, 3.1.1 and 5.0 control packets (fixed header, variable header, payload), one per
// Parse() call. The parser keeps the flow's protocol level and client id from CONNECT (MQTT 5
// packets carry properties that 3.1.1 ones do not) and the MQTT 5 topic aliases of each
// direction. See README.md for the fields, pairing and status mapping.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/l7/l7_config.h"
#include "agent/l7/parser.h"

namespace flowscope::agent::l7::mqtt {

extern const ProtocolSpec kSpec;

// Control packet type names as DeepFlow reports them ("CONNECT", "PUBLISH", ...); "" if none.
std::string_view PacketTypeName(int type);
// MQTT 5 reason code (§2.4) -> ok (< 0x80), client error (the request was malformed, not
// allowed or not supported) or server error (unspecified, implementation specific, server
// unavailable, busy, shutting down, moved, ...).
L7ResponseStatus StatusOfReasonCode(int code);
// MQTT 3.1/3.1.1 CONNACK return code: 0 ok, 1, 2, 4, 5 client error, 3 server error.
L7ResponseStatus StatusOfConnackV3(int code);

// The pair id of a packet identifier exchange: which acknowledgement answers it (kind), who
// sent the request (initiator) and the packet identifier. Both sides number their own packets,
// so the initiator keeps a broker's PUBLISH 7 apart from a client's PUBLISH 7.
enum class Exchange : uint8_t {
  kPubAck = 1,
  kPubRec = 2,
  kPubComp = 3,
  kSubAck = 4,
  kUnsubAck = 5
};
uint64_t PairId(Exchange kind, Direction initiator, uint16_t packet_id);

class MqttParser final : public Parser {
 public:
  explicit MqttParser(const L7Config& config) : config_(config) {}
  ParseResult Parse(const ParseInput& in, L7Message* out) override;
  size_t FindBoundary(Direction dir, std::string_view data) override;

  // 3, 4 or 5 once known (from CONNECT, or a packet only MQTT 5 can send); 0 before.
  int protocol_level() const { return level_; }

  // Body parsing context (public for the implementation's helpers).
  struct Packet;

 private:
  struct Alias {
    uint16_t id = 0;
    std::string topic;
  };
  static constexpr size_t kMaxAliases = 64;

  bool ParseBody(const Packet& p, bool dry_run, L7Message* out);
  bool ParseConnect(const Packet& p, bool dry_run, L7Message* out);
  bool ParsePublish(const Packet& p, bool dry_run, L7Message* out);
  bool ParseSubscribe(const Packet& p, int level, bool dry_run, L7Message* out);
  bool ParseAck(const Packet& p, bool dry_run, L7Message* out);
  const std::string* FindAlias(Direction dir, uint16_t id) const;
  void StoreAlias(Direction dir, uint16_t id, std::string_view topic);

  const L7Config& config_;
  int level_ = 0;
  std::string client_id_;
  std::vector<Alias> aliases_[2];
};

}  // namespace flowscope::agent::l7::mqtt
