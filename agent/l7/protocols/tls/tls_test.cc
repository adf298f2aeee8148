#include "agent/l7/protocols/tls/tls.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "agent/l7/testing/engine_like_feeder.h"
#include "agent/l7/testing/facts.h"
#include "agent/l7/testing/pcap_connections.h"

namespace flowscope::agent::l7::tls {
namespace {

using namespace std::string_literals;
constexpr Direction kC2S = Direction::kClientToServer;
constexpr Direction kS2C = Direction::kServerToClient;

std::string U8(uint8_t v) { return std::string(1, static_cast<char>(v)); }
std::string U16(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }
std::string U24(uint32_t v) {
  return U8(static_cast<uint8_t>(v >> 16)) + U16(static_cast<uint16_t>(v));
}

std::string Ext(uint16_t type, const std::string& data) {
  return U16(type) + U16(static_cast<uint16_t>(data.size())) + data;
}

std::string Record(uint8_t type, const std::string& body, uint16_t version = 0x0301) {
  return U8(type) + U16(version) + U16(static_cast<uint16_t>(body.size())) + body;
}

struct ClientHelloSpec {
  std::string sni;
  std::vector<std::string> alpn;
  std::vector<uint16_t> versions;  // supported_versions, empty = absent
  std::string padding;             // an extension of this size before the others
};

std::string ClientHello(const ClientHelloSpec& s) {
  std::string exts;
  if (!s.padding.empty()) exts += Ext(21, s.padding);
  if (!s.sni.empty()) {
    const std::string entry = U8(0) + U16(static_cast<uint16_t>(s.sni.size())) + s.sni;
    exts += Ext(0, U16(static_cast<uint16_t>(entry.size())) + entry);
  }
  if (!s.alpn.empty()) {
    std::string list;
    for (const auto& p : s.alpn) list += U8(static_cast<uint8_t>(p.size())) + p;
    exts += Ext(16, U16(static_cast<uint16_t>(list.size())) + list);
  }
  if (!s.versions.empty()) {
    std::string list;
    for (uint16_t v : s.versions) list += U16(v);
    exts += Ext(43, U8(static_cast<uint8_t>(list.size())) + list);
  }
  const std::string body = U16(0x0303) + std::string(32, 'r') + U8(32) + std::string(32, 's') +
                           U16(4) + U16(0x1301) + U16(0xc02f) + U8(1) + U8(0) +
                           U16(static_cast<uint16_t>(exts.size())) + exts;
  return Record(22, U8(1) + U24(static_cast<uint32_t>(body.size())) + body);
}

std::string ServerHello(uint16_t cipher, uint16_t version_ext, const std::string& alpn,
                        bool retry = false, const std::string& trailing = "") {
  std::string exts;
  if (version_ext != 0) exts += Ext(43, U16(version_ext));
  if (!alpn.empty()) {
    const std::string list = U8(static_cast<uint8_t>(alpn.size())) + alpn;
    exts += Ext(16, U16(static_cast<uint16_t>(list.size())) + list);
  }
  const std::string random =
      retry
          ? "\xcf\x21\xad\x74\xe5\x9a\x61\x11\xbe\x1d\x8c\x02\x1e\x65\xb8\x91\xc2\xa2\x11\x16\x7a\xbb\x8c\x5e\x07\x9e\x09\xe2\xc8\xa8\x33\x9c"s
          : std::string(32, 'R');
  const std::string body = U16(0x0303) + random + U8(0) + U16(cipher) + U8(0) +
                           U16(static_cast<uint16_t>(exts.size())) + exts;
  return Record(22, U8(2) + U24(static_cast<uint32_t>(body.size())) + body + trailing, 0x0303);
}

std::string Attr(const L7Message& m, std::string_view name) {
  for (const auto& [k, v] : m.attributes) {
    if (k == name) return v;
  }
  return "<none>";
}

ParseResult ParseOne(TlsParser& p, Direction dir, std::string_view d, L7Message* m,
                     bool at_limit = false) {
  return p.Parse(ParseInput{dir, d, at_limit, false}, m);
}

TEST(Tls, ClientHelloFields) {
  TlsParser p;
  const std::string ch =
      ClientHello({"fs.example", {"h2", "http/1.1"}, {0x3a3a, 0x0304, 0x0303}, ""});
  L7Message m;
  ParseResult r = ParseOne(p, kC2S, ch, &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, ch.size());
  EXPECT_EQ(r.skip, 0u);
  EXPECT_TRUE(m.is_request);
  EXPECT_FALSE(m.ignore);
  EXPECT_EQ(m.request_type, "ClientHello");
  EXPECT_EQ(m.request_domain, "fs.example");
  EXPECT_EQ(m.request_resource, "fs.example");
  EXPECT_EQ(Attr(m, "tls_version"), "TLS 1.3");  // GREASE 0x3a3a ignored
  EXPECT_EQ(Attr(m, "alpn"), "h2,http/1.1");
  EXPECT_FALSE(m.has_pair_id);
  EXPECT_EQ(m.length, static_cast<int64_t>(ch.size() - 9));
}

TEST(Tls, ClientHelloWithoutExtensions) {
  TlsParser p;
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S, ClientHello({}), &m).state, ParseState::kOk);
  EXPECT_EQ(m.request_domain, "");
  EXPECT_EQ(Attr(m, "tls_version"), "TLS 1.2");
  EXPECT_EQ(Attr(m, "alpn"), "<none>");
}

