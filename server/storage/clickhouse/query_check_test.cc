#include "server/storage/clickhouse/query_check.h"

#include "gtest/gtest.h"

namespace flowscope::server::storage::clickhouse {
namespace {

TEST(QueryCheckTest, ReadsPass) {
  struct Case {
    std::string_view sql;
    std::string_view statement;
  };
  const Case cases[] = {
      {"SELECT 1", "SELECT 1"},
      {"  select 1 ;  ", "select 1"},
      {"-- why\n/* how */ SELECT 1;; -- end", "SELECT 1"},
      {"WITH 1 AS x SELECT x", "WITH 1 AS x SELECT x"},
      {"SHOW TABLES FROM flow_log", "SHOW TABLES FROM flow_log"},
      {"DESCRIBE TABLE t", "DESCRIBE TABLE t"},
      {"desc t", "desc t"},
      {"EXISTS TABLE t", "EXISTS TABLE t"},
      {"SELECT 'a;b', \"c;d\", `e;f` FROM t", "SELECT 'a;b', \"c;d\", `e;f` FROM t"},
      {"SELECT 'it\\'s; DROP TABLE x'", "SELECT 'it\\'s; DROP TABLE x'"},
      {"SELECT 1 -- ; DROP TABLE x", "SELECT 1 -- ; DROP TABLE x"},
  };
  for (const auto& c : cases) {
    auto r = CheckReadOnlySql(c.sql);
    ASSERT_TRUE(r.ok()) << c.sql << ": " << r.status();
    EXPECT_EQ(*r, c.statement);
  }
}

TEST(QueryCheckTest, WritesAndSeveralStatementsAreRefused) {
  for (std::string_view sql : {
           "INSERT INTO t VALUES (1)", "DROP TABLE t", "ALTER TABLE t DELETE WHERE 1",
           "  create table t (x UInt8) ENGINE=Memory", "OPTIMIZE TABLE t", "SET readonly = 0",
           "TRUNCATE TABLE t", "KILL QUERY WHERE 1", "SYSTEM SHUTDOWN", "RENAME TABLE a TO b",
           "SELECT 1; DROP TABLE t", "SELECT 1;\nINSERT INTO t VALUES (1)",
           "SELECT 'unterminated", "SELECT 1 /* open", "", "   ", "(SELECT 1)",
           "/* SELECT */ DROP TABLE t", "SELECTED"}) {
    auto r = CheckReadOnlySql(sql);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << sql;
  }
  EXPECT_NE(std::string(CheckReadOnlySql("drop table t").status().message()).find("got 'DROP'"),
            std::string_view::npos);
}

}  // namespace
}  // namespace flowscope::server::storage::clickhouse
