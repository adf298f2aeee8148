// Integration: a scratch clickhouse-server (the Debian package, 18.16 on bookworm) started in a
// temporary directory on free loopback ports, in the foreground, stopped at the end (SIGTERM,
// then SIGKILL; PR_SET_PDEATHSIG kills it if this binary dies). Every wait is bounded.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"
#include "server/storage/clickhouse/clickhouse_backend.h"
#include "server/storage/clickhouse/row_binary.h"

// GCC 12, inlining RowBatch::Append of a temporary Value, reports a false maybe-uninitialized
// on the variant's other members (see server/storage/tables.h AppendNulls).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace flowscope::server::storage::clickhouse {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using Strings = std::vector<std::string>;

constexpr const char* kServerBinary = "/usr/sbin/clickhouse-server";

uint16_t FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

std::string Tail(const std::string& path, size_t n = 2000) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > n ? s.substr(s.size() - n) : s;
}

class ScratchClickHouse {
 public:
  ScratchClickHouse() {
    char tmpl[] = "/tmp/fs_clickhouse_XXXXXX";
    dir_ = mkdtemp(tmpl);
    http_port_ = FreePort();
    tcp_port_ = FreePort();
    for (const char* sub : {"log", "data", "tmp", "user_files", "format_schemas"}) {
      std::filesystem::create_directories(dir_ + "/" + sub);
    }
    std::ofstream(dir_ + "/config.xml") << R"(<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>)" << dir_ << R"(/log/server.log</log>
    <errorlog>)" << dir_ << R"(/log/server.err.log</errorlog><size>10M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>)" << http_port_ << R"(</http_port>
  <tcp_port>)" << tcp_port_ << R"(</tcp_port>
  <path>)" << dir_ << R"(/data/</path>
  <tmp_path>)" << dir_ << R"(/tmp/</tmp_path>
  <user_files_path>)" << dir_ << R"(/user_files/</user_files_path>
  <format_schema_path>)" << dir_ << R"(/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <mlock_executable>false</mlock_executable>
</yandex>
)";
    std::ofstream(dir_ + "/users.xml") << R"(<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
)";
  }
  ~ScratchClickHouse() {
    Stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Starts the server and waits (at most 30 s) until it answers a query.
  bool Start(std::string* error) {
    if (access(kServerBinary, X_OK) != 0) {
      *error = std::string(kServerBinary) + " is missing: apt-get install clickhouse-server";
      return false;
    }
    const std::string log = dir_ + "/log/stdout.log";
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      chdir(dir_.c_str());
      std::string arg = "--config-file=" + dir_ + "/config.xml";
      execl(kServerBinary, "clickhouse-server", arg.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    HttpClient http("http://127.0.0.1:" + std::to_string(http_port_) + "/", "", "");
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        *error = "clickhouse-server exited at start: " + Tail(log) +
                 Tail(dir_ + "/log/server.err.log");
        return false;
      }
      auto r = http.Post({}, "SELECT 1", 1000ms);
      if (r.ok() && r->status == 200) return true;
      std::this_thread::sleep_for(50ms);
    }
    *error = "clickhouse-server did not answer within 30 s: " + Tail(log);
    Stop();
    return false;
  }

  // SIGTERM, at most 20 s for a clean stop, then SIGKILL.
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string Url(std::string_view db) const {
    return "clickhouse://127.0.0.1:" + std::to_string(http_port_) + "/" + std::string(db);
  }
  uint16_t http_port() const { return http_port_; }

 private:
  std::string dir_;
  uint16_t http_port_ = 0;
  uint16_t tcp_port_ = 0;
  pid_t pid_ = -1;
};

ScratchClickHouse* g_server = nullptr;

class ServerEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    g_server = new ScratchClickHouse();
    std::string error;
    ASSERT_TRUE(g_server->Start(&error)) << error;
  }
  void TearDown() override {
    delete g_server;
    g_server = nullptr;
  }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new ServerEnvironment);

std::unique_ptr<ClickHouseBackend> OpenOrDie(std::string_view db) {
  BackendOptions o;
  o.timeout = 10s;
  auto b = ClickHouseBackend::Open(g_server->Url(db), o);
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *std::move(b) : nullptr;
}

