#include "server/storage/schema.h"

namespace flowscope::server::storage {

std::string_view ColumnTypeName(ColumnType t) {
  switch (t) {
    case ColumnType::kUInt8: return "UInt8";
    case ColumnType::kUInt16: return "UInt16";
    case ColumnType::kUInt32: return "UInt32";
    case ColumnType::kUInt64: return "UInt64";
    case ColumnType::kInt32: return "Int32";
    case ColumnType::kInt64: return "Int64";
    case ColumnType::kFloat64: return "Float64";
    case ColumnType::kString: return "String";
    case ColumnType::kIp: return "Ip";
    case ColumnType::kDateTime: return "DateTime";
    case ColumnType::kArrayString: return "Array(String)";
  }
  return "?";
}

int TableSchema::ColumnIndex(std::string_view col) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == col) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace flowscope::server::storage
