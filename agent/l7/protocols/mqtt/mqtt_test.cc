#include "agent/l7/protocols/mqtt/mqtt.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "agent/l7/testing/engine_like_feeder.h"
#include "agent/l7/testing/facts.h"
#include "agent/l7/testing/pcap_connections.h"

namespace flowscope::agent::l7::mqtt {
namespace {

using namespace std::string_literals;

constexpr Direction kC2S = Direction::kClientToServer;
constexpr Direction kS2C = Direction::kServerToClient;

// Builds MQTT encodings (§1.5 data representation of 3.1.1 and 5.0).
class Buf {
 public:
  Buf& U8(int v) {
    s_.push_back(static_cast<char>(v));
    return *this;
  }
  Buf& U16(int v) {
    U8((v >> 8) & 0xff);
    return U8(v & 0xff);
  }
  Buf& U32(uint32_t v) {
    U16(static_cast<int>(v >> 16));
    return U16(static_cast<int>(v & 0xffff));
  }
  Buf& Raw(std::string_view v) {
    s_.append(v);
    return *this;
  }
  Buf& Str(std::string_view v) {
    U16(static_cast<int>(v.size()));
    return Raw(v);
  }
  Buf& Var(uint32_t v) {
    do {
      uint8_t b = v & 0x7f;
      v >>= 7;
      if (v != 0) b |= 0x80;
      U8(b);
    } while (v != 0);
    return *this;
  }
  // Properties: a length, then the already encoded properties.
  Buf& Props(const std::string& encoded) {
    Var(static_cast<uint32_t>(encoded.size()));
    return Raw(encoded);
  }
  const std::string& str() const { return s_; }

