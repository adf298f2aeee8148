// The embedded backend: SQLite, zero set-up, one data directory holding one file per database
// (flow_log.db, flow_metrics.db, ...). The files are ATTACHed under their database's name to
// one writer connection, so statements say `flow_log.l7_flow_log` and
// `flow_metrics."application.1s"` exactly as the data model names them.
//
// Threads: every method may be called from any thread. Writes (EnsureTable, Insert,
// DropBefore) go through one writer connection, one at a time; the ingester is meant to be the
// only writer thread, with retention on a timer (DropBefore deletes in chunks, so an insert
// waits for one chunk at most). Queries run on a small pool of read-only connections (WAL
// mode: readers see the last committed batch and never block the writer or each other).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/storage/backend.h"
#include "server/storage/schema.h"

struct sqlite3;
struct sqlite3_stmt;

namespace flowscope::server::storage::sqlite {

struct SqliteOptions {
  std::string data_dir;
  // Read-only connections for Query; a query beyond that waits for a free one.
  int max_readers = 4;
  // Rows per DELETE statement of DropBefore (each its own transaction).
  int delete_chunk_rows = 10000;
  // How long a statement waits on a lock held by another process before SQLITE_BUSY.
  std::chrono::milliseconds busy_timeout{5000};
};

// The SQLite column declaration of a logical type: "<logical> <storage class>", e.g.
// "UInt64 INTEGER", "Ip BLOB", "Array TEXT". SQLite derives the column's affinity from the
// storage class word; Query reads the logical word back to return the right Value alternative.
std::string_view SqliteDeclType(ColumnType t);

class SqliteBackend final : public Backend {
 public:
  static absl::StatusOr<std::unique_ptr<SqliteBackend>> Open(const SqliteOptions& options);
  ~SqliteBackend() override;
  SqliteBackend(const SqliteBackend&) = delete;
  SqliteBackend& operator=(const SqliteBackend&) = delete;

  std::string_view kind() const override { return "embedded"; }
  absl::Status EnsureTable(const TableSchema& schema) override;
  absl::Status Insert(const RowBatch& batch) override;
  absl::Status DropBefore(const TableSchema& schema, uint32_t before) override;
  absl::StatusOr<QueryResult> Query(std::string_view sql, const QueryLimits& limits) override;
  BackendStats Stats() const override;

  const std::string& data_dir() const { return options_.data_dir; }
  // Rows removed by DropBefore since Open.
  uint64_t rows_deleted() const { return rows_deleted_.load(std::memory_order_relaxed); }

 private:
  struct Table {
    std::vector<std::string> columns;  // names, in the order the insert statement binds them
    std::vector<ColumnType> types;
    std::string time_column;
    sqlite3_stmt* insert = nullptr;
    sqlite3_stmt* delete_chunk = nullptr;
  };
  struct Reader {
    sqlite3* db = nullptr;
    std::set<std::string> attached;
  };
  explicit SqliteBackend(SqliteOptions options) : options_(std::move(options)) {}
  absl::Status Init();
  absl::Status AttachWriter(const std::string& database);  // writer_mu_ held
  absl::StatusOr<Reader*> AcquireReader();
  void ReleaseReader(Reader* r);
  std::string DatabasePath(const std::string& database) const;
  static void FinalizeTable(Table* t);

  const SqliteOptions options_;

  std::mutex writer_mu_;  // the writer connection, its statements and tables_
  sqlite3* writer_ = nullptr;
  std::set<std::string> writer_attached_;
  std::map<std::string, Table> tables_;  // by FullName()

  std::mutex readers_mu_;
  std::condition_variable reader_free_;
  std::vector<std::unique_ptr<Reader>> readers_;
  std::vector<Reader*> idle_readers_;
  std::set<std::string> databases_;  // files readers attach (known at Open or since ensured)

  std::atomic<uint64_t> batches_{0}, rows_{0}, insert_errors_{0}, retention_drops_{0};
  std::atomic<uint64_t> rows_deleted_{0};
};

// Opens (creating it when missing) the data directory options.data_dir.
absl::StatusOr<std::unique_ptr<Backend>> OpenSqlite(const SqliteOptions& options);

}  // namespace flowscope::server::storage::sqlite
