// HTTP/1.x message framing: RFC 9112 §2-§7 (start line, fields, message body length §6.3,
// chunked transfer coding §7.1); status classes and methods: RFC 9110 §9, §15; upgrade: RFC 9110
// §7.8, h2c: RFC 7540 §3.2.
#include "agent/l7/protocols/http/http.h"

#include <algorithm>
#include <utility>

#include "agent/l7/endpoint.h"
#include "agent/l7/text.h"
#include "agent/l7/trace_context.h"

namespace flowscope::agent::l7::http {
namespace {

constexpr size_t kNpos = std::string_view::npos;

// Methods recognised at a message start (RFC 9110 §9, WebDAV RFC 4918 §9, PURGE of caches).
constexpr std::string_view kMethods[] = {
    "GET",      "HEAD",      "POST",  "PUT",  "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE",   "LOCK",    "UNLOCK",  "PURGE"};

// Larger Content-Length values are not believed (the header is then ignored).
constexpr uint64_t kMaxContentLength = uint64_t{1} << 50;
// HTTP2-Settings kept from an h2c upgrade request.
constexpr size_t kMaxHttp2Settings = 512;
// A chunk-size line longer than this (extensions included) is not believed.
constexpr size_t kMaxChunkLine = 256;

// The line of `d` starting at `pos`, without its "\r\n" or "\n"; false if `d` has no line end
// after `pos`.
bool NextLine(std::string_view d, size_t pos, std::string_view* line, size_t* next) {
  const size_t nl = d.find('\n', pos);
  if (nl == kNpos) return false;
  size_t end = nl;
  if (end > pos && d[end - 1] == '\r') --end;
  *line = d.substr(pos, end - pos);
  *next = nl + 1;
  return true;
}

bool IsTargetChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7f;
}

StartLine CheckStatusLine(std::string_view d) {
  // "HTTP/1." DIGIT SP 3DIGIT (SP / line end)
  constexpr std::string_view kVersion = "HTTP/1.";
  for (size_t i = 0; i <= 12; ++i) {
    if (i >= d.size()) return StartLine::kMaybe;
    const char c = d[i];
    bool ok;
    if (i < kVersion.size()) {
      ok = c == kVersion[i];
    } else if (i == 7) {
      ok = c == '0' || c == '1';
    } else if (i == 8) {
      ok = c == ' ';
    } else if (i <= 11) {
      ok = c >= '0' && c <= '9';
    } else {
      ok = c == ' ' || c == '\r' || c == '\n';
    }
    if (!ok) return StartLine::kNo;
  }
  return StartLine::kYes;
}

StartLine CheckRequestLine(std::string_view d) {
  // method SP request-target SP "HTTP/1." DIGIT CRLF
  size_t pos = kNpos;
  bool maybe = false;
  for (std::string_view m : kMethods) {
    if (d.size() > m.size()) {
      if (d.substr(0, m.size()) == m && d[m.size()] == ' ') {
        pos = m.size() + 1;
        break;
      }
    } else if (m.substr(0, d.size()) == d) {
      maybe = true;
    }
  }
  if (pos == kNpos) return maybe ? StartLine::kMaybe : StartLine::kNo;
  size_t t = pos;
  while (t < d.size() && IsTargetChar(d[t])) ++t;
  if (t == d.size()) return StartLine::kMaybe;
  if (t == pos || d[t] != ' ') return StartLine::kNo;
  constexpr std::string_view kTail = " HTTP/1.";
  for (size_t i = 0; i < kTail.size(); ++i) {
    if (t + i >= d.size()) return StartLine::kMaybe;
    if (d[t + i] != kTail[i]) return StartLine::kNo;
  }
  const size_t v = t + kTail.size();
  if (v >= d.size()) return StartLine::kMaybe;
  if (d[v] != '0' && d[v] != '1') return StartLine::kNo;
  if (v + 1 >= d.size()) return StartLine::kMaybe;
  if (d[v + 1] == '\n') return StartLine::kYes;
  if (d[v + 1] != '\r') return StartLine::kNo;
  if (v + 2 >= d.size()) return StartLine::kMaybe;
  return d[v + 2] == '\n' ? StartLine::kYes : StartLine::kNo;
}

L7ResponseStatus StatusOf(int32_t code) {
  if (code >= 400 && code <= 499) return L7ResponseStatus::kClientError;
  if (code >= 500 && code <= 599) return L7ResponseStatus::kServerError;
  return L7ResponseStatus::kOk;
}

// Content-Length: 1*DIGIT; a list of equal values ("42, 42") counts as one (RFC 9110 §8.6).
bool ParseContentLength(std::string_view v, uint64_t* out) {
  v = Trim(v.substr(0, v.find(',')));
  if (v.empty() || v.size() > 16) return false;
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  if (n > kMaxContentLength) return false;
  *out = n;
  return true;
}

bool HasToken(std::string_view list, std::string_view token) {
  for (std::string_view t : Split(list, ',')) {
    if (EqualsIgnoreCase(Trim(t), token)) return true;
  }
  return false;
}

ParseResult BodyByLength(size_t body, uint64_t length, size_t size) {
  const uint64_t total = body + length;
  const uint64_t consumed = std::min<uint64_t>(total, size);
  return ParseResult::Ok(static_cast<uint32_t>(consumed), total - consumed);
}

}  // namespace