 private:
  std::string s_;
};

std::string Packet(int first_byte, const std::string& body) {
  return Buf().U8(first_byte).Var(static_cast<uint32_t>(body.size())).Raw(body).str();
}

std::string Connect(int level, std::string_view client_id, const std::string& props = "",
                    int flags = 0x02) {
  Buf b;
  b.Str(level == 3 ? "MQIsdp" : "MQTT").U8(level).U8(flags).U16(60);
  if (level == 5) b.Props(props);
  b.Str(client_id);
  return Packet(0x10, b.str());
}

std::string Connack(int code, bool v5 = false, const std::string& props = "") {
  Buf b;
  b.U8(0).U8(code);
  if (v5) b.Props(props);
  return Packet(0x20, b.str());
}

std::string Publish(int qos, std::string_view topic, int id, std::string_view payload,
                    bool v5 = false, const std::string& props = "") {
  Buf b;
  b.Str(topic);
  if (qos > 0) b.U16(id);
  if (v5) b.Props(props);
  b.Raw(payload);
  return Packet(0x30 | (qos << 1), b.str());
}

std::string UserProperty(std::string_view k, std::string_view v) {
  return Buf().U8(0x26).Str(k).Str(v).str();
}

constexpr char kTraceparent[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

ParseResult ParseOne(MqttParser& p, Direction dir, std::string_view data, L7Message* m,
                     bool at_limit = false) {
  return p.Parse(ParseInput{dir, data, at_limit, false}, m);
}

struct Expect {
  Direction dir;
  std::string bytes;
  std::string type;
  bool is_request;
  bool expects_response = true;
  std::string domain = "";
  std::string resource = "";
  bool has_pair_id = false;
  uint64_t pair_id = 0;
  bool has_code = false;
  int code = 0;
  L7ResponseStatus status = L7ResponseStatus::kUnknown;
  std::string exception = "";
  std::string version = "";
};

void RunSession(const std::vector<Expect>& steps, MqttParser* parser = nullptr) {
  L7Config config;
  MqttParser local(config);
  MqttParser& p = parser ? *parser : local;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Expect& e = steps[i];
    SCOPED_TRACE("step " + std::to_string(i) + " " + e.type);
    L7Message m;
    ParseResult r = ParseOne(p, e.dir, e.bytes, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    EXPECT_EQ(r.consumed, e.bytes.size());
    EXPECT_EQ(r.skip, 0u);
    EXPECT_EQ(m.request_type, e.type);
    EXPECT_EQ(m.is_request, e.is_request);
    if (e.is_request) {
      EXPECT_EQ(m.expects_response, e.expects_response);
      EXPECT_EQ(m.request_domain, e.domain);
      EXPECT_EQ(m.request_resource, e.resource);
      EXPECT_EQ(m.endpoint, e.resource);
    }
    EXPECT_EQ(m.has_pair_id, e.has_pair_id);
    if (e.has_pair_id) {
      EXPECT_EQ(m.pair_id, e.pair_id);
    }
    EXPECT_EQ(m.has_code, e.has_code);
    if (e.has_code) {
      EXPECT_EQ(m.code, e.code);
    }
    if (!e.is_request) {
      EXPECT_EQ(m.status, e.has_code ? e.status : L7ResponseStatus::kOk);
      EXPECT_EQ(m.exception, e.exception);
    }
    if (!e.version.empty()) {
      EXPECT_EQ(m.version, e.version);
    }
    EXPECT_EQ(m.length, static_cast<int64_t>(e.bytes.size() - (e.bytes.size() > 129 ? 3 : 2)));
  }
}

// ---- Sessions ----

TEST(MqttTest, V311PublisherAndSubscriber) {
  const std::string id = "fsl7-sub";
  RunSession({
      {kC2S, Connect(4, id), "CONNECT", true, true, id, "", false, 0, false, 0,
       L7ResponseStatus::kUnknown, "", "3.1.1"},
      {kS2C, Connack(0), "CONNACK", false, true, "", "", false, 0, true, 0, L7ResponseStatus::kOk,
       "", "3.1.1"},
      {kC2S, Packet(0x82, Buf().U16(1).Str("fs/#").U8(2).Str("a/+").U8(1).str()), "SUBSCRIBE", true,
       true, id, "fs/#,a/+", true, PairId(Exchange::kSubAck, kC2S, 1)},
      {kS2C, Packet(0x90, Buf().U16(1).U8(2).U8(1).str()), "SUBACK", false, true, "", "", true,
       PairId(Exchange::kSubAck, kC2S, 1), true, 2, L7ResponseStatus::kOk},
      {kC2S, Packet(0xa2, Buf().U16(2).Str("fs/old").str()), "UNSUBSCRIBE", true, true, id,
       "fs/old", true, PairId(Exchange::kUnsubAck, kC2S, 2)},
      {kS2C, Packet(0xb0, Buf().U16(2).str()), "UNSUBACK", false, true, "", "", true,
       PairId(Exchange::kUnsubAck, kC2S, 2)},
      {kC2S, "\xc0\x00"s, "PINGREQ", true, true, id},
      {kS2C, "\xd0\x00"s, "PINGRESP", false},
      // Client publishes: QoS 0 (one-way), QoS 1 -> PUBACK, QoS 2 -> PUBREC, PUBREL -> PUBCOMP.
      {kC2S, Publish(0, "fs/q0", 0, "m0"), "PUBLISH", true, false, id, "fs/q0"},
      {kC2S, Publish(1, "fs/q1", 7, "m1"), "PUBLISH", true, true, id, "fs/q1", true,
       PairId(Exchange::kPubAck, kC2S, 7)},
      {kS2C, Packet(0x40, Buf().U16(7).str()), "PUBACK", false, true, "", "", true,
       PairId(Exchange::kPubAck, kC2S, 7)},
      {kC2S, Publish(2, "fs/q2", 8, "m2"), "PUBLISH", true, true, id, "fs/q2", true,
       PairId(Exchange::kPubRec, kC2S, 8)},
      {kS2C, Packet(0x50, Buf().U16(8).str()), "PUBREC", false, true, "", "", true,
       PairId(Exchange::kPubRec, kC2S, 8)},
      {kC2S, Packet(0x62, Buf().U16(8).str()), "PUBREL", true, true, id, "", true,
       PairId(Exchange::kPubComp, kC2S, 8)},
      {kS2C, Packet(0x70, Buf().U16(8).str()), "PUBCOMP", false, true, "", "", true,
       PairId(Exchange::kPubComp, kC2S, 8)},
      // The broker publishes to the subscriber: requests from the server side, answered by the
      // client; the same packet id 7 stays apart from the client's own PUBLISH 7.
      {kS2C, Publish(1, "fs/q1", 7, "m1"), "PUBLISH", true, true, id, "fs/q1", true,
       PairId(Exchange::kPubAck, kS2C, 7)},
      {kC2S, Packet(0x40, Buf().U16(7).str()), "PUBACK", false, true, "", "", true,
       PairId(Exchange::kPubAck, kS2C, 7)},
      {kS2C, Publish(2, "fs/q2", 9, "m2"), "PUBLISH", true, true, id, "fs/q2", true,
       PairId(Exchange::kPubRec, kS2C, 9)},
      {kC2S, Packet(0x50, Buf().U16(9).str()), "PUBREC", false, true, "", "", true,
       PairId(Exchange::kPubRec, kS2C, 9)},
      {kS2C, Packet(0x62, Buf().U16(9).str()), "PUBREL", true, true, id, "", true,
       PairId(Exchange::kPubComp, kS2C, 9)},
      {kC2S, Packet(0x70, Buf().U16(9).str()), "PUBCOMP", false, true, "", "", true,
       PairId(Exchange::kPubComp, kS2C, 9)},
      {kC2S, "\xe0\x00"s, "DISCONNECT", true, false, id},
  });
  EXPECT_NE(PairId(Exchange::kPubAck, kC2S, 7), PairId(Exchange::kPubAck, kS2C, 7));
  EXPECT_NE(PairId(Exchange::kPubAck, kC2S, 7), PairId(Exchange::kPubRec, kC2S, 7));
}

// MQTT strings must be UTF-8, but what a broken client sends still reaches rows valid: an
// overlong '/' (3 bytes) and a surrogate become U+FFFD (text.h).
TEST(MqttTest, IllFormedUtf8InTopicsBecomesReplacementCharacters) {
  const std::string id = "c1";
  const std::string r = "\xEF\xBF\xBD";
  RunSession({
      {kC2S, Connect(4, id), "CONNECT", true, true, id, "", false, 0, false, 0,
       L7ResponseStatus::kUnknown, "", "3.1.1"},
      {kC2S, Publish(0, "fs\xE0\x80\xAFq", 0, "m0"), "PUBLISH", true, false, id,
       "fs" + r + r + r + "q"},
      {kC2S, Packet(0x82, Buf().U16(1).Str("a\xED\xA0\x80/#").U8(1).str()), "SUBSCRIBE", true, true,
       id, "a" + r + r + r + "/#", true, PairId(Exchange::kSubAck, kC2S, 1)},
  });
}

TEST(MqttTest, V31ConnectAndRefusals) {
  L7Config config;
  MqttParser p(config);
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S, Connect(3, "old-client"), &m).state, ParseState::kOk);
  EXPECT_EQ(m.version, "3.1");
  EXPECT_EQ(m.request_domain, "old-client");
  EXPECT_EQ(p.protocol_level(), 3);
  const std::vector<std::tuple<int, L7ResponseStatus, std::string>> cases = {
      {0, L7ResponseStatus::kOk, ""},
      {1, L7ResponseStatus::kClientError, "Connection Refused, unacceptable protocol version"},
      {2, L7ResponseStatus::kClientError, "Connection Refused, identifier rejected"},
      {3, L7ResponseStatus::kServerError, "Connection Refused, Server unavailable"},
      {4, L7ResponseStatus::kClientError, "Connection Refused, bad user name or password"},
      {5, L7ResponseStatus::kClientError, "Connection Refused, not authorized"},
  };
  for (const auto& [code, status, exception] : cases) {
    L7Message r;
    ASSERT_EQ(ParseOne(p, kS2C, Connack(code), &r).state, ParseState::kOk);
    EXPECT_EQ(r.code, code);
    EXPECT_EQ(r.status, status) << code;
    EXPECT_EQ(r.exception, exception);
    EXPECT_EQ(r.version, "3.1");
  }
}

TEST(MqttTest, V5PropertiesReasonCodesAndTrace) {
  const std::string id = "fsl7-pub1-mqttv5";
  const std::string connect_props =
      Buf().U8(0x11).U32(3600).U8(0x21).U16(20).Raw(UserProperty("app", "x")).str();
  const std::string publish_props = Buf()
                                        .U8(0x01)
                                        .U8(1)
                                        .U8(0x02)
                                        .U32(60)
                                        .U8(0x03)
                                        .Str("text/plain")
                                        .Raw(UserProperty("traceparent", kTraceparent))
                                        .U8(0x0b)
                                        .Var(300)
                                        .str();
  RunSession({
      {kC2S, Connect(5, id, connect_props), "CONNECT", true, true, id, "", false, 0, false, 0,
       L7ResponseStatus::kUnknown, "", "5.0"},
      {kS2C, Connack(0, true, Buf().U8(0x22).U16(10).U8(0x24).U8(1).str()), "CONNACK", false, true,
       "", "", false, 0, true, 0, L7ResponseStatus::kOk, "", "5.0"},
      {kC2S, Publish(1, "fs/q1", 1, "hello", true, publish_props), "PUBLISH", true, true, id,
       "fs/q1", true, PairId(Exchange::kPubAck, kC2S, 1)},
      // PUBACK with reason 16 "No matching subscribers": not an error.
      {kS2C, Packet(0x40, Buf().U16(1).U8(0x10).str()), "PUBACK", false, true, "", "", true,
       PairId(Exchange::kPubAck, kC2S, 1), true, 16, L7ResponseStatus::kOk},
      {kC2S, Publish(1, "fs/denied", 2, "x", true), "PUBLISH", true, true, id, "fs/denied", true,
       PairId(Exchange::kPubAck, kC2S, 2)},
      {kS2C,
       Packet(0x40, Buf().U16(2).U8(0x87).Props(Buf().U8(0x1f).Str("acl says no").str()).str()),
       "PUBACK", false, true, "", "", true, PairId(Exchange::kPubAck, kC2S, 2), true, 0x87,
       L7ResponseStatus::kClientError, "acl says no"},
      {kC2S,
       Packet(0x82, Buf().U16(3).Props(Buf().U8(0x0b).Var(5).str()).Str("fs/#").U8(0x2e).str()),
       "SUBSCRIBE", true, true, id, "fs/#", true, PairId(Exchange::kSubAck, kC2S, 3)},
      {kS2C, Packet(0x90, Buf().U16(3).Props("").U8(0x97).str()), "SUBACK", false, true, "", "",
       true, PairId(Exchange::kSubAck, kC2S, 3), true, 0x97, L7ResponseStatus::kClientError,
       "Quota exceeded"},
      {kC2S, Packet(0xa2, Buf().U16(4).Props("").Str("fs/old").str()), "UNSUBSCRIBE", true, true,
       id, "fs/old", true, PairId(Exchange::kUnsubAck, kC2S, 4)},
      {kS2C, Packet(0xb0, Buf().U16(4).Props("").U8(0x11).str()), "UNSUBACK", false, true, "", "",
       true, PairId(Exchange::kUnsubAck, kC2S, 4), true, 0x11, L7ResponseStatus::kOk},
      {kC2S, Packet(0xf0, Buf().U8(0x19).Props(Buf().U8(0x15).Str("SCRAM-SHA-1").str()).str()),
       "AUTH", true, true, id},
      {kS2C, Packet(0xf0, Buf().U8(0x18).Props("").str()), "AUTH", false, true, "", "", false, 0,
       true, 0x18, L7ResponseStatus::kOk},
      // The server disconnects with a reason (MQTT 5): one-way.
      {kS2C, Packet(0xe0, Buf().U8(0x8e).Props("").str()), "DISCONNECT", true, false, id},
  });
  L7Config config;
  MqttParser p(config);
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S, Connect(5, id), &m).state, ParseState::kOk);
  ASSERT_EQ(ParseOne(p, kC2S, Publish(1, "t", 1, "x", true, publish_props), &m).state,
            ParseState::kOk);
  EXPECT_EQ(m.trace.trace_id, "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(m.trace.span_id, "b7ad6b7169203331");
  L7Message d;
  ASSERT_EQ(ParseOne(p, kS2C, Packet(0xe0, Buf().U8(0x8e).Props("").str()), &d).state,
            ParseState::kOk);
  ASSERT_EQ(d.attributes.size(), 1u);
  EXPECT_EQ(d.attributes[0], (std::pair<std::string, std::string>("reason_code", "142")));
}

