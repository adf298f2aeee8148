// HTTP/2 (RFC 9113) and gRPC over HTTP/2: one request log per stream. HPACK (RFC 7541) is
// decoded by libnghttp2's inflater, one per direction; see README.md for the subset parsed.
//
// The parser's "message" is one frame: the engine shows at most max_parse_bytes of it, the
// parser consumes what it was shown and lets the engine skip the rest. Frames that carry no
// request or response (SETTINGS, DATA, WINDOW_UPDATE, PING, GOAWAY, CONTINUATION that does not
// end a header block, ...) are reported with L7Message::ignore. Every header block of both
// directions goes through the inflater in order, reported or not, because HPACK's dynamic
// table depends on all of them. A header frame longer than the parse bound is consumed in
// pieces (the engine shows its next bytes as new messages) so that the inflater still sees all
// of it. A block the inflater rejects (a capture that began mid-connection refers to entries it
// never saw) is counted, reported only as far as it was decoded and marked, and the next block
// starts a fresh decoder: HPACK indexes count from the newest entry, so a decoder that missed
// older entries decodes right or fails, never wrongly. Lost bytes and framing errors mark the
// connection broken: the parser reports nothing more for it instead of decoding garbage.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "agent/l7/l7_config.h"
#include "agent/l7/parser.h"
#include "agent/l7/trace_context.h"

struct nghttp2_hd_inflater;

namespace flowscope::agent::l7::http2 {

extern const ProtocolSpec kSpec;

InferResult Infer(const InferInput& in);

// The client connection preface (RFC 9113 §3.4).
inline constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Frame types (RFC 9113 §6).
enum FrameType : uint8_t {
  kData = 0x0,
  kHeaders = 0x1,
  kPriority = 0x2,
  kRstStream = 0x3,
  kSettings = 0x4,
  kPushPromise = 0x5,
  kPing = 0x6,
  kGoaway = 0x7,
  kWindowUpdate = 0x8,
  kContinuation = 0x9,
};

// Frame flags.
inline constexpr uint8_t kFlagEndStream = 0x1;
inline constexpr uint8_t kFlagAck = 0x1;
inline constexpr uint8_t kFlagEndHeaders = 0x4;
inline constexpr uint8_t kFlagPadded = 0x8;
inline constexpr uint8_t kFlagPriority = 0x20;

// Why a connection stopped being decoded (Http2Stats::broken_reason).
// The same names mark a message whose header block was decoded only in part (attribute
// `http2_broken`): kHpackError, the connection goes on.
enum class BrokenReason : uint8_t {
  kNone = 0,
  kHeaderBlockTooLarge,  // a parse bound too small to show a header frame's pad length (< 10)
  kHpackError,           // the inflater rejected a header block (a message mark, not fatal)
  kFramingError,         // a frame that breaks RFC 9113 framing (or not HTTP/2 at all)
  kResync,               // the engine lost bytes or resynchronised: HPACK state unknown
};
std::string_view BrokenReasonName(BrokenReason r);

struct Http2Stats {
  uint64_t frames = 0;
  uint64_t header_blocks = 0;  // complete header blocks decoded (both directions)
  uint64_t requests = 0;
  uint64_t responses = 0;
  uint64_t streams_evicted = 0;       // stream states dropped to stay within kMaxStreams
  uint64_t hpack_errors = 0;          // header blocks the inflater rejected (each resets it)
  uint64_t pieced_header_frames = 0;  // header frames longer than the parse bound
  BrokenReason broken_reason = BrokenReason::kNone;
};

class Http2Parser final : public Parser {
 public:
  // Streams whose request or gRPC trailers are awaited, per connection; the oldest (lowest id)
  // is dropped beyond this.
  static constexpr size_t kMaxStreams = 1024;
  // Longest header value kept (bytes); longer values are cut.
  static constexpr size_t kMaxValue = 4096;
  // Largest HPACK dynamic table accepted from SETTINGS_HEADER_TABLE_SIZE (memory bound).
  static constexpr uint32_t kMaxHeaderTable = 65536;

  explicit Http2Parser(const L7Config& config);
  ~Http2Parser() override;
  Http2Parser(const Http2Parser&) = delete;
  Http2Parser& operator=(const Http2Parser&) = delete;

  ParseResult Parse(const ParseInput& in, L7Message* out) override;
  // hpack_errors, pieced_header_frames, streams_evicted since the previous call.
  void TakeCounters(std::map<std::string, uint64_t>* out) override;
  size_t FindBoundary(Direction dir, std::string_view data) override;

