// Storage-neutral description of tables and rows: what the server's ingester writes and what
// both backends (embedded SQLite, ClickHouse) turn into their own DDL and insert formats.
//
// Tables of the data model (ARCHITECTURE.md §4) are described by TableSchema. The columns of a
// record table come from the record's VisitColumns (common/records/*.h) through SchemaOf<T>()
// (tables.h), so a column added to a record reaches storage without a second list.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/net/ip_addr.h"

namespace flowscope::server::storage {

// Logical column types. Each backend maps them (ClickHouse 18.16 has no IPv6/DateTime64 types:
// kIp is FixedString(16) there, kDateTime is DateTime; SQLite: INTEGER/REAL/TEXT/BLOB).
enum class ColumnType : uint8_t {
  kUInt8,
  kUInt16,
  kUInt32,
  kUInt64,
  kInt32,
  kInt64,
  kFloat64,
  kString,
  kIp,           // 16 bytes, IPv4 in the first 4 (common/net/ip_addr.h); pair with is_ipv4
  kDateTime,     // seconds since the epoch, UTC (UInt32)
  kArrayString,  // attribute_names/values and the like
};
std::string_view ColumnTypeName(ColumnType t);

struct Column {
  std::string name;
  ColumnType type = ColumnType::kString;
  // Few distinct values (protocol names, enums as text): LowCardinality(String) in ClickHouse
  // when the server supports it.
  bool low_cardinality = false;
};

enum class TableEngine : uint8_t {
  kLog,         // append-only facts (flow logs, metrics): MergeTree
  kDictionary,  // flow_tag.* (id → name ...): ReplacingMergeTree keyed by order_by; an insert
                // of an existing key replaces it
};

struct TableSchema {
  std::string database;  // flow_log, flow_metrics, flow_tag, event, ...
  std::string name;      // l7_flow_log, application.1s, ...
  std::vector<Column> columns;
  std::string time_column = "time";  // kDateTime: partitions, retention, time-range indexes
  std::vector<std::string> order_by;  // sort key (ClickHouse), index (SQLite)
  TableEngine engine = TableEngine::kLog;
  std::chrono::seconds retention{72 * 3600};  // 0: forever (dictionaries)

  std::string FullName() const { return database + "." + name; }
  // Index of column `name`, or -1.
  int ColumnIndex(std::string_view name) const;
};

// One cell. Integers of every width travel as uint64_t/int64_t; the column type says how they
// are stored.
using Value = std::variant<std::monostate, uint64_t, int64_t, double, std::string, IpAddr,
                           std::vector<std::string>>;

// Rows for one table, each with one Value per schema column, in schema order.
class RowBatch {
 public:
  explicit RowBatch(const TableSchema* schema) : schema_(schema) {}
  const TableSchema& schema() const { return *schema_; }
  // Starts a row; then exactly schema().columns.size() Append calls.
  void BeginRow() { rows_.emplace_back().reserve(schema_->columns.size()); }
  void Append(Value v) { rows_.back().push_back(std::move(v)); }
  const std::vector<std::vector<Value>>& rows() const { return rows_; }
  size_t size() const { return rows_.size(); }
  bool empty() const { return rows_.empty(); }
  void clear() { rows_.clear(); }

 private:
  const TableSchema* schema_;
  std::vector<std::vector<Value>> rows_;
};

}  // namespace flowscope::server::storage