TEST(MqttTest, V5ConnackRefusedAndTopicAlias) {
  L7Config config;
  MqttParser p(config);
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S, Connect(5, "c"), &m).state, ParseState::kOk);
  L7Message r;
  ASSERT_EQ(ParseOne(p, kS2C, Connack(0x87, true), &r).state, ParseState::kOk);
  EXPECT_EQ(r.code, 0x87);
  EXPECT_EQ(r.status, L7ResponseStatus::kClientError);
  EXPECT_EQ(r.exception, "Not authorized");
  ASSERT_EQ(ParseOne(p, kS2C, Connack(0x89, true), &r).state, ParseState::kOk);
  EXPECT_EQ(r.status, L7ResponseStatus::kServerError);
  EXPECT_EQ(r.exception, "Server busy");
  // A CONNECT without client id: the broker's Assigned Client Identifier names the flow.
  MqttParser anon(config);
  ASSERT_EQ(ParseOne(anon, kC2S, Connect(5, ""), &m).state, ParseState::kOk);
  EXPECT_EQ(m.request_domain, "");
  ASSERT_EQ(ParseOne(anon, kS2C, Connack(0, true, Buf().U8(0x12).Str("auto-1F2E").str()), &r).state,
            ParseState::kOk);
  L7Message ping;
  ASSERT_EQ(ParseOne(anon, kC2S, "\xc0\x00"s, &ping).state, ParseState::kOk);
  EXPECT_EQ(ping.request_domain, "auto-1F2E");
  // Topic alias: set with a topic, then used with an empty topic; per direction.
  const std::string alias = Buf().U8(0x23).U16(3).str();
  L7Message a, b, c;
  ASSERT_EQ(ParseOne(p, kC2S, Publish(0, "sensors/t1", 0, "1", true, alias), &a).state,
            ParseState::kOk);
  ASSERT_EQ(ParseOne(p, kC2S, Publish(0, "", 0, "2", true, alias), &b).state, ParseState::kOk);
  EXPECT_EQ(b.request_resource, "sensors/t1");
  ASSERT_EQ(ParseOne(p, kS2C, Publish(0, "", 0, "3", true, alias), &c).state, ParseState::kOk);
  EXPECT_EQ(c.request_resource, "");
}

