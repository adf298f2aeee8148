#include "agent/l7/protocols/dns/dns.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "agent/l7/testing/engine_like_feeder.h"
#include "agent/l7/testing/facts.h"
#include "agent/l7/testing/pcap_connections.h"

namespace flowscope::agent::l7::dns {
namespace {

using namespace std::string_literals;
constexpr Direction kC2S = Direction::kClientToServer;
constexpr Direction kS2C = Direction::kServerToClient;

// ---- Message builders ----

std::string U16(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }
std::string U32(uint32_t v) {
  return U16(static_cast<uint16_t>(v >> 16)) + U16(static_cast<uint16_t>(v));
}

std::string Name(std::string_view dotted) {
  std::string out;
  size_t b = 0;
  while (b < dotted.size()) {
    size_t e = dotted.find('.', b);
    if (e == std::string_view::npos) e = dotted.size();
    out.push_back(static_cast<char>(e - b));
    out.append(dotted.substr(b, e - b));
    b = e + 1;
  }
  out.push_back('\0');
  return out;
}

std::string Header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns,
                   uint16_t ar) {
  return U16(id) + U16(flags) + U16(qd) + U16(an) + U16(ns) + U16(ar);
}

std::string Query(uint16_t id, std::string_view name, uint16_t qtype, uint16_t flags = 0x0100) {
  return Header(id, flags, 1, 0, 0, 0) + Name(name) + U16(qtype) + U16(1);
}

// An answer whose owner is the question's name (pointer to offset 12).
std::string Rr(uint16_t type, uint32_t ttl, const std::string& rdata) {
  return "\xc0\x0c"s + U16(type) + U16(1) + U32(ttl) + U16(static_cast<uint16_t>(rdata.size())) +
         rdata;
}

std::string Response(uint16_t id, std::string_view name, uint16_t qtype, uint8_t rcode,
                     const std::vector<std::string>& answers) {
  std::string m = Header(id, static_cast<uint16_t>(0x8180 | rcode), 1,
                         static_cast<uint16_t>(answers.size()), 0, 0) +
                  Name(name) + U16(qtype) + U16(1);
  for (const auto& a : answers) m += a;
  return m;
}

std::string Tcp(const std::string& msg) { return U16(static_cast<uint16_t>(msg.size())) + msg; }

ParseResult ParseUdp(std::string_view data, L7Message* m, Direction dir = kC2S) {
  DnsParser p{L7Config{}};
  return p.Parse(ParseInput{dir, data, true, true}, m);
}

// ---- Table: one datagram each ----

struct Case {
  std::string name;
  std::string bytes;
  bool is_request;
  std::string type, resource, domain;
  uint16_t id;
  L7ResponseStatus status;
  int code;  // -1: none
  std::string result;
};

class DnsTable : public testing::TestWithParam<Case> {};

TEST_P(DnsTable, Fields) {
  const Case& c = GetParam();
  L7Message m;
  ParseResult r = ParseUdp(c.bytes, &m, c.is_request ? kC2S : kS2C);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, c.bytes.size());
  EXPECT_EQ(r.skip, 0u);
  EXPECT_EQ(m.is_request, c.is_request);
  EXPECT_EQ(m.request_type, c.type);
  EXPECT_EQ(m.request_resource, c.resource);
  EXPECT_EQ(m.endpoint, c.resource);
  EXPECT_EQ(m.request_domain, c.domain);
  EXPECT_TRUE(m.has_pair_id);
  EXPECT_EQ(m.pair_id, c.id);
  EXPECT_TRUE(m.has_request_id);
  EXPECT_EQ(m.request_id, c.id);
  EXPECT_EQ(m.status, c.status);
  EXPECT_EQ(m.has_code, c.code >= 0);
  if (c.code >= 0) {
    EXPECT_EQ(m.code, c.code);
  }
  EXPECT_EQ(m.result, c.result);
  EXPECT_EQ(m.length, static_cast<int64_t>(c.bytes.size()));
  ASSERT_EQ(m.attributes.size(), 1u);
  EXPECT_EQ(m.attributes[0].first, "opcode");
}