const ProtocolSpec kSpec = {
    .id = L7Protocol::kHttp1,
    .name = "http",
    .over_tcp = true,
    .over_udp = false,
    .default_ports = {80, 8080},
    .infer = &Infer,
    .make_parser = [](const L7Config& config) -> std::unique_ptr<Parser> {
      return std::make_unique<HttpParser>(config);
    },
};

StartLine CheckStartLine(std::string_view d) {
  if (d.empty()) return StartLine::kMaybe;
  StartLine status = StartLine::kNo;
  if (d[0] == 'H') {
    status = CheckStatusLine(d);
    if (status == StartLine::kYes) return status;
  }
  const StartLine request = CheckRequestLine(d);
  if (request == StartLine::kYes) return request;
  if (status == StartLine::kMaybe || request == StartLine::kMaybe) return StartLine::kMaybe;
  return StartLine::kNo;
}

InferResult Infer(const InferInput& in) {
  if (in.is_udp) return InferResult::kNo;
  return CheckStartLine(in.data) == StartLine::kYes ? InferResult::kYes : InferResult::kNo;
}

HttpParser::HttpParser(const L7Config& config) : config_(config) {}
HttpParser::~HttpParser() = default;

ParseResult HttpParser::Parse(const ParseInput& in, L7Message* out) {
  if (in.data.empty()) return ParseResult::NeedMore();
  switch (mode_) {
    case Mode::kHttp2:
      return h2_->Parse(in, out);
    case Mode::kTunnel:
      out->ignore = true;
      return ParseResult::Ok(static_cast<uint32_t>(in.data.size()), kSkipToBoundary);
    case Mode::kHttp1:
      break;
  }
  switch (sides_[static_cast<int>(in.dir)].state) {
    case State::kStart:
      return ParseStart(in, out);
    case State::kChunkLine:
      return ParseChunkLine(in, out);
    case State::kHeaderTail:
    case State::kTrailers:
      return ParseTail(in, out);
  }
  return ParseResult::Invalid();
}

size_t HttpParser::FindBoundary(Direction dir, std::string_view data) {
  if (mode_ == Mode::kHttp2) return h2_->FindBoundary(dir, data);
  if (mode_ == Mode::kTunnel) return data.size();
  Side& s = sides_[static_cast<int>(dir)];
  s.state = State::kStart;
  s.mid_line = false;
  size_t pos = 0;
  while (pos < data.size()) {
    const char c = data[pos];
    if (c >= 'A' && c <= 'Z' && CheckStartLine(data.substr(pos)) != StartLine::kNo) return pos;
    const size_t nl = data.find('\n', pos);
    if (nl == kNpos) break;
    pos = nl + 1;
  }
  return data.size();
}

ParseResult HttpParser::SwitchToHttp2(const ParseInput& in, L7Message* out) {
  mode_ = Mode::kHttp2;
  if (h2_ == nullptr) {
    h2_ = std::make_unique<http2::Http2Parser>(config_);
    if (h2c_requested_) h2_->StartAfterUpgrade(h2c_settings_);
  }
  return h2_->Parse(in, out);
}