TEST(MqttTest, LevelRevealedWithoutConnect) {
  // A flow picked up after its CONNECT: MQTT 5 shows in packets 3.1.1 cannot have.
  L7Config config;
  MqttParser p(config);
  L7Message m;
  ASSERT_EQ(ParseOne(p, kS2C, Packet(0x40, Buf().U16(5).U8(0x10).Props("").str()), &m).state,
            ParseState::kOk);
  EXPECT_EQ(p.protocol_level(), 5);
  EXPECT_EQ(m.version, "5.0");
  MqttParser q(config);
  ASSERT_EQ(
      ParseOne(q, kC2S, Packet(0x82, Buf().U16(3).Props("").Str("a/#").U8(1).str()), &m).state,
      ParseState::kOk);
  EXPECT_EQ(q.protocol_level(), 5);
  EXPECT_EQ(m.request_resource, "a/#");
  MqttParser v3(config);
  ASSERT_EQ(ParseOne(v3, kC2S, Packet(0x82, Buf().U16(3).Str("a/#").U8(1).str()), &m).state,
            ParseState::kOk);
  EXPECT_EQ(v3.protocol_level(), 0);
  EXPECT_EQ(m.request_resource, "a/#");
  // Once the level is known to be 3.1.1, MQTT 5 shapes are malformed.
  MqttParser known(config);
  ASSERT_EQ(ParseOne(known, kC2S, Connect(4, "c"), &m).state, ParseState::kOk);
  EXPECT_EQ(ParseOne(known, kS2C, Packet(0x40, Buf().U16(5).U8(0x10).str()), &m).state,
            ParseState::kInvalid);
  EXPECT_EQ(ParseOne(known, kS2C, Packet(0xf0, ""), &m).state, ParseState::kInvalid);
}

