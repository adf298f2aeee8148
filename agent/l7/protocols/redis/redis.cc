#include "agent/l7/protocols/redis/redis.h"

#include <algorithm>
#include <array>
#include <initializer_list>

#include "agent/l7/text.h"

namespace flowscope::agent::l7::redis {
namespace {

enum class Scan : uint8_t { kOk, kMore, kBad };

int Dir(Direction d) { return static_cast<int>(d); }

// "<integer>\r\n" at data[pos..] (RESP lengths and counts): at most 18 digits, optional '-'.
Scan ReadInt(std::string_view d, size_t pos, int64_t* value, size_t* next) {
  size_t i = pos;
  bool neg = false;
  if (i < d.size() && d[i] == '-') {
    neg = true;
    ++i;
  }
  int64_t v = 0;
  size_t digits = 0;
  for (;; ++i) {
    if (i >= d.size()) return Scan::kMore;
    const char c = d[i];
    if (c >= '0' && c <= '9') {
      if (++digits > 18) return Scan::kBad;
      v = v * 10 + (c - '0');
      continue;
    }
    if (c != '\r' || digits == 0) return Scan::kBad;
    if (i + 1 >= d.size()) return Scan::kMore;
    if (d[i + 1] != '\n') return Scan::kBad;
    *value = neg ? -v : v;
    *next = i + 2;
    return Scan::kOk;
  }
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The content of a one-line element of type `t` (without the type byte and CRLF).
bool ValidLine(char t, std::string_view s) {
  switch (t) {
    case '+':
    case '-':
      return true;
    case ':':
    case '(': {
      if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
      if (s.empty() || s.size() > 400) return false;
      return std::all_of(s.begin(), s.end(), IsDigit);
    }
    case '_':
      return s.empty();
    case '#':
      return s == "t" || s == "f";
    case ',':
      if (s.empty() || s.size() > 64) return false;
      return std::all_of(s.begin(), s.end(), [](char c) {
        return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
               c == '+' || c == '-';
      });
    default:
      return false;
  }
}

// The end of a line element starting at `pos` (its type byte): the offset after its CRLF.
Scan ReadLine(std::string_view d, size_t pos, size_t* next) {
  for (size_t i = pos + 1; i < d.size(); ++i) {
    if (d[i] == '\n') return Scan::kBad;
    if (d[i] != '\r') continue;
    if (i + 1 >= d.size()) return Scan::kMore;
    if (d[i + 1] != '\n') return Scan::kBad;
    if (!ValidLine(d[pos], d.substr(pos + 1, i - pos - 1))) return Scan::kBad;
    *next = i + 2;
    return Scan::kOk;
  }
  return Scan::kMore;
}

bool IsLineType(char c) {
  return c == '+' || c == '-' || c == ':' || c == '_' || c == '#' || c == ',' || c == '(';
}
bool IsBulkType(char c) { return c == '$' || c == '!' || c == '='; }
bool IsAggregateType(char c) { return c == '*' || c == '~' || c == '>' || c == '%' || c == '|'; }
bool IsType(char c) { return IsLineType(c) || IsBulkType(c) || IsAggregateType(c); }

// Outcome of walking RESP values.
struct Walk {
  Scan state = Scan::kBad;
  size_t end = 0;          // kOk: offset after the value
  size_t safe = 0;         // kMore: where a later call can resume (the start of an unseen element)
  uint64_t skip = 0;       // kMore: bytes of a cut bulk string still to come after data's end
  RedisParser::Open open;  // kMore: aggregates still open after `safe` + `skip`
};

// Completes one element: closes the aggregates it completes. True when the value is done.
bool Complete(RedisParser::Open* o) {
  while (o->depth > 0) {
    if (--o->left[o->depth - 1] > 0) return false;
    --o->depth;
  }
  return true;
}

// Walks elements from `pos` until the value open in `open` (or, if none, one fresh value) is
// complete. Every length and count is checked against the bounds; nothing is allocated.
Walk WalkValue(std::string_view d, size_t pos, RedisParser::Open open) {
  Walk w;
  for (;;) {
    const size_t start = pos;
    if (pos >= d.size()) {
      w.state = Scan::kMore;
      w.safe = start;
      w.open = open;
      return w;
    }
    const char t = d[pos];
    if (IsLineType(t)) {
      const Scan s = ReadLine(d, pos, &pos);
      if (s != Scan::kOk) {
        w.state = s;
        w.safe = start;
        w.open = open;
        return w;
      }
    } else if (IsBulkType(t)) {
      int64_t len = 0;
      const Scan s = ReadInt(d, pos + 1, &len, &pos);
      if (s != Scan::kOk) {
        w.state = s;
        w.safe = start;
        w.open = open;
        return w;
      }
      if (len == -1 && t == '$') {
        // RESP2 null bulk string.
      } else if (len < 0 || len > kMaxBulkLength) {
        w.state = Scan::kBad;
        return w;
      } else {
        const uint64_t body_end = pos + static_cast<uint64_t>(len);  // CRLF follows
        if (body_end + 2 <= d.size()) {
          if (d[body_end] != '\r' || d[body_end + 1] != '\n') {
            w.state = Scan::kBad;
            return w;
          }
          pos = body_end + 2;
        } else {
          // Cut: the rest of the body is skipped; the value may go on after it.
          if (body_end < d.size() && d[body_end] != '\r') {
            w.state = Scan::kBad;
            return w;
          }
          w.state = Scan::kMore;
          w.safe = d.size();
          w.skip = body_end + 2 - d.size();
          Complete(&open);
          w.open = open;
          return w;
        }
      }
    } else if (IsAggregateType(t)) {
      int64_t count = 0;
      const Scan s = ReadInt(d, pos + 1, &count, &pos);
      if (s != Scan::kOk) {
        w.state = s;
        w.safe = start;
        w.open = open;
        return w;
      }
      if (count == -1 && t == '*') {
        // RESP2 null array.
      } else if (count < 0 || count > kMaxElements) {
        w.state = Scan::kBad;
        return w;
      } else if (count > 0) {
        if (open.depth >= kMaxDepth) {
          w.state = Scan::kBad;
          return w;
        }
        // A map has key and value per entry; an attribute also owns the value after it.
        int64_t n = count;
        if (t == '%') n = 2 * count;
        if (t == '|') n = 2 * count + 1;
        open.left[open.depth++] = n;
        continue;
      }
    } else {
      w.state = Scan::kBad;
      return w;
    }
    if (Complete(&open)) {
      w.state = Scan::kOk;
      w.end = pos;
      return w;
    }
  }
}

std::string_view TypeName(std::string_view d) {
  switch (d[0]) {
    case '+':
      return "SimpleString";
    case '-':
      return "Error";
    case ':':
      return "Integer";
    case '$':
      return d.substr(0, 3) == "$-1" ? "NullBulkString" : "BulkString";
    case '*':
      return d.substr(0, 3) == "*-1" ? "NullArray" : "Array";
    case '_':
      return "Null";
    case '#':
      return "Boolean";
    case ',':
      return "Double";
    case '(':
      return "BigNumber";
    case '!':
      return "BulkError";
    case '=':
      return "VerbatimString";
    case '%':
      return "Map";
    case '~':
      return "Set";
    case '>':
      return "Push";
    case '|':
      return "Attribute";
    default:
      return "";
  }
}

// Text of an error reply ('-' line or '!' bulk error), what of it is visible, bounded.
std::string_view ErrorText(std::string_view d) {
  std::string_view text;
  if (d[0] == '-') {
    text = d.substr(1);
  } else {
    int64_t len = 0;
    size_t body = 0;
    if (ReadInt(d, 1, &len, &body) != Scan::kOk || len < 0) return {};
    text = d.substr(body, static_cast<size_t>(std::min<int64_t>(len, d.size() - body)));
  }
  text = text.substr(0, text.find('\r'));
  return text.substr(0, kMaxExceptionBytes);
}

std::string UpperCommand(std::string_view cmd) {
  std::string s(cmd.substr(0, 64));
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  }
  return s;
}

void FillRequest(const std::string_view* args, size_t n, bool obfuscate, L7Message* out) {
  out->is_request = true;
  if (n == 0) return;
  AppendUtf8Lossy(&out->request_type, UpperCommand(args[0]));
  out->request_resource = CommandLine(args, n, obfuscate);
}

bool IsCommandChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '_' || c == '-' ||
         c == '.' || c == '|';
}

// Inline commands accepted by inference: upper case, common ones only (an inline line is
// plain text, and plain text is what many protocols send).
bool IsInlineInferCommand(std::string_view cmd) {
  static constexpr std::string_view kCommands[] = {
      "PING",    "INFO",      "GET",    "SET",   "DEL",    "EXISTS",   "INCR",
      "DECR",    "KEYS",      "MGET",   "MSET",  "HGET",   "HSET",     "HGETALL",
      "LPUSH",   "RPUSH",     "LPOP",   "RPOP",  "LRANGE", "SADD",     "SMEMBERS",
      "ZADD",    "ZRANGE",    "EXPIRE", "TTL",   "DBSIZE", "FLUSHALL", "FLUSHDB",
      "PUBLISH", "SUBSCRIBE", "CONFIG", "HELLO", "SCAN",   "SELECT",   "ECHO"};
  return std::find(std::begin(kCommands), std::end(kCommands), cmd) != std::end(kCommands);
}

// Splits an inline command line on blanks into at most kMaxArgs arguments.
size_t SplitInline(std::string_view line, std::string_view* args) {
  size_t n = 0;
  size_t i = 0;
  while (i < line.size() && n < kMaxArgs) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t b = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > b) args[n++] = line.substr(b, i - b);
  }
  return n;
}

