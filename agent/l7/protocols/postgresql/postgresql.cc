#include "agent/l7/protocols/postgresql/postgresql.h"

#include <algorithm>
#include <utility>

#include "agent/l7/sql_text.h"
#include "agent/l7/trace_context.h"

namespace flowscope::agent::l7::postgresql {
namespace {

constexpr uint32_t kProtocol3 = 3;             // major version of StartupMessage's protocol
constexpr uint32_t kSslRequest = 80877103;     // 1234.5679
constexpr uint32_t kGssEncRequest = 80877104;  // 1234.5680
constexpr uint32_t kCancelRequest = 80877102;  // 1234.5678
constexpr uint32_t kMaxStartupLength = 10000;  // the server's own limit
constexpr size_t kMaxExceptionBytes = 512;
constexpr size_t kMaxBatchMessages = 4096;

uint32_t U32(std::string_view d, size_t off) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(d[off])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(d[off + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(d[off + 2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(d[off + 3]));
}

// Frontend message types (protocol-message-formats.html).
bool IsFrontendType(char t) {
  return std::string_view("BCdcfDEHFPpQSX").find(t) != std::string_view::npos;
}

// Messages of an extended-query batch (up to Sync or Flush).
bool IsBatchType(char t) { return std::string_view("PBEDCSH").find(t) != std::string_view::npos; }

// Backend message types (protocol-message-formats.html).
bool IsBackendType(char t) {
  return std::string_view("RK23CdcGHWDIEVnNAtS1sZTv").find(t) != std::string_view::npos;
}

// A NUL-terminated string at the start of `s` (all of `s` when the NUL is not visible); `rest`
// gets what follows the NUL (empty when absent).
std::string_view CString(std::string_view s, std::string_view* rest = nullptr) {
  size_t nul = s.find('\0');
  if (rest != nullptr)
    *rest = nul == std::string_view::npos ? std::string_view() : s.substr(nul + 1);
  return s.substr(0, nul);
}

bool IsPrintable(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

ParseResult Ignore(L7Message* out, size_t consumed, uint64_t skip = 0) {
  out->ignore = true;
  return ParseResult::Ok(static_cast<uint32_t>(consumed), skip);
}

// A typed message header at d[off]: type byte, then a length that counts itself.
bool Header(std::string_view d, size_t off, char* type, uint32_t* len) {
  if (d.size() - off < 5) return false;
  *type = d[off];
  *len = U32(d, off + 1);
  return true;
}

struct ResponseSummary {
  bool error = false;
  std::string sqlstate;
  std::string message;
  std::string tag;  // the last CommandComplete tag
};

void ParseErrorFields(std::string_view body, ResponseSummary* sum) {
  // (field type byte, NUL-terminated value)*, then a 0 byte.
  sum->error = true;
  while (!body.empty() && body[0] != '\0') {
    const char field = body[0];
    std::string_view rest;
    std::string_view value = CString(body.substr(1), &rest);
    if (field == 'C') sum->sqlstate = sql::Utf8Safe(value.substr(0, 5));
    if (field == 'M') sum->message = sql::Utf8Safe(value.substr(0, kMaxExceptionBytes));
    body = rest;
  }
}

bool IsStartupParams(std::string_view params) {
  // key\0value\0 ... \0; the first key must be a printable name.
  std::string_view rest;
  std::string_view key = CString(params, &rest);
  if (key.empty() || key.size() > 64 || !IsPrintable(key)) return false;
  return true;
}

}  // namespace

std::string_view FrontendTypeName(char type) {
  switch (type) {
    case 'Q':
      return "simple query";
    case 'P':
      return "parse";
    case 'B':
      return "bind";
    case 'E':
      return "execute";
    case 'F':
      return "fastpath function call";
    case 'C':
      return "close";
    case 'D':
      return "describe";
    case 'H':
      return "flush";
    case 'S':
      return "sync";
    case 'X':
      return "exit";
    case 'd':
      return "copy data";
    case 'c':
      return "copy done";
    case 'f':
      return "copy fail";
    default:
      return "";
  }
}

L7ResponseStatus SqlStateStatus(std::string_view s) {
  if (s.size() < 2) return L7ResponseStatus::kServerError;
  if (s == "40001" || s == "40003" || s == "40P01") return L7ResponseStatus::kClientError;
  static constexpr std::string_view kClientClasses[] = {
      "03", "0A", "0B", "0F", "0L", "0P", "20", "22", "23", "26", "2F", "34", "3D", "3F", "42"};
  std::string_view cls = s.substr(0, 2);
  for (std::string_view c : kClientClasses) {
    if (cls == c) return L7ResponseStatus::kClientError;
  }
  return L7ResponseStatus::kServerError;
}

bool TagRows(std::string_view tag, uint64_t* rows) {
  size_t sp = tag.find(' ');
  if (sp == std::string_view::npos) return false;
  std::string_view verb = tag.substr(0, sp);
  if (verb != "INSERT" && verb != "UPDATE" && verb != "DELETE" && verb != "SELECT" &&
      verb != "MOVE" && verb != "FETCH" && verb != "COPY" && verb != "MERGE") {
    return false;
  }
  // The count is the last word ("INSERT oid rows").
  std::string_view num = tag.substr(tag.rfind(' ') + 1);
  if (num.empty() || num.size() > 19) return false;
  uint64_t v = 0;
  for (char c : num) {
    if (!sql::IsDigit(c)) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *rows = v;
  return true;
}

InferResult Infer(const InferInput& in) {
  std::string_view d = in.data;
  if (in.is_udp || in.dir != Direction::kClientToServer || d.size() < 5) return InferResult::kNo;
  if (d[0] == '\0') {
    // StartupMessage (SSLRequest and GSSENCRequest are left to TLS inference: what follows an
    // 'N' answer is a StartupMessage, inferred then).
    if (d.size() < 9) return InferResult::kNo;
    const uint32_t len = U32(d, 0);
    const uint32_t code = U32(d, 4);
    if (len < 9 || len > kMaxStartupLength || (code >> 16) != kProtocol3) return InferResult::kNo;
    std::string_view params = d.substr(8, std::min<size_t>(len - 8, d.size() - 8));
    if (!IsStartupParams(params)) return InferResult::kNo;
    if (d.size() >= len && d[len - 1] != '\0') return InferResult::kNo;
    return params.find(std::string_view("user\0", 5)) != std::string_view::npos ? InferResult::kYes
                                                                                : InferResult::kNo;
  }
  const char type = d[0];
  const uint32_t len = U32(d, 1);
  if (len < 4 || len > PostgresqlParser::kMaxMessageLength) return InferResult::kNo;
  std::string_view body = d.substr(5, std::min<size_t>(len - 4, d.size() - 5));
  const bool complete = d.size() >= 1 + static_cast<size_t>(len);
  if (type == 'Q') {
    if (complete && d[len] != '\0') return InferResult::kNo;
    for (size_t i = 0; i < std::min<size_t>(body.size(), 64); ++i) {
      if (body[i] == '\0' && i + 1 < body.size()) return InferResult::kNo;
    }
    return sql::LooksLikeSql(CString(body)) ? InferResult::kYes : InferResult::kNo;
  }
  if (type == 'P') {
    std::string_view rest;
    std::string_view name = CString(body, &rest);
    if (name.size() > PostgresqlParser::kMaxStatementName || !IsPrintable(name)) {
      return InferResult::kNo;
    }
    return sql::LooksLikeSql(CString(rest)) ? InferResult::kYes : InferResult::kNo;
  }
  // A batch without Parse (Bind/Describe/Execute/Sync of a prepared statement): the payload must
  // be exactly a run of such messages ending with Sync.
  size_t off = 0;
  int count = 0;
  while (off < d.size()) {
    char t;
    uint32_t l;
    if (!Header(d, off, &t, &l) || !IsBatchType(t) || l < 4 || l > (1u << 24)) {
      return InferResult::kNo;
    }
    if (d.size() - off < 1 + static_cast<size_t>(l)) return InferResult::kNo;
    off += 1 + l;
    ++count;
    if (t == 'S') {
      return l == 4 && off == d.size() && count >= 2 ? InferResult::kYes : InferResult::kNo;
    }
  }
  return InferResult::kNo;
}

ParseResult PostgresqlParser::Parse(const ParseInput& in, L7Message* out) {
  if (in.is_udp || in.data.empty()) return ParseResult::Invalid();
  return in.dir == Direction::kClientToServer ? ParseClient(in, out) : ParseServer(in, out);
}

void PostgresqlParser::FillRequestSql(std::string_view sql_text, L7Message* out) const {
  std::string text =
      config_->obfuscate_sql ? sql::Obfuscate(sql_text, false, false) : std::string(sql_text);
  out->request_resource = sql::Utf8Safe(text);
  out->endpoint = sql::Endpoint(sql_text);
  TraceHeaderCollector collector(*config_);
  sql::OfferCommentPairs(sql_text, &collector);
  collector.Finish(&out->trace);
}

const PostgresqlParser::Statement* PostgresqlParser::FindStatement(std::string_view name) const {
  for (const Statement& s : statements_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

void PostgresqlParser::ForgetStatement(std::string_view name) {
  statements_.erase(std::remove_if(statements_.begin(), statements_.end(),
                                   [name](const Statement& s) { return s.name == name; }),
                    statements_.end());
}

void PostgresqlParser::RememberStatement(std::string_view name, std::string_view sql_text) {
  if (name.size() > kMaxStatementName) return;
  ForgetStatement(name);
  if (statements_.size() >= kMaxStatements) statements_.erase(statements_.begin());
  std::string text =
      config_->obfuscate_sql ? sql::Obfuscate(sql_text, false, false) : std::string(sql_text);
  statements_.push_back(
      Statement{std::string(name), sql::Utf8Safe(text).substr(0, kMaxStatementSql)});
}

void PostgresqlParser::PushPending(End end) {
  if (pending_.size() >= kMaxPending) pending_.pop_front();
  pending_.push_back(end);
}

// ---- Frontend ------------------------------------------------------------------------------

ParseResult PostgresqlParser::ParseClient(const ParseInput& in, L7Message* out) {
  std::string_view d = in.data;
  if (phase_ == Phase::kOpaque) return Ignore(out, d.size());
  // Start-up packets have no type byte; their length's high byte is 0, never a type.
  if (d[0] == '\0') return ParseUntyped(in, out);
  char type;
  uint32_t len;
  if (!Header(d, 0, &type, &len)) {
    return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  }
  if (!IsFrontendType(type) || len < 4 || len > kMaxMessageLength) return ParseResult::Invalid();
  if (phase_ == Phase::kStart) phase_ = Phase::kReady;
  if (client_skipping_) return SkipFrontend(in, out);
  switch (type) {
    case 'p':  // password, SASL and GSS responses
    case 'd':  // COPY FROM STDIN data
    case 'c':
    case 'f': {
      const size_t total = 1 + static_cast<size_t>(len);
      return d.size() >= total ? Ignore(out, total) : Ignore(out, d.size(), total - d.size());
    }
    case 'Q':
    case 'F':
    case 'X':
      return ParseSimple(in, type, len, out);
    default:
      return ParseBatch(in, out);
  }
}

ParseResult PostgresqlParser::ParseUntyped(const ParseInput& in, L7Message* out) {
  std::string_view d = in.data;
  if (d.size() < 8) return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  const uint32_t len = U32(d, 0);
  const uint32_t code = U32(d, 4);
  if (len < 8 || len > kMaxStartupLength) return ParseResult::Invalid();
  if (code == kSslRequest || code == kGssEncRequest) {
    if (len != 8) return ParseResult::Invalid();
    ssl_requested_ = true;
    return Ignore(out, 8);
  }
  if (code == kCancelRequest) {
    // Sent on a connection of its own; the server closes it without an answer.
    if (len != 16) return ParseResult::Invalid();
    return d.size() >= 16 ? Ignore(out, 16) : Ignore(out, d.size(), 16 - d.size());
  }
  if ((code >> 16) != kProtocol3 || len < 9) return ParseResult::Invalid();
  const bool complete = d.size() >= len;
  if (!complete && !in.at_limit) return ParseResult::NeedMore();
  std::string_view params = d.substr(8, std::min<size_t>(len, d.size()) - 8);
  std::string_view user, database;
  for (int i = 0; i < 64 && !params.empty() && params[0] != '\0'; ++i) {
    std::string_view rest;
    std::string_view key = CString(params, &rest);
    std::string_view value = CString(rest, &params);
    if (key == "user") user = value;
    if (key == "database") database = value;
  }
  out->is_request = true;
  out->request_type = "startup message";
  std::string resource;
  if (!user.empty()) resource = "user=" + sql::Utf8Safe(user.substr(0, 128));
  if (!database.empty()) {
    if (!resource.empty()) resource.push_back(' ');
    resource += "database=" + sql::Utf8Safe(database.substr(0, 128));
  }
  out->request_resource = std::move(resource);
  version_ = "3." + std::to_string(code & 0xffff);
  out->version = version_;
  out->length = len;
  startup_seen_ = true;
  phase_ = Phase::kStartup;
  PushPending(End::kStartup);
  return complete ? ParseResult::Ok(len)
                  : ParseResult::Ok(static_cast<uint32_t>(d.size()), len - d.size());
}

ParseResult PostgresqlParser::ParseSimple(const ParseInput& in, char type, uint32_t len,
                                          L7Message* out) {
  std::string_view d = in.data;
  const size_t total = 1 + static_cast<size_t>(len);
  const bool complete = d.size() >= total;
  if (!complete && !in.at_limit) return ParseResult::NeedMore();
  out->is_request = true;
  out->request_type = std::string(FrontendTypeName(type));
  out->version = version_;
  out->length = static_cast<int64_t>(total);
  if (type == 'Q') FillRequestSql(CString(d.substr(5, std::min(total, d.size()) - 5)), out);
  if (type == 'X') {
    out->expects_response = false;
  } else {
    PushPending(End::kReady);
  }
  return complete ? ParseResult::Ok(static_cast<uint32_t>(total))
                  : ParseResult::Ok(static_cast<uint32_t>(d.size()), total - d.size());
}

ParseResult PostgresqlParser::ParseBatch(const ParseInput& in, L7Message* out) {
  std::string_view d = in.data;
  const char first_type = d[0];
  std::string_view sql_text;
  bool have_sql = false;
  std::string_view bind_statement;
  bool have_bind = false;
  End end = End::kReady;
  bool terminated = false;
  size_t off = 0;
  uint64_t skip = 0;
  size_t count = 0;
  while (count < kMaxBatchMessages) {
    char type;
    uint32_t len;
    if (!Header(d, off, &type, &len)) break;
    if (!IsFrontendType(type) || len < 4 || len > kMaxMessageLength) {
      if (off == 0) return ParseResult::Invalid();
      terminated = true;  // garbage after the batch: end it here
      end = End::kFlush;
      break;
    }
    if (!IsBatchType(type)) {
      // A Query, Terminate, ... without a Sync before it: the batch ends here.
      terminated = true;
      end = End::kFlush;
      break;
    }
    const size_t total = 1 + static_cast<size_t>(len);
    const size_t avail = std::min(total, d.size() - off) - 5;
    std::string_view body = d.substr(off + 5, avail);
    ++count;
    switch (type) {
      case 'P': {
        std::string_view rest;
        std::string_view name = CString(body, &rest);
        std::string_view query = CString(rest);
        if (!have_sql) {
          sql_text = query;
          have_sql = true;
        }
        RememberStatement(name, query);
        break;
      }
      case 'B': {
        std::string_view rest;
        CString(body, &rest);  // portal
        if (!have_bind) {
          bind_statement = CString(rest);
          have_bind = true;
        }
        break;
      }
      case 'C':
        if (!body.empty() && body[0] == 'S' && d.size() - off >= total) {
          ForgetStatement(CString(body.substr(1)));
        }
        break;
      case 'S':
        terminated = true;
        end = End::kReady;
        break;
      case 'H':
        terminated = true;
        end = End::kFlush;
        break;
      default:
        break;
    }
    if (d.size() - off < total) {
      // This message goes on past the bytes we have.
      if (!in.at_limit) return ParseResult::NeedMore();
      skip = total - (d.size() - off);
      off = d.size();
      if (!terminated) client_skipping_ = true;  // drop what remains of the batch up to Sync
      terminated = true;
      break;
    }
    off += total;
    if (terminated) break;
  }
  if (!terminated) {
    if (!in.at_limit) return ParseResult::NeedMore();
    if (off == 0) return ParseResult::Invalid();
    client_skipping_ = true;
  }
  out->is_request = true;
  out->request_type = std::string(FrontendTypeName(first_type));
  out->version = version_;
  out->length = client_skipping_ || skip > 0 ? -1 : static_cast<int64_t>(off);
  if (have_sql) {
    FillRequestSql(sql_text, out);
  } else if (have_bind) {
    if (const Statement* s = FindStatement(bind_statement)) {
      out->request_resource = s->sql;
      out->endpoint = sql::Endpoint(s->sql);
    }
  }
  PushPending(end);
  return ParseResult::Ok(static_cast<uint32_t>(off), skip);
}

ParseResult PostgresqlParser::SkipFrontend(const ParseInput& in, L7Message* out) {
  std::string_view d = in.data;
  size_t off = 0;
  char type;
  uint32_t len;
  while (Header(d, off, &type, &len)) {
    if (!IsFrontendType(type) || len < 4 || len > kMaxMessageLength || !IsBatchType(type)) {
      client_skipping_ = false;  // not part of the batch: parse it as a message
      if (off == 0) return ParseClient(in, out);
      return Ignore(out, off);
    }
    const size_t total = 1 + static_cast<size_t>(len);
    if (d.size() - off < total) return Ignore(out, d.size(), total - (d.size() - off));
    off += total;
    if (type == 'S' || type == 'H') {
      client_skipping_ = false;
      return Ignore(out, off);
    }
  }
  if (off == 0) return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  return Ignore(out, off);
}

// ---- Backend -------------------------------------------------------------------------------

ParseResult PostgresqlParser::ParseServer(const ParseInput& in, L7Message* out) {
  std::string_view d = in.data;
  if (phase_ == Phase::kOpaque) return Ignore(out, d.size());
  if (ssl_requested_) {
    ssl_requested_ = false;
    if (d[0] == 'S' || d[0] == 'G') {
      phase_ = Phase::kOpaque;  // TLS or GSSAPI encryption from here on
      return Ignore(out, d.size());
    }
    if (d[0] == 'N') return Ignore(out, 1);
  }
  if (server_skipping_) return SkipBackend(in, out);
  char type;
  uint32_t len;
  if (!Header(d, 0, &type, &len)) {
    return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  }
  if (!IsBackendType(type) || len < 4 || len > kMaxMessageLength) return ParseResult::Invalid();
  if (pending_.empty() && (type == 'N' || type == 'S' || type == 'A' || type == 'Z')) {
    // Asynchronous notice, parameter change or notification, or a stray ReadyForQuery.
    const size_t total = 1 + static_cast<size_t>(len);
    return d.size() >= total ? Ignore(out, total) : Ignore(out, d.size(), total - d.size());
  }
  const End end = pending_.empty() ? End::kReady : pending_.front();
  ResponseSummary sum;
  size_t off = 0;
  uint64_t skip = 0;
  bool done = false;
  while (Header(d, off, &type, &len)) {
    if (!IsBackendType(type) || len < 4 || len > kMaxMessageLength) {
      if (off == 0) return ParseResult::Invalid();
      done = true;  // end the response before what is not a message
      break;
    }
    const size_t total = 1 + static_cast<size_t>(len);
    const size_t avail = std::min(total, d.size() - off) - 5;
    std::string_view body = d.substr(off + 5, avail);
    if (type == 'E' && !sum.error) ParseErrorFields(body, &sum);
    if (type == 'C') sum.tag = sql::Utf8Safe(CString(body).substr(0, 64));
    const bool is_end = type == 'Z' || (type == 'E' && end == End::kStartup);
    if (d.size() - off < total) {
      if (!in.at_limit) return ParseResult::NeedMore();
      skip = total - (d.size() - off);
      off = d.size();
      done = is_end;
      break;
    }
    off += total;
    if (is_end) {
      done = true;
      break;
    }
  }
  if (!done) {
    if (end == End::kFlush && off > 0 && off == d.size()) {
      done = true;
    } else if (!in.at_limit) {
      return ParseResult::NeedMore();
    } else if (off == 0) {
      return ParseResult::Invalid();
    } else {
      server_skipping_ = true;
      server_end_ = end;
    }
  }
  if (!pending_.empty()) pending_.pop_front();
  if (end == End::kStartup) phase_ = Phase::kReady;

  out->is_request = false;
  out->version = version_;
  out->length = done ? static_cast<int64_t>(off + skip) : -1;
  if (sum.error) {
    out->status = SqlStateStatus(sum.sqlstate);
    out->exception = std::move(sum.message);
    out->result = sum.sqlstate;
    if (!sum.sqlstate.empty()) out->attributes.emplace_back("sql_state", sum.sqlstate);
    // response_code is numeric: the SQLSTATE goes there when it is all digits (42601, 23505);
    // classes with letters (42P01, 0A000, XX000) are in result and sql_state only.
    if (sum.sqlstate.size() == 5 &&
        std::all_of(sum.sqlstate.begin(), sum.sqlstate.end(), sql::IsDigit)) {
      out->has_code = true;
      out->code = 0;
      for (char c : sum.sqlstate) out->code = out->code * 10 + (c - '0');
    }
  } else {
    out->status = L7ResponseStatus::kOk;
    uint64_t rows = 0;
    if (TagRows(sum.tag, &rows)) {
      out->has_affected_rows = true;
      out->affected_rows = rows;
    }
    out->result = std::move(sum.tag);
  }
  return ParseResult::Ok(static_cast<uint32_t>(off), skip);
}

ParseResult PostgresqlParser::SkipBackend(const ParseInput& in, L7Message* out) {
  std::string_view d = in.data;
  size_t off = 0;
  char type;
  uint32_t len;
  while (Header(d, off, &type, &len)) {
    if (!IsBackendType(type) || len < 4 || len > kMaxMessageLength) {
      server_skipping_ = false;
      if (off == 0) return ParseResult::Invalid();
      return Ignore(out, off);
    }
    const size_t total = 1 + static_cast<size_t>(len);
    const bool is_end = type == 'Z' || (type == 'E' && server_end_ == End::kStartup);
    if (d.size() - off < total) {
      if (is_end) server_skipping_ = false;
      return Ignore(out, d.size(), total - (d.size() - off));
    }
    off += total;
    if (is_end) {
      server_skipping_ = false;
      return Ignore(out, off);
    }
  }
  if (off == 0) return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  return Ignore(out, off);
}

// ---- Resynchronisation ---------------------------------------------------------------------

size_t PostgresqlParser::FindBoundary(Direction dir, std::string_view data) {
  if (phase_ == Phase::kOpaque) return 0;
  if (dir == Direction::kServerToClient) {
    // Lost bytes may have held answers: start afresh after the next ReadyForQuery.
    server_skipping_ = false;
    pending_.clear();
    for (size_t i = 0; i + 6 <= data.size(); ++i) {
      if (data[i] == 'Z' && U32(data, i + 1) == 5 &&
          (data[i + 5] == 'I' || data[i + 5] == 'T' || data[i + 5] == 'E')) {
        return i + 6;
      }
    }
    return data.size();
  }
  client_skipping_ = false;
  for (size_t i = 0; i + 5 <= data.size(); ++i) {
    const char type = data[i];
    const uint32_t len = U32(data, i + 1);
    if (len < 4 || len > (1u << 24)) continue;
    std::string_view body = data.substr(i + 5, len - 4);
    std::string_view rest;
    switch (type) {
      case 'Q':
        if (sql::LooksLikeSql(CString(body))) return i;
        break;
      case 'P': {
        std::string_view name = CString(body, &rest);
        if (name.size() <= kMaxStatementName && IsPrintable(name) &&
            sql::LooksLikeSql(CString(rest))) {
          return i;
        }
        break;
      }
      case 'S':
      case 'X':
        if (len == 4 && (i + 5 == data.size() || IsFrontendType(data[i + 5]))) return i;
        break;
      default:
        break;
    }
  }
  return data.size();
}

namespace {
std::unique_ptr<Parser> MakeParser(const L7Config& config) {
  return std::make_unique<PostgresqlParser>(config);
}
}  // namespace

const ProtocolSpec kSpec = {
    .id = L7Protocol::kPostgresql,
    .name = "postgresql",
    .over_tcp = true,
    .over_udp = false,
    .default_ports = {5432},
    .infer = &Infer,
    .make_parser = &MakeParser,
};

}  // namespace flowscope::agent::l7::postgresql