TEST(MqttTest, PipelinedPacketsOneAtATime) {
  L7Config config;
  MqttParser p(config);
  const std::vector<std::string> packets = {Connect(4, "c"), Publish(0, "a", 0, "x"),
                                            Publish(1, "b", 1, std::string(300, 'y')), "\xc0\x00"s,
                                            "\xe0\x00"s};
  std::string all;
  for (const auto& s : packets) all += s;
  std::string_view rest = all;
  for (const auto& s : packets) {
    L7Message m;
    ParseResult r = ParseOne(p, kC2S, rest, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    EXPECT_EQ(r.consumed, s.size());
    rest.remove_prefix(r.consumed);
  }
  EXPECT_TRUE(rest.empty());
}

// ---- Truncation, garbage, adversarial lengths ----

TEST(MqttTest, EveryTruncationNeedsMoreOrIsCutAtLimit) {
  const std::vector<std::string> packets = {
      Connect(4, "client-1"),
      Connect(5, "c5", UserProperty("k", "v")),
      Publish(1, "fs/q1", 3, std::string(50, 'p')),
      Publish(2, "t", 4, "x", true, UserProperty("traceparent", kTraceparent)),
      Packet(0x82, Buf().U16(1).Str("fs/#").U8(2).str()),
      Connack(0),
      "\xc0\x00"s};
  for (const std::string& msg : packets) {
    for (size_t n = 0; n < msg.size(); ++n) {
      L7Config config;
      MqttParser p(config);
      L7Message m;
      const std::string_view part = std::string_view(msg).substr(0, n);
      EXPECT_EQ(ParseOne(p, kC2S, part, &m).state, ParseState::kNeedMore) << n;
      ParseResult r = ParseOne(p, kC2S, part, &m, /*at_limit=*/true);
      if (r.state == ParseState::kOk) {
        EXPECT_EQ(r.consumed, n);
        EXPECT_EQ(r.consumed + r.skip, msg.size());
      } else {
        EXPECT_EQ(r.state, ParseState::kInvalid);
      }
    }
  }
  // A big PUBLISH cut at the parse bound: topic kept, the payload skipped.
  L7Config config;
  MqttParser p(config);
  const std::string big = Publish(1, "fs/big", 9, std::string(100000, 'z'));
  L7Message m;
  ParseResult r = ParseOne(p, kC2S, std::string_view(big).substr(0, 1024), &m, true);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, 1024u);
  EXPECT_EQ(r.skip, big.size() - 1024);
  EXPECT_EQ(m.request_resource, "fs/big");
  EXPECT_EQ(m.pair_id, PairId(Exchange::kPubAck, kC2S, 9));
  EXPECT_EQ(m.length, 100000 + 2 + 6 + 2);
}