bool PrintableLine(std::string_view line) {
  return std::all_of(line.begin(), line.end(),
                     [](char c) { return c == '\t' || static_cast<unsigned char>(c) >= 0x20; }) &&
         line.find('\x7f') == std::string_view::npos;
}

InferResult Infer(const InferInput& in) {
  if (in.is_udp || in.dir != Direction::kClientToServer || in.data.empty()) {
    return InferResult::kNo;
  }
  const std::string_view d = in.data;
  if (d[0] == '*') {
    int64_t count = 0;
    size_t pos = 0;
    if (ReadInt(d, 1, &count, &pos) != Scan::kOk || count < 1 || count > (1 << 20)) {
      return InferResult::kNo;
    }
    // The command: a complete short bulk string of command characters.
    int64_t len = 0;
    if (pos >= d.size() || d[pos] != '$' || ReadInt(d, pos + 1, &len, &pos) != Scan::kOk ||
        len < 1 || len > 64 || pos + len + 2 > d.size()) {
      return InferResult::kNo;
    }
    const std::string_view cmd = d.substr(pos, static_cast<size_t>(len));
    if (!std::all_of(cmd.begin(), cmd.end(), IsCommandChar) ||
        !((cmd[0] >= 'A' && cmd[0] <= 'Z') || (cmd[0] >= 'a' && cmd[0] <= 'z')) ||
        d.substr(pos + len, 2) != "\r\n") {
      return InferResult::kNo;
    }
    pos += len + 2;
    // The visible rest must be well-formed bulk strings too.
    for (int64_t i = 1; i < count && pos < d.size(); ++i) {
      if (d[pos] != '$') return InferResult::kNo;
      const Scan s = ReadInt(d, pos + 1, &len, &pos);
      if (s == Scan::kMore) break;
      if (s == Scan::kBad || len < 0 || len > kMaxBulkLength) return InferResult::kNo;
      if (pos + static_cast<uint64_t>(len) + 2 > d.size()) break;
      if (d.substr(pos + len, 2) != "\r\n") return InferResult::kNo;
      pos += len + 2;
    }
    return InferResult::kYes;
  }
  // Inline command ("PING\r\n").
  const size_t eol = d.find('\n');
  if (eol == std::string_view::npos || eol > 1024) return InferResult::kNo;
  std::string_view line = d.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!PrintableLine(line) || line.find(" HTTP/") != std::string_view::npos) {
    return InferResult::kNo;
  }
  std::array<std::string_view, kMaxArgs> args;
  const size_t n = SplitInline(line, args.data());
  if (n == 0 || !IsInlineInferCommand(args[0])) return InferResult::kNo;
  if (n > 1 && args[1][0] == '/') return InferResult::kNo;  // "GET /path": HTTP/0.9
  return InferResult::kYes;
}

