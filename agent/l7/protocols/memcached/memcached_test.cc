#include "agent/l7/protocols/memcached/memcached.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "agent/l7/testing/engine_like_feeder.h"
#include "agent/l7/testing/facts.h"
#include "agent/l7/testing/pcap_connections.h"

namespace flowscope::agent::l7::memcached {
namespace {

using namespace std::string_literals;
constexpr Direction kC2S = Direction::kClientToServer;
constexpr Direction kS2C = Direction::kServerToClient;

ParseResult ParseOne(MemcachedParser& p, Direction dir, std::string_view data, L7Message* m,
                     bool at_limit = false) {
  return p.Parse(ParseInput{dir, data, at_limit, false}, m);
}

// ---- Text commands ----

struct CommandCase {
  std::string name;
  std::string bytes;  // exactly one command
  std::string type;
  std::string resource;
  bool expects_response;
};

class CommandTest : public testing::TestWithParam<CommandCase> {};

TEST_P(CommandTest, Fields) {
  const CommandCase& c = GetParam();
  MemcachedParser p;
  L7Message m;
  const std::string bytes = c.bytes + "version\r\n";  // followed by another command
  ParseResult r = ParseOne(p, kC2S, bytes, &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, c.bytes.size());
  EXPECT_EQ(r.skip, 0u);
  EXPECT_TRUE(m.is_request);
  EXPECT_EQ(m.request_type, c.type);
  EXPECT_EQ(m.request_resource, c.resource);
  EXPECT_EQ(m.expects_response, c.expects_response);
  EXPECT_FALSE(m.has_pair_id);
  EXPECT_EQ(m.length, static_cast<int64_t>(c.bytes.size()));
}

INSTANTIATE_TEST_SUITE_P(
    Memcached, CommandTest,
    testing::Values(
        CommandCase{"set", "set fs:greeting 0 0 15\r\nhello flowscope\r\n", "set",
                    "set fs:greeting 0 0 15", true},
        CommandCase{"set_noreply", "set fs:quiet 0 0 2 noreply\r\nhi\r\n", "set",
                    "set fs:quiet 0 0 2 noreply", false},
        CommandCase{"cas", "cas k 1 -1 3 12345\r\nabc\r\n", "cas", "cas k 1 -1 3 12345", true},
        CommandCase{"append", "append k 0 0 1\r\n!\r\n", "append", "append k 0 0 1", true},
        CommandCase{"bad_chunk", "set fs:bad 0 0 3\r\nabcde", "set", "set fs:bad 0 0 3", true},
        CommandCase{"get", "get fs:greeting\r\n", "get", "get fs:greeting", true},
        CommandCase{"multiget", "get a b c d\r\n", "get", "get a b c d", true},
        CommandCase{"gats", "gats 300 a b\r\n", "gats", "gats 300 a b", true},
        CommandCase{"delete", "delete fs:greeting\r\n", "delete", "delete fs:greeting", true},
        CommandCase{"incr", "incr fs:counter 37\r\n", "incr", "incr fs:counter 37", true},
        CommandCase{"touch", "touch k 600 noreply\r\n", "touch", "touch k 600 noreply", false},
        CommandCase{"stats", "stats slabs\r\n", "stats", "stats slabs", true},
        CommandCase{"flush_all", "flush_all\r\n", "flush_all", "flush_all", true},
        CommandCase{"quit", "quit\r\n", "quit", "quit", false},
        CommandCase{"bare_lf", "version\n", "version", "version", true},
        CommandCase{"unknown", "bogus_command arg\r\n", "bogus_command", "bogus_command arg", true},
        CommandCase{"mg", "mg foo v t\r\n", "mg", "mg foo v t", true},
        CommandCase{"mg_quiet", "mg foo v q\r\n", "mg", "mg foo v q", false},
        CommandCase{"ms", "ms foo 2 T90\r\nhi\r\n", "ms", "ms foo 2 T90", true},
        CommandCase{"mn", "mn\r\n", "mn", "mn", true}),
    [](const auto& info) { return info.param.name; });

// ---- Text replies ----

struct ReplyCase {
  std::string name;
  std::string bytes;  // exactly one reply
  std::string result;
  L7ResponseStatus status;
  std::string exception;
};

class ReplyTest : public testing::TestWithParam<ReplyCase> {};

TEST_P(ReplyTest, Fields) {
  const ReplyCase& c = GetParam();
  MemcachedParser p;
  L7Message m;
  const std::string bytes = c.bytes + "STORED\r\n";
  ParseResult r = ParseOne(p, kS2C, bytes, &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, c.bytes.size());
  EXPECT_FALSE(m.is_request);
  EXPECT_FALSE(m.ignore);
  EXPECT_EQ(m.result, c.result);
  EXPECT_EQ(m.status, c.status);
  EXPECT_EQ(m.exception, c.exception);
  EXPECT_FALSE(m.has_code);
}

const auto kOk = L7ResponseStatus::kOk;

INSTANTIATE_TEST_SUITE_P(
    Memcached, ReplyTest,
    testing::Values(
        ReplyCase{"stored", "STORED\r\n", "STORED", kOk, ""},
        ReplyCase{"not_stored", "NOT_STORED\r\n", "NOT_STORED", kOk, ""},
        ReplyCase{"exists", "EXISTS\r\n", "EXISTS", kOk, ""},
        ReplyCase{"not_found", "NOT_FOUND\r\n", "NOT_FOUND", L7ResponseStatus::kUnknown, ""},
        ReplyCase{"deleted", "DELETED\r\n", "DELETED", kOk, ""},
        ReplyCase{"touched", "TOUCHED\r\n", "TOUCHED", kOk, ""},
        ReplyCase{"number", "42\r\n", "42", kOk, ""}, ReplyCase{"miss", "END\r\n", "END", kOk, ""},
        ReplyCase{"hit", "VALUE fs:greeting 0 15\r\nhello flowscope\r\nEND\r\n",
                  "VALUE fs:greeting 0 15", kOk, ""},
        ReplyCase{"multi_hit",
                  "VALUE a 0 1 7\r\nx\r\nVALUE b 5 3 8\r\nEND\r\nEND\r\n",  // a value "END"
                  "VALUE a 0 1 7", kOk, ""},
        ReplyCase{"stats", "STAT pid 1\r\nSTAT uptime 5\r\nEND\r\n", "STAT pid 1", kOk, ""},
        ReplyCase{"version", "VERSION 1.6.18\r\n", "VERSION 1.6.18", kOk, ""},
        ReplyCase{"ok", "OK\r\n", "OK", kOk, ""},
        ReplyCase{"error", "ERROR\r\n", "ERROR", L7ResponseStatus::kClientError, "ERROR"},
        ReplyCase{"client_error", "CLIENT_ERROR bad data chunk\r\n", "CLIENT_ERROR bad data chunk",
                  L7ResponseStatus::kClientError, "bad data chunk"},
        ReplyCase{"server_error", "SERVER_ERROR out of memory storing object\r\n",
                  "SERVER_ERROR out of memory storing object", L7ResponseStatus::kServerError,
                  "out of memory storing object"},
        ReplyCase{"meta_va", "VA 2 t90\r\nhi\r\n", "VA 2 t90", kOk, ""},
        ReplyCase{"meta_hd", "HD\r\n", "HD", kOk, ""},
        ReplyCase{"meta_en", "EN\r\n", "EN", kOk, ""},
        ReplyCase{"meta_mn", "MN\r\n", "MN", kOk, ""}),
    [](const auto& info) { return info.param.name; });

TEST(Memcached, TruncationsNeedMore) {
  const std::vector<std::pair<Direction, std::string>> msgs = {
      {kC2S, "set fs:greeting 0 0 15\r\nhello flowscope\r\n"},
      {kC2S, "get a b\r\n"},
      {kS2C, "VALUE a 0 1\r\nx\r\nVALUE b 0 2\r\nyz\r\nEND\r\n"},
      {kS2C, "CLIENT_ERROR bad data chunk\r\n"},
      {kS2C, "STAT pid 1\r\nEND\r\n"},
  };
  for (const auto& [dir, msg] : msgs) {
    for (size_t n = 1; n < msg.size(); ++n) {
      SCOPED_TRACE(msg.substr(0, n));
      MemcachedParser p;
      L7Message m;
      EXPECT_EQ(ParseOne(p, dir, std::string_view(msg).substr(0, n), &m).state,
                ParseState::kNeedMore);
      MemcachedParser q;
      L7Message m2;
      ParseResult r = ParseOne(q, dir, std::string_view(msg).substr(0, n), &m2, true);
      if (r.state == ParseState::kOk) {
        EXPECT_LE(r.consumed, n);
      }
    }
  }
}

TEST(Memcached, BigValueIsSkippedExactly) {
  MemcachedParser p;
  const std::string cmd = "set big 0 0 100000\r\n" + std::string(100000, 'v') + "\r\n";
  L7Message m;
  ParseResult r = ParseOne(p, kC2S, std::string_view(cmd).substr(0, 1024), &m, true);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed + r.skip, cmd.size());
  EXPECT_EQ(m.request_resource, "set big 0 0 100000");
  // The get reply with the big value: the listing is finished by a later, ignored message.
  const std::string reply = "VALUE big 0 100000\r\n" + std::string(100000, 'v') +
                            "\r\nVALUE s 0 1\r\nx\r\nEND\r\nSTORED\r\n";
  L7Message first;
  r = ParseOne(p, kS2C, std::string_view(reply).substr(0, 1024), &first, true);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(first.result, "VALUE big 0 100000");
  std::string_view rest = std::string_view(reply).substr(r.consumed + r.skip);
  EXPECT_EQ(rest.substr(0, 5), "VALUE");
  L7Message cont;
  r = ParseOne(p, kS2C, rest, &cont);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_TRUE(cont.ignore);
  rest.remove_prefix(r.consumed);
  L7Message stored;
  r = ParseOne(p, kS2C, rest, &stored);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(stored.result, "STORED");
}

TEST(Memcached, LongMultiGetLineIsCut) {
  MemcachedParser p;
  std::string line = "get";
  for (int i = 0; i < 200; ++i) line += " key:" + std::to_string(i);
  line += "\r\nversion\r\n";
  L7Message m;
  ParseResult r = ParseOne(p, kC2S, std::string_view(line).substr(0, 1024), &m, true);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.skip, kSkipToBoundary);
  EXPECT_EQ(m.request_type, "get");
  EXPECT_EQ(m.request_resource.size(), 1024u);
  const std::string_view rest = std::string_view(line).substr(1024);
  EXPECT_EQ(rest.substr(p.FindBoundary(kC2S, rest)), "version\r\n");
}

