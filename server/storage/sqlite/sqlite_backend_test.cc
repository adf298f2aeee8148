#include "server/storage/sqlite/sqlite_backend.h"

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/tables.h"

namespace flowscope::server::storage::sqlite {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

IpAddr Ip(std::string_view text) {
  IpAddr a;
  EXPECT_TRUE(IpAddr::Parse(text, &a)) << text;
  return a;
}

class SqliteBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/fs_sqlite_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    tables_ = StandardTables();
    Reopen();
  }
  void TearDown() override {
    backend_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void Reopen(int delete_chunk_rows = 10000) {
    backend_.reset();
    SqliteOptions o;
    o.data_dir = dir_;
    o.delete_chunk_rows = delete_chunk_rows;
    auto b = SqliteBackend::Open(o);
    ASSERT_TRUE(b.ok()) << b.status();
    backend_ = std::move(*b);
  }
  const TableSchema& Table(std::string_view name) {
    const TableSchema* s = FindTable(tables_, name);
    EXPECT_NE(s, nullptr) << name;
    return *s;
  }
  QueryResult MustQuery(std::string_view sql, QueryLimits limits = {}) {
    auto r = backend_->Query(sql, limits);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status();
    return r.ok() ? *std::move(r) : QueryResult{};
  }
  uint64_t Count(std::string_view table_sql) {
    QueryResult r = MustQuery(std::string("SELECT count(*) FROM ") + std::string(table_sql));
    if (r.rows.size() != 1) return ~0ull;
    return static_cast<uint64_t>(std::get<int64_t>(r.rows[0][0]));
  }
  // Inserts `records` into `table` and reads every column of every row back.
  template <typename Record>
  void RoundTrip(std::string_view table, const std::vector<Record>& records) {
    const TableSchema& s = Table(table);
    ASSERT_TRUE(backend_->EnsureTable(s).ok());
    RowBatch batch(&s);
    for (const Record& r : records) AppendRecord(&batch, r);
    ASSERT_TRUE(backend_->Insert(batch).ok());
    std::string sql = "SELECT * FROM " + s.database + ".\"" + s.name + "\" ORDER BY rowid";
    QueryResult got = MustQuery(sql);
    ASSERT_EQ(got.columns.size(), s.columns.size()) << table;
    for (size_t i = 0; i < s.columns.size(); ++i) {
      EXPECT_EQ(got.columns[i], s.columns[i].name);
      if (s.columns[i].type != ColumnType::kArrayString) {
        EXPECT_EQ(got.types[i], ColumnTypeName(s.columns[i].type)) << s.columns[i].name;
      }
    }
    ASSERT_EQ(got.rows.size(), records.size()) << table;
    for (size_t r = 0; r < records.size(); ++r) {
      for (size_t c = 0; c < s.columns.size(); ++c) {
        EXPECT_EQ(got.rows[r][c], batch.rows()[r][c])
            << table << " row " << r << " column " << s.columns[c].name;
      }
    }
  }

  std::string dir_;
  std::vector<TableSchema> tables_;
  std::unique_ptr<SqliteBackend> backend_;
};

std::vector<L7FlowLog> SampleL7() {
  L7FlowLog a;
  a.time = 1700000000;
  a.flow_id = std::numeric_limits<uint64_t>::max();  // above INT64_MAX
  a.start_time = 1700000000000000ull;
  a.end_time = a.start_time + 1234;
  a.ip_0 = Ip("10.1.2.3");
  a.ip_1 = Ip("192.168.0.200");
  a.client_port = 54321;
  a.server_port = 80;
  a.protocol = kIpProtoTcp;
  a.l7_protocol = L7Protocol::kHttp1;
  a.version = "1.1";
  a.request_type = "GET";
  a.request_domain = "example.com";
  a.request_resource = "/it's \"quoted\"?q=1;DROP TABLE x";
  a.endpoint = std::string("nul\0inside", 10);
  a.has_response_code = true;
  a.response_code = -7;
  a.response_status = L7ResponseStatus::kClientError;
  a.request_length = -1;
  a.response_length = 4096;
  a.is_tls = true;
  a.trace_id = "日本語 ü 🚀";
  a.syscall_trace_id_request = (1ull << 63) + 5;
  a.attributes = {{"k\"1", "v\n1"}, {"ключ", std::string("a\0b", 3)}, {"", "\\"}};

  L7FlowLog b;
  b.time = 1700000001;
  b.flow_id = 42;
  b.ip_0 = Ip("2001:db8::1");
  b.ip_1 = Ip("fe80::abcd:1");
  b.l7_protocol = L7Protocol::kMysql;
  b.has_request_id = true;
  b.request_id = 9;
  b.has_sql_affected_rows = true;
  b.sql_affected_rows = 3;
  b.request_resource = "SELECT * FROM t WHERE a = 'x'";
  return {a, b};
}