QueryResult QueryOrDie(Backend* b, const std::string& sql, QueryLimits limits = {}) {
  auto r = b->Query(sql, limits);
  EXPECT_TRUE(r.ok()) << sql << ": " << r.status();
  return r.ok() ? *std::move(r) : QueryResult{};
}

uint64_t Count(Backend* b, const std::string& table) {
  QueryResult r = QueryOrDie(b, "SELECT count() FROM " + table);
  if (r.rows.size() != 1) return ~uint64_t{0};
  return std::get<uint64_t>(r.rows[0][0]);
}

IpAddr Ip(const char* text) {
  IpAddr a;
  EXPECT_TRUE(IpAddr::Parse(text, &a));
  return a;
}

// What reading a stored value back gives: defaults for missing values, IPs as their 16 bytes
// (FixedString(16)), integers as the signedness of the column.
Value Expected(const Column& c, const Value& v) {
  const bool null = std::holds_alternative<std::monostate>(v);
  switch (c.type) {
    case ColumnType::kUInt8:
    case ColumnType::kUInt16:
    case ColumnType::kUInt32:
    case ColumnType::kUInt64:
    case ColumnType::kDateTime:
      if (null) return uint64_t{0};
      if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<uint64_t>(*i);
      return v;
    case ColumnType::kInt32:
    case ColumnType::kInt64:
      if (null) return int64_t{0};
      if (const auto* u = std::get_if<uint64_t>(&v)) return static_cast<int64_t>(*u);
      return v;
    case ColumnType::kFloat64: return null ? Value(0.0) : v;
    case ColumnType::kString: return null ? Value(""s) : v;
    case ColumnType::kIp: {
      IpAddr a = null ? IpAddr{} : std::get<IpAddr>(v);
      return std::string(reinterpret_cast<const char*>(a.bytes.data()), 16);
    }
    case ColumnType::kArrayString: return null ? Value(Strings{}) : v;
  }
  return v;
}

TableSchema AllTypes() {
  TableSchema s;
  s.database = "flow_log";
  s.name = "all_types";
  s.columns = {{"time", ColumnType::kDateTime},   {"id", ColumnType::kUInt64},
               {"u8", ColumnType::kUInt8},        {"u16", ColumnType::kUInt16},
               {"u32", ColumnType::kUInt32},      {"u64", ColumnType::kUInt64},
               {"i32", ColumnType::kInt32},       {"i64", ColumnType::kInt64},
               {"f", ColumnType::kFloat64},       {"s", ColumnType::kString},
               {"proto", ColumnType::kString, true}, {"ip", ColumnType::kIp},
               {"attrs", ColumnType::kArrayString}, {"end_time", ColumnType::kDateTime}};
  s.order_by = {"time", "id"};
  return s;
}

void AddRow(RowBatch* b, std::vector<Value> row) {
  b->BeginRow();
  for (auto& v : row) b->Append(std::move(v));
}

TEST(ClickHouseTest, DetectsTheServerFeatures) {
  auto b = OpenOrDie("feat");
  ASSERT_NE(b, nullptr);
  ServerFeatures f = b->features();
  std::cout << "server: " << f.Describe() << "\n";
  EXPECT_TRUE(f.low_cardinality);
  EXPECT_TRUE(f.timezone == "UTC" || f.timezone == "Etc/UTC") << f.timezone;
  if (f.major == 18) {  // Debian bookworm's 18.16
    EXPECT_FALSE(f.ttl);
    EXPECT_FALSE(f.codecs);
    EXPECT_FALSE(f.datetime64);
    EXPECT_TRUE(f.low_cardinality_setting);
  }
  EXPECT_EQ(b->kind(), "clickhouse");
}

