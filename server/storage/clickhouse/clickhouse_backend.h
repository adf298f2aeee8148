// The `clickhouse` storage backend: ClickHouse's HTTP interface (Debian's 18.16 and newer).
//
// URL: clickhouse://[USER[:PASSWORD]@]HOST[:PORT][/DB]   (HTTP port, default 8123)
// Logical databases (flow_log, flow_metrics, flow_tag, ...) map to physical ones: as named
// without DB, `DB_flow_log`, `DB_flow_metrics`, ... with it, so that several flowscope
// installations can share one ClickHouse. Tables keep their names.
//
// On open the backend asks for version() and timezone() and detects features (ddl.h): DDL uses
// LowCardinality, TTL and codecs where the server has them. Inserts are one HTTP POST of RowBinary
// per batch; queries come back as TSVWithNamesAndTypes. See README.md for the type mapping,
// retention and limits.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/storage/backend.h"
#include "server/storage/clickhouse/ddl.h"
#include "server/storage/clickhouse/http_client.h"

namespace flowscope::server::storage::clickhouse {

struct ClickHouseUrl {
  std::string host;  // without brackets for IPv6
  uint16_t port = 8123;
  std::string database;  // the /DB part; empty → no prefix
  std::string user;
  std::string password;

  std::string HttpBase() const;  // "http://host:port/"
  // Physical database of a logical one: "flow_log" or "DB_flow_log".
  std::string Database(std::string_view logical) const;
};
absl::StatusOr<ClickHouseUrl> ParseClickHouseUrl(std::string_view url);

class ClickHouseBackend : public Backend {
 public:
  // Connects (SELECT version()), detects features. Fails when the server does not answer within
  // options.timeout.
  static absl::StatusOr<std::unique_ptr<ClickHouseBackend>> Open(std::string_view url,
                                                                 const BackendOptions& options);

  std::string_view kind() const override { return "clickhouse"; }
  absl::Status EnsureTable(const TableSchema& schema) override;
  absl::Status Insert(const RowBatch& batch) override;
  absl::Status DropBefore(const TableSchema& schema, uint32_t before) override;
  absl::StatusOr<QueryResult> Query(std::string_view sql, const QueryLimits& limits) override;
  BackendStats Stats() const override;

  ServerFeatures features() const;
  // Physical names of a schema's table(s) on this server.
  TableNames Names(const TableSchema& schema) const;

 private:
  ClickHouseBackend(ClickHouseUrl url, const BackendOptions& options);
  absl::Status DetectFeatures();
  // Runs one statement that returns no rows we need; `settings` go as URL parameters.
  absl::Status Execute(std::string_view what, std::string_view sql,
                       std::vector<std::pair<std::string, std::string>> settings = {});
  // Runs a SELECT of our own and parses its rows.
  absl::StatusOr<QueryResult> Select(std::string_view what, std::string_view sql);
  absl::Status CreateTable(const TableSchema& schema, const TableNames& names,
                           const ServerFeatures& f);
  absl::Status AddMissingColumns(const TableSchema& schema, const TableNames& names,
                                 const ServerFeatures& f);

  const ClickHouseUrl url_;
  const BackendOptions options_;
  HttpClient http_;
  mutable absl::Mutex mu_;
  ServerFeatures features_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> rows_{0};
  std::atomic<uint64_t> insert_errors_{0};
  std::atomic<uint64_t> retention_drops_{0};
};

// OpenBackend's entry for clickhouse:// URLs (ClickHouseBackend::Open as a Backend).
absl::StatusOr<std::unique_ptr<Backend>> OpenClickHouse(std::string_view url,
                                                        const BackendOptions& options);

}  // namespace flowscope::server::storage::clickhouse
