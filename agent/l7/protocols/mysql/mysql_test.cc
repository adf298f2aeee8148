#include "agent/l7/protocols/mysql/mysql.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "agent/l7/sql_text.h"
#include "agent/l7/testing/engine_like_feeder.h"
#include "agent/l7/testing/facts.h"
#include "agent/l7/testing/pcap_connections.h"

namespace flowscope::agent::l7::mysql {
namespace {

constexpr Direction kC2S = Direction::kClientToServer;
constexpr Direction kS2C = Direction::kServerToClient;

std::string Hex(std::string_view h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// One packet: 3-byte little-endian length, sequence id, payload.
std::string Pkt(uint8_t seq, std::string_view payload) {
  std::string out;
  const size_t n = payload.size();
  out.push_back(static_cast<char>(n & 0xff));
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  out.push_back(static_cast<char>((n >> 16) & 0xff));
  out.push_back(static_cast<char>(seq));
  out.append(payload);
  return out;
}
std::string Query(std::string_view sql, uint8_t cmd = kComQuery) {
  return Pkt(0, std::string(1, static_cast<char>(cmd)) + std::string(sql));
}
std::string Ok(uint8_t seq, uint8_t affected, uint16_t status = 0x0002) {
  return Pkt(seq, std::string("\x00", 1) + static_cast<char>(affected) + std::string("\x00", 1) +
                      static_cast<char>(status & 0xff) + static_cast<char>(status >> 8) +
                      std::string("\x00\x00", 2));
}
std::string Eof(uint8_t seq, uint16_t status = 0x0002) {
  return Pkt(seq, std::string("\xfe\x00\x00", 3) + static_cast<char>(status & 0xff) +
                      static_cast<char>(status >> 8));
}
std::string Err(uint8_t seq, uint16_t code, std::string_view msg) {
  return Pkt(seq, std::string("\xff") + static_cast<char>(code & 0xff) +
                      static_cast<char>(code >> 8) + "#HY000" + std::string(msg));
}
std::string ColumnDef(uint8_t seq, std::string_view name) {
  std::string p =
      "\x03"
      "def"
      "\x00\x00\x00";
  p.push_back(static_cast<char>(name.size()));
  p.append(name);
  p.append(std::string("\x00\x0c\x21\x00\x60\x00\x00\x00\xfd\x00\x00\x00\x00\x00", 14));
  return Pkt(seq, p);
}
std::string TextRow(uint8_t seq, const std::vector<std::string>& values) {
  std::string p;
  for (const auto& v : values) {
    p.push_back(static_cast<char>(v.size()));
    p.append(v);
  }
  return Pkt(seq, p);
}

// ---- Real messages (testdata/mysql_client.pcap and mysql_stmt.pcap) ----

const std::string kGreeting =
    Hex("640000000a352e352e352d31302e31312e31392d4d6172696144422d302b64656231327531000400000051532f"
        "304340577300fef7080200ff81150000000000001d0000005d567a233b406e2c2e403837006d7973716c5f6e61"
        "746976655f70617373776f726400");
const std::string kLogin =
    Hex("bb00000184a2bf000000100021000000000000000000000000000000000000001d000000726f6f7400006d7973"
        "716c5f6e61746976655f70617373776f7264007e035f6f73054c696e75780c5f636c69656e745f6e616d650a6c"
        "69626d617269616462045f70696404333738320f5f636c69656e745f76657273696f6e06332e332e3230095f70"
        "6c6174666f726d067838365f36340c70726f6772616d5f6e616d65056d7973716c0c5f7365727665725f686f73"
        "74093132372e302e302e31");
const std::string kLoginOk = Hex("0700000200000002000000");
const std::string kSelect = Hex(
    "3a0000000353454c4543542069642c206e616d652c207174792046524f4d206974656d7320574845524520717479"
    "203e2031204f52444552204259206964");
const std::string kSelectResult = Hex(
    "02000001030129000002036465660466736c37056974656d73056974656d73026964026964000c3f000b000000"
    "0303500000002d000003036465660466736c37056974656d73056974656d73046e616d65046e616d65000c2100"
    "60000000fd00000000002b000004036465660466736c37056974656d73056974656d730371747903717479000c"
    "3f000b00000003000000000005000005fe000022000a0000060131056170706c650135090000070132047065617201"
    "3709000008013304706c756d013905000009fe00002200");
const std::string kInsert =
    Hex("5900000003494e5345525420494e544f206974656d73202869642c206e616d652c20717479292056414c554553"
        "2028312c20276170706c65272c2035292c2028322c202770656172272c2037292c2028332c2027706c756d272c"
        "203929");
const std::string kInsertOk =
    Hex("2e00000100030002000000265265636f7264733a203320204475706c6963617465733a203020205761726e69"
        "6e67733a2030");
const std::string kBadSyntax = Hex("140000000353454c45432062726f6b656e2073796e746178");
const std::string kBadSyntaxErr = Hex(
    "b0000001ff2804233432303030596f75206861766520616e206572726f7220696e20796f75722053514c207379"
    "6e7461783b20636865636b20746865206d616e75616c207468617420636f72726573706f6e647320746f20796f"
    "7572204d617269614442207365727665722076657273696f6e20666f72207468652072696768742073796e7461"
    "7820746f20757365206e656172202753454c45432062726f6b656e2073796e74617827206174206c696e652031");
const std::string kTraceQuery =
    Hex("6b0000000353454c45435420434f554e54282a29204153206e2046524f4d206974656d73202f2a207472616365"
        "706172656e743a2030302d30616637363531393136636434336464383434386562323131633830333139632d62"
        "3761643662373136393230333333312d3031202a2f");
// COM_STMT_PREPARE "INSERT INTO items (id, name) VALUES (?, ?)" and its answer: statement 2,
// 0 columns, 2 parameters (2 definitions + EOF).
const std::string kPrepareInsert =
    Hex("2b00000016494e5345525420494e544f206974656d73202869642c206e616d65292056414c55455320283f2c20"
        "3f29");
const std::string kPrepareInsertOk = Hex(
    "0c0000010002000000000002000000001800000203646566000000013f00000c3f0000000000068000000000180000"
    "0303646566000000013f00000c3f000000000006800000000005000004fe00000200");
const std::string kExecuteInsert =
    Hex("240000001702000000000100000000010800fe0064000000000000000b73746d742d6974656d2d30");
const std::string kExecuteOk = Hex("0700000100010002000000");
// Statement 3: 2 columns, 1 parameter; its execution returns a binary result set (MariaDB
// metadata cache: column count "02 00", no definitions, EOF, 4 rows, EOF).
const std::string kPrepareSelectOk = Hex(
    "0c0000010003000000020001000000001800000203646566000000013f00000c3f0000000000068000000000050000"
    "03fe0000020029000004036465660466736c37056974656d73056974656d73026964026964000c3f000b000000"
    "0303500000002d000005036465660466736c37056974656d73056974656d73046e616d65046e616d65000c2d00"
    "80000000fd000000000005000006fe00000200");
const std::string kExecuteSelect = Hex("1600000017030000000001000000000108000200000000000000");
const std::string kBinaryResult =
    Hex("02000001020005000002fe000002000b00000300000200000004706561720b00000400000300000004706c756d"
        "120000050000640000000b73746d742d6974656d2d30120000060000650000000b73746d742d6974656d2d3105"
        "000007fe00000200");

L7Config DefaultConfig() { return L7Config{}; }
const L7Config kConfig = DefaultConfig();

ParseResult ParseOne(MysqlParser& p, Direction dir, std::string_view data, L7Message* m,
                     bool at_limit = false) {
  return p.Parse(ParseInput{dir, data, at_limit, false}, m);
}

// Brings a parser past the handshake (greeting, login, OK).
MysqlParser Handshaken(const L7Config& config = kConfig) {
  MysqlParser p(config);
  L7Message m;
  EXPECT_EQ(ParseOne(p, kS2C, kGreeting, &m).state, ParseState::kOk);
  m = {};
  EXPECT_EQ(ParseOne(p, kC2S, kLogin, &m).state, ParseState::kOk);
  m = {};
  EXPECT_EQ(ParseOne(p, kS2C, kLoginOk, &m).state, ParseState::kOk);
  return p;
}

// Byte streams fed as the engine feeds them (agent/l7/testing/engine_like_feeder.h), pairs
// made as the engine makes them.
using Feeder = l7test::EngineLikeFeeder;
using l7test::Pair;
std::vector<Pair> PairUp(const std::vector<L7Message>& messages) {
  return l7test::PairLikeEngine(messages);
}

// ---- Shared SQL helpers (agent/l7/sql_text.h) ----

TEST(SqlText, Endpoints) {
  const std::pair<std::string, std::string> cases[] = {
      {"SELECT a FROM t WHERE x = 1", "SELECT t"},
      {"  /* c */ select (select max(id) from inner_t) AS m FROM outer_t", "SELECT outer_t"},
      {"SELECT 'from x' AS s FROM `db`.`tbl`", "SELECT db.tbl"},
      {"SELECT 1", "SELECT"},
      {"(SELECT a FROM u) UNION (SELECT a FROM v)", "SELECT u"},
      {"insert ignore into logs (a) values (1)", "INSERT logs"},
      {"REPLACE INTO kv VALUES (1, 2)", "REPLACE kv"},
      {"UPDATE LOW_PRIORITY items SET a = 1", "UPDATE items"},
      {"DELETE QUICK FROM sessions WHERE id = 3", "DELETE sessions"},
      {"CALL refresh_stats(1)", "CALL refresh_stats"},
      {"begin", "BEGIN"},
      {"-- only a comment", ""},
      {"12345", ""},
      {"", ""},
  };
  for (const auto& [sql, want] : cases) EXPECT_EQ(sql::Endpoint(sql), want) << sql;
}

TEST(SqlText, ObfuscationKeepsStructure) {
  EXPECT_EQ(
      sql::Obfuscate("SELECT a1, 'x''y', \"q\", 3.5e-2, 0xFF, b FROM t2 WHERE c = ?", true, true),
      "SELECT a1, ?, ?, ?, ?, b FROM t2 WHERE c = ?");
  EXPECT_EQ(sql::Obfuscate("SELECT \"Col\" FROM t WHERE s = 'a\\'b' AND x = X'0f'", false, true),
            "SELECT \"Col\" FROM t WHERE s = ? AND x = ?");
  EXPECT_EQ(sql::Obfuscate("SELECT $1, $$lit$$, $tag$a$b$tag$, 'cut", false, false),
            "SELECT $1, ?, ?, ?");
  std::mt19937 rng(3);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 200, '\0');
    for (char& c : s) c = "'\"`$-#/*0123456789ab .eExX\\\n"[rng() % 29];
    EXPECT_LE(sql::Obfuscate(s, i % 2, i % 3).size(), s.size());
  }
}

TEST(SqlText, Utf8SafeAndKeywords) {
  EXPECT_EQ(sql::Utf8Safe("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(sql::Utf8Safe("cut \xe2\x82"), "cut ??");        // sequence cut at the end
  EXPECT_EQ(sql::Utf8Safe("bad \xff\x01 ok"), "bad ?? ok");  // invalid byte, control char
  EXPECT_EQ(sql::Utf8Safe("\xed\xa0\x80"), "???");           // surrogate
  EXPECT_TRUE(sql::LooksLikeSql("  -- hi\n  WITH x AS (SELECT 1) SELECT * FROM x"));
  EXPECT_FALSE(sql::LooksLikeSql("SELECTED"));
  EXPECT_FALSE(sql::LooksLikeSql("/* unterminated"));
  EXPECT_TRUE(sql::IsDml("/* x */ insert into t values (1)"));
  EXPECT_FALSE(sql::IsDml("select 1"));
}

// ---- Inference ----

bool InferYes(Direction dir, std::string_view data) {
  return Infer(InferInput{dir, data, false, 0}) == InferResult::kYes;
}

TEST(MysqlInfer, AcceptsRealFirstMessages) {
  EXPECT_TRUE(InferYes(kS2C, kGreeting));
  EXPECT_TRUE(InferYes(kC2S, kLogin));
  EXPECT_TRUE(InferYes(kC2S, kSelect));
  EXPECT_TRUE(InferYes(kC2S, kPrepareInsert));
  EXPECT_TRUE(InferYes(kC2S, Query("fsl7", kComInitDb)));
  EXPECT_TRUE(InferYes(kC2S, Query("/* app */ select 1")));
  // The greeting cut after its capability flags is still recognised.
  EXPECT_TRUE(InferYes(kS2C, kGreeting.substr(0, 60)));
  // SSLRequest: the first 32 bytes of a login, with CLIENT_SSL.
  std::string ssl = kLogin.substr(4, 32);
  ssl[1] = static_cast<char>(ssl[1] | 0x08);
  EXPECT_TRUE(InferYes(kC2S, Pkt(1, ssl)));
}

TEST(MysqlInfer, RejectsOtherProtocolsAndNoise) {
  using namespace std::string_literals;
  const std::string pg_startup =
      "\x00\x00\x00\x29\x00\x03\x00\x00user\x00postgres\x00database\x00postgres\x00\x00"s;
  EXPECT_FALSE(InferYes(kC2S, pg_startup));
  EXPECT_FALSE(InferYes(kC2S, "Q\x00\x00\x00\x0dSELECT 1;\x00"s));
  EXPECT_FALSE(InferYes(kC2S, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_FALSE(InferYes(kC2S, "*1\r\n$4\r\nPING\r\n"));
  EXPECT_FALSE(InferYes(kC2S, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s));
  EXPECT_FALSE(InferYes(kC2S, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  EXPECT_FALSE(InferYes(kC2S, "\x00\x00\x00\x14\x00\x12\x00\x03\x00\x00\x00\x01\x00\x04test"s));
  // Right shape, wrong content or direction.
  EXPECT_FALSE(InferYes(kS2C, kSelect));
  EXPECT_FALSE(InferYes(kC2S, kGreeting));
  EXPECT_FALSE(InferYes(kC2S, Query("hello world")));
  EXPECT_FALSE(InferYes(kC2S, Query("SELECTED")));
  EXPECT_FALSE(InferYes(kC2S, Pkt(0, "\x0e")));  // COM_PING alone is too little to go on
  EXPECT_FALSE(InferYes(kS2C, kInsertOk));
  std::string bad_login = kLogin;
  bad_login[4 + 12] = 'x';  // filler must be zero
  EXPECT_FALSE(InferYes(kC2S, bad_login));
  std::mt19937 rng(11);
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
  std::optional<uint32_t> request_id;
};

TEST(MysqlParse, Requests) {
  const RequestCase cases[] = {
      {"query", kSelect, "COM_QUERY", "SELECT id, name, qty FROM items WHERE qty > 1 ORDER BY id",
       "SELECT items", true, std::nullopt},
      {"insert", kInsert, "COM_QUERY",
       "INSERT INTO items (id, name, qty) VALUES (1, 'apple', 5), (2, 'pear', 7), (3, 'plum', 9)",
       "INSERT items", true, std::nullopt},
      {"init db", Query("fsl7", kComInitDb), "COM_INIT_DB", "fsl7", "", true, std::nullopt},
      {"ping", Pkt(0, "\x0e"), "COM_PING", "", "", true, std::nullopt},
      {"quit", Pkt(0, "\x01"), "COM_QUIT", "", "", false, std::nullopt},
      {"prepare", kPrepareInsert, "COM_STMT_PREPARE", "INSERT INTO items (id, name) VALUES (?, ?)",
       "INSERT items", true, std::nullopt},
      {"execute", kExecuteInsert, "COM_STMT_EXECUTE", "", "", true, 2},
      {"close", Pkt(0, std::string("\x19\x02\x00\x00\x00", 5)), "COM_STMT_CLOSE", "", "", false, 2},
      {"reset", Pkt(0, std::string("\x1a\x03\x00\x00\x00", 5)), "COM_STMT_RESET", "", "", true, 3},
      {"field list", Pkt(0, std::string("\x04items\x00", 7)), "COM_FIELD_LIST", "items", "", true,
       std::nullopt},
      {"query attributes prefix", Query(std::string("\x00\x01SELECT 1", 10)), "COM_QUERY",
       "SELECT 1", "SELECT", true, std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    MysqlParser p = Handshaken();
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
    EXPECT_EQ(m.has_request_id, c.request_id.has_value());
    if (c.request_id) {
      EXPECT_EQ(m.request_id, *c.request_id);
    }
    EXPECT_EQ(m.version, "10");
    EXPECT_EQ(m.length, static_cast<int64_t>(c.bytes.size()));
  }
}

TEST(MysqlParse, LoginAndGreeting) {
  MysqlParser p(kConfig);
  L7Message g;
  ParseResult r = ParseOne(p, kS2C, kGreeting, &g);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, kGreeting.size());
  EXPECT_TRUE(g.ignore);
  L7Message login;
  r = ParseOne(p, kC2S, kLogin, &login);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, kLogin.size());
  EXPECT_EQ(login.request_type, "Login");
  EXPECT_EQ(login.request_resource, "Login username: root");
  EXPECT_EQ(login.version, "10");
  L7Message ok;
  r = ParseOne(p, kS2C, kLoginOk, &ok);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_FALSE(ok.is_request);
  EXPECT_EQ(ok.status, L7ResponseStatus::kOk);
  EXPECT_FALSE(ok.has_code);
  EXPECT_FALSE(ok.has_affected_rows);

  // With CLIENT_CONNECT_WITH_DB the database follows the auth data.
  MysqlParser q(kConfig);
  std::string payload = kLogin.substr(4, 32);
  payload[0] = static_cast<char>(payload[0] | 0x08);
  payload[2] = static_cast<char>(payload[2] & ~0x20);  // no lenenc auth data: 1-byte length
  payload += std::string(
      "app\0\x02zz"
      "shop\0",
      12);
  L7Message with_db;
  ASSERT_EQ(ParseOne(q, kC2S, Pkt(1, payload), &with_db).state, ParseState::kOk);
  EXPECT_EQ(with_db.request_resource, "Login username: app db: shop");
  EXPECT_EQ(with_db.version, "");  // no greeting seen
}

TEST(MysqlParse, AuthSwitchIsOneLoginResponse) {
  MysqlParser p(kConfig);
  L7Message m;
  ASSERT_EQ(ParseOne(p, kS2C, kGreeting, &m).state, ParseState::kOk);
  m = {};
  ASSERT_EQ(ParseOne(p, kC2S, kLogin, &m).state, ParseState::kOk);
  m = {};
  const std::string sw = Pkt(2, std::string("\xfemysql_native_password\x00"
                                            "01234567890123456789\x00",
                                            44));
  ASSERT_EQ(ParseOne(p, kS2C, sw, &m).state, ParseState::kOk);
  EXPECT_TRUE(m.ignore);
  m = {};
  ASSERT_EQ(ParseOne(p, kC2S, Pkt(3, std::string(20, 'a')), &m).state, ParseState::kOk);
  EXPECT_TRUE(m.ignore);
  m = {};
  const std::string denied = Err(4, 1045, "Access denied for user 'root'");
  ParseResult r = ParseOne(p, kS2C, denied, &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, denied.size());
  EXPECT_FALSE(m.ignore);
  EXPECT_EQ(m.status, L7ResponseStatus::kServerError);
  EXPECT_EQ(m.code, 1045);
  EXPECT_EQ(m.exception, "Access denied for user 'root'");
}

// ---- Responses ----

struct ResponseCase {
  const char* name;
  std::string request;
  std::string response;
  L7ResponseStatus status;
  std::optional<int32_t> code;
  std::string exception;
  std::optional<uint64_t> affected_rows;
  std::optional<uint64_t> request_id;
};

TEST(MysqlParse, Responses) {
  const ResponseCase cases[] = {
      {"insert ok", kInsert, kInsertOk, L7ResponseStatus::kOk, std::nullopt, "", 3, std::nullopt},
      {"ddl ok: no affected rows", Query("CREATE TABLE t (a INT)"), Ok(1, 0), L7ResponseStatus::kOk,
       std::nullopt, "", std::nullopt, std::nullopt},
      {"update ok", Query("UPDATE t SET a = 1"), Ok(1, 2), L7ResponseStatus::kOk, std::nullopt, "",
       2, std::nullopt},
      {"replace ok", Query("replace into t values (1)"), Ok(1, 1), L7ResponseStatus::kOk,
       std::nullopt, "", 1, std::nullopt},
      {"syntax error", kBadSyntax, kBadSyntaxErr, L7ResponseStatus::kServerError, 1064,
       "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB "
       "server version for the right syntax to use near 'SELEC broken syntax' at line 1",
       std::nullopt, std::nullopt},
      {"client error range", Query("SELECT 1"), Err(1, 2013, "Lost connection"),
       L7ResponseStatus::kClientError, 2013, "Lost connection", std::nullopt, std::nullopt},
      {"text result set", kSelect, kSelectResult, L7ResponseStatus::kOk, std::nullopt, "",
       std::nullopt, std::nullopt},
      {"prepare ok, params only", kPrepareInsert, kPrepareInsertOk, L7ResponseStatus::kOk,
       std::nullopt, "", std::nullopt, 2},
      {"prepare ok, params and columns",
       Query("SELECT id, name FROM items WHERE id >= ?", kComStmtPrepare), kPrepareSelectOk,
       L7ResponseStatus::kOk, std::nullopt, "", std::nullopt, 3},
      {"binary result set", kExecuteSelect, kBinaryResult, L7ResponseStatus::kOk, std::nullopt, "",
       std::nullopt, std::nullopt},
      {"ping", Pkt(0, "\x0e"), Ok(1, 0), L7ResponseStatus::kOk, std::nullopt, "", std::nullopt,
       std::nullopt},
      {"field list", Pkt(0, std::string("\x04items\x00", 7)),
       ColumnDef(1, "id") + ColumnDef(2, "name") + Eof(3), L7ResponseStatus::kOk, std::nullopt, "",
       std::nullopt, std::nullopt},
      {"error inside rows", Query("SELECT a FROM t"),
       Pkt(1, "\x01") + ColumnDef(2, "a") + Eof(3) + TextRow(4, {"1"}) +
           Err(5, 1317, "Query execution was interrupted"),
       L7ResponseStatus::kServerError, 1317, "Query execution was interrupted", std::nullopt,
       std::nullopt},
      {"multi statement: OK then a result set", Query("INSERT INTO t VALUES (1); SELECT a FROM t"),
       Ok(1, 1, 0x000a) + Pkt(2, "\x01") + ColumnDef(3, "a") + Eof(4) + TextRow(5, {"1"}) + Eof(6),
       L7ResponseStatus::kOk, std::nullopt, "", 1, std::nullopt},
      {"deprecate-eof style terminator", Query("SELECT a FROM t"),
       Pkt(1, "\x01") + ColumnDef(2, "a") + TextRow(3, {"1"}) +
           Pkt(4, std::string("\xfe\x00\x00\x02\x00\x00\x00", 7)),
       L7ResponseStatus::kOk, std::nullopt, "", std::nullopt, std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    MysqlParser p = Handshaken();
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
    EXPECT_EQ(m.has_code, c.code.has_value());
    if (c.code) {
      EXPECT_EQ(m.code, *c.code);
    }
    EXPECT_EQ(m.exception, c.exception);
    EXPECT_EQ(m.has_affected_rows, c.affected_rows.has_value());
    if (c.affected_rows) {
      EXPECT_EQ(m.affected_rows, *c.affected_rows);
    }
    EXPECT_EQ(m.has_request_id, c.request_id.has_value());
    if (c.request_id) {
      EXPECT_EQ(m.request_id, *c.request_id);
    }
    EXPECT_EQ(m.length, static_cast<int64_t>(c.response.size()));
    EXPECT_EQ(m.version, "10");
  }
}

TEST(MysqlParse, PreparedStatementSqlFollowsItsId) {
  MysqlParser p = Handshaken();
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S, kPrepareInsert, &m).state, ParseState::kOk);
  L7Message prepared;
  ASSERT_EQ(ParseOne(p, kS2C, kPrepareInsertOk, &prepared).state, ParseState::kOk);
  EXPECT_EQ(prepared.request_id, 2u);
  L7Message exec;
  ASSERT_EQ(ParseOne(p, kC2S, kExecuteInsert, &exec).state, ParseState::kOk);
  EXPECT_EQ(exec.request_type, "COM_STMT_EXECUTE");
  EXPECT_EQ(exec.request_resource, "INSERT INTO items (id, name) VALUES (?, ?)");
  EXPECT_EQ(exec.endpoint, "INSERT items");
  EXPECT_EQ(exec.request_id, 2u);
  L7Message ok;
  ASSERT_EQ(ParseOne(p, kS2C, kExecuteOk, &ok).state, ParseState::kOk);
  EXPECT_TRUE(ok.has_affected_rows);  // an INSERT statement
  EXPECT_EQ(ok.affected_rows, 1u);
  L7Message close;
  ASSERT_EQ(ParseOne(p, kC2S, Pkt(0, std::string("\x19\x02\x00\x00\x00", 5)), &close).state,
            ParseState::kOk);
  EXPECT_EQ(close.request_resource, "INSERT INTO items (id, name) VALUES (?, ?)");
  L7Message again;
  ASSERT_EQ(ParseOne(p, kC2S, kExecuteInsert, &again).state, ParseState::kOk);
  EXPECT_EQ(again.request_resource, "");  // closed: forgotten
}

TEST(MysqlParse, ObfuscationEndpointAndTraceComment) {
  L7Config config;
  config.obfuscate_sql = true;
  MysqlParser p = Handshaken(config);
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S, kInsert, &m).state, ParseState::kOk);
  EXPECT_EQ(m.request_resource,
            "INSERT INTO items (id, name, qty) VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?)");
  EXPECT_EQ(m.endpoint, "INSERT items");
  L7Message t;
  ASSERT_EQ(ParseOne(p, kC2S,
                     Query("SELECT * FROM `shop`.`orders` WHERE id = 0x1F AND note = \"a\\\"b\" "
                           "AND x IN (1.5, -2e3, 'it''s') /* traceparent: "
                           "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 */"),
                     &t)
                .state,
            ParseState::kOk);
  EXPECT_EQ(t.request_resource,
            "SELECT * FROM `shop`.`orders` WHERE id = ? AND note = ? AND x IN (?, -?, ?) /* "
            "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 */");
  EXPECT_EQ(t.endpoint, "SELECT shop.orders");
  EXPECT_EQ(t.trace.trace_id, "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(t.trace.span_id, "b7ad6b7169203331");
}

TEST(MysqlParse, TraceFromRealQuery) {
  MysqlParser p = Handshaken();
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S, kTraceQuery, &m).state, ParseState::kOk);
  EXPECT_EQ(m.trace.trace_id, "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(m.trace.span_id, "b7ad6b7169203331");
  EXPECT_EQ(m.endpoint, "SELECT items");
  // sqlcommenter style
  L7Message s;
  ASSERT_EQ(
      ParseOne(p, kC2S,
               Query("SELECT 1 /*action='list',traceparent='00-11111111111111111111111111111111-"
                     "2222222222222222-01'*/"),
               &s)
          .state,
      ParseState::kOk);
  EXPECT_EQ(s.trace.trace_id, "11111111111111111111111111111111");
  EXPECT_EQ(s.trace.span_id, "2222222222222222");
}

TEST(MysqlParse, PipelinedRequestsOneAtATime) {
  MysqlParser p = Handshaken();
  const std::string a = Query("SELECT 1");
  const std::string b = Pkt(0, "\x0e");
  const std::string c = Query("UPDATE t SET x = 2");
  std::string buf = a + b + c;
  std::vector<std::string> types;
  while (!buf.empty()) {
    L7Message m;
    ParseResult r = ParseOne(p, kC2S, buf, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    types.push_back(m.request_type);
    buf.erase(0, r.consumed);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"COM_QUERY", "COM_PING", "COM_QUERY"}));
  // Their answers in one buffer: one response per call, consumed exactly.
  const std::string answers = Pkt(1, "\x01") + ColumnDef(2, "1") + Eof(3) + TextRow(4, {"1"}) +
                              Eof(5) + Ok(1, 0) + Ok(1, 7);
  std::string rbuf = answers;
  std::vector<size_t> consumed;
  std::vector<uint64_t> rows;
  while (!rbuf.empty()) {
    L7Message m;
    ParseResult r = ParseOne(p, kS2C, rbuf, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    consumed.push_back(r.consumed);
    rows.push_back(m.has_affected_rows ? m.affected_rows : 999);
    rbuf.erase(0, r.consumed);
  }
  EXPECT_EQ(consumed, (std::vector<size_t>{answers.size() - 22, 11, 11}));
  EXPECT_EQ(rows, (std::vector<uint64_t>{999, 999, 7}));
}

// ---- Large result sets: walked, never buffered ----

std::string BigResultSet(int rows, size_t row_bytes, uint8_t* next_seq) {
  std::string out = Pkt(1, "\x02") + ColumnDef(2, "id") + ColumnDef(3, "payload") + Eof(4);
  uint8_t seq = 5;
  for (int i = 0; i < rows; ++i) {
    out += TextRow(seq++, {std::to_string(i), std::string(row_bytes, 'x')});
  }
  out += Eof(seq++);
  *next_seq = seq;
  return out;
}

TEST(MysqlParse, LargeResultSetIsOneResponse) {
  MysqlParser p = Handshaken();
  Feeder f(&p);
  f.Feed(kC2S, Query("SELECT id, payload FROM big"));
  uint8_t seq;
  const std::string rs = BigResultSet(600, 120, &seq);  // ~75 KB, rows wrap the sequence id
  ASSERT_GT(rs.size(), 70000u);
  for (size_t off = 0; off < rs.size(); off += 1448) f.Feed(kS2C, rs.substr(off, 1448));
  EXPECT_TRUE(f.Idle(kS2C));
  f.Feed(kC2S, Query("DELETE FROM big"));
  f.Feed(kS2C, Ok(1, 200));
  EXPECT_EQ(f.invalid, 0);
  EXPECT_GT(f.ignored, 10);  // the rows after the first 1024 bytes, walked in later calls
  auto pairs = PairUp(f.messages);
  ASSERT_EQ(pairs.size(), 2u);
  ASSERT_TRUE(pairs[0].response.has_value());
  EXPECT_EQ(pairs[0].response->status, L7ResponseStatus::kOk);
  EXPECT_EQ(pairs[0].response->length, -1);  // not seen whole
  ASSERT_TRUE(pairs[1].response.has_value());
  EXPECT_EQ(pairs[1].response->affected_rows, 200u);
}

TEST(MysqlParse, HugeRowsAreSkippedExactly) {
  MysqlParser p = Handshaken();
  Feeder f(&p);
  f.Feed(kC2S, Query("SELECT blob FROM t"));
  std::string rs = Pkt(1, "\x01") + ColumnDef(2, "blob") + Eof(3);
  rs += TextRow(4, {std::string(200, 'a')});
  // A 5000-byte row (length prefix 0xfc + 2 bytes), then a 16 MiB row split in two packets.
  std::string big = std::string("\xfc\x85\x13", 3) + std::string(5000 - 3, 'b');
  rs += Pkt(5, big);
  std::string huge(0xffffff, 'c');
  rs += Pkt(6, huge) + Pkt(7, "cc") + Eof(8);
  for (size_t off = 0; off < rs.size(); off += 65000) f.Feed(kS2C, rs.substr(off, 65000));
  f.Feed(kC2S, Pkt(0, "\x0e"));
  f.Feed(kS2C, Ok(1, 0));
  EXPECT_EQ(f.invalid, 0);
  auto pairs = PairUp(f.messages);
  ASSERT_EQ(pairs.size(), 2u);
  ASSERT_TRUE(pairs[0].response && pairs[1].response);
  EXPECT_EQ(pairs[1].request.request_type, "COM_PING");
  EXPECT_EQ(pairs[1].response->status, L7ResponseStatus::kOk);
}

TEST(MysqlParse, CutResultSetReportedAtTheBound) {
  MysqlParser p = Handshaken();
  L7Message req;
  ASSERT_EQ(ParseOne(p, kC2S, Query("SELECT * FROM big"), &req).state, ParseState::kOk);
  uint8_t seq;
  const std::string rs = BigResultSet(50, 100, &seq);
  const std::string_view window(rs.data(), 1024);
  L7Message m;
  EXPECT_EQ(ParseOne(p, kS2C, window, &m, false).state, ParseState::kNeedMore);
  ParseResult r = ParseOne(p, kS2C, window, &m, true);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_FALSE(m.ignore);
  EXPECT_EQ(m.status, L7ResponseStatus::kOk);
  EXPECT_EQ(r.consumed + r.skip, 1024u + (r.skip ? r.skip : 0));
  // The rest is walked as ignored bytes up to the terminator, exactly.
  std::string_view rest(rs);
  rest.remove_prefix(r.consumed + r.skip);
  while (!rest.empty()) {
    L7Message c;
    const std::string_view view = rest.substr(0, 1024);
    ParseResult rr = ParseOne(p, kS2C, view, &c, view.size() >= 1024);
    ASSERT_EQ(rr.state, ParseState::kOk);
    EXPECT_TRUE(c.ignore);
    rest.remove_prefix(rr.consumed + rr.skip);
  }
  L7Message next_req, next;
  ASSERT_EQ(ParseOne(p, kC2S, Pkt(0, "\x0e"), &next_req).state, ParseState::kOk);
  const std::string ok = Ok(1, 0);
  ParseResult nr = ParseOne(p, kS2C, ok, &next);
  ASSERT_EQ(nr.state, ParseState::kOk);
  EXPECT_FALSE(next.ignore);
  EXPECT_EQ(nr.consumed, ok.size());
}

// ---- Truncation, garbage, adversarial lengths ----

TEST(MysqlParse, EveryTruncationNeedsMoreOrIsDecidedAtTheLimit) {
  struct Step {
    Direction dir;
    std::string bytes;
  };
  const std::vector<Step> session = {
      {kS2C, kGreeting},      {kC2S, kLogin},           {kS2C, kLoginOk},
      {kC2S, kSelect},        {kS2C, kSelectResult},    {kC2S, kInsert},
      {kS2C, kInsertOk},      {kC2S, kBadSyntax},       {kS2C, kBadSyntaxErr},
      {kC2S, kPrepareInsert}, {kS2C, kPrepareInsertOk}, {kC2S, kExecuteSelect},
      {kS2C, kBinaryResult},  {kC2S, kTraceQuery},      {kS2C, Ok(1, 0)},
  };
  MysqlParser p(kConfig);
  for (const Step& s : session) {
    for (size_t n = 0; n < s.bytes.size(); ++n) {
      MysqlParser copy = p;
      L7Message m;
      ParseResult r = ParseOne(copy, s.dir, std::string_view(s.bytes).substr(0, n), &m, false);
      EXPECT_EQ(r.state, n == 0 ? ParseState::kInvalid : ParseState::kNeedMore)
          << n << "/" << s.bytes.size();
      MysqlParser copy2 = p;
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

TEST(MysqlParse, GarbageIsInvalidAndBoundaryFindsTheNextCommand) {
  MysqlParser p = Handshaken();
  L7Message m;
  EXPECT_EQ(ParseOne(p, kC2S, Pkt(0, "\xee garbage"), &m).state, ParseState::kInvalid);
  EXPECT_EQ(ParseOne(p, kC2S, Pkt(0, ""), &m).state, ParseState::kInvalid);
  const std::string junk = "\x13\x37zzzz\x01\x02\x03 not a packet at all";
  const std::string buf = junk + kSelect;
  EXPECT_EQ(p.FindBoundary(kC2S, buf), junk.size());
  EXPECT_EQ(p.FindBoundary(kC2S, junk), junk.size());
  const std::string sjunk = "\x99\x98\x97 nothing here \xff\xfe";
  EXPECT_EQ(p.FindBoundary(kS2C, sjunk + kInsertOk), sjunk.size());
  EXPECT_EQ(p.FindBoundary(kS2C, sjunk + kSelectResult), sjunk.size());
  // Random streams through the engine-like feeder: no crash, every byte accounted for.
  std::mt19937 rng(5);
  for (int i = 0; i < 300; ++i) {
    MysqlParser q = Handshaken();
    Feeder f(&q);
    std::string s(1 + rng() % 3000, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    const Direction dir = (i % 2) ? kC2S : kS2C;
    for (size_t off = 0; off < s.size(); off += 500)
      f.Feed(dir, std::string_view(s).substr(off, 500));
  }
}

TEST(MysqlParse, AdversarialLengthsAndCounts) {
  {
    // A command claiming 16 MiB: reported at the limit, the rest skipped by count.
    MysqlParser p = Handshaken();
    std::string q = Query("SELECT '" + std::string(2000, 'x'));
    q[0] = q[1] = q[2] = '\xff';
    L7Message m;
    EXPECT_EQ(ParseOne(p, kC2S, std::string_view(q).substr(0, 1024), &m).state,
              ParseState::kNeedMore);
    ParseResult r = ParseOne(p, kC2S, std::string_view(q).substr(0, 1024), &m, true);
    ASSERT_EQ(r.state, ParseState::kOk);
    EXPECT_EQ(r.consumed, 1024u);
    EXPECT_EQ(r.skip, 0xffffffu + 4 - 1024);
    EXPECT_LE(m.request_resource.size(), 1024u);
  }
  {
    // A column count of 2^60, and one of zero.
    MysqlParser p = Handshaken();
    L7Message m;
    ASSERT_EQ(ParseOne(p, kC2S, Query("SELECT 1"), &m).state, ParseState::kOk);
    EXPECT_EQ(
        ParseOne(p, kS2C, Pkt(1, std::string("\xfe\x00\x00\x00\x00\x00\x00\x00\x10", 9)), &m).state,
        ParseState::kOk);  // 0xfe with a short length: an EOF, not a count
    EXPECT_EQ(m.status, L7ResponseStatus::kOk);
    MysqlParser p2 = Handshaken();
    ASSERT_EQ(ParseOne(p2, kC2S, Query("SELECT 1"), &m).state, ParseState::kOk);
    EXPECT_EQ(ParseOne(p2, kS2C, Pkt(1, std::string("\xfd\xff\xff\xff", 4)) + Eof(2), &m).state,
              ParseState::kInvalid);  // 16M columns
  }
  {
    // PREPARE_OK announcing 65535 parameters: counted, not stored.
    MysqlParser p = Handshaken();
    L7Message m;
    ASSERT_EQ(ParseOne(p, kC2S, Query("SELECT ?", kComStmtPrepare), &m).state, ParseState::kOk);
    std::string ok = Pkt(1, std::string("\x00\x09\x00\x00\x00\x00\x00\xff\xff\x00\x00\x00", 12));
    for (int i = 0; i < 3; ++i) ok += ColumnDef(static_cast<uint8_t>(2 + i), "?");
    m = {};
    EXPECT_EQ(ParseOne(p, kS2C, ok, &m).state, ParseState::kNeedMore);
    ParseResult r = ParseOne(p, kS2C, ok, &m, true);
    ASSERT_EQ(r.state, ParseState::kOk);
    EXPECT_EQ(m.request_id, 9u);
  }
  {
    // An error message far longer than anything we keep.
    MysqlParser p = Handshaken();
    L7Message m;
    ASSERT_EQ(ParseOne(p, kC2S, Query("SELECT 1"), &m).state, ParseState::kOk);
    const std::string err = Err(1, 1105, std::string(900, 'e'));
    ParseResult r = ParseOne(p, kS2C, err, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    EXPECT_EQ(r.consumed, err.size());
    EXPECT_EQ(m.exception.size(), 512u);
  }
  {
    // The pending queue and the statement table are bounded.
    MysqlParser p = Handshaken();
    for (int i = 0; i < 1000; ++i) {
      L7Message m;
      ASSERT_EQ(ParseOne(p, kC2S, Query("SELECT 1"), &m).state, ParseState::kOk);
    }
    for (uint32_t id = 1; id <= 500; ++id) {
      L7Message m;
      ASSERT_EQ(ParseOne(p, kC2S, Query("SELECT 1", kComStmtPrepare), &m).state, ParseState::kOk);
    }
    SUCCEED();
  }
}

TEST(MysqlParse, TlsAndCompressionMakeTheSessionOpaque) {
  {
    MysqlParser p(kConfig);
    L7Message m;
    ASSERT_EQ(ParseOne(p, kS2C, kGreeting, &m).state, ParseState::kOk);
    std::string ssl = kLogin.substr(4, 32);
    ssl[1] = static_cast<char>(ssl[1] | 0x08);
    m = {};
    ASSERT_EQ(ParseOne(p, kC2S, Pkt(1, ssl), &m).state, ParseState::kOk);
    EXPECT_TRUE(m.ignore);
    const std::string client_hello = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 random";
    m = {};
    ParseResult r = ParseOne(p, kC2S, client_hello, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    EXPECT_TRUE(m.ignore);
    EXPECT_EQ(r.consumed, client_hello.size());
    m = {};
    EXPECT_TRUE(ParseOne(p, kS2C, "\x16\x03\x03 server hello", &m).state == ParseState::kOk &&
                m.ignore);
  }
  {
    MysqlParser p(kConfig);
    L7Message m;
    ASSERT_EQ(ParseOne(p, kS2C, kGreeting, &m).state, ParseState::kOk);  // offers COMPRESS
    std::string login = kLogin;
    login[4] = static_cast<char>(login[4] | 0x20);  // CLIENT_COMPRESS
    m = {};
    ASSERT_EQ(ParseOne(p, kC2S, login, &m).state, ParseState::kOk);
    EXPECT_EQ(m.request_type, "Login");
    m = {};
    ASSERT_EQ(ParseOne(p, kS2C, kLoginOk, &m).state, ParseState::kOk);
    EXPECT_FALSE(m.ignore);  // the login's answer is still plain
    m = {};
    ASSERT_EQ(ParseOne(p, kC2S, "\x0d\x00\x00\x00\x00\x00\x00" + Query("SELECT 1"), &m).state,
              ParseState::kOk);
    EXPECT_TRUE(m.ignore);
  }
}

// ---- Real traffic (testdata/*.pcap, facts from tshark) ----

std::string CommandOf(const std::string& tshark_method) {
  static const std::map<std::string, std::string> kMap = {{"Login", "Login"},
                                                          {"Query", "COM_QUERY"},
                                                          {"Use Database", "COM_INIT_DB"},
                                                          {"Prepare Statement", "COM_STMT_PREPARE"},
                                                          {"Execute Statement", "COM_STMT_EXECUTE"},
                                                          {"Close Statement", "COM_STMT_CLOSE"},
                                                          {"Reset Statement", "COM_STMT_RESET"},
                                                          {"Ping", "COM_PING"},
                                                          {"Quit", "COM_QUIT"}};
  auto it = kMap.find(tshark_method);
  return it == kMap.end() ? "?" + tshark_method : it->second;
}

class MysqlPcapTest : public testing::TestWithParam<std::string> {};

TEST_P(MysqlPcapTest, AgreesWithTshark) {
  const l7test::Recording rec = l7test::LoadRecording("mysql", GetParam());
  ASSERT_TRUE(rec.facts.is_object());
  const uint16_t port = l7test::FactPort(rec.facts["records"][0]["server"]);
  auto conns = l7test::ReadConnections(rec.pcap, {port});
  ASSERT_FALSE(conns.empty());

  for (const auto& [key, conn] : conns) {
    const l7test::Segment& first = conn.segments[0];
    EXPECT_EQ(Infer(InferInput{first.dir, first.bytes, false, port}), InferResult::kYes) << key;
  }
  l7test::InOrderPairs pairs(
      l7test::PairsPerConnection(conns, [] { return std::make_unique<MysqlParser>(kConfig); }));
  l7test::Agreement agreement;
  for (const auto& fact : rec.facts["records"]) {
    const std::string key = l7test::ConnectionKey(fact);
    const Pair* next = pairs.Next(key);
    if (next == nullptr) {
      agreement.Add(false);
      continue;
    }
    const Pair& pr = *next;
    const std::string method = CommandOf(fact["method"]);
    bool ok = pr.request.request_type == method;
    if (!fact["resource"].is_null()) {
      const std::string want = method == "Login"
                                   ? "Login username: " + fact["resource"].get<std::string>()
                                   : fact["resource"].get<std::string>();
      ok = ok && pr.request.request_resource == want;
    }
    if (!fact["statement_id"].is_null() && pr.request.has_request_id) {
      ok = ok && pr.request.request_id == fact["statement_id"].get<uint64_t>();
    }
    if (fact["no_response_expected"].get<bool>()) {
      ok = ok && !pr.request.expects_response && !pr.response;
    } else if (!pr.response) {
      ok = false;
    } else {
      const L7Message& resp = *pr.response;
      if (fact["status"].is_null()) {
        ok = ok && resp.status == L7ResponseStatus::kOk && !resp.has_code;
      } else {
        ok = ok && resp.has_code && resp.code == fact["status"].get<int>() &&
             resp.exception == fact["error_message"].get<std::string>();
      }
      ok = ok && (resp.status != L7ResponseStatus::kOk) == fact["error"].get<bool>();
      if (resp.has_affected_rows) ok = ok && resp.affected_rows == fact["affected_rows"];
      if (!fact["statement_id"].is_null() && resp.has_request_id) {
        ok = ok && resp.request_id == fact["statement_id"].get<uint64_t>();
      }
      // Latency as DeepFlow measures it (first byte to first byte), pcap resolution 1 µs.
      const int64_t latency = static_cast<int64_t>(resp.timestamp_ns / 1000) -
                              static_cast<int64_t>(pr.request.timestamp_ns / 1000);
      ok = ok && std::llabs(latency - fact["latency_us"].get<int64_t>()) <= 1;
      if (pr.request.request_type != "Login") ok = ok && resp.version == "10";
    }
    EXPECT_TRUE(ok) << key << ": " << pr.request.request_type << " | "
                    << pr.request.request_resource << " | "
                    << (pr.response ? pr.response->exception : "(no response)");
    agreement.Add(ok);
  }
  EXPECT_EQ(pairs.size(), agreement.total());
  agreement.Finish(rec.facts, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Mysql, MysqlPcapTest, testing::Values("mysql_client", "mysql_stmt"));

}  // namespace
}  // namespace flowscope::agent::l7::mysql
