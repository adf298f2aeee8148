#include "agent/l7/protocols/redis/redis.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "agent/l7/testing/engine_like_feeder.h"
#include "agent/l7/testing/facts.h"
#include "agent/l7/testing/pcap_connections.h"

namespace flowscope::agent::l7::redis {
namespace {

using namespace std::string_literals;
constexpr Direction kC2S = Direction::kClientToServer;
constexpr Direction kS2C = Direction::kServerToClient;

L7Config Config(bool obfuscate) {
  L7Config c;
  c.obfuscate_redis = obfuscate;
  return c;
}

ParseResult ParseOne(RedisParser& p, Direction dir, std::string_view data, L7Message* m,
                     bool at_limit = false) {
  return p.Parse(ParseInput{dir, data, at_limit, false}, m);
}

std::string Resp(std::initializer_list<std::string_view> args) {
  std::string s = "*" + std::to_string(args.size()) + "\r\n";
  for (auto a : args) s += "$" + std::to_string(a.size()) + "\r\n" + std::string(a) + "\r\n";
  return s;
}

// ---- Requests ----

struct RequestCase {
  std::string name;
  std::string bytes;
  bool obfuscate;
  std::string type;
  std::string resource;
};

class RequestTest : public testing::TestWithParam<RequestCase> {};

TEST_P(RequestTest, ParsesCommandAndResource) {
  const RequestCase& c = GetParam();
  RedisParser p(Config(c.obfuscate));
  L7Message m;
  ParseResult r = ParseOne(p, kC2S, c.bytes, &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, c.bytes.size());
  EXPECT_EQ(r.skip, 0u);
  EXPECT_TRUE(m.is_request);
  EXPECT_FALSE(m.ignore);
  EXPECT_EQ(m.request_type, c.type);
  EXPECT_EQ(m.request_resource, c.resource);
  EXPECT_EQ(m.length, static_cast<int64_t>(c.bytes.size()));
  EXPECT_FALSE(m.has_pair_id);
}

INSTANTIATE_TEST_SUITE_P(
    Redis, RequestTest,
    testing::Values(
        RequestCase{"ping", Resp({"PING"}), true, "PING", "PING"},
        RequestCase{"lower", Resp({"get", "k"}), true, "GET", "get k"},
        RequestCase{"set_plain", Resp({"SET", "fs:greeting", "hello flowscope"}), false, "SET",
                    "SET fs:greeting hello flowscope"},
        RequestCase{"set_obf", Resp({"SET", "fs:greeting", "hello flowscope", "EX", "10"}), true,
                    "SET", "SET fs:greeting ? EX 10"},
        RequestCase{"get", Resp({"GET", "fs:greeting"}), true, "GET", "GET fs:greeting"},
        RequestCase{"auth", Resp({"AUTH", "user", "secret"}), true, "AUTH", "AUTH ?"},
        RequestCase{"hello_auth", Resp({"HELLO", "3", "AUTH", "u", "pw"}), true, "HELLO",
                    "HELLO 3 AUTH ?"},
        RequestCase{"hset", Resp({"HSET", "h", "f1", "v1", "f2", "v2"}), true, "HSET",
                    "HSET h f1 ? f2 ?"},
        RequestCase{"mset", Resp({"MSET", "a", "1", "b", "2"}), true, "MSET", "MSET a ? b ?"},
        RequestCase{"rpush", Resp({"RPUSH", "l", "a", "b", "c"}), true, "RPUSH", "RPUSH l ?"},
        RequestCase{"setex", Resp({"SETEX", "k", "10", "v"}), true, "SETEX", "SETEX k 10 ?"},
        RequestCase{"linsert", Resp({"LINSERT", "l", "BEFORE", "p", "v"}), true, "LINSERT",
                    "LINSERT l BEFORE p ?"},
        RequestCase{"config_set", Resp({"CONFIG", "SET", "maxmemory", "100mb"}), true, "CONFIG",
                    "CONFIG SET maxmemory ?"},
        RequestCase{"config_get", Resp({"CONFIG", "GET", "save"}), true, "CONFIG",
                    "CONFIG GET save"},
        RequestCase{"zadd", Resp({"ZADD", "z", "NX", "1.5", "a", "2", "b"}), true, "ZADD",
                    "ZADD z NX 1.5 ? 2 ?"},
        RequestCase{"geoadd", Resp({"GEOADD", "g", "13.3", "38.1", "p", "15", "37", "c"}), true,
                    "GEOADD", "GEOADD g 13.3 38.1 ? 15 37 ?"},
        RequestCase{"bitfield", Resp({"BITFIELD", "b", "SET", "i8", "0", "100", "GET", "u4", "0"}),
                    true, "BITFIELD", "BITFIELD b SET i8 0 ? GET u4 0"},
        RequestCase{"zscore", Resp({"ZSCORE", "z", "member"}), true, "ZSCORE", "ZSCORE z ?"},
        RequestCase{"inline_ping", "PING\r\n", true, "PING", "PING"},
        RequestCase{"inline_set", "set a  b\r\n", true, "SET", "set a ?"},
        RequestCase{"inline_lf", "GET key\n", true, "GET", "GET key"}),
    [](const auto& info) { return info.param.name; });

// ---- Replies ----

struct ReplyCase {
  std::string name;
  std::string bytes;
  std::string result;
  L7ResponseStatus status;
  std::string exception;
};

class ReplyTest : public testing::TestWithParam<ReplyCase> {};

TEST_P(ReplyTest, ParsesTypeStatusAndException) {
  const ReplyCase& c = GetParam();
  RedisParser p(Config(true));
  L7Message m;
  // Followed by another reply: exactly the first is consumed.
  const std::string bytes = c.bytes + "+OK\r\n";
  ParseResult r = ParseOne(p, kS2C, bytes, &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, c.bytes.size());
  EXPECT_FALSE(m.is_request);
  EXPECT_FALSE(m.ignore);
  EXPECT_EQ(m.result, c.result);
  EXPECT_EQ(m.status, c.status);
  EXPECT_EQ(m.exception, c.exception);
  EXPECT_EQ(m.length, static_cast<int64_t>(c.bytes.size()));
}

INSTANTIATE_TEST_SUITE_P(
    Redis, ReplyTest,
    testing::Values(
        ReplyCase{"simple", "+PONG\r\n", "SimpleString", L7ResponseStatus::kOk, ""},
        ReplyCase{"error", "-WRONGTYPE Operation against a key\r\n", "Error",
                  L7ResponseStatus::kServerError, "WRONGTYPE Operation against a key"},
        ReplyCase{"integer", ":42\r\n", "Integer", L7ResponseStatus::kOk, ""},
        ReplyCase{"negative", ":-1\r\n", "Integer", L7ResponseStatus::kOk, ""},
        ReplyCase{"bulk", "$15\r\nhello flowscope\r\n", "BulkString", L7ResponseStatus::kOk, ""},
        ReplyCase{"empty_bulk", "$0\r\n\r\n", "BulkString", L7ResponseStatus::kOk, ""},
        ReplyCase{"nil", "$-1\r\n", "NullBulkString", L7ResponseStatus::kOk, ""},
        ReplyCase{"array", "*4\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n", "Array",
                  L7ResponseStatus::kOk, ""},
        ReplyCase{"mixed_array", "*3\r\n$2\r\n42\r\n$-1\r\n$-1\r\n", "Array", L7ResponseStatus::kOk,
                  ""},
        ReplyCase{"nil_array", "*-1\r\n", "NullArray", L7ResponseStatus::kOk, ""},
        ReplyCase{"empty_array", "*0\r\n", "Array", L7ResponseStatus::kOk, ""},
        ReplyCase{"nested", "*2\r\n*2\r\n:1\r\n:2\r\n*1\r\n+x\r\n", "Array", L7ResponseStatus::kOk,
                  ""},
        ReplyCase{"map", "%2\r\n+a\r\n:1\r\n+b\r\n*1\r\n:2\r\n", "Map", L7ResponseStatus::kOk, ""},
        ReplyCase{"set", "~2\r\n+m1\r\n+m2\r\n", "Set", L7ResponseStatus::kOk, ""},
        ReplyCase{"null3", "_\r\n", "Null", L7ResponseStatus::kOk, ""},
        ReplyCase{"bool", "#t\r\n", "Boolean", L7ResponseStatus::kOk, ""},
        ReplyCase{"double", ",1.5\r\n", "Double", L7ResponseStatus::kOk, ""},
        ReplyCase{"inf", ",-inf\r\n", "Double", L7ResponseStatus::kOk, ""},
        ReplyCase{"bignum", "(3492890328409238509324850943850943825024385\r\n", "BigNumber",
                  L7ResponseStatus::kOk, ""},
        ReplyCase{"bulk_error", "!21\r\nSYNTAX invalid syntax\r\n", "BulkError",
                  L7ResponseStatus::kServerError, "SYNTAX invalid syntax"},
        ReplyCase{"verbatim", "=15\r\ntxt:Some string\r\n", "VerbatimString", L7ResponseStatus::kOk,
                  ""},
        ReplyCase{"push", ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", "Push",
                  L7ResponseStatus::kOk, ""},
        ReplyCase{"attribute", "|1\r\n+ttl\r\n:3600\r\n:2039123\r\n", "Attribute",
                  L7ResponseStatus::kOk, ""}),
    [](const auto& info) { return info.param.name; });

TEST(Redis, ExceptionIsBoundedTo256Bytes) {
  RedisParser p(Config(true));
  const std::string bytes = "-ERR " + std::string(600, 'x') + "\r\n";
  L7Message m;
  ParseResult r = ParseOne(p, kS2C, bytes, &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, bytes.size());
  EXPECT_EQ(m.exception.size(), kMaxExceptionBytes);
  EXPECT_EQ(m.status, L7ResponseStatus::kServerError);
}

TEST(Redis, PipelinedMessagesOneAtATime) {
  RedisParser p(Config(true));
  std::string reqs;
  for (int i = 1; i <= 5; ++i) {
    reqs += Resp({"SET", "fs:pipe:" + std::to_string(i), "value-" + std::to_string(i)});
  }
  reqs += Resp({"GET", "fs:pipe:3"});
  std::vector<std::string> got;
  std::string_view rest = reqs;
  while (!rest.empty()) {
    L7Message m;
    ParseResult r = ParseOne(p, kC2S, rest, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    got.push_back(m.request_resource);
    rest.remove_prefix(r.consumed);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"SET fs:pipe:1 ?", "SET fs:pipe:2 ?", "SET fs:pipe:3 ?",
                                           "SET fs:pipe:4 ?", "SET fs:pipe:5 ?", "GET fs:pipe:3"}));
  const std::string replies = "+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n$7\r\nvalue-3\r\n";
  std::vector<size_t> consumed;
  rest = replies;
  while (!rest.empty()) {
    L7Message m;
    ParseResult r = ParseOne(p, kS2C, rest, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    consumed.push_back(r.consumed);
    rest.remove_prefix(r.consumed);
  }
  EXPECT_EQ(consumed, (std::vector<size_t>{5, 5, 5, 5, 5, 13}));
}

// Every strict prefix of a valid message is "need more"; at the limit it is cut or invalid,
// never a crash.
TEST(Redis, TruncationsNeedMore) {
  const std::vector<std::pair<Direction, std::string>> msgs = {
      {kC2S, Resp({"SET", "fs:greeting", "hello flowscope"})},
      {kC2S, "PING\r\n"},
      {kS2C, "*3\r\n$2\r\n42\r\n$-1\r\n*1\r\n%1\r\n+a\r\n,1.5\r\n"},
      {kS2C, "-ERR unknown command\r\n"},
      {kS2C, "!21\r\nSYNTAX invalid syntax\r\n"},
      {kS2C, "|1\r\n+ttl\r\n:3600\r\n$3\r\nabc\r\n"},
  };
  for (const auto& [dir, msg] : msgs) {
    for (size_t n = 1; n < msg.size(); ++n) {
      SCOPED_TRACE(msg.substr(0, n));
      RedisParser p(Config(true));
      L7Message m;
      EXPECT_EQ(ParseOne(p, dir, std::string_view(msg).substr(0, n), &m).state,
                ParseState::kNeedMore);
      RedisParser q(Config(true));
      L7Message m2;
      ParseResult r = ParseOne(q, dir, std::string_view(msg).substr(0, n), &m2, true);
      if (r.state == ParseState::kOk) {
        EXPECT_LE(r.consumed, n);
      }
    }
  }
}

TEST(Redis, BigValueIsSkippedWithExactCount) {
  RedisParser p(Config(true));
  const std::string value(100000, 'v');
  const std::string msg = Resp({"SET", "big", value});
  L7Message m;
  const std::string_view shown = std::string_view(msg).substr(0, 1024);
  EXPECT_EQ(ParseOne(p, kC2S, shown, &m).state, ParseState::kNeedMore);
  ParseResult r = ParseOne(p, kC2S, shown, &m, true);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, 1024u);
  EXPECT_EQ(r.consumed + r.skip, msg.size());
  EXPECT_EQ(m.request_type, "SET");
  EXPECT_EQ(m.request_resource, "SET big ?");
  EXPECT_EQ(m.length, static_cast<int64_t>(msg.size()));
  // The next request starts right after the skipped bytes.
  L7Message next;
  ASSERT_EQ(ParseOne(p, kC2S, Resp({"GET", "big"}), &next).state, ParseState::kOk);
  EXPECT_EQ(next.request_resource, "GET big");
}

TEST(Redis, CutAggregateContinuesAsIgnoredMessages) {
  RedisParser p(Config(true));
  const std::string big(2000, 'x');
  const std::string reply = "*4\r\n$2000\r\n" + big + "\r\n:1\r\n$3\r\nabc\r\n*1\r\n$-1\r\n";
  const std::string stream = reply + "+OK\r\n";
  L7Message m;
  ParseResult r = ParseOne(p, kS2C, std::string_view(stream).substr(0, 1024), &m, true);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_FALSE(m.ignore);
  EXPECT_EQ(m.result, "Array");
  EXPECT_EQ(m.length, -1);  // unknown: elements follow the cut one
  EXPECT_EQ(r.consumed + r.skip, 4u + 7u + 2000u + 2u);
  std::string_view rest = std::string_view(stream).substr(r.consumed + r.skip);
  L7Message cont;
  r = ParseOne(p, kS2C, rest, &cont);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_TRUE(cont.ignore);
  EXPECT_EQ(r.consumed, rest.size() - 5);
  rest.remove_prefix(r.consumed);
  L7Message ok;
  r = ParseOne(p, kS2C, rest, &ok);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_FALSE(ok.ignore);
  EXPECT_EQ(ok.result, "SimpleString");
}

TEST(Redis, ManySmallElementsBeyondTheBoundResumeAtAnElement) {
  RedisParser p(Config(true));
  std::string reply = "*500\r\n";
  for (int i = 0; i < 500; ++i) reply += ":" + std::to_string(i) + "\r\n";
  const std::string stream = reply + "+OK\r\n";
  std::string_view rest = stream;
  L7Message first;
  ParseResult r = ParseOne(p, kS2C, rest.substr(0, 1024), &first, true);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.skip, 0u);
  EXPECT_EQ(first.result, "Array");
  rest.remove_prefix(r.consumed);
  int ignored = 0;
  for (;;) {
    L7Message m;
    const bool limit = rest.size() >= 1024;
    r = ParseOne(p, kS2C, rest.substr(0, 1024), &m, limit);
    ASSERT_EQ(r.state, ParseState::kOk);
    rest.remove_prefix(r.consumed);
    if (!m.ignore) {
      EXPECT_EQ(m.result, "SimpleString");
      break;
    }
    ++ignored;
  }
  EXPECT_GE(ignored, 1);
  EXPECT_TRUE(rest.empty());
}