std::unique_ptr<Parser> MakeParser(const L7Config& config) {
  return std::make_unique<RedisParser>(config);
}

// Appends `s` after a space (DeepFlow skips empty arguments, space included).
void Append(std::string* out, std::string_view s) {
  if (s.empty()) return;
  if (!out->empty()) out->push_back(' ');
  AppendUtf8Lossy(out, s);
}

void AppendQ(std::string* out) {
  if (!out->empty()) out->push_back(' ');
  out->push_back('?');
}

}  // namespace

std::string CommandLine(const std::string_view* args, size_t n, bool obfuscate) {
  std::string out;
  if (n == 0) return out;
  size_t total = n;
  for (size_t i = 0; i < n; ++i) total += args[i].size();
  out.reserve(total);
  const std::string cmd = UpperCommand(args[0]);
  if (!obfuscate || args[0].size() > 17) {
    for (size_t i = 0; i < n; ++i) Append(&out, args[i]);
    return out;
  }
  AppendUtf8Lossy(&out, args[0]);
  const std::string_view* a = args + 1;  // arguments after the command
  const size_t m = n - 1;
  auto is = [&cmd](std::initializer_list<std::string_view> names) {
    return std::find(names.begin(), names.end(), std::string_view(cmd)) != names.end();
  };
  // Every argument from `from`; the i-th of them (counted from `from`) replaced when `hide(i)`.
  auto rest = [&](size_t from, auto hide) {
    for (size_t i = from; i < m; ++i) {
      if (hide(i - from)) {
        AppendQ(&out);
      } else {
        Append(&out, a[i]);
      }
    }
  };
  auto nth = [&](size_t k) { rest(0, [k](size_t i) { return i == k; }); };
  auto every = [&](size_t from, size_t k) {
    rest(from, [k](size_t i) { return (i + 1) % k == 0; });
  };

  if (cmd == "AUTH") {
    if (m > 0) AppendQ(&out);
  } else if (cmd == "HELLO") {
    for (size_t i = 0; i < m; ++i) {
      Append(&out, a[i]);
      if (EqualsIgnoreCase(a[i], "AUTH")) {
        if (i + 1 < m) AppendQ(&out);
        break;
      }
    }
  } else if (is({"APPEND", "GETSET", "LPUSHX", "GEORADIUSBYMEMBER", "RPUSHX", "SET", "SETNX",
                 "SISMEMBER", "ZRANK", "ZREVRANK", "ZSCORE"})) {
    nth(1);
  } else if (is({"HSETNX", "LREM", "LSET", "SETBIT", "SETEX", "PSETEX", "SETRANGE", "ZINCRBY",
                 "SMOVE", "RESTORE"})) {
    nth(2);
  } else if (cmd == "LINSERT") {
    nth(3);
  } else if (is({"GEOHASH", "GEOPOS", "GEODIST", "LPUSH", "RPUSH", "SREM", "ZREM", "SADD"})) {
    if (m > 0) {
      Append(&out, a[0]);
      if (m > 1) AppendQ(&out);
    }
  } else if (cmd == "GEOADD") {
    if (m > 0) {
      Append(&out, a[0]);
      every(1, 3);
    }
  } else if (cmd == "HSET" || cmd == "HMSET") {
    if (m > 0) {
      Append(&out, a[0]);
      every(1, 2);
    }
  } else if (cmd == "MSET" || cmd == "MSETNX") {
    every(0, 2);
  } else if (cmd == "CONFIG") {
    for (size_t i = 0; i < m; ++i) {
      Append(&out, a[i]);
      if (EqualsIgnoreCase(a[i], "SET")) {
        every(i + 1, 2);
        break;
      }
    }
  } else if (cmd == "BITFIELD") {
    int after_set = -1;
    for (size_t i = 0; i < m; ++i) {
      if (after_set >= 0 && ++after_set == 3) {
        AppendQ(&out);
        after_set = -1;
      } else {
        Append(&out, a[i]);
      }
      if (EqualsIgnoreCase(a[i], "SET")) after_set = 0;
    }
  } else if (cmd == "ZADD") {
    if (m > 0) {
      Append(&out, a[0]);
      size_t i = 1;
      // Options, then the first score (written as it is: DeepFlow keeps the argument that
      // ends the options), then its member hidden, then every second one.
      while (i < m) {
        const std::string_view opt = a[i++];
        Append(&out, opt);
        const std::string up = UpperCommand(opt);
        if (opt.size() > 4 ||
            !(up == "NX" || up == "XX" || up == "GT" || up == "LT" || up == "CH" || up == "INCR")) {
          break;
        }
      }
      if (i < m) {
        AppendQ(&out);
        ++i;
      }
      every(i, 2);
    }
  } else {
    rest(0, [](size_t) { return false; });
  }
  return out;
}