TEST_F(SqliteBackendTest, CreatesAllStandardTablesInWalFiles) {
  for (const TableSchema& s : tables_) ASSERT_TRUE(backend_->EnsureTable(s).ok()) << s.FullName();
  for (const TableSchema& s : tables_) ASSERT_TRUE(backend_->EnsureTable(s).ok()) << "again";
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/flow_log.db"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/flow_metrics.db"));
  QueryResult r =
      MustQuery("SELECT name FROM flow_metrics.sqlite_master WHERE type = 'table' ORDER BY name");
  std::vector<std::string> names;
  for (const auto& row : r.rows) names.push_back(std::get<std::string>(row[0]));
  EXPECT_THAT(names,
              ::testing::ElementsAre("application.1m", "application.1s", "application_map.1m",
                                     "application_map.1s", "network.1m", "network.1s",
                                     "network_map.1m", "network_map.1s"));
  r = MustQuery("SELECT name FROM flow_log.sqlite_master WHERE type = 'index' ORDER BY name");
  std::vector<std::string> indexes;
  for (const auto& row : r.rows) indexes.push_back(std::get<std::string>(row[0]));
  EXPECT_THAT(indexes, ::testing::ElementsAre("l4_flow_log_order_by", "l7_flow_log_order_by"));
  // WAL mode: the writer keeps a -wal file beside each database.
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/flow_log.db-wal"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/flow_metrics.db-wal"));
  // The order_by index serves time-range queries.
  r = MustQuery("EXPLAIN QUERY PLAN SELECT count(*) FROM flow_log.l7_flow_log WHERE time > 5");
  ASSERT_FALSE(r.rows.empty());
  EXPECT_THAT(std::get<std::string>(r.rows[0].back()), HasSubstr("l7_flow_log_order_by"));
}

TEST_F(SqliteBackendTest, L7RowsRoundTrip) { RoundTrip(kL7FlowLog, SampleL7()); }

TEST_F(SqliteBackendTest, L4RowsRoundTrip) {
  L4FlowLog a;
  a.time = 1700000100;
  a.flow_id = 7;
  a.ip_0 = Ip("10.0.0.1");
  a.ip_1 = Ip("10.0.0.2");
  a.tunnel_ip_0 = Ip("172.16.0.1");
  a.capture_nic = "eth0";
  a.mac_0[5] = 0xab;
  a.is_new_flow = true;
  a.rtt = 123.456;
  a.rtt_client = 1e-3;
  a.byte_tx = std::numeric_limits<uint64_t>::max() - 1;
  a.close_type = CloseType::kTcpServerRst;
  L4FlowLog b = a;
  b.ip_0 = Ip("::1");
  b.ip_1 = Ip("2001:db8:0:0:1::2");
  b.capture_nic = "wlan0 \"x\"";
  b.rtt = 0;
  RoundTrip(kL4FlowLog, std::vector<L4FlowLog>{a, b});
}

TEST_F(SqliteBackendTest, MetricsRowsRoundTrip) {
  NetworkRow n;
  n.time = 60;
  n.ip = Ip("10.9.8.7");
  n.server_port = 6379;
  n.meter.byte_tx = 100;
  n.meter.rtt.Add(250);
  RoundTrip(kNetwork1s, std::vector<NetworkRow>{n});
  RoundTrip(kNetwork1m, std::vector<NetworkRow>{n});
  NetworkMapRow m;
  m.ip_0 = Ip("::2");
  m.ip_1 = Ip("10.0.0.3");
  RoundTrip(kNetworkMap1s, std::vector<NetworkMapRow>{m});
  RoundTrip(kNetworkMap1m, std::vector<NetworkMapRow>{m});
  ApplicationRow a;
  a.endpoint = "GET /api/v1/ü";
  a.l7_protocol = L7Protocol::kHttp2;
  L7FlowLog l;
  l.response_duration = 1500;
  l.response_status = L7ResponseStatus::kOk;
  a.meter.Add(l);
  RoundTrip(kApplication1s, std::vector<ApplicationRow>{a});
  RoundTrip(kApplication1m, std::vector<ApplicationRow>{a});
  ApplicationMapRow am;
  am.process_kname_1 = "redis-server";
  RoundTrip(kApplicationMap1s, std::vector<ApplicationMapRow>{am});
  RoundTrip(kApplicationMap1m, std::vector<ApplicationMapRow>{am});
}