// Lines may carry any byte ≥ 0x20: what reaches a row is valid UTF-8 (text.h).
TEST(Memcached, WireBytesInRowsAreValidUtf8) {
  MemcachedParser p;
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S, "get caf\xC3\xA9 k\xFF\r\n", &m).state, ParseState::kOk);
  EXPECT_EQ(m.request_resource, "get caf\xC3\xA9 k\xEF\xBF\xBD");
  m = {};
  ASSERT_EQ(ParseOne(p, kS2C, "SERVER_ERROR bad \xC0\xAF\r\n", &m).state, ParseState::kOk);
  EXPECT_EQ(m.exception, "bad \xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(m.result, "SERVER_ERROR bad \xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Memcached, GarbageAndAdversarialLengths) {
  const std::vector<std::pair<Direction, std::string>> bad = {
      {kC2S, "GET / HTTP/1.1\r\n"},
      {kC2S, "\x01\x02\x03\r\n"s},
      {kC2S, "set k 0 0 99999999999\r\n"},
      {kS2C, "HELLO\r\n"},
      {kS2C, "VALUE k 0 99999999999\r\n"},
      {kS2C, "VALUE k 0 1\r\nxyEND\r\n"},
      {kS2C, "STAT a 1\r\nBOGUS\r\n"},
      {kS2C,
       "\x81\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"s},  // data type 1
      {kC2S,
       "\x80\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"s},  // key > body
      {kS2C,
       "\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"s},  // request magic from server
  };
  for (const auto& [dir, bytes] : bad) {
    SCOPED_TRACE(bytes);
    MemcachedParser p;
    L7Message m;
    EXPECT_EQ(ParseOne(p, dir, bytes, &m, true).state, ParseState::kInvalid);
  }
}

