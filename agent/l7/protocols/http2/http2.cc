// HTTP/2 framing: RFC 9113 §4 (frame format), §6 (frame definitions), §8.3 (pseudo-headers).
// HPACK: RFC 7541, through libnghttp2's nghttp2_hd_inflater. gRPC: "gRPC over HTTP2"
// (github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).
#include "agent/l7/protocols/http2/http2.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <utility>

#include "agent/l7/endpoint.h"
#include "agent/l7/text.h"

namespace flowscope::agent::l7::http2 {
namespace {

constexpr uint32_t kFrameHeaderLen = 9;
constexpr uint32_t kDefaultMaxFrame = 16384;     // SETTINGS_MAX_FRAME_SIZE initial value
constexpr uint32_t kLargestMaxFrame = 16777215;  // 2^24 - 1
constexpr uint32_t kDefaultHeaderTable = 4096;   // SETTINGS_HEADER_TABLE_SIZE initial value
constexpr uint16_t kSettingsHeaderTableSize = 0x1;
constexpr uint16_t kSettingsMaxFrameSize = 0x5;

struct FrameHeader {
  uint32_t length = 0;
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream_id = 0;
  bool reserved = false;  // the R bit before the stream id
};

FrameHeader ReadHeader(std::string_view d) {
  const auto* p = reinterpret_cast<const uint8_t*>(d.data());
  FrameHeader h;
  h.length = (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2];
  h.type = p[3];
  h.flags = p[4];
  const uint32_t sid =
      (uint32_t{p[5]} << 24) | (uint32_t{p[6]} << 16) | (uint32_t{p[7]} << 8) | p[8];
  h.reserved = (sid & 0x80000000u) != 0;
  h.stream_id = sid & 0x7fffffffu;
  return h;
}

// The framing rules of RFC 9113 §6 whose violation is a connection error: a frame that breaks
// them means the bytes are not (or no longer) aligned on HTTP/2 frames. `strict` (inference)
// also rejects what a receiver must tolerate: unknown types, undefined flags, the R bit.
bool Plausible(const FrameHeader& h, uint32_t max_frame, bool strict) {
  if (h.length > max_frame) return false;
  if (strict && h.reserved) return false;
  uint8_t allowed_flags = 0xff;
  bool ok = true;
  switch (h.type) {
    case kData:
      ok = h.stream_id != 0;
      allowed_flags = kFlagEndStream | kFlagPadded;
      break;
    case kHeaders:
      ok = h.stream_id != 0;
      allowed_flags = kFlagEndStream | kFlagEndHeaders | kFlagPadded | kFlagPriority;
      break;
    case kPriority:
      ok = h.stream_id != 0 && h.length == 5;
      allowed_flags = 0;
      break;
    case kRstStream:
      ok = h.stream_id != 0 && h.length == 4;
      allowed_flags = 0;
      break;
    case kSettings:
      ok = h.stream_id == 0 && h.length % 6 == 0 && ((h.flags & kFlagAck) == 0 || h.length == 0);
      allowed_flags = kFlagAck;
      break;
    case kPushPromise:
      ok = h.stream_id != 0 && h.length >= 4;
      allowed_flags = kFlagEndHeaders | kFlagPadded;
      break;
    case kPing:
      ok = h.stream_id == 0 && h.length == 8;
      allowed_flags = kFlagAck;
      break;
    case kGoaway:
      ok = h.stream_id == 0 && h.length >= 8;
      allowed_flags = 0;
      break;
    case kWindowUpdate:
      ok = h.length == 4;
      allowed_flags = 0;
      break;
    case kContinuation:
      ok = h.stream_id != 0;
      allowed_flags = kFlagEndHeaders;
      break;
    default:
      return !strict;  // extension frames are ignored (RFC 9113 §5.5)
  }
  if (!ok) return false;
  return !strict || (h.flags & ~allowed_flags) == 0;
}

bool IsGrpc(std::string_view content_type) {
  return StartsWithIgnoreCase(content_type, "application/grpc");
}

// A non-negative decimal of at most 18 digits, or -1.
int64_t ParseDecimal(std::string_view s) {
  s = Trim(s);
  if (s.empty() || s.size() > 18) return -1;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

L7ResponseStatus HttpStatus(int32_t code) {
  if (code >= 400 && code <= 499) return L7ResponseStatus::kClientError;
  if (code >= 500 && code <= 599) return L7ResponseStatus::kServerError;
  return L7ResponseStatus::kOk;
}

std::string_view ErrorCodeName(uint32_t code) {
  static constexpr std::string_view kNames[] = {"NO_ERROR",
                                                "PROTOCOL_ERROR",
                                                "INTERNAL_ERROR",
                                                "FLOW_CONTROL_ERROR",
                                                "SETTINGS_TIMEOUT",
                                                "STREAM_CLOSED",
                                                "FRAME_SIZE_ERROR",
                                                "REFUSED_STREAM",
                                                "CANCEL",
                                                "COMPRESSION_ERROR",
                                                "CONNECT_ERROR",
                                                "ENHANCE_YOUR_CALM",
                                                "INADEQUATE_SECURITY",
                                                "HTTP_1_1_REQUIRED"};
  return code < std::size(kNames) ? kNames[code] : std::string_view("UNKNOWN");
}

// When the engine saw data[0]: ParseInput::timestamp_ns where the engine provides it (a
// proposed addition to parser.h), else 0. A gRPC response is reported with its trailers but
// dated by its headers, as DeepFlow does (its start is the response's first byte).
template <typename In>
uint64_t InputTime(const In& in) {
  if constexpr (requires { in.timestamp_ns; }) {
    return in.timestamp_ns;
  } else {
    (void)in;
    return 0;
  }
}

// Header values are octets (RFC 9113 §8.2.1); the ones kept go into rows as valid UTF-8.
void Assign(std::string* dst, std::string_view v) {
  dst->clear();
  AppendUtf8Lossy(dst, v.substr(0, Http2Parser::kMaxValue));
}

}  // namespace

const ProtocolSpec kSpec = {
    .id = L7Protocol::kHttp2,
    .name = "http2",
    .over_tcp = true,
    .over_udp = false,
    .default_ports = {},
    .infer = &Infer,
    .make_parser = [](const L7Config& config) -> std::unique_ptr<Parser> {
      return std::make_unique<Http2Parser>(config);
    },
};

std::string_view BrokenReasonName(BrokenReason r) {
  switch (r) {
    case BrokenReason::kNone:
      return "none";
    case BrokenReason::kHeaderBlockTooLarge:
      return "parse limit too small for a header frame";
    case BrokenReason::kHpackError:
      return "hpack error";
    case BrokenReason::kFramingError:
      return "framing error";
    case BrokenReason::kResync:
      return "bytes lost";
  }
  return "unknown";
}

InferResult Infer(const InferInput& in) {
  if (in.is_udp) return InferResult::kNo;
  const std::string_view d = in.data;
  const size_t n = std::min(d.size(), kPreface.size());
  if (n >= 16 && d.substr(0, n) == kPreface.substr(0, n)) return InferResult::kYes;
  // Joined mid-connection: a run of frames that obey the framing rules strictly, including a
  // HEADERS or SETTINGS frame, that ends exactly at the end of the payload or holds two
  // complete frames or more.
  size_t pos = 0;
  int complete = 0;
  bool strong = false;
  while (pos + kFrameHeaderLen <= d.size()) {
    const FrameHeader h = ReadHeader(d.substr(pos));
    if (!Plausible(h, kDefaultMaxFrame, /*strict=*/true)) return InferResult::kNo;
    if (pos + kFrameHeaderLen + h.length > d.size()) break;
    ++complete;
    strong = strong || h.type == kHeaders || h.type == kSettings;
    pos += kFrameHeaderLen + h.length;
  }
  if (!strong) return InferResult::kNo;
  if (pos == d.size() || complete >= 2) return InferResult::kYes;
  return InferResult::kNo;
}

std::string GrpcService(std::string_view path) {
  // "/" Service-Name "/" method-name, where Service-Name is "package.Service".
  if (path.size() < 4 || path[0] != '/') return std::string(path);
  const size_t slash = path.find('/', 1);
  if (slash == std::string_view::npos || slash == 1 || slash + 1 >= path.size()) {
    return std::string(path);
  }
  return std::string(path.substr(1, slash - 1));
}

L7ResponseStatus GrpcStatus(int code) {
  switch (code) {
    case 0:
      return L7ResponseStatus::kOk;
    case 1:   // CANCELLED
    case 3:   // INVALID_ARGUMENT
    case 5:   // NOT_FOUND
    case 6:   // ALREADY_EXISTS
    case 7:   // PERMISSION_DENIED
    case 9:   // FAILED_PRECONDITION
    case 11:  // OUT_OF_RANGE
    case 16:  // UNAUTHENTICATED
      return L7ResponseStatus::kClientError;
    default:
      return L7ResponseStatus::kServerError;
  }
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

Http2Parser::Http2Parser(const L7Config& config) : config_(config) {}

Http2Parser::~Http2Parser() {
  for (Side& s : sides_) {
    if (s.inflater != nullptr) nghttp2_hd_inflate_del(s.inflater);
  }
}

nghttp2_hd_inflater* Http2Parser::Inflater(int dir) {
  Side& s = sides_[dir];
  if (s.inflater == nullptr) {
    if (nghttp2_hd_inflate_new(&s.inflater) != 0) s.inflater = nullptr;
    s.applied_limit = 0;
  }
  // A larger table allowed by the peer's SETTINGS, applied between blocks (nghttp2 refuses it
  // inside one).
  if (s.inflater != nullptr && !s.in_block &&
      s.table_limit > std::max(s.applied_limit, kDefaultHeaderTable)) {
    nghttp2_hd_inflate_change_table_size(s.inflater, s.table_limit);
    s.applied_limit = s.table_limit;
  }
  return s.inflater;
}

void Http2Parser::ResetInflater(int dir) {
  Side& s = sides_[dir];
  if (s.inflater != nullptr) nghttp2_hd_inflate_del(s.inflater);
  s.inflater = nullptr;  // Inflater() makes the next one, with the table limit
}

void Http2Parser::StartAfterUpgrade(std::string_view http2_settings) {
  upgraded_ = true;
  // HTTP2-Settings: base64url (RFC 4648 §5) of the client's SETTINGS payload.
  std::string b64(Trim(http2_settings).substr(0, 1024));
  for (char& c : b64) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  std::string payload;
  if (Base64Decode(b64, &payload)) ApplySettings(0, payload);
}

ParseResult Http2Parser::Break(BrokenReason reason) {
  if (stats_.broken_reason == BrokenReason::kNone) stats_.broken_reason = reason;
  return ParseResult::Invalid();
}

size_t Http2Parser::FindBoundary(Direction dir, std::string_view data) {
  (void)dir;
  // Called after lost bytes or a framing error: whatever was lost may have held header blocks,
  // so the HPACK tables can no longer be trusted. Nothing more is decoded on this connection.
  if (stats_.broken_reason == BrokenReason::kNone) stats_.broken_reason = BrokenReason::kResync;
  return data.size();
}

ParseResult Http2Parser::Parse(const ParseInput& in, L7Message* out) {
  if (in.data.empty()) return ParseResult::NeedMore();
  if (broken()) {
    out->ignore = true;
    return ParseResult::Ok(static_cast<uint32_t>(in.data.size()), kSkipToBoundary);
  }
  const int dir = static_cast<int>(in.dir);
  now_ns_ = InputTime(in);
  if (!preface_checked_[dir]) {
    // The client preface opens the client's bytes. Checked in both directions: the engine's
    // idea of who the client is may come from a guess.
    const size_t n = std::min(in.data.size(), kPreface.size());
    if (in.data.substr(0, n) == kPreface.substr(0, n)) {
      if (n < kPreface.size()) {
        return in.at_limit ? Break(BrokenReason::kFramingError) : ParseResult::NeedMore();
      }
      preface_checked_[dir] = true;
      out->ignore = true;
      return ParseResult::Ok(static_cast<uint32_t>(kPreface.size()));
    }
    preface_checked_[dir] = true;
  }
  return ParseFrame(in, out);
}

ParseResult Http2Parser::ParseFrame(const ParseInput& in, L7Message* out) {
  const std::string_view d = in.data;
  const int dir = static_cast<int>(in.dir);
  Side& side = sides_[dir];
  // The rest of a header frame longer than the parse bound.
  if (side.frame.active) return HeaderPayload(dir, d, 0, out);
  if (d.size() < kFrameHeaderLen) {
    return in.at_limit ? Break(BrokenReason::kFramingError) : ParseResult::NeedMore();
  }
  const FrameHeader h = ReadHeader(d);
  if (!Plausible(h, std::max(side.max_frame, kDefaultMaxFrame), /*strict=*/false)) {
    return Break(BrokenReason::kFramingError);
  }
  // A header block is a contiguous run of frames (RFC 9113 §4.3).
  if (side.in_block != (h.type == kContinuation)) {
    return Break(BrokenReason::kFramingError);
  }
  const uint64_t total = kFrameHeaderLen + uint64_t{h.length};
  const auto visible = static_cast<uint32_t>(std::min<uint64_t>(total, d.size()));
  const bool complete = d.size() >= total;
  const std::string_view payload = d.substr(kFrameHeaderLen, visible - kFrameHeaderLen);

  if (h.type == kHeaders || h.type == kPushPromise || h.type == kContinuation) {
    return HeaderFrame(in, h.type, h.flags, h.stream_id, h.length, out);
  }
  switch (h.type) {
    case kData: {
      uint64_t data_len = h.length;
      if ((h.flags & kFlagPadded) != 0 && h.length > 0) {
        if (payload.empty()) {
          return in.at_limit ? Break(BrokenReason::kFramingError) : ParseResult::NeedMore();
        }
        const auto pad = static_cast<uint8_t>(payload[0]);
        if (pad > h.length - 1) return Break(BrokenReason::kFramingError);
        data_len = h.length - 1 - pad;
      }
      Stream* s = FindStream(h.stream_id);
      if (s != nullptr && dir != s->request_dir) s->response_data += data_len;
      break;
    }
    case kSettings:
      if ((h.flags & kFlagAck) == 0) {
        if (!complete && !in.at_limit) return ParseResult::NeedMore();
        ApplySettings(dir, payload);
      }
      break;
    case kRstStream: {
      if (!complete) {
        return in.at_limit ? Break(BrokenReason::kFramingError) : ParseResult::NeedMore();
      }
      auto it = streams_.find(h.stream_id);
      if (it == streams_.end()) break;
      if (dir != it->second.request_dir) {
        // The server reset a stream it had not answered: that is its answer.
        const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
        const uint32_t code =
            (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
        FillResponse(h.stream_id, &it->second, nullptr, out);
        out->has_code = false;
        out->code = 0;
        out->status = L7ResponseStatus::kServerError;
        out->exception = "RST_STREAM " + std::string(ErrorCodeName(code));
        streams_.erase(it);
        ++stats_.frames;
        ++stats_.responses;
        return ParseResult::Ok(visible, total - visible);
      }
      // The client gave up (cancel): no response will come; the engine times the request out.
      streams_.erase(it);
      break;
    }
    default:
      // PRIORITY, PING, GOAWAY, WINDOW_UPDATE and extension frames carry no request.
      break;
  }
  ++stats_.frames;
  out->ignore = true;
  return ParseResult::Ok(visible, total - visible);
}

ParseResult Http2Parser::HeaderFrame(const ParseInput& in, uint8_t type, uint8_t flags,
                                     uint32_t stream_id, uint32_t length, L7Message* out) {
  const std::string_view d = in.data;
  const int dir = static_cast<int>(in.dir);
  const uint64_t total = kFrameHeaderLen + uint64_t{length};
  const bool complete = d.size() >= total;
  // Waited for whole up to the parse bound; a longer one is taken in pieces (HeaderPayload).
  if (!complete && !in.at_limit) return ParseResult::NeedMore();
  Side& side = sides_[dir];
  if (type == kContinuation) {
    if (side.block.stream_id != stream_id) return Break(BrokenReason::kFramingError);
  } else {
    ResetBlock(&side.block);
    side.block.stream_id = stream_id;
    side.block.type = type;
    side.block.end_stream = type == kHeaders && (flags & kFlagEndStream) != 0;
    side.block.first_ns = now_ns_;
    side.discard_block = false;
    Inflater(dir);  // before in_block: a new table limit applies from this block on
    side.in_block = true;
  }
  // The header block fragment: after the pad length, priority fields or promised stream id,
  // before the padding.
  const std::string_view payload =
      d.substr(kFrameHeaderLen, std::min<uint64_t>(length, d.size() - kFrameHeaderLen));
  uint32_t begin = 0, end = length;
  if (type != kContinuation && (flags & kFlagPadded) != 0) {
    if (length < 1) return Break(BrokenReason::kFramingError);
    if (payload.empty()) return Break(BrokenReason::kHeaderBlockTooLarge);
    const auto pad = static_cast<uint8_t>(payload[0]);
    begin = 1;
    if (pad > length - 1) return Break(BrokenReason::kFramingError);
    end = length - pad;
  }
  if (type == kHeaders && (flags & kFlagPriority) != 0) begin += 5;
  if (type == kPushPromise) begin += 4;
  if (begin > end) return Break(BrokenReason::kFramingError);
  side.frame = HeaderFrameState{true, length, 0, begin, end, (flags & kFlagEndHeaders) != 0};
  ++stats_.frames;
  if (!complete) ++stats_.pieced_header_frames;
  return HeaderPayload(dir, payload, kFrameHeaderLen, out);
}

ParseResult Http2Parser::HeaderPayload(int dir, std::string_view piece, uint32_t prefix,
                                       L7Message* out) {
  Side& side = sides_[dir];
  HeaderFrameState& f = side.frame;
  const auto n = static_cast<uint32_t>(std::min<uint64_t>(piece.size(), f.length - f.pos));
  const uint32_t from = std::max(f.pos, f.frag_begin), to = std::min(f.pos + n, f.frag_end);
  const std::string_view fragment =
      from < to ? piece.substr(from - f.pos, to - from) : std::string_view();
  f.pos += n;
  const bool frame_done = f.pos == f.length;
  const bool block_done = frame_done && f.end_headers;
  if (frame_done) f.active = false;
  bool reported = false;
  if (!side.discard_block && !Inflate(dir, fragment, block_done)) {
    // A reference to an entry this decoder never saw (the capture began mid-connection) or a
    // corrupt block. What was decoded before is right: a request or response is reported as
    // far as it goes, marked. The rest of the block is consumed without the inflater, and the
    // next block starts a fresh one.
    ++stats_.hpack_errors;
    side.discard_block = true;
    side.block.damaged = BrokenReason::kHpackError;
    reported = FinishBlock(dir, &side.block, out);
  }
  if (block_done) {
    side.in_block = false;
    if (side.discard_block) {
      side.discard_block = false;
      ResetInflater(dir);
    } else {
      ++stats_.header_blocks;
      reported = FinishBlock(dir, &side.block, out);
    }
  }
  if (reported) {
    // Reported at its last byte, dated by its first.
    if (out->timestamp_ns == 0) out->timestamp_ns = side.block.first_ns;
  } else {
    out->ignore = true;
  }
  return ParseResult::Ok(prefix + n);
}

bool Http2Parser::Inflate(int dir, std::string_view fragment, bool final) {
  nghttp2_hd_inflater* inflater = Inflater(dir);
  if (inflater == nullptr) return false;
  Block& block = sides_[dir].block;
  const auto* in = reinterpret_cast<const uint8_t*>(fragment.data());
  size_t left = fragment.size();
  for (;;) {
    nghttp2_nv nv;
    int flags = 0;
    const ssize_t rv = nghttp2_hd_inflate_hd2(inflater, &nv, &flags, in, left, final ? 1 : 0);
    if (rv < 0) return false;
    in += rv;
    left -= static_cast<size_t>(rv);
    if ((flags & NGHTTP2_HD_INFLATE_EMIT) != 0) {
      OnHeader(&block, std::string_view(reinterpret_cast<const char*>(nv.name), nv.namelen),
               std::string_view(reinterpret_cast<const char*>(nv.value), nv.valuelen));
    }
    if ((flags & NGHTTP2_HD_INFLATE_FINAL) != 0) {
      nghttp2_hd_inflate_end_headers(inflater);
      break;
    }
    if ((flags & NGHTTP2_HD_INFLATE_EMIT) == 0 && left == 0) break;
  }
  return true;
}

void Http2Parser::OnHeader(Block* b, std::string_view name, std::string_view value) {
  if (!name.empty() && name[0] == ':') {
    if (name == ":method") {
      Assign(&b->method, value);
    } else if (name == ":path") {
      Assign(&b->path, value);
    } else if (name == ":authority") {
      Assign(&b->authority, value);
    } else if (name == ":status") {
      Assign(&b->status, value);
    }
    return;
  }
  // Field names are lower case in HTTP/2 (RFC 9113 §8.2.1); compared as such.
  if (name == "host") {
    Assign(&b->host, value);
  } else if (name == "content-type") {
    Assign(&b->content_type, value);
  } else if (name == "content-length") {
    b->content_length = ParseDecimal(value);
  } else if (name == "grpc-status") {
    Assign(&b->grpc_status, value);
  } else if (name == "grpc-message") {
    Assign(&b->grpc_message, value);
  } else if (name == "user-agent") {
    Assign(&b->user_agent, value);
  } else if (name == "referer") {
    Assign(&b->referer, value);
  }
  if (b->trace) {
    // Trace headers end up in rows too (x-request-id, x-forwarded-for, custom ones).
    const std::string_view kept = value.substr(0, kMaxValue);
    if (IsValidUtf8(kept)) {
      b->trace->Offer(name, kept);
    } else {
      b->trace->Offer(name, Utf8Lossy(kept));
    }
  }
}

void Http2Parser::ApplySettings(int dir, std::string_view payload) {
  const int other = 1 - dir;
  for (size_t i = 0; i + 6 <= payload.size(); i += 6) {
    const auto* p = reinterpret_cast<const uint8_t*>(payload.data() + i);
    const auto id = static_cast<uint16_t>((p[0] << 8) | p[1]);
    const uint32_t value =
        (uint32_t{p[2]} << 24) | (uint32_t{p[3]} << 16) | (uint32_t{p[4]} << 8) | p[5];
    if (id == kSettingsHeaderTableSize) {
      // The sender's decoder accepts a table this large: the other side's encoder may use it.
      // Only raised, never lowered: an observer cannot tell when the encoder applied it, and a
      // larger limit only tolerates more.
      const uint32_t size = std::min(value, kMaxHeaderTable);
      Side& enc = sides_[other];
      enc.table_limit = std::max(enc.table_limit, size);
      Inflater(other);  // applied now, or at the start of the next block
    } else if (id == kSettingsMaxFrameSize) {
      if (value >= kDefaultMaxFrame && value <= kLargestMaxFrame) {
        sides_[other].max_frame = std::max(sides_[other].max_frame, value);
      }
    }
  }
}

void Http2Parser::ResetBlock(Block* b) {
  b->stream_id = 0;
  b->type = kHeaders;
  b->end_stream = false;
  b->damaged = BrokenReason::kNone;
  b->first_ns = 0;
  for (std::string* f :
       {&b->method, &b->path, &b->authority, &b->host, &b->status, &b->content_type,
        &b->grpc_status, &b->grpc_message, &b->user_agent, &b->referer}) {
    f->clear();
  }
  b->content_length = -1;
  b->trace.emplace(config_);
}

Http2Parser::Stream* Http2Parser::FindStream(uint32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : &it->second;
}

Http2Parser::Stream* Http2Parser::AddStream(uint32_t id) {
  if (streams_.size() >= kMaxStreams && streams_.find(id) == streams_.end()) {
    streams_.erase(streams_.begin());
    ++stats_.streams_evicted;
  }
  Stream& s = streams_[id];
  s = Stream{};
  return &s;
}

bool Http2Parser::FinishBlock(int dir, Block* b, L7Message* out) {
  if (b->type == kPushPromise) return false;  // a promised request: decoded for HPACK only
  // A block cut by an HPACK error is reported only when it shows what it is.
  if (b->damaged != BrokenReason::kNone && b->method.empty() && b->status.empty()) return false;
  const uint32_t id = b->stream_id;
  if (!b->method.empty()) {
    if (id % 2 == 0) return false;  // requests open odd streams
    Stream* s = AddStream(id);
    s->request_dir = static_cast<uint8_t>(dir);
    s->grpc = IsGrpc(b->content_type);
    FillRequest(*b, s->grpc, out);
    ++stats_.requests;
    return true;
  }
  if (!b->status.empty()) {
    if (id % 2 == 0) return false;  // a pushed response: its request was never sent
    const int64_t code = ParseDecimal(b->status);
    if (code >= 100 && code < 200) return false;  // interim (1xx): the final one follows
    Stream* s = FindStream(id);
    const bool grpc = (s != nullptr && s->grpc) || IsGrpc(b->content_type);
    if (grpc && b->grpc_status.empty() && !b->end_stream && b->damaged == BrokenReason::kNone) {
      // gRPC: the status comes in the trailers; the response is reported with them.
      if (s == nullptr) {
        s = AddStream(id);
        s->request_dir = static_cast<uint8_t>(1 - dir);
      }
      s->grpc = true;
      s->response_started = true;
      s->http_status = static_cast<int32_t>(std::max<int64_t>(code, 0));
      s->response_length = b->content_length;
      s->response_ts = b->first_ns != 0 ? b->first_ns : now_ns_;
      return false;
    }
    if (s != nullptr && grpc) s->grpc = true;
    FillResponse(id, s, b, out);
    if (s == nullptr && grpc) out->protocol = L7Protocol::kGrpc;
    streams_.erase(id);
    ++stats_.responses;
    return true;
  }
  // Trailers: neither :method nor :status.
  Stream* s = FindStream(id);
  if (s != nullptr && s->response_started && dir != s->request_dir) {
    FillResponse(id, s, b, out);
    streams_.erase(id);
    ++stats_.responses;
    return true;
  }
  return false;
}

void Http2Parser::FillRequest(const Block& b, bool grpc, L7Message* out) {
  out->is_request = true;
  out->protocol = grpc ? L7Protocol::kGrpc : L7Protocol::kHttp2;
  out->has_pair_id = true;
  out->pair_id = b.stream_id;
  out->has_request_id = true;
  out->request_id = b.stream_id;
  out->version = "2";
  out->request_domain = b.authority.empty() ? b.host : b.authority;
  if (grpc) {
    out->request_type = "POST";
    out->request_resource = GrpcService(b.path);
    out->endpoint = b.path;
  } else {
    out->request_type = b.method;
    out->request_resource = b.path;
    out->endpoint = HttpEndpoint(b.path, config_.http_endpoint_segments);
  }
  out->length = b.content_length;
  if (b.trace) {
    TraceHeaderCollector trace = *b.trace;
    trace.Finish(&out->trace);
  }
  if (!b.user_agent.empty()) out->attributes.emplace_back("http_user_agent", b.user_agent);
  if (!b.referer.empty()) out->attributes.emplace_back("http_referer", b.referer);
  if (b.damaged != BrokenReason::kNone) {
    out->attributes.emplace_back("http2_broken", std::string(BrokenReasonName(b.damaged)));
  }
}

void Http2Parser::FillResponse(uint32_t stream_id, const Stream* s, const Block* b,
                               L7Message* out) {
  out->is_request = false;
  const bool grpc = s != nullptr && s->grpc;
  out->protocol = grpc ? L7Protocol::kGrpc : L7Protocol::kHttp2;
  // After an h2c upgrade, stream 1 answers the HTTP/1.1 request, which has no pair id.
  out->has_pair_id = !(upgraded_ && stream_id == 1);
  out->pair_id = stream_id;
  out->has_request_id = true;
  out->request_id = stream_id;
  out->version = "2";
  int64_t http_status = -1;
  if (b != nullptr && !b->status.empty()) {
    http_status = ParseDecimal(b->status);
  } else if (s != nullptr && s->response_started) {
    http_status = s->http_status;
  }
  if (grpc && s->response_started && s->response_ts != 0) out->timestamp_ns = s->response_ts;
  if (grpc) {
    out->length = b != nullptr && b->content_length >= 0 ? b->content_length
                  : s->response_length >= 0              ? s->response_length
                                                         : static_cast<int64_t>(s->response_data);
  } else {
    out->length = b != nullptr ? b->content_length : -1;
  }
  const int64_t grpc_status = b != nullptr ? ParseDecimal(b->grpc_status) : -1;
  if (grpc_status >= 0 && grpc_status <= INT32_MAX) {
    out->has_code = true;
    out->code = static_cast<int32_t>(grpc_status);
    out->status = GrpcStatus(out->code);
    out->exception = Utf8Lossy(PercentDecode(b->grpc_message));
  } else if (http_status >= 0 && http_status <= 999) {
    out->has_code = true;
    out->code = static_cast<int32_t>(http_status);
    out->status = HttpStatus(out->code);
  }
  if (b != nullptr && b->trace) {
    TraceHeaderCollector trace = *b->trace;
    trace.Finish(&out->trace);
  }
  if (b != nullptr && b->damaged != BrokenReason::kNone) {
    out->attributes.emplace_back("http2_broken", std::string(BrokenReasonName(b->damaged)));
  }
}

void Http2Parser::TakeCounters(std::map<std::string, uint64_t>* out) {
  (*out)["hpack_errors"] += stats_.hpack_errors - reported_.hpack_errors;
  (*out)["pieced_header_frames"] += stats_.pieced_header_frames - reported_.pieced_header_frames;
  (*out)["streams_evicted"] += stats_.streams_evicted - reported_.streams_evicted;
  reported_ = stats_;
}

}  // namespace flowscope::agent::l7::http2