ParseResult RedisParser::Parse(const ParseInput& in, L7Message* out) {
  if (open_[Dir(in.dir)].depth > 0) return Continue(in, out);
  if (in.data.empty()) return ParseResult::NeedMore();
  if (in.dir == Direction::kClientToServer) {
    return in.data[0] == '*' ? ParseRequest(in, out) : ParseInline(in, out);
  }
  return ParseReply(in, out);
}

ParseResult RedisParser::Continue(const ParseInput& in, L7Message* out) {
  Open& open = open_[Dir(in.dir)];
  const Walk w = WalkValue(in.data, 0, open);
  out->ignore = true;
  out->is_request = in.dir == Direction::kClientToServer;
  if (w.state == Scan::kOk) {
    open = {};
    return ParseResult::Ok(static_cast<uint32_t>(w.end));
  }
  if (w.state == Scan::kBad) {
    open = {};
    return ParseResult::Invalid();
  }
  if (!in.at_limit) return ParseResult::NeedMore();
  if (w.safe == 0 && w.skip == 0) {
    // One element longer than the bound (a huge simple string): resynchronise after it.
    open = {};
    return ParseResult::Ok(static_cast<uint32_t>(in.data.size()), kSkipToBoundary);
  }
  open = w.open;
  return ParseResult::Ok(static_cast<uint32_t>(w.safe), w.skip);
}