const auto kOk = L7ResponseStatus::kOk;
const auto kUnknown = L7ResponseStatus::kUnknown;

INSTANTIATE_TEST_SUITE_P(
    Dns, DnsTable,
    testing::Values(
        Case{"query_a", Query(0xaf8f, "a.fs.test", 1), true, "A", "a.fs.test", "a.fs.test", 0xaf8f,
             kUnknown, -1, ""},
        Case{"query_aaaa", Query(0x3b3c, "a.fs.test", 28), true, "AAAA", "a.fs.test", "a.fs.test",
             0x3b3c, kUnknown, -1, ""},
        Case{"query_mx", Query(7, "fs.test", 15), true, "MX", "fs.test", "", 7, kUnknown, -1, ""},
        Case{"query_https", Query(7, "fs.test", 65), true, "HTTPS", "fs.test", "", 7, kUnknown, -1,
             ""},
        Case{"query_unknown_type", Query(7, "fs.test", 1234), true, "TYPE1234", "fs.test", "", 7,
             kUnknown, -1, ""},
        Case{"query_root", Query(9, "", 2), true, "NS", "", "", 9, kUnknown, -1, ""},
        Case{"resp_a", Response(0xaf8f, "a.fs.test", 1, 0, {Rr(1, 300, "\x7f\x00\x00\x05"s)}),
             false, "A", "a.fs.test", "a.fs.test", 0xaf8f, kOk, 0, "A=127.0.0.5 TTL=300"},
        Case{"resp_aaaa",
             Response(1, "a.fs.test", 28, 0,
                      {Rr(28, 60, "\xfd\x00\0\0\0\0\0\0\0\0\0\0\0\0\0\x05"s)}),
             false, "AAAA", "a.fs.test", "a.fs.test", 1, kOk, 0, "AAAA=fd00::5 TTL=60"},
        Case{"resp_cname_a",
             Response(2, "www.fs.test", 1, 0,
                      {Rr(5, 10, Name("a.fs.test")), Rr(1, 20, "\x0a\x00\x00\x01"s)}),
             false, "A", "www.fs.test", "www.fs.test", 2, kOk, 0,
             "CNAME=a.fs.test TTL=10;A=10.0.0.1 TTL=20"},
        Case{"resp_mx", Response(3, "fs.test", 15, 0, {Rr(15, 5, U16(10) + "\x04mail\xc0\x0c"s)}),
             false, "MX", "fs.test", "", 3, kOk, 0, "MX=10 mail.fs.test TTL=5"},
        Case{"resp_txt", Response(4, "txt.fs.test", 16, 0, {Rr(16, 0, "\x0bv=spf1 -all"s)}), false,
             "TXT", "txt.fs.test", "", 4, kOk, 0, "TXT=v=spf1 -all TTL=0"},
        Case{"resp_srv",
             Response(5, "_http._tcp.fs.test", 33, 0,
                      {Rr(33, 1, U16(0) + U16(5) + U16(8080) + Name("web.fs.test"))}),
             false, "SRV", "_http._tcp.fs.test", "", 5, kOk, 0, "SRV=0 5 8080 web.fs.test TTL=1"},
        Case{"resp_ptr",
             Response(6, "5.0.0.127.in-addr.arpa", 12, 0, {Rr(12, 1, Name("a.fs.test"))}), false,
             "PTR", "5.0.0.127.in-addr.arpa", "", 6, kOk, 0, "PTR=a.fs.test TTL=1"},
        Case{"resp_ns", Response(6, "fs.test", 2, 0, {Rr(2, 1, "\x03ns1\xc0\x0c"s)}), false, "NS",
             "fs.test", "", 6, kOk, 0, "NS=ns1.fs.test TTL=1"},
        Case{"nxdomain", Response(0x6c37, "nope.fs.test", 1, 3, {}), false, "A", "nope.fs.test",
             "nope.fs.test", 0x6c37, L7ResponseStatus::kClientError, 3, ""},
        Case{"formerr", Response(8, "x.test", 1, 1, {}), false, "A", "x.test", "x.test", 8,
             L7ResponseStatus::kClientError, 1, ""},
        Case{"servfail", Response(0xdbd3, "www.broken.test", 1, 2, {}), false, "A",
             "www.broken.test", "www.broken.test", 0xdbd3, L7ResponseStatus::kServerError, 2, ""},
        Case{"refused", Response(0xf608, "example.com", 1, 5, {}), false, "A", "example.com",
             "example.com", 0xf608, L7ResponseStatus::kServerError, 5, ""},
        Case{"unformatted_type_skipped",
             Response(9, "fs.test", 255, 0, {Rr(99, 1, "\x01x"s), Rr(1, 2, "\x01\x02\x03\x04"s)}),
             false, "ANY", "fs.test", "", 9, kOk, 0, "A=1.2.3.4 TTL=2"}),
    [](const auto& info) { return info.param.name; });

