#include "server/storage/sqlite/sqlite_backend.h"

#include <sqlite3.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "common/util/json.h"

namespace flowscope::server::storage::sqlite {
namespace {

std::string Quote(std::string_view ident) {
  std::string out = "\"";
  for (char c : ident) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

bool IsIdentChar(char c, bool first) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  return !first && c >= '0' && c <= '9';
}

// Database names become file names; column names appear in user queries unquoted.
bool IsIdentifier(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!IsIdentChar(s[i], i == 0)) return false;
  }
  return true;
}

// Table names may hold a dot ("application.1s"); they are always quoted.
bool IsTableName(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (!IsIdentChar(c, false) && c != '.') return false;
  }
  return true;
}

absl::Status SqliteError(sqlite3* db, const std::string& what) {
  return absl::InternalError(absl::StrCat("sqlite: ", what, ": ", sqlite3_errmsg(db)));
}

absl::Status Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    absl::Status s = absl::InternalError(
        absl::StrCat("sqlite: ", err ? err : sqlite3_errmsg(db), " (in: ", sql, ")"));
    sqlite3_free(err);
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<sqlite3_stmt*> Prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    return SqliteError(db, absl::StrCat("prepare ", sql));
  }
  return stmt;
}

absl::Status Attach(sqlite3* db, const std::string& path, const std::string& name) {
  sqlite3_stmt* stmt = nullptr;
  const std::string sql = absl::StrCat("ATTACH DATABASE ?1 AS ", Quote(name));
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    return SqliteError(db, sql);
  }
  sqlite3_bind_text(stmt, 1, path.data(), static_cast<int>(path.size()), SQLITE_TRANSIENT);
  const int rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return SqliteError(db, absl::StrCat("attach ", path));
  return absl::OkStatus();
}

// ---- Arrays as JSON text ----

std::string EncodeJsonArray(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out.push_back(',');
    AppendJsonString(&out, v[i]);
  }
  out.push_back(']');
  return out;
}

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

bool ParseHex4(std::string_view s, size_t pos, uint32_t* out) {
  if (pos + 4 > s.size()) return false;
  uint32_t v = 0;
  for (size_t i = pos; i < pos + 4; ++i) {
    const char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= c - '0';
    else if (c >= 'a' && c <= 'f')
      v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v |= c - 'A' + 10;
    else
      return false;
  }
  *out = v;
  return true;
}

// Parses a JSON array of strings (what EncodeJsonArray writes, or any equivalent JSON).
bool DecodeJsonArray(std::string_view s, std::vector<std::string>* out) {
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  };
  skip_ws();
  if (i >= s.size() || s[i++] != '[') return false;
  skip_ws();
  if (i < s.size() && s[i] == ']') {
    ++i;
    skip_ws();
    return i == s.size();
  }
  while (true) {
    skip_ws();
    if (i >= s.size() || s[i++] != '"') return false;
    std::string item;
    while (true) {
      if (i >= s.size()) return false;
      const char c = s[i++];
      if (c == '"') break;
      if (c != '\\') {
        item.push_back(c);
        continue;
      }
      if (i >= s.size()) return false;
      const char e = s[i++];
      switch (e) {
        case '"':
          item.push_back('"');
          break;
        case '\\':
          item.push_back('\\');
          break;
        case '/':
          item.push_back('/');
          break;
        case 'b':
          item.push_back('\b');
          break;
        case 'f':
          item.push_back('\f');
          break;
        case 'n':
          item.push_back('\n');
          break;
        case 'r':
          item.push_back('\r');
          break;
        case 't':
          item.push_back('\t');
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!ParseHex4(s, i, &cp)) return false;
          i += 4;
          if (cp >= 0xd800 && cp < 0xdc00 && i + 6 <= s.size() && s[i] == '\\' && s[i + 1] == 'u') {
            uint32_t lo = 0;
            if (ParseHex4(s, i + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
              i += 6;
            }
          }
          AppendUtf8(&item, cp);
          break;
        }
        default:
          return false;
      }
    }
    out->push_back(std::move(item));
    skip_ws();
    if (i >= s.size()) return false;
    const char sep = s[i++];
    if (sep == ']') break;
    if (sep != ',') return false;
  }
  skip_ws();
  return i == s.size();
}

// ---- Values in and out ----