TEST(Tls, ServerHelloTls13AndTls12) {
  TlsParser p;
  L7Message m;
  ParseResult r = ParseOne(p, kS2C, ServerHello(0x1302, 0x0304, ""), &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_FALSE(m.is_request);
  EXPECT_EQ(m.version, "TLS 1.3");
  EXPECT_EQ(m.result, "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(m.status, L7ResponseStatus::kOk);
  EXPECT_FALSE(m.has_code);
  // Certificate etc. in the same record: the hello is enough, the rest is skipped.
  TlsParser q;
  const std::string sh =
      ServerHello(0xc030, 0, "h2", false, U8(11) + U24(3000) + std::string(3000, 'c'));
  L7Message m2;
  r = ParseOne(q, kS2C, std::string_view(sh).substr(0, 200), &m2);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, 200u);
  EXPECT_EQ(r.consumed + r.skip, sh.size());
  EXPECT_EQ(m2.version, "TLS 1.2");
  EXPECT_EQ(m2.result, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
  EXPECT_EQ(Attr(m2, "alpn_selected"), "h2");
  L7Message unknown;
  TlsParser u;
  ASSERT_EQ(ParseOne(u, kS2C, ServerHello(0xfefe, 0, ""), &unknown).state, ParseState::kOk);
  EXPECT_EQ(unknown.result, "0xFEFE");
}

TEST(Tls, HandshakeThenEncryptedRecordsAreIgnored) {
  TlsParser p;
  const std::string client = ClientHello({"a.test", {}, {0x0304}, ""}) + Record(20, "\x01") +
                             Record(23, std::string(40, 'x'), 0x0303) +
                             Record(23, std::string(5000, 'y'), 0x0303);
  const std::string server = ServerHello(0x1301, 0x0304, "") + Record(20, "\x01", 0x0303) +
                             Record(23, std::string(2000, 'z'), 0x0303) +
                             Record(22, "\x02\x00\x00\x10" + std::string(16, 'e'), 0x0303) +
                             Record(21, std::string(26, 'a'), 0x0303);  // encrypted alert
  for (const auto& [dir, stream] : {std::pair{kC2S, client}, std::pair{kS2C, server}}) {
    std::string_view rest = stream;
    int logged = 0, ignored = 0;
    while (!rest.empty()) {
      L7Message m;
      const std::string_view view = rest.substr(0, 1024);
      ParseResult r = ParseOne(p, dir, view, &m, view.size() >= 1024);
      ASSERT_EQ(r.state, ParseState::kOk);
      rest.remove_prefix(r.consumed);
      rest.remove_prefix(std::min<uint64_t>(r.skip, rest.size()));
      (m.ignore ? ignored : logged)++;
    }
    EXPECT_EQ(logged, 1);
    EXPECT_EQ(ignored, dir == kC2S ? 3 : 4);
  }
}

TEST(Tls, HelloRetryRequestAllowsASecondClientHello) {
  TlsParser p;
  L7Message a, b, c, d;
  ASSERT_EQ(ParseOne(p, kC2S, ClientHello({"x.test", {}, {0x0304}, ""}), &a).state,
            ParseState::kOk);
  ASSERT_EQ(ParseOne(p, kS2C, ServerHello(0x1301, 0x0304, "", true), &b).state, ParseState::kOk);
  EXPECT_EQ(Attr(b, "hello_retry_request"), "true");
  ASSERT_EQ(ParseOne(p, kC2S, ClientHello({"x.test", {}, {0x0304}, ""}), &c).state,
            ParseState::kOk);
  EXPECT_FALSE(c.ignore);
  ASSERT_EQ(ParseOne(p, kS2C, ServerHello(0x1301, 0x0304, ""), &d).state, ParseState::kOk);
  EXPECT_FALSE(d.ignore);
  // After the handshake a record that happens to look like a ClientHello is not one.
  L7Message e;
  ASSERT_EQ(ParseOne(p, kC2S, ClientHello({"y.test", {}, {}, ""}), &e).state, ParseState::kOk);
  EXPECT_TRUE(e.ignore);
}

TEST(Tls, AlertFromTheServer) {
  TlsParser p;
  L7Message m;
  ParseResult r = ParseOne(p, kS2C, Record(21, "\x02\x46"s), &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_FALSE(m.is_request);
  EXPECT_FALSE(m.ignore);
  EXPECT_EQ(m.exception, "protocol_version");
  EXPECT_TRUE(m.has_code);
  EXPECT_EQ(m.code, 70);
  EXPECT_EQ(m.status, L7ResponseStatus::kServerError);
  L7Message w;
  ASSERT_EQ(ParseOne(p, kS2C, Record(21, "\x01\x00"s), &w).state, ParseState::kOk);
  EXPECT_EQ(w.status, L7ResponseStatus::kOk);
  EXPECT_EQ(w.exception, "close_notify");
  L7Message bad;
  EXPECT_EQ(ParseOne(p, kS2C, Record(21, "\x07\x00"s), &bad).state, ParseState::kInvalid);
  // A client's alert is not a response.
  L7Message c;
  ASSERT_EQ(ParseOne(p, kC2S, Record(21, "\x02\x30"s), &c).state, ParseState::kOk);
  EXPECT_TRUE(c.ignore);
}

// Feeds a stream as the engine does (bound 1024, skips honoured, each call stamped with the
// time of its first byte = its offset here); returns the messages that are not ignored.
std::vector<L7Message> Feed(TlsParser& p, Direction dir, std::string_view stream,
                            uint64_t* consumed_total = nullptr) {
  std::vector<L7Message> out;
  std::string_view rest = stream;
  while (!rest.empty()) {
    const std::string_view view = rest.substr(0, 1024);
    L7Message m;
    const uint64_t ts = 1000 + (stream.size() - rest.size());
    ParseResult r = p.Parse(ParseInput{dir, view, view.size() >= 1024, false, ts}, &m);
    EXPECT_EQ(r.state, ParseState::kOk);
    if (r.state != ParseState::kOk) break;
    EXPECT_GT(r.consumed, 0u);
    rest.remove_prefix(r.consumed);
    EXPECT_LE(r.skip, rest.size());
    rest.remove_prefix(std::min<uint64_t>(r.skip, rest.size()));
    if (!m.ignore) out.push_back(std::move(m));
  }
  if (consumed_total != nullptr) *consumed_total = stream.size() - rest.size();
  return out;
}

TEST(Tls, HelloBeyondTheBoundIsReadToItsEnd) {
  // A post-quantum key share (~1.2 KB) before the SNI and ALPN: beyond a 1024-byte bound.
  const std::string big = ClientHello({"late.test", {"h2"}, {0x0304}, std::string(1200, '\0')});
  const std::string stream = big + Record(20, "\x01") + Record(23, std::string(300, 'x'), 0x0303);
  TlsParser p;
  L7Message m;
  EXPECT_EQ(ParseOne(p, kC2S, std::string_view(big).substr(0, 1024), &m).state,
            ParseState::kNeedMore);
  uint64_t consumed = 0;
  auto msgs = Feed(p, kC2S, stream, &consumed);
  EXPECT_EQ(consumed, stream.size());
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].request_type, "ClientHello");
  EXPECT_EQ(msgs[0].request_domain, "late.test");
  EXPECT_EQ(Attr(msgs[0], "alpn"), "h2");
  EXPECT_EQ(Attr(msgs[0], "tls_version"), "TLS 1.3");
  EXPECT_EQ(msgs[0].timestamp_ns, 1000u);  // the hello's first byte, not its last chunk's
  EXPECT_EQ(msgs[0].length, static_cast<int64_t>(big.size() - 9));

  // The same for a ServerHello with a big key share before supported_versions.
  std::string exts =
      Ext(51, U16(0x11ec) + U16(1120) + std::string(1120, 'k')) + Ext(43, U16(0x0304));
  const std::string body = U16(0x0303) + std::string(32, 'R') + U8(0) + U16(0x1301) + U8(0) +
                           U16(static_cast<uint16_t>(exts.size())) + exts;
  const std::string sh = Record(22, U8(2) + U24(static_cast<uint32_t>(body.size())) + body, 0x0303);
  auto resps = Feed(p, kS2C, sh + Record(20, "\x01", 0x0303), &consumed);
  ASSERT_EQ(resps.size(), 1u);
  EXPECT_EQ(resps[0].version, "TLS 1.3");
  EXPECT_EQ(resps[0].result, "TLS_AES_128_GCM_SHA256");
}

TEST(Tls, CutHelloEdgeCases) {
  // A big extension the log does not use, skipped by count, then the SNI in a later call.
  std::string big = ClientHello({"x.test", {}, {}, std::string(1500, 'p')});
  TlsParser p;
  uint64_t consumed = 0;
  auto msgs = Feed(p, kC2S, big + Record(23, "abc", 0x0303), &consumed);
  EXPECT_EQ(consumed, big.size() + 8);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].request_domain, "x.test");
  // The record ends inside a hello that goes on in the next record: reported at the record end.
  std::string split = ClientHello({"", {}, {}, std::string(600, 'p')});
  split[3] = static_cast<char>((split.size() - 5 - 100) >> 8);  // record shorter than the hello
  split[4] = static_cast<char>((split.size() - 5 - 100) & 0xff);
  const std::string first = split.substr(0, split.size() - 100);
  TlsParser q;
  msgs = Feed(q, kC2S, first + Record(22, split.substr(split.size() - 100)), &consumed);
  EXPECT_EQ(msgs.size(), 1u);
}