TEST_F(SqliteBackendTest, ArraysAreJsonTextUsableFromSql) {
  RoundTrip(kL7FlowLog, SampleL7());
  QueryResult r = MustQuery(
      "SELECT j.value FROM flow_log.l7_flow_log, json_each(attribute_names) AS j "
      "WHERE flow_id = -1 ORDER BY j.key");
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0][0], Value(std::string("k\"1")));
  EXPECT_EQ(r.rows[1][0], Value(std::string("ключ")));
  // Raw text, as stored.
  r = MustQuery(
      "SELECT CAST(attribute_names AS TEXT) AS t FROM flow_log.l7_flow_log "
      "WHERE flow_id = 42");
  EXPECT_EQ(r.rows.at(0)[0], Value(std::string("[]")));
}

TEST_F(SqliteBackendTest, FailingBatchInsertsNothing) {
  const TableSchema& s = Table(kL7FlowLog);
  ASSERT_TRUE(backend_->EnsureTable(s).ok());
  const std::vector<L7FlowLog> rows = SampleL7();

  RowBatch short_row(&s);
  for (const auto& r : rows) AppendRecord(&short_row, r);
  short_row.BeginRow();
  short_row.Append(Value(uint64_t{1}));
  absl::Status st = backend_->Insert(short_row);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("row 2 has 1 cells"));

  // The last row's bad cell is found while binding, after the first rows were written inside
  // the transaction: they are rolled back.
  RowBatch bad_type(&s);
  for (const auto& r : rows) AppendRecord(&bad_type, r);
  AppendRecord(&bad_type, rows[0]);
  const_cast<std::vector<std::vector<Value>>&>(bad_type.rows())[2][s.ColumnIndex("ip_0")] =
      Value(std::string("10.0.0.1"));
  st = backend_->Insert(bad_type);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("row 2 column ip_0 (Ip) got a string"));
  EXPECT_EQ(Count("flow_log.l7_flow_log"), 0u);

  RowBatch unknown(&Table(kL4FlowLog));
  AppendRecord(&unknown, L4FlowLog{});
  EXPECT_EQ(backend_->Insert(unknown).code(), absl::StatusCode::kFailedPrecondition);

  RowBatch good(&s);
  for (const auto& r : rows) AppendRecord(&good, r);
  ASSERT_TRUE(backend_->Insert(good).ok());
  EXPECT_EQ(Count("flow_log.l7_flow_log"), 2u);
  const BackendStats stats = backend_->Stats();
  EXPECT_EQ(stats.insert_errors, 3u);
  EXPECT_EQ(stats.batches, 1u);
  EXPECT_EQ(stats.rows, 2u);
}