ParseResult HttpParser::ParseStart(const ParseInput& in, L7Message* out) {
  const std::string_view d = in.data;
  Side& s = sides_[static_cast<int>(in.dir)];
  // Empty lines before a message are ignored (RFC 9112 §2.2).
  size_t blank = 0;
  while (blank < d.size() && (d[blank] == '\r' || d[blank] == '\n')) ++blank;
  if (blank > 0) {
    out->ignore = true;
    return ParseResult::Ok(static_cast<uint32_t>(blank));
  }
  // HTTP/2 with prior knowledge, or the client's preface after an h2c upgrade.
  const size_t n = std::min(d.size(), http2::kPreface.size());
  if (d.substr(0, n) == http2::kPreface.substr(0, n)) {
    if (n == http2::kPreface.size()) return SwitchToHttp2(in, out);
    if (!in.at_limit) return ParseResult::NeedMore();
  }
  const StartLine verdict = CheckStartLine(d);
  if (verdict == StartLine::kNo) return ParseResult::Invalid();
  if (verdict == StartLine::kMaybe && !in.at_limit) return ParseResult::NeedMore();

  // One pass over the header block: the start line, then each field line until the empty line.
  // Nothing of the parser's state changes until the block is known to be complete (or cut by
  // the parse bound), so a NeedMore costs no more than the walk.
  std::string_view first;
  size_t pos = 0;
  bool mid_line = false;  // the start line itself is longer than the bound
  if (!NextLine(d, 0, &first, &pos)) {
    if (!in.at_limit) return ParseResult::NeedMore();
    first = d;
    pos = d.size();
    mid_line = true;
  }

  Head head;
  std::string_view method, target, version;
  if (first.substr(0, 7) == "HTTP/1.") {
    head.is_request = false;
    version = first.substr(5, 3);
    if (first.size() >= 12) {  // checked digits, unless the parse bound is absurdly small
      head.status = (first[9] - '0') * 100 + (first[10] - '0') * 10 + (first[11] - '0');
    }
  } else {
    const size_t sp1 = first.find(' ');
    method = first.substr(0, sp1);
    const std::string_view rest = sp1 == kNpos ? std::string_view() : first.substr(sp1 + 1);
    const size_t sp2 = rest.find(' ');
    target = rest.substr(0, sp2);
    if (sp2 != kNpos && rest.substr(sp2 + 1, 5) == "HTTP/") version = rest.substr(sp2 + 6, 3);
    head.method = method == "HEAD"      ? kHeadMethod
                  : method == "CONNECT" ? kConnectMethod
                                        : kOtherMethod;
  }

  TraceHeaderCollector trace(config_);
  std::string_view host, user_agent, referer;
  std::string_view line;
  size_t next = 0;
  bool complete = false;  // the empty line that ends the block was seen
  while (!mid_line && NextLine(d, pos, &line, &next)) {
    pos = next;
    if (line.empty()) {
      complete = true;
      break;
    }
    if (line[0] == ' ' || line[0] == '\t') continue;  // obsolete line folding: ignored
    const size_t colon = line.find(':');
    if (colon == kNpos) continue;
    const std::string_view name = Trim(line.substr(0, colon));
    const std::string_view value = Trim(line.substr(colon + 1));
    if (!FramingHeader(name, value, &head)) {
      switch (name.size()) {
        case 4:
          if (host.empty() && EqualsIgnoreCase(name, "host")) host = value;
          break;
        case 7:
          if (EqualsIgnoreCase(name, "referer")) referer = value;
          break;
        case 10:
          if (EqualsIgnoreCase(name, "user-agent")) user_agent = value;
          break;
        default:
          break;
      }
    }
    trace.Offer(name, value);
  }
  if (!complete && !in.at_limit) return ParseResult::NeedMore();
  // What of the header block is here: all of it, or (at the parse bound) its complete lines.
  const size_t body = complete ? pos : kNpos;
  const size_t block_end = mid_line ? d.size() : pos;

  out->is_request = head.is_request;
  out->version = std::string(version);
  if (head.is_request) {
    out->request_type = std::string(method);
    // Wire bytes reach rows as valid UTF-8 (invalid sequences → U+FFFD).
    out->request_resource = Utf8Lossy(target);
    out->request_domain = Utf8Lossy(host);
    out->endpoint = HttpEndpoint(out->request_resource, config_.http_endpoint_segments);
    if (head.upgrade_h2c) {
      h2c_requested_ = true;
      h2c_settings_ = head.http2_settings;
    }
    methods_.push_back(static_cast<char>(head.method));
    if (methods_.size() > kMaxQueuedMethods) methods_.erase(0, 1);
  } else {
    out->has_code = true;
    out->code = head.status;
    out->status = StatusOf(head.status);
    if (head.status >= 200 || head.status == 101) {
      // A final response answers the oldest unanswered request.
      if (!methods_.empty()) {
        head.method = static_cast<uint8_t>(methods_.front());
        methods_.erase(0, 1);
      }
    }
    // Interim responses are not the answer (the 101 of a WebSocket upgrade is).
    if (head.status >= 100 && head.status < 200 && !(head.status == 101 && !head.upgrade_h2c)) {
      out->ignore = true;
    }
  }
  out->length = head.has_length ? static_cast<int64_t>(head.length) : -1;
  trace.Finish(&out->trace);
  if (!user_agent.empty()) out->attributes.emplace_back("http_user_agent", Utf8Lossy(user_agent));
  if (!referer.empty()) out->attributes.emplace_back("http_referer", Utf8Lossy(referer));

  s.head = std::move(head);
  if (body == kNpos) {
    // The rest of the header block follows; its framing fields are read as it comes.
    s.state = State::kHeaderTail;
    s.mid_line = mid_line;
    return ParseResult::Ok(static_cast<uint32_t>(block_end));
  }
  return FinishHead(in, body, out);
}