TEST(MqttTest, GarbageAndMalformedPacketsAreInvalid) {
  L7Config config;
  MqttParser p(config);
  const std::vector<std::string> bad = {
      "GET / HTTP/1.1\r\n\r\n",
      "\x00\x00"s,                   // reserved type 0
      "\x36\x02\x00\x00"s,           // PUBLISH QoS 3
      "\x38\x03\x00\x01x"s,          // DUP with QoS 0
      "\x80\x05\x00\x01\x00\x01x"s,  // SUBSCRIBE without its 0b0010 flags
      "\xc0\x01\x00"s,               // PINGREQ with a body
      "\x30\xff\xff\xff\xff\x01"s,   // five length bytes
      "\x30\x80\x00"s,               // length not in its shortest form
      Packet(0x10, Buf().Str("HTTP").U8(4).U8(2).U16(60).Str("c").str()),  // protocol name
      Packet(0x10, Buf().Str("MQTT").U8(9).U8(2).U16(60).Str("c").str()),  // level
      Packet(0x10, Buf().Str("MQTT").U8(4).U8(3).U16(60).Str("c").str()),  // reserved flag
      Connect(4, "bad\x01id"),                                             // control char
      Packet(0x10, Buf().Str("MQTT").U8(4).U8(2).U16(60).Str("c").Raw("junk").str()),
      Publish(0, "a/+/b", 0, "x"),                      // wildcard in a topic name
      Publish(1, "a", 0, "x"),                          // packet id 0
      Packet(0x30, Buf().U16(500).Raw("short").str()),  // topic longer than the packet
      Packet(0x30, Buf().Str("\xff\xfe").str()),        // not UTF-8
      Packet(0x82, Buf().U16(1).Str("a").U8(3).str()),  // QoS 3 requested
      Packet(0x82, Buf().U16(1).str()),                 // no filter
      Packet(0x90, Buf().U16(1).str()),                 // SUBACK without codes
      Packet(0x20, Buf().U8(2).U8(0).str()),            // CONNACK reserved flags
  };
  for (const std::string& b : bad) {
    L7Message m;
    EXPECT_EQ(ParseOne(p, kC2S, b, &m).state, ParseState::kInvalid) << testing::PrintToString(b);
  }
  // Lying property lengths and huge string lengths in MQTT 5.
  MqttParser v5(config);
  L7Message m;
  ASSERT_EQ(ParseOne(v5, kC2S, Connect(5, "c"), &m).state, ParseState::kOk);
  EXPECT_EQ(ParseOne(v5, kC2S, Packet(0x32, Buf().Str("t").U16(1).Var(1000).str()), &m).state,
            ParseState::kInvalid);
  EXPECT_EQ(
      ParseOne(v5, kC2S,
               Packet(0x32, Buf().Str("t").U16(1).Props(Buf().U8(0x26).U16(60000).str()).str()), &m)
          .state,
      ParseState::kInvalid);
  EXPECT_EQ(ParseOne(v5, kC2S, Packet(0x32, Buf().Str("t").U16(1).Props("\x7f").str()), &m).state,
            ParseState::kInvalid);  // unknown property
}

TEST(MqttTest, ManyFiltersKeepTheResourceBounded) {
  L7Config config;
  MqttParser p(config);
  Buf b;
  b.U16(1);
  for (int i = 0; i < 200; ++i) b.Str(std::string(40, static_cast<char>('a' + i % 26))).U8(0);
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S, Packet(0x82, b.str()), &m).state, ParseState::kOk);
  EXPECT_LE(m.request_resource.size(), 512u + 40);
  L7Message c;
  ASSERT_EQ(ParseOne(p, kC2S, Connect(4, std::string(5000, 'x')), &c).state, ParseState::kOk);
  EXPECT_EQ(c.request_domain.size(), 256u);
}

TEST(MqttTest, FindBoundary) {
  L7Config config;
  MqttParser p(config);
  const std::string pub = Publish(1, "fs/q1", 1, "hello");
  const std::string garbage = "\x00\x00\xff\x01garbage\xff"s;
  EXPECT_EQ(p.FindBoundary(kC2S, garbage + pub), garbage.size());
  EXPECT_EQ(p.FindBoundary(kC2S, "\x00\x00\x00\x00"s), 4u);
  // A lone two-byte packet followed by garbage is not trusted.
  EXPECT_EQ(p.FindBoundary(kC2S, "\x00\xc0\x00\x00\x00"s), 5u);
  EXPECT_EQ(p.FindBoundary(kC2S, "\x00\xc0\x00"s + pub), 1u);
}

