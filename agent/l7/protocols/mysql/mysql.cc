#include "agent/l7/protocols/mysql/mysql.h"

#include <algorithm>
#include <utility>

#include "agent/l7/byte_reader.h"
#include "agent/l7/sql_text.h"
#include "agent/l7/trace_context.h"

namespace flowscope::agent::l7::mysql {
namespace {

// Capability flags (page_protocol_basic_capabilities.html).
constexpr uint32_t kClientConnectWithDb = 1u << 3;
constexpr uint32_t kClientCompress = 1u << 5;
constexpr uint32_t kClientProtocol41 = 1u << 9;
constexpr uint32_t kClientSsl = 1u << 11;
constexpr uint32_t kClientSecureConnection = 1u << 15;
constexpr uint32_t kClientPluginAuthLenencData = 1u << 21;
// Server status flag in OK/EOF: another result set follows.
constexpr uint16_t kServerMoreResultsExist = 0x0008;

constexpr uint32_t kMaxPacket = 0xffffff;  // a packet this long continues in the next one
constexpr size_t kMaxUserName = 128;
constexpr size_t kMaxExceptionBytes = 512;
constexpr uint64_t kMaxColumns = 65535;

constexpr std::string_view kCommandNames[] = {
    "",  // 0x00 COM_SLEEP: server internal, DeepFlow leaves it unnamed
    "COM_QUIT",
    "COM_INIT_DB",
    "COM_QUERY",
    "COM_FIELD_LIST",
    "COM_CREATE_DB",
    "COM_DROP_DB",
    "COM_REFRESH",
    "COM_SHUTDOWN",
    "COM_STATISTICS",
    "COM_PROCESS_INFO",
    "COM_CONNECT",
    "COM_PROCESS_KILL",
    "COM_DEBUG",
    "COM_PING",
    "COM_TIME",
    "COM_DELAYED_INSERT",
    "COM_CHANGE_USER",
    "COM_BINLOG_DUMP",
    "COM_TABLE_DUMP",
    "COM_CONNECT_OUT",
    "COM_REGISTER_SLAVE",
    "COM_STMT_PREPARE",
    "COM_STMT_EXECUTE",
    "COM_STMT_SEND_LONG_DATA",
    "COM_STMT_CLOSE",
    "COM_STMT_RESET",
    "COM_SET_OPTION",
    "COM_STMT_FETCH",
    "COM_DAEMON",
    "COM_BINLOG_DUMP_GTID",
    "COM_RESET_CONNECTION",
};

uint32_t U24(std::string_view d, size_t off) {
  return static_cast<uint32_t>(static_cast<uint8_t>(d[off])) |
         (static_cast<uint32_t>(static_cast<uint8_t>(d[off + 1])) << 8) |
         (static_cast<uint32_t>(static_cast<uint8_t>(d[off + 2])) << 16);
}
uint8_t U8(std::string_view d, size_t off) { return static_cast<uint8_t>(d[off]); }
uint16_t U16(std::string_view d, size_t off) {
  return static_cast<uint16_t>(U8(d, off) | (U8(d, off + 1) << 8));
}
uint32_t U32(std::string_view d, size_t off) {
  return static_cast<uint32_t>(U16(d, off)) | (static_cast<uint32_t>(U16(d, off + 2)) << 16);
}

// Length-encoded integer (page_protocol_basic_dt_integers.html). 0xfb (NULL) and 0xff are not
// integers.
bool Lenenc(ByteReader* r, uint64_t* v) {
  uint8_t b;
  if (!r->U8(&b)) return false;
  if (b < 0xfb) {
    *v = b;
    return true;
  }
  if (b == 0xfc) {
    uint16_t x;
    if (!r->U16Le(&x)) return false;
    *v = x;
    return true;
  }
  if (b == 0xfd) {
    uint32_t x;
    if (!r->U24Le(&x)) return false;
    *v = x;
    return true;
  }
  if (b == 0xfe) return r->U64Le(v);
  return false;
}

// The SQL of COM_QUERY / COM_STMT_PREPARE. With CLIENT_QUERY_ATTRIBUTES and no attributes the
// text follows a parameter count 0 and a parameter set count 1 (DeepFlow strips the same).
std::string_view QueryText(std::string_view body) {
  if (body.size() >= 2 && body[0] == 0 && body[1] == 1) body.remove_prefix(2);
  return body;
}

// Text that starts a NUL-terminated string, or all of `s` when the NUL is not visible.
std::string_view CString(std::string_view s) { return s.substr(0, s.find('\0')); }

bool IsPrintableName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

void ParseErr(std::string_view p, MysqlParser::Summary* sum) {
  // 0xff, error code (2), ['#' sql state (5)], message.
  sum->error = true;
  sum->error_code = p.size() >= 3 ? U16(p, 1) : 0;
  std::string_view msg = p.size() > 3 ? p.substr(3) : std::string_view();
  if (!msg.empty() && msg[0] == '#' && msg.size() >= 6) msg.remove_prefix(6);
  sum->error_message = sql::Utf8Safe(msg.substr(0, kMaxExceptionBytes));
}

// OK packet (0x00 or 0xfe header): affected rows, last insert id, status flags.
bool ParseOk(std::string_view p, uint64_t* affected, uint16_t* flags) {
  ByteReader r(p.substr(1));
  uint64_t last_id;
  return Lenenc(&r, affected) && Lenenc(&r, &last_id) && r.U16Le(flags);
}

// Status flags of a terminator (EOF: 0xfe warnings(2) flags(2); or an OK with a 0xfe header).
uint16_t TerminatorFlags(std::string_view p, uint32_t len) {
  if (len < 9) return p.size() >= 5 ? U16(p, 3) : 0;
  uint64_t affected;
  uint16_t flags = 0;
  return ParseOk(p, &affected, &flags) ? flags : 0;
}

bool LooksLikeDefinition(std::string_view p) {
  // Column definitions start with the catalog, always the length-encoded string "def".
  static constexpr std::string_view kDef(
      "\x03"
      "def",
      4);
  size_t n = std::min<size_t>(p.size(), kDef.size());
  return n > 0 && p.substr(0, n) == kDef.substr(0, n);
}

ParseResult Ignore(L7Message* out, size_t consumed, uint64_t skip = 0) {
  out->ignore = true;
  return ParseResult::Ok(static_cast<uint32_t>(consumed), skip);
}

bool IsGreeting(std::string_view d, uint32_t* caps) {
  // HandshakeV10: protocol 10, server version (NUL-terminated), thread id (4), auth data (8),
  // filler 0, capabilities (lower 2), [charset, status (2), capabilities (upper 2)].
  if (d.size() < 5 || U8(d, 4) != 10) return false;
  std::string_view p = d.substr(4);
  size_t nul = p.find('\0', 1);
  if (nul == std::string_view::npos || nul < 2 || nul > 65) return false;
  std::string_view version = p.substr(1, nul - 1);
  if (!sql::IsDigit(version[0])) return false;
  for (char c : version) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return false;
  }
  size_t at = nul + 1 + 4 + 8;
  if (p.size() < at + 3 || p[at] != 0) return false;
  uint32_t c = U16(p, at + 1);
  if (!(c & kClientProtocol41)) return false;
  if (p.size() >= at + 8) c |= static_cast<uint32_t>(U16(p, at + 6)) << 16;
  *caps = c;
  return true;
}

// HandshakeResponse41 / SSLRequest prefix checks: CLIENT_PROTOCOL_41 and a zero filler (its last
// 4 bytes carry MariaDB's extended capabilities).
bool IsLoginPrefix(std::string_view p) {
  if (p.size() < 32) return false;
  if (!(U32(p, 0) & kClientProtocol41)) return false;
  for (size_t i = 9; i < 28; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

}  // namespace

std::string_view CommandName(uint8_t command) {
  return command < std::size(kCommandNames) ? kCommandNames[command] : std::string_view();
}

InferResult Infer(const InferInput& in) {
  std::string_view d = in.data;
  if (in.is_udp || d.size() < 5) return InferResult::kNo;
  const uint32_t len = U24(d, 0);
  const uint8_t seq = U8(d, 3);
  if (len == 0) return InferResult::kNo;
  std::string_view payload = d.substr(4, std::min<size_t>(len, d.size() - 4));
  if (in.dir == Direction::kServerToClient) {
    uint32_t caps;
    return seq == 0 && len >= 30 && len <= 1024 && IsGreeting(d, &caps) ? InferResult::kYes
                                                                        : InferResult::kNo;
  }
  if (seq == 1) {
    // HandshakeResponse41 (or the SSLRequest that precedes a TLS session).
    if (len < 32 || len > 4096 || !IsLoginPrefix(payload)) return InferResult::kNo;
    if (len == 32) return (U32(payload, 0) & kClientSsl) ? InferResult::kYes : InferResult::kNo;
    std::string_view rest = payload.substr(32);
    size_t nul = rest.find('\0');
    if (nul == std::string_view::npos || nul > kMaxUserName) return InferResult::kNo;
    return nul == 0 || IsPrintableName(rest.substr(0, nul)) ? InferResult::kYes : InferResult::kNo;
  }
  if (seq != 0) return InferResult::kNo;
  // One whole command packet, or the start of a long one.
  if (d.size() < len + 4 && d.size() < 64) return InferResult::kNo;
  const uint8_t cmd = U8(payload, 0);
  std::string_view body = payload.substr(1);
  if (cmd == kComQuery || cmd == kComStmtPrepare) {
    std::string_view text = QueryText(body);
    for (size_t i = 0; i < std::min<size_t>(text.size(), 64); ++i) {
      if (static_cast<unsigned char>(text[i]) < 0x09) return InferResult::kNo;
    }
    return sql::LooksLikeSql(text) ? InferResult::kYes : InferResult::kNo;
  }
  if (cmd == kComInitDb) {
    if (len < 2 || len > 257 || d.size() != len + 4) return InferResult::kNo;
    for (char c : body) {
      if (!sql::IsIdentChar(c) && c != '-') return InferResult::kNo;
    }
    return InferResult::kYes;
  }
  return InferResult::kNo;
}

ParseResult MysqlParser::Parse(const ParseInput& in, L7Message* out) {
  if (in.is_udp || in.data.empty()) return ParseResult::Invalid();
  return in.dir == Direction::kClientToServer ? ParseClient(in, out) : ParseServer(in, out);
}

void MysqlParser::FillRequestSql(std::string_view sql_text, L7Message* out) {
  std::string text =
      config_->obfuscate_sql ? sql::Obfuscate(sql_text, true, true) : std::string(sql_text);
  out->request_resource = sql::Utf8Safe(text);
  out->endpoint = sql::Endpoint(sql_text);
  TraceHeaderCollector collector(*config_);
  sql::OfferCommentPairs(sql_text, &collector);
  collector.Finish(&out->trace);
}

const MysqlParser::Statement* MysqlParser::FindStatement(uint32_t id) const {
  for (const Statement& s : statements_) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

void MysqlParser::ForgetStatement(uint32_t id) {
  statements_.erase(std::remove_if(statements_.begin(), statements_.end(),
                                   [id](const Statement& s) { return s.id == id; }),
                    statements_.end());
}

void MysqlParser::PushPending(Pending p) {
  if (pending_.size() >= kMaxPending) pending_.pop_front();
  pending_.push_back(std::move(p));
}

ParseResult MysqlParser::IgnorePackets(const ParseInput& in, int stop_seq, L7Message* out) {
  std::string_view d = in.data;
  size_t off = 0;
  while (d.size() - off >= 4) {
    const uint32_t len = U24(d, off);
    if (off > 0 && U8(d, off + 3) == stop_seq) break;
    const size_t avail = std::min<size_t>(len, d.size() - off - 4);
    if (avail < len) return Ignore(out, d.size(), len - avail);
    off += 4 + len;
  }
  if (off == 0) return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  return Ignore(out, off);
}

// ---- Client to server ----------------------------------------------------------------------

ParseResult MysqlParser::ParseClient(const ParseInput& in, L7Message* out) {
  std::string_view d = in.data;
  if (phase_ == Phase::kOpaque) return Ignore(out, d.size());
  if (d.size() < 4) return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  const uint32_t len = U24(d, 0);
  const uint8_t seq = U8(d, 3);
  if (seq == 0 && len == 0) return ParseResult::Invalid();
  if (d.size() < 5) return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  if (seq != 0) {
    if (seq == 1 && len >= 32 && (phase_ == Phase::kUnknown || phase_ == Phase::kGreeted)) {
      return ParseLogin(in, len, out);
    }
    // Auth exchange, the rest of a long command, LOAD DATA LOCAL file contents.
    return IgnorePackets(in, 0, out);
  }
  const uint8_t cmd = U8(d, 4);
  std::string_view name = CommandName(cmd);
  if (name.empty()) return ParseResult::Invalid();
  const size_t avail = std::min<size_t>(len, d.size() - 4);
  const bool complete = avail == len;
  if (!complete && !in.at_limit) return ParseResult::NeedMore();
  std::string_view body = d.substr(5, avail - 1);

  out->is_request = true;
  out->request_type = std::string(name);
  if (greeted_) out->version = "10";
  out->length = 4 + static_cast<int64_t>(len);
  Pending p;
  p.command = cmd;
  bool expects_response = true;
  switch (cmd) {
    case kComQuery:
    case kComStmtPrepare: {
      std::string_view text = QueryText(body);
      FillRequestSql(text, out);
      p.dml = sql::IsDml(text);
      if (cmd == kComStmtPrepare) p.sql = out->request_resource.substr(0, kMaxStatementSql);
      break;
    }
    case kComInitDb:
      out->request_resource = sql::Utf8Safe(body.substr(0, 256));
      break;
    case kComFieldList:
      out->request_resource = sql::Utf8Safe(CString(body).substr(0, 256));
      break;
    case kComChangeUser:
      out->request_resource = sql::Utf8Safe(CString(body).substr(0, kMaxUserName));
      break;
    case kComStmtExecute:
    case kComStmtSendLongData:
    case kComStmtClose:
    case kComStmtReset:
    case kComStmtFetch: {
      if (body.size() < 4) return ParseResult::Invalid();
      const uint32_t id = U32(body, 0);
      out->has_request_id = true;
      out->request_id = id;
      if (const Statement* s = FindStatement(id)) {
        out->request_resource = s->sql;
        out->endpoint = sql::Endpoint(s->sql);
        p.dml = s->dml;
      }
      if (cmd == kComStmtClose) ForgetStatement(id);
      expects_response = cmd != kComStmtClose && cmd != kComStmtSendLongData;
      break;
    }
    case kComQuit:
      expects_response = false;
      break;
    default:
      break;
  }
  out->expects_response = expects_response;
  if (expects_response) PushPending(std::move(p));
  phase_ = cmd == kComChangeUser ? Phase::kAuth : Phase::kCommand;
  if (complete) return ParseResult::Ok(4 + len);
  return ParseResult::Ok(static_cast<uint32_t>(d.size()), 4 + len - d.size());
}

ParseResult MysqlParser::ParseLogin(const ParseInput& in, uint32_t len, L7Message* out) {
  std::string_view d = in.data;
  const size_t avail = std::min<size_t>(len, d.size() - 4);
  const bool complete = avail == len;
  if (!complete && !in.at_limit) return ParseResult::NeedMore();
  const size_t consumed = complete ? 4 + len : d.size();
  const uint64_t skip = complete ? 0 : 4 + len - d.size();
  std::string_view p = d.substr(4, avail);
  if (!IsLoginPrefix(p)) return IgnorePackets(in, 0, out);
  const uint32_t caps = U32(p, 0);
  client_caps_ = caps;
  caps_known_ = true;
  if (len == 32) {
    // SSLRequest: the rest of the connection is TLS, opaque to us.
    if (caps & kClientSsl) phase_ = Phase::kOpaque;
    return Ignore(out, consumed, skip);
  }
  ByteReader r(p.substr(32));
  std::string_view user;
  if (!r.Until('\0', &user)) user = r.rest();
  user = user.substr(0, kMaxUserName);
  std::string_view db;
  bool auth_ok = true;
  if (caps & kClientPluginAuthLenencData) {
    uint64_t n = 0;
    auth_ok = Lenenc(&r, &n) && r.Skip(n);
  } else if (caps & kClientSecureConnection) {
    uint8_t n = 0;
    auth_ok = r.U8(&n) && r.Skip(n);
  } else {
    std::string_view unused;
    auth_ok = r.Until('\0', &unused);
  }
  if (auth_ok && (caps & kClientConnectWithDb)) {
    if (!r.Until('\0', &db)) db = r.rest();
    db = db.substr(0, 256);
  }
  out->is_request = true;
  out->request_type = "Login";
  if (greeted_) out->version = "10";
  out->request_resource = "Login username: " + sql::Utf8Safe(user);
  if (!db.empty()) out->request_resource += " db: " + sql::Utf8Safe(db);
  out->length = 4 + static_cast<int64_t>(len);
  Pending pending;
  pending.command = kLogin;
  PushPending(std::move(pending));
  phase_ = Phase::kAuth;
  return ParseResult::Ok(static_cast<uint32_t>(consumed), skip);
}

// ---- Server to client ----------------------------------------------------------------------

ParseResult MysqlParser::ParseServer(const ParseInput& in, L7Message* out) {
  std::string_view d = in.data;
  if (phase_ == Phase::kOpaque) return Ignore(out, d.size());
  if (continuing_) return Continue(in, out);
  if (d.size() < 5) return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  const uint32_t len = U24(d, 0);
  const uint8_t seq = U8(d, 3);
  const uint8_t first = U8(d, 4);
  if (len == 0) return Ignore(out, 4);
  if (seq == 0) {
    uint32_t caps;
    const size_t avail = std::min<size_t>(len, d.size() - 4);
    if ((first == 10 || first == 0xff) && avail < len && !in.at_limit) {
      return ParseResult::NeedMore();
    }
    if (first == 10 && IsGreeting(d, &caps)) {
      greeted_ = true;
      server_caps_ = caps;
      phase_ = Phase::kGreeted;
      return avail == len ? Ignore(out, 4 + len) : Ignore(out, d.size(), len - avail);
    }
    if (first == 0xff) {
      // The server refuses the connection instead of greeting (too many connections, ...).
      Summary sum;
      ParseErr(d.substr(4, avail), &sum);
      FillResponse(sum, 0, false, 4 + len, out);
      return avail == len ? ParseResult::Ok(4 + len)
                          : ParseResult::Ok(static_cast<uint32_t>(d.size()), len - avail);
    }
    return IgnorePackets(in, 1, out);
  }
  const bool auth_pending = !pending_.empty() && (pending_.front().command == kLogin ||
                                                  pending_.front().command == kComChangeUser);
  if (phase_ == Phase::kAuth || auth_pending) return ParseAuthResult(in, out);
  if (seq != 1) return IgnorePackets(in, 1, out);
  return ParseResponseStart(in, out);
}

ParseResult MysqlParser::ParseAuthResult(const ParseInput& in, L7Message* out) {
  std::string_view d = in.data;
  const uint32_t len = U24(d, 0);
  const uint8_t first = U8(d, 4);
  const size_t avail = std::min<size_t>(len, d.size() - 4);
  if (first != 0x00 && first != 0xff) {
    // AuthSwitchRequest (0xfe), AuthMoreData (0x01): the exchange goes on.
    return avail == len ? Ignore(out, 4 + len) : Ignore(out, d.size(), len - avail);
  }
  if (avail < len && !in.at_limit) return ParseResult::NeedMore();
  Summary sum;
  if (first == 0xff) {
    ParseErr(d.substr(4, avail), &sum);
  } else {
    sum.ok_seen = true;
  }
  uint8_t command = kLogin;
  if (!pending_.empty() &&
      (pending_.front().command == kLogin || pending_.front().command == kComChangeUser)) {
    command = pending_.front().command;
    pending_.pop_front();
  }
  // Compression applies after the handshake: the packets that follow are zlib frames we do not
  // decode (see README, gaps).
  const bool compressed = caps_known_ && (client_caps_ & server_caps_ & kClientCompress);
  phase_ = compressed && first == 0x00 ? Phase::kOpaque : Phase::kCommand;
  FillResponse(sum, command, false, 4 + len, out);
  return avail == len ? ParseResult::Ok(4 + len)
                      : ParseResult::Ok(static_cast<uint32_t>(d.size()), len - avail);
}

ParseResult MysqlParser::ParseResponseStart(const ParseInput& in, L7Message* out) {
  Walk w;
  w.command = pending_.empty() ? 0 : pending_.front().command;
  Summary sum;
  WalkOutcome o = RunWalk(in.data, in.at_limit, &w, &sum);
  if (o.invalid) return ParseResult::Invalid();
  // A packet cut by the end of the bytes: more can come before the bound, wait for it.
  if (o.skip > 0 && !in.at_limit) return ParseResult::NeedMore();
  bool done = o.done;
  if (!done && !in.at_limit) {
    if (!(o.complete_if_no_more && o.consumed == in.data.size())) return ParseResult::NeedMore();
    done = true;
  }
  if (o.consumed == 0) return ParseResult::Invalid();
  Pending p;
  if (!pending_.empty()) {
    p = std::move(pending_.front());
    pending_.pop_front();
  }
  if (!done) {
    continuing_ = true;
    cont_ = w;
  }
  if (sum.has_statement_id && p.command == kComStmtPrepare && !sum.error) {
    ForgetStatement(sum.statement_id);
    if (statements_.size() >= kMaxStatements) statements_.erase(statements_.begin());
    statements_.push_back(Statement{sum.statement_id, p.dml, std::move(p.sql)});
  }
  FillResponse(sum, p.command, p.dml, done ? o.consumed + o.skip : 0, out);
  if (!done) out->length = -1;
  return ParseResult::Ok(o.consumed, o.skip);
}

ParseResult MysqlParser::Continue(const ParseInput& in, L7Message* out) {
  Walk w = cont_;
  Summary scratch;
  WalkOutcome o = RunWalk(in.data, in.at_limit, &w, &scratch);
  if (o.invalid || (o.done && o.consumed == 0)) {
    // What follows is not part of the result set: parse it as a new message.
    continuing_ = false;
    return ParseServer(in, out);
  }
  if (o.done) {
    continuing_ = false;
    return Ignore(out, o.consumed, o.skip);
  }
  if (o.consumed == 0) return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  cont_ = w;
  return Ignore(out, o.consumed, o.skip);
}

void MysqlParser::FillResponse(const Summary& sum, uint8_t command, bool dml, uint64_t length,
                               L7Message* out) const {
  out->is_request = false;
  if (greeted_) out->version = "10";
  out->length = static_cast<int64_t>(length);
  if (sum.error) {
    out->has_code = true;
    out->code = sum.error_code;
    out->exception = sum.error_message;
    out->status = sum.error_code >= 2000 && sum.error_code <= 2999 ? L7ResponseStatus::kClientError
                                                                   : L7ResponseStatus::kServerError;
  } else {
    out->status = L7ResponseStatus::kOk;
    if (sum.ok_seen && dml && (command == kComQuery || command == kComStmtExecute)) {
      out->has_affected_rows = true;
      out->affected_rows = sum.affected_rows;
    }
  }
  if (sum.has_statement_id) {
    out->has_request_id = true;
    out->request_id = sum.statement_id;
  }
}

// ---- Response walking ----------------------------------------------------------------------

MysqlParser::WalkOutcome MysqlParser::RunWalk(std::string_view data, bool at_limit, Walk* w,
                                              Summary* sum) const {
  WalkOutcome o;
  size_t off = 0;
  while (data.size() - off >= 4) {
    const uint32_t len = U24(data, off);
    const uint8_t seq = U8(data, off + 3);
    const size_t avail = std::min<size_t>(len, data.size() - off - 4);
    const bool complete = avail == len;
    // With nothing consumed yet and no more bytes to come, decide on what is visible.
    const bool force = at_limit && off == 0;
    const Walk before = *w;
    StepResult r = Step(w, seq, len, data.substr(off + 4, avail), complete || force, sum);
    switch (r) {
      case StepResult::kInvalid:
        *w = before;
        o.consumed = static_cast<uint32_t>(off);
        if (off == 0) {
          o.invalid = true;
        } else {
          o.done = true;
        }
        return o;
      case StepResult::kForeign:
        *w = before;
        o.consumed = static_cast<uint32_t>(off);
        o.done = true;
        return o;
      case StepResult::kUnclear:
        *w = before;
        o.consumed = static_cast<uint32_t>(off);
        return o;
      case StepResult::kContinue:
        if (complete) {
          off += 4 + len;
          continue;
        }
        o.consumed = static_cast<uint32_t>(data.size());
        o.skip = len - avail;
        return o;
      case StepResult::kEnd:
        o.done = true;
        if (complete) {
          o.consumed = static_cast<uint32_t>(off + 4 + len);
        } else {
          o.consumed = static_cast<uint32_t>(data.size());
          o.skip = len - avail;
        }
        return o;
    }
  }
  o.consumed = static_cast<uint32_t>(off);
  // COM_STMT_PREPARE_OK's last definitions seen: an EOF follows only without
  // CLIENT_DEPRECATE_EOF, which we may not know (no handshake seen). Ending here is right in
  // both cases: a late EOF arrives with a sequence id ≠ 1 and is ignored.
  const bool last_defs =
      w->defs_left == 0 && (w->phase == Walk::Phase::kPrepColumns ||
                            (w->phase == Walk::Phase::kPrepParams && w->prep_columns == 0));
  o.complete_if_no_more = last_defs && !(caps_known_ && !DeprecateEof());
  return o;
}

MysqlParser::StepResult MysqlParser::Step(Walk* w, uint8_t seq, uint32_t len, std::string_view p,
                                          bool full, Summary* sum) const {
  if (w->seq_known && seq != w->next_seq) return StepResult::kForeign;
  const bool continuation = w->long_packet;
  if (!continuation && p.empty()) {
    if (len == 0) {
      // An empty packet only ends a run of 0xffffff-byte packets.
      return w->phase == Walk::Phase::kFirst ? StepResult::kInvalid : StepResult::kForeign;
    }
    return full ? StepResult::kInvalid : StepResult::kUnclear;
  }
  w->seq_known = true;
  w->next_seq = static_cast<uint8_t>(seq + 1);
  w->long_packet = len == kMaxPacket;
  if (continuation) return StepResult::kContinue;
  const uint8_t first = U8(p, 0);
  using Phase = Walk::Phase;

  auto advance_prepare = [&]() {
    if (w->phase == Phase::kPrepParams && w->prep_columns > 0) {
      w->phase = Phase::kPrepColumns;
      w->defs_left = w->prep_columns;
      return StepResult::kContinue;
    }
    return StepResult::kEnd;
  };
  auto rows = [&]() {
    if (first == 0xff) {
      ParseErr(p, sum);
      return StepResult::kEnd;
    }
    if (first == 0xfe && len < kMaxPacket) {
      if (!full) return StepResult::kUnclear;
      if (TerminatorFlags(p, len) & kServerMoreResultsExist) {
        w->phase = Phase::kFirst;
        return StepResult::kContinue;
      }
      return StepResult::kEnd;
    }
    return StepResult::kContinue;
  };

  switch (w->phase) {
    case Phase::kFirst: {
      if (first == 0xff) {
        ParseErr(p, sum);
        return StepResult::kEnd;
      }
      if (first == 0x00 && w->command == kComStmtPrepare && len >= 12) {
        // COM_STMT_PREPARE_OK: 0x00, statement id (4), columns (2), params (2), 0, warnings (2).
        if (p.size() < 12) return full ? StepResult::kInvalid : StepResult::kUnclear;
        sum->ok_seen = true;
        sum->has_statement_id = true;
        sum->statement_id = U32(p, 1);
        w->prep_columns = U16(p, 5);
        const uint16_t params = U16(p, 7);
        if (params > 0) {
          w->phase = Phase::kPrepParams;
          w->defs_left = params;
          return StepResult::kContinue;
        }
        w->phase = Phase::kPrepParams;
        w->defs_left = 0;
        return advance_prepare();
      }
      if (first == 0x00) {
        if (!full) return StepResult::kUnclear;
        uint64_t affected = 0;
        uint16_t flags = 0;
        if (!ParseOk(p, &affected, &flags) && len < 7) return StepResult::kInvalid;
        if (!sum->ok_seen && !sum->error) {
          sum->ok_seen = true;
          sum->affected_rows = affected;
        }
        return (flags & kServerMoreResultsExist) ? StepResult::kContinue : StepResult::kEnd;
      }
      if (first == 0xfe) {
        if (len < 9 && !full && p.size() < 5) return StepResult::kUnclear;
        if (len < 9 && (TerminatorFlags(p, len) & kServerMoreResultsExist)) {
          return StepResult::kContinue;
        }
        return StepResult::kEnd;
      }
      if (first == 0xfb) return StepResult::kEnd;  // LOCAL INFILE request: the client sends a file
      switch (w->command) {
        case kComFieldList:
          w->phase = Phase::kFieldList;
          return StepResult::kContinue;
        case kComStmtFetch:
          w->phase = Phase::kRows;
          return StepResult::kContinue;
        case 0:
        case kComQuery:
        case kComStmtExecute:
          break;
        default:
          return StepResult::kEnd;  // COM_STATISTICS text, or a reply we do not model
      }
      // Column count (length-encoded), then MariaDB's optional metadata-follows byte.
      if (len > 10) return StepResult::kInvalid;
      if (!full) return StepResult::kUnclear;
      ByteReader r(p);
      uint64_t columns = 0;
      if (!Lenenc(&r, &columns) || columns == 0 || columns > kMaxColumns) {
        return StepResult::kInvalid;
      }
      w->phase = Phase::kDefs;
      w->defs_left = static_cast<uint32_t>(columns);
      return StepResult::kContinue;
    }
    case Phase::kDefs:
      if (first == 0xfe && len < 9) {
        w->phase = Phase::kRows;
        return StepResult::kContinue;
      }
      if (w->defs_left > 0 && LooksLikeDefinition(p)) {
        --w->defs_left;
        return StepResult::kContinue;
      }
      w->phase = Phase::kRows;  // CLIENT_DEPRECATE_EOF, or metadata skipped (MariaDB cache)
      return rows();
    case Phase::kRows:
      return rows();
    case Phase::kPrepParams:
    case Phase::kPrepColumns:
      if (first == 0xfe && len < 9) return advance_prepare();
      if (first == 0xff) {
        ParseErr(p, sum);
        return StepResult::kEnd;
      }
      if (w->defs_left > 0) {
        --w->defs_left;
        if (w->defs_left == 0 && DeprecateEof()) return advance_prepare();
        return StepResult::kContinue;
      }
      if (w->phase == Phase::kPrepParams && w->prep_columns > 0) {
        // No EOF after the parameters: this is the first column definition.
        w->phase = Phase::kPrepColumns;
        w->defs_left = w->prep_columns - 1;
        return w->defs_left == 0 && DeprecateEof() ? StepResult::kEnd : StepResult::kContinue;
      }
      return StepResult::kForeign;
    case Phase::kFieldList:
      if (first == 0xfe && len < 9) return StepResult::kEnd;
      if (first == 0xff) {
        ParseErr(p, sum);
        return StepResult::kEnd;
      }
      return StepResult::kContinue;
  }
  return StepResult::kInvalid;
}

// ---- Resynchronisation ---------------------------------------------------------------------

size_t MysqlParser::FindBoundary(Direction dir, std::string_view data) {
  if (dir == Direction::kServerToClient) {
    // Whatever was being walked is lost, and so may be the answers to pending commands.
    continuing_ = false;
    pending_.clear();
  }
  if (phase_ == Phase::kOpaque) return 0;
  for (size_t i = 0; i + 5 <= data.size(); ++i) {
    const uint32_t len = U24(data, i);
    const uint8_t seq = U8(data, i + 3);
    const uint8_t first = U8(data, i + 4);
    if (len == 0) continue;
    if (dir == Direction::kClientToServer) {
      if (seq != 0) continue;
      switch (first) {
        case kComQuit:
        case kComPing:
        case kComStatistics:
        case kComResetConnection:
          if (len == 1) return i;
          break;
        case kComStmtClose:
        case kComStmtReset:
          if (len == 5) return i;
          break;
        case kComStmtFetch:
          if (len == 9) return i;
          break;
        case kComStmtExecute:
          if (len >= 10) return i;
          break;
        case kComInitDb:
          if (len >= 2 && len <= 257) return i;
          break;
        case kComQuery:
        case kComStmtPrepare:
          if (sql::LooksLikeSql(QueryText(data.substr(i + 5, len - 1)))) return i;
          break;
        default:
          break;
      }
      continue;
    }
    if (seq != 1) continue;
    if (first == 0x00 && len >= 7 && len < 0x10000) return i;
    if (first == 0xff && len >= 3 && len < 0x10000 && i + 7 <= data.size() &&
        U16(data, i + 5) >= 1000) {
      return i;
    }
    if (first >= 1 && first <= 250 && len <= 2) {
      // A column count: the first definition follows with sequence id 2.
      const size_t next = i + 4 + len;
      if (next + 4 <= data.size() && U8(data, next + 3) != 2) continue;
      return i;
    }
  }
  return data.size();
}

namespace {
std::unique_ptr<Parser> MakeParser(const L7Config& config) {
  return std::make_unique<MysqlParser>(config);
}
}  // namespace

const ProtocolSpec kSpec = {
    .id = L7Protocol::kMysql,
    .name = "mysql",
    .over_tcp = true,
    .over_udp = false,
    .default_ports = {3306},
    .infer = &Infer,
    .make_parser = &MakeParser,
};

}  // namespace flowscope::agent::l7::mysql
