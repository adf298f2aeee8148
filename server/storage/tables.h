// The tables of the data model (ARCHITECTURE.md §4) and the glue between records and storage:
// SchemaOf<Record>() derives a table's columns from the record's VisitColumns, and
// AppendRecord() visits one record into a RowBatch row. A column added to a record's
// VisitColumns therefore reaches both backends (and their ALTER TABLE ADD COLUMN) with no
// second list to keep in step.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/net/ip_addr.h"
#include "common/records/application_metrics.h"
#include "common/records/l4_flow_log.h"
#include "common/records/l7_flow_log.h"
#include "common/records/network_metrics.h"
#include "server/storage/schema.h"

namespace flowscope::server::storage {

// Full names of the standard tables.
inline constexpr std::string_view kL4FlowLog = "flow_log.l4_flow_log";
inline constexpr std::string_view kL7FlowLog = "flow_log.l7_flow_log";
inline constexpr std::string_view kNetwork1s = "flow_metrics.network.1s";
inline constexpr std::string_view kNetwork1m = "flow_metrics.network.1m";
inline constexpr std::string_view kNetworkMap1s = "flow_metrics.network_map.1s";
inline constexpr std::string_view kNetworkMap1m = "flow_metrics.network_map.1m";
inline constexpr std::string_view kApplication1s = "flow_metrics.application.1s";
inline constexpr std::string_view kApplication1m = "flow_metrics.application.1m";
inline constexpr std::string_view kApplicationMap1s = "flow_metrics.application_map.1s";
inline constexpr std::string_view kApplicationMap1m = "flow_metrics.application_map.1m";

// Retention per table family (issue 6 defaults); configurable by the server's config.
struct Retention {
  std::chrono::seconds flow_log{72 * 3600};        // l4_flow_log, l7_flow_log
  std::chrono::seconds metrics_1s{24 * 3600};      // flow_metrics.*.1s
  std::chrono::seconds metrics_1m{7 * 24 * 3600};  // flow_metrics.*.1m
};

// l4_flow_log, l7_flow_log and the 1 s / 1 m network, network_map, application and
// application_map tables, with DeepFlow's order keys minus the ids we do not have yet.
std::vector<TableSchema> StandardTables(const Retention& retention = {});
// The table named `full_name` ("flow_log.l7_flow_log"), or nullptr.
const TableSchema* FindTable(const std::vector<TableSchema>& tables, std::string_view full_name);

// A record whose VisitColumns visits every column it can have. L7FlowLog skips request_id,
// response_code and sql_affected_rows when absent (NULL in storage, as DeepFlow's Nullable
// columns); its sample sets them so that the schema has them.
template <typename Record>
Record SchemaSample() {
  return Record{};
}
template <>
inline L7FlowLog SchemaSample<L7FlowLog>() {
  L7FlowLog r;
  r.has_request_id = true;
  r.has_response_code = true;
  r.has_sql_affected_rows = true;
  return r;
}

namespace internal {

template <typename>
inline constexpr bool kAlwaysFalse = false;

// The logical column type of a VisitColumns value.
template <typename T>
constexpr ColumnType ColumnTypeOfCpp() {
  using U = std::remove_cvref_t<T>;
  if constexpr (std::is_same_v<U, bool>) {
    return ColumnType::kUInt8;
  } else if constexpr (std::is_integral_v<U> && std::is_unsigned_v<U>) {
    if constexpr (sizeof(U) == 1)
      return ColumnType::kUInt8;
    else if constexpr (sizeof(U) == 2)
      return ColumnType::kUInt16;
    else if constexpr (sizeof(U) == 4)
      return ColumnType::kUInt32;
    else
      return ColumnType::kUInt64;
  } else if constexpr (std::is_integral_v<U>) {
    if constexpr (sizeof(U) <= 4)
      return ColumnType::kInt32;
    else
      return ColumnType::kInt64;
  } else if constexpr (std::is_floating_point_v<U>) {
    return ColumnType::kFloat64;
  } else if constexpr (std::is_same_v<U, IpAddr>) {
    return ColumnType::kIp;
  } else if constexpr (std::is_same_v<U, std::vector<std::string_view>> ||
                       std::is_same_v<U, std::vector<std::string>>) {
    return ColumnType::kArrayString;
  } else if constexpr (std::is_convertible_v<const U&, std::string_view>) {
    return ColumnType::kString;
  } else {
    static_assert(kAlwaysFalse<U>, "VisitColumns value type without a storage column type");
  }
}

// The Value of a VisitColumns value: unsigned integers and bools as uint64_t, signed as
// int64_t, text as std::string.
template <typename T>
Value ToValue(const T& v) {
  using U = std::remove_cvref_t<T>;
  constexpr ColumnType kType = ColumnTypeOfCpp<U>();
  if constexpr (std::is_same_v<U, bool>) {
    return Value(uint64_t{v ? 1u : 0u});
  } else if constexpr (std::is_integral_v<U> && std::is_unsigned_v<U>) {
    return Value(static_cast<uint64_t>(v));
  } else if constexpr (std::is_integral_v<U>) {
    return Value(static_cast<int64_t>(v));
  } else if constexpr (std::is_floating_point_v<U>) {
    return Value(static_cast<double>(v));
  } else if constexpr (std::is_same_v<U, IpAddr>) {
    return Value(v);
  } else if constexpr (kType == ColumnType::kArrayString) {
    return Value(std::vector<std::string>(v.begin(), v.end()));
  } else {
    return Value(std::string(std::string_view(v)));
  }
}

// Text columns with few distinct values (protocol names, versions, methods, interface and
// process names): LowCardinality(String) where the backend has it.
bool IsLowCardinality(std::string_view column);

// Appends `n` NULL cells. Out of line and copied from a static: GCC 12, inlining the move of a
// temporary empty Value, reports a false maybe-uninitialized on the variant's other members.
void AppendNulls(RowBatch* batch, size_t n);

}  // namespace internal

// Columns of Record's table, in VisitColumns order. `time_column` becomes kDateTime.
template <typename Record>
std::vector<Column> ColumnsOf(std::string_view time_column = "time") {
  std::vector<Column> cols;
  const Record sample = SchemaSample<Record>();
  VisitColumns(sample, [&](std::string_view name, const auto& value) {
    Column c;
    c.name = std::string(name);
    c.type = internal::ColumnTypeOfCpp<decltype(value)>();
    if (name == time_column) c.type = ColumnType::kDateTime;
    c.low_cardinality = c.type == ColumnType::kString && internal::IsLowCardinality(name);
    cols.push_back(std::move(c));
  });
  return cols;
}

// The schema of a log table (engine kLog) holding Records.
template <typename Record>
TableSchema SchemaOf(std::string database, std::string name, std::vector<std::string> order_by,
                     std::chrono::seconds retention) {
  TableSchema s;
  s.database = std::move(database);
  s.name = std::move(name);
  s.columns = ColumnsOf<Record>(s.time_column);
  s.order_by = std::move(order_by);
  s.retention = retention;
  s.engine = TableEngine::kLog;
  return s;
}

// Appends `r` as one row of `batch`, matching columns by name: a column the record does not
// visit (an absent optional, or a column a newer schema added) is NULL; a value the schema has
// no column for is dropped. Relies on the schema keeping VisitColumns' order (SchemaOf does),
// so a row costs one pass over both lists.
template <typename Record>
void AppendRecord(RowBatch* batch, const Record& r) {
  const std::vector<Column>& cols = batch->schema().columns;
  batch->BeginRow();
  size_t next = 0;
  VisitColumns(r, [&](std::string_view name, const auto& value) {
    size_t i = next;
    while (i < cols.size() && cols[i].name != name) ++i;
    if (i == cols.size()) return;
    internal::AppendNulls(batch, i - next);
    batch->Append(internal::ToValue(value));
    next = i + 1;
  });
  internal::AppendNulls(batch, cols.size() - next);
}

}  // namespace flowscope::server::storage
