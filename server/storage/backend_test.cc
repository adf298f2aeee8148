#include "server/storage/backend.h"

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/tables.h"

namespace flowscope::server::storage {
namespace {

using ::testing::HasSubstr;

TEST(OpenBackendTest, EmbeddedIsSqliteUnderTheDataDir) {
  std::string tmpl = ::testing::TempDir() + "/fs_backend_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  BackendOptions o;
  o.data_dir = tmpl + "/data";
  for (const char* url : {"embedded", "sqlite"}) {
    auto b = OpenBackend(url, o);
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ((*b)->kind(), "embedded");
    const std::vector<TableSchema> tables = StandardTables();
    ASSERT_TRUE((*b)->EnsureTable(*FindTable(tables, kL7FlowLog)).ok());
  }
  EXPECT_TRUE(std::filesystem::exists(o.data_dir + "/flow_log.db"));
  std::filesystem::remove_all(tmpl);
}

TEST(OpenBackendTest, UnknownBackendIsAClearError) {
  auto b = OpenBackend("mysql://x", BackendOptions{});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("use embedded or clickhouse://"));
}

TEST(OpenBackendTest, ClickHouseUrlGoesToClickHouse) {
  BackendOptions o;
  o.timeout = std::chrono::milliseconds(200);
  // Port 1 on loopback: nothing listens. Either this build has no ClickHouse backend (a clear
  // error saying so) or the backend is asked and fails to connect; never the embedded store.
  auto b = OpenBackend("clickhouse://127.0.0.1:1/db", o);
  if (b.ok()) {
    EXPECT_EQ((*b)->kind(), "clickhouse");
  } else {
    EXPECT_THAT(std::string(b.status().message()), ::testing::Not(HasSubstr("unknown backend")));
  }
}

}  // namespace
}  // namespace flowscope::server::storage