TEST(ClickHouseTest, EveryValueRoundTrips) {
  auto b = OpenOrDie("rt");
  ASSERT_NE(b, nullptr);
  TableSchema s = AllTypes();
  ASSERT_TRUE(b->EnsureTable(s).ok());
  ASSERT_TRUE(b->EnsureTable(s).ok());  // idempotent

  RowBatch batch(&s);
  const uint32_t t0 = 1700000000;
  AddRow(&batch, {uint64_t{t0}, uint64_t{0}, uint64_t{255}, uint64_t{65535},
                  uint64_t{4294967295u}, std::numeric_limits<uint64_t>::max(),
                  int64_t{std::numeric_limits<int32_t>::min()},
                  std::numeric_limits<int64_t>::min(), -1.5e300,
                  "it's a \"quote\"\t\\back\nslash\r\0end"s, "HTTP"s, Ip("10.0.0.1"),
                  Strings{"a'b", "", "ü,[x]", "tab\there", "back\\slash", "new\nline"},
                  uint64_t{t0 + 1}});
  AddRow(&batch, {uint64_t{t0}, uint64_t{1}, uint64_t{0}, uint64_t{0}, uint64_t{0}, uint64_t{0},
                  int64_t{std::numeric_limits<int32_t>::max()},
                  std::numeric_limits<int64_t>::max(), 0.1,
                  "日本語 ✓ Ünïcödé \x01\x7f"s, ""s, Ip("2001:db8::ff"), Strings{},
                  // 18.16 prints DateTime only up to 2105 (its date table ends there).
                  uint64_t{4102444800u}});
  AddRow(&batch, {uint64_t{t0 + 86400}, uint64_t{2}, Value{}, Value{}, Value{}, Value{}, Value{},
                  Value{}, Value{}, Value{}, Value{}, Value{}, Value{}, Value{}});
  AddRow(&batch, {uint64_t{t0}, uint64_t{3}, int64_t{7}, uint64_t{8}, uint64_t{9}, uint64_t{10},
                  uint64_t{11}, uint64_t{12}, std::numeric_limits<double>::infinity(),
                  std::string(300, 'x'), "grpc"s, Ip("::ffff:1.2.3.4"), Strings{std::string(200, 'y')},
                  uint64_t{0}});
  auto st = b->Insert(batch);
  ASSERT_TRUE(st.ok()) << st;

  const std::string table = b->Names(s).Qualified();
  EXPECT_EQ(table, "`rt_flow_log`.`all_types`");
  QueryResult r = QueryOrDie(b.get(), "SELECT * FROM " + table + " ORDER BY id");
  ASSERT_EQ(r.columns.size(), s.columns.size());
  EXPECT_EQ(r.types[10], "LowCardinality(String)");
  EXPECT_EQ(r.types[11], "FixedString(16)");
  ASSERT_EQ(r.rows.size(), batch.size());
  for (size_t i = 0; i < r.rows.size(); ++i) {
    for (size_t c = 0; c < s.columns.size(); ++c) {
      EXPECT_EQ(r.rows[i][c], Expected(s.columns[c], batch.rows()[i][c]))
          << "row " << i << " column " << s.columns[c].name;
    }
  }
  // A bigger batch goes gzip-compressed.
  RowBatch big(&s);
  for (uint64_t id = 100; id < 2100; ++id) {
    AddRow(&big, {uint64_t{t0}, id, uint64_t{1}, uint64_t{2}, uint64_t{3}, id, int64_t{-5},
                  int64_t{-6}, 1.25, "GET /api/v1/items/" + std::to_string(id), "HTTP"s,
                  Ip("192.168.1.20"), Strings{"k", "v"}, uint64_t{t0}});
  }
  const uint64_t sent_before = b->Stats().bytes_sent;
  ASSERT_TRUE(b->Insert(big).ok());
  const uint64_t sent = b->Stats().bytes_sent - sent_before;
  std::string raw;
  ASSERT_TRUE(AppendRowBinary(big, &raw).ok());
  std::cout << "2000 rows: " << raw.size() << " bytes RowBinary, " << sent << " bytes sent\n";
  EXPECT_LT(sent, raw.size() / 3);
  EXPECT_EQ(Count(b.get(), table), 2004u);
  QueryResult sum = QueryOrDie(b.get(), "SELECT sum(u64), groupArray(s)[1] FROM " + table +
                                            " WHERE id >= 100 AND id < 2100");
  ASSERT_EQ(sum.rows.size(), 1u);
  EXPECT_EQ(sum.rows[0][0], Value{uint64_t{(100 + 2099) * 2000 / 2}});
  BackendStats stats = b->Stats();
  EXPECT_EQ(stats.batches, 2u);
  EXPECT_EQ(stats.rows, 2004u);
  EXPECT_EQ(stats.insert_errors, 0u);
}