TEST(Redis, RequestArgumentsAfterACutOneAreConsumed) {
  RedisParser p(Config(false));
  const std::string msg = Resp({"MSET", "k1", std::string(3000, 'a'), "k2", "v2"});
  L7Message m;
  ParseResult r = ParseOne(p, kC2S, std::string_view(msg).substr(0, 1024), &m, true);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(m.request_type, "MSET");
  EXPECT_EQ(m.request_resource.substr(0, 8), "MSET k1 ");
  const size_t after = r.consumed + r.skip;
  L7Message cont;
  r = ParseOne(p, kC2S, std::string_view(msg).substr(after), &cont);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_TRUE(cont.ignore);
  EXPECT_EQ(after + r.consumed, msg.size());
}

TEST(Redis, GarbageIsInvalid) {
  const std::vector<std::pair<Direction, std::string>> bad = {
      {kS2C, "hello world\r\n"},
      {kS2C, "*abc\r\n"},
      {kS2C, "$3\r\nabcd\r\n"},
      {kS2C, ":12a\r\n"},
      {kS2C, "#x\r\n"},
      {kS2C, "+OK\n"},
      {kC2S, "*2\r\n:1\r\n:2\r\n"},
      {kC2S, "*1\r\n$-1\r\n"},
      {kC2S, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n"s},
      {kC2S, "{json: 1}\r\n"},
  };
  for (const auto& [dir, bytes] : bad) {
    SCOPED_TRACE(bytes);
    RedisParser p(Config(true));
    L7Message m;
    EXPECT_EQ(ParseOne(p, dir, bytes, &m, true).state, ParseState::kInvalid);
  }
}

TEST(Redis, AdversarialLengthsAreRejected) {
  const std::vector<std::pair<Direction, std::string>> bad = {
      {kS2C, "*99999999999999999999\r\n"},
      {kS2C, "*16777217\r\n"},
      {kS2C, "$536870913\r\n"},
      {kS2C, "$-5\r\n"},
      {kS2C, "%-3\r\n"},
      {kC2S, "*2\r\n$999999999999\r\n"},
      {kC2S, "*-7\r\n"},
  };
  for (const auto& [dir, bytes] : bad) {
    SCOPED_TRACE(bytes);
    RedisParser p(Config(true));
    L7Message m;
    EXPECT_EQ(ParseOne(p, dir, bytes, &m, true).state, ParseState::kInvalid);
  }
  // A huge but allowed count is not allocated: the visible part is parsed and the rest resumes.
  RedisParser p(Config(true));
  L7Message m;
  EXPECT_EQ(ParseOne(p, kS2C, "*16777216\r\n:1\r\n", &m).state, ParseState::kNeedMore);
  // Nesting deeper than kMaxDepth.
  std::string deep;
  for (uint32_t i = 0; i <= kMaxDepth; ++i) deep += "*1\r\n";
  deep += ":1\r\n";
  EXPECT_EQ(ParseOne(p, kS2C, deep, &m, true).state, ParseState::kInvalid);
  std::string ok_deep;
  for (uint32_t i = 0; i < kMaxDepth; ++i) ok_deep += "*1\r\n";
  ok_deep += ":1\r\n";
  RedisParser q(Config(true));
  ParseResult r = ParseOne(q, kS2C, ok_deep, &m, true);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, ok_deep.size());
}