const char* ValueKind(const Value& v) {
  switch (v.index()) {
    case 0:
      return "NULL";
    case 1:
      return "an unsigned integer";
    case 2:
      return "a signed integer";
    case 3:
      return "a double";
    case 4:
      return "a string";
    case 5:
      return "an IP address";
    case 6:
      return "a string array";
  }
  return "?";
}

bool IsIntegerType(ColumnType t) {
  switch (t) {
    case ColumnType::kUInt8:
    case ColumnType::kUInt16:
    case ColumnType::kUInt32:
    case ColumnType::kUInt64:
    case ColumnType::kInt32:
    case ColumnType::kInt64:
    case ColumnType::kDateTime:
      return true;
    default:
      return false;
  }
}

// Binds one cell; false when the Value does not fit the column type.
bool Bind(sqlite3_stmt* stmt, int index, const Value& v, ColumnType t) {
  if (std::holds_alternative<std::monostate>(v)) return sqlite3_bind_null(stmt, index) == SQLITE_OK;
  if (IsIntegerType(t)) {
    // UInt64 values above INT64_MAX keep their bits (two's complement); Query undoes it.
    if (const auto* u = std::get_if<uint64_t>(&v)) {
      return sqlite3_bind_int64(stmt, index, static_cast<sqlite3_int64>(*u)) == SQLITE_OK;
    }
    if (const auto* i = std::get_if<int64_t>(&v)) {
      return sqlite3_bind_int64(stmt, index, *i) == SQLITE_OK;
    }
    return false;
  }
  switch (t) {
    case ColumnType::kFloat64:
      if (const auto* d = std::get_if<double>(&v)) {
        return sqlite3_bind_double(stmt, index, *d) == SQLITE_OK;
      }
      if (const auto* u = std::get_if<uint64_t>(&v)) {
        return sqlite3_bind_double(stmt, index, static_cast<double>(*u)) == SQLITE_OK;
      }
      if (const auto* i = std::get_if<int64_t>(&v)) {
        return sqlite3_bind_double(stmt, index, static_cast<double>(*i)) == SQLITE_OK;
      }
      return false;
    case ColumnType::kString:
      if (const auto* s = std::get_if<std::string>(&v)) {
        // Explicit length: NULs inside the text are kept. The batch outlives the step.
        return sqlite3_bind_text(stmt, index, s->data(), static_cast<int>(s->size()),
                                 SQLITE_STATIC) == SQLITE_OK;
      }
      return false;
    case ColumnType::kIp:
      if (const auto* ip = std::get_if<IpAddr>(&v)) {
        // 4 bytes for IPv4, 16 for IPv6: the length tells the family back.
        return sqlite3_bind_blob(stmt, index, ip->bytes.data(), ip->is_v4 ? 4 : 16,
                                 SQLITE_STATIC) == SQLITE_OK;
      }
      return false;
    case ColumnType::kArrayString:
      if (const auto* a = std::get_if<std::vector<std::string>>(&v)) {
        const std::string json = EncodeJsonArray(*a);
        return sqlite3_bind_text(stmt, index, json.data(), static_cast<int>(json.size()),
                                 SQLITE_TRANSIENT) == SQLITE_OK;
      }
      return false;
    default:
      return false;
  }
}

// What Query makes of a result column: its declared logical type when it is a table column.
enum class ReadAs : uint8_t { kDynamic, kUnsigned, kSigned, kDouble, kIp, kArray };

ReadAs ReadAsOf(const char* decltype_or_null) {
  if (decltype_or_null == nullptr) return ReadAs::kDynamic;
  std::string_view d(decltype_or_null);
  d = d.substr(0, d.find(' '));
  if (d == "UInt8" || d == "UInt16" || d == "UInt32" || d == "UInt64" || d == "DateTime") {
    return ReadAs::kUnsigned;
  }
  if (d == "Int32" || d == "Int64") return ReadAs::kSigned;
  if (d == "Float64") return ReadAs::kDouble;
  if (d == "Ip") return ReadAs::kIp;
  if (d == "Array") return ReadAs::kArray;
  return ReadAs::kDynamic;
}