TEST(ClickHouseTest, BadBatchesInsertNothing) {
  auto b = OpenOrDie("bad");
  ASSERT_NE(b, nullptr);
  TableSchema s;
  s.database = "flow_log";
  s.name = "t";
  s.columns = {{"time", ColumnType::kDateTime}, {"v", ColumnType::kUInt8}};
  ASSERT_TRUE(b->EnsureTable(s).ok());
  const std::string table = b->Names(s).Qualified();

  // Refused before sending: a value out of range.
  RowBatch batch(&s);
  AddRow(&batch, {uint64_t{1700000000}, uint64_t{1}});
  AddRow(&batch, {uint64_t{1700000000}, uint64_t{256}});
  auto st = b->Insert(batch);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  // Refused by the server: a schema that disagrees with the stored table (String bytes where
  // the server reads UInt8 then DateTime) — the message is ClickHouse's.
  TableSchema wrong = s;
  wrong.columns = {{"time", ColumnType::kDateTime}, {"v", ColumnType::kString}};
  RowBatch w(&wrong);
  // 101 rows of 31 bytes: not a whole number of 5-byte (UInt8, DateTime) rows.
  for (int i = 0; i < 101; ++i) AddRow(&w, {uint64_t{1700000000}, "abcdefghijklmnopqrstuvwxyz"s});
  st = b->Insert(w);
  ASSERT_FALSE(st.ok());
  std::cout << "server refusal: " << st << "\n";
  EXPECT_NE(std::string(st.message()).find("insert into flow_log.t"), std::string::npos) << st;
  EXPECT_NE(std::string(st.message()).find("Code: "), std::string::npos) << st;
  EXPECT_EQ(Count(b.get(), table), 0u);
  EXPECT_EQ(b->Stats().insert_errors, 2u);
  EXPECT_EQ(b->Stats().batches, 0u);
}

TEST(ClickHouseTest, EnsureTableAddsNewColumns) {
  auto b = OpenOrDie("alter");
  ASSERT_NE(b, nullptr);
  TableSchema v1;
  v1.database = "flow_log";
  v1.name = "grows";
  v1.columns = {{"time", ColumnType::kDateTime}, {"id", ColumnType::kUInt32}};
  v1.order_by = {"time"};
  ASSERT_TRUE(b->EnsureTable(v1).ok());
  RowBatch r1(&v1);
  AddRow(&r1, {uint64_t{1700000000}, uint64_t{1}});
  ASSERT_TRUE(b->Insert(r1).ok());

  TableSchema v2 = v1;
  v2.columns.push_back({"proto", ColumnType::kString, true});
  v2.columns.push_back({"names", ColumnType::kArrayString});
  v2.columns.push_back({"peer", ColumnType::kIp});
  auto st = b->EnsureTable(v2);
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_TRUE(b->EnsureTable(v2).ok());
  RowBatch r2(&v2);
  AddRow(&r2, {uint64_t{1700000001}, uint64_t{2}, "DNS"s, Strings{"a"}, Ip("1.1.1.1")});
  ASSERT_TRUE(b->Insert(r2).ok());
  const std::string table = b->Names(v2).Qualified();
  QueryResult d = QueryOrDie(b.get(), "DESCRIBE TABLE " + table);
  ASSERT_EQ(d.rows.size(), 5u);
  EXPECT_EQ(d.rows[2][0], Value{"proto"s});
  EXPECT_EQ(d.rows[2][1], Value{"LowCardinality(String)"s});
  QueryResult r = QueryOrDie(b.get(), "SELECT id, proto, names FROM " + table + " ORDER BY id");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0][1], Value{""s});
  EXPECT_EQ(r.rows[0][2], Value{Strings{}});
  EXPECT_EQ(r.rows[1][1], Value{"DNS"s});
}