TEST(Redis, HugeLineResynchronises) {
  RedisParser p(Config(true));
  const std::string line = "+" + std::string(2000, 'a') + "\r\n+OK\r\n";
  L7Message m;
  ParseResult r = ParseOne(p, kS2C, std::string_view(line).substr(0, 1024), &m, true);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.skip, kSkipToBoundary);
  const std::string_view rest = std::string_view(line).substr(1024);
  const size_t b = p.FindBoundary(kS2C, rest);
  EXPECT_EQ(rest.substr(b), "+OK\r\n");
}

TEST(Redis, FindBoundary) {
  RedisParser p(Config(true));
  const std::string req = Resp({"GET", "k"});
  EXPECT_EQ(p.FindBoundary(kC2S, "garbage\r\n" + req), 9u);
  EXPECT_EQ(p.FindBoundary(kC2S, "xx*3\r\nyy"), 8u);
  EXPECT_EQ(p.FindBoundary(kC2S, req), 0u);
  EXPECT_EQ(p.FindBoundary(kS2C, "lue\r\n:12\r\n"), 5u);
  EXPECT_EQ(p.FindBoundary(kS2C, "abc"), 3u);
}

// ---- Inference ----

bool InferYes(Direction dir, std::string_view data) {
  return kSpec.infer(InferInput{dir, data, false, 6379}) == InferResult::kYes;
}