TEST(Dns, TypeNames) {
  EXPECT_EQ(TypeName(1), "A");
  EXPECT_EQ(TypeName(6), "SOA");
  EXPECT_EQ(TypeName(28), "AAAA");
  EXPECT_EQ(TypeName(33), "SRV");
  EXPECT_EQ(TypeName(41), "OPT");
  EXPECT_EQ(TypeName(65), "HTTPS");
  EXPECT_EQ(TypeName(255), "ANY");
  EXPECT_EQ(TypeName(257), "CAA");
  EXPECT_EQ(TypeName(54), "TYPE54");
  EXPECT_EQ(OpcodeName(4), "NOTIFY");
}

TEST(Dns, OpcodeAttributeAndNotify) {
  L7Message m;
  ASSERT_EQ(ParseUdp(Query(0x5d88, "a.fs.test", 6, 0x2000), &m).state, ParseState::kOk);
  EXPECT_EQ(m.request_type, "SOA");
  ASSERT_EQ(m.attributes.size(), 1u);
  EXPECT_EQ(m.attributes[0].second, "NOTIFY");
}

TEST(Dns, PairedResponseDoesNotRepeatTheOpcode) {
  DnsParser p{L7Config{}};
  L7Message req, resp, lone;
  ASSERT_EQ(ParseUdp(Query(1, "a.test", 1), &req).state, ParseState::kOk);
  ASSERT_EQ(ParseUdp(Response(1, "a.test", 1, 0, {}), &resp, kS2C).state, ParseState::kOk);
  ASSERT_EQ(ParseUdp(Response(2, "b.test", 1, 0, {}), &lone, kS2C).state, ParseState::kOk);
  p.OnPaired(req, &resp);
  EXPECT_TRUE(resp.attributes.empty());
  EXPECT_EQ(lone.attributes.size(), 1u);  // a response without request keeps it
}

TEST(Dns, ResultIsBounded) {
  std::vector<std::string> answers;
  for (int i = 0; i < 60; ++i) answers.push_back(Rr(16, 1, "\x20" + std::string(32, 't')));
  L7Message m;
  ASSERT_EQ(ParseUdp(Response(1, "t.test", 16, 0, answers), &m).state, ParseState::kOk);
  EXPECT_EQ(m.result.size(), kMaxResultBytes);
}

TEST(Dns, TcpMessagesOneAtATime) {
  DnsParser p{L7Config{}};
  const std::string a = Tcp(Query(1, "a.fs.test", 1));
  const std::string b = Tcp(Query(2, "b.fs.test", 28));
  const std::string stream = a + b;
  L7Message m1, m2;
  ParseResult r = p.Parse(ParseInput{kC2S, stream, false, false}, &m1);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, a.size());
  EXPECT_EQ(m1.pair_id, 1u);
  EXPECT_EQ(m1.length, static_cast<int64_t>(a.size() - 2));
  r = p.Parse(ParseInput{kC2S, std::string_view(stream).substr(a.size()), false, false}, &m2);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, b.size());
  EXPECT_EQ(m2.request_type, "AAAA");
}