Value ReadCell(sqlite3_stmt* stmt, int i, ReadAs as) {
  const int type = sqlite3_column_type(stmt, i);
  switch (type) {
    case SQLITE_NULL:
      return Value{};
    case SQLITE_INTEGER: {
      const sqlite3_int64 v = sqlite3_column_int64(stmt, i);
      if (as == ReadAs::kUnsigned) return Value(static_cast<uint64_t>(v));
      if (as == ReadAs::kDouble) return Value(static_cast<double>(v));
      return Value(static_cast<int64_t>(v));
    }
    case SQLITE_FLOAT:
      return Value(sqlite3_column_double(stmt, i));
    case SQLITE_BLOB: {
      const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, i));
      const int n = sqlite3_column_bytes(stmt, i);
      if (as == ReadAs::kIp && (n == 4 || n == 16))
        return Value(n == 4 ? IpAddr::V4(p) : IpAddr::V6(p));
      return Value(std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)));
    }
    default: {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
      std::string text(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(stmt, i)));
      if (as == ReadAs::kArray) {
        std::vector<std::string> items;
        if (DecodeJsonArray(text, &items)) return Value(std::move(items));
      }
      return Value(std::move(text));
    }
  }
}

const char* DynamicTypeName(int type) {
  switch (type) {
    case SQLITE_INTEGER:
      return "INTEGER";
    case SQLITE_FLOAT:
      return "REAL";
    case SQLITE_TEXT:
      return "TEXT";
    case SQLITE_BLOB:
      return "BLOB";
  }
  return "NULL";
}

// ---- Query guard ----

struct QueryGuard {
  std::chrono::steady_clock::time_point deadline;
  bool timed_out = false;
  std::string denied;  // what the authorizer refused
};

bool IsSchemaTable(const char* name) {
  if (name == nullptr) return false;
  for (const char* s :
       {"sqlite_master", "sqlite_temp_master", "sqlite_schema", "sqlite_temp_schema"}) {
    if (std::strcmp(name, s) == 0) return true;
  }
  return false;
}

int OnProgress(void* p) {
  auto* g = static_cast<QueryGuard*>(p);
  if (std::chrono::steady_clock::now() < g->deadline) return 0;
  g->timed_out = true;
  return 1;  // interrupts the statement (SQLITE_INTERRUPT)
}

// Pragmas that only report. Those taking an argument name a table or index; the others are
// refused with one (`PRAGMA user_version = 3` writes).
bool IsReportingPragma(std::string_view name, bool has_arg) {
  static constexpr std::array<std::string_view, 6> kWithArg = {
      "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list"};
  static constexpr std::array<std::string_view, 9> kNoArg = {
      "database_list",  "table_list",    "compile_options", "page_count",  "page_size",
      "freelist_count", "function_list", "collation_list",  "data_version"};
  for (std::string_view n : kWithArg) {
    if (n == name) return true;
  }
  if (has_arg) return false;
  for (std::string_view n : kNoArg) {
    if (n == name) return true;
  }
  return false;
}

const char* ActionName(int action) {
  switch (action) {
    case SQLITE_INSERT:
      return "INSERT";
    case SQLITE_UPDATE:
      return "UPDATE";
    case SQLITE_DELETE:
      return "DELETE";
    case SQLITE_ATTACH:
      return "ATTACH";
    case SQLITE_DETACH:
      return "DETACH";
    case SQLITE_TRANSACTION:
      return "a transaction statement";
    case SQLITE_SAVEPOINT:
      return "SAVEPOINT";
    case SQLITE_ALTER_TABLE:
      return "ALTER TABLE";
    case SQLITE_REINDEX:
      return "REINDEX";
    case SQLITE_ANALYZE:
      return "ANALYZE";
    case SQLITE_CREATE_INDEX:
    case SQLITE_CREATE_TABLE:
    case SQLITE_CREATE_TEMP_INDEX:
    case SQLITE_CREATE_TEMP_TABLE:
    case SQLITE_CREATE_TEMP_TRIGGER:
    case SQLITE_CREATE_TEMP_VIEW:
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_CREATE_VIEW:
    case SQLITE_CREATE_VTABLE:
      return "CREATE";
    case SQLITE_DROP_INDEX:
    case SQLITE_DROP_TABLE:
    case SQLITE_DROP_TEMP_INDEX:
    case SQLITE_DROP_TEMP_TABLE:
    case SQLITE_DROP_TEMP_TRIGGER:
    case SQLITE_DROP_TEMP_VIEW:
    case SQLITE_DROP_TRIGGER:
    case SQLITE_DROP_VIEW:
    case SQLITE_DROP_VTABLE:
      return "DROP";
  }
  return "this statement";
}