bool HttpParser::FramingHeader(std::string_view name, std::string_view value, Head* head) {
  switch (name.size()) {
    case 7:
      if (!EqualsIgnoreCase(name, "upgrade")) return false;
      head->upgrade_h2c = head->upgrade_h2c || HasToken(value, "h2c");
      return true;
    case 14:
      if (EqualsIgnoreCase(name, "content-length")) {
        uint64_t n = 0;
        if (!head->has_length && ParseContentLength(value, &n)) {
          head->has_length = true;
          head->length = n;
        }
        return true;
      }
      if (EqualsIgnoreCase(name, "http2-settings")) {
        head->http2_settings = std::string(value.substr(0, kMaxHttp2Settings));
        return true;
      }
      return false;
    case 17: {
      if (!EqualsIgnoreCase(name, "transfer-encoding")) return false;
      head->transfer_encoding = true;
      const size_t comma = value.rfind(',');
      head->chunked =
          EqualsIgnoreCase(Trim(comma == kNpos ? value : value.substr(comma + 1)), "chunked");
      return true;
    }
    default:
      return false;
  }
}

ParseResult HttpParser::FinishHead(const ParseInput& in, size_t body, L7Message* out) {
  Side& s = sides_[static_cast<int>(in.dir)];
  const Head& h = s.head;
  const size_t size = in.data.size();
  const auto at_body = static_cast<uint32_t>(body);
  if (!h.is_request) {
    if (h.status == 101) {
      if (h.upgrade_h2c) {
        // The answer to the upgrade request comes on HTTP/2 stream 1.
        out->ignore = true;
        mode_ = Mode::kHttp2;
        if (h2_ == nullptr) {
          h2_ = std::make_unique<http2::Http2Parser>(config_);
          h2_->StartAfterUpgrade(h2c_settings_);
        }
      } else {
        mode_ = Mode::kTunnel;
      }
      return ParseResult::Ok(at_body);
    }
    // No body: interim responses, answers to HEAD, 204, 304 (RFC 9112 §6.3 rule 1).
    if ((h.status >= 100 && h.status < 200) || h.method == kHeadMethod || h.status == 204 ||
        h.status == 304) {
      return ParseResult::Ok(at_body);
    }
    if (h.method == kConnectMethod && h.status / 100 == 2) {
      mode_ = Mode::kTunnel;  // rule 2: a tunnel
      return ParseResult::Ok(at_body);
    }
    if (h.chunked) {
      s.state = State::kChunkLine;
      return ParseResult::Ok(at_body);
    }
    // Rule 4 (another transfer coding) and rule 8 (no length): the body lasts until the
    // connection closes.
    if (h.transfer_encoding || !h.has_length) {
      return ParseResult::Ok(static_cast<uint32_t>(size), kSkipToBoundary);
    }
    return BodyByLength(body, h.length, size);
  }
  if (h.chunked) {
    s.state = State::kChunkLine;
    return ParseResult::Ok(at_body);
  }
  if (h.has_length) return BodyByLength(body, h.length, size);
  return ParseResult::Ok(at_body);  // rule 7: a request without length has no body
}

