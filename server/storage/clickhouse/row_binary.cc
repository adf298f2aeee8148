#include "server/storage/clickhouse/row_binary.h"

#include <cstring>
#include <limits>
#include <variant>

#include "absl/strings/str_cat.h"

namespace flowscope::server::storage::clickhouse {

void AppendVarUInt(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

namespace {

template <typename T>
void AppendLe(T v, std::string* out) {
  using U = std::make_unsigned_t<T>;
  U u = static_cast<U>(v);
  for (size_t i = 0; i < sizeof(T); ++i) {
    out->push_back(static_cast<char>(u & 0xff));
    if constexpr (sizeof(T) > 1) u >>= 8;
  }
}

void AppendString(std::string_view s, std::string* out) {
  AppendVarUInt(s.size(), out);
  out->append(s);
}

// The value as an unsigned integer no larger than `max`, or an error text.
bool ToUnsigned(const Value& v, uint64_t max, uint64_t* out) {
  if (std::holds_alternative<std::monostate>(v)) {
    *out = 0;
    return true;
  }
  if (const auto* u = std::get_if<uint64_t>(&v)) {
    *out = *u;
    return *u <= max;
  }
  if (const auto* i = std::get_if<int64_t>(&v)) {
    *out = static_cast<uint64_t>(*i);
    return *i >= 0 && static_cast<uint64_t>(*i) <= max;
  }
  return false;
}

bool ToSigned(const Value& v, int64_t min, int64_t max, int64_t* out) {
  if (std::holds_alternative<std::monostate>(v)) {
    *out = 0;
    return true;
  }
  if (const auto* i = std::get_if<int64_t>(&v)) {
    *out = *i;
    return *i >= min && *i <= max;
  }
  if (const auto* u = std::get_if<uint64_t>(&v)) {
    *out = static_cast<int64_t>(*u);
    return *u <= static_cast<uint64_t>(max);
  }
  return false;
}

std::string_view KindName(const Value& v) {
  switch (v.index()) {
    case 0: return "null";
    case 1: return "uint64";
    case 2: return "int64";
    case 3: return "double";
    case 4: return "string";
    case 5: return "ip";
    case 6: return "string array";
  }
  return "?";
}

// Appends one value; false when it does not fit the column.
bool AppendValue(const Column& c, const Value& v, std::string* out) {
  uint64_t u = 0;
  int64_t i = 0;
  switch (c.type) {
    case ColumnType::kUInt8:
      if (!ToUnsigned(v, std::numeric_limits<uint8_t>::max(), &u)) return false;
      AppendLe(static_cast<uint8_t>(u), out);
      return true;
    case ColumnType::kUInt16:
      if (!ToUnsigned(v, std::numeric_limits<uint16_t>::max(), &u)) return false;
      AppendLe(static_cast<uint16_t>(u), out);
      return true;
    case ColumnType::kUInt32:
    case ColumnType::kDateTime:
      if (!ToUnsigned(v, std::numeric_limits<uint32_t>::max(), &u)) return false;
      AppendLe(static_cast<uint32_t>(u), out);
      return true;
    case ColumnType::kUInt64:
      if (!ToUnsigned(v, std::numeric_limits<uint64_t>::max(), &u)) return false;
      AppendLe(u, out);
      return true;
    case ColumnType::kInt32:
      if (!ToSigned(v, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(),
                    &i)) {
        return false;
      }
      AppendLe(static_cast<int32_t>(i), out);
      return true;
    case ColumnType::kInt64:
      if (!ToSigned(v, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(),
                    &i)) {
        return false;
      }
      AppendLe(i, out);
      return true;
    case ColumnType::kFloat64: {
      double d = 0;
      if (const auto* p = std::get_if<double>(&v)) {
        d = *p;
      } else if (const auto* pu = std::get_if<uint64_t>(&v)) {
        d = static_cast<double>(*pu);
      } else if (const auto* pi = std::get_if<int64_t>(&v)) {
        d = static_cast<double>(*pi);
      } else if (!std::holds_alternative<std::monostate>(v)) {
        return false;
      }
      uint64_t bits;
      static_assert(sizeof(bits) == sizeof(d));
      std::memcpy(&bits, &d, sizeof(d));
      AppendLe(bits, out);
      return true;
    }
    case ColumnType::kString:
      if (const auto* s = std::get_if<std::string>(&v)) {
        AppendString(*s, out);
        return true;
      }
      if (!std::holds_alternative<std::monostate>(v)) return false;
      AppendString("", out);
      return true;
    case ColumnType::kIp:
      if (const auto* ip = std::get_if<IpAddr>(&v)) {
        out->append(reinterpret_cast<const char*>(ip->bytes.data()), ip->bytes.size());
        return true;
      }
      if (!std::holds_alternative<std::monostate>(v)) return false;
      out->append(16, '\0');
      return true;
    case ColumnType::kArrayString:
      if (const auto* a = std::get_if<std::vector<std::string>>(&v)) {
        AppendVarUInt(a->size(), out);
        for (const auto& s : *a) AppendString(s, out);
        return true;
      }
      if (!std::holds_alternative<std::monostate>(v)) return false;
      AppendVarUInt(0, out);
      return true;
  }
  return false;
}

}  // namespace

absl::Status AppendRowBinary(const RowBatch& batch, std::string* out) {
  const TableSchema& schema = batch.schema();
  const size_t start = out->size();
  size_t row_index = 0;
  for (const auto& row : batch.rows()) {
    if (row.size() != schema.columns.size()) {
      out->resize(start);
      return absl::InvalidArgumentError(absl::StrCat(
          "clickhouse: ", schema.FullName(), " row ", row_index, " has ", row.size(),
          " values, the table has ", schema.columns.size(), " columns"));
    }
    for (size_t c = 0; c < row.size(); ++c) {
      if (!AppendValue(schema.columns[c], row[c], out)) {
        out->resize(start);
        return absl::InvalidArgumentError(absl::StrCat(
            "clickhouse: ", schema.FullName(), " row ", row_index, " column ",
            schema.columns[c].name, ": ", std::string(KindName(row[c])), " value does not fit ",
            std::string(ColumnTypeName(schema.columns[c].type))));
      }
    }
    ++row_index;
  }
  return absl::OkStatus();
}

}  // namespace flowscope::server::storage::clickhouse