int Authorize(void* p, int action, const char* a1, const char* a2, const char*, const char*) {
  auto* g = static_cast<QueryGuard*>(p);
  switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    case SQLITE_INSERT:
    case SQLITE_UPDATE:
    case SQLITE_DELETE:
      // Writes to sqlite_master are asked for by CREATE/DROP before the CREATE/DROP itself
      // (refused next, with its own name), and an UPDATE of it by table-valued functions such
      // as json_each that write nothing. Whatever got past would still fail
      // sqlite3_stmt_readonly, and the connection is read-only besides.
      if (IsSchemaTable(a1)) return SQLITE_OK;
      if (g->denied.empty()) g->denied = ActionName(action);
      return SQLITE_DENY;
    case SQLITE_PRAGMA:
      if (a1 != nullptr && IsReportingPragma(a1, a2 != nullptr)) return SQLITE_OK;
      if (g->denied.empty()) {
        g->denied = absl::StrCat("PRAGMA ", a1 ? a1 : "", a2 ? " with a value" : "");
      }
      return SQLITE_DENY;
    default:
      if (g->denied.empty()) g->denied = ActionName(action);
      return SQLITE_DENY;
  }
}

}  // namespace

std::string_view SqliteDeclType(ColumnType t) {
  switch (t) {
    case ColumnType::kUInt8:
      return "UInt8 INTEGER";
    case ColumnType::kUInt16:
      return "UInt16 INTEGER";
    case ColumnType::kUInt32:
      return "UInt32 INTEGER";
    case ColumnType::kUInt64:
      return "UInt64 INTEGER";
    case ColumnType::kInt32:
      return "Int32 INTEGER";
    case ColumnType::kInt64:
      return "Int64 INTEGER";
    case ColumnType::kFloat64:
      return "Float64 REAL";
    case ColumnType::kString:
      return "String TEXT";
    case ColumnType::kIp:
      return "Ip BLOB";
    case ColumnType::kDateTime:
      return "DateTime INTEGER";
    case ColumnType::kArrayString:
      return "Array TEXT";
  }
  return "BLOB";
}

// ---- Open / close ----

absl::StatusOr<std::unique_ptr<SqliteBackend>> SqliteBackend::Open(const SqliteOptions& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("sqlite: empty data directory; set --data-dir");
  }
  if (options.max_readers < 1 || options.delete_chunk_rows < 1) {
    return absl::InvalidArgumentError("sqlite: max_readers and delete_chunk_rows must be >= 1");
  }
  std::unique_ptr<SqliteBackend> b(new SqliteBackend(options));
  RETURN_IF_ERROR(b->Init());
  return b;
}

absl::Status SqliteBackend::Init() {
  std::error_code ec;
  std::filesystem::create_directories(options_.data_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat("sqlite: cannot create data directory ",
                                                      options_.data_dir, ": ", ec.message()));
  }
  // The main database is in memory and unused: every table lives in an attached file (ATTACH
  // opens with the main connection's flags, hence CREATE).
  if (sqlite3_open_v2(":memory:", &writer_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    return SqliteError(writer_, "open writer connection");
  }
  sqlite3_busy_timeout(writer_, static_cast<int>(options_.busy_timeout.count()));
  // Attach what an earlier run left, so that queries see it before the first EnsureTable (and
  // a WAL left by a crash is recovered by the writer, not by a read-only reader).
  std::lock_guard<std::mutex> lock(writer_mu_);
  for (const auto& entry : std::filesystem::directory_iterator(options_.data_dir, ec)) {
    const std::filesystem::path& p = entry.path();
    if (p.extension() != ".db" || !IsIdentifier(p.stem().string())) continue;
    RETURN_IF_ERROR(AttachWriter(p.stem().string()));
  }
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite: cannot list data directory ", options_.data_dir, ": ", ec.message()));
  }
  return absl::OkStatus();
}

SqliteBackend::~SqliteBackend() {
  for (auto& [name, t] : tables_) FinalizeTable(&t);
  for (auto& r : readers_) sqlite3_close_v2(r->db);
  sqlite3_close_v2(writer_);
}

