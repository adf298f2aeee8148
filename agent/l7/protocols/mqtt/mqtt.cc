// MQTT control packet parsing. Specs: MQTT 3.1.1 (OASIS Standard, §2 Control Packet format,
// §3 Control Packets: http://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html),
// MQTT 5.0 (§2.1.4 Remaining Length, §2.2.2 Properties, §2.4 Reason Codes, §3:
// https://docs.oasis-open.org/mqtt/mqtt/v5.0/os/mqtt-v5.0-os.html) and MQTT 3.1 (IBM, protocol
// name "MQIsdp", level 3, same packet layout as 3.1.1).
#include "agent/l7/protocols/mqtt/mqtt.h"

#include <algorithm>

#include "agent/l7/byte_reader.h"
#include "agent/l7/text.h"
#include "agent/l7/trace_context.h"

namespace flowscope::agent::l7::mqtt {

enum PacketType : int {
  kConnect = 1,
  kConnack = 2,
  kPublish = 3,
  kPuback = 4,
  kPubrec = 5,
  kPubrel = 6,
  kPubcomp = 7,
  kSubscribe = 8,
  kSuback = 9,
  kUnsubscribe = 10,
  kUnsuback = 11,
  kPingreq = 12,
  kPingresp = 13,
  kDisconnect = 14,
  kAuth = 15,
};

struct MqttParser::Packet {
  int type = 0;
  int flags = 0;
  uint32_t remaining = 0;
  std::string_view body;  // the part of the remaining length that is present
  bool complete = false;  // body holds the whole remaining length
  Direction dir = Direction::kClientToServer;
};

namespace {

constexpr std::string_view kTypeNames[] = {
    "",        "CONNECT",  "CONNACK",    "PUBLISH", "PUBACK",      "PUBREC",
    "PUBREL",  "PUBCOMP",  "SUBSCRIBE",  "SUBACK",  "UNSUBSCRIBE", "UNSUBACK",
    "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
};

constexpr size_t kMaxKept = 256;      // client id, topic, reason string
constexpr size_t kMaxResource = 512;  // joined topic filters
constexpr int kMaxFilters = 32;
constexpr uint16_t kDefaultPort = 1883;
constexpr size_t kBoundaryWindow = 1024;  // bytes validated at each candidate boundary

enum class Read : uint8_t { kOk, kShort, kBad };

struct FixedHeader {
  int type = 0;
  int flags = 0;
  uint32_t remaining = 0;
  size_t header_len = 0;
};

// §2.2 (3.1.1) / §2.1 (5.0): type and flags, then the remaining length as a variable byte
// integer of at most four bytes in its shortest form. Per-type flag and minimum length rules
// reject most garbage here.
Read ReadFixedHeader(std::string_view d, FixedHeader* h) {
  if (d.empty()) return Read::kShort;
  const auto b0 = static_cast<uint8_t>(d[0]);
  h->type = b0 >> 4;
  h->flags = b0 & 0x0f;
  switch (h->type) {
    case 0:
      return Read::kBad;
    case kPublish: {
      const int qos = (h->flags >> 1) & 3;
      if (qos == 3 || (qos == 0 && (h->flags & 0x08) != 0)) return Read::kBad;  // DUP needs QoS
      break;
    }
    case kPubrel:
    case kSubscribe:
    case kUnsubscribe:
      if (h->flags != 0x02) return Read::kBad;
      break;
    default:
      if (h->flags != 0) return Read::kBad;
  }
  uint32_t value = 0;
  size_t i = 1;
  for (int n = 0;; ++n) {
    if (n == 4) return Read::kBad;  // a fifth length byte
    if (i >= d.size()) return Read::kShort;
    const auto b = static_cast<uint8_t>(d[i++]);
    if (n > 0 && b == 0) return Read::kBad;  // not the shortest encoding
    value |= static_cast<uint32_t>(b & 0x7f) << (7 * n);
    if ((b & 0x80) == 0) break;
  }
  h->remaining = value;
  h->header_len = i;
  uint32_t min = 0;
  switch (h->type) {
    case kConnect:
      min = 12;
      break;  // protocol name, level, flags, keep alive, client id length
    case kConnack:
    case kPuback:
    case kPubrec:
    case kPubrel:
    case kPubcomp:
    case kUnsuback:
    case kPublish:
      min = 2;
      break;
    case kSuback:
      min = 3;
      break;
    case kSubscribe:
    case kUnsubscribe:
      min = 5;
      break;  // packet id, one filter of at least one character
    case kPingreq:
    case kPingresp:
      if (value != 0) return Read::kBad;
      break;
    default:
      break;
  }
  return value < min ? Read::kBad : Read::kOk;
}

// Variable byte integer (§1.5.5 of 5.0): at most four bytes.
bool ReadVarInt(ByteReader& r, uint32_t* v) {
  uint32_t x = 0;
  for (int n = 0; n < 4; ++n) {
    uint8_t b;
    if (!r.U8(&b)) return false;
    x |= static_cast<uint32_t>(b & 0x7f) << (7 * n);
    if ((b & 0x80) == 0) {
      *v = x;
      return true;
    }
  }
  return false;
}

bool ReadString(ByteReader& r, std::string_view* s) {
  uint16_t len;
  return r.U16Be(&len) && r.Bytes(len, s);
}

// UTF-8 text as MQTT strings must be (§1.5.3/§1.5.4): well formed, no U+0000; control
// characters are refused too (as DeepFlow does), which keeps binary garbage out. `cut`: the
// string was cut by the end of the data, so its last character may be incomplete.
bool IsText(std::string_view s, bool cut = false) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return false;
      ++i;
      continue;
    }
    const size_t extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
    if (c < 0xc2 || c > 0xf4) return false;
    if (i + extra >= s.size() && !cut) return false;
    for (size_t k = i + 1; k <= i + extra && k < s.size(); ++k) {
      if ((static_cast<uint8_t>(s[k]) & 0xc0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

bool HasWildcard(std::string_view topic) {
  return topic.find_first_of("+#") != std::string_view::npos;
}

// Wire text kept in a row: bounded, and valid UTF-8 (IsText accepts overlong forms, surrogates
// and a character cut by the data or the bound).
std::string Bounded(std::string_view s) { return Utf8Lossy(s.substr(0, kMaxKept)); }

std::string_view VersionName(int level) {
  switch (level) {
    case 3:
      return "3.1";
    case 4:
      return "3.1.1";
    case 5:
      return "5.0";
    default:
      return "";
  }
}

struct Props {
  bool has_alias = false;
  uint16_t alias = 0;
  std::string_view reason_string;
  std::string_view assigned_client_id;
};

// MQTT 5 properties (§2.2.2): a variable byte integer length, then identifier/value pairs.
// User properties go to `collector` (trace context); kShort when the data ends inside them.
Read ReadProperties(ByteReader& r, TraceHeaderCollector* collector, Props* props) {
  uint32_t len;
  if (!ReadVarInt(r, &len)) {
    return r.remaining() < 4 ? Read::kShort : Read::kBad;
  }
  std::string_view block;
  bool cut = false;
  if (!r.Bytes(len, &block)) {
    block = r.rest();
    r.Skip(r.remaining());
    cut = true;
  }
  ByteReader p(block);
  const Read fail = cut ? Read::kShort : Read::kBad;
  while (!p.empty()) {
    uint8_t id;
    p.U8(&id);
    std::string_view a, b;
    uint32_t v;
    uint16_t u16;
    bool ok;
    switch (id) {
      case 0x01:  // Payload Format Indicator
      case 0x17:  // Request Problem Information
      case 0x19:  // Request Response Information
      case 0x24:  // Maximum QoS
      case 0x25:  // Retain Available
      case 0x28:  // Wildcard Subscription Available
      case 0x29:  // Subscription Identifier Available
      case 0x2a:  // Shared Subscription Available
        ok = p.Skip(1);
        break;
      case 0x13:  // Server Keep Alive
      case 0x21:  // Receive Maximum
      case 0x22:  // Topic Alias Maximum
        ok = p.Skip(2);
        break;
      case 0x23:  // Topic Alias
        ok = p.U16Be(&u16);
        if (ok) {
          props->has_alias = true;
          props->alias = u16;
        }
        break;
      case 0x02:  // Message Expiry Interval
      case 0x11:  // Session Expiry Interval
      case 0x18:  // Will Delay Interval
      case 0x27:  // Maximum Packet Size
        ok = p.Skip(4);
        break;
      case 0x0b:  // Subscription Identifier
        ok = ReadVarInt(p, &v);
        break;
      case 0x03:  // Content Type
      case 0x08:  // Response Topic
      case 0x15:  // Authentication Method
      case 0x1a:  // Response Information
      case 0x1c:  // Server Reference
      case 0x09:  // Correlation Data (binary)
      case 0x16:  // Authentication Data (binary)
        ok = ReadString(p, &a);
        break;
      case 0x12:  // Assigned Client Identifier (CONNACK, for a CONNECT without one)
        ok = ReadString(p, &a);
        if (ok) props->assigned_client_id = a;
        break;
      case 0x1f:  // Reason String
        ok = ReadString(p, &a);
        if (ok) props->reason_string = a;
        break;
      case 0x26:  // User Property
        ok = ReadString(p, &a) && ReadString(p, &b);
        if (ok && collector != nullptr) collector->Offer(a, b);
        break;
      default:
        return Read::kBad;
    }
    if (!ok) return fail;
  }
  return cut ? Read::kShort : Read::kOk;
}

// MQTT 5 §2.4: the names of the failure reason codes 0x80..0xA2.
constexpr std::string_view kReasonNames[] = {
    "Unspecified error",                       // 0x80
    "Malformed Packet",                        // 0x81
    "Protocol Error",                          // 0x82
    "Implementation specific error",           // 0x83
    "Unsupported Protocol Version",            // 0x84
    "Client Identifier not valid",             // 0x85
    "Bad User Name or Password",               // 0x86
    "Not authorized",                          // 0x87
    "Server unavailable",                      // 0x88
    "Server busy",                             // 0x89
    "Banned",                                  // 0x8a
    "Server shutting down",                    // 0x8b
    "Bad authentication method",               // 0x8c
    "Keep Alive timeout",                      // 0x8d
    "Session taken over",                      // 0x8e
    "Topic Filter invalid",                    // 0x8f
    "Topic Name invalid",                      // 0x90
    "Packet Identifier in use",                // 0x91
    "Packet Identifier not found",             // 0x92
    "Receive Maximum exceeded",                // 0x93
    "Topic Alias invalid",                     // 0x94
    "Packet too large",                        // 0x95
    "Message rate too high",                   // 0x96
    "Quota exceeded",                          // 0x97
    "Administrative action",                   // 0x98
    "Payload format invalid",                  // 0x99
    "Retain not supported",                    // 0x9a
    "QoS not supported",                       // 0x9b
    "Use another server",                      // 0x9c
    "Server moved",                            // 0x9d
    "Shared Subscriptions not supported",      // 0x9e
    "Connection rate exceeded",                // 0x9f
    "Maximum connect time",                    // 0xa0
    "Subscription Identifiers not supported",  // 0xa1
    "Wildcard Subscriptions not supported",    // 0xa2
};

std::string_view ReasonName(int code) {
  if (code < 0x80 || code > 0xa2) return "";
  return kReasonNames[code - 0x80];
}

std::string_view ConnackV3Name(int code) {
  switch (code) {
    case 1:
      return "Connection Refused, unacceptable protocol version";
    case 2:
      return "Connection Refused, identifier rejected";
    case 3:
      return "Connection Refused, Server unavailable";
    case 4:
      return "Connection Refused, bad user name or password";
    case 5:
      return "Connection Refused, not authorized";
    default:
      return "";
  }
}

void SetCode(L7Message* out, int code, L7ResponseStatus status, std::string_view name,
             std::string_view reason_string) {
  out->has_code = true;
  out->code = code;
  out->status = status;
  if (status != L7ResponseStatus::kOk) {
    out->exception = Bounded(!reason_string.empty() ? reason_string
                             : !name.empty()        ? name
                                                    : std::string_view("reason code"));
  }
}

Direction Opposite(Direction d) {
  return d == Direction::kClientToServer ? Direction::kServerToClient : Direction::kClientToServer;
}

}  // namespace

std::string_view PacketTypeName(int type) {
  if (type < 0 || type > kAuth) return {};
  return kTypeNames[type];
}

L7ResponseStatus StatusOfReasonCode(int code) {
  // The request (or its sender) was at fault: malformed, not allowed, not supported, too big
  // or too fast. Everything else, 0x80 "Unspecified error" included, is the server's.
  static constexpr int kClientErrors[] = {0x81, 0x82, 0x84, 0x85, 0x86, 0x87, 0x8a, 0x8c,
                                          0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96,
                                          0x97, 0x99, 0x9a, 0x9b, 0x9e, 0x9f, 0xa1, 0xa2};
  if (code < 0x80) return L7ResponseStatus::kOk;
  for (int c : kClientErrors) {
    if (c == code) return L7ResponseStatus::kClientError;
  }
  return L7ResponseStatus::kServerError;
}

L7ResponseStatus StatusOfConnackV3(int code) {
  switch (code) {
    case 0:
      return L7ResponseStatus::kOk;
    case 1:
    case 2:
    case 4:
    case 5:
      return L7ResponseStatus::kClientError;
    case 3:
      return L7ResponseStatus::kServerError;
    default:
      return L7ResponseStatus::kUnknown;
  }
}

uint64_t PairId(Exchange kind, Direction initiator, uint16_t packet_id) {
  return (static_cast<uint64_t>(kind) << 17) | (static_cast<uint64_t>(initiator) << 16) | packet_id;
}

const std::string* MqttParser::FindAlias(Direction dir, uint16_t id) const {
  for (const Alias& a : aliases_[static_cast<int>(dir)]) {
    if (a.id == id) return &a.topic;
  }
  return nullptr;
}

void MqttParser::StoreAlias(Direction dir, uint16_t id, std::string_view topic) {
  auto& v = aliases_[static_cast<int>(dir)];
  for (Alias& a : v) {
    if (a.id == id) {
      a.topic = Bounded(topic);
      return;
    }
  }
  if (v.size() >= kMaxAliases) v.erase(v.begin());
  v.push_back(Alias{id, Bounded(topic)});
}

// §3.1: protocol name, level, connect flags, keep alive, [properties], client id, [will
// properties, will topic, will payload], [user name], [password].
bool MqttParser::ParseConnect(const Packet& p, bool dry_run, L7Message* out) {
  ByteReader r(p.body);
  std::string_view name, client_id, s;
  uint8_t level, flags;
  uint16_t keep_alive;
  if (!ReadString(r, &name)) return false;  // the first 12 bytes are in the fixed minimum
  if (name != "MQTT" && name != "MQIsdp") return false;
  if (!r.U8(&level) || !r.U8(&flags) || !r.U16Be(&keep_alive)) return false;
  if (name == "MQIsdp" ? level != 3 : (level != 4 && level != 5)) return false;
  const bool will = (flags & 0x04) != 0;
  const int will_qos = (flags >> 3) & 3;
  const bool will_retain = (flags & 0x20) != 0;
  const bool password = (flags & 0x40) != 0;
  const bool user_name = (flags & 0x80) != 0;
  if ((flags & 0x01) != 0 || will_qos == 3 || (!will && (will_qos != 0 || will_retain))) {
    return false;
  }
  if (level == 4 && password && !user_name) return false;
  TraceHeaderCollector collector(config_);
  Props props;
  if (level == 5) {
    const Read res = ReadProperties(r, dry_run ? nullptr : &collector, &props);
    if (res == Read::kBad || (res == Read::kShort && p.complete)) return false;
  }
  const bool has_client_id = ReadString(r, &client_id);
  if (!has_client_id && p.complete) return false;
  if (has_client_id && !IsText(client_id)) return false;
  if (p.complete) {
    if (will) {
      if (level == 5 && ReadProperties(r, nullptr, &props) != Read::kOk) return false;
      if (!ReadString(r, &s) || !IsText(s) || !ReadString(r, &s)) return false;
    }
    if (user_name && !ReadString(r, &s)) return false;
    if (password && !ReadString(r, &s)) return false;
    if (!r.empty()) return false;
  }
  if (dry_run) return true;
  level_ = level;
  client_id_ = Bounded(client_id);
  out->is_request = true;
  out->request_type = "CONNECT";
  out->version = std::string(VersionName(level));
  out->request_domain = client_id_;
  collector.Finish(&out->trace);
  return true;
}

// §3.3: topic name, packet identifier (QoS 1 and 2), [properties], payload.
bool MqttParser::ParsePublish(const Packet& p, bool dry_run, L7Message* out) {
  const int qos = (p.flags >> 1) & 3;
  ByteReader r(p.body);
  uint16_t topic_len;
  std::string_view topic;
  if (!r.U16Be(&topic_len)) return false;  // within the fixed minimum
  bool topic_cut = false;
  if (!r.Bytes(topic_len, &topic)) {
    if (p.complete) return false;
    topic = r.rest();
    r.Skip(r.remaining());
    topic_cut = true;
  }
  if (!IsText(topic, topic_cut) || HasWildcard(topic)) return false;
  uint16_t packet_id = 0;
  bool has_id = false;
  if (qos > 0 && !topic_cut) {
    if (r.U16Be(&packet_id)) {
      if (packet_id == 0) return false;
      has_id = true;
    } else if (p.complete) {
      return false;
    }
  }
  TraceHeaderCollector collector(config_);
  Props props;
  if (level_ == 5 && !topic_cut && (qos == 0 || has_id)) {
    const Read res = ReadProperties(r, dry_run ? nullptr : &collector, &props);
    if (res == Read::kBad || (res == Read::kShort && p.complete)) return false;
  }
  // An empty topic name is only valid with an MQTT 5 topic alias.
  if (topic_len == 0 && (level_ == 3 || level_ == 4 || (level_ == 5 && !props.has_alias))) {
    return false;
  }
  if (dry_run) return true;
  std::string topic_name = Bounded(topic);
  if (props.has_alias) {
    if (!topic.empty() && !topic_cut) {
      StoreAlias(p.dir, props.alias, topic);
    } else if (topic.empty()) {
      if (const std::string* known = FindAlias(p.dir, props.alias)) topic_name = *known;
    }
  }
  out->is_request = true;
  out->request_type = "PUBLISH";
  out->request_resource = topic_name;
  out->endpoint = topic_name;
  // QoS 0 is fire and forget; so is a QoS 1/2 PUBLISH whose packet id was not seen.
  out->expects_response = has_id;
  if (has_id) {
    out->has_pair_id = true;
    out->pair_id = PairId(qos == 1 ? Exchange::kPubAck : Exchange::kPubRec, p.dir, packet_id);
    out->has_request_id = true;
    out->request_id = packet_id;
  }
  collector.Finish(&out->trace);
  return true;
}

// §3.8 SUBSCRIBE: packet id, [properties], (topic filter, options)+.
// §3.10 UNSUBSCRIBE: packet id, [properties], topic filter+.
bool MqttParser::ParseSubscribe(const Packet& p, int level, bool dry_run, L7Message* out) {
  ByteReader r(p.body);
  uint16_t packet_id;
  if (!r.U16Be(&packet_id) || packet_id == 0) return false;
  Props props;
  if (level == 5) {
    const Read res = ReadProperties(r, nullptr, &props);
    if (res == Read::kBad || (res == Read::kShort && p.complete)) return false;
  }
  std::string resource;
  int filters = 0;
  while (!r.empty()) {
    uint16_t len;
    std::string_view filter;
    bool cut = false;
    if (!r.U16Be(&len)) {
      if (p.complete) return false;
      break;
    }
    if (!r.Bytes(len, &filter)) {
      if (p.complete) return false;
      filter = r.rest();
      r.Skip(r.remaining());
      cut = true;
    }
    if (len == 0 || !IsText(filter, cut)) return false;
    if (p.type == kSubscribe && !cut) {
      uint8_t options;
      if (!r.U8(&options)) {
        if (p.complete) return false;
      } else if (level == 5
                     ? ((options & 0xc0) != 0 || (options & 3) == 3 || ((options >> 4) & 3) == 3)
                     : (options & 0xfc) != 0 || (options & 3) == 3) {
        return false;
      }
    }
    if (!dry_run && filters < kMaxFilters && resource.size() < kMaxResource) {
      if (!resource.empty()) resource += ',';
      AppendUtf8Lossy(&resource,
                      filter.substr(0, kMaxResource - std::min(kMaxResource, resource.size())));
    }
    ++filters;
  }
  if (p.complete && filters == 0) return false;
  if (dry_run) return true;
  out->is_request = true;
  out->request_type = std::string(PacketTypeName(p.type));
  out->request_resource = resource;
  out->endpoint = resource;
  out->has_pair_id = true;
  out->pair_id =
      PairId(p.type == kSubscribe ? Exchange::kSubAck : Exchange::kUnsubAck, p.dir, packet_id);
  out->has_request_id = true;
  out->request_id = packet_id;
  return true;
}

// The short packets: CONNACK (§3.2), PUBACK/PUBREC/PUBREL/PUBCOMP (§3.4-3.7), SUBACK (§3.9),
// UNSUBACK (§3.11), PINGREQ/PINGRESP (§3.12-3.13), DISCONNECT (§3.14), AUTH (§3.15 of 5.0).
bool MqttParser::ParseAck(const Packet& p, bool dry_run, L7Message* out) {
  ByteReader r(p.body);
  const bool v3 = level_ == 3 || level_ == 4;
  Props props;
  auto properties = [&]() {
    const Read res = ReadProperties(r, nullptr, &props);
    return res == Read::kOk || (res == Read::kShort && !p.complete);
  };
  int level = level_;
  out->is_request = false;
  switch (p.type) {
    case kConnack: {
      uint8_t ack_flags, code;
      if (!r.U8(&ack_flags) || !r.U8(&code) || (ack_flags & 0xfe) != 0) return false;
      if (p.remaining > 2) {  // MQTT 5 adds properties
        if (v3 || !properties()) return false;
        level = 5;
      } else if (level == 5) {
        return false;
      }
      if (p.complete && !r.empty()) return false;
      if (!dry_run && client_id_.empty() && !props.assigned_client_id.empty() &&
          IsText(props.assigned_client_id)) {
        client_id_ = Bounded(props.assigned_client_id);
      }
      if (level == 5 || code >= 0x80) {
        SetCode(out, code, StatusOfReasonCode(code), ReasonName(code), props.reason_string);
      } else {
        SetCode(out, code, StatusOfConnackV3(code), ConnackV3Name(code), {});
      }
      break;
    }
    case kPuback:
    case kPubrec:
    case kPubrel:
    case kPubcomp: {
      uint16_t packet_id;
      uint8_t code = 0;
      if (!r.U16Be(&packet_id) || packet_id == 0) return false;
      const bool has_reason = p.remaining > 2;
      if (has_reason) {  // MQTT 5: reason code, then properties when the length says so
        if (v3) return false;
        level = 5;
        if (!r.U8(&code)) return !p.complete;
        if (p.remaining > 3 && !properties()) return false;
      }
      if (p.complete && !r.empty()) return false;
      const Direction initiator = p.type == kPubrel ? p.dir : Opposite(p.dir);
      const Exchange kind = p.type == kPuback   ? Exchange::kPubAck
                            : p.type == kPubrec ? Exchange::kPubRec
                                                : Exchange::kPubComp;
      out->is_request = p.type == kPubrel;
      out->has_pair_id = true;
      out->pair_id = PairId(kind, initiator, packet_id);
      out->has_request_id = true;
      out->request_id = packet_id;
      if (has_reason && !out->is_request) {
        SetCode(out, code, StatusOfReasonCode(code), ReasonName(code), props.reason_string);
      }
      break;
    }
    case kSuback:
    case kUnsuback: {
      uint16_t packet_id;
      if (!r.U16Be(&packet_id) || packet_id == 0) return false;
      // 3.1.1 SUBACK: return codes 0, 1, 2 or 0x80; UNSUBACK: nothing after the packet id.
      // MQTT 5: properties, then one reason code per topic filter.
      bool as_v5 = level == 5;
      if (level == 0) {
        if (p.type == kUnsuback) {
          as_v5 = p.remaining > 2;
        } else {
          bool v3_ok = p.complete;
          for (size_t i = 2; i < p.body.size(); ++i) {
            const auto c = static_cast<uint8_t>(p.body[i]);
            if (c > 2 && c != 0x80) v3_ok = false;
          }
          as_v5 = !v3_ok;
        }
      }
      if (as_v5) {
        if (v3 || !properties()) return false;
        level = 5;
      } else if (p.type == kUnsuback && p.remaining != 2) {
        return false;
      }
      int first_error = -1, first = -1, codes = 0;
      while (!r.empty()) {
        uint8_t c;
        r.U8(&c);
        if (!as_v5 && c > 2 && c != 0x80) return false;
        if (as_v5 && c >= 0x80 && ReasonName(c).empty()) return false;
        if (first < 0) first = c;
        if (c >= 0x80 && first_error < 0) first_error = c;
        ++codes;
      }
      if (p.complete && p.type == kSuback && codes == 0) return false;
      out->has_pair_id = true;
      out->pair_id = PairId(p.type == kSuback ? Exchange::kSubAck : Exchange::kUnsubAck,
                            Opposite(p.dir), packet_id);
      out->has_request_id = true;
      out->request_id = packet_id;
      if (first_error >= 0) {
        // 3.1.1's only failure code 0x80 is unspecified: like MQTT 5's 0x80, a server error.
        SetCode(out, first_error, StatusOfReasonCode(first_error), ReasonName(first_error),
                props.reason_string);
      } else if (first >= 0) {
        SetCode(out, first, L7ResponseStatus::kOk, {}, {});
      }
      break;
    }
    case kPingreq:
      out->is_request = true;
      break;
    case kPingresp:
      break;
    case kDisconnect: {
      // One-way, from the client (or, in MQTT 5, from either side).
      out->is_request = true;
      out->expects_response = false;
      if (p.remaining > 0) {
        uint8_t code;
        if (v3 || !r.U8(&code)) return false;
        level = 5;
        if (p.remaining > 1 && !properties()) return false;
        if (p.complete && !r.empty()) return false;
        if (!dry_run && code != 0)
          out->attributes.emplace_back("reason_code", std::to_string(code));
      }
      break;
    }
    case kAuth: {
      // MQTT 5 only. The client sends AUTH (a request); the server answers a CONNECT or an
      // AUTH with AUTH (continue authentication).
      if (v3) return false;
      level = 5;
      uint8_t code = 0;
      if (p.remaining > 0) {
        if (!r.U8(&code)) return false;
        if (code != 0x00 && code != 0x18 && code != 0x19) return false;
        if (p.remaining > 1 && !properties()) return false;
        if (p.complete && !r.empty()) return false;
      }
      out->is_request = p.dir == Direction::kClientToServer;
      if (!out->is_request) SetCode(out, code, L7ResponseStatus::kOk, {}, {});
      break;
    }
    default:
      return false;
  }
  if (dry_run) return true;
  level_ = level;
  out->request_type = std::string(PacketTypeName(p.type));
  return true;
}

bool MqttParser::ParseBody(const Packet& p, bool dry_run, L7Message* out) {
  switch (p.type) {
    case kConnect:
      return ParseConnect(p, dry_run, out);
    case kPublish:
      return ParsePublish(p, dry_run, out);
    case kSubscribe:
    case kUnsubscribe: {
      // Before the level is known, a packet that only parses as MQTT 5 reveals it.
      if (level_ != 0) return ParseSubscribe(p, level_, dry_run, out);
      if (ParseSubscribe(p, 4, dry_run, out)) return true;
      if (!ParseSubscribe(p, 5, dry_run, out)) return false;
      if (!dry_run) level_ = 5;
      return true;
    }
    default:
      return ParseAck(p, dry_run, out);
  }
}

ParseResult MqttParser::Parse(const ParseInput& in, L7Message* out) {
  if (in.is_udp) return ParseResult::Invalid();
  FixedHeader h;
  switch (ReadFixedHeader(in.data, &h)) {
    case Read::kBad:
      return ParseResult::Invalid();
    case Read::kShort:
      return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
    case Read::kOk:
      break;
  }
  const uint64_t total = h.header_len + uint64_t{h.remaining};
  const bool complete = in.data.size() >= total;
  if (!complete && !in.at_limit) return ParseResult::NeedMore();
  const size_t end = complete ? static_cast<size_t>(total) : in.data.size();
  Packet p;
  p.type = h.type;
  p.flags = h.flags;
  p.remaining = h.remaining;
  p.body = in.data.substr(h.header_len, end - h.header_len);
  p.complete = complete;
  p.dir = in.dir;
  if (!ParseBody(p, false, out)) return ParseResult::Invalid();
  out->protocol = L7Protocol::kMqtt;
  if (out->version.empty()) out->version = std::string(VersionName(level_));
  if (out->is_request && out->request_domain.empty()) out->request_domain = client_id_;
  if (!out->is_request && !out->has_code) out->status = L7ResponseStatus::kOk;
  out->length = h.remaining;
  return ParseResult::Ok(static_cast<uint32_t>(end), total - end);
}

size_t MqttParser::FindBoundary(Direction dir, std::string_view data) {
  for (size_t i = 0; i < data.size(); ++i) {
    // Validating more than what Parse() would be shown would make the scan quadratic.
    std::string_view d = data.substr(i, kBoundaryWindow);
    FixedHeader h;
    const Read res = ReadFixedHeader(d, &h);
    if (res == Read::kBad) continue;
    if (res == Read::kShort) return i;
    const uint64_t total = h.header_len + uint64_t{h.remaining};
    Packet p;
    p.type = h.type;
    p.flags = h.flags;
    p.remaining = h.remaining;
    p.complete = d.size() >= total;
    p.body = d.substr(h.header_len, p.complete ? h.remaining : d.size() - h.header_len);
    p.dir = dir;
    L7Message scratch;
    if (!ParseBody(p, true, &scratch)) continue;
    // Two-byte packets (PINGREQ, PINGRESP, DISCONNECT, ...) are easily found in garbage: ask
    // for a plausible packet after them when there is more data.
    if (h.remaining == 0 && p.complete && d.size() > total) {
      FixedHeader next;
      if (ReadFixedHeader(d.substr(static_cast<size_t>(total)), &next) == Read::kBad) continue;
    }
    return i;
  }
  return data.size();
}

namespace {

// A client's CONNECT (what DeepFlow accepts), and on the MQTT port also a payload made of
// whole, valid packets, so that connections that were open before the capture began (MQTT
// connections live for hours) are recognised too.
InferResult Infer(const InferInput& in) {
  if (in.is_udp) return InferResult::kNo;
  static const L7Config kDefaults;
  MqttParser probe(kDefaults);
  FixedHeader h;
  if (ReadFixedHeader(in.data, &h) != Read::kOk) return InferResult::kNo;
  if (h.type == kConnect) {
    if (in.dir != Direction::kClientToServer) return InferResult::kNo;
    const uint64_t total = h.header_len + uint64_t{h.remaining};
    const bool complete = in.data.size() >= total;
    // Protocol name, level, flags and keep alive at least.
    if (!complete && in.data.size() < h.header_len + 10) return InferResult::kNo;
    L7Message scratch;
    ParseResult r = probe.Parse(ParseInput{in.dir, in.data, /*at_limit=*/true, false}, &scratch);
    return r.state == ParseState::kOk ? InferResult::kYes : InferResult::kNo;
  }
  if (in.server_port != kDefaultPort) return InferResult::kNo;
  std::string_view d = in.data;
  int packets = 0;
  while (!d.empty()) {
    if (ReadFixedHeader(d, &h) != Read::kOk) return InferResult::kNo;
    const uint64_t total = h.header_len + uint64_t{h.remaining};
    if (d.size() < total) return InferResult::kNo;
    L7Message scratch;
    ParseResult r = probe.Parse(ParseInput{in.dir, d.substr(0, static_cast<size_t>(total)),
                                           /*at_limit=*/false, false},
                                &scratch);
    if (r.state != ParseState::kOk || r.consumed != total) return InferResult::kNo;
    d.remove_prefix(static_cast<size_t>(total));
    ++packets;
  }
  return packets > 0 ? InferResult::kYes : InferResult::kNo;
}

std::unique_ptr<Parser> MakeParser(const L7Config& config) {
  return std::make_unique<MqttParser>(config);
}

}  // namespace

const ProtocolSpec kSpec = {
    L7Protocol::kMqtt, "mqtt", /*over_tcp=*/true, /*over_udp=*/false,
    {kDefaultPort},    Infer,  MakeParser,
};

}  // namespace flowscope::agent::l7::mqtt
