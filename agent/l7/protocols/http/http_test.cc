#include "agent/l7/protocols/http/http.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <utility>

#include "agent/l7/endpoint.h"
#include "agent/l7/protocols/http2/test_util.h"
#include "agent/l7/testing/engine_like_feeder.h"
#include "agent/l7/testing/facts.h"
#include "agent/l7/testing/pcap_rows.h"

namespace flowscope::agent::l7::http {
namespace {

using httptest::Conn;
using l7test::Attribute;
using namespace std::string_literals;

constexpr Direction kC2S = Direction::kClientToServer;
constexpr Direction kS2C = Direction::kServerToClient;

Conn Http(L7Config config = {}) { return Conn({&kSpec}, std::move(config)); }

std::string Ok200(std::string_view body, std::string_view extra = "") {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra) + "\r\n" + std::string(body);
}

TEST(HttpStartLine, Check) {
  EXPECT_EQ(CheckStartLine("GET / HTTP/1.1\r\n"), StartLine::kYes);
  EXPECT_EQ(CheckStartLine("GET / HTTP/1.0\n"), StartLine::kYes);
  EXPECT_EQ(CheckStartLine("OPTIONS * HTTP/1.1\r\n"), StartLine::kYes);
  EXPECT_EQ(CheckStartLine("CONNECT db.example:5432 HTTP/1.1\r\n"), StartLine::kYes);
  EXPECT_EQ(CheckStartLine("HTTP/1.1 200 OK\r\n"), StartLine::kYes);
  EXPECT_EQ(CheckStartLine("HTTP/1.0 404\r\n"), StartLine::kYes);
  EXPECT_EQ(CheckStartLine("HTTP/1.1 101 "), StartLine::kYes);
  EXPECT_EQ(CheckStartLine("HEAD /x HTTP/1.1\r\n"), StartLine::kYes);
  // Prefixes.
  EXPECT_EQ(CheckStartLine("G"), StartLine::kMaybe);
  EXPECT_EQ(CheckStartLine("HE"), StartLine::kMaybe);
  EXPECT_EQ(CheckStartLine("HTTP/1"), StartLine::kMaybe);
  EXPECT_EQ(CheckStartLine("POST /very/long/path"), StartLine::kMaybe);
  EXPECT_EQ(CheckStartLine("GET / HTTP/1.1\r"), StartLine::kMaybe);
  // Not HTTP/1.
  EXPECT_EQ(CheckStartLine("GET key\r\n"), StartLine::kNo);  // redis inline command
  EXPECT_EQ(CheckStartLine("GET / HTTP/2.0\r\n"), StartLine::kNo);
  EXPECT_EQ(CheckStartLine("PRI * HTTP/2.0\r\n"), StartLine::kNo);
  EXPECT_EQ(CheckStartLine("get / HTTP/1.1\r\n"), StartLine::kNo);
  EXPECT_EQ(CheckStartLine("GET  / HTTP/1.1\r\n"), StartLine::kNo);
  EXPECT_EQ(CheckStartLine("HTTP/1.1 20x OK\r\n"), StartLine::kNo);
  EXPECT_EQ(CheckStartLine("HTTP/2 200\r\n"), StartLine::kNo);
  EXPECT_EQ(CheckStartLine("GETX / HTTP/1.1\r\n"), StartLine::kNo);
}

TEST(HttpInfer, RequestsAndResponsesOnly) {
  auto yes = [](std::string_view d) {
    return Infer(InferInput{kC2S, d, false, 80}) == InferResult::kYes;
  };
  EXPECT_TRUE(yes("GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_TRUE(yes("HTTP/1.1 204 No Content\r\n\r\n"));
  EXPECT_FALSE(yes("GET /index.html"));  // cannot tell yet
  EXPECT_FALSE(yes("GET fs:key\r\n"));
  EXPECT_FALSE(yes("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"));
  EXPECT_FALSE(yes(http2::kPreface));
  EXPECT_FALSE(yes("SSH-2.0-OpenSSH_9.2\r\n"));
  EXPECT_FALSE(yes("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s));
  EXPECT_FALSE(Infer(InferInput{kC2S, "GET / HTTP/1.1\r\n\r\n", true, 80}) == InferResult::kYes);
  std::mt19937 rng(5);
  int hits = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s(1 + rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    hits += yes(s);
  }
  EXPECT_EQ(hits, 0);
}

TEST(Http, RequestAndResponseFields) {
  Conn c = Http();
  c.C2S(
      "GET /api/v1/users/42?x=1&y=2 HTTP/1.1\r\nHost: shop.example\r\n"
      "User-Agent: curl/7.88.1\r\nReferer: http://from.example/\r\nAccept: */*\r\n"
      "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
      "X-Request-ID: req-7\r\nX-Forwarded-For: 203.0.113.7, 10.1.2.3\r\n\r\n",
      100);
  c.S2C(Ok200("hello", "X-Request-ID: rsp-7\r\n"), 250);
  ASSERT_EQ(c.rows.size(), 1u);
  const L7FlowLog& r = c.rows[0];
  EXPECT_EQ(r.l7_protocol, L7Protocol::kHttp1);
  EXPECT_EQ(r.type, L7LogType::kSession);
  EXPECT_EQ(r.version, "1.1");
  EXPECT_EQ(r.request_type, "GET");
  EXPECT_EQ(r.request_domain, "shop.example");
  EXPECT_EQ(r.request_resource, "/api/v1/users/42?x=1&y=2");
  EXPECT_EQ(r.endpoint, "/api/v1");
  EXPECT_FALSE(r.has_request_id);
  EXPECT_EQ(r.response_code, 200);
  EXPECT_EQ(r.response_status, L7ResponseStatus::kOk);
  EXPECT_EQ(r.request_length, -1);
  EXPECT_EQ(r.response_length, 5);
  EXPECT_EQ(r.response_duration, 150u);
  EXPECT_EQ(r.trace_id, "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(r.span_id, "b7ad6b7169203331");
  EXPECT_EQ(r.x_request_id_0, "req-7");
  EXPECT_EQ(r.x_request_id_1, "rsp-7");
  EXPECT_EQ(r.http_proxy_client, "203.0.113.7");
  EXPECT_EQ(Attribute(r, "http_user_agent"), "curl/7.88.1");
  EXPECT_EQ(Attribute(r, "http_referer"), "http://from.example/");
}

TEST(Http, WireBytesReachRowsAsValidUtf8) {
  Conn c = Http();
  c.C2S("GET /caf\xc3\xa9/\xff\xfe?q=\xe2\x82 HTTP/1.1\r\nHost: h\xc0\xafst\r\n"
        "User-Agent: ua\x80\r\nReferer: r\xed\xa0\x80\r\n\r\n"s,
        100);
  c.S2C(Ok200("x"), 200);
  ASSERT_EQ(c.rows.size(), 1u);
  const L7FlowLog& r = c.rows[0];
  EXPECT_EQ(r.request_resource, "/caf\xc3\xa9/\uFFFD\uFFFD?q=\uFFFD");
  EXPECT_EQ(r.endpoint, "/caf\xc3\xa9/\uFFFD\uFFFD");
  EXPECT_EQ(r.request_domain, "h\uFFFD\uFFFDst");
  EXPECT_EQ(Attribute(r, "http_user_agent"), "ua\uFFFD");
  EXPECT_EQ(Attribute(r, "http_referer"), "r\uFFFD\uFFFD\uFFFD");
}

TEST(Http, StatusClasses) {
  Conn c = Http();
  const int codes[] = {200, 204, 301, 304, 400, 404, 499, 500, 502, 599};
  uint64_t t = 0;
  for (int code : codes) {
    c.C2S("GET /s HTTP/1.1\r\nHost: h\r\n\r\n", t += 10);
    c.S2C("HTTP/1.1 " + std::to_string(code) + " X\r\nContent-Length: 0\r\n\r\n", t += 10);
  }
  ASSERT_EQ(c.rows.size(), std::size(codes));
  for (size_t i = 0; i < std::size(codes); ++i) {
    const int code = codes[i];
    EXPECT_EQ(c.rows[i].response_code, code);
    EXPECT_EQ(c.rows[i].response_status, code >= 500   ? L7ResponseStatus::kServerError
                                         : code >= 400 ? L7ResponseStatus::kClientError
                                                       : L7ResponseStatus::kOk);
  }
}

TEST(Http, PipelinedRequestsPairInOrder) {
  Conn c = Http();
  c.C2S(
      "GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n"
      "abcdGET /c HTTP/1.1\r\nHost: h\r\n\r\n",
      10);
  c.S2C(Ok200("one") + "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n" +
            "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
        20, 13);  // in 13-byte pieces
  ASSERT_EQ(c.rows.size(), 3u);
  EXPECT_EQ(c.rows[0].request_resource, "/a");
  EXPECT_EQ(c.rows[0].response_code, 200);
  EXPECT_EQ(c.rows[1].request_resource, "/b");
  EXPECT_EQ(c.rows[1].request_length, 4);
  EXPECT_EQ(c.rows[1].response_code, 201);
  EXPECT_EQ(c.rows[2].request_resource, "/c");
  EXPECT_EQ(c.rows[2].response_code, 404);
  EXPECT_EQ(c.stats().invalid, 0u);
}

TEST(Http, HeadResponseHasNoBody) {
  Conn c = Http();
  c.C2S("HEAD /big HTTP/1.1\r\nHost: h\r\n\r\nGET /small HTTP/1.1\r\nHost: h\r\n\r\n", 10);
  // The HEAD answer announces 100000 bytes and sends none; the next response follows at once.
  c.S2C("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + Ok200("tiny"), 20);
  ASSERT_EQ(c.rows.size(), 2u);
  EXPECT_EQ(c.rows[0].request_type, "HEAD");
  EXPECT_EQ(c.rows[0].response_length, 100000);
  EXPECT_EQ(c.rows[1].request_resource, "/small");
  EXPECT_EQ(c.rows[1].response_code, 200);
  EXPECT_EQ(c.stats().invalid, 0u);
}

TEST(Http, ChunkedBodiesAreSkippedChunkByChunk) {
  Conn c = Http();
  c.C2S("GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n", 10);
  // Chunk data that looks like a response must not be taken for one.
  const std::string fake = "HTTP/1.1 500 Fake\r\nContent-Length: 0\r\n\r\n";
  std::string body;
  char size[16];
  snprintf(size, sizeof size, "%zx", fake.size());
  body += std::string(size) + ";ext=1\r\n" + fake + "\r\n";
  body += "7d0\r\n" + std::string(2000, 'z') + "\r\n";
  body += "0\r\nX-Trailer: t\r\n\r\n";
  c.S2C("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 20);
  c.S2C(body, 30, 100);
  c.C2S("GET /next HTTP/1.1\r\nHost: h\r\n\r\n", 40);
  c.S2C(Ok200("n"), 50);
  ASSERT_EQ(c.rows.size(), 2u);
  EXPECT_EQ(c.rows[0].request_resource, "/chunked");
  EXPECT_EQ(c.rows[0].response_code, 200);
  EXPECT_EQ(c.rows[0].response_length, -1);
  EXPECT_EQ(c.rows[1].request_resource, "/next");
  EXPECT_EQ(c.rows[1].response_code, 200);
  EXPECT_EQ(c.stats().invalid, 0u);
}

TEST(Http, ChunkedRequestBody) {
  Conn c = Http();
  // (The engine infers the protocol from a payload's start: the first one holds the request
  // line; then 9-byte pieces.)
  c.C2S("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 10);
  c.C2S("5\r\nhello\r\n0\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n", 11, 9);
  c.S2C("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n" + Ok200("x"), 20);
  ASSERT_EQ(c.rows.size(), 2u);
  EXPECT_EQ(c.rows[0].response_code, 201);
  EXPECT_EQ(c.rows[1].request_resource, "/after");
  EXPECT_EQ(c.stats().invalid, 0u);
}

TEST(Http, ContinueIsInterim) {
  Conn c = Http();
  c.C2S("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 1500\r\nExpect: 100-continue\r\n\r\n",
        10);
  c.S2C("HTTP/1.1 100 Continue\r\n\r\n", 20);
  c.C2S(std::string(1500, 'b'), 30, 600);
  c.S2C("HTTP/1.1 201 Created\r\nContent-Length: 18\r\n\r\n" + std::string(18, 'r'), 40);
  ASSERT_EQ(c.rows.size(), 1u);
  EXPECT_EQ(c.rows[0].request_length, 1500);
  EXPECT_EQ(c.rows[0].response_code, 201);
  EXPECT_EQ(c.rows[0].response_length, 18);
  EXPECT_EQ(c.rows[0].response_duration, 30u);
  EXPECT_EQ(c.stats().invalid, 0u);
}

TEST(Http, WebSocketUpgradeEndsHttp) {
  Conn c = Http();
  c.C2S(
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      10);
  c.S2C(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
      "\x81\x05hello"s,
      20);
  c.C2S("\x81\x85\x01\x02\x03\x04GET / HTTP/1.1\r\n\r\n"s, 30);
  c.S2C("HTTP/1.1 200 OK\r\n\r\n", 40);
  ASSERT_EQ(c.rows.size(), 1u);
  EXPECT_EQ(c.rows[0].response_code, 101);
  EXPECT_EQ(c.rows[0].response_status, L7ResponseStatus::kOk);
  EXPECT_EQ(c.stats().invalid, 0u);
  EXPECT_EQ(c.stats().orphan_responses, 0u);
}

TEST(Http, ConnectOpensATunnel) {
  Conn c = Http();
  c.C2S("CONNECT db.example:443 HTTP/1.1\r\nHost: db.example:443\r\n\r\n", 10);
  c.S2C("HTTP/1.1 200 Connection Established\r\n\r\n", 20);
  c.C2S("\x16\x03\x01\x00\x05hello"s, 30);
  c.S2C("\x16\x03\x03\x00\x02hi"s, 40);
  ASSERT_EQ(c.rows.size(), 1u);
  EXPECT_EQ(c.rows[0].request_type, "CONNECT");
  EXPECT_EQ(c.rows[0].request_resource, "db.example:443");
  EXPECT_EQ(c.stats().invalid, 0u);
}

TEST(Http, H2cUpgradeContinuesInHttp2) {
  Conn c = Http();
  httptest::Encoder client, server;
  c.C2S(
      "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:19181\r\nUser-Agent: curl/7.88.1\r\n"
      "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
      "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
      10);
  c.S2C("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n" +
            httptest::Settings({{0x3, 100}}) +
            httptest::Frame(http2::kHeaders, http2::kFlagEndHeaders, 1,
                            server.Block({{":status", "200"}, {"content-length", "3"}})) +
            httptest::Frame(http2::kData, http2::kFlagEndStream, 1, "abc"),
        20);
  c.C2S(std::string(http2::kPreface) + httptest::Settings({}) +
            httptest::Frame(http2::kSettings, http2::kFlagAck, 0, ""),
        30);
  // A second request on the upgraded connection.
  c.C2S(httptest::Frame(http2::kHeaders, http2::kFlagEndHeaders | http2::kFlagEndStream, 3,
                        client.Block({{":method", "GET"},
                                      {":scheme", "http"},
                                      {":authority", "127.0.0.1:19181"},
                                      {":path", "/missing.html"}})),
        40);
  c.S2C(httptest::Frame(http2::kHeaders, http2::kFlagEndHeaders | http2::kFlagEndStream, 3,
                        server.Block({{":status", "404"}})),
        50);
  ASSERT_EQ(c.rows.size(), 2u);
  EXPECT_EQ(c.rows[0].request_resource, "/index.html");
  EXPECT_EQ(c.rows[0].version, "1.1");
  EXPECT_EQ(c.rows[0].response_code, 200);  // from HTTP/2 stream 1, not the 101
  EXPECT_EQ(c.rows[0].response_length, 3);
  EXPECT_EQ(c.rows[0].response_duration, 10u);
  EXPECT_EQ(c.rows[1].l7_protocol, L7Protocol::kHttp2);
  EXPECT_EQ(c.rows[1].version, "2");
  EXPECT_EQ(c.rows[1].request_resource, "/missing.html");
  EXPECT_EQ(c.rows[1].response_code, 404);
  EXPECT_EQ(c.stats().invalid, 0u);
}

TEST(Http, H2cUpgradeRefusedStaysHttp1) {
  Conn c = Http();
  c.C2S("GET /a HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n", 10);
  c.S2C(Ok200("plain"), 20);
  c.C2S("GET /b HTTP/1.1\r\nHost: h\r\n\r\n", 30);
  c.S2C(Ok200("again"), 40);
  ASSERT_EQ(c.rows.size(), 2u);
  EXPECT_EQ(c.rows[1].request_resource, "/b");
}

TEST(HttpParser, PrefaceHandsOverToHttp2) {
  L7Config config;
  HttpParser p(config);
  L7Message m;
  ParseResult r = p.Parse(ParseInput{kC2S, http2::kPreface.substr(0, 10), false, false}, &m);
  EXPECT_EQ(r.state, ParseState::kNeedMore);
  r = p.Parse(ParseInput{kC2S, http2::kPreface, false, false}, &m);
  EXPECT_EQ(r.state, ParseState::kOk);
  EXPECT_TRUE(m.ignore);
  EXPECT_EQ(p.mode(), HttpParser::Mode::kHttp2);
  ASSERT_NE(p.http2(), nullptr);
}

TEST(Http, HeaderBlockLongerThanTheParseBound) {
  Conn c = Http();
  const std::string cookie(3000, 'c');
  c.C2S("POST /form HTTP/1.1\r\nHost: h\r\nCookie: " + cookie +
            "\r\nContent-Length: 5\r\nUser-Agent: ua\r\n\r\nhelloGET /next HTTP/1.1\r\nHost: "
            "h\r\n\r\n",
        10, 500);
  c.S2C(
      "HTTP/1.1 200 OK\r\nSet-Cookie: " + cookie + "\r\nContent-Length: 4\r\n\r\nbody" + Ok200("n"),
      20, 700);
  ASSERT_EQ(c.rows.size(), 2u);
  EXPECT_EQ(c.rows[0].request_resource, "/form");
  EXPECT_EQ(c.rows[0].request_domain, "h");
  EXPECT_EQ(c.rows[0].response_code, 200);
  EXPECT_EQ(c.rows[1].request_resource, "/next");
  EXPECT_EQ(c.rows[1].response_code, 200);
  EXPECT_EQ(c.stats().invalid, 0u);
}

TEST(Http, StartLineLongerThanTheParseBound) {
  Conn c = Http();
  const std::string path = "/q?" + std::string(2000, 'a');
  c.C2S("GET " + path + " HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n", 10);
  c.S2C(Ok200("1") + Ok200("2"), 20);
  ASSERT_EQ(c.rows.size(), 2u);
  EXPECT_EQ(c.rows[0].request_resource, path.substr(0, 1024 - 4));
  EXPECT_EQ(c.rows[0].endpoint, "/q");
  EXPECT_EQ(c.rows[1].request_resource, "/next");
  EXPECT_EQ(c.stats().invalid, 0u);
}

TEST(Http, BodyUntilCloseIsSkipped) {
  Conn c = Http();
  c.C2S("GET /old HTTP/1.0\r\n\r\n", 10);
  c.S2C("HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n" + std::string(5000, 'x'), 20, 1000);
  c.End(100);
  ASSERT_EQ(c.rows.size(), 1u);
  EXPECT_EQ(c.rows[0].version, "1.0");
  EXPECT_EQ(c.rows[0].response_length, -1);
  EXPECT_EQ(c.stats().invalid, 0u);
}

TEST(Http, ResynchronisesAfterGarbageAndGaps) {
  Conn c = Http();
  c.C2S("GET /a HTTP/1.1\r\nHost: h\r\n\r\n", 10);
  c.S2C(Ok200("a"), 20);
  c.C2S("\x01\x02garbage\r\nmore garbage\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"s, 30);
  c.S2C(Ok200("b"), 40);
  // Lost bytes in the middle of a response body, then the next exchange.
  c.C2S("GET /c HTTP/1.1\r\nHost: h\r\n\r\n", 50);
  c.S2C("HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n" + std::string(100, 'x'), 60);
  c.Gap(kS2C, 100);
  c.S2C(std::string(100, 'x'), 61);
  c.C2S("GET /d HTTP/1.1\r\nHost: h\r\n\r\n", 70);
  c.S2C(Ok200("d"), 80);
  ASSERT_EQ(c.rows.size(), 4u);
  EXPECT_EQ(c.rows[1].request_resource, "/b");
  EXPECT_EQ(c.rows[3].request_resource, "/d");
  EXPECT_EQ(c.rows[3].response_code, 200);
  EXPECT_EQ(c.stats().invalid, 1u);
}

TEST(Http, TinyParseBound) {
  // Every message exceeds the bound: the parser still keeps the exchanges apart.
  L7Config config;
  config.max_parse_bytes = 24;
  Conn c = Http(config);
  c.C2S("GET /first/path HTTP/1.1\r\n", 9);  // inference needs a whole request line
  c.C2S(
      "Host: example\r\nContent-Length: 3\r\n\r\nabc"
      "GET /second HTTP/1.1\r\nHost: example\r\n\r\n",
      10, 7);
  c.S2C(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
      "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno",
      20, 5);
  ASSERT_EQ(c.rows.size(), 2u);
  EXPECT_EQ(c.rows[0].request_resource, "/first/path");
  EXPECT_EQ(c.rows[0].response_code, 200);
  EXPECT_EQ(c.rows[1].response_code, 404);
  EXPECT_EQ(c.stats().invalid, 0u);
}

TEST(HttpParser, ConsumesHeadersAndSkipsBodies) {
  L7Config config;
  HttpParser p(config);
  L7Message m;
  const std::string req = "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n";
  ParseResult r = p.Parse(ParseInput{kC2S, req + "0123456789", false, false}, &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, req.size() + 10);
  EXPECT_EQ(r.skip, 4990u);
  EXPECT_EQ(m.length, 5000);
  // Headers cut short need more; at the bound they are taken as they are.
  m = L7Message{};
  r = p.Parse(ParseInput{kC2S, "GET /y HTTP/1.1\r\nHost: h\r\n", false, false}, &m);
  EXPECT_EQ(r.state, ParseState::kNeedMore);
  // Garbage is invalid; FindBoundary finds the next start line.
  r = p.Parse(ParseInput{kC2S, "garbage\r\n", false, false}, &m);
  EXPECT_EQ(r.state, ParseState::kInvalid);
  EXPECT_EQ(p.FindBoundary(kC2S, "xx\r\nyy\r\nGET / HTTP/1.1\r\n"), 8u);
  EXPECT_EQ(p.FindBoundary(kC2S, "xx\r\nGE"), 4u);
  EXPECT_EQ(p.FindBoundary(kC2S, "xx\r\nGET key\r\n"), 13u);
}

// ---- Real traffic (testdata/*.pcap, facts from tshark) ----

class HttpPcapTest : public ::testing::TestWithParam<std::string> {};

TEST_P(HttpPcapTest, AgreesWithTshark) {
  const l7test::Recording recording = l7test::LoadRecording("http", GetParam());
  const nlohmann::json& facts = recording.facts;
  ASSERT_TRUE(facts.is_object());
  const l7test::PcapRun run = l7test::RunPcap(recording.pcap, {"http"});
  EXPECT_EQ(run.stats.invalid, 0u);
  EXPECT_EQ(run.stats.orphan_responses, 0u);
  EXPECT_EQ(run.stats.timeouts, 0u);
  ASSERT_EQ(run.rows.size(), facts["counts"]["pairs"].get<size_t>());
  std::set<const L7FlowLog*> used;
  for (const auto& rec : facts["records"]) {
    SCOPED_TRACE(rec.dump());
    const uint16_t port = l7test::FactPort(rec["client"]);
    const uint64_t req_us = l7test::FactTimeUs(rec["request"]["first_time"]);
    const L7FlowLog* row = nullptr;
    for (const auto& r : run.rows) {
      if (r.client_port == port && r.start_time == req_us &&
          r.request_resource == rec["resource"].get<std::string>() && !used.count(&r)) {
        row = &r;
        break;
      }
    }
    ASSERT_NE(row, nullptr);
    used.insert(row);
    EXPECT_EQ(row->l7_protocol, L7Protocol::kHttp1);
    EXPECT_EQ(row->request_type, rec["method"].get<std::string>());
    EXPECT_EQ("HTTP/" + row->version, rec["version"].get<std::string>());
    EXPECT_EQ(row->request_domain, rec["host"].get<std::string>());
    EXPECT_EQ(row->response_code, std::stoi(rec["status"].get<std::string>()));
    EXPECT_EQ(row->response_status == L7ResponseStatus::kClientError ||
                  row->response_status == L7ResponseStatus::kServerError,
              rec["error"].get<bool>());
    EXPECT_EQ(row->endpoint, HttpEndpoint(row->request_resource, 2));
    EXPECT_EQ(Attribute(*row, "http_user_agent"), rec["user_agent"].get<std::string>());
    const auto length = [](const nlohmann::json& v) {
      return v.is_null() ? int64_t{-1} : v.get<int64_t>();
    };
    EXPECT_EQ(row->request_length, length(rec["request_content_length"]));
    EXPECT_EQ(row->response_length, length(rec["response_content_length"]));
    EXPECT_NEAR(static_cast<int64_t>(row->response_duration), rec["latency_us"].get<int64_t>(), 1);
    const auto& rh = rec["request_headers"];
    if (rh.contains("traceparent")) {
      EXPECT_EQ(row->trace_id, rh["traceparent"].get<std::string>().substr(3, 32));
      EXPECT_EQ(row->span_id, rh["traceparent"].get<std::string>().substr(36, 16));
    }
    if (rh.contains("x-request-id")) {
      EXPECT_EQ(row->x_request_id_0, rh["x-request-id"].get<std::string>());
    }
    if (rec["response_headers"].contains("x-request-id")) {
      EXPECT_EQ(row->x_request_id_1, rec["response_headers"]["x-request-id"].get<std::string>());
    }
    if (rh.contains("x-forwarded-for")) {
      const std::string xff = rh["x-forwarded-for"];
      EXPECT_EQ(row->http_proxy_client, xff.substr(0, xff.find(',')));
    }
    if (rh.contains("x-b3-traceid")) {
      EXPECT_EQ(row->trace_id, rh["x-b3-traceid"].get<std::string>());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Http, HttpPcapTest,
                         ::testing::Values("http1_basic", "http1_pipeline",
                                           "http1_chunked_continue", "http1_upgrade",
                                           "http1_trace_headers"));

}  // namespace
}  // namespace flowscope::agent::l7::http