TEST(Dns, TcpTruncationsNeedMore) {
  const std::string msg = Tcp(
      Response(2, "www.fs.test", 1, 0, {Rr(5, 10, Name("a.fs.test")), Rr(1, 20, "\x0a\0\0\x01"s)}));
  for (size_t n = 1; n < msg.size(); ++n) {
    SCOPED_TRACE(n);
    DnsParser p{L7Config{}};
    L7Message m;
    EXPECT_EQ(p.Parse(ParseInput{kS2C, std::string_view(msg).substr(0, n), false, false}, &m).state,
              ParseState::kNeedMore);
    DnsParser q{L7Config{}};
    L7Message m2;
    ParseResult r = q.Parse(ParseInput{kS2C, std::string_view(msg).substr(0, n), true, false}, &m2);
    if (r.state == ParseState::kOk) {
      EXPECT_EQ(r.consumed + r.skip, msg.size());
    }
  }
}

TEST(Dns, LongTcpMessageIsCutAndSkipped) {
  std::vector<std::string> answers;
  for (int i = 0; i < 200; ++i) answers.push_back(Rr(1, 1, "\x01\x02\x03\x04"s));
  const std::string msg = Tcp(Response(3, "many.test", 1, 0, answers));
  ASSERT_GT(msg.size(), 1024u);
  DnsParser p{L7Config{}};
  L7Message m;
  ParseResult r = p.Parse(ParseInput{kS2C, std::string_view(msg).substr(0, 1024), true, false}, &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, 1024u);
  EXPECT_EQ(r.consumed + r.skip, msg.size());
  EXPECT_EQ(m.request_resource, "many.test");
  EXPECT_EQ(m.code, 0);
  EXPECT_EQ(m.length, static_cast<int64_t>(msg.size() - 2));
  EXPECT_EQ(m.result.substr(0, 19), "A=1.2.3.4 TTL=1;A=1");
}

TEST(Dns, TruncatedUdpDatagramKeepsWhatIsVisible) {
  std::vector<std::string> answers;
  for (int i = 0; i < 200; ++i) answers.push_back(Rr(1, 1, "\x01\x02\x03\x04"s));
  const std::string msg = Response(3, "many.test", 1, 0, answers);
  L7Message m;
  ASSERT_EQ(ParseUdp(std::string_view(msg).substr(0, 1024), &m, kS2C).state, ParseState::kOk);
  EXPECT_EQ(m.request_resource, "many.test");
  // A short datagram that lies about its counts is not DNS.
  L7Message m2;
  EXPECT_EQ(ParseUdp(std::string_view(msg).substr(0, 300), &m2, kS2C).state, ParseState::kInvalid);
}

TEST(Dns, CompressionLoopsAndBadPointersAreRejected) {
  // Question name is a pointer to itself.
  const std::string self = Header(1, 0x0100, 1, 0, 0, 0) + "\xc0\x0c"s + U16(1) + U16(1);
  // Forward pointer.
  const std::string fwd =
      Header(1, 0x0100, 1, 0, 0, 0) + "\xc0\x20"s + U16(1) + U16(1) + std::string(20, '\0');
  // Answer whose CNAME rdata points to itself.
  const std::string loop_rr = Header(1, 0x8180, 1, 1, 0, 0) + Name("a.b") + U16(5) + U16(1) +
                              "\xc0\x0c"s + U16(5) + U16(1) + U32(1) + U16(2) + "\xc0\x25"s;
  // Reserved label type 0x40.
  const std::string ext = Header(1, 0x0100, 1, 0, 0, 0) + "\x41"s + U16(1) + U16(1);
  // A name longer than 255 bytes.
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += "\x3f" + std::string(63, 'a');
  const std::string too_long = Header(1, 0x0100, 1, 0, 0, 0) + long_name + '\0' + U16(1) + U16(1);
  for (const std::string& m : {self, fwd, ext, too_long}) {
    L7Message out;
    EXPECT_EQ(ParseUdp(m, &out).state, ParseState::kInvalid);
    EXPECT_EQ(kSpec.infer(InferInput{kC2S, m, true, 53}), InferResult::kNo);
  }
  L7Message out;
  ParseResult r = ParseUdp(loop_rr, &out, kS2C);
  EXPECT_EQ(r.state, ParseState::kOk);  // the record is well-formed; its rdata is not shown
  EXPECT_EQ(out.result, "");
}

