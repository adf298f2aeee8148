#include "agent/l7/protocols/postgresql/postgresql.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "agent/l7/testing/engine_like_feeder.h"
#include "agent/l7/testing/facts.h"
#include "agent/l7/testing/pcap_connections.h"

namespace flowscope::agent::l7::postgresql {
namespace {

using namespace std::string_literals;

constexpr Direction kC2S = Direction::kClientToServer;
constexpr Direction kS2C = Direction::kServerToClient;

std::string Hex(std::string_view h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}
// A typed message: type, length (counting itself), body.
std::string Msg(char type, std::string_view body) {
  return std::string(1, type) + Be32(static_cast<uint32_t>(body.size() + 4)) + std::string(body);
}
std::string Q(std::string_view sql) { return Msg('Q', std::string(sql) + '\0'); }
std::string Parse(std::string_view name, std::string_view sql) {
  return Msg('P', std::string(name) + '\0' + std::string(sql) + '\0' + "\x00\x00"s);
}
std::string Bind(std::string_view stmt, std::string_view param = "") {
  std::string b = "\0"s + std::string(stmt) + '\0' + "\x00\x00"s;
  if (param.empty()) {
    b += "\x00\x00"s;
  } else {
    b += "\x00\x01"s + Be32(static_cast<uint32_t>(param.size())) + std::string(param);
  }
  return Msg('B', b + "\x00\x00"s);
}
const std::string kSync = Msg('S', "");
const std::string kFlush = Msg('H', "");
std::string Complete(std::string_view tag) { return Msg('C', std::string(tag) + '\0'); }
const std::string kReadyIdle = Msg('Z', "I");
std::string Error(std::string_view severity, std::string_view code, std::string_view message) {
  return Msg('E', "S"s + std::string(severity) + '\0' + "C" + std::string(code) + '\0' + "M" +
                      std::string(message) + '\0' + '\0');
}
std::string DataRow(std::string_view value) {
  return Msg('D', "\x00\x01"s + Be32(static_cast<uint32_t>(value.size())) + std::string(value));
}

// ---- Real messages (testdata/pg_simple.pcap, pg_extended.pcap) ----

const std::string kStartup =
    Hex("0000003f000300007573657200706f73746772657300646174616261736500706f737467726573006170706c69"
        "636174696f6e5f6e616d65007073716c0000");
const std::string kStartupResponse =
    Hex("520000000800000000530000001a6170706c69636174696f6e5f6e616d65007073716c005300000019636c6965"
        "6e745f656e636f64696e670055544638005300000017446174655374796c650049534f2c204d44590053000000"
        "2664656661756c745f7472616e73616374696f6e5f726561645f6f6e6c79006f6666005300000017696e5f686f"
        "745f7374616e646279006f6666005300000019696e74656765725f6461746574696d6573006f6e00530000001b"
        "496e74657276616c5374796c6500706f73746772657300530000001469735f737570657275736572006f6e0053"
        "000000197365727665725f656e636f64696e6700555446380053000000327365727665725f76657273696f6e00"
        "31352e3138202844656269616e2031352e31382d302b646562313275312900530000002373657373696f6e5f61"
        "7574686f72697a6174696f6e00706f7374677265730053000000237374616e646172645f636f6e666f726d696e"
        "675f737472696e6773006f6e00530000001554696d655a6f6e65004574632f555443004b0000000c00000eff3f"
        "b518155a0000000549");
const std::string kInsert =
    Hex("510000005e494e5345525420494e544f206974656d73202869642c206e616d652c20717479292056414c554553"
        "2028312c20276170706c65272c2035292c2028322c202770656172272c2037292c2028332c2027706c756d272c"
        "2039293b00");
const std::string kInsertResponse = Hex("430000000f494e5345525420302033005a0000000549");
const std::string kSelect =
    Hex("510000003f53454c4543542069642c206e616d652c207174792046524f4d206974656d73205748455245207174"
        "79203e2031204f524445522042592069643b00");
const std::string kSelectResponse =
    Hex("54000000480003696400000040000001000000170004ffffffff00006e616d650000004000000200000019ffff"
        "ffffffff000071747900000040000003000000170004ffffffff00004400000019000300000001310000000561"
        "70706c6500000001354400000018000300000001320000000470656172000000013744000000180003000000"
        "013300000004706c756d0000000139430000000d53454c4543542033005a0000000549");
const std::string kMissingTable =
    Hex("510000002153454c454354202a2046524f4d206d697373696e675f7461626c653b00");
// The ErrorResponse and its ReadyForQuery came in two segments.
const std::string kMissingTableError =
    Hex("4500000070534552524f5200564552524f5200433432503031004d72656c6174696f6e20226d697373696e675f"
        "7461626c652220646f6573206e6f7420657869737400503135004670617273655f72656c6174696f6e2e63004c"
        "3133393200527061727365724f70656e5461626c650000");
const std::string kTraceQuery =
    Hex("510000006b53454c45435420636f756e74282a292046524f4d206974656d73202f2a207472616365706172656e"
        "743a2030302d30616637363531393136636434336464383434386562323131633830333139632d623761643662"
        "373136393230333333312d3031202a2f3b00");
const std::string kTerminate = Hex("5800000004");
// pgbench -M extended: Parse/Bind/Describe/Execute/Sync in one segment, and its answer.
const std::string kExtendedBatch =
    Hex("50000000320053454c454354206e616d652c207174792046524f4d206974656d73205748455245206964203d20"
        "24313b000000420000001300000000000100000001320001000044000000065000450000000900000000005300"
        "000004");
const std::string kExtendedResponse =
    Hex("31000000043200000004540000003300026e616d650000004000000200000019ffffffffffff00007174790000"
        "0040000003000000170004ffffffff00004400000013000200000004706561720000000138430000000d53454c"
        "4543542031005a0000000549");
// pgbench -M prepared: Parse "P_0" + Sync, then Bind "P_0"/Describe/Execute/Sync per run.
const std::string kPrepare =
    Hex("5000000035505f300053454c454354206e616d652c207174792046524f4d206974656d73205748455245206964"
        "203d2024313b0000005300000004");
const std::string kPrepareResponse = Hex("31000000045a0000000549");
const std::string kBindBatch = Hex(
    "420000001600505f30000000000100000001310001000044000000065000450000000900000000005300000004");

const L7Config kConfig;

ParseResult ParseOne(PostgresqlParser& p, Direction dir, std::string_view data, L7Message* m,
                     bool at_limit = false) {
  return p.Parse(ParseInput{dir, data, at_limit, false}, m);
}

// A parser past the start-up exchange.
PostgresqlParser Started(const L7Config& config = kConfig) {
  PostgresqlParser p(config);
  L7Message m;
  EXPECT_EQ(ParseOne(p, kC2S, kStartup, &m).state, ParseState::kOk);
  m = {};
  EXPECT_EQ(ParseOne(p, kS2C, kStartupResponse, &m).state, ParseState::kOk);
  return p;
}

// Byte streams fed as the engine feeds them (agent/l7/testing/engine_like_feeder.h), pairs
// made as the engine makes them.
using Feeder = l7test::EngineLikeFeeder;
using l7test::Pair;
std::vector<Pair> PairUp(const std::vector<L7Message>& messages) {
  return l7test::PairLikeEngine(messages);
}

// ---- Inference ----

bool InferYes(Direction dir, std::string_view data) {
  return Infer(InferInput{dir, data, false, 0}) == InferResult::kYes;
}

TEST(PostgresqlInfer, AcceptsRealFirstMessages) {
  EXPECT_TRUE(InferYes(kC2S, kStartup));
  EXPECT_TRUE(InferYes(kC2S, kStartup.substr(0, 20)));  // cut: still a start-up
  EXPECT_TRUE(InferYes(kC2S, kInsert));
  EXPECT_TRUE(InferYes(kC2S, kTraceQuery));
  EXPECT_TRUE(InferYes(kC2S, kExtendedBatch));
  EXPECT_TRUE(InferYes(kC2S, kPrepare));
  EXPECT_TRUE(InferYes(kC2S, kBindBatch));  // a prepared statement's run, mid-connection
  EXPECT_TRUE(InferYes(kC2S, Q("/* app */ begin")));
}

TEST(PostgresqlInfer, RejectsOtherProtocolsAndNoise) {
  const std::string ssl_request = Be32(8) + Be32(80877103);
  EXPECT_FALSE(InferYes(kC2S, ssl_request));  // left to TLS inference
  EXPECT_FALSE(InferYes(kC2S, Hex("3a0000000353454c4543542069642c206e616d65")));  // MySQL
  EXPECT_FALSE(InferYes(kS2C, Hex("640000000a352e352e352d31302e31312e31392d4d61726961")));
  EXPECT_FALSE(InferYes(kC2S, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_FALSE(InferYes(kC2S, "POST /api HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_FALSE(InferYes(kC2S, "*1\r\n$4\r\nPING\r\n"));
  EXPECT_FALSE(InferYes(kC2S, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s));
  EXPECT_FALSE(InferYes(kC2S, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  EXPECT_FALSE(InferYes(kC2S, "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c"s));
  EXPECT_FALSE(InferYes(kS2C, kInsert));           // server direction
  EXPECT_FALSE(InferYes(kC2S, kInsertResponse));   // a backend message
  EXPECT_FALSE(InferYes(kC2S, Q("hello world")));  // not SQL
  EXPECT_FALSE(InferYes(kC2S, kSync));             // a Sync alone is too little
  EXPECT_FALSE(InferYes(kC2S, Be32(12) + Be32(0x00020000) + "user"s));  // protocol 2
  std::mt19937 rng(13);
  int yes = 0;
  for (int i = 0; i < 50000; ++i) {
    std::string s(1 + rng() % 96, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    yes += InferYes(kC2S, s) + InferYes(kS2C, s);
  }
  EXPECT_EQ(yes, 0);
}

// ---- Requests ----

struct RequestCase {
  const char* name;
  std::string bytes;
  std::string type;
  std::string resource;
  std::string endpoint;
  bool expects_response;
};

TEST(PostgresqlParse, Requests) {
  const RequestCase cases[] = {
      {"simple query", kInsert, "simple query",
       "INSERT INTO items (id, name, qty) VALUES (1, 'apple', 5), (2, 'pear', 7), (3, 'plum', 9);",
       "INSERT items", true},
      {"select", kSelect, "simple query",
       "SELECT id, name, qty FROM items WHERE qty > 1 ORDER BY id;", "SELECT items", true},
      {"extended batch", kExtendedBatch, "parse", "SELECT name, qty FROM items WHERE id = $1;",
       "SELECT items", true},
      {"parse + sync", kPrepare, "parse", "SELECT name, qty FROM items WHERE id = $1;",
       "SELECT items", true},
      {"terminate", kTerminate, "exit", "", "", false},
      {"function call", Msg('F', "\x00\x00\x04\xd2\x00\x00\x00\x00\x00\x00"s),
       "fastpath function call", "", "", true},
      {"describe + flush", Msg('D', "S\0"s) + kFlush, "describe", "", "", true},
      {"sync alone", kSync, "sync", "", "", true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    PostgresqlParser p = Started();
    L7Message m;
    ParseResult r = ParseOne(p, kC2S, c.bytes, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    EXPECT_EQ(r.consumed, c.bytes.size());
    EXPECT_EQ(r.skip, 0u);
    EXPECT_FALSE(m.ignore);
    EXPECT_TRUE(m.is_request);
    EXPECT_EQ(m.request_type, c.type);
    EXPECT_EQ(m.request_resource, c.resource);
    EXPECT_EQ(m.endpoint, c.endpoint);
    EXPECT_EQ(m.expects_response, c.expects_response);
    EXPECT_EQ(m.version, "3.0");
    EXPECT_EQ(m.length, static_cast<int64_t>(c.bytes.size()));
  }
}

TEST(PostgresqlParse, StartupIsARequestWithItsOwnResponse) {
  PostgresqlParser p(kConfig);
  L7Message s;
  ParseResult r = ParseOne(p, kC2S, kStartup, &s);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, kStartup.size());
  EXPECT_EQ(s.request_type, "startup message");
  EXPECT_EQ(s.request_resource, "user=postgres database=postgres");
  EXPECT_EQ(s.version, "3.0");
  L7Message resp;
  r = ParseOne(p, kS2C, kStartupResponse, &resp);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, kStartupResponse.size());  // R, 13 × S, K, Z: one response
  EXPECT_EQ(resp.status, L7ResponseStatus::kOk);
  EXPECT_EQ(resp.result, "");

  // Password authentication that fails: R (MD5), the password message, then a FATAL error
  // that ends the start-up (no ReadyForQuery follows).
  PostgresqlParser q(kConfig);
  L7Message m;
  ASSERT_EQ(ParseOne(q, kC2S, kStartup, &m).state, ParseState::kOk);
  const std::string md5 = Msg('R', Be32(5) + "salt");
  m = {};
  EXPECT_EQ(ParseOne(q, kS2C, md5, &m).state, ParseState::kNeedMore);
  m = {};
  r = ParseOne(q, kC2S, Msg('p', "md5abcdef\0"s), &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_TRUE(m.ignore);
  const std::string fatal = md5 + Error("FATAL", "28P01", "password authentication failed");
  m = {};
  r = ParseOne(q, kS2C, fatal, &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, fatal.size());
  EXPECT_EQ(m.status, L7ResponseStatus::kServerError);
  EXPECT_EQ(m.result, "28P01");
  EXPECT_EQ(m.exception, "password authentication failed");
}

TEST(PostgresqlParse, BindOfANamedStatementCarriesItsSql) {
  PostgresqlParser p = Started();
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S, kPrepare, &m).state, ParseState::kOk);
  L7Message resp;
  ASSERT_EQ(ParseOne(p, kS2C, kPrepareResponse, &resp).state, ParseState::kOk);
  EXPECT_EQ(resp.status, L7ResponseStatus::kOk);
  L7Message bind;
  ParseResult r = ParseOne(p, kC2S, kBindBatch, &bind);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, kBindBatch.size());
  EXPECT_EQ(bind.request_type, "bind");
  EXPECT_EQ(bind.request_resource, "SELECT name, qty FROM items WHERE id = $1;");
  EXPECT_EQ(bind.endpoint, "SELECT items");
  // Close of the statement forgets it.
  L7Message close;
  ASSERT_EQ(ParseOne(p, kC2S, Msg('C', "SP_0\0"s) + kSync, &close).state, ParseState::kOk);
  EXPECT_EQ(close.request_type, "close");
  L7Message again;
  ASSERT_EQ(ParseOne(p, kC2S, kBindBatch, &again).state, ParseState::kOk);
  EXPECT_EQ(again.request_resource, "");
}

// ---- Responses ----

struct ResponseCase {
  const char* name;
  std::string request;
  std::string response;
  L7ResponseStatus status;
  std::string result;
  std::string exception;
  std::optional<uint64_t> affected_rows;
};

TEST(PostgresqlParse, Responses) {
  const ResponseCase cases[] = {
      {"insert", kInsert, kInsertResponse, L7ResponseStatus::kOk, "INSERT 0 3", "", 3},
      {"select rows", kSelect, kSelectResponse, L7ResponseStatus::kOk, "SELECT 3", "", 3},
      {"extended", kExtendedBatch, kExtendedResponse, L7ResponseStatus::kOk, "SELECT 1", "", 1},
      {"create table: no count", Q("CREATE TABLE t (a int)"), Complete("CREATE TABLE") + kReadyIdle,
       L7ResponseStatus::kOk, "CREATE TABLE", "", std::nullopt},
      {"update", Q("UPDATE t SET a = 1"), Complete("UPDATE 2") + kReadyIdle, L7ResponseStatus::kOk,
       "UPDATE 2", "", 2},
      {"copy", Q("COPY t TO STDOUT"),
       Msg('H', "\0\0\x01\0\0"s) + Msg('d', "1\n") + Msg('c', "") + Complete("COPY 1") + kReadyIdle,
       L7ResponseStatus::kOk, "COPY 1", "", 1},
      {"missing table (real)", kMissingTable, kMissingTableError + kReadyIdle,
       L7ResponseStatus::kClientError, "42P01", "relation \"missing_table\" does not exist",
       std::nullopt},
      {"unique violation", Q("INSERT INTO t VALUES (1)"),
       Error("ERROR", "23505", "duplicate key") + kReadyIdle, L7ResponseStatus::kClientError,
       "23505", "duplicate key", std::nullopt},
      {"admin shutdown", Q("SELECT 1"),
       Error("FATAL", "57P01", "terminating connection") + kReadyIdle,
       L7ResponseStatus::kServerError, "57P01", "terminating connection", std::nullopt},
      {"deadlock is a client error as DeepFlow maps it", Q("UPDATE t SET a = 2"),
       Error("ERROR", "40P01", "deadlock detected") + kReadyIdle, L7ResponseStatus::kClientError,
       "40P01", "deadlock detected", std::nullopt},
      {"notice inside the response", Q("DROP TABLE IF EXISTS nope"),
       Msg('N', "SNOTICE\0C00000\0Mtable does not exist, skipping\0\0"s) + Complete("DROP TABLE") +
           kReadyIdle,
       L7ResponseStatus::kOk, "DROP TABLE", "", std::nullopt},
      {"empty query", Q(""), Msg('I', "") + kReadyIdle, L7ResponseStatus::kOk, "", "",
       std::nullopt},
      {"multi-statement: the last tag", Q("BEGIN; INSERT INTO t VALUES (1); COMMIT"),
       Complete("BEGIN") + Complete("INSERT 0 1") + Complete("COMMIT") + Msg('Z', "I"),
       L7ResponseStatus::kOk, "COMMIT", "", std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    PostgresqlParser p = Started();
    L7Message req;
    ASSERT_EQ(ParseOne(p, kC2S, c.request, &req).state, ParseState::kOk);
    L7Message m;
    ParseResult r = ParseOne(p, kS2C, c.response, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    EXPECT_EQ(r.consumed, c.response.size());
    EXPECT_EQ(r.skip, 0u);
    EXPECT_FALSE(m.ignore);
    EXPECT_FALSE(m.is_request);
    EXPECT_EQ(m.status, c.status);
    EXPECT_EQ(m.result, c.result);
    EXPECT_EQ(m.exception, c.exception);
    const bool numeric =
        c.result.size() == 5 && std::all_of(c.result.begin(), c.result.end(),
                                            [](char ch) { return ch >= '0' && ch <= '9'; });
    EXPECT_EQ(m.has_code, c.status != L7ResponseStatus::kOk && numeric);
    if (m.has_code) {
      EXPECT_EQ(m.code, std::stoi(c.result));
    }
    EXPECT_EQ(m.has_affected_rows, c.affected_rows.has_value());
    if (c.affected_rows) {
      EXPECT_EQ(m.affected_rows, *c.affected_rows);
    }
    if (c.status != L7ResponseStatus::kOk) {
      ASSERT_EQ(m.attributes.size(), 1u);
      EXPECT_EQ(m.attributes[0].first, "sql_state");
      EXPECT_EQ(m.attributes[0].second, c.result);
    }
    EXPECT_EQ(m.length, static_cast<int64_t>(c.response.size()));
  }
}

TEST(PostgresqlParse, ErrorAndReadyForQueryInTwoSegments) {
  PostgresqlParser p = Started();
  L7Message req, m;
  ASSERT_EQ(ParseOne(p, kC2S, kMissingTable, &req).state, ParseState::kOk);
  EXPECT_EQ(ParseOne(p, kS2C, kMissingTableError, &m).state, ParseState::kNeedMore);
  ParseResult r = ParseOne(p, kS2C, kMissingTableError + kReadyIdle, &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(m.result, "42P01");
}

TEST(PostgresqlParse, HelperMappings) {
  uint64_t rows = 0;
  EXPECT_TRUE(TagRows("INSERT 0 3", &rows));
  EXPECT_EQ(rows, 3u);
  EXPECT_TRUE(TagRows("MOVE 7", &rows));
  EXPECT_EQ(rows, 7u);
  EXPECT_TRUE(TagRows("FETCH 0", &rows));
  EXPECT_EQ(rows, 0u);
  EXPECT_TRUE(TagRows("MERGE 12", &rows));
  EXPECT_EQ(rows, 12u);
  EXPECT_FALSE(TagRows("CREATE TABLE", &rows));
  EXPECT_FALSE(TagRows("SELECT", &rows));
  EXPECT_FALSE(TagRows("SELECT 99999999999999999999999", &rows));
  EXPECT_FALSE(TagRows("UPDATE x", &rows));
  EXPECT_EQ(SqlStateStatus("42601"), L7ResponseStatus::kClientError);
  EXPECT_EQ(SqlStateStatus("22012"), L7ResponseStatus::kClientError);
  EXPECT_EQ(SqlStateStatus("0A000"), L7ResponseStatus::kClientError);
  EXPECT_EQ(SqlStateStatus("40001"), L7ResponseStatus::kClientError);
  EXPECT_EQ(SqlStateStatus("40000"), L7ResponseStatus::kServerError);
  EXPECT_EQ(SqlStateStatus("53300"), L7ResponseStatus::kServerError);
  EXPECT_EQ(SqlStateStatus("XX000"), L7ResponseStatus::kServerError);
  EXPECT_EQ(SqlStateStatus(""), L7ResponseStatus::kServerError);
  EXPECT_EQ(FrontendTypeName('Q'), "simple query");
  EXPECT_EQ(FrontendTypeName('d'), "copy data");
  EXPECT_EQ(FrontendTypeName('z'), "");
}

TEST(PostgresqlParse, PipelinedQueriesAndAnswers) {
  PostgresqlParser p = Started();
  std::string buf = Q("SELECT 1") + kExtendedBatch + kTerminate;
  std::vector<std::string> types;
  while (!buf.empty()) {
    L7Message m;
    ParseResult r = ParseOne(p, kC2S, buf, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    types.push_back(m.request_type);
    buf.erase(0, r.consumed);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"simple query", "parse", "exit"}));
  const std::string first =
      Msg('T', "\0\x01?column?\0\0\0\0\0\0\0\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0"s) + DataRow("1") +
      Complete("SELECT 1") + kReadyIdle;
  std::string rbuf = first + kExtendedResponse;
  std::vector<size_t> consumed;
  while (!rbuf.empty()) {
    L7Message m;
    ParseResult r = ParseOne(p, kS2C, rbuf, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    consumed.push_back(r.consumed);
    rbuf.erase(0, r.consumed);
  }
  EXPECT_EQ(consumed, (std::vector<size_t>{first.size(), kExtendedResponse.size()}));
}

TEST(PostgresqlParse, FlushEndedBatchTakesWhatIsThere) {
  PostgresqlParser p = Started();
  L7Message req;
  const std::string batch =
      Parse("s1", "SELECT a FROM t WHERE b = $1") + Msg('D', "Ss1\0"s) + kFlush;
  ASSERT_EQ(ParseOne(p, kC2S, batch, &req).state, ParseState::kOk);
  EXPECT_EQ(req.request_type, "parse");
  const std::string answer = Msg('1', "") + Msg('t', "\0\x01\0\0\0\x17"s) +
                             Msg('T',
                                 "\0\x01"
                                 "a\0\0\0\0\0\0\0\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0"s);
  L7Message m;
  ParseResult r = ParseOne(p, kS2C, answer, &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, answer.size());
  // The execution that follows is its own cycle up to ReadyForQuery.
  L7Message exec;
  ASSERT_EQ(ParseOne(p, kC2S, Bind("s1", "7") + Msg('E', "\0\0\0\0\0"s) + kSync, &exec).state,
            ParseState::kOk);
  EXPECT_EQ(exec.request_type, "bind");
  EXPECT_EQ(exec.request_resource, "SELECT a FROM t WHERE b = $1");
  const std::string done = Msg('2', "") + DataRow("x") + Complete("SELECT 1") + kReadyIdle;
  L7Message d;
  r = ParseOne(p, kS2C, done, &d);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, done.size());
  EXPECT_EQ(d.affected_rows, 1u);
}

TEST(PostgresqlParse, CopyFromStdinDataIsNotLogged) {
  PostgresqlParser p = Started();
  Feeder f(&p);
  f.Feed(kC2S, Q("COPY items FROM STDIN"));
  f.Feed(kS2C, Msg('G', "\0\0\x01\0\0"s));
  f.Feed(kC2S, Msg('d', "1\tapple\n") + Msg('d', "2\tpear\n") + Msg('c', ""));
  f.Feed(kS2C, Complete("COPY 2") + kReadyIdle);
  EXPECT_EQ(f.invalid, 0);
  EXPECT_EQ(f.ignored, 3);
  auto pairs = PairUp(f.messages);
  ASSERT_EQ(pairs.size(), 1u);
  ASSERT_TRUE(pairs[0].response.has_value());
  EXPECT_EQ(pairs[0].response->result, "COPY 2");
  EXPECT_EQ(pairs[0].response->affected_rows, 2u);
}

TEST(PostgresqlParse, SslNegotiation) {
  {
    PostgresqlParser p(kConfig);
    Feeder f(&p);
    f.Feed(kC2S, Be32(8) + Be32(80877103));
    f.Feed(kS2C, "N");
    f.Feed(kC2S, kStartup);
    f.Feed(kS2C, kStartupResponse);
    f.Feed(kC2S, kInsert);
    f.Feed(kS2C, kInsertResponse);
    EXPECT_EQ(f.invalid, 0);
    auto pairs = PairUp(f.messages);
    ASSERT_EQ(pairs.size(), 2u);
    EXPECT_EQ(pairs[1].response->result, "INSERT 0 3");
  }
  {
    PostgresqlParser p(kConfig);
    Feeder f(&p);
    f.Feed(kC2S, Be32(8) + Be32(80877103));
    f.Feed(kS2C, "S");
    f.Feed(kC2S, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello"s);
    f.Feed(kS2C, "\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03"s);
    f.Feed(kC2S, "\x17\x03\x03\x00\x20 encrypted query bytes......"s);
    EXPECT_EQ(f.invalid, 0);
    EXPECT_TRUE(f.messages.empty());
  }
}

// ---- Large responses: walked, never buffered ----

TEST(PostgresqlParse, LargeResultIsOneResponse) {
  PostgresqlParser p = Started();
  Feeder f(&p);
  f.Feed(kC2S, Q("SELECT payload FROM big"));
  std::string rs = Msg('T', "\0\x01payload\0\0\0\0\0\0\0\0\0\0\x19\xff\xff\xff\xff\xff\xff\0\0"s);
  for (int i = 0; i < 2000; ++i) rs += DataRow(std::string(40, 'x'));
  rs += DataRow(std::string(100000, 'y'));  // one huge row
  rs += Complete("SELECT 2001") + kReadyIdle;
  for (size_t off = 0; off < rs.size(); off += 1448) f.Feed(kS2C, rs.substr(off, 1448));
  EXPECT_TRUE(f.Idle(kS2C));
  f.Feed(kC2S, Q("DELETE FROM big"));
  f.Feed(kS2C, Complete("DELETE 2001") + kReadyIdle);
  EXPECT_EQ(f.invalid, 0);
  EXPECT_GT(f.ignored, 10);
  auto pairs = PairUp(f.messages);
  ASSERT_EQ(pairs.size(), 2u);
  ASSERT_TRUE(pairs[0].response && pairs[1].response);
  EXPECT_EQ(pairs[0].response->status, L7ResponseStatus::kOk);
  EXPECT_EQ(pairs[0].response->length, -1);  // seen only in part
  EXPECT_EQ(pairs[1].response->result, "DELETE 2001");
}

TEST(PostgresqlParse, LongBatchCutAtTheBound) {
  PostgresqlParser p = Started();
  Feeder f(&p);
  const std::string batch = Parse("", "INSERT INTO blobs VALUES ($1)") +
                            Bind("", std::string(6000, 'z')) + Msg('E', "\0\0\0\0\0"s) + kSync;
  for (size_t off = 0; off < batch.size(); off += 1000) f.Feed(kC2S, batch.substr(off, 1000));
  EXPECT_TRUE(f.Idle(kC2S));
  f.Feed(kS2C, Msg('1', "") + Msg('2', "") + Complete("INSERT 0 1") + kReadyIdle);
  f.Feed(kC2S, Q("SELECT 1"));
  f.Feed(kS2C, Complete("SELECT 1") + kReadyIdle);
  EXPECT_EQ(f.invalid, 0);
  auto pairs = PairUp(f.messages);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].request.request_type, "parse");
  EXPECT_EQ(pairs[0].request.request_resource, "INSERT INTO blobs VALUES ($1)");
  EXPECT_EQ(pairs[0].response->affected_rows, 1u);
  EXPECT_EQ(pairs[1].request.request_type, "simple query");
  EXPECT_EQ(pairs[1].response->result, "SELECT 1");
}

// ---- Truncation, garbage, adversarial lengths ----

TEST(PostgresqlParse, EveryTruncationNeedsMoreOrIsDecidedAtTheLimit) {
  struct Step {
    Direction dir;
    std::string bytes;
  };
  const std::vector<Step> session = {
      {kC2S, kStartup},      {kS2C, kStartupResponse},
      {kC2S, kInsert},       {kS2C, kInsertResponse},
      {kC2S, kSelect},       {kS2C, kSelectResponse},
      {kC2S, kMissingTable}, {kS2C, kMissingTableError + kReadyIdle},
      {kC2S, kPrepare},      {kS2C, kPrepareResponse},
      {kC2S, kBindBatch},    {kS2C, kExtendedResponse},
      {kC2S, kTerminate},
  };
  PostgresqlParser p(kConfig);
  for (const Step& s : session) {
    for (size_t n = 1; n < s.bytes.size(); ++n) {
      PostgresqlParser copy = p;
      L7Message m;
      ParseResult r = ParseOne(copy, s.dir, std::string_view(s.bytes).substr(0, n), &m, false);
      EXPECT_EQ(r.state, ParseState::kNeedMore) << n << "/" << s.bytes.size();
      PostgresqlParser copy2 = p;
      L7Message m2;
      ParseResult r2 = ParseOne(copy2, s.dir, std::string_view(s.bytes).substr(0, n), &m2, true);
      if (r2.state == ParseState::kOk) {
        EXPECT_LE(r2.consumed, n);
      }
    }
    L7Message m;
    ParseResult r = ParseOne(p, s.dir, s.bytes, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    ASSERT_EQ(r.consumed, s.bytes.size());
  }
}

TEST(PostgresqlParse, GarbageIsInvalidAndBoundaryResynchronises) {
  PostgresqlParser p = Started();
  L7Message m;
  EXPECT_EQ(ParseOne(p, kC2S, "\x7fjunk junk junk"s, &m).state, ParseState::kInvalid);
  EXPECT_EQ(ParseOne(p, kC2S, "Q\xff\xff\xff\xffSELECT"s, &m).state, ParseState::kInvalid);
  EXPECT_EQ(ParseOne(p, kC2S, "Q\x00\x00\x00\x02"s, &m).state, ParseState::kInvalid);
  EXPECT_EQ(ParseOne(p, kS2C, "\x7fjunk"s, &m).state, ParseState::kInvalid);
  EXPECT_EQ(ParseOne(p, kC2S, Be32(20000) + Be32(0x00030000), &m).state, ParseState::kInvalid);
  const std::string junk = "\x01\x02 some bytes that are not a message \xff";
  EXPECT_EQ(p.FindBoundary(kC2S, junk + kInsert), junk.size());
  EXPECT_EQ(p.FindBoundary(kC2S, junk + kExtendedBatch), junk.size());
  EXPECT_EQ(p.FindBoundary(kC2S, junk), junk.size());
  // Server side: resume after the next ReadyForQuery.
  const std::string tail = DataRow("zz") + Complete("SELECT 9") + kReadyIdle;
  EXPECT_EQ(p.FindBoundary(kS2C, tail.substr(3) + kInsertResponse), tail.size() - 3);
  std::mt19937 rng(17);
  for (int i = 0; i < 300; ++i) {
    PostgresqlParser q = Started();
    Feeder f(&q);
    std::string s(1 + rng() % 3000, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    const Direction dir = (i % 2) ? kC2S : kS2C;
    for (size_t off = 0; off < s.size(); off += 500)
      f.Feed(dir, std::string_view(s).substr(off, 500));
  }
}

TEST(PostgresqlParse, AdversarialLengthsAndCounts) {
  {
    // A query announcing 1 GB: reported at the bound, the rest skipped by count.
    PostgresqlParser p = Started();
    std::string q = "Q" + Be32(1u << 30) + "SELECT '" + std::string(2000, 'x');
    L7Message m;
    EXPECT_EQ(ParseOne(p, kC2S, std::string_view(q).substr(0, 1024), &m).state,
              ParseState::kNeedMore);
    ParseResult r = ParseOne(p, kC2S, std::string_view(q).substr(0, 1024), &m, true);
    ASSERT_EQ(r.state, ParseState::kOk);
    EXPECT_EQ(r.consumed, 1024u);
    EXPECT_EQ(r.skip, (1u << 30) + 1 - 1024);
    EXPECT_LE(m.request_resource.size(), 1024u);
  }
  {
    // An error message far longer than what we keep; fields without terminators.
    PostgresqlParser p = Started();
    L7Message m;
    ASSERT_EQ(ParseOne(p, kC2S, Q("SELECT 1"), &m).state, ParseState::kOk);
    const std::string err = Error("ERROR", "XX000", std::string(800, 'e')) + kReadyIdle;
    ParseResult r = ParseOne(p, kS2C, err, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    EXPECT_EQ(m.exception.size(), 512u);
    PostgresqlParser p2 = Started();
    ASSERT_EQ(ParseOne(p2, kC2S, Q("SELECT 1"), &m).state, ParseState::kOk);
    m = {};
    r = ParseOne(p2, kS2C, Msg('E', "SERROR\0CXX"s) + kReadyIdle, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    EXPECT_EQ(m.result, "XX");
  }
  {
    // Thousands of tiny messages in one batch, many statements: bounded state.
    PostgresqlParser p = Started();
    std::string many;
    for (int i = 0; i < 300; ++i) many += Msg('D', "S\0"s);
    many += kSync;
    L7Message m;
    ASSERT_EQ(ParseOne(p, kC2S, many, &m).state, ParseState::kOk);
    for (int i = 0; i < 500; ++i) {
      L7Message s;
      ASSERT_EQ(ParseOne(p, kC2S, Parse("s" + std::to_string(i), "SELECT 1") + kSync, &s).state,
                ParseState::kOk);
    }
    SUCCEED();
  }
}

TEST(PostgresqlParse, ObfuscationTraceAndEndpoint) {
  L7Config config;
  config.obfuscate_sql = true;
  PostgresqlParser p = Started(config);
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S,
                     Q("UPDATE \"Items\" SET note = E'it\\'s', price = 9.5 WHERE id = $1 AND "
                       "body = $$raw 'text'$$ AND tag = 'a''b' -- traceparent: "
                       "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\n"),
                     &m)
                .state,
            ParseState::kOk);
  EXPECT_EQ(m.request_resource,
            "UPDATE \"Items\" SET note = ?, price = ? WHERE id = $1 AND body = ? AND tag = ? -- "
            "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\n");
  EXPECT_EQ(m.endpoint, "UPDATE Items");
  EXPECT_EQ(m.trace.trace_id, "0af7651916cd43dd8448eb211c80319c");
  L7Message t;
  ASSERT_EQ(ParseOne(p, kC2S, kTraceQuery, &t).state, ParseState::kOk);
  EXPECT_EQ(t.request_resource,
            "SELECT count(*) FROM items /* traceparent: "
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 */;");
  EXPECT_EQ(t.trace.span_id, "b7ad6b7169203331");
}

// ---- Real traffic (testdata/*.pcap, facts from tshark) ----

std::string TypeOf(const std::string& tshark_method) {
  static const std::map<std::string, std::string> kMap = {{"Startup message", "startup message"},
                                                          {"Simple query", "simple query"},
                                                          {"Parse", "parse"},
                                                          {"Bind", "bind"},
                                                          {"Execute", "execute"},
                                                          {"Termination", "exit"}};
  auto it = kMap.find(tshark_method);
  return it == kMap.end() ? "?" + tshark_method : it->second;
}

class PostgresqlPcapTest : public testing::TestWithParam<std::string> {};

TEST_P(PostgresqlPcapTest, AgreesWithTshark) {
  const l7test::Recording rec = l7test::LoadRecording("postgresql", GetParam());
  ASSERT_TRUE(rec.facts.is_object());
  const uint16_t port = l7test::FactPort(rec.facts["records"][0]["server"]);
  auto conns = l7test::ReadConnections(rec.pcap, {port});
  ASSERT_FALSE(conns.empty());

  for (const auto& [key, conn] : conns) {
    const l7test::Segment& first = conn.segments[0];
    EXPECT_EQ(Infer(InferInput{first.dir, first.bytes, false, port}), InferResult::kYes) << key;
  }
  l7test::InOrderPairs pairs(l7test::PairsPerConnection(
      conns, [] { return std::make_unique<PostgresqlParser>(kConfig); }));
  l7test::Agreement agreement;
  for (const auto& fact : rec.facts["records"]) {
    const std::string key = l7test::ConnectionKey(fact);
    const Pair* next = pairs.Next(key);
    if (next == nullptr) {
      agreement.Add(false);
      continue;
    }
    const Pair& pr = *next;
    bool ok = pr.request.request_type == TypeOf(fact["method"]);
    if (!fact["resource"].is_null()) ok = ok && pr.request.request_resource == fact["resource"];
    if (fact["no_response_expected"].get<bool>()) {
      ok = ok && !pr.request.expects_response && !pr.response;
    } else if (!pr.response) {
      ok = false;
    } else {
      const L7Message& resp = *pr.response;
      ok = ok && (resp.status != L7ResponseStatus::kOk) == fact["error"].get<bool>();
      if (fact["status"].is_null()) {
        const auto& tags = fact["command_tags"];
        const std::string last = tags.empty() ? "" : tags.back().get<std::string>();
        ok = ok && resp.result == last;
        uint64_t rows = 0;
        ok = ok && resp.has_affected_rows == TagRows(last, &rows);
        if (resp.has_affected_rows) ok = ok && resp.affected_rows == rows;
      } else {
        const std::string state = fact["status"];
        ok = ok && resp.result == state && resp.exception == fact["error_message"];
        if (state.find_first_not_of("0123456789") == std::string::npos) {
          ok = ok && resp.has_code && resp.code == std::stoi(state);
        } else {
          ok = ok && !resp.has_code;
        }
      }
      const int64_t latency = static_cast<int64_t>(resp.timestamp_ns / 1000) -
                              static_cast<int64_t>(pr.request.timestamp_ns / 1000);
      ok = ok && std::llabs(latency - fact["latency_us"].get<int64_t>()) <= 1;
      ok = ok && resp.version == "3.0";
    }
    EXPECT_TRUE(ok) << key << ": " << pr.request.request_type << " | "
                    << pr.request.request_resource << " | "
                    << (pr.response ? pr.response->result : "(no response)");
    agreement.Add(ok);
  }
  EXPECT_EQ(pairs.size(), agreement.total());
  agreement.Finish(rec.facts, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Postgresql, PostgresqlPcapTest,
                         testing::Values("pg_simple", "pg_extended"));

}  // namespace
}  // namespace flowscope::agent::l7::postgresql