TEST(Redis, InferenceAcceptsRealFirstMessages) {
  EXPECT_TRUE(InferYes(kC2S, Resp({"PING"})));
  EXPECT_TRUE(InferYes(kC2S, Resp({"HELLO", "3"})));
  EXPECT_TRUE(InferYes(kC2S, Resp({"CONFIG", "GET", "save"})));
  EXPECT_TRUE(InferYes(kC2S, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$100000\r\nvvvv"));
  EXPECT_TRUE(InferYes(kC2S, "PING\r\n"));
  EXPECT_TRUE(InferYes(kC2S, "GET fs:key\r\n"));
}

TEST(Redis, InferenceRejectsOthers) {
  EXPECT_FALSE(InferYes(kS2C, "+OK\r\n"));
  EXPECT_FALSE(InferYes(kS2C, Resp({"PING"})));
  EXPECT_FALSE(InferYes(kC2S, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_FALSE(InferYes(kC2S, "GET /index.html\r\n"));
  EXPECT_FALSE(InferYes(kC2S, "get fs:key\r\n"));             // memcached
  EXPECT_FALSE(InferYes(kC2S, "set k 0 0 5\r\nhello\r\n"));   // memcached
  EXPECT_FALSE(InferYes(kC2S, "QUIT\r\n"));                   // FTP, SMTP, POP3
  EXPECT_FALSE(InferYes(kC2S, "EHLO mail.example.com\r\n"));  // SMTP
  EXPECT_FALSE(InferYes(kC2S, "*1\r\n$4\r\nPI"));             // command not complete
  EXPECT_FALSE(InferYes(kC2S, "*0\r\n"));
  EXPECT_FALSE(InferYes(kC2S, "*1\r\n:1\r\n"));
  EXPECT_FALSE(InferYes(kC2S, "*2\r\n$3\r\nGET\r\n:5\r\n"));
  EXPECT_FALSE(InferYes(kC2S, "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"s));      // TLS
  EXPECT_FALSE(InferYes(kC2S, "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"s));  // DNS
  EXPECT_FALSE(InferYes(kC2S, "\x80\x00\x00\x03\x00\x00\x00\x00"s));  // memcached binary
  EXPECT_FALSE(kSpec.infer(InferInput{kC2S, Resp({"PING"}), true, 6379}) == InferResult::kYes);
  std::mt19937 rng(7);
  int yes = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s(1 + rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    yes += InferYes(kC2S, s);
  }
  EXPECT_EQ(yes, 0);
}

// ---- Real traffic (testdata/*.pcap, facts from tshark) ----

std::string ResultOf(const std::string& tshark_type) {
  static const std::map<std::string, std::string> kMap = {{"simple string", "SimpleString"},
                                                          {"bulk string", "BulkString"},
                                                          {"null bulk string", "NullBulkString"},
                                                          {"integer", "Integer"},
                                                          {"array", "Array"},
                                                          {"error", "Error"},
                                                          {"resp3 %", "Map"},
                                                          {"resp3 ~", "Set"},
                                                          {"resp3 _", "Null"},
                                                          {"resp3 ,", "Double"}};
  auto it = kMap.find(tshark_type);
  return it == kMap.end() ? "?" + tshark_type : it->second;
}

class RedisPcapTest : public testing::TestWithParam<std::string> {};

TEST_P(RedisPcapTest, AgreesWithTshark) {
  const l7test::Recording rec = l7test::LoadRecording("redis", GetParam());
  ASSERT_TRUE(rec.facts.is_object());
  const uint16_t port = l7test::FactPort(rec.facts["records"][0]["server"]);
  const auto conns = l7test::ReadConnections(rec.pcap, {port});
  for (const auto& [key, conn] : conns) {
    EXPECT_EQ(kSpec.infer(InferInput{kC2S, conn.Stream(kC2S), false, port}), InferResult::kYes)
        << key;
  }
  l7test::InOrderPairs pairs(l7test::PairsPerConnection(
      conns, [] { return std::make_unique<RedisParser>(Config(false)); }));
  l7test::Agreement agreement;
  for (const auto& fact : rec.facts["records"]) {
    const std::string key = l7test::ConnectionKey(fact);
    const l7test::Pair* pair = pairs.Next(key);
    if (pair == nullptr || !pair->response) {
      agreement.Add(false);
      ADD_FAILURE() << key << ": no response";
      continue;
    }
    const L7Message& req = pair->request;
    const L7Message& resp = *pair->response;
    const std::string want_status = l7test::FactString(fact["status"]);
    const bool ok = req.request_type == fact["method"] &&
                    req.request_resource == fact["resource"] && resp.exception == want_status &&
                    resp.result == ResultOf(fact["reply_type"]) &&
                    (resp.status == L7ResponseStatus::kServerError) == fact["error"].get<bool>();
    EXPECT_TRUE(ok) << key << ": " << req.request_type << " | " << req.request_resource << " | "
                    << resp.result << " | " << resp.exception;
    agreement.Add(ok);
  }
  EXPECT_EQ(pairs.size(), agreement.total());  // every request parsed has its record
  agreement.Finish(rec.facts, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Redis, RedisPcapTest,
                         testing::Values("redis_resp2", "redis_resp3", "redis_pipeline"));

}  // namespace
}  // namespace flowscope::agent::l7::redis