TEST(Dns, GarbageIsInvalid) {
  DnsParser p{L7Config{}};
  L7Message m;
  EXPECT_EQ(p.Parse(ParseInput{kC2S, "\x00\x05hello"s, true, false}, &m).state,
            ParseState::kInvalid);
  EXPECT_EQ(ParseUdp("short", &m).state, ParseState::kInvalid);
  EXPECT_EQ(ParseUdp(Header(1, 0x1800, 1, 0, 0, 0) + Name("a") + U16(1) + U16(1), &m).state,
            ParseState::kInvalid);  // opcode 3
}

TEST(Dns, FindBoundary) {
  DnsParser p{L7Config{}};
  const std::string q = Tcp(Query(1, "a.fs.test", 1));
  EXPECT_EQ(p.FindBoundary(kC2S, "\xff\xfe\x01"s + q), 3u);
  EXPECT_EQ(p.FindBoundary(kC2S, "abc"), 3u);
}

TEST(Dns, InferenceAcceptsQueries) {
  EXPECT_EQ(kSpec.infer(InferInput{kC2S, Query(1, "a.fs.test", 1), true, 53}), InferResult::kYes);
  EXPECT_EQ(kSpec.infer(InferInput{kC2S, Tcp(Query(1, "a.fs.test", 1)), false, 53}),
            InferResult::kYes);
  // The first segment of a TCP query: only the length prefix and header are enough if the
  // question is visible.
  const std::string tcp = Tcp(Query(1, "a.fs.test", 1));
  EXPECT_EQ(kSpec.infer(InferInput{kC2S, std::string_view(tcp).substr(0, 20), false, 53}),
            InferResult::kNo);
  // With an EDNS OPT record (dig's default).
  const std::string edns = Header(2, 0x0120, 1, 0, 0, 1) + Name("a.fs.test") + U16(1) + U16(1) +
                           "\x00"s + U16(41) + U16(1232) + U32(0) + U16(12) + U16(10) + U16(8) +
                           std::string(8, 'c');
  EXPECT_EQ(kSpec.infer(InferInput{kC2S, edns, true, 53}), InferResult::kYes);
  // mDNS question with the unicast-response bit.
  const std::string mdns =
      Header(0, 0, 1, 0, 0, 0) + Name("_ipp._tcp.local") + U16(12) + U16(0x8001);
  EXPECT_EQ(kSpec.infer(InferInput{kC2S, mdns, true, 5353}), InferResult::kYes);
}