void SqliteBackend::FinalizeTable(Table* t) {
  sqlite3_finalize(t->insert);
  sqlite3_finalize(t->delete_chunk);
  t->insert = t->delete_chunk = nullptr;
}

std::string SqliteBackend::DatabasePath(const std::string& database) const {
  return (std::filesystem::path(options_.data_dir) / (database + ".db")).string();
}

absl::Status SqliteBackend::AttachWriter(const std::string& database) {
  if (writer_attached_.count(database)) return absl::OkStatus();
  RETURN_IF_ERROR(Attach(writer_, DatabasePath(database), database));
  RETURN_IF_ERROR(Exec(writer_, absl::StrCat("PRAGMA ", Quote(database), ".journal_mode=WAL")));
  RETURN_IF_ERROR(Exec(writer_, absl::StrCat("PRAGMA ", Quote(database), ".synchronous=NORMAL")));
  writer_attached_.insert(database);
  std::lock_guard<std::mutex> lock(readers_mu_);
  databases_.insert(database);
  return absl::OkStatus();
}

// ---- Tables ----

absl::Status SqliteBackend::EnsureTable(const TableSchema& schema) {
  const std::string full = schema.FullName();
  if (!IsIdentifier(schema.database)) {
    return absl::InvalidArgumentError(absl::StrCat("sqlite: database name \"", schema.database,
                                                   "\" is not [A-Za-z_][A-Za-z0-9_]*"));
  }
  if (!IsTableName(schema.name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sqlite: table name \"", schema.name, "\" is not [A-Za-z0-9_.]+"));
  }
  if (schema.columns.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("sqlite: ", full, " has no columns"));
  }
  for (const Column& c : schema.columns) {
    if (!IsIdentifier(c.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("sqlite: ", full, ": column name \"", c.name, "\" is not an identifier"));
    }
  }
  for (const std::string& k : schema.order_by) {
    if (schema.ColumnIndex(k) < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("sqlite: ", full, ": order_by column ", k, " is not in the schema"));
    }
  }
  const bool has_time = schema.ColumnIndex(schema.time_column) >= 0;
  if (schema.engine == TableEngine::kLog && !has_time) {
    return absl::InvalidArgumentError(absl::StrCat("sqlite: ", full, ": time column ",
                                                   schema.time_column, " is not in the schema"));
  }
  if (schema.engine == TableEngine::kDictionary && schema.order_by.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sqlite: ", full, ": a dictionary table needs order_by (its key)"));
  }

  std::lock_guard<std::mutex> lock(writer_mu_);
  RETURN_IF_ERROR(AttachWriter(schema.database));
  const std::string db = Quote(schema.database);
  const std::string qualified = db + "." + Quote(schema.name);

  RETURN_IF_ERROR(Exec(writer_, "BEGIN IMMEDIATE"));
  absl::Status st = [&]() -> absl::Status {
    std::vector<std::string> defs;
    for (const Column& c : schema.columns) {
      defs.push_back(absl::StrCat(Quote(c.name), " ", std::string(SqliteDeclType(c.type))));
    }
    RETURN_IF_ERROR(Exec(writer_, absl::StrCat("CREATE TABLE IF NOT EXISTS ", qualified, " (",
                                               absl::StrJoin(defs, ", "), ")")));
    // Columns a newer schema added: ALTER TABLE ADD COLUMN (NULL in the rows already there).
    std::set<std::string> existing;
    ASSIGN_OR_RETURN(
        sqlite3_stmt * info,
        Prepare(writer_, absl::StrCat("PRAGMA ", db, ".table_info(", Quote(schema.name), ")")));
    while (sqlite3_step(info) == SQLITE_ROW) {
      existing.insert(reinterpret_cast<const char*>(sqlite3_column_text(info, 1)));
    }
    sqlite3_finalize(info);
    for (const Column& c : schema.columns) {
      if (existing.count(c.name)) continue;
      RETURN_IF_ERROR(
          Exec(writer_, absl::StrCat("ALTER TABLE ", qualified, " ADD COLUMN ", Quote(c.name), " ",
                                     std::string(SqliteDeclType(c.type)))));
    }
    // Time-range scans and retention use the order_by index when it starts with the time
    // column; otherwise a separate time index.
    std::vector<std::string> key;
    for (const std::string& k : schema.order_by) key.push_back(Quote(k));
    if (has_time && (schema.order_by.empty() || schema.order_by[0] != schema.time_column)) {
      RETURN_IF_ERROR(
          Exec(writer_,
               absl::StrCat("CREATE INDEX IF NOT EXISTS ", db, ".", Quote(schema.name + "_time"),
                            " ON ", Quote(schema.name), " (", Quote(schema.time_column), ")")));
    }
    if (!key.empty()) {
      const bool unique = schema.engine == TableEngine::kDictionary;
      RETURN_IF_ERROR(
          Exec(writer_, absl::StrCat("CREATE ", unique ? "UNIQUE " : "", "INDEX IF NOT EXISTS ", db,
                                     ".", Quote(schema.name + "_order_by"), " ON ",
                                     Quote(schema.name), " (", absl::StrJoin(key, ", "), ")")));
    }
    return absl::OkStatus();
  }();
  if (!st.ok()) {
    Exec(writer_, "ROLLBACK").IgnoreError();
    return st;
  }
  RETURN_IF_ERROR(Exec(writer_, "COMMIT"));

  Table t;
  std::vector<std::string> names, params;
  for (size_t i = 0; i < schema.columns.size(); ++i) {
    t.columns.push_back(schema.columns[i].name);
    t.types.push_back(schema.columns[i].type);
    names.push_back(Quote(schema.columns[i].name));
    params.push_back(absl::StrCat("?", i + 1));
  }
  t.time_column = has_time ? schema.time_column : "";
  // A dictionary row replaces the row with the same key (ReplacingMergeTree in ClickHouse).
  const char* verb =
      schema.engine == TableEngine::kDictionary ? "INSERT OR REPLACE INTO " : "INSERT INTO ";
  ASSIGN_OR_RETURN(t.insert,
                   Prepare(writer_, absl::StrCat(verb, qualified, " (", absl::StrJoin(names, ", "),
                                                 ") VALUES (", absl::StrJoin(params, ", "), ")")));
  if (has_time) {
    auto del = Prepare(
        writer_, absl::StrCat("DELETE FROM ", qualified,
                              " WHERE rowid IN (SELECT "
                              "rowid FROM ",
                              qualified, " WHERE ", Quote(schema.time_column), " < ?1 LIMIT ?2)"));
    if (!del.ok()) {
      FinalizeTable(&t);
      return del.status();
    }
    t.delete_chunk = *del;
  }
  auto [it, inserted] = tables_.try_emplace(full);
  if (!inserted) FinalizeTable(&it->second);
  it->second = std::move(t);
  return absl::OkStatus();
}

