#include "server/storage/clickhouse/ddl.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace flowscope::server::storage::clickhouse {

ServerFeatures ServerFeatures::Debian1816() {
  ServerFeatures f;
  f.SetVersion("18.16.1");
  f.low_cardinality = true;
  f.low_cardinality_setting = true;
  return f;
}

ServerFeatures ServerFeatures::Current() {
  ServerFeatures f;
  f.SetVersion("24.8.4.13");
  f.low_cardinality = true;
  f.ttl_only_drop_parts = true;
  f.datetime64 = true;
  return f;
}

bool ServerFeatures::SetVersion(std::string_view v) {
  int parts[2] = {0, 0};
  const char* p = v.data();
  const char* end = v.data() + v.size();
  for (int i = 0; i < 2; ++i) {
    auto [next, ec] = std::from_chars(p, end, parts[i]);
    if (ec != std::errc() || next == p) return false;
    p = next;
    if (i == 0) {
      if (p == end || *p != '.') return false;
      ++p;
    }
  }
  version = std::string(v);
  major = parts[0];
  minor = parts[1];
  // TTL came with 19.6. Codecs with 19.1, DoubleDelta/T64 a little later; 19.11 has them all.
  ttl = AtLeast(19, 6);
  codecs = AtLeast(19, 11);
  return true;
}

std::string ServerFeatures::Describe() const {
  auto flag = [](bool on, std::string_view name) {
    return absl::StrCat(on ? "" : "no ", Av(name));
  };
  std::string lc = low_cardinality ? (low_cardinality_setting ? "low_cardinality (experimental)"
                                                              : "low_cardinality")
                                   : "no low_cardinality";
  return absl::StrCat(version, " (", lc, ", ", flag(ttl, "ttl"), ", ", flag(codecs, "codecs"),
                      ", ", flag(datetime64, "datetime64"), ", timezone ", timezone, ")");
}