  // h2c upgrade (RFC 7540 §3.2): the connection continues in HTTP/2 after "101 Switching
  // Protocols". Stream 1 then carries the response to the HTTP/1.1 request that asked for the
  // upgrade; that request was reported without pair id, so the stream-1 response is too (the
  // engine pairs it in order). `http2_settings` is the request's HTTP2-Settings header
  // (base64url SETTINGS payload of the client).
  void StartAfterUpgrade(std::string_view http2_settings);

  const Http2Stats& stats() const { return stats_; }
  bool broken() const { return stats_.broken_reason != BrokenReason::kNone; }

 private:
  Http2Stats reported_;  // what TakeCounters handed out already
  // Fields of one header block that the logs use.
  struct Block {
    uint32_t stream_id = 0;
    uint8_t type = kHeaders;  // kHeaders or kPushPromise
    bool end_stream = false;
    BrokenReason damaged = BrokenReason::kNone;  // decoded only up to an HPACK error
    uint64_t first_ns = 0;                       // when its first byte was seen (0: unknown)
    std::string method, path, authority, host, status, content_type, grpc_status, grpc_message,
        user_agent, referer;
    int64_t content_length = -1;
    std::optional<TraceHeaderCollector> trace;
  };
  // A stream between its request and its (final) response.
  struct Stream {
    uint8_t request_dir = 0;  // direction the request came from
    bool grpc = false;
    bool response_started = false;  // gRPC: response headers seen, trailers awaited
    int32_t http_status = 0;
    int64_t response_length = -1;  // content-length of the response
    uint64_t response_data = 0;    // DATA payload bytes of the response so far
    uint64_t response_ts = 0;      // gRPC: when the response headers were seen (0: unknown)
  };
  // The HEADERS/CONTINUATION/PUSH_PROMISE frame being consumed: all at once when it fits the
  // parse bound, in pieces otherwise (its payload bytes [pos, length) are still to come).
  struct HeaderFrameState {
    bool active = false;
    uint32_t length = 0;                    // payload length
    uint32_t pos = 0;                       // payload bytes consumed
    uint32_t frag_begin = 0, frag_end = 0;  // the header block fragment in the payload
    bool end_headers = false;
  };
  struct Side {
    nghttp2_hd_inflater* inflater = nullptr;
    uint32_t max_frame = 16384;  // largest frame this side may send (peer's MAX_FRAME_SIZE)
    uint32_t table_limit = 0;    // HPACK table size the peer allowed this side (0: default)
    uint32_t applied_limit = 0;  // the limit the inflater has
    bool in_block = false;       // a header block awaits CONTINUATION frames
    bool discard_block = false;  // the inflater failed in this block: the rest is not inflated
    HeaderFrameState frame;
    Block block;
  };

  ParseResult ParseFrame(const ParseInput& in, L7Message* out);
  ParseResult HeaderFrame(const ParseInput& in, uint8_t type, uint8_t flags, uint32_t stream_id,
                          uint32_t length, L7Message* out);
  // The next `piece` of the current header frame's payload, after `prefix` bytes of the frame
  // that belong to the same message.
  ParseResult HeaderPayload(int dir, std::string_view piece, uint32_t prefix, L7Message* out);
  // A fresh inflater for `dir` at the next block (after an HPACK error), with the table limit.
  void ResetInflater(int dir);
  void ApplySettings(int dir, std::string_view payload);
  bool Inflate(int dir, std::string_view fragment, bool final);
  void OnHeader(Block* b, std::string_view name, std::string_view value);
  // A complete header block: fills `out` and returns true when it is a request or response.
  bool FinishBlock(int dir, Block* b, L7Message* out);
  void FillRequest(const Block& b, bool grpc, L7Message* out);
  void FillResponse(uint32_t stream_id, const Stream* s, const Block* b, L7Message* out);
  Stream* FindStream(uint32_t id);
  Stream* AddStream(uint32_t id);
  // Marks the connection broken; the frame at hand is reported invalid (the engine counts it).
  ParseResult Break(BrokenReason reason);
  void ResetBlock(Block* b);
  nghttp2_hd_inflater* Inflater(int dir);

  const L7Config& config_;
  Side sides_[2];
  std::map<uint32_t, Stream> streams_;
  bool preface_checked_[2] = {false, false};
  bool upgraded_ = false;
  uint64_t now_ns_ = 0;  // time of the bytes being parsed, when the engine tells it
  Http2Stats stats_;
};

// Helpers exposed for tests.
// "/pkg.Service/Method" → "pkg.Service"; anything else is returned unchanged.
std::string GrpcService(std::string_view path);
// gRPC status code → response status (0 ok; 1,3,5,6,7,9,11,16 client error; others server
// error).
L7ResponseStatus GrpcStatus(int code);
// Percent-decoding of grpc-message (gRPC over HTTP/2 spec, "Responses").
std::string PercentDecode(std::string_view s);

}  // namespace flowscope::agent::l7::http2