TEST(Tls, TruncationsNeedMore) {
  const std::string ch = ClientHello({"fs.example", {"h2"}, {0x0304}, ""});
  const std::string sh = ServerHello(0x1302, 0x0304, "");
  for (const auto& [dir, msg] : {std::pair{kC2S, ch}, std::pair{kS2C, sh}}) {
    for (size_t n = 1; n < msg.size(); ++n) {
      SCOPED_TRACE(n);
      TlsParser p;
      L7Message m;
      EXPECT_EQ(ParseOne(p, dir, std::string_view(msg).substr(0, n), &m).state,
                ParseState::kNeedMore);
      TlsParser q;
      L7Message m2;
      ParseResult r = ParseOne(q, dir, std::string_view(msg).substr(0, n), &m2, true);
      if (r.state == ParseState::kOk) {
        EXPECT_LE(r.consumed, n);
        EXPECT_LE(r.consumed + r.skip, msg.size());
        // Reported now (the rest skipped) or read on by later calls (ignored part).
        if (!m2.ignore) {
          EXPECT_EQ(r.consumed + r.skip, msg.size());
        }
      }
    }
  }
}

TEST(Tls, GarbageAndLyingLengths) {
  TlsParser p;
  L7Message m;
  EXPECT_EQ(ParseOne(p, kC2S, "GET / HTTP/1.1\r\n", &m).state, ParseState::kInvalid);
  EXPECT_EQ(ParseOne(p, kC2S, "\x16\x04\x01\x00\x10"s, &m).state, ParseState::kInvalid);
  EXPECT_EQ(ParseOne(p, kC2S, "\x17\x03\x03\xff\xff"s, &m).state, ParseState::kInvalid);  // > 18432
  // A hello whose session id claims 200 bytes.
  const std::string bad_sid = Record(
      22, "\x01\x00\x00\x40\x03\x03"s + std::string(32, 'r') + "\xc8"s + std::string(40, 's'));
  EXPECT_EQ(ParseOne(p, kC2S, bad_sid, &m).state, ParseState::kInvalid);
  // Extensions whose lengths lie are read as far as they hold.
  std::string broken = ClientHello({"ok.test", {}, {}, ""});
  broken[broken.size() - 9] = '\x7f';  // the SNI name length no longer fits
  TlsParser q;
  L7Message m2;
  EXPECT_EQ(ParseOne(q, kC2S, broken, &m2).state, ParseState::kOk);
  EXPECT_EQ(m2.request_domain, "");
}