absl::Status SqliteBackend::Insert(const RowBatch& batch) {
  if (batch.empty()) return absl::OkStatus();
  const TableSchema& schema = batch.schema();
  const std::string full = schema.FullName();
  const size_t ncols = schema.columns.size();
  for (size_t r = 0; r < batch.size(); ++r) {
    if (batch.rows()[r].size() != ncols) {
      insert_errors_.fetch_add(1, std::memory_order_relaxed);
      return absl::InvalidArgumentError(absl::StrCat("sqlite: insert into ", full, ": row ", r,
                                                     " has ", batch.rows()[r].size(),
                                                     " cells, the schema ", ncols, " columns"));
    }
  }
  std::lock_guard<std::mutex> lock(writer_mu_);
  auto it = tables_.find(full);
  if (it == tables_.end()) {
    insert_errors_.fetch_add(1, std::memory_order_relaxed);
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite: insert into ", full, ": EnsureTable was not called for it"));
  }
  const Table& t = it->second;
  bool same = t.columns.size() == ncols;
  for (size_t i = 0; same && i < ncols; ++i) {
    same = t.columns[i] == schema.columns[i].name && t.types[i] == schema.columns[i].type;
  }
  if (!same) {
    insert_errors_.fetch_add(1, std::memory_order_relaxed);
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite: insert into ", full,
                     ": the batch's schema differs from the one given to "
                     "EnsureTable; ensure the table with this schema first"));
  }

  RETURN_IF_ERROR(Exec(writer_, "BEGIN IMMEDIATE"));
  absl::Status st;
  for (size_t r = 0; r < batch.size() && st.ok(); ++r) {
    const std::vector<Value>& row = batch.rows()[r];
    for (size_t c = 0; c < ncols; ++c) {
      if (!Bind(t.insert, static_cast<int>(c + 1), row[c], t.types[c])) {
        st = absl::InvalidArgumentError(
            absl::StrCat("sqlite: insert into ", full, ": row ", r, " column ", t.columns[c], " (",
                         std::string(ColumnTypeName(t.types[c])), ") got ", ValueKind(row[c])));
        break;
      }
    }
    if (st.ok() && sqlite3_step(t.insert) != SQLITE_DONE) {
      st = SqliteError(writer_, absl::StrCat("insert into ", full, " row ", r));
    }
    sqlite3_reset(t.insert);
  }
  sqlite3_clear_bindings(t.insert);
  if (st.ok()) st = Exec(writer_, "COMMIT");
  if (!st.ok()) {
    // Nothing of the batch stays: the caller may retry it whole.
    if (!sqlite3_get_autocommit(writer_)) Exec(writer_, "ROLLBACK").IgnoreError();
    insert_errors_.fetch_add(1, std::memory_order_relaxed);
    return st;
  }
  batches_.fetch_add(1, std::memory_order_relaxed);
  rows_.fetch_add(batch.size(), std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status SqliteBackend::DropBefore(const TableSchema& schema, uint32_t before) {
  const std::string full = schema.FullName();
  while (true) {
    int changes = 0;
    {
      // One chunk per lock: an Insert waiting on the writer gets in between chunks.
      std::lock_guard<std::mutex> lock(writer_mu_);
      auto it = tables_.find(full);
      if (it == tables_.end()) {
        return absl::FailedPreconditionError(
            absl::StrCat("sqlite: retention of ", full, ": EnsureTable was not called for it"));
      }
      sqlite3_stmt* del = it->second.delete_chunk;
      if (del == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("sqlite: retention of ", full, ": the table has no time column"));
      }
      sqlite3_bind_int64(del, 1, before);
      sqlite3_bind_int64(del, 2, options_.delete_chunk_rows);
      const int rc = sqlite3_step(del);
      sqlite3_reset(del);
      if (rc != SQLITE_DONE) return SqliteError(writer_, absl::StrCat("retention of ", full));
      changes = sqlite3_changes(writer_);
    }
    if (changes > 0) {
      retention_drops_.fetch_add(1, std::memory_order_relaxed);
      rows_deleted_.fetch_add(static_cast<uint64_t>(changes), std::memory_order_relaxed);
    }
    if (changes < options_.delete_chunk_rows) return absl::OkStatus();
  }
}