TEST(ClickHouseTest, DictionaryKeepsTheLastRowOfAKey) {
  auto b = OpenOrDie("dict");
  ASSERT_NE(b, nullptr);
  TableSchema s;
  s.database = "flow_tag";
  s.name = "process_map";
  s.columns = {{"id", ColumnType::kUInt64}, {"name", ColumnType::kString}};
  s.order_by = {"id"};
  s.engine = TableEngine::kDictionary;
  s.retention = 0s;
  ASSERT_TRUE(b->EnsureTable(s).ok());
  RowBatch a(&s);
  AddRow(&a, {uint64_t{1}, "nginx"s});
  AddRow(&a, {uint64_t{2}, "redis"s});
  ASSERT_TRUE(b->Insert(a).ok());
  RowBatch c(&s);
  AddRow(&c, {uint64_t{1}, "nginx: worker"s});
  ASSERT_TRUE(b->Insert(c).ok());
  QueryResult r = QueryOrDie(
      b.get(), "SELECT id, name FROM " + b->Names(s).Qualified() + " FINAL ORDER BY id");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0][1], Value{"nginx: worker"s});
  EXPECT_EQ(r.rows[1][1], Value{"redis"s});
  EXPECT_TRUE(b->DropBefore(s, 4000000000u).ok());  // dictionaries have no time partitions
  EXPECT_EQ(b->Stats().retention_drops, 0u);
}

TEST(ClickHouseTest, DropBeforeRemovesExactlyTheDaysThatEndedBeforeTheCutoff) {
  auto b = OpenOrDie("ret");
  ASSERT_NE(b, nullptr);
  TableSchema s;
  s.database = "flow_log";
  s.name = "l7_flow_log";
  s.columns = {{"time", ColumnType::kDateTime}, {"n", ColumnType::kUInt32}};
  s.order_by = {"time"};
  ASSERT_TRUE(b->EnsureTable(s).ok());
  const uint32_t day10 = 1699574400;  // 2023-11-10 00:00:00 UTC
  RowBatch batch(&s);
  for (uint32_t d = 0; d < 4; ++d) {
    AddRow(&batch, {uint64_t{day10 + d * 86400}, uint64_t{d}});              // first second
    AddRow(&batch, {uint64_t{day10 + d * 86400 + 86399}, uint64_t{d}});      // last second
  }
  ASSERT_TRUE(b->Insert(batch).ok());
  const std::string table = b->Names(s).Qualified();
  // Cut-off 2023-11-12 12:00: the 10th and 11th ended before it; the 12th did not.
  ASSERT_TRUE(b->DropBefore(s, day10 + 2 * 86400 + 43200).ok());
  QueryResult r = QueryOrDie(b.get(), "SELECT toYYYYMMDD(time) AS d, count() FROM " + table +
                                          " GROUP BY d ORDER BY d");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0][0], Value{uint64_t{20231112}});
  EXPECT_EQ(r.rows[0][1], Value{uint64_t{2}});
  EXPECT_EQ(r.rows[1][0], Value{uint64_t{20231113}});
  EXPECT_EQ(b->Stats().retention_drops, 2u);
  // The exact end of the 12th drops it; nothing else changes.
  ASSERT_TRUE(b->DropBefore(s, day10 + 3 * 86400).ok());
  EXPECT_EQ(Count(b.get(), table), 2u);
  EXPECT_EQ(b->Stats().retention_drops, 3u);
  ASSERT_TRUE(b->DropBefore(s, day10 + 3 * 86400).ok());
  EXPECT_EQ(b->Stats().retention_drops, 3u);
}