TEST(Tls, Names) {
  EXPECT_EQ(VersionName(0x0301), "TLS 1.0");
  EXPECT_EQ(VersionName(0x7f1c), "0x7F1C");
  EXPECT_EQ(CipherSuiteName(0x1301), "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(AlertName(40), "handshake_failure");
  EXPECT_EQ(AlertName(200), "");
}

TEST(Tls, FindBoundary) {
  TlsParser p;
  EXPECT_EQ(p.FindBoundary(kS2C, "xyz" + Record(23, "abc", 0x0303)), 3u);
  EXPECT_EQ(p.FindBoundary(kS2C, "xyz"), 3u);
}

bool InferYes(std::string_view d, Direction dir = kC2S) {
  return kSpec.infer(InferInput{dir, d, false, 443}) == InferResult::kYes;
}

TEST(Tls, Inference) {
  const std::string ch = ClientHello({"fs.example", {"h2"}, {0x0304}, ""});
  EXPECT_TRUE(InferYes(ch));
  EXPECT_TRUE(InferYes(std::string_view(ch).substr(0, 11)));
  EXPECT_FALSE(InferYes(std::string_view(ch).substr(0, 10)));
  EXPECT_FALSE(InferYes(ch, kS2C));
  EXPECT_FALSE(InferYes(ServerHello(0x1301, 0x0304, "")));
  EXPECT_FALSE(InferYes(Record(23, std::string(100, 'x'), 0x0303)));
  EXPECT_FALSE(InferYes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_FALSE(InferYes("*1\r\n$4\r\nPING\r\n"));
  EXPECT_FALSE(InferYes("get key\r\n"));
  EXPECT_FALSE(InferYes("\x00\x1d\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"s));
  EXPECT_FALSE(kSpec.infer(InferInput{kC2S, ch, true, 443}) == InferResult::kYes);
  std::mt19937 rng(3);
  int yes = 0;
  for (int i = 0; i < 50000; ++i) {
    std::string s(11 + rng() % 80, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    if (i % 2) s.replace(0, 3, "\x16\x03\x01");
    yes += InferYes(s);
  }
  EXPECT_LE(yes, 5);  // a random record header can pass; the hello checks reject nearly all
}

// ---- Real traffic (curl/openssl against nginx/openssl s_server, facts from tshark) ----

class TlsPcapTest : public testing::TestWithParam<std::string> {};

TEST_P(TlsPcapTest, AgreesWithTshark) {
  const l7test::Recording rec = l7test::LoadRecording("tls", GetParam());
  ASSERT_TRUE(rec.facts.is_object());
  const uint16_t port = l7test::FactPort(rec.facts["records"][0]["server"]);
  auto conns = l7test::ReadConnections(rec.pcap, {port});
  l7test::Agreement agreement;
  for (const auto& fact : rec.facts["records"]) {
    const l7test::Connection& conn = conns[l7test::ConnectionKey(fact)];
    EXPECT_EQ(kSpec.infer(InferInput{kC2S, conn.Stream(kC2S), false, port}), InferResult::kYes);
    TlsParser p;
    const l7test::ParsedConnection parsed = l7test::ParseConnection(conn, &p);
    EXPECT_EQ(parsed.invalid, 0);
    EXPECT_TRUE(parsed.idle);
    const auto reqs = l7test::Requests(parsed.messages);
    const auto resps = l7test::Responses(parsed.messages);
    if (reqs.size() != 1 || resps.size() != 1) {
      agreement.Add(false);
      ADD_FAILURE() << fact["client"] << ": " << reqs.size() << " requests, " << resps.size()
                    << " responses";
      continue;
    }
    const L7Message& req = reqs[0];
    const L7Message& resp = resps[0];
    std::string alpn;
    for (const auto& a : fact["alpn_offered"])
      alpn += (alpn.empty() ? "" : ",") + a.get<std::string>();
    const std::string want_version = fact["client_supported_versions"].empty()
                                         ? fact["client_version"].get<std::string>()
                                         : fact["client_supported_versions"][0].get<std::string>();
    bool ok = req.request_type == "ClientHello" &&
              req.request_domain == (fact["sni"].is_null() ? "" : fact["sni"].get<std::string>()) &&
              Attr(req, "alpn") == (alpn.empty() ? "<none>" : alpn) &&
              Attr(req, "tls_version") == want_version;
    if (fact["alert"].is_null()) {
      ok = ok && resp.version == fact["version"] && resp.result == fact["cipher_suite"] &&
           resp.status == L7ResponseStatus::kOk &&
           Attr(resp, "alpn_selected") == (fact["alpn_selected"].is_null()
                                               ? "<none>"
                                               : fact["alpn_selected"].get<std::string>());
    } else {
      ok = ok && resp.code == fact["status"].get<int>() &&
           resp.status == L7ResponseStatus::kServerError && resp.exception == "protocol_version";
    }
    EXPECT_TRUE(ok) << fact["client"] << ": " << req.request_domain << " " << Attr(req, "alpn")
                    << " " << Attr(req, "tls_version") << " | " << resp.version << " "
                    << resp.result << " " << resp.exception;
    agreement.Add(ok);
  }
  agreement.Finish(rec.facts, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Tls, TlsPcapTest, testing::Values("tls_curl_nginx", "tls_openssl"));

}  // namespace
}  // namespace flowscope::agent::l7::tls