TEST(MqttTest, StatusMapping) {
  EXPECT_EQ(StatusOfReasonCode(0x00), L7ResponseStatus::kOk);
  EXPECT_EQ(StatusOfReasonCode(0x10), L7ResponseStatus::kOk);
  EXPECT_EQ(StatusOfReasonCode(0x80), L7ResponseStatus::kServerError);
  EXPECT_EQ(StatusOfReasonCode(0x81), L7ResponseStatus::kClientError);
  EXPECT_EQ(StatusOfReasonCode(0x83), L7ResponseStatus::kServerError);
  EXPECT_EQ(StatusOfReasonCode(0x86), L7ResponseStatus::kClientError);
  EXPECT_EQ(StatusOfReasonCode(0x88), L7ResponseStatus::kServerError);
  EXPECT_EQ(StatusOfReasonCode(0x9c), L7ResponseStatus::kServerError);
  EXPECT_EQ(StatusOfConnackV3(3), L7ResponseStatus::kServerError);
  EXPECT_EQ(StatusOfConnackV3(6), L7ResponseStatus::kUnknown);
  EXPECT_EQ(PacketTypeName(15), "AUTH");
  EXPECT_EQ(PacketTypeName(16), "");
}

// ---- Inference ----

bool InferYes(Direction dir, std::string_view data, uint16_t port = 0) {
  return kSpec.infer(InferInput{dir, data, false, port}) == InferResult::kYes;
}

TEST(MqttTest, InferenceAcceptsConnectAndMidFlowPacketsOnTheMqttPort) {
  EXPECT_TRUE(InferYes(kC2S, Connect(4, "fsl7-sub-mqttv311")));
  EXPECT_TRUE(InferYes(kC2S, Connect(3, "x")));
  EXPECT_TRUE(InferYes(kC2S, Connect(5, "x", UserProperty("a", "b"))));
  EXPECT_TRUE(InferYes(kC2S, Connect(4, "") + Publish(0, "a", 0, "b")));
  EXPECT_TRUE(InferYes(kC2S, Connect(4, "x").substr(0, 14)));  // protocol name and level
  EXPECT_FALSE(InferYes(kS2C, Connect(4, "x")));
  EXPECT_FALSE(InferYes(kC2S, Connect(4, "x").substr(0, 8)));
  // Without CONNECT: only on port 1883, and only whole valid packets.
  EXPECT_TRUE(InferYes(kC2S, Publish(1, "fs/q1", 1, "x"), 1883));
  EXPECT_TRUE(InferYes(kS2C, Publish(0, "fs/q1", 0, "x") + "\xd0\x00"s, 1883));
  EXPECT_TRUE(InferYes(kC2S, "\xc0\x00"s, 1883));
  EXPECT_FALSE(InferYes(kC2S, Publish(1, "fs/q1", 1, "x"), 8080));
  EXPECT_FALSE(InferYes(kC2S, Publish(1, "fs/q1", 1, "x").substr(0, 6), 1883));
  EXPECT_FALSE(InferYes(kC2S, "\xc0\x00\x00"s, 1883));
}