TEST_F(SqliteBackendTest, RetentionDeletesExactlyTheOldRowsInChunks) {
  Reopen(/*delete_chunk_rows=*/7);
  const TableSchema& s = Table(kNetwork1s);
  ASSERT_TRUE(backend_->EnsureTable(s).ok());
  RowBatch b(&s);
  for (uint32_t t = 100; t < 200; ++t) {
    NetworkRow n;
    n.time = t;
    AppendRecord(&b, n);
  }
  ASSERT_TRUE(backend_->Insert(b).ok());
  ASSERT_TRUE(backend_->DropBefore(s, 150).ok());
  QueryResult r =
      MustQuery("SELECT count(*), min(time), max(time) FROM flow_metrics.\"network.1s\"");
  EXPECT_EQ(r.rows.at(0)[0], Value(int64_t{50}));
  EXPECT_EQ(r.rows.at(0)[1], Value(int64_t{150}));
  EXPECT_EQ(r.rows.at(0)[2], Value(int64_t{199}));
  EXPECT_EQ(backend_->rows_deleted(), 50u);
  EXPECT_EQ(backend_->Stats().retention_drops, 8u);  // 7 chunks of 7, then 1
  ASSERT_TRUE(backend_->DropBefore(s, 150).ok());
  EXPECT_EQ(backend_->rows_deleted(), 50u);
  EXPECT_EQ(Count("flow_metrics.\"network.1s\""), 50u);
  EXPECT_EQ(backend_->DropBefore(Table(kL4FlowLog), 1).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SqliteBackendTest, QueryRefusesAnythingButOneRead) {
  RoundTrip(kL7FlowLog, SampleL7());
  struct Case {
    const char* sql;
    const char* message;
  };
  const Case cases[] = {
      {"INSERT INTO flow_log.l7_flow_log (time) VALUES (1)", "INSERT is not allowed"},
      {"DELETE FROM flow_log.l7_flow_log", "DELETE is not allowed"},
      {"UPDATE flow_log.l7_flow_log SET time = 0", "UPDATE is not allowed"},
      {"DROP TABLE flow_log.l7_flow_log", "DROP is not allowed"},
      {"CREATE TABLE flow_log.x (a)", "CREATE is not allowed"},
      {"CREATE TEMP TABLE x AS SELECT 1", "CREATE is not allowed"},
      {"ALTER TABLE flow_log.l7_flow_log ADD COLUMN z", "ALTER TABLE is not allowed"},
      {"ATTACH DATABASE '/tmp/evil.db' AS evil", "ATTACH is not allowed"},
      {"DETACH DATABASE flow_log", "DETACH is not allowed"},
      {"PRAGMA flow_log.user_version = 5", "PRAGMA user_version with a value is not allowed"},
      {"PRAGMA flow_log.journal_mode = DELETE", "PRAGMA journal_mode with a value"},
      {"PRAGMA flow_log.journal_mode", "PRAGMA journal_mode is not allowed"},
      {"PRAGMA writable_schema = 1", "PRAGMA writable_schema"},
      {"BEGIN", "transaction statement is not allowed"},
      {"VACUUM", "only read-only statements"},
      {"SELECT 1; SELECT 2", "only one statement"},
      {"SELECT 1; DROP TABLE flow_log.l7_flow_log", "only one statement"},
      {"SELECT 1 garbage garbage", "query: "},
      {"   ", "empty statement"},
      {"SELECT nope FROM flow_log.l7_flow_log", "no such column: nope"},
  };
  for (const Case& c : cases) {
    auto r = backend_->Query(c.sql, {});
    ASSERT_FALSE(r.ok()) << c.sql;
    EXPECT_THAT(std::string(r.status().message()), StartsWith("query: ")) << c.sql;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.message)) << c.sql;
  }
  EXPECT_FALSE(std::filesystem::exists("/tmp/evil.db"));
  // Reads with trailing blanks, semicolons and comments are fine; so are reporting PRAGMAs.
  EXPECT_EQ(MustQuery("SELECT 1;  -- done\n").rows.size(), 1u);
  EXPECT_EQ(MustQuery("WITH x AS (SELECT 2) SELECT * FROM x; ;").rows.size(), 1u);
  EXPECT_EQ(MustQuery("PRAGMA flow_log.table_info(l7_flow_log)").rows.size(),
            Table(kL7FlowLog).columns.size());
  EXPECT_EQ(Count("flow_log.l7_flow_log"), 2u);
}

TEST_F(SqliteBackendTest, SlowQueryIsInterruptedByTheTimeLimit) {
  QueryLimits limits;
  limits.timeout = std::chrono::milliseconds(100);
  const auto start = std::chrono::steady_clock::now();
  auto r = backend_->Query(
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
      limits);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("time limit of 100 ms exceeded"));
  EXPECT_LT(took, std::chrono::seconds(2));
  // The connection serves the next query.
  EXPECT_EQ(MustQuery("SELECT 1").rows.size(), 1u);
}

TEST_F(SqliteBackendTest, RowLimitTruncates) {
  QueryLimits limits;
  limits.max_rows = 3;
  const char* sql =
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10) "
      "SELECT x FROM c";
  QueryResult r = MustQuery(sql, limits);
  EXPECT_EQ(r.rows.size(), 3u);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.types, std::vector<std::string>{"INTEGER"});
  limits.max_rows = 10;
  r = MustQuery(sql, limits);
  EXPECT_EQ(r.rows.size(), 10u);
  EXPECT_FALSE(r.truncated);
}

TEST_F(SqliteBackendTest, DataSurvivesReopen) {
  RoundTrip(kL7FlowLog, SampleL7());
  Reopen();
  // Readable before any EnsureTable: the files in the directory are attached at Open.
  EXPECT_EQ(Count("flow_log.l7_flow_log"), 2u);
  QueryResult r = MustQuery("SELECT ip_0 FROM flow_log.l7_flow_log ORDER BY time");
  EXPECT_EQ(r.rows.at(1)[0], Value(Ip("2001:db8::1")));
  const TableSchema& s = Table(kL7FlowLog);
  RowBatch b(&s);
  AppendRecord(&b, SampleL7()[0]);
  ASSERT_TRUE(backend_->EnsureTable(s).ok());
  ASSERT_TRUE(backend_->Insert(b).ok());
  EXPECT_EQ(Count("flow_log.l7_flow_log"), 3u);
}

