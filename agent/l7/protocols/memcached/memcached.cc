#include "agent/l7/protocols/memcached/memcached.h"

#include <algorithm>
#include <array>
#include <cstdio>

#include "agent/l7/byte_reader.h"
#include "agent/l7/text.h"

namespace flowscope::agent::l7::memcached {
namespace {

constexpr uint8_t kMagicRequest = 0x80;
constexpr uint8_t kMagicResponse = 0x81;
constexpr size_t kMaxTokens = 24;

enum class Kind : uint8_t {
  kStorage,    // set/add/replace/append/prepend <key> <flags> <exptime> <bytes> [noreply]
  kCas,        // cas <key> <flags> <exptime> <bytes> <cas unique> [noreply]
  kRetrieval,  // get/gets <key>+
  kGat,        // gat/gats <exptime> <key>+
  kKeyed,      // delete/incr/decr/touch <key> ...
  kMeta,       // mg/md/ma/me <key> <flag>*
  kMetaSet,    // ms <key> <datalen> <flag>* + data block
  kBare,       // version, quit, mn, stats ..., flush_all ..., verbosity ...
};

struct Command {
  std::string_view name;
  Kind kind;
};

constexpr Command kCommands[] = {
    {"get", Kind::kRetrieval},   {"gets", Kind::kRetrieval},
    {"gat", Kind::kGat},         {"gats", Kind::kGat},
    {"set", Kind::kStorage},     {"add", Kind::kStorage},
    {"replace", Kind::kStorage}, {"append", Kind::kStorage},
    {"prepend", Kind::kStorage}, {"cas", Kind::kCas},
    {"delete", Kind::kKeyed},    {"incr", Kind::kKeyed},
    {"decr", Kind::kKeyed},      {"touch", Kind::kKeyed},
    {"mg", Kind::kMeta},         {"md", Kind::kMeta},
    {"ma", Kind::kMeta},         {"me", Kind::kMeta},
    {"ms", Kind::kMetaSet},      {"mn", Kind::kBare},
    {"stats", Kind::kBare},      {"version", Kind::kBare},
    {"quit", Kind::kBare},       {"flush_all", Kind::kBare},
    {"verbosity", Kind::kBare},  {"cache_memlimit", Kind::kBare},
    {"shutdown", Kind::kBare},   {"lru_crawler", Kind::kBare},
    {"slabs", Kind::kBare},      {"watch", Kind::kBare},
    {"lru", Kind::kBare},        {"misbehave", Kind::kBare},
};

const Command* FindCommand(std::string_view name) {
  for (const Command& c : kCommands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// Reply keywords of a single line (VALUE, STAT and VA have their own shapes).
constexpr std::string_view kReplyWords[] = {
    "END",     "STORED", "NOT_STORED", "EXISTS",  "NOT_FOUND",    "DELETED",
    "TOUCHED", "OK",     "RESET",      "ERROR",   "CLIENT_ERROR", "SERVER_ERROR",
    "VERSION", "BUSY",   "BADCLASS",   "NOSPARE", "NOTFULL",      "UNSAFE",
    "SAME",    "HD",     "NF",         "NS",      "EX",           "EN",
    "MN",      "ME"};

bool IsReplyWord(std::string_view w) {
  return std::find(std::begin(kReplyWords), std::end(kReplyWords), w) != std::end(kReplyWords);
}

bool IsDigits(std::string_view s) {
  return !s.empty() && s.size() <= 20 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool ParseU64(std::string_view s, uint64_t* v) {
  if (!IsDigits(s)) return false;
  uint64_t x = 0;
  for (char c : s) {
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (x > (UINT64_MAX - d) / 10) return false;
    x = x * 10 + d;
  }
  *v = x;
  return true;
}

bool IsSignedNumber(std::string_view s) {
  if (!s.empty() && s[0] == '-') s.remove_prefix(1);
  return IsDigits(s);
}

// A line ends at '\n' (memcached also accepts a bare LF); `line` excludes "\r\n".
bool FindLine(std::string_view d, size_t pos, std::string_view* line, size_t* next) {
  const size_t nl = d.find('\n', pos);
  if (nl == std::string_view::npos) return false;
  *line = d.substr(pos, nl - pos);
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  *next = nl + 1;
  return true;
}

bool PrintableLine(std::string_view line) {
  return std::all_of(line.begin(), line.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u != 0x7f;
  });
}

struct Tokens {
  std::array<std::string_view, kMaxTokens> t;
  size_t n = 0;      // tokens kept
  size_t total = 0;  // tokens on the line
};

Tokens Split(std::string_view line) {
  Tokens tk;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    const size_t b = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > b) {
      if (tk.n < kMaxTokens) tk.t[tk.n++] = line.substr(b, i - b);
      ++tk.total;
    }
  }
  return tk;
}

bool ValidKey(std::string_view k) { return !k.empty() && k.size() <= kMaxKeyBytes; }

bool IsCommandName(std::string_view s) {
  return !s.empty() && s.size() <= 32 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

// Strict syntax of a command line, for inference.
bool ValidCommandLine(const Command& c, const Tokens& tk) {
  const bool noreply = tk.total > 1 && tk.t[tk.n - 1] == "noreply";
  const size_t args = tk.total - 1 - (noreply ? 1 : 0);
  uint64_t v = 0;
  switch (c.kind) {
    case Kind::kStorage:
      return args == 4 && ValidKey(tk.t[1]) && ParseU64(tk.t[2], &v) && IsSignedNumber(tk.t[3]) &&
             ParseU64(tk.t[4], &v) && v <= kMaxValueBytes;
    case Kind::kCas:
      return args == 5 && ValidKey(tk.t[1]) && ParseU64(tk.t[2], &v) && IsSignedNumber(tk.t[3]) &&
             ParseU64(tk.t[4], &v) && v <= kMaxValueBytes && ParseU64(tk.t[5], &v);
    case Kind::kRetrieval:
      if (tk.total < 2) return false;
      for (size_t i = 1; i < tk.n; ++i) {
        if (!ValidKey(tk.t[i])) return false;
      }
      return true;
    case Kind::kGat:
      return tk.total >= 3 && IsSignedNumber(tk.t[1]) && ValidKey(tk.t[2]);
    case Kind::kKeyed:
      if (args < 1 || !ValidKey(tk.t[1])) return false;
      if (c.name == "delete") return args == 1 || (args == 2 && tk.t[2] == "0");
      return args == 2 && IsSignedNumber(tk.t[2]);  // incr/decr value, touch exptime
    case Kind::kMeta:
      return tk.total >= 2 && ValidKey(tk.t[1]);
    case Kind::kMetaSet:
      return tk.total >= 3 && ValidKey(tk.t[1]) && ParseU64(tk.t[2], &v) && v <= kMaxValueBytes;
    case Kind::kBare:
      if (c.name == "version" || c.name == "quit" || c.name == "mn") return tk.total == 1;
      if (c.name == "flush_all") return args <= 1 && (args == 0 || IsDigits(tk.t[1]));
      if (c.name == "verbosity") return args == 1 && IsDigits(tk.t[1]);
      return c.name == "stats";
  }
  return false;
}

// ---- Binary protocol ----

struct BinaryHeader {
  uint8_t magic = 0, opcode = 0, extlen = 0, datatype = 0;
  uint16_t keylen = 0, status = 0;
  uint32_t bodylen = 0, opaque = 0;
};

bool ReadBinaryHeader(std::string_view d, BinaryHeader* h) {
  ByteReader r(d);
  uint64_t cas = 0;
  return r.U8(&h->magic) && r.U8(&h->opcode) && r.U16Be(&h->keylen) && r.U8(&h->extlen) &&
         r.U8(&h->datatype) && r.U16Be(&h->status) && r.U32Be(&h->bodylen) && r.U32Be(&h->opaque) &&
         r.U64Be(&cas);
}

// Opcode names as the text protocol names the same operation; "" when unknown.
std::string_view OpcodeName(uint8_t op) {
  static constexpr std::string_view kNames[] = {"get",       "set",      "add",
                                                "replace",   "delete",   "incr",
                                                "decr",      "quit",     "flush_all",
                                                "getq",      "noop",     "version",
                                                "getk",      "getkq",    "append",
                                                "prepend",   "stats",    "setq",
                                                "addq",      "replaceq", "deleteq",
                                                "incrq",     "decrq",    "quitq",
                                                "flushq",    "appendq",  "prependq",
                                                "verbosity", "touch",    "gat",
                                                "gatq",      "",         "sasl_list_mechs",
                                                "sasl_auth", "sasl_step"};
  return op < std::size(kNames) ? kNames[op] : std::string_view();
}

bool IsQuietOpcode(uint8_t op) {
  return op == 0x09 || op == 0x0d || (op >= 0x11 && op <= 0x1a) || op == 0x1e;
}

// Status of a binary response: any non-zero status is an error (as tshark flags it); the
// server's own failures are server errors, the rest client errors.
L7ResponseStatus BinaryStatus(uint16_t s) {
  switch (s) {
    case 0x00:  // no error
      return L7ResponseStatus::kOk;
    case 0x07:  // vbucket belongs to another server
    case 0x82:  // out of memory
    case 0x84:  // internal error
    case 0x85:  // busy
    case 0x86:  // temporary failure
      return L7ResponseStatus::kServerError;
    default:  // key not found/exists, too large, invalid arguments, not stored, unknown command
      return L7ResponseStatus::kClientError;
  }
}

// The extras length each request opcode must carry (-1: any).
int ExpectedRequestExtras(uint8_t op) {
  switch (op) {
    case 0x01:
    case 0x02:
    case 0x03:
    case 0x11:
    case 0x12:
    case 0x13:
      return 8;
    case 0x05:
    case 0x06:
    case 0x15:
    case 0x16:
      return 20;
    case 0x1c:
    case 0x1d:
    case 0x1e:
      return 4;
    case 0x00:
    case 0x04:
    case 0x07:
    case 0x09:
    case 0x0a:
    case 0x0b:
    case 0x0c:
    case 0x0d:
    case 0x0e:
    case 0x0f:
    case 0x10:
    case 0x14:
    case 0x17:
    case 0x19:
    case 0x1a:
      return 0;
    default:
      return -1;
  }
}

// Opcodes that carry no value in a request: the body is extras and key only.
bool RequestHasNoValue(uint8_t op) {
  switch (op) {
    case 0x00:
    case 0x04:
    case 0x05:
    case 0x06:
    case 0x07:
    case 0x09:
    case 0x0a:
    case 0x0b:
    case 0x0c:
    case 0x0d:
    case 0x10:
    case 0x14:
    case 0x15:
    case 0x16:
    case 0x17:
    case 0x1c:
    case 0x1d:
    case 0x1e:
      return true;
    default:
      return false;
  }
}

bool PlausibleBinary(const BinaryHeader& h, bool strict_request) {
  if (h.magic != kMagicRequest && h.magic != kMagicResponse) return false;
  if (h.datatype != 0 || (strict_request && OpcodeName(h.opcode).empty())) return false;
  if (uint64_t{h.extlen} + h.keylen > h.bodylen || h.bodylen > kMaxValueBytes + 4096) {
    return false;
  }
  if (!strict_request) return true;
  if (h.magic != kMagicRequest || h.status != 0) return false;  // vbucket id: 0 off clusters
  const int extras = ExpectedRequestExtras(h.opcode);
  if (extras >= 0 && h.extlen != extras) return false;
  if (RequestHasNoValue(h.opcode) && h.bodylen != uint32_t{h.extlen} + h.keylen) return false;
  return h.keylen <= kMaxKeyBytes;
}

// Wire text kept in a row: bounded, and valid UTF-8 (PrintableLine lets bytes ≥ 0x80 through).
std::string Bounded(std::string_view s) { return Utf8Lossy(s.substr(0, kMaxTextBytes)); }

// Printable text of a key or an error body (others bytes as '.').
std::string Printable(std::string_view s) {
  std::string out(s.substr(0, kMaxTextBytes));
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) c = '.';
  }
  return out;
}

// Outcome of walking a VALUE/STAT listing up to END.
struct Listing {
  enum State : uint8_t { kDone, kMore, kBad } state = kBad;
  size_t end = 0;     // kDone
  size_t safe = 0;    // kMore: where a later call resumes
  uint64_t skip = 0;  // kMore: bytes of a cut data block still to come
};

Listing WalkListing(std::string_view d, size_t pos) {
  Listing l;
  for (;;) {
    std::string_view line;
    size_t next = 0;
    if (!FindLine(d, pos, &line, &next)) {
      l.state = Listing::kMore;
      l.safe = pos;
      return l;
    }
    if (line == "END") {
      l.state = Listing::kDone;
      l.end = next;
      return l;
    }
    const Tokens tk = Split(line);
    if (tk.n >= 4 && tk.t[0] == "VALUE") {
      uint64_t bytes = 0;
      if (!ParseU64(tk.t[3], &bytes) || bytes > kMaxValueBytes) return l;
      const uint64_t block_end = next + bytes + 2;
      if (block_end <= d.size()) {
        if (d[next + bytes] != '\r' || d[next + bytes + 1] != '\n') return l;
        pos = block_end;
        continue;
      }
      if (next + bytes < d.size() && d[next + bytes] != '\r') return l;
      l.state = Listing::kMore;
      l.safe = d.size();
      l.skip = block_end - d.size();
      return l;
    }
    if (tk.n >= 2 && tk.t[0] == "STAT") {
      pos = next;
      continue;
    }
    return l;
  }
}

InferResult Infer(const InferInput& in) {
  if (in.is_udp || in.dir != Direction::kClientToServer || in.data.empty()) {
    return InferResult::kNo;
  }
  const std::string_view d = in.data;
  if (static_cast<uint8_t>(d[0]) == kMagicRequest) {
    BinaryHeader h;
    return ReadBinaryHeader(d, &h) && PlausibleBinary(h, true) ? InferResult::kYes
                                                               : InferResult::kNo;
  }
  const size_t eol = d.find("\r\n");
  if (eol == std::string_view::npos || eol > 2048) return InferResult::kNo;
  const std::string_view line = d.substr(0, eol);
  if (!PrintableLine(line) || line.find(" HTTP/") != std::string_view::npos) {
    return InferResult::kNo;
  }
  const Tokens tk = Split(line);
  if (tk.n == 0 || line[0] == ' ') return InferResult::kNo;
  const Command* c = FindCommand(tk.t[0]);
  if (c == nullptr || !ValidCommandLine(*c, tk)) return InferResult::kNo;
  // A storage command's data block must end with CRLF where visible.
  if (c->kind == Kind::kStorage || c->kind == Kind::kCas || c->kind == Kind::kMetaSet) {
    uint64_t bytes = 0;
    ParseU64(tk.t[c->kind == Kind::kMetaSet ? 2 : 4], &bytes);
    const uint64_t end = eol + 2 + bytes;
    if (end + 2 <= d.size() && d.substr(end, 2) != "\r\n") return InferResult::kNo;
  }
  return InferResult::kYes;
}

std::unique_ptr<Parser> MakeParser(const L7Config&) { return std::make_unique<MemcachedParser>(); }

}  // namespace