// ---- Binary protocol ----

std::string BinHeader(uint8_t magic, uint8_t op, uint16_t keylen, uint8_t extlen, uint16_t status,
                      uint32_t bodylen, uint32_t opaque) {
  std::string h(24, '\0');
  h[0] = static_cast<char>(magic);
  h[1] = static_cast<char>(op);
  h[2] = static_cast<char>(keylen >> 8);
  h[3] = static_cast<char>(keylen);
  h[4] = static_cast<char>(extlen);
  h[6] = static_cast<char>(status >> 8);
  h[7] = static_cast<char>(status);
  for (int i = 0; i < 4; ++i) h[8 + i] = static_cast<char>(bodylen >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) h[12 + i] = static_cast<char>(opaque >> (24 - 8 * i));
  return h;
}

TEST(Memcached, BinaryRequestAndResponse) {
  MemcachedParser p;
  const std::string set =
      BinHeader(0x80, 0x01, 6, 8, 0, 8 + 6 + 5, 1) + std::string(8, '\0') + "fs:bin" + "hello";
  const std::string getq = BinHeader(0x80, 0x09, 1, 0, 0, 1, 2) + "k";
  const std::string odd = BinHeader(0x80, 0x40, 0, 0, 0, 0, 7);
  L7Message m;
  ParseResult r = ParseOne(p, kC2S, set + getq, &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, set.size());
  EXPECT_EQ(m.request_type, "set");
  EXPECT_EQ(m.request_resource, "fs:bin");
  EXPECT_TRUE(m.has_pair_id);
  EXPECT_EQ(m.pair_id, 1u);
  EXPECT_TRUE(m.expects_response);
  EXPECT_EQ(m.length, 19);
  L7Message q;
  ASSERT_EQ(ParseOne(p, kC2S, getq, &q).state, ParseState::kOk);
  EXPECT_EQ(q.request_type, "getq");
  EXPECT_FALSE(q.expects_response);
  L7Message u;
  ASSERT_EQ(ParseOne(p, kC2S, odd, &u).state, ParseState::kOk);
  EXPECT_EQ(u.request_type, "unknown_0x40");

  const std::string ok = BinHeader(0x81, 0x01, 0, 0, 0, 0, 1);
  const std::string miss = BinHeader(0x81, 0x00, 0, 0, 1, 9, 3) + "Not found";
  const std::string unknown = BinHeader(0x81, 0x40, 0, 0, 0x81, 15, 7) + "Unknown command";
  const std::string oom = BinHeader(0x81, 0x01, 0, 0, 0x82, 0, 8);
  L7Message a, b, c, d;
  ASSERT_EQ(ParseOne(p, kS2C, ok, &a).state, ParseState::kOk);
  EXPECT_EQ(a.status, L7ResponseStatus::kOk);
  EXPECT_EQ(a.code, 0);
  EXPECT_TRUE(a.has_code);
  ASSERT_EQ(ParseOne(p, kS2C, miss, &b).state, ParseState::kOk);
  EXPECT_EQ(b.status, L7ResponseStatus::kClientError);
  EXPECT_EQ(b.code, 1);
  EXPECT_EQ(b.exception, "Not found");
  EXPECT_EQ(b.pair_id, 3u);
  ASSERT_EQ(ParseOne(p, kS2C, unknown, &c).state, ParseState::kOk);
  EXPECT_EQ(c.code, 0x81);
  EXPECT_EQ(c.status, L7ResponseStatus::kClientError);
  ASSERT_EQ(ParseOne(p, kS2C, oom, &d).state, ParseState::kOk);
  EXPECT_EQ(d.status, L7ResponseStatus::kServerError);
  // Truncations of a binary message: need more, never a crash.
  for (size_t n = 1; n < set.size(); ++n) {
    MemcachedParser t;
    L7Message x;
    EXPECT_EQ(ParseOne(t, kC2S, std::string_view(set).substr(0, n), &x).state,
              ParseState::kNeedMore)
        << n;
  }
  // A big binary value is skipped by count.
  const std::string big = BinHeader(0x80, 0x01, 1, 8, 0, 8 + 1 + 50000, 9) + std::string(8, '\0') +
                          "k" + std::string(50000, 'v');
  MemcachedParser t;
  L7Message x;
  r = ParseOne(t, kC2S, std::string_view(big).substr(0, 1024), &x, true);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed + r.skip, big.size());
}