std::string QuoteIdent(std::string_view name) {
  std::string out = "`";
  for (char c : name) {
    if (c == '`' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('`');
  return out;
}

std::string QuoteString(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    switch (c) {
      case '\'': out += "\\'"; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\0': out += "\\0"; break;
      default: out.push_back(c);
    }
  }
  out.push_back('\'');
  return out;
}

TableNames NamesFor(const TableSchema& schema, std::string_view database,
                    std::string_view cluster) {
  TableNames n;
  n.database = std::string(database);
  n.table = schema.name;
  n.local = cluster.empty() ? schema.name : schema.name + "_local";
  return n;
}

std::string ColumnTypeSql(const Column& c, const ServerFeatures& f) {
  switch (c.type) {
    case ColumnType::kUInt8: return "UInt8";
    case ColumnType::kUInt16: return "UInt16";
    case ColumnType::kUInt32: return "UInt32";
    case ColumnType::kUInt64: return "UInt64";
    case ColumnType::kInt32: return "Int32";
    case ColumnType::kInt64: return "Int64";
    case ColumnType::kFloat64: return "Float64";
    case ColumnType::kString:
      return c.low_cardinality && f.low_cardinality ? "LowCardinality(String)" : "String";
    // IPv6 exists from 19.3 but would show IPv4 (first 4 bytes, rest zero) as an odd IPv6
    // address; FixedString(16) keeps the bytes and the meaning the same on every version.
    case ColumnType::kIp: return "FixedString(16)";
    case ColumnType::kDateTime: return "DateTime";
    case ColumnType::kArrayString: return "Array(String)";
  }
  return "String";
}

std::string ColumnCodecSql(const Column& c, const TableSchema& schema, const ServerFeatures& f) {
  if (!f.codecs) return "";
  switch (c.type) {
    case ColumnType::kDateTime:
      // The time column is the sort key's head: successive values differ by small steps.
      return c.name == schema.time_column ? " CODEC(DoubleDelta, LZ4)" : " CODEC(Delta(4), LZ4)";
    case ColumnType::kUInt16:
    case ColumnType::kUInt32:
    case ColumnType::kUInt64:
    case ColumnType::kInt32:
    case ColumnType::kInt64:
      // Counters and ids use few of their bits.
      return " CODEC(T64, LZ4)";
    case ColumnType::kString:
      return c.low_cardinality && f.low_cardinality ? "" : " CODEC(ZSTD(1))";
    case ColumnType::kArrayString:
    case ColumnType::kIp:
      return " CODEC(ZSTD(1))";
    case ColumnType::kUInt8:
    case ColumnType::kFloat64:
      return "";
  }
  return "";
}

namespace {

std::string ColumnDef(const Column& c, const TableSchema& schema, const ServerFeatures& f) {
  return absl::StrCat(QuoteIdent(c.name), " ", ColumnTypeSql(c, f),
                      ColumnCodecSql(c, schema, f));
}

std::string OnCluster(std::string_view cluster) {
  return cluster.empty() ? "" : absl::StrCat(" ON CLUSTER ", QuoteIdent(cluster));
}

std::string OrderBy(const TableSchema& schema) {
  if (schema.order_by.empty()) return "tuple()";
  std::vector<std::string> cols;
  for (const auto& c : schema.order_by) cols.push_back(QuoteIdent(c));
  return absl::StrCat("(", absl::StrJoin(cols, ", "), ")");
}

}  // namespace

std::vector<std::string> CreateTableSql(const TableSchema& schema, const TableNames& names,
                                        const ServerFeatures& f, std::string_view cluster) {
  std::vector<std::string> out;
  const std::string on_cluster = OnCluster(cluster);
  out.push_back(
      absl::StrCat("CREATE DATABASE IF NOT EXISTS ", QuoteIdent(names.database), on_cluster));

  std::vector<std::string> defs;
  for (const auto& c : schema.columns) defs.push_back(ColumnDef(c, schema, f));
  std::string sql = absl::StrCat("CREATE TABLE IF NOT EXISTS ", names.QualifiedLocal(), on_cluster,
                                 "\n(\n  ", absl::StrJoin(defs, ",\n  "), "\n)\n");
  const std::string time = QuoteIdent(schema.time_column);
  if (schema.engine == TableEngine::kLog) {
    absl::StrAppend(&sql, "ENGINE = MergeTree\nPARTITION BY toYYYYMMDD(", time, ")\nORDER BY ",
                    OrderBy(schema));
    if (f.ttl && schema.retention.count() > 0) {
      absl::StrAppend(&sql, "\nTTL ", time, " + toIntervalSecond(", schema.retention.count(), ")");
      if (f.ttl_only_drop_parts) absl::StrAppend(&sql, "\nSETTINGS ttl_only_drop_parts = 1");
    }
  } else {
    // Without a version column the last inserted row of a key wins when parts merge; readers
    // that need the newest row now use FINAL.
    absl::StrAppend(&sql, "ENGINE = ReplacingMergeTree\nORDER BY ", OrderBy(schema));
  }
  out.push_back(std::move(sql));

  if (!cluster.empty()) {
    out.push_back(absl::StrCat("CREATE TABLE IF NOT EXISTS ", names.Qualified(), on_cluster,
                               " AS ", names.QualifiedLocal(), "\nENGINE = Distributed(",
                               QuoteIdent(cluster), ", ", QuoteString(names.database), ", ",
                               QuoteString(names.local), ", rand())"));
  }
  return out;
}

std::string AddColumnSql(const Column& c, const TableSchema& schema, std::string_view qualified,
                         const ServerFeatures& f, std::string_view cluster) {
  return absl::StrCat("ALTER TABLE ", Av(qualified), OnCluster(cluster), " ADD COLUMN ",
                      ColumnDef(c, schema, f));
}

}  // namespace flowscope::server::storage::clickhouse