ParseResult MemcachedParser::Parse(const ParseInput& in, L7Message* out) {
  if (in.data.empty()) return ParseResult::NeedMore();
  const auto first = static_cast<uint8_t>(in.data[0]);
  if (in.dir == Direction::kClientToServer) {
    return first == kMagicRequest ? ParseBinary(in, out) : ParseCommand(in, out);
  }
  return first == kMagicResponse && !listing_open_ ? ParseBinary(in, out) : ParseReply(in, out);
}

ParseResult MemcachedParser::ParseCommand(const ParseInput& in, L7Message* out) {
  const std::string_view d = in.data;
  std::string_view line;
  size_t next = 0;
  if (!FindLine(d, 0, &line, &next)) {
    // Fail early on what cannot start a command rather than buffering a whole bound.
    const size_t sp = std::min(d.find(' '), d.find('\r'));
    const std::string_view word = d.substr(0, sp);
    if (!IsCommandName(word.substr(0, 33))) return ParseResult::Invalid();
    if (!in.at_limit) return ParseResult::NeedMore();
    // A command line longer than the bound (a multi-get of many keys): keep what is visible.
    if (sp == std::string_view::npos || !PrintableLine(d)) return ParseResult::Invalid();
    out->is_request = true;
    out->request_type = std::string(word);
    out->request_resource = Utf8Lossy(d);
    return ParseResult::Ok(static_cast<uint32_t>(d.size()), kSkipToBoundary);
  }
  if (!PrintableLine(line)) return ParseResult::Invalid();
  const Tokens tk = Split(line);
  if (tk.n == 0 || !IsCommandName(tk.t[0])) return ParseResult::Invalid();
  const Command* c = FindCommand(tk.t[0]);
  out->is_request = true;
  out->request_type = std::string(tk.t[0]);
  out->request_resource = Utf8Lossy(line);
  const bool noreply = tk.total > 1 && tk.t[tk.n - 1] == "noreply";
  bool quiet = false;
  if (c != nullptr && (c->kind == Kind::kMeta || c->kind == Kind::kMetaSet)) {
    for (size_t i = 2; i < tk.n; ++i) quiet |= tk.t[i] == "q";
  }
  out->expects_response = !noreply && !quiet && tk.t[0] != "quit";
  // Storage commands carry a data block of the announced size.
  uint64_t bytes = 0;
  bool has_block = false;
  if (c != nullptr && (c->kind == Kind::kStorage || c->kind == Kind::kCas)) {
    if (tk.n > 4 && IsDigits(tk.t[4]) && (!ParseU64(tk.t[4], &bytes) || bytes > kMaxValueBytes)) {
      return ParseResult::Invalid();
    }
    has_block = ValidCommandLine(*c, tk) && ParseU64(tk.t[4], &bytes);
  } else if (c != nullptr && c->kind == Kind::kMetaSet) {
    has_block = tk.n >= 3 && ParseU64(tk.t[2], &bytes) && bytes <= kMaxValueBytes;
  }
  if (!has_block) {
    out->length = static_cast<int64_t>(next);
    return ParseResult::Ok(static_cast<uint32_t>(next));
  }
  // The block is <bytes> + CRLF whatever it holds: memcached reads that much, answers
  // "CLIENT_ERROR bad data chunk" if the CRLF is missing, and parses what follows as commands.
  const uint64_t end = next + bytes + 2;
  out->length = static_cast<int64_t>(end);
  if (end <= d.size()) return ParseResult::Ok(static_cast<uint32_t>(end));
  if (!in.at_limit) return ParseResult::NeedMore();
  return ParseResult::Ok(static_cast<uint32_t>(d.size()), end - d.size());
}