TEST(MqttTest, InferenceRejectsOtherProtocolsAndNoise) {
  for (uint16_t port : {0, 1883}) {
    EXPECT_FALSE(InferYes(kC2S, "GET / HTTP/1.1\r\nHost: example\r\n\r\n", port));
    EXPECT_FALSE(InferYes(kC2S, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", port));
    EXPECT_FALSE(InferYes(kC2S, "*1\r\n$4\r\nPING\r\n", port));
    EXPECT_FALSE(InferYes(kC2S, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s, port));
    EXPECT_FALSE(InferYes(kC2S, "\x00\x00\x00\x08\x04\xd2\x16\x2f"s, port));
    EXPECT_FALSE(InferYes(kC2S,
                          "\x00\x00\x00\x17\x00\x12\x00\x03\x00\x00\x00\x01\x00\x07"
                          "rdkafka\x00"s,
                          port));  // Kafka ApiVersions
    EXPECT_FALSE(InferYes(kC2S, "\x80\x00\x00\x03\x00\x00\x00\x00"s, port));
  }
  std::mt19937 rng(5);
  int yes = 0, yes_port = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s(4 + rng() % 60, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    yes += InferYes(kC2S, s);
    yes_port += InferYes(kC2S, s, 1883);
  }
  EXPECT_EQ(yes, 0);
  EXPECT_LE(yes_port, 2);  // whole random packets on the MQTT port are rare, not impossible
}

// ---- Real traffic (testdata/*.pcap, facts from tshark) ----

class MqttPcapTest : public testing::TestWithParam<std::string> {};

TEST_P(MqttPcapTest, AgreesWithTshark) {
  const l7test::Recording rec = l7test::LoadRecording("mqtt", GetParam());
  ASSERT_TRUE(rec.facts.is_object());
  // Parsed messages by (client, first frame, packet type): several packets may share a frame.
  std::map<std::tuple<std::string, uint64_t, std::string>, std::vector<const L7Message*>> found;
  std::vector<std::unique_ptr<l7test::ParsedConnection>> keep;
  const L7Config config;  // parsers keep a reference to it
  for (const auto& [key, conn] : l7test::ReadConnections(rec.pcap, rec.server_ports)) {
    const l7test::Segment* first = conn.First(kC2S);
    if (first != nullptr) {
      EXPECT_TRUE(InferYes(kC2S, first->bytes, conn.server_port)) << key;
    }
    MqttParser parser(config);
    keep.push_back(
        std::make_unique<l7test::ParsedConnection>(l7test::ParseConnection(conn, &parser)));
    EXPECT_EQ(keep.back()->invalid, 0) << key;
    for (size_t i = 0; i < keep.back()->messages.size(); ++i) {
      const L7Message& m = keep.back()->messages[i];
      found[{conn.client, keep.back()->frames[i], m.request_type}].push_back(&m);
    }
  }
  auto take = [&](const std::string& client, uint64_t frame, const std::string& type,
                  bool want_request) -> const L7Message* {
    auto it = found.find({client, frame, type});
    if (it == found.end()) return nullptr;
    for (auto& m : it->second) {
      if (m != nullptr && m->is_request == want_request) {
        const L7Message* taken = m;
        m = nullptr;
        return taken;
      }
    }
    return nullptr;
  };
  static const std::map<int, std::string> kResponseOf = {{1, "CONNACK"},   {3, "PUBACK"},
                                                         {6, "PUBCOMP"},   {8, "SUBACK"},
                                                         {10, "UNSUBACK"}, {12, "PINGRESP"}};
  l7test::Agreement agreement;
  size_t traces = 0;
  for (const auto& fact : rec.facts["records"]) {
    const std::string client = fact["client"];
    const int type = fact["packet_type"];
    const uint64_t frame = fact["request"]["first_frame"];
    const L7Message* req = take(client, frame, std::string(PacketTypeName(type)), true);
    if (req == nullptr) {
      agreement.Add(false);
      ADD_FAILURE() << client << " frame " << frame << ": no " << PacketTypeName(type);
      continue;
    }
    const std::string want_resource = fact["resource"].is_null() ? "" : fact["resource"];
    const int level = fact["version"];
    bool ok = req->request_resource == want_resource &&
              req->version == (level == 3   ? "3.1"
                               : level == 4 ? "3.1.1"
                                            : "5.0") &&
              req->expects_response == !fact["no_response_expected"].get<bool>();
    if (!fact["client_id"].is_null()) ok = ok && req->request_domain == fact["client_id"];
    if (!fact["packet_id"].is_null()) {
      ok = ok && req->has_request_id && req->request_id == fact["packet_id"].get<uint64_t>();
    }
    for (const auto& prop : fact["user_properties"]) {
      if (prop[0] == "traceparent") {
        ++traces;
        ok = ok && req->trace.trace_id == "0af7651916cd43dd8448eb211c80319c";
      }
    }
    if (!fact["response"].is_null()) {
      std::string resp_type =
          type == 3 ? (fact["qos"] == 2 ? "PUBREC" : "PUBACK") : kResponseOf.at(type);
      const L7Message* resp =
          take(client, fact["response"]["first_frame"].get<uint64_t>(), resp_type, false);
      if (resp == nullptr) {
        ok = false;
      } else {
        // The engine pairs by pair id when both have one, in order otherwise.
        ok = ok && req->has_pair_id == resp->has_pair_id &&
             (!req->has_pair_id || req->pair_id == resp->pair_id);
        if (fact["status"].is_null()) {
          ok = ok && (!resp->has_code || resp->code == 0);
        } else {
          ok = ok && resp->has_code && resp->code == fact["status"].get<int>();
        }
        const bool failed = resp->has_code && resp->status != L7ResponseStatus::kOk;
        ok = ok && failed == fact["error"].get<bool>();
      }
    }
    EXPECT_TRUE(ok) << client << " frame " << frame << ": " << req->request_type << " | "
                    << req->request_resource << " | " << req->request_domain << " vs "
                    << fact["method"] << " " << fact["resource"] << " status " << fact["status"];
    agreement.Add(ok);
  }
  EXPECT_EQ(traces, GetParam() == "mqtt5" ? 2u : 0u);
  agreement.Finish(rec.facts, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Mqtt, MqttPcapTest, testing::Values("mqtt311", "mqtt5"));

}  // namespace
}  // namespace flowscope::agent::l7::mqtt
