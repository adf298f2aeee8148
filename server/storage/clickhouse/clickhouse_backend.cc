#include "server/storage/clickhouse/clickhouse_backend.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "server/storage/clickhouse/query_check.h"
#include "server/storage/clickhouse/row_binary.h"
#include "server/storage/clickhouse/tsv.h"

namespace flowscope::server::storage::clickhouse {

namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kScheme = "clickhouse://";
// ClickHouse's default max_insert_block_size: a batch up to this many rows is one block anyway.
constexpr uint64_t kDefaultInsertBlock = 1048576;

bool IsPlainName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// ClickHouse's exception text without its boilerplate: "Code: 62, e.displayText() =
// DB::Exception: Syntax error ..., e.what() = DB::Exception" (18.16) or "Code: 62.
// DB::Exception: Syntax error ... (SYNTAX_ERROR) (version 24.8...)" (newer).
std::string CleanMessage(std::string_view body) {
  std::string s(absl::StripAsciiWhitespace(Av(body)));
  for (std::string_view junk : {", e.what() = DB::Exception", "e.displayText() = "}) {
    size_t p = s.find(junk);
    if (p != std::string::npos) s.erase(p, junk.size());
  }
  s = std::string(absl::StripAsciiWhitespace(s));
  if (s.size() > 2000) s = s.substr(0, 2000) + "...";
  return s;
}

int ExceptionCode(std::string_view body) {
  size_t p = body.find("Code: ");
  if (p == std::string_view::npos) return 0;
  int code = 0;
  std::from_chars(body.data() + p + 6, body.data() + body.size(), code);
  return code;
}

absl::Status ServerError(std::string_view what, const HttpReply& reply) {
  std::string msg = absl::StrCat("clickhouse: ", Av(what), ": ", CleanMessage(reply.body));
  if (reply.body.empty()) absl::StrAppend(&msg, "HTTP ", reply.status);
  switch (ExceptionCode(reply.body)) {
    case 164:  // READONLY
    case 192:  // UNKNOWN_USER
    case 193:  // WRONG_PASSWORD
    case 497:  // ACCESS_DENIED
    case 516:  // AUTHENTICATION_FAILED
      return absl::PermissionDeniedError(msg);
    case 159:  // TIMEOUT_EXCEEDED
      return absl::DeadlineExceededError(msg);
    case 241:  // MEMORY_LIMIT_EXCEEDED
    case 202:  // TOO_MANY_SIMULTANEOUS_QUERIES
    case 252:  // TOO_MANY_PARTS: merges will catch up
      return absl::UnavailableError(msg);
    case 27:  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    case 33:  // CANNOT_READ_ALL_DATA: the body does not match the table
      return absl::InvalidArgumentError(msg);
    case 0:
      return reply.status >= 500 ? absl::UnavailableError(msg) : absl::InternalError(msg);
    default:
      return reply.status == 500 ? absl::InternalError(msg) : absl::InvalidArgumentError(msg);
  }
}

}  // namespace

std::string ClickHouseUrl::HttpBase() const {
  std::string h = absl::StrContains(host, ':') ? absl::StrCat("[", host, "]") : host;
  return absl::StrCat("http://", h, ":", port, "/");
}

std::string ClickHouseUrl::Database(std::string_view logical) const {
  return database.empty() ? std::string(logical) : absl::StrCat(database, "_", Av(logical));
}

absl::StatusOr<ClickHouseUrl> ParseClickHouseUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "clickhouse: bad storage url '", Av(url), "': ", Av(why),
        " (expected clickhouse://[USER[:PASSWORD]@]HOST[:PORT][/DB], PORT the HTTP port)"));
  };
  if (!absl::StartsWith(Av(url), Av(kScheme))) return bad("it must start with clickhouse://");
  std::string_view rest = url.substr(kScheme.size());
  ClickHouseUrl u;
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && db.back() == '/') db.remove_suffix(1);
    if (!db.empty() && !IsPlainName(db)) return bad("the database name takes [A-Za-z0-9_] only");
    u.database = std::string(db);
  }
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    size_t colon = userinfo.find(':');
    u.user = std::string(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) u.password = std::string(userinfo.substr(colon + 1));
  }
  std::string_view port;
  if (absl::StartsWith(Av(authority), "[")) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unclosed [ in the host");
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("junk after ]");
      port = after.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) return bad("no host");
  if (!port.empty()) {
    uint32_t p = 0;
    if (!absl::SimpleAtoi(Av(port), &p) || p == 0 || p > 65535) return bad("bad port");
    u.port = static_cast<uint16_t>(p);
  }
  return u;
}

ClickHouseBackend::ClickHouseBackend(ClickHouseUrl url, const BackendOptions& options)
    : url_(std::move(url)),
      options_(options),
      http_(url_.HttpBase(), url_.user, url_.password) {}