// ---- Queries ----

absl::StatusOr<SqliteBackend::Reader*> SqliteBackend::AcquireReader() {
  Reader* r = nullptr;
  std::set<std::string> databases;
  {
    std::unique_lock<std::mutex> lock(readers_mu_);
    if (idle_readers_.empty() && readers_.size() < static_cast<size_t>(options_.max_readers)) {
      auto fresh = std::make_unique<Reader>();
      // Read-only: every database it attaches is read-only too.
      if (sqlite3_open_v2(":memory:", &fresh->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                          nullptr) != SQLITE_OK) {
        absl::Status s = SqliteError(fresh->db, "open read connection");
        sqlite3_close_v2(fresh->db);
        return s;
      }
      sqlite3_busy_timeout(fresh->db, static_cast<int>(options_.busy_timeout.count()));
      idle_readers_.push_back(fresh.get());
      readers_.push_back(std::move(fresh));
    }
    reader_free_.wait(lock, [&] { return !idle_readers_.empty(); });
    r = idle_readers_.back();
    idle_readers_.pop_back();
    databases = databases_;
  }
  for (const std::string& d : databases) {
    if (r->attached.count(d)) continue;
    absl::Status s = Attach(r->db, DatabasePath(d), d);
    if (!s.ok()) {
      ReleaseReader(r);
      return s;
    }
    r->attached.insert(d);
  }
  return r;
}

void SqliteBackend::ReleaseReader(Reader* r) {
  {
    std::lock_guard<std::mutex> lock(readers_mu_);
    idle_readers_.push_back(r);
  }
  reader_free_.notify_one();
}

