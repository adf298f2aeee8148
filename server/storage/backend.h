// Backend: one interface over the two stores — `embedded` (SQLite, WAL, one data directory; the
// default) and `clickhouse` (HTTP interface, RowBinary inserts; Debian's 18.16 and newer).
//
// The ingester calls EnsureTable once per table at start, then Insert with batches; a timer calls
// DropBefore for retention. The query layer (issue 7) translates its dialect into the backend's
// SQL and calls Query, which must refuse anything but reads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/storage/schema.h"

namespace flowscope::server::storage {

struct QueryLimits {
  std::chrono::milliseconds timeout{30000};
  uint64_t max_rows = 100000;
};

struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::string> types;  // the backend's type names
  std::vector<std::vector<Value>> rows;
  bool truncated = false;  // max_rows reached
};

struct BackendStats {
  uint64_t batches = 0;
  uint64_t rows = 0;
  uint64_t bytes_sent = 0;     // ClickHouse: request bodies; SQLite: 0
  uint64_t insert_errors = 0;  // batches refused (the caller keeps or counts them)
  uint64_t retention_drops = 0;  // partitions (ClickHouse) or delete statements (SQLite)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view kind() const = 0;  // "embedded" or "clickhouse"
  // Creates the database and the table when missing (idempotent), and adds columns a newer
  // schema has that the stored table lacks.
  virtual absl::Status EnsureTable(const TableSchema& schema) = 0;
  // All rows of the batch or none (a failed batch can be retried whole without duplicates).
  virtual absl::Status Insert(const RowBatch& batch) = 0;
  // Retention: removes rows whose time column is older than `before` (seconds since the epoch);
  // ClickHouse drops whole day partitions that end before it.
  virtual absl::Status DropBefore(const TableSchema& schema, uint32_t before) = 0;
  // Runs one read-only statement in the backend's own SQL.
  virtual absl::StatusOr<QueryResult> Query(std::string_view sql, const QueryLimits& limits) = 0;
  virtual BackendStats Stats() const = 0;
};

struct BackendOptions {
  std::string data_dir = "/var/lib/flowscope";  // embedded
  std::chrono::milliseconds timeout{10000};      // clickhouse: per HTTP request
  std::string cluster;  // clickhouse: create Distributed tables over this cluster when set
};

// "embedded" (or "sqlite") → SQLite under options.data_dir;
// "clickhouse://HOST:PORT/DB" → ClickHouse's HTTP interface, tables in databases named
// DB_flow_log, ... when DB is given, else flow_log, flow_metrics, ...
absl::StatusOr<std::unique_ptr<Backend>> OpenBackend(std::string_view url,
                                                     const BackendOptions& options);

}  // namespace flowscope::server::storage