ParseResult HttpParser::ParseTail(const ParseInput& in, L7Message* out) {
  const std::string_view d = in.data;
  Side& s = sides_[static_cast<int>(in.dir)];
  out->ignore = true;
  size_t pos = 0;
  if (s.mid_line) {
    const size_t nl = d.find('\n');
    if (nl == kNpos) return ParseResult::Ok(static_cast<uint32_t>(d.size()));
    pos = nl + 1;
    s.mid_line = false;
  }
  std::string_view line;
  size_t next = 0;
  for (;;) {
    if (pos >= d.size()) return ParseResult::Ok(static_cast<uint32_t>(pos));
    if (!NextLine(d, pos, &line, &next)) {
      if (pos > 0) return ParseResult::Ok(static_cast<uint32_t>(pos));
      if (!in.at_limit) return ParseResult::NeedMore();
      s.mid_line = true;
      return ParseResult::Ok(static_cast<uint32_t>(d.size()));
    }
    pos = next;
    if (line.empty()) break;
    if (s.state == State::kHeaderTail && line[0] != ' ' && line[0] != '\t') {
      const size_t colon = line.find(':');
      if (colon != kNpos) {
        FramingHeader(Trim(line.substr(0, colon)), Trim(line.substr(colon + 1)), &s.head);
      }
    }
  }
  const bool trailers = s.state == State::kTrailers;
  s.state = State::kStart;
  if (trailers) return ParseResult::Ok(static_cast<uint32_t>(pos));
  ParseResult r = FinishHead(in, pos, out);
  out->ignore = true;  // the message was reported with the start of its header block
  return r;
}

ParseResult HttpParser::ParseChunkLine(const ParseInput& in, L7Message* out) {
  const std::string_view d = in.data;
  Side& s = sides_[static_cast<int>(in.dir)];
  // chunk-size [ chunk-ext ] CRLF (RFC 9112 §7.1); tolerate a stray line end before it.
  if (d[0] == '\r' || d[0] == '\n') {
    size_t n = 0;
    while (n < d.size() && n < 2 && (d[n] == '\r' || d[n] == '\n')) ++n;
    out->ignore = true;
    return ParseResult::Ok(static_cast<uint32_t>(n));
  }
  const size_t nl = d.find('\n');
  if (nl == kNpos) {
    if (!in.at_limit && d.size() < kMaxChunkLine && IsHexDigit(d[0])) {
      return ParseResult::NeedMore();
    }
  } else if (nl < kMaxChunkLine) {
    const std::string_view line = d.substr(0, nl);
    const std::string_view size_str = Trim(line.substr(0, line.find(';')));
    if (IsHex(size_str) && size_str.size() <= 15) {
      uint64_t n = 0;
      for (char c : size_str) {
        n = n * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : (ToLowerAscii(c) - 'a' + 10));
      }
      out->ignore = true;
      if (n == 0) {
        s.state = State::kTrailers;
        s.mid_line = false;
        return ParseResult::Ok(static_cast<uint32_t>(nl + 1));
      }
      return BodyByLength(nl + 1, n + 2, d.size());  // the data and its CRLF
    }
  }
  // Not a chunk: the body framing was lost; start over at a message.
  s.state = State::kStart;
  return ParseStart(in, out);
}

}  // namespace flowscope::agent::l7::http