ParseResult RedisParser::ParseRequest(const ParseInput& in, L7Message* out) {
  const std::string_view d = in.data;
  int64_t count = 0;
  size_t pos = 0;
  const Scan hs = ReadInt(d, 1, &count, &pos);
  if (hs == Scan::kMore) return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  if (hs == Scan::kBad || count < -1 || count > kMaxElements) return ParseResult::Invalid();
  if (count <= 0) {
    // An empty multibulk: Redis ignores it and does not answer.
    out->ignore = true;
    return ParseResult::Ok(static_cast<uint32_t>(pos));
  }
  std::array<std::string_view, kMaxArgs> args;
  size_t n = 0;
  int64_t remaining = 0;  // elements not seen when cut, the cut one excluded
  uint64_t skip = 0;
  size_t safe = 0;
  bool cut = false;
  for (int64_t i = 0; i < count; ++i) {
    const size_t start = pos;
    if (pos >= d.size()) {
      cut = true;
      safe = start;
      remaining = count - i;
      break;
    }
    if (d[pos] != '$') return ParseResult::Invalid();
    int64_t len = 0;
    const Scan s = ReadInt(d, pos + 1, &len, &pos);
    if (s == Scan::kBad || (s == Scan::kOk && (len < 0 || len > kMaxBulkLength))) {
      return ParseResult::Invalid();
    }
    if (s == Scan::kMore) {
      cut = true;
      safe = start;
      remaining = count - i;
      break;
    }
    const uint64_t body_end = pos + static_cast<uint64_t>(len);
    if (body_end + 2 <= d.size()) {
      if (d[body_end] != '\r' || d[body_end + 1] != '\n') return ParseResult::Invalid();
      if (n < kMaxArgs) args[n++] = d.substr(pos, static_cast<size_t>(len));
      pos = body_end + 2;
      continue;
    }
    if (body_end < d.size() && d[body_end] != '\r') return ParseResult::Invalid();
    if (n < kMaxArgs) args[n++] = d.substr(pos, static_cast<size_t>(len));  // visible part
    cut = true;
    safe = d.size();
    skip = body_end + 2 - d.size();
    remaining = count - i - 1;
    break;
  }
  if (!cut) {
    FillRequest(args.data(), n, obfuscate_, out);
    out->length = static_cast<int64_t>(pos);
    return ParseResult::Ok(static_cast<uint32_t>(pos));
  }
  if (!in.at_limit) return ParseResult::NeedMore();
  FillRequest(args.data(), n, obfuscate_, out);
  Open& open = open_[Dir(in.dir)];
  open = {};
  if (remaining > 0) {
    open.depth = 1;
    open.left[0] = remaining;
  } else {
    out->length = static_cast<int64_t>(safe + skip);
  }
  return ParseResult::Ok(static_cast<uint32_t>(safe), skip);
}