ParseResult MemcachedParser::ParseReply(const ParseInput& in, L7Message* out) {
  const std::string_view d = in.data;
  if (listing_open_) {
    out->ignore = true;
    out->is_request = false;
    const Listing l = WalkListing(d, 0);
    if (l.state == Listing::kBad) {
      listing_open_ = false;
      return ParseResult::Invalid();
    }
    if (l.state == Listing::kDone) {
      listing_open_ = false;
      return ParseResult::Ok(static_cast<uint32_t>(l.end));
    }
    if (!in.at_limit) return ParseResult::NeedMore();
    if (l.safe == 0 && l.skip == 0) {
      listing_open_ = false;
      return ParseResult::Ok(static_cast<uint32_t>(d.size()), kSkipToBoundary);
    }
    return ParseResult::Ok(static_cast<uint32_t>(l.safe), l.skip);
  }
  std::string_view line;
  size_t next = 0;
  if (!FindLine(d, 0, &line, &next)) {
    const std::string_view word = d.substr(0, std::min(d.find(' '), d.find('\r')));
    const bool known = IsReplyWord(word) || word == "VALUE" || word == "STAT" || word == "VA";
    const bool partial = word.size() == d.size() && word.size() < 13 &&
                         std::all_of(word.begin(), word.end(), [](char c) {
                           return (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9');
                         });
    if (!known && !partial && !IsDigits(word)) return ParseResult::Invalid();
    if (!in.at_limit) return ParseResult::NeedMore();
    if (!known) return ParseResult::Invalid();
    // An error line longer than the bound: keep what is visible.
    line = d;
    next = d.size();
  }
  if (!PrintableLine(line)) return ParseResult::Invalid();
  const Tokens tk = Split(line);
  if (tk.n == 0) return ParseResult::Invalid();
  const std::string_view w = tk.t[0];
  out->is_request = false;
  out->result = Bounded(line);
  out->status = L7ResponseStatus::kOk;
  if (w == "VALUE" || w == "STAT") {
    const Listing l = WalkListing(d, 0);
    if (l.state == Listing::kBad) return ParseResult::Invalid();
    if (l.state == Listing::kDone) {
      out->length = static_cast<int64_t>(l.end);
      return ParseResult::Ok(static_cast<uint32_t>(l.end));
    }
    if (!in.at_limit) return ParseResult::NeedMore();
    if (l.safe == 0 && l.skip == 0) {
      return ParseResult::Ok(static_cast<uint32_t>(d.size()), kSkipToBoundary);
    }
    listing_open_ = true;
    return ParseResult::Ok(static_cast<uint32_t>(l.safe), l.skip);
  }
  if (w == "VA") {
    uint64_t bytes = 0;
    if (tk.n < 2 || !ParseU64(tk.t[1], &bytes) || bytes > kMaxValueBytes) {
      return ParseResult::Invalid();
    }
    const uint64_t end = next + bytes + 2;
    out->length = static_cast<int64_t>(end);
    if (end <= d.size()) {
      if (d[next + bytes] != '\r' || d[next + bytes + 1] != '\n') return ParseResult::Invalid();
      return ParseResult::Ok(static_cast<uint32_t>(end));
    }
    if (next + bytes < d.size() && d[next + bytes] != '\r') return ParseResult::Invalid();
    if (!in.at_limit) return ParseResult::NeedMore();
    return ParseResult::Ok(static_cast<uint32_t>(d.size()), end - d.size());
  }
  if (!IsReplyWord(w) && !(tk.total == 1 && IsDigits(w))) return ParseResult::Invalid();
  if (w == "ERROR" || w == "CLIENT_ERROR" || w == "SERVER_ERROR") {
    out->status =
        w == "SERVER_ERROR" ? L7ResponseStatus::kServerError : L7ResponseStatus::kClientError;
    std::string_view msg = line.substr(w.size());
    while (!msg.empty() && msg[0] == ' ') msg.remove_prefix(1);
    out->exception = Bounded(msg.empty() ? w : msg);
  } else if (w == "NOT_FOUND" || w == "NF") {
    out->status = L7ResponseStatus::kUnknown;  // DeepFlow: a miss is neither ok nor error
  }
  out->length = static_cast<int64_t>(next);
  return ParseResult::Ok(static_cast<uint32_t>(next));
}

ParseResult MemcachedParser::ParseBinary(const ParseInput& in, L7Message* out) {
  const std::string_view d = in.data;
  BinaryHeader h;
  if (!ReadBinaryHeader(d, &h)) {
    // Check what is visible before waiting for the rest of the header.
    if (d.size() >= 6 && d[5] != 0) return ParseResult::Invalid();  // data type
    return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  }
  if (!PlausibleBinary(h, false)) return ParseResult::Invalid();
  const bool request = h.magic == kMagicRequest;
  if (request != (in.dir == Direction::kClientToServer)) return ParseResult::Invalid();
  const uint64_t total = kBinaryHeaderSize + uint64_t{h.bodylen};
  if (total > d.size() && !in.at_limit) return ParseResult::NeedMore();
  const std::string_view body = d.substr(kBinaryHeaderSize);
  const std::string_view key = body.substr(std::min<size_t>(h.extlen, body.size()), h.keylen);
  out->is_request = request;
  out->has_pair_id = true;
  out->pair_id = h.opaque;
  out->length = static_cast<int64_t>(h.bodylen);
  out->request_type = std::string(OpcodeName(h.opcode));
  if (out->request_type.empty()) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "unknown_0x%02x", h.opcode);
    out->request_type = buf;
  }
  if (request) {
    out->request_resource = Printable(key);
    out->expects_response = !IsQuietOpcode(h.opcode);
  } else {
    out->has_code = true;
    out->code = h.status;
    out->status = BinaryStatus(h.status);
    if (out->status == L7ResponseStatus::kClientError ||
        out->status == L7ResponseStatus::kServerError) {
      const size_t value_at = std::min<size_t>(uint64_t{h.extlen} + h.keylen, body.size());
      out->exception =
          Printable(body.substr(value_at, h.bodylen - (uint64_t{h.extlen} + h.keylen)));
    }
  }
  if (total <= d.size()) return ParseResult::Ok(static_cast<uint32_t>(total));
  return ParseResult::Ok(static_cast<uint32_t>(d.size()), total - d.size());
}