TEST_F(SqliteBackendTest, SchemaEvolutionAddsColumns) {
  TableSchema v1 =
      SchemaOf<NetworkRow>("flow_metrics", "network.1s", {"time", "ip"}, std::chrono::hours(24));
  ASSERT_TRUE(backend_->EnsureTable(v1).ok());
  RowBatch b1(&v1);
  NetworkRow n;
  n.time = 10;
  AppendRecord(&b1, n);
  ASSERT_TRUE(backend_->Insert(b1).ok());

  TableSchema v2 = v1;
  v2.columns.push_back(Column{"pod_id_0", ColumnType::kUInt32});
  v2.columns.push_back(Column{"team", ColumnType::kString, true});
  Reopen();
  ASSERT_TRUE(backend_->EnsureTable(v2).ok());
  RowBatch b2(&v2);
  n.time = 11;
  AppendRecord(&b2, n);
  auto& row = const_cast<std::vector<std::vector<Value>>&>(b2.rows())[0];
  row[v2.ColumnIndex("pod_id_0")] = Value(uint64_t{77});
  row[v2.ColumnIndex("team")] = Value(std::string("payments"));
  ASSERT_TRUE(backend_->Insert(b2).ok());
  QueryResult r =
      MustQuery("SELECT time, pod_id_0, team FROM flow_metrics.\"network.1s\" ORDER BY time");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.types, (std::vector<std::string>{"DateTime", "UInt32", "String"}));
  EXPECT_EQ(r.rows[0], (std::vector<Value>{Value(uint64_t{10}), Value(), Value()}));
  EXPECT_EQ(r.rows[1], (std::vector<Value>{Value(uint64_t{11}), Value(uint64_t{77}),
                                           Value(std::string("payments"))}));
  // A batch of the older schema is refused with a clear message, not half-written.
  absl::Status st = backend_->Insert(b1);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(st.message()), HasSubstr("differs from the one given to EnsureTable"));
}

TEST_F(SqliteBackendTest, DictionaryRowsReplaceByKey) {
  TableSchema d;
  d.database = "flow_tag";
  d.name = "process_map";
  d.columns = {
      {"time", ColumnType::kDateTime}, {"id", ColumnType::kUInt64}, {"name", ColumnType::kString}};
  d.order_by = {"id"};
  d.engine = TableEngine::kDictionary;
  d.retention = std::chrono::seconds(0);
  ASSERT_TRUE(backend_->EnsureTable(d).ok());
  for (const char* name : {"nginx", "nginx-worker"}) {
    RowBatch b(&d);
    b.BeginRow();
    b.Append(Value(uint64_t{1}));
    b.Append(Value(uint64_t{5}));
    b.Append(Value(std::string(name)));
    ASSERT_TRUE(backend_->Insert(b).ok());
  }
  QueryResult r = MustQuery("SELECT id, name FROM flow_tag.process_map");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][1], Value(std::string("nginx-worker")));
}

TEST_F(SqliteBackendTest, ReadersSeeWholeBatchesWhileTheWriterInserts) {
  const TableSchema& s = Table(kNetwork1s);
  ASSERT_TRUE(backend_->EnsureTable(s).ok());
  constexpr int kBatches = 40, kRows = 500;
  std::atomic<bool> done{false};
  std::atomic<int> bad{0}, reads{0};
  std::thread reader([&] {
    while (!done.load()) {
      auto r = backend_->Query("SELECT count(*) FROM flow_metrics.\"network.1s\"", {});
      if (!r.ok() || std::get<int64_t>(r->rows[0][0]) % kRows != 0) bad.fetch_add(1);
      reads.fetch_add(1);
    }
  });
  for (int i = 0; i < kBatches; ++i) {
    RowBatch b(&s);
    for (int j = 0; j < kRows; ++j) {
      NetworkRow n;
      n.time = static_cast<uint32_t>(i);
      AppendRecord(&b, n);
    }
    ASSERT_TRUE(backend_->Insert(b).ok());
  }
  done = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(Count("flow_metrics.\"network.1s\""), uint64_t{kBatches * kRows});
}

TEST_F(SqliteBackendTest, RejectsBadNames) {
  TableSchema s = Table(kL7FlowLog);
  s.database = "../etc";
  EXPECT_EQ(backend_->EnsureTable(s).code(), absl::StatusCode::kInvalidArgument);
  s = Table(kL7FlowLog);
  s.name = "x\"; DROP";
  EXPECT_EQ(backend_->EnsureTable(s).code(), absl::StatusCode::kInvalidArgument);
  s = Table(kL7FlowLog);
  s.order_by = {"nope"};
  EXPECT_EQ(backend_->EnsureTable(s).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace flowscope::server::storage::sqlite
