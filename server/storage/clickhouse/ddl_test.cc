#include "server/storage/clickhouse/ddl.h"

#include "gtest/gtest.h"

namespace flowscope::server::storage::clickhouse {
namespace {

TableSchema LogSchema() {
  TableSchema s;
  s.database = "flow_log";
  s.name = "l7_flow_log";
  s.columns = {{"time", ColumnType::kDateTime},
               {"ip_0", ColumnType::kIp},
               {"server_port", ColumnType::kUInt16},
               {"l7_protocol", ColumnType::kString, true},
               {"endpoint", ColumnType::kString},
               {"attribute_names", ColumnType::kArrayString},
               {"rtt", ColumnType::kFloat64},
               {"is_tls", ColumnType::kUInt8},
               {"end_time", ColumnType::kDateTime}};
  s.order_by = {"time", "l7_protocol", "server_port"};
  s.retention = std::chrono::hours(72);
  return s;
}

TEST(DdlTest, Debian1816HasNoTtlNoCodecsAndExperimentalLowCardinality) {
  TableSchema s = LogSchema();
  ServerFeatures f = ServerFeatures::Debian1816();
  EXPECT_FALSE(f.ttl);
  EXPECT_FALSE(f.codecs);
  EXPECT_TRUE(f.low_cardinality_setting);
  auto sql = CreateTableSql(s, NamesFor(s, "flow_log", ""), f, "");
  ASSERT_EQ(sql.size(), 2u);
  EXPECT_EQ(sql[0], "CREATE DATABASE IF NOT EXISTS `flow_log`");
  EXPECT_EQ(sql[1],
            "CREATE TABLE IF NOT EXISTS `flow_log`.`l7_flow_log`\n"
            "(\n"
            "  `time` DateTime,\n"
            "  `ip_0` FixedString(16),\n"
            "  `server_port` UInt16,\n"
            "  `l7_protocol` LowCardinality(String),\n"
            "  `endpoint` String,\n"
            "  `attribute_names` Array(String),\n"
            "  `rtt` Float64,\n"
            "  `is_tls` UInt8,\n"
            "  `end_time` DateTime\n"
            ")\n"
            "ENGINE = MergeTree\n"
            "PARTITION BY toYYYYMMDD(`time`)\n"
            "ORDER BY (`time`, `l7_protocol`, `server_port`)");
}

TEST(DdlTest, CurrentServerGetsCodecsAndTtl) {
  TableSchema s = LogSchema();
  ServerFeatures f = ServerFeatures::Current();
  auto sql = CreateTableSql(s, NamesFor(s, "x_flow_log", ""), f, "");
  ASSERT_EQ(sql.size(), 2u);
  EXPECT_EQ(sql[0], "CREATE DATABASE IF NOT EXISTS `x_flow_log`");
  EXPECT_EQ(sql[1],
            "CREATE TABLE IF NOT EXISTS `x_flow_log`.`l7_flow_log`\n"
            "(\n"
            "  `time` DateTime CODEC(DoubleDelta, LZ4),\n"
            "  `ip_0` FixedString(16) CODEC(ZSTD(1)),\n"
            "  `server_port` UInt16 CODEC(T64, LZ4),\n"
            "  `l7_protocol` LowCardinality(String),\n"
            "  `endpoint` String CODEC(ZSTD(1)),\n"
            "  `attribute_names` Array(String) CODEC(ZSTD(1)),\n"
            "  `rtt` Float64,\n"
            "  `is_tls` UInt8,\n"
            "  `end_time` DateTime CODEC(Delta(4), LZ4)\n"
            ")\n"
            "ENGINE = MergeTree\n"
            "PARTITION BY toYYYYMMDD(`time`)\n"
            "ORDER BY (`time`, `l7_protocol`, `server_port`)\n"
            "TTL `time` + toIntervalSecond(259200)\n"
            "SETTINGS ttl_only_drop_parts = 1");
}

TEST(DdlTest, VersionsDecideTtlAndCodecs) {
  ServerFeatures f;
  EXPECT_FALSE(f.SetVersion("nonsense"));
  EXPECT_FALSE(f.SetVersion("19"));
  ASSERT_TRUE(f.SetVersion("19.5.3.8"));
  EXPECT_FALSE(f.ttl);
  ASSERT_TRUE(f.SetVersion("19.6.2.11"));
  EXPECT_TRUE(f.ttl);
  EXPECT_FALSE(f.codecs);
  ASSERT_TRUE(f.SetVersion("23.3.1"));
  EXPECT_TRUE(f.ttl);
  EXPECT_TRUE(f.codecs);
  EXPECT_EQ(f.major, 23);
  EXPECT_EQ(f.minor, 3);
}

TEST(DdlTest, NoLowCardinalityMeansString) {
  ServerFeatures f = ServerFeatures::Debian1816();
  f.low_cardinality = false;
  EXPECT_EQ(ColumnTypeSql({"p", ColumnType::kString, true}, f), "String");
}

TEST(DdlTest, DictionaryIsReplacingMergeTreeWithoutTtlOrPartitions) {
  TableSchema s;
  s.database = "flow_tag";
  s.name = "process.map";
  s.columns = {{"id", ColumnType::kUInt64}, {"name", ColumnType::kString}};
  s.order_by = {"id"};
  s.engine = TableEngine::kDictionary;
  s.retention = std::chrono::seconds(0);
  auto sql = CreateTableSql(s, NamesFor(s, "flow_tag", ""), ServerFeatures::Current(), "");
  ASSERT_EQ(sql.size(), 2u);
  EXPECT_EQ(sql[1],
            "CREATE TABLE IF NOT EXISTS `flow_tag`.`process.map`\n"
            "(\n"
            "  `id` UInt64 CODEC(T64, LZ4),\n"
            "  `name` String CODEC(ZSTD(1))\n"
            ")\n"
            "ENGINE = ReplacingMergeTree\n"
            "ORDER BY (`id`)");
}

TEST(DdlTest, ClusterMakesLocalTablesAndDistributedOnes) {
  TableSchema s = LogSchema();
  s.columns.resize(2);
  s.order_by = {"time"};
  TableNames n = NamesFor(s, "flow_log", "fs");
  EXPECT_EQ(n.local, "l7_flow_log_local");
  EXPECT_EQ(n.Qualified(), "`flow_log`.`l7_flow_log`");
  auto sql = CreateTableSql(s, n, ServerFeatures::Debian1816(), "fs");
  ASSERT_EQ(sql.size(), 3u);
  EXPECT_EQ(sql[0], "CREATE DATABASE IF NOT EXISTS `flow_log` ON CLUSTER `fs`");
  EXPECT_EQ(sql[1],
            "CREATE TABLE IF NOT EXISTS `flow_log`.`l7_flow_log_local` ON CLUSTER `fs`\n"
            "(\n"
            "  `time` DateTime,\n"
            "  `ip_0` FixedString(16)\n"
            ")\n"
            "ENGINE = MergeTree\n"
            "PARTITION BY toYYYYMMDD(`time`)\n"
            "ORDER BY (`time`)");
  EXPECT_EQ(sql[2],
            "CREATE TABLE IF NOT EXISTS `flow_log`.`l7_flow_log` ON CLUSTER `fs` AS "
            "`flow_log`.`l7_flow_log_local`\n"
            "ENGINE = Distributed(`fs`, 'flow_log', 'l7_flow_log_local', rand())");
  EXPECT_EQ(AddColumnSql({"x", ColumnType::kUInt32}, s, n.QualifiedLocal(),
                         ServerFeatures::Debian1816(), "fs"),
            "ALTER TABLE `flow_log`.`l7_flow_log_local` ON CLUSTER `fs` ADD COLUMN `x` UInt32");
}

TEST(DdlTest, EmptyOrderByIsTupleAndNamesAreQuoted) {
  TableSchema s;
  s.database = "event";
  s.name = "we`ird";
  s.columns = {{"time", ColumnType::kDateTime}};
  auto sql = CreateTableSql(s, NamesFor(s, "event", ""), ServerFeatures::Debian1816(), "");
  EXPECT_NE(sql[1].find("`event`.`we\\`ird`"), std::string::npos) << sql[1];
  EXPECT_NE(sql[1].find("ORDER BY tuple()"), std::string::npos) << sql[1];
  EXPECT_EQ(QuoteString("a'b\\c\n"), "'a\\'b\\\\c\\n'");
}

}  // namespace
}  // namespace flowscope::server::storage::clickhouse