TEST(ClickHouseTest, QueriesAreReadOnlyAndLimited) {
  auto b = OpenOrDie("ro");
  ASSERT_NE(b, nullptr);
  TableSchema s;
  s.database = "flow_log";
  s.name = "t";
  s.columns = {{"time", ColumnType::kDateTime}, {"v", ColumnType::kUInt8}};
  ASSERT_TRUE(b->EnsureTable(s).ok());
  RowBatch batch(&s);
  AddRow(&batch, {uint64_t{1700000000}, uint64_t{1}});
  ASSERT_TRUE(b->Insert(batch).ok());
  const std::string table = b->Names(s).Qualified();

  for (const std::string& sql : Strings{"INSERT INTO " + table + " VALUES (1700000000, 2)", "DROP TABLE " + table,
        "ALTER TABLE " + table + " DELETE WHERE 1", "TRUNCATE TABLE " + table,
        "SELECT 1; DROP TABLE " + table, "CREATE DATABASE x"}) {
    auto r = b->Query(sql, {});
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << sql << ": " << r.status();
  }
  // Passes the client check, refused by the server (readonly=1 forbids changing settings).
  auto r = b->Query("SELECT v FROM " + table + " SETTINGS readonly = 0", {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_NE(std::string(r.status().message()).find("readonly"), std::string::npos) << r.status();
  EXPECT_EQ(Count(b.get(), table), 1u);

  QueryLimits ten;
  ten.max_rows = 10;
  QueryResult cut = QueryOrDie(b.get(), "SELECT number FROM system.numbers LIMIT 100000", ten);
  EXPECT_EQ(cut.rows.size(), 10u);
  EXPECT_TRUE(cut.truncated);
  EXPECT_EQ(cut.rows[9][0], Value{uint64_t{9}});
  QueryResult whole = QueryOrDie(b.get(), "SELECT number FROM system.numbers LIMIT 10", ten);
  EXPECT_EQ(whole.rows.size(), 10u);
  EXPECT_FALSE(whole.truncated);
  QueryResult show = QueryOrDie(b.get(), "SHOW TABLES FROM ro_flow_log -- comment");
  EXPECT_EQ(show.columns, Strings{"name"});
  ASSERT_EQ(show.rows.size(), 1u);
  EXPECT_EQ(show.rows[0][0], Value{"t"s});

  QueryLimits quick;
  quick.timeout = 1s;
  const auto start = std::chrono::steady_clock::now();
  r = b->Query("SELECT count() FROM system.numbers WHERE number < 100000000000", quick);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_NE(std::string(r.status().message()).find("Timeout exceeded"), std::string::npos)
      << r.status();
  EXPECT_LT(took, 5s);
  auto syntax = b->Query("SELECT FROM WHERE", {});
  EXPECT_EQ(syntax.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(syntax.status().message()).find("Syntax error"), std::string::npos)
      << syntax.status();
}

// Last: stops and restarts the shared server.
TEST(ClickHouseTest, StoppedServerIsAClearErrorAndTheBackendRecovers) {
  auto b = OpenOrDie("restart");
  ASSERT_NE(b, nullptr);
  TableSchema s;
  s.database = "flow_log";
  s.name = "t";
  s.columns = {{"time", ColumnType::kDateTime}, {"v", ColumnType::kUInt32}};
  ASSERT_TRUE(b->EnsureTable(s).ok());
  RowBatch batch(&s);
  AddRow(&batch, {uint64_t{1700000000}, uint64_t{1}});
  ASSERT_TRUE(b->Insert(batch).ok());

  g_server->Stop();
  const std::string where = "127.0.0.1:" + std::to_string(g_server->http_port());
  auto st = b->Insert(batch);
  std::cout << "server down: " << st << "\n";
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_NE(std::string(st.message()).find(where), std::string::npos) << st;
  EXPECT_NE(std::string(st.message()).find("connect"), std::string::npos) << st;
  auto q = b->Query("SELECT 1", {});
  EXPECT_EQ(q.status().code(), absl::StatusCode::kUnavailable) << q.status();
  BackendOptions o;
  o.timeout = 2s;
  auto down = ClickHouseBackend::Open(g_server->Url("restart"), o);
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();

  std::string error;
  ASSERT_TRUE(g_server->Start(&error)) << error;
  st = b->Insert(batch);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(Count(b.get(), b->Names(s).Qualified()), 2u);
  EXPECT_EQ(b->Stats().insert_errors, 1u);
}

TEST(ClickHouseTest, OpenRefusesBadOptions) {
  BackendOptions o;
  o.cluster = "bad name";
  auto b = ClickHouseBackend::Open(g_server->Url("x"), o);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  auto u = OpenClickHouse("clickhouse://127.0.0.1:notaport/x", {});
  EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace flowscope::server::storage::clickhouse
