#include "agent/l7/protocols/http2/http2.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <utility>

#include "agent/l7/protocols/http2/test_util.h"
#include "agent/l7/testing/engine_like_feeder.h"
#include "agent/l7/testing/facts.h"
#include "agent/l7/testing/pcap_rows.h"

namespace flowscope::agent::l7::http2 {
namespace {

using httptest::Conn;
using httptest::Encoder;
using httptest::Frame;
using httptest::Headers;
using httptest::Settings;
using l7test::Attribute;
using namespace std::string_literals;

// Whether the engine tells parsers when the bytes were seen (ParseInput::timestamp_ns): then a
// gRPC response reported with its trailers is dated by its headers.
template <typename In>
constexpr bool kHasTime = requires(In in) {
  in.timestamp_ns;
};
constexpr bool kDatedByHeaders = kHasTime<ParseInput>;

constexpr Direction kC2S = Direction::kClientToServer;
constexpr Direction kS2C = Direction::kServerToClient;

std::string Preface() { return std::string(kPreface) + Settings({{0x3, 100}, {0x4, 65535}}); }

std::string HeadersFrame(uint32_t stream, const std::string& block, bool end_stream = false) {
  return Frame(kHeaders, kFlagEndHeaders | (end_stream ? kFlagEndStream : 0), stream, block);
}

std::string DataFrame(uint32_t stream, size_t n, bool end_stream = false) {
  return Frame(kData, end_stream ? kFlagEndStream : 0, stream, std::string(n, 'd'));
}

Headers Get(std::string path, Headers extra = {}) {
  Headers h = {{":method", "GET"},
               {":scheme", "http"},
               {":authority", "api.example:8080"},
               {":path", std::move(path)}};
  h.insert(h.end(), extra.begin(), extra.end());
  return h;
}

Headers Grpc(std::string path, Headers extra = {}) {
  Headers h = {{":method", "POST"},
               {":scheme", "http"},
               {":path", std::move(path)},
               {":authority", "grpc.example:50051"},
               {"content-type", "application/grpc"},
               {"te", "trailers"}};
  h.insert(h.end(), extra.begin(), extra.end());
  return h;
}

// A client and a server with their own HPACK encoders, over one connection.
struct H2 {
  explicit H2(L7Config config = {}, size_t server_table = 4096)
      : server(server_table), conn({&kSpec}, std::move(config)) {}
  Encoder client, server;
  Conn conn;
  void Start(uint64_t t = 0) {
    conn.C2S(Preface(), t);
    conn.S2C(Settings({{0x3, 128}}) + Frame(kSettings, kFlagAck, 0, ""), t + 1);
    conn.C2S(Frame(kSettings, kFlagAck, 0, ""), t + 2);
  }
  std::string Req(uint32_t stream, const Headers& h, bool end_stream = true) {
    return HeadersFrame(stream, client.Block(h), end_stream);
  }
  std::string Resp(uint32_t stream, const Headers& h, bool end_stream = false) {
    return HeadersFrame(stream, server.Block(h), end_stream);
  }
};

TEST(Http2Infer, PrefaceAndFrameRuns) {
  auto yes = [](std::string_view d, Direction dir = kC2S) {
    return Infer(InferInput{dir, d, false, 80}) == InferResult::kYes;
  };
  EXPECT_TRUE(yes(Preface()));
  EXPECT_TRUE(yes(kPreface.substr(0, 16)));
  EXPECT_FALSE(yes(kPreface.substr(0, 10)));  // "PRI * HTTP" alone: too little to tell
  // The server's first bytes, when the client's were not seen: SETTINGS (exactly).
  EXPECT_TRUE(yes(Settings({{0x3, 100}}), kS2C));
  Encoder e;
  EXPECT_TRUE(yes(HeadersFrame(1, e.Block(Get("/"))) + DataFrame(1, 10, true)));
  // Not HTTP/2.
  EXPECT_FALSE(yes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_FALSE(yes("HTTP/1.1 200 OK\r\n\r\n", kS2C));
  EXPECT_FALSE(yes("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s));  // TLS ClientHello
  EXPECT_FALSE(yes("*1\r\n$4\r\nPING\r\n"));
  EXPECT_FALSE(yes("\x00\x00\x00\x08\x04\xd2\x16\x2f"s));  // PostgreSQL SSLRequest
  EXPECT_FALSE(yes(Frame(kData, 0, 1, "abc")));            // DATA alone proves little
  EXPECT_FALSE(Infer(InferInput{kC2S, Preface(), true, 80}) == InferResult::kYes);  // UDP
  std::mt19937 rng(11);
  int hits = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s(1 + rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    hits += yes(s);
  }
  EXPECT_EQ(hits, 0);
}

TEST(Http2, RequestAndResponseFields) {
  H2 h;
  h.Start();
  h.conn.C2S(
      h.Req(1, Get("/api/v1/users/42?x=1",
                   {{"user-agent", "nghttp2/1.52.0"},
                    {"referer", "http://ref.example/"},
                    {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
                    {"x-request-id", "req-1"},
                    {"x-forwarded-for", "203.0.113.7, 10.0.0.1"}})),
      100);
  h.conn.S2C(h.Resp(1, {{":status", "200"}, {"content-length", "5"}, {"x-request-id", "rsp-1"}}) +
                 DataFrame(1, 5, true),
             350);
  ASSERT_EQ(h.conn.rows.size(), 1u);
  const L7FlowLog& r = h.conn.rows[0];
  EXPECT_EQ(r.l7_protocol, L7Protocol::kHttp2);
  EXPECT_EQ(r.type, L7LogType::kSession);
  EXPECT_EQ(r.version, "2");
  EXPECT_EQ(r.request_type, "GET");
  EXPECT_EQ(r.request_domain, "api.example:8080");
  EXPECT_EQ(r.request_resource, "/api/v1/users/42?x=1");
  EXPECT_EQ(r.endpoint, "/api/v1");
  EXPECT_TRUE(r.has_request_id);
  EXPECT_EQ(r.request_id, 1u);
  EXPECT_TRUE(r.has_response_code);
  EXPECT_EQ(r.response_code, 200);
  EXPECT_EQ(r.response_status, L7ResponseStatus::kOk);
  EXPECT_EQ(r.request_length, -1);
  EXPECT_EQ(r.response_length, 5);
  EXPECT_EQ(r.response_duration, 250u);
  EXPECT_EQ(r.trace_id, "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(r.span_id, "b7ad6b7169203331");
  EXPECT_EQ(r.x_request_id_0, "req-1");
  EXPECT_EQ(r.x_request_id_1, "rsp-1");
  EXPECT_EQ(r.http_proxy_client, "203.0.113.7");
  EXPECT_EQ(Attribute(r, "http_user_agent"), "nghttp2/1.52.0");
  EXPECT_EQ(Attribute(r, "http_referer"), "http://ref.example/");
  EXPECT_EQ(h.conn.stats().invalid, 0u);
}

TEST(Http2, InterleavedStreamsPairByStreamId) {
  H2 h;
  h.Start();
  // Three requests in one segment; the dynamic table makes the later blocks tiny.
  // (Encoded one after the other: HPACK blocks depend on the order.)
  std::string reqs = h.Req(1, Get("/a"));
  reqs += h.Req(3, Get("/b"));
  reqs += h.Req(5, Get("/c"));
  h.conn.C2S(reqs, 10);
  h.conn.S2C(h.Resp(5, {{":status", "404"}}, true), 20);
  h.conn.S2C(h.Resp(1, {{":status", "200"}}) + DataFrame(1, 3000, true), 30, 700);
  h.conn.S2C(h.Resp(3, {{":status", "503"}}, true), 40);
  ASSERT_EQ(h.conn.rows.size(), 3u);
  std::map<std::string, const L7FlowLog*> by;
  for (const auto& r : h.conn.rows) by[r.request_resource] = &r;
  EXPECT_EQ(by["/c"]->response_code, 404);
  EXPECT_EQ(by["/c"]->response_status, L7ResponseStatus::kClientError);
  EXPECT_EQ(by["/c"]->request_id, 5u);
  EXPECT_EQ(by["/a"]->response_code, 200);
  EXPECT_EQ(by["/a"]->response_duration, 20u);
  EXPECT_EQ(by["/b"]->response_code, 503);
  EXPECT_EQ(by["/b"]->response_status, L7ResponseStatus::kServerError);
  for (const auto& r : h.conn.rows) EXPECT_EQ(r.request_domain, "api.example:8080");
  EXPECT_EQ(h.conn.stats().invalid, 0u);
}

TEST(Http2, ContinuationPaddingAndPriority) {
  H2 h;
  h.Start();
  const std::string block = h.client.Block(Get("/split", {{"user-agent", std::string(300, 'u')}}));
  ASSERT_GT(block.size(), 30u);
  // HEADERS (PADDED|PRIORITY, no END_HEADERS) + CONTINUATION + CONTINUATION (END_HEADERS).
  const size_t a = 10, b = 20;
  std::string first;
  first.push_back(4);                         // pad length
  first += "\x80\x00\x00\x03\x10"s;           // exclusive dependency on stream 3, weight 17
  first += block.substr(0, a) + "\0\0\0\0"s;  // fragment + padding
  const std::string frames =
      Frame(kHeaders, kFlagPadded | kFlagPriority | kFlagEndStream, 7, first) +
      Frame(kContinuation, 0, 7, block.substr(a, b - a)) +
      Frame(kContinuation, kFlagEndHeaders, 7, block.substr(b));
  h.conn.C2S(frames, 10, 7);  // in 7-byte pieces
  // A padded response DATA frame.
  std::string data;
  data.push_back(3);
  data += "hello\0\0\0"s;
  h.conn.S2C(h.Resp(7, {{":status", "200"}}) + Frame(kData, kFlagPadded | kFlagEndStream, 7, data),
             20);
  ASSERT_EQ(h.conn.rows.size(), 1u);
  EXPECT_EQ(h.conn.rows[0].request_resource, "/split");
  EXPECT_EQ(Attribute(h.conn.rows[0], "http_user_agent"), std::string(300, 'u'));
  EXPECT_EQ(h.conn.rows[0].response_code, 200);
  EXPECT_EQ(h.conn.stats().invalid, 0u);
}

TEST(Http2, ContinuationOnAnotherStreamBreaksTheConnection) {
  H2 h;
  h.Start();
  const std::string block = h.client.Block(Get("/x"));
  h.conn.C2S(Frame(kHeaders, 0, 1, block.substr(0, 3)) +
                 Frame(kContinuation, kFlagEndHeaders, 3, block.substr(3)),
             10);
  h.conn.C2S(h.Req(5, Get("/y")), 20);
  EXPECT_TRUE(h.conn.rows.empty());
  EXPECT_GE(h.conn.stats().invalid, 1u);
}

TEST(Http2, GrpcUnaryStatusFromTrailers) {
  H2 h;
  h.Start();
  h.conn.C2S(
      h.Req(1, Grpc("/pkg.Echo/Say", {{"grpc-timeout", "1S"}}), false) + DataFrame(1, 12, true),
      10);
  h.conn.S2C(h.Resp(1, {{":status", "200"}, {"content-type", "application/grpc"}}), 20);
  h.conn.S2C(DataFrame(1, 17), 25);
  h.conn.S2C(h.Resp(1, {{"grpc-status", "0"}, {"grpc-message", ""}}, true), 30);
  ASSERT_EQ(h.conn.rows.size(), 1u);
  const L7FlowLog& r = h.conn.rows[0];
  EXPECT_EQ(r.l7_protocol, L7Protocol::kGrpc);
  EXPECT_EQ(r.request_type, "POST");
  EXPECT_EQ(r.request_resource, "pkg.Echo");
  EXPECT_EQ(r.endpoint, "/pkg.Echo/Say");
  EXPECT_EQ(r.request_domain, "grpc.example:50051");
  EXPECT_EQ(r.response_code, 0);
  EXPECT_EQ(r.response_status, L7ResponseStatus::kOk);
  EXPECT_EQ(r.response_length, 17);
  EXPECT_EQ(r.response_duration, kDatedByHeaders ? 10u : 20u);  // to the headers (trailers)
}

// Header values are octets: what reaches a row is valid UTF-8 (text.h), the percent-decoded
// grpc-message too.
TEST(Http2, HeaderBytesInRowsAreValidUtf8) {
  H2 h;
  h.Start();
  const std::string r = "\xEF\xBF\xBD";
  h.conn.C2S(h.Req(1, Get("/caf\xC3\xA9/\xFF",
                          {{"user-agent", "ua\xC0\xAF"}, {"x-request-id", "id\xED\xA0\x80"}})),
             10);
  h.conn.C2S(h.Req(3, Grpc("/pkg.Svc/M")), 20);
  h.conn.S2C(h.Resp(1, {{":status", "200"}}, true), 30);
  h.conn.S2C(h.Resp(3,
                    {{":status", "200"},
                     {"content-type", "application/grpc"},
                     {"grpc-status", "13"},
                     {"grpc-message", "bad %FF%C3%A9 \xF5"}},
                    true),
             40);
  ASSERT_EQ(h.conn.rows.size(), 2u);
  EXPECT_EQ(h.conn.rows[0].request_resource, "/caf\xC3\xA9/" + r);
  EXPECT_EQ(Attribute(h.conn.rows[0], "http_user_agent"), "ua" + r + r);
  EXPECT_EQ(h.conn.rows[0].x_request_id_0, "id" + r + r + r);
  EXPECT_EQ(h.conn.rows[1].response_exception, "bad " + r + "\xC3\xA9 " + r);
}

TEST(Http2, GrpcErrorsAndTrailersOnly) {
  H2 h;
  h.Start();
  struct Case {
    const char* status;
    L7ResponseStatus want;
  };
  const Case cases[] = {
      {"5", L7ResponseStatus::kClientError},  {"16", L7ResponseStatus::kClientError},
      {"1", L7ResponseStatus::kClientError},  {"13", L7ResponseStatus::kServerError},
      {"14", L7ResponseStatus::kServerError}, {"2", L7ResponseStatus::kServerError}};
  uint32_t stream = 1;
  for (const Case& c : cases) {
    h.conn.C2S(h.Req(stream, Grpc("/pkg.Svc/M")), uint64_t{stream} * 10);
    // Trailers-only: one HEADERS frame with :status and grpc-status.
    h.conn.S2C(h.Resp(stream,
                      {{":status", "200"},
                       {"content-type", "application/grpc"},
                       {"grpc-status", c.status},
                       {"grpc-message", "no%20such text: %E2%9C%93"}},
                      true),
               uint64_t{stream} * 10 + 5);
    stream += 2;
  }
  ASSERT_EQ(h.conn.rows.size(), std::size(cases));
  for (size_t i = 0; i < std::size(cases); ++i) {
    const L7FlowLog& r = h.conn.rows[i];
    EXPECT_EQ(r.response_code, std::stoi(cases[i].status));
    EXPECT_EQ(r.response_status, cases[i].want) << cases[i].status;
    EXPECT_EQ(r.response_exception, "no such text: \u2713");
    EXPECT_EQ(r.response_length, 0);
  }
}

TEST(Http2, GrpcHttpErrorWithoutGrpcStatus) {
  H2 h;
  h.Start();
  h.conn.C2S(h.Req(1, Grpc("/pkg.Svc/M")), 10);
  h.conn.S2C(h.Resp(1, {{":status", "503"}, {"content-type", "text/plain"}}, true), 20);
  ASSERT_EQ(h.conn.rows.size(), 1u);
  EXPECT_EQ(h.conn.rows[0].l7_protocol, L7Protocol::kGrpc);
  EXPECT_EQ(h.conn.rows[0].response_code, 503);
  EXPECT_EQ(h.conn.rows[0].response_status, L7ResponseStatus::kServerError);
}

TEST(Http2, InterimResponsesAreNotTheAnswer) {
  H2 h;
  h.Start();
  h.conn.C2S(h.Req(1,
                   {{":method", "POST"},
                    {":path", "/up"},
                    {":authority", "x"},
                    {"expect", "100-continue"},
                    {"content-length", "4"}},
                   false),
             10);
  h.conn.S2C(h.Resp(1, {{":status", "100"}}), 20);
  h.conn.C2S(DataFrame(1, 4, true), 30);
  h.conn.S2C(h.Resp(1, {{":status", "201"}}, true), 40);
  ASSERT_EQ(h.conn.rows.size(), 1u);
  EXPECT_EQ(h.conn.rows[0].response_code, 201);
  EXPECT_EQ(h.conn.rows[0].request_length, 4);
  EXPECT_EQ(h.conn.rows[0].response_duration, 30u);
}

TEST(Http2, ServerResetAnswersTheStreamClientResetDoesNot) {
  H2 h;
  h.Start();
  std::string reqs = h.Req(1, Get("/refused"));
  reqs += h.Req(3, Get("/cancelled"));
  h.conn.C2S(reqs, 10);
  h.conn.S2C(Frame(kRstStream, 0, 1, "\x00\x00\x00\x07"s), 20);  // REFUSED_STREAM
  h.conn.C2S(Frame(kRstStream, 0, 3, "\x00\x00\x00\x08"s), 30);  // CANCEL
  h.conn.S2C(Frame(kGoaway, 0, 0, "\x00\x00\x00\x03\x00\x00\x00\x00"s), 40);
  ASSERT_EQ(h.conn.rows.size(), 1u);
  EXPECT_EQ(h.conn.rows[0].request_resource, "/refused");
  EXPECT_EQ(h.conn.rows[0].response_status, L7ResponseStatus::kServerError);
  EXPECT_EQ(h.conn.rows[0].response_exception, "RST_STREAM REFUSED_STREAM");
  EXPECT_FALSE(h.conn.rows[0].has_response_code);
  h.conn.End(1000);
  ASSERT_EQ(h.conn.rows.size(), 2u);
  EXPECT_EQ(h.conn.rows[1].request_resource, "/cancelled");
  EXPECT_EQ(h.conn.rows[1].response_status, L7ResponseStatus::kTimeout);
}

TEST(Http2, PushPromiseKeepsHpackInStep) {
  H2 h;
  h.Start();
  h.conn.C2S(h.Req(1, Get("/page")), 10);
  // The promise's block enters the server encoder's dynamic table; the response after it
  // refers to those entries.
  const std::string promised = h.server.Block(Get("/style.css", {{"x-pushed", "yes"}}));
  h.conn.S2C(Frame(kPushPromise, kFlagEndHeaders, 1, "\x00\x00\x00\x02"s + promised), 20);
  h.conn.S2C(h.Resp(1, {{":status", "200"}, {"x-pushed", "yes"}}) + DataFrame(1, 10, true), 21);
  h.conn.S2C(h.Resp(2, {{":status", "200"}, {"x-pushed", "yes"}}) + DataFrame(2, 10, true), 22);
  h.conn.C2S(h.Req(3, Get("/next")), 30);
  h.conn.S2C(h.Resp(3, {{":status", "404"}, {"x-pushed", "yes"}}, true), 40);
  ASSERT_EQ(h.conn.rows.size(), 2u);  // the pushed stream has no request: not logged
  EXPECT_EQ(h.conn.rows[0].request_resource, "/page");
  EXPECT_EQ(h.conn.rows[0].response_code, 200);
  EXPECT_EQ(h.conn.rows[1].request_resource, "/next");
  EXPECT_EQ(h.conn.rows[1].response_code, 404);
  EXPECT_EQ(h.conn.stats().invalid, 0u);
  EXPECT_EQ(h.conn.stats().orphan_responses, 0u);
}

TEST(Http2, LargerHeaderTableFromSettings) {
  H2 h({}, 65536);
  // The client allows a 64 KiB table; the server's encoder then uses it.
  h.conn.C2S(std::string(kPreface) + Settings({{0x1, 65536}}), 0);
  h.conn.S2C(Settings({}) + Frame(kSettings, kFlagAck, 0, ""), 1);
  h.server.SetTableSize(65536);
  for (uint32_t s = 1; s <= 9; s += 2) {
    h.conn.C2S(h.Req(s, Get("/t" + std::to_string(s))), uint64_t{s} * 10);
    // ~900-byte values (Huffman-coded under the parse bound): five of them overflow 4 KiB.
    h.conn.S2C(
        h.Resp(s, {{":status", "200"}, {"x-big", std::string(900, static_cast<char>('a' + s))}},
               true),
        uint64_t{s} * 10 + 1);
  }
  // The first entries are still in the table: a response made only of references to them.
  h.conn.C2S(h.Req(11, Get("/again")), 200);
  h.conn.S2C(h.Resp(11, {{":status", "404"}, {"x-big", std::string(900, 'a' + 1)}}, true), 201);
  ASSERT_EQ(h.conn.rows.size(), 6u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(h.conn.rows[i].response_code, 200);
  EXPECT_EQ(h.conn.rows[5].response_code, 404);
  EXPECT_EQ(h.conn.stats().invalid, 0u);
}

// Random printable bytes: Huffman coding barely shrinks them.
std::string Incompressible(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string v(n, 'x');
  for (char& c : v) c = static_cast<char>('!' + rng() % 90);
  return v;
}

// A browser-like cookie far over the 1024-byte parse bound, in HEADERS frames sent in
// MSS-sized segments: the parser takes such frames in pieces, HPACK sees every byte, and the
// requests and responses after them, made of references to what those blocks indexed, decode.
TEST(Http2, LargeHeaderBlocksKeepHpackInStep) {
  Conn conn({&kSpec});
  // Both peers allow a 64 KiB table, so that even the big cookies get indexed.
  Encoder client(65536), server(65536);
  client.SetTableSize(65536);
  server.SetTableSize(65536);
  conn.C2S(std::string(kPreface) + Settings({{0x1, 65536}}), 0);
  conn.S2C(Settings({{0x1, 65536}}) + Frame(kSettings, kFlagAck, 0, ""), 1);
  conn.C2S(Frame(kSettings, kFlagAck, 0, ""), 2);
  const std::string cookie = Incompressible(6000, 1), set_cookie = Incompressible(5000, 2);
  auto request = [&](uint32_t stream, const std::string& path) {
    // The headers after the cookie are indexed after it: a decoder that missed the end of the
    // first block would find them at the wrong places.
    return HeadersFrame(stream,
                        client.Block(Get(path, {{"cookie", cookie},
                                                {"user-agent", "big-ua/1"},
                                                {"x-forwarded-for", "198.51.100.9"},
                                                {"x-request-id", "r" + path}})),
                        true);
  };
  auto response = [&](uint32_t stream, const std::string& status) {
    return HeadersFrame(
        stream,
        server.Block({{":status", status}, {"set-cookie", set_cookie}, {"x-request-id", "s-one"}}),
        true);
  };
  const std::string first = request(1, "/1");
  const std::string first_response = response(1, "200");
  EXPECT_GT(first.size(), 4096u);
  EXPECT_GT(first_response.size(), 3000u);
  conn.C2S(first, 10, /*piece=*/1448);
  conn.S2C(first_response, 20, /*piece=*/1448);
  for (uint32_t stream = 3; stream <= 7; stream += 2) {
    const std::string again = request(stream, "/" + std::to_string(stream));
    EXPECT_LT(again.size(), 64u);  // references to the dynamic table
    conn.C2S(again, uint64_t{stream} * 10);
    conn.S2C(response(stream, stream == 7 ? "503" : "200"), uint64_t{stream} * 10 + 5);
  }
  ASSERT_EQ(conn.rows.size(), 4u);
  for (size_t i = 0; i < conn.rows.size(); ++i) {
    const L7FlowLog& r = conn.rows[i];
    const std::string path = "/" + std::to_string(2 * i + 1);
    EXPECT_EQ(r.type, L7LogType::kSession);
    EXPECT_EQ(r.request_id, 2 * i + 1);
    EXPECT_EQ(r.request_resource, path);
    EXPECT_EQ(r.request_domain, "api.example:8080");
    EXPECT_EQ(Attribute(r, "http_user_agent"), "big-ua/1");
    EXPECT_EQ(Attribute(r, "http2_broken"), "");
    EXPECT_EQ(r.http_proxy_client, "198.51.100.9");
    EXPECT_EQ(r.x_request_id_0, "r" + path);
    EXPECT_EQ(r.x_request_id_1, "s-one");
    EXPECT_EQ(r.response_code, i == 3 ? 503 : 200);
  }
  // The first request is dated by its first segment, not by the one that completed it.
  EXPECT_EQ(conn.rows[0].start_time, httptest::kT0 / 1000 + 10);
  EXPECT_EQ(conn.rows[0].response_duration, 10u);
  EXPECT_EQ(conn.stats().invalid, 0u);
  EXPECT_EQ(conn.stats().orphan_responses, 0u);
}

// The same with the block split over HEADERS (padded, with priority) and CONTINUATION frames,
// each longer than a small parse bound, bytes arriving a few at a time.
TEST(Http2, LargeContinuationFramesInPieces) {
  L7Config config;
  config.max_parse_bytes = 64;
  Conn conn({&kSpec}, config);
  Encoder client, server;
  conn.C2S(Preface(), 0);
  conn.S2C(Settings({}) + Frame(kSettings, kFlagAck, 0, ""), 1);
  const std::string block =
      client.Block(Get("/cont", {{"x-a", Incompressible(300, 3)}, {"user-agent", "ua-c"}}));
  ASSERT_GT(block.size(), 300u);
  const std::string priority = "\x80\x00\x00\x03\x10"s;  // exclusive, on stream 3, weight 17
  const std::string pad(7, '\0');
  const std::string frames = Frame(kHeaders, kFlagEndStream | kFlagPadded | kFlagPriority, 1,
                                   "\x07"s + priority + block.substr(0, 100) + pad) +
                             Frame(kContinuation, 0, 1, block.substr(100, 150)) +
                             Frame(kContinuation, kFlagEndHeaders, 1, block.substr(250));
  conn.C2S(frames, 10, /*piece=*/7);
  // The next block refers to what the first indexed.
  conn.C2S(HeadersFrame(3, client.Block(Get("/cont2", {{"user-agent", "ua-c"}})), true), 20);
  conn.S2C(HeadersFrame(1, server.Block({{":status", "200"}}), true), 30);
  conn.S2C(HeadersFrame(3, server.Block({{":status", "204"}}), true), 31);
  ASSERT_EQ(conn.rows.size(), 2u);
  EXPECT_EQ(conn.rows[0].request_resource, "/cont");
  EXPECT_EQ(conn.rows[1].request_resource, "/cont2");
  EXPECT_EQ(Attribute(conn.rows[1], "http_user_agent"), "ua-c");
  EXPECT_EQ(conn.rows[1].response_code, 204);
  EXPECT_EQ(conn.stats().invalid, 0u);
}

// The parser's own account: frames taken in pieces are counted.
TEST(Http2Parser, LargeHeaderFramesAreCountedAndDecoded) {
  const L7Config config;
  Http2Parser p(config);
  l7test::EngineLikeFeeder feed(&p, 1024);
  Encoder client;
  feed.Feed(kC2S, Preface());
  feed.Feed(kC2S, HeadersFrame(1, client.Block(Get("/big", {{"cookie", Incompressible(5000, 4)}})),
                               true));
  feed.Feed(kC2S, HeadersFrame(3, client.Block(Get("/small")), true));
  ASSERT_EQ(feed.messages.size(), 2u);
  EXPECT_EQ(feed.messages[0].request_resource, "/big");
  EXPECT_EQ(feed.messages[1].request_resource, "/small");
  EXPECT_EQ(p.stats().pieced_header_frames, 1u);
  EXPECT_EQ(p.stats().hpack_errors, 0u);
  EXPECT_FALSE(p.broken());
  EXPECT_TRUE(feed.Idle(kC2S));
}

// A parse bound too small to show a padded HEADERS frame's pad length ends the connection.
TEST(Http2Parser, BoundTooSmallForAFramePrefix) {
  const L7Config config;
  Http2Parser p(config);
  L7Message m;
  const std::string f = Frame(kHeaders, kFlagPadded | kFlagEndHeaders, 1, "\x01\x82\x00"s);
  EXPECT_EQ(p.Parse(ParseInput{kC2S, std::string_view(f).substr(0, 9), true, false}, &m).state,
            ParseState::kInvalid);
  EXPECT_EQ(p.stats().broken_reason, BrokenReason::kHeaderBlockTooLarge);
}

TEST(Http2, HpackErrorIsCountedAndTheNextBlockStartsAfresh) {
  H2 h;
  h.Start();
  // Index 200 does not exist (static table 61 entries, dynamic table empty).
  h.conn.C2S(HeadersFrame(1, "\xff\x89\x01"s), 10);
  h.conn.C2S(h.Req(3, Get("/later")), 20);
  h.conn.S2C(h.Resp(3, {{":status", "200"}}, true), 30);
  ASSERT_EQ(h.conn.rows.size(), 1u);
  EXPECT_EQ(h.conn.rows[0].request_resource, "/later");
  EXPECT_EQ(h.conn.rows[0].response_code, 200);
  EXPECT_EQ(h.conn.stats().invalid, 0u);
  // The parser's own counter reaches the engine's statistics when the flow ends.
  h.conn.End(40);
  const auto& pc = h.conn.stats().parser_counters;
  ASSERT_TRUE(pc.contains("http2.hpack_errors"));
  EXPECT_EQ(pc.at("http2.hpack_errors"), 1u);
}

// A capture that begins mid-connection: the blocks refer to table entries indexed before it.
// Nothing is decoded wrongly: what refers to unseen entries fails, is counted and marked, and
// what was indexed since the capture began decodes.
TEST(Http2, JoinedMidConnectionMarksWhatItCannotDecode) {
  Encoder client, server;
  // The blocks of streams 1 and 3, which the capture missed, index what stream 5 refers to.
  for (int i = 0; i < 2; ++i) {
    EXPECT_FALSE(client.Block(Get("/old", {{"user-agent", "ua-old"}})).empty());
    EXPECT_FALSE(server.Block({{":status", "200"}, {"server", "srv-old"}}).empty());
  }
  Conn conn({&kSpec});
  // Stream 5 refers to :authority and user-agent of the missed blocks; stream 7 names a new
  // authority and agent (indexed from now on), stream 9 refers to those.
  conn.C2S(HeadersFrame(5, client.Block(Get("/five", {{"user-agent", "ua-old"}})), true), 10);
  conn.S2C(HeadersFrame(5, server.Block({{":status", "404"}, {"server", "srv-old"}}), true), 11);
  const Headers fresh = {{":method", "GET"},
                         {":scheme", "http"},
                         {":authority", "new.example"},
                         {":path", "/seven"},
                         {"user-agent", "ua-new"}};
  conn.C2S(HeadersFrame(7, client.Block(fresh), true), 20);
  conn.S2C(HeadersFrame(7, server.Block({{":status", "200"}}), true), 21);
  Headers again = fresh;
  again[3].second = "/nine";
  conn.C2S(HeadersFrame(9, client.Block(again), true), 30);
  conn.S2C(HeadersFrame(9, server.Block({{":status", "200"}}), true), 31);
  conn.End(100);
  ASSERT_EQ(conn.rows.size(), 3u);
  // Stream 5: the request's block fails at :authority (only :method was decoded), the
  // response's after :status: both reported as far as they go, marked.
  const L7FlowLog& five = conn.rows[0];
  EXPECT_EQ(five.request_id, 5u);
  EXPECT_EQ(five.request_type, "GET");
  EXPECT_EQ(five.request_domain, "");
  EXPECT_EQ(five.response_code, 404);
  EXPECT_EQ(Attribute(five, "http2_broken"), "hpack error");
  EXPECT_EQ(Attribute(five, "http_user_agent"), "");
  for (size_t i = 1; i < 3; ++i) {
    const L7FlowLog& r = conn.rows[i];
    EXPECT_EQ(r.request_domain, "new.example");
    EXPECT_EQ(r.request_resource, i == 1 ? "/seven" : "/nine");
    EXPECT_EQ(Attribute(r, "http_user_agent"), "ua-new");
    EXPECT_EQ(Attribute(r, "http2_broken"), "");
    EXPECT_EQ(r.response_code, 200);
  }
  EXPECT_EQ(conn.stats().invalid, 0u);
}

TEST(Http2, LostBytesStopDecoding) {
  H2 h;
  h.Start();
  h.conn.C2S(h.Req(1, Get("/one")), 10);
  h.conn.S2C(h.Resp(1, {{":status", "200"}}, true), 11);
  h.conn.Gap(kC2S, 40);  // a header block may have been in there
  h.conn.C2S(h.Req(5, Get("/two")), 20);
  h.conn.S2C(h.Resp(5, {{":status", "200"}}, true), 21);
  ASSERT_EQ(h.conn.rows.size(), 1u);
  EXPECT_EQ(h.conn.rows[0].request_resource, "/one");
  EXPECT_EQ(h.conn.stats().orphan_responses, 0u);
}

TEST(Http2, FrameSizeFollowsSettings) {
  {
    H2 h;
    h.Start();
    // 20000 bytes of DATA without a SETTINGS_MAX_FRAME_SIZE allowing it: not HTTP/2 framing.
    h.conn.C2S(h.Req(1, {{":method", "POST"}, {":path", "/p"}, {":authority", "a"}}, false) +
                   DataFrame(1, 20000, true),
               10);
    EXPECT_EQ(h.conn.stats().invalid, 1u);
  }
  {
    H2 h;
    h.conn.C2S(Preface(), 0);
    h.conn.S2C(Settings({{0x5, 1 << 20}}), 1);  // the server accepts 1 MiB frames
    h.conn.C2S(h.Req(1, {{":method", "POST"}, {":path", "/p"}, {":authority", "a"}}, false) +
                   DataFrame(1, 20000, true),
               10);
    h.conn.S2C(h.Resp(1, {{":status", "204"}}, true), 20);
    EXPECT_EQ(h.conn.stats().invalid, 0u);
    ASSERT_EQ(h.conn.rows.size(), 1u);
    EXPECT_EQ(h.conn.rows[0].response_code, 204);
  }
}

TEST(Http2Parser, FramesAreConsumedAndSkippedByLength) {
  L7Config config;
  Http2Parser p(config);
  L7Message m;
  ParseResult r = p.Parse(ParseInput{kC2S, std::string(kPreface) + "xx", false, false}, &m);
  EXPECT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, kPreface.size());
  EXPECT_TRUE(m.ignore);
  // A DATA frame longer than what is shown: the rest is skipped by count.
  const std::string data = DataFrame(1, 5000).substr(0, 1024);
  m = L7Message{};
  r = p.Parse(ParseInput{kC2S, data, true, false}, &m);
  EXPECT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, 1024u);
  EXPECT_EQ(r.skip, 9u + 5000u - 1024u);
  EXPECT_TRUE(m.ignore);
  // A frame header cut short needs more.
  m = L7Message{};
  r = p.Parse(ParseInput{kC2S, data.substr(0, 5), false, false}, &m);
  EXPECT_EQ(r.state, ParseState::kNeedMore);
  // HEADERS wait until whole.
  Encoder e;
  const std::string hf = HeadersFrame(1, e.Block(Get("/w")));
  r = p.Parse(ParseInput{kC2S, std::string_view(hf).substr(0, hf.size() - 1), false, false}, &m);
  EXPECT_EQ(r.state, ParseState::kNeedMore);
  r = p.Parse(ParseInput{kC2S, hf, false, false}, &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, hf.size());
  EXPECT_FALSE(m.ignore);
  EXPECT_EQ(m.request_resource, "/w");
  EXPECT_EQ(p.stats().requests, 1u);
  EXPECT_FALSE(p.broken());
  // Garbage: invalid, and the connection is given up.
  m = L7Message{};
  r = p.Parse(ParseInput{kC2S, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"s, false, false}, &m);
  EXPECT_EQ(r.state, ParseState::kInvalid);
  EXPECT_EQ(p.stats().broken_reason, BrokenReason::kFramingError);
  EXPECT_EQ(p.FindBoundary(kC2S, "abc"), 3u);
}

TEST(Http2Parser, ManyOpenStreamsAreBounded) {
  L7Config config;
  Http2Parser p(config);
  Encoder e;
  for (uint32_t s = 1; s < 2 * (Http2Parser::kMaxStreams + 100); s += 2) {
    L7Message m;
    const std::string f = HeadersFrame(s, e.Block(Get("/s")), true);
    ASSERT_EQ(p.Parse(ParseInput{kC2S, f, false, false}, &m).state, ParseState::kOk);
  }
  EXPECT_EQ(p.stats().streams_evicted, 100u);
}

TEST(Http2Helpers, GrpcServiceAndStatus) {
  EXPECT_EQ(GrpcService("/helloworld.Greeter/SayHello"), "helloworld.Greeter");
  EXPECT_EQ(GrpcService("/Svc/M"), "Svc");
  EXPECT_EQ(GrpcService("/nomethod"), "/nomethod");
  EXPECT_EQ(GrpcService("//M"), "//M");
  EXPECT_EQ(GrpcService(""), "");
  EXPECT_EQ(GrpcStatus(0), L7ResponseStatus::kOk);
  for (int c : {1, 3, 5, 6, 7, 9, 11, 16}) EXPECT_EQ(GrpcStatus(c), L7ResponseStatus::kClientError);
  for (int c : {2, 4, 8, 10, 12, 13, 14, 15, 17, 99}) {
    EXPECT_EQ(GrpcStatus(c), L7ResponseStatus::kServerError);
  }
  EXPECT_EQ(PercentDecode("a%20b%zz%4"), "a b%zz%4");
  EXPECT_EQ(PercentDecode("%41%"), "A%");
}

// ---- Real traffic (testdata/*.pcap, facts from tshark) ----

class Http2PcapTest : public ::testing::TestWithParam<std::string> {};

TEST_P(Http2PcapTest, AgreesWithTshark) {
  const l7test::Recording recording = l7test::LoadRecording("http2", GetParam());
  const nlohmann::json& facts = recording.facts;
  ASSERT_TRUE(facts.is_object());
  // The h2c upgrade starts as HTTP/1.1: the HTTP/1 parser hands over to HTTP/2.
  const l7test::PcapRun run = l7test::RunPcap(recording.pcap, {"http", "http2"});
  EXPECT_EQ(run.stats.invalid, 0u);
  EXPECT_EQ(run.stats.orphan_responses, 0u);
  EXPECT_EQ(run.stats.timeouts, 0u);
  ASSERT_EQ(run.rows.size(), facts["counts"]["pairs"].get<size_t>());
  std::set<const L7FlowLog*> used;
  for (const auto& rec : facts["records"]) {
    SCOPED_TRACE(rec.dump());
    const uint16_t port = l7test::FactPort(rec["client"]);
    const uint64_t req_us = l7test::FactTimeUs(rec["request"]["first_time"]);
    const bool upgrade = rec.value("h2c_upgrade", false);
    const L7FlowLog* row = nullptr;
    for (const auto& r : run.rows) {
      if (r.client_port == port && r.start_time == req_us && r.request_id == rec["h2_stream"] &&
          !used.count(&r)) {
        row = &r;
      }
      // The upgrade request is HTTP/1.1: it has no stream id of its own.
      if (upgrade && r.client_port == port && r.start_time == req_us) row = &r;
    }
    ASSERT_NE(row, nullptr);
    used.insert(row);
    const bool grpc = rec["grpc"].get<bool>();
    const std::string path = rec["resource"];
    EXPECT_EQ(row->request_type, rec["method"].get<std::string>());
    if (grpc) {
      EXPECT_EQ(row->l7_protocol, L7Protocol::kGrpc);
      EXPECT_EQ(row->request_resource, GrpcService(path));
      EXPECT_EQ(row->endpoint, path);
      EXPECT_EQ(row->response_code, std::stoi(rec["grpc_status"].get<std::string>()));
      EXPECT_EQ(row->response_exception,
                rec["grpc_message"].is_null() ? "" : rec["grpc_message"].get<std::string>());
    } else {
      EXPECT_EQ(row->l7_protocol, upgrade ? L7Protocol::kHttp1 : L7Protocol::kHttp2);
      EXPECT_EQ(row->version, upgrade ? "1.1" : "2");
      EXPECT_EQ(row->request_resource, path);
      EXPECT_EQ(row->response_code, std::stoi(rec["status"].get<std::string>()));
    }
    EXPECT_EQ(row->request_domain, rec["authority"].get<std::string>());
    EXPECT_EQ(row->response_status == L7ResponseStatus::kClientError ||
                  row->response_status == L7ResponseStatus::kServerError,
              rec["error"].get<bool>());
    const auto& rh = rec["request_headers"];
    if (rh.contains("user-agent")) {
      EXPECT_EQ(Attribute(*row, "http_user_agent"), rh["user-agent"].get<std::string>());
    }
    if (rh.contains("traceparent")) {
      EXPECT_EQ(row->trace_id, rh["traceparent"].get<std::string>().substr(3, 32));
    }
    if (rh.contains("x-request-id")) {
      EXPECT_EQ(row->x_request_id_0, rh["x-request-id"].get<std::string>());
    }
    if (rec["response_headers"].contains("x-request-id")) {
      EXPECT_EQ(row->x_request_id_1, rec["response_headers"]["x-request-id"].get<std::string>());
    }
    // gRPC responses are logged at their trailers: the same segment as the response headers
    // for unary calls, later for a server stream (unless dated by their headers).
    const int64_t latency = rec["latency_us"].get<int64_t>();
    if (!kDatedByHeaders && grpc && path.find("/Count") != std::string::npos) {
      EXPECT_GT(static_cast<int64_t>(row->response_duration), latency);
    } else {
      EXPECT_NEAR(static_cast<int64_t>(row->response_duration), latency, 1);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Http2, Http2PcapTest,
                         ::testing::Values("http2_h2c", "http2_upgrade", "grpc"));

}  // namespace
}  // namespace flowscope::agent::l7::http2