absl::StatusOr<std::unique_ptr<ClickHouseBackend>> ClickHouseBackend::Open(
    std::string_view url, const BackendOptions& options) {
  ASSIGN_OR_RETURN(ClickHouseUrl u, ParseClickHouseUrl(url));
  if (!options.cluster.empty() && !IsPlainName(options.cluster)) {
    return absl::InvalidArgumentError(
        absl::StrCat("clickhouse: cluster name '", options.cluster, "' takes [A-Za-z0-9_] only"));
  }
  std::unique_ptr<ClickHouseBackend> b(new ClickHouseBackend(std::move(u), options));
  RETURN_IF_ERROR(b->DetectFeatures());
  return b;
}

absl::Status ClickHouseBackend::Execute(std::string_view what, std::string_view sql,
                                        Params settings) {
  ASSIGN_OR_RETURN(HttpReply reply, http_.Post(settings, sql, options_.timeout));
  if (reply.status != 200) return ServerError(what, reply);
  return absl::OkStatus();
}

absl::StatusOr<QueryResult> ClickHouseBackend::Select(std::string_view what,
                                                      std::string_view sql) {
  std::string body = absl::StrCat(Av(sql), "\nFORMAT TSVWithNamesAndTypes");
  ASSIGN_OR_RETURN(HttpReply reply,
                   http_.Post({{"wait_end_of_query", "1"}}, body, options_.timeout));
  if (reply.status != 200) return ServerError(what, reply);
  std::string tz;
  {
    absl::MutexLock lock(&mu_);
    tz = features_.timezone;
  }
  return ParseTsvWithNamesAndTypes(reply.body, tz);
}

absl::Status ClickHouseBackend::DetectFeatures() {
  ASSIGN_OR_RETURN(QueryResult v, Select("connect", "SELECT version(), timezone()"));
  const std::string* version = nullptr;
  const std::string* tz = nullptr;
  if (v.rows.size() == 1 && v.rows[0].size() == 2) {
    version = std::get_if<std::string>(&v.rows[0][0]);
    tz = std::get_if<std::string>(&v.rows[0][1]);
  }
  ServerFeatures f;
  if (version == nullptr || tz == nullptr || !f.SetVersion(*version)) {
    return absl::FailedPreconditionError(
        absl::StrCat("clickhouse: ", http_.base_url(), " gave no usable version()"));
  }
  f.timezone = *tz;
  // Types: ask the server (data_type_families is there since 18.x); LowCardinality came as
  // experimental in 18.12.
  auto types = Select("detect types", "SELECT name FROM system.data_type_families WHERE name IN "
                                      "('LowCardinality', 'DateTime64')");
  if (types.ok()) {
    for (const auto& row : types->rows) {
      const auto* name = std::get_if<std::string>(&row[0]);
      if (name == nullptr) continue;
      if (*name == "LowCardinality") f.low_cardinality = true;
      if (*name == "DateTime64") f.datetime64 = true;
    }
  } else {
    f.low_cardinality = f.AtLeast(18, 12);
  }
  if (f.low_cardinality) {
    auto s = Select("detect settings",
                    "SELECT value FROM system.settings WHERE name = "
                    "'allow_experimental_low_cardinality_type'");
    f.low_cardinality_setting = s.ok() && !s->rows.empty() &&
                                std::get_if<std::string>(&s->rows[0][0]) != nullptr &&
                                std::get<std::string>(s->rows[0][0]) == "0";
  }
  if (f.ttl) {
    auto s = Select("detect settings", "SELECT name FROM system.merge_tree_settings WHERE name = "
                                       "'ttl_only_drop_parts'");
    f.ttl_only_drop_parts = s.ok() && !s->rows.empty();
  }
  absl::MutexLock lock(&mu_);
  features_ = std::move(f);
  return absl::OkStatus();
}

ServerFeatures ClickHouseBackend::features() const {
  absl::MutexLock lock(&mu_);
  return features_;
}

TableNames ClickHouseBackend::Names(const TableSchema& schema) const {
  return NamesFor(schema, url_.Database(schema.database), options_.cluster);
}

absl::Status ClickHouseBackend::CreateTable(const TableSchema& schema, const TableNames& names,
                                            const ServerFeatures& f) {
  Params settings;
  bool any_lc = std::any_of(schema.columns.begin(), schema.columns.end(),
                            [](const Column& c) { return c.low_cardinality; });
  if (any_lc && f.low_cardinality && f.low_cardinality_setting) {
    settings.emplace_back("allow_experimental_low_cardinality_type", "1");
  }
  std::vector<std::string> stmts = CreateTableSql(schema, names, f, options_.cluster);
  for (const auto& sql : stmts) {
    RETURN_IF_ERROR(Execute(absl::StrCat("create ", schema.FullName()), sql, settings));
  }
  return absl::OkStatus();
}