// ---- Inference ----

bool InferYes(std::string_view data, Direction dir = kC2S) {
  return kSpec.infer(InferInput{dir, data, false, 11211}) == InferResult::kYes;
}

TEST(Memcached, InferenceAcceptsRealFirstMessages) {
  EXPECT_TRUE(InferYes("set fs:greeting 0 0 15\r\nhello flowscope\r\n"));
  EXPECT_TRUE(InferYes("set fs:greeting 0 0 15\r\nhel"));
  EXPECT_TRUE(InferYes("get fs:greeting\r\n"));
  EXPECT_TRUE(InferYes("gets a b c\r\n"));
  EXPECT_TRUE(InferYes("delete k\r\n"));
  EXPECT_TRUE(InferYes("incr k 1\r\n"));
  EXPECT_TRUE(InferYes("version\r\n"));
  EXPECT_TRUE(InferYes("stats\r\n"));
  EXPECT_TRUE(InferYes("mg foo v\r\n"));
  EXPECT_TRUE(InferYes(BinHeader(0x80, 0x01, 6, 8, 0, 19, 1) + std::string(8, '\0') + "fs:bin"));
  EXPECT_TRUE(InferYes(BinHeader(0x80, 0x00, 1, 0, 0, 1, 1) + "k"));
}

TEST(Memcached, InferenceRejectsOthers) {
  EXPECT_FALSE(InferYes("STORED\r\n", kS2C));
  EXPECT_FALSE(InferYes("get fs:greeting\r\n", kS2C));
  EXPECT_FALSE(InferYes("GET fs:greeting\r\n"));  // Redis inline
  EXPECT_FALSE(InferYes("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"));
  EXPECT_FALSE(InferYes("get / HTTP/1.1\r\n"));
  EXPECT_FALSE(InferYes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_FALSE(InferYes("get\r\n"));
  EXPECT_FALSE(InferYes("get fs:greeting"));  // line not complete
  EXPECT_FALSE(InferYes("set k 0 0\r\n"));
  EXPECT_FALSE(InferYes("set k 0 0 3\r\nabcde\r\n"));
  EXPECT_FALSE(InferYes("delete k 10\r\n"));
  EXPECT_FALSE(InferYes("version 2\r\n"));
  EXPECT_FALSE(InferYes("bogus_command arg\r\n"));
  EXPECT_FALSE(InferYes("USER anonymous\r\n"));
  EXPECT_FALSE(InferYes("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"s));
  EXPECT_FALSE(InferYes(BinHeader(0x80, 0x40, 0, 0, 0, 0, 7)));        // unknown opcode
  EXPECT_FALSE(InferYes(BinHeader(0x80, 0x00, 1, 0, 0, 5, 1) + "k"));  // get with a value
  EXPECT_FALSE(InferYes(BinHeader(0x80, 0x01, 1, 0, 0, 5, 1) + "k"));  // set without extras
  EXPECT_FALSE(kSpec.infer(InferInput{kC2S, "get k\r\n", true, 11211}) == InferResult::kYes);
  std::mt19937 rng(5);
  int yes = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s(1 + rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    if (i % 2) s[0] = '\x80';
    yes += InferYes(s);
  }
  EXPECT_EQ(yes, 0);
}

// ---- Real traffic (memcached 1.6, facts from tshark) ----

class MemcachedPcapTest : public testing::TestWithParam<std::string> {};

TEST_P(MemcachedPcapTest, AgreesWithTshark) {
  const l7test::Recording rec = l7test::LoadRecording("memcached", GetParam());
  ASSERT_TRUE(rec.facts.is_object());
  const uint16_t port = l7test::FactPort(rec.facts["records"][0]["server"]);
  const auto conns = l7test::ReadConnections(rec.pcap, {port});
  ASSERT_EQ(conns.size(), 1u);  // one client connection: its requests are the records in order
  const l7test::Connection& conn = conns.begin()->second;
  EXPECT_EQ(kSpec.infer(InferInput{kC2S, conn.Stream(kC2S), false, port}), InferResult::kYes);
  MemcachedParser p;
  const l7test::ParsedConnection parsed = l7test::ParseConnection(conn, &p);
  EXPECT_EQ(parsed.invalid, 0);
  EXPECT_TRUE(parsed.idle);
  // Paired as the engine does: by opaque (binary) or in order, skipping one-way requests.
  const std::vector<l7test::Pair> pairs = l7test::PairLikeEngine(parsed.messages);
  ASSERT_EQ(pairs.size(), rec.facts["records"].size());
  l7test::Agreement agreement;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto& fact = rec.facts["records"][i];
    const L7Message& req = pairs[i].request;
    const L7Message* resp = pairs[i].response ? &*pairs[i].response : nullptr;
    bool ok = fact["resource"].is_null()
                  ? req.request_resource.empty()
                  : req.request_resource == fact["resource"].get<std::string>();
    if (fact["protocol"] == "text") {
      ok = ok && req.request_type == fact["method"];
      const bool no_reply = fact["no_response_expected"].get<bool>();
      ok = ok && req.expects_response == !no_reply;
      if (!no_reply) {
        ok = ok && resp != nullptr;
        if (resp != nullptr) {
          const auto& values = fact["values"];
          const std::string want = values.empty() ? fact["status"].get<std::string>()
                                                  : "VALUE " + values[0].get<std::string>();
          ok = ok && resp->result.substr(0, want.size()) == want &&
               (resp->status == L7ResponseStatus::kClientError ||
                resp->status == L7ResponseStatus::kServerError) == fact["error"].get<bool>();
        }
      }
    } else {
      std::string method = fact["method"];
      for (char& c : method) c = static_cast<char>(std::tolower(c));
      const std::string norm = method == "no-op" ? "noop" : method;
      ok = ok && (req.request_type == norm || norm.rfind(req.request_type, 0) == 0 ||
                  req.request_type.rfind(norm, 0) == 0);
      ok = ok && resp != nullptr && resp->code == fact["status"].get<int>() &&
           (resp->status != L7ResponseStatus::kOk) == fact["error"].get<bool>();
    }
    EXPECT_TRUE(ok) << i << ": " << req.request_type << " | " << req.request_resource << " | "
                    << (resp ? resp->result + " " + std::to_string(resp->code) : "no reply");
    agreement.Add(ok);
  }
  agreement.Finish(rec.facts, GetParam(), /*check_count=*/false);
}

INSTANTIATE_TEST_SUITE_P(Memcached, MemcachedPcapTest,
                         testing::Values("memcached_text", "memcached_binary"));

}  // namespace
}  // namespace flowscope::agent::l7::memcached