TEST(Dns, InferenceRejectsOthers) {
  auto no = [](std::string_view d, bool udp) {
    return kSpec.infer(InferInput{kC2S, d, udp, 53}) == InferResult::kNo;
  };
  EXPECT_TRUE(no(Response(1, "a.fs.test", 1, 0, {}), true));  // a response
  EXPECT_TRUE(no(Query(1, "a.fs.test", 1) + "xx", true));     // trailing bytes
  EXPECT_TRUE(no("GET / HTTP/1.1\r\nHost: x\r\n\r\n", false));
  EXPECT_TRUE(no("*1\r\n$4\r\nPING\r\n", false));
  EXPECT_TRUE(no("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"s + std::string(40, 'r'), false));
  EXPECT_TRUE(no("get key\r\n", false));
  std::mt19937 rng(11);
  int yes = 0;
  for (int i = 0; i < 50000; ++i) {
    std::string s(12 + rng() % 60, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    yes += !no(s, true);
    yes += !no(s, false);
  }
  EXPECT_EQ(yes, 0);
}

// ---- Real traffic (dnsmasq and BIND, facts from tshark) ----

// A flow's messages, parsed as the engine would (UDP datagrams one each, TCP reassembled).
struct Flow {
  std::vector<L7Message> reqs, resps;
};

std::map<std::string, Flow> ParseCapture(const l7test::Recording& rec) {
  std::map<std::string, Flow> flows;
  for (const auto& [key, conn] : l7test::ReadConnections(rec.pcap, rec.server_ports)) {
    if (conn.udp) {
      for (const l7test::Segment& s : conn.segments) {
        if (s.dir == kC2S) {
          EXPECT_EQ(kSpec.infer(InferInput{kC2S, s.bytes, true, conn.server_port}),
                    InferResult::kYes)
              << key;
        }
      }
    } else {
      EXPECT_EQ(kSpec.infer(InferInput{kC2S, conn.Stream(kC2S), false, 53}), InferResult::kYes)
          << key;
    }
    DnsParser p{L7Config{}};
    const l7test::ParsedConnection parsed = l7test::ParseConnection(conn, &p);
    EXPECT_EQ(parsed.invalid, 0) << key;
    EXPECT_TRUE(parsed.idle) << key;
    flows[key].reqs = l7test::Requests(parsed.messages);
    flows[key].resps = l7test::Responses(parsed.messages);
  }
  return flows;
}

// tshark's "name: type A, class IN, addr 127.0.0.5" as our "A=127.0.0.5".
std::string AnswerOf(const std::string& tshark) {
  static const std::regex kRe(R"(^[^:]*: type (\w+), class \w+, (.*)$)");
  std::smatch m;
  if (!std::regex_match(tshark, m, kRe)) return "?" + tshark;
  const std::string type = m[1], rest = m[2];
  std::smatch f;
  if ((type == "A" || type == "AAAA") && std::regex_match(rest, f, std::regex(R"(addr (.*))"))) {
    return type + "=" + f[1].str();
  }
  if (type == "CNAME" && std::regex_match(rest, f, std::regex(R"(cname (.*))"))) {
    return "CNAME=" + f[1].str();
  }
  if (type == "MX" && std::regex_match(rest, f, std::regex(R"(preference (\d+), mx (.*))"))) {
    return "MX=" + f[1].str() + " " + f[2].str();
  }
  if (type == "TXT" && std::regex_match(rest, f, std::regex(R"re(txt "(.*)")re"))) {
    return "TXT=" + f[1].str();
  }
  if (type == "SRV" &&
      std::regex_match(rest, f,
                       std::regex(R"(priority (\d+), weight (\d+), port (\d+), target (.*))"))) {
    return "SRV=" + f[1].str() + " " + f[2].str() + " " + f[3].str() + " " + f[4].str();
  }
  return "?" + tshark;
}

std::string WithoutTtl(const std::string& result) {
  return std::regex_replace(result, std::regex(" TTL=\\d+"), "");
}

class DnsPcapTest : public testing::TestWithParam<std::string> {};

TEST_P(DnsPcapTest, AgreesWithTshark) {
  const l7test::Recording rec = l7test::LoadRecording("dns", GetParam());
  ASSERT_TRUE(rec.facts.is_object());
  auto flows = ParseCapture(rec);
  l7test::Agreement agreement;
  for (const auto& fact : rec.facts["records"]) {
    const std::string key = l7test::ConnectionKey(fact);
    const uint64_t id = std::stoul(fact["transaction_id"].get<std::string>(), nullptr, 16);
    const Flow& fl = flows[key];
    const L7Message* req = nullptr;
    const L7Message* resp = nullptr;
    for (const auto& m : fl.reqs)
      if (m.pair_id == id) req = &m;
    for (const auto& m : fl.resps)
      if (m.pair_id == id) resp = &m;
    if (req == nullptr || resp == nullptr) {
      agreement.Add(false);
      ADD_FAILURE() << key << " id " << id << ": not parsed";
      continue;
    }
    std::string answers;
    for (const auto& a : fact["answers"]) answers += (answers.empty() ? "" : ";") + AnswerOf(a);
    const bool ok =
        req->request_type == fact["method"] && req->request_resource == fact["resource"] &&
        resp->code == fact["status"].get<int>() && WithoutTtl(resp->result) == answers &&
        (resp->status != L7ResponseStatus::kOk) == fact["error"].get<bool>();
    EXPECT_TRUE(ok) << key << ": " << req->request_type << " " << req->request_resource << " "
                    << resp->code << " [" << resp->result << "] want [" << answers << "]";
    agreement.Add(ok);
  }
  agreement.Finish(rec.facts, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Dns, DnsPcapTest, testing::Values("dns_udp", "dns_tcp"));

}  // namespace
}  // namespace flowscope::agent::l7::dns