absl::Status ClickHouseBackend::AddMissingColumns(const TableSchema& schema,
                                                  const TableNames& names,
                                                  const ServerFeatures& f) {
  Params settings;
  if (f.low_cardinality && f.low_cardinality_setting) {
    settings.emplace_back("allow_experimental_low_cardinality_type", "1");
  }
  std::vector<std::pair<std::string, std::string>> tables = {{names.local, names.QualifiedLocal()}};
  if (names.table != names.local) tables.emplace_back(names.table, names.Qualified());
  for (const auto& [table, qualified] : tables) {
    ASSIGN_OR_RETURN(QueryResult cols,
                     Select(absl::StrCat("columns of ", schema.FullName()),
                            absl::StrCat("SELECT name FROM system.columns WHERE database = ",
                                         QuoteString(names.database),
                                         " AND table = ", QuoteString(table))));
    std::vector<std::string> have;
    for (const auto& row : cols.rows) {
      if (const auto* s = std::get_if<std::string>(&row[0])) have.push_back(*s);
    }
    if (have.empty()) {
      return absl::NotFoundError(
          absl::StrCat("clickhouse: ", qualified, " has no columns after CREATE"));
    }
    // A Distributed table takes the plain types: codecs belong to the stored table.
    ServerFeatures tf = f;
    if (table != names.local) tf.codecs = false;
    for (const auto& c : schema.columns) {
      if (std::find(have.begin(), have.end(), c.name) != have.end()) continue;
      RETURN_IF_ERROR(Execute(absl::StrCat("add column ", c.name, " to ", schema.FullName()),
                              AddColumnSql(c, schema, qualified, tf, options_.cluster), settings));
    }
  }
  return absl::OkStatus();
}

absl::Status ClickHouseBackend::EnsureTable(const TableSchema& schema) {
  if (schema.database.empty() || schema.name.empty() || schema.columns.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("clickhouse: table '", schema.FullName(), "' lacks a name or columns"));
  }
  for (const auto& key : schema.order_by) {
    if (schema.ColumnIndex(key) < 0) {
      return absl::InvalidArgumentError(absl::StrCat("clickhouse: ", schema.FullName(),
                                                     " orders by unknown column ", key));
    }
  }
  if (schema.engine == TableEngine::kLog) {
    int t = schema.ColumnIndex(schema.time_column);
    if (t < 0 || schema.columns[t].type != ColumnType::kDateTime) {
      return absl::InvalidArgumentError(absl::StrCat("clickhouse: ", schema.FullName(),
                                                     " needs a DateTime column '",
                                                     schema.time_column, "' to partition by"));
    }
  }
  const TableNames names = Names(schema);
  ServerFeatures f = features();
  absl::Status st = CreateTable(schema, names, f);
  if (!st.ok() && (f.codecs || f.ttl) && !absl::IsUnavailable(st) &&
      !absl::IsDeadlineExceeded(st)) {
    // Versions are a guess for codecs and TTL: try once without them, and keep what works.
    ServerFeatures plain = f;
    plain.codecs = plain.ttl = plain.ttl_only_drop_parts = false;
    if (CreateTable(schema, names, plain).ok()) {
      absl::MutexLock lock(&mu_);
      features_.codecs = features_.ttl = features_.ttl_only_drop_parts = false;
      f = plain;
      st = absl::OkStatus();
    }
  }
  RETURN_IF_ERROR(st);
  return AddMissingColumns(schema, names, f);
}

absl::Status ClickHouseBackend::Insert(const RowBatch& batch) {
  if (batch.empty()) return absl::OkStatus();
  const TableSchema& schema = batch.schema();
  std::string body;
  absl::Status st = AppendRowBinary(batch, &body);
  if (st.ok()) {
    const TableNames names = Names(schema);
    // One batch = one block, which ClickHouse writes as one part per partition it touches: a
    // parse error anywhere in the body inserts nothing.
    Params params = {
        {"query", absl::StrCat("INSERT INTO ", names.Qualified(), " FORMAT RowBinary")},
        {"max_insert_block_size", absl::StrCat(std::max<uint64_t>(batch.size(), kDefaultInsertBlock))},
    };
    if (!options_.cluster.empty()) params.emplace_back("insert_distributed_sync", "1");
    auto reply = http_.Post(params, body, options_.timeout);
    if (!reply.ok()) {
      st = reply.status();
    } else if (reply->status != 200) {
      st = ServerError(absl::StrCat("insert into ", schema.FullName()), *reply);
    }
  }
  if (!st.ok()) {
    ++insert_errors_;
    return st;
  }
  ++batches_;
  rows_ += batch.size();
  return absl::OkStatus();
}

