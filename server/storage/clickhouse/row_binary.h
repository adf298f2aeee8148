// RowBinary: ClickHouse's row-wise binary insert format, as the ClickHouse columns of ddl.h expect
// it. Integers little-endian in the column's width, strings as LEB128 length + bytes, kIp as the
// 16 bytes of FixedString(16), kDateTime as UInt32 seconds, Array(String) as LEB128 count then
// strings. LowCardinality(String) takes the same bytes as String.
// https://clickhouse.com/docs/en/interfaces/formats#rowbinary
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "server/storage/schema.h"

namespace flowscope::server::storage::clickhouse {

// Appends LEB128 (ClickHouse's VarUInt).
void AppendVarUInt(uint64_t v, std::string* out);

// Appends every row of `batch`. A value of the wrong kind for its column, an integer out of the
// column's range or a row with the wrong number of values is an error naming table, row and
// column; `out` is then left as it was, so a bad batch sends nothing. A missing value
// (std::monostate) is stored as the type's default (0, "", zero address, empty array): the
// tables have no Nullable columns.
absl::Status AppendRowBinary(const RowBatch& batch, std::string* out);

}  // namespace flowscope::server::storage::clickhouse