absl::StatusOr<QueryResult> SqliteBackend::Query(std::string_view sql, const QueryLimits& limits) {
  ASSIGN_OR_RETURN(Reader * reader, AcquireReader());
  sqlite3* db = reader->db;
  QueryGuard guard;
  guard.deadline = std::chrono::steady_clock::now() + limits.timeout;
  sqlite3_set_authorizer(db, Authorize, &guard);
  sqlite3_progress_handler(db, 1000, OnProgress, &guard);
  sqlite3_stmt* stmt = nullptr;
  auto done = [&](absl::StatusOr<QueryResult> result) {
    sqlite3_finalize(stmt);
    sqlite3_progress_handler(db, 0, nullptr, nullptr);
    sqlite3_set_authorizer(db, nullptr, nullptr);
    ReleaseReader(reader);
    return result;
  };

  const char* tail = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt, &tail);
  if (rc != SQLITE_OK) {
    if (!guard.denied.empty()) {
      return done(absl::PermissionDeniedError(
          absl::StrCat("query: ", guard.denied,
                       " is not allowed; only one read-only statement (SELECT, WITH, "
                       "EXPLAIN, reporting PRAGMAs) is")));
    }
    return done(absl::InvalidArgumentError(absl::StrCat("query: ", sqlite3_errmsg(db))));
  }
  if (stmt == nullptr) return done(absl::InvalidArgumentError("query: empty statement"));
  // Anything after the statement but blanks, comments and semicolons is a second statement.
  const char* end = sql.data() + sql.size();
  while (tail != nullptr && tail < end) {
    sqlite3_stmt* next = nullptr;
    const char* after = nullptr;
    rc = sqlite3_prepare_v2(db, tail, static_cast<int>(end - tail), &next, &after);
    sqlite3_finalize(next);
    if (rc != SQLITE_OK || next != nullptr) {
      return done(absl::InvalidArgumentError(
          "query: only one statement is allowed; remove what follows the first ';'"));
    }
    if (after == tail) break;
    tail = after;
  }
  if (!sqlite3_stmt_readonly(stmt)) {
    return done(absl::PermissionDeniedError(
        "query: only read-only statements (SELECT, WITH, EXPLAIN) are allowed"));
  }

  QueryResult result;
  const int ncols = sqlite3_column_count(stmt);
  std::vector<ReadAs> read_as;
  for (int i = 0; i < ncols; ++i) {
    const char* name = sqlite3_column_name(stmt, i);
    const char* decl = sqlite3_column_decltype(stmt, i);
    result.columns.emplace_back(name ? name : "");
    std::string_view d = decl ? std::string_view(decl) : std::string_view();
    result.types.emplace_back(d.substr(0, d.find(' ')));
    read_as.push_back(ReadAsOf(decl));
  }
  while (true) {
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) break;
    if (result.rows.size() >= limits.max_rows) {
      result.truncated = true;
      break;
    }
    std::vector<Value>& row = result.rows.emplace_back();
    row.reserve(ncols);
    for (int i = 0; i < ncols; ++i) {
      if (result.types[i].empty() && sqlite3_column_type(stmt, i) != SQLITE_NULL) {
        result.types[i] = DynamicTypeName(sqlite3_column_type(stmt, i));
      }
      row.push_back(ReadCell(stmt, i, read_as[i]));
    }
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    if (guard.timed_out) {
      return done(
          absl::DeadlineExceededError(absl::StrCat("query: time limit of ", limits.timeout.count(),
                                                   " ms exceeded; narrow the time range "
                                                   "or add a LIMIT")));
    }
    return done(absl::InvalidArgumentError(absl::StrCat("query: ", sqlite3_errmsg(db))));
  }
  for (std::string& t : result.types) {
    if (t.empty()) t = "NULL";
  }
  return done(std::move(result));
}

BackendStats SqliteBackend::Stats() const {
  BackendStats s;
  s.batches = batches_.load(std::memory_order_relaxed);
  s.rows = rows_.load(std::memory_order_relaxed);
  s.insert_errors = insert_errors_.load(std::memory_order_relaxed);
  s.retention_drops = retention_drops_.load(std::memory_order_relaxed);
  return s;
}

absl::StatusOr<std::unique_ptr<Backend>> OpenSqlite(const SqliteOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteBackend> b, SqliteBackend::Open(options));
  return std::unique_ptr<Backend>(std::move(b));
}

}  // namespace flowscope::server::storage::sqlite