absl::Status ClickHouseBackend::DropBefore(const TableSchema& schema, uint32_t before) {
  if (schema.engine != TableEngine::kLog) return absl::OkStatus();  // not partitioned by time
  const TableNames names = Names(schema);
  const std::string parts =
      options_.cluster.empty()
          ? std::string("system.parts")
          : absl::StrCat("cluster(", QuoteString(options_.cluster), ", 'system', 'parts')");
  ASSIGN_OR_RETURN(
      QueryResult r,
      Select(absl::StrCat("partitions of ", schema.FullName()),
             absl::StrCat("SELECT DISTINCT partition_id FROM ", parts,
                          " WHERE database = ", QuoteString(names.database),
                          " AND table = ", QuoteString(names.local),
                          " AND active ORDER BY partition_id")));
  absl::TimeZone tz = absl::UTCTimeZone();
  std::string tz_name = features().timezone;
  if (tz_name != "UTC" && tz_name != "Etc/UTC" && !absl::LoadTimeZone(tz_name, &tz)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "clickhouse: cannot load the server's timezone '", tz_name,
        "' to find day partitions (is tzdata installed?)"));
  }
  const absl::Time cutoff = absl::FromUnixSeconds(before);
  for (const auto& row : r.rows) {
    const auto* id = std::get_if<std::string>(&row[0]);
    int ymd = 0;
    if (id == nullptr || id->size() != 8 || !absl::SimpleAtoi(*id, &ymd)) continue;
    absl::CivilDay day(ymd / 10000, ymd / 100 % 100, ymd % 100);
    // toYYYYMMDD(time) takes the day in the server's timezone.
    if (absl::FromCivil(day + 1, tz) > cutoff) continue;
    std::string sql = absl::StrCat("ALTER TABLE ", names.QualifiedLocal(),
                                   options_.cluster.empty() ? "" : " ON CLUSTER ",
                                   options_.cluster.empty() ? "" : QuoteIdent(options_.cluster),
                                   " DROP PARTITION ID ", QuoteString(*id));
    RETURN_IF_ERROR(
        Execute(absl::StrCat("drop partition ", *id, " of ", schema.FullName()), sql));
    ++retention_drops_;
  }
  return absl::OkStatus();
}

absl::StatusOr<QueryResult> ClickHouseBackend::Query(std::string_view sql,
                                                     const QueryLimits& limits) {
  ASSIGN_OR_RETURN(std::string_view stmt, CheckReadOnlySql(sql));
  // The FORMAT goes on its own line so that a trailing -- comment cannot swallow it.
  std::string body = absl::StrCat(Av(stmt), "\nFORMAT TSVWithNamesAndTypes");
  const int64_t secs = std::max<int64_t>(1, (limits.timeout.count() + 999) / 1000);
  Params params = {{"max_execution_time", absl::StrCat(secs)}};
  if (limits.max_rows > 0) {
    // `break` stops at the block that crosses the limit: more rows than max_rows means cut.
    params.emplace_back("max_result_rows", absl::StrCat(limits.max_rows));
    params.emplace_back("result_overflow_mode", "break");
  }
  // Errors in the middle of a result come as an HTTP error, not as text after partial rows.
  params.emplace_back("wait_end_of_query", "1");
  // Last, so the settings above are applied before the server makes the session read-only.
  params.emplace_back("readonly", "1");
  auto timeout = std::max(options_.timeout,
                          limits.timeout + std::chrono::milliseconds(5000));
  ASSIGN_OR_RETURN(HttpReply reply, http_.Post(params, body, timeout));
  if (reply.status != 200) return ServerError("query", reply);
  ASSIGN_OR_RETURN(QueryResult r, ParseTsvWithNamesAndTypes(reply.body, features().timezone));
  if (limits.max_rows > 0 && r.rows.size() > limits.max_rows) {
    r.rows.resize(limits.max_rows);
    r.truncated = true;
  }
  return r;
}

BackendStats ClickHouseBackend::Stats() const {
  BackendStats s;
  s.batches = batches_;
  s.rows = rows_;
  s.bytes_sent = http_.Stats().bytes_sent;
  s.insert_errors = insert_errors_;
  s.retention_drops = retention_drops_;
  return s;
}

absl::StatusOr<std::unique_ptr<Backend>> OpenClickHouse(std::string_view url,
                                                        const BackendOptions& options) {
  ASSIGN_OR_RETURN(auto b, ClickHouseBackend::Open(url, options));
  return std::unique_ptr<Backend>(std::move(b));
}

}  // namespace flowscope::server::storage::clickhouse