ParseResult RedisParser::ParseInline(const ParseInput& in, L7Message* out) {
  const std::string_view d = in.data;
  const size_t eol = d.find('\n');
  if (eol == std::string_view::npos) {
    return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  }
  std::string_view line = d.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!PrintableLine(line)) return ParseResult::Invalid();
  std::array<std::string_view, kMaxArgs> args;
  const size_t n = SplitInline(line, args.data());
  if (n == 0) {
    // An empty line: Redis skips it without answering.
    out->ignore = true;
    return ParseResult::Ok(static_cast<uint32_t>(eol + 1));
  }
  if (!std::all_of(args[0].begin(), args[0].end(), IsCommandChar)) return ParseResult::Invalid();
  FillRequest(args.data(), n, obfuscate_, out);
  out->length = static_cast<int64_t>(eol + 1);
  return ParseResult::Ok(static_cast<uint32_t>(eol + 1));
}

ParseResult RedisParser::ParseReply(const ParseInput& in, L7Message* out) {
  const std::string_view d = in.data;
  if (!IsType(d[0])) return ParseResult::Invalid();
  const Walk w = WalkValue(d, 0, Open{});
  if (w.state == Scan::kBad) return ParseResult::Invalid();
  if (w.state == Scan::kMore && !in.at_limit) return ParseResult::NeedMore();
  out->is_request = false;
  out->result = std::string(TypeName(d));
  if (d[0] == '-' || d[0] == '!') {
    out->status = L7ResponseStatus::kServerError;
    AppendUtf8Lossy(&out->exception, ErrorText(d));
  } else {
    out->status = L7ResponseStatus::kOk;
  }
  if (w.state == Scan::kOk) {
    out->length = static_cast<int64_t>(w.end);
    return ParseResult::Ok(static_cast<uint32_t>(w.end));
  }
  if (w.safe == 0 && w.skip == 0) {
    // The first line alone is longer than the bound (a huge status or error line).
    return ParseResult::Ok(static_cast<uint32_t>(d.size()), kSkipToBoundary);
  }
  open_[Dir(in.dir)] = w.open;
  if (w.open.depth == 0) out->length = static_cast<int64_t>(w.safe + w.skip);
  return ParseResult::Ok(static_cast<uint32_t>(w.safe), w.skip);
}

size_t RedisParser::FindBoundary(Direction dir, std::string_view data) {
  open_[Dir(dir)] = {};
  for (size_t p = 0; p < data.size(); ++p) {
    if (p > 0 && data[p - 1] != '\n') continue;
    const char t = data[p];
    if (dir == Direction::kClientToServer ? t != '*' : !IsType(t)) continue;
    size_t next = 0;
    int64_t v = 0;
    Scan s;
    if (IsLineType(t)) {
      s = ReadLine(data, p, &next);
    } else {
      s = ReadInt(data, p + 1, &v, &next);
    }
    if (s == Scan::kOk) return p;
  }
  return data.size();
}

const ProtocolSpec kSpec{
    .id = L7Protocol::kRedis,
    .name = "redis",
    .over_tcp = true,
    .over_udp = false,
    .default_ports = {6379},
    .infer = &Infer,
    .make_parser = &MakeParser,
};

}  // namespace flowscope::agent::l7::redis
