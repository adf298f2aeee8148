// ClickHouse DDL from the storage-neutral TableSchema, shaped by what the server supports.
//
// Debian's 18.16 has no TTL, no column codecs, no DateTime64 and LowCardinality only behind
// allow_experimental_low_cardinality_type; newer servers get TTL, codecs and plain
// LowCardinality. ServerFeatures says which; the backend fills it from the server on open and the
// unit tests from the two presets.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/storage/schema.h"

namespace flowscope::server::storage::clickhouse {

// Debian's abseil has its own string_view type: absl string functions need this conversion.
inline absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

struct ServerFeatures {
  std::string version;  // "18.16.1"
  int major = 0;
  int minor = 0;
  std::string timezone = "UTC";  // server timezone: partition days and DateTime text are in it
  bool low_cardinality = false;  // LowCardinality(String) usable in CREATE
  bool low_cardinality_setting = false;  // ...only with allow_experimental_low_cardinality_type=1
  bool ttl = false;                  // table TTL (19.6+)
  bool ttl_only_drop_parts = false;  // MergeTree setting ttl_only_drop_parts
  bool codecs = false;               // column CODEC(...) incl. DoubleDelta, T64 (19.11+ assumed)
  bool datetime64 = false;           // detected only: kDateTime is whole seconds (see README)

  // The feature sets of Debian's 18.16.1 and of a current release, for tests.
  static ServerFeatures Debian1816();
  static ServerFeatures Current();
  // Fills version/major/minor and the version-based flags (ttl, codecs) from "X.Y.Z...".
  // Returns false when `version` does not start with two numbers.
  bool SetVersion(std::string_view version);
  bool AtLeast(int maj, int min) const { return major > maj || (major == maj && minor >= min); }
  std::string Describe() const;  // "18.16.1 (low_cardinality(experimental), no ttl, ...)"
};

// `name` between backquotes (identifiers such as application.1s need it).
std::string QuoteIdent(std::string_view name);
// 'text' with ClickHouse string-literal escapes.
std::string QuoteString(std::string_view text);

// Physical names of one logical table.
struct TableNames {
  std::string database;  // physical database (prefixed when the URL names a database)
  std::string table;     // what inserts and queries use (the Distributed table on a cluster)
  std::string local;     // the MergeTree table: == table without a cluster, `table`_local with
  std::string Qualified() const { return QuoteIdent(database) + "." + QuoteIdent(table); }
  std::string QualifiedLocal() const { return QuoteIdent(database) + "." + QuoteIdent(local); }
};
TableNames NamesFor(const TableSchema& schema, std::string_view database, std::string_view cluster);

// ClickHouse type of a column under `f` (without codec).
std::string ColumnTypeSql(const Column& c, const ServerFeatures& f);
// " CODEC(...)" for a column when codecs are on, else "".
std::string ColumnCodecSql(const Column& c, const TableSchema& schema, const ServerFeatures& f);

// The statements that create the database and the table(s), in order. Without a cluster: CREATE
// DATABASE, CREATE TABLE. With one: both ON CLUSTER, the MergeTree table as `name_local`, then
// a Distributed table `name` over it. All IF NOT EXISTS.
std::vector<std::string> CreateTableSql(const TableSchema& schema, const TableNames& names,
                                        const ServerFeatures& f, std::string_view cluster);
// ALTER TABLE ... ADD COLUMN for one column of `schema` on `qualified_table`.
std::string AddColumnSql(const Column& c, const TableSchema& schema, std::string_view qualified,
                         const ServerFeatures& f, std::string_view cluster);

}  // namespace flowscope::server::storage::clickhouse