size_t MemcachedParser::FindBoundary(Direction dir, std::string_view data) {
  if (dir == Direction::kServerToClient) listing_open_ = false;
  const uint8_t magic = dir == Direction::kClientToServer ? kMagicRequest : kMagicResponse;
  for (size_t p = 0; p < data.size(); ++p) {
    if (static_cast<uint8_t>(data[p]) == magic) {
      BinaryHeader h;
      if (ReadBinaryHeader(data.substr(p), &h) && PlausibleBinary(h, false) &&
          !OpcodeName(h.opcode).empty()) {
        return p;
      }
    }
    if (p > 0 && data[p - 1] != '\n') continue;
    const std::string_view rest = data.substr(p, 34);
    const std::string_view word = rest.substr(0, std::min(rest.find(' '), rest.find('\r')));
    if (word.size() == rest.size()) continue;
    if (dir == Direction::kClientToServer
            ? FindCommand(word) != nullptr
            : (IsReplyWord(word) || word == "VALUE" || word == "STAT" || word == "VA")) {
      return p;
    }
  }
  return data.size();
}

const ProtocolSpec kSpec{
    .id = L7Protocol::kMemcached,
    .name = "memcached",
    .over_tcp = true,
    .over_udp = false,
    .default_ports = {11211},
    .infer = &Infer,
    .make_parser = &MakeParser,
};

}  // namespace flowscope::agent::l7::memcached
