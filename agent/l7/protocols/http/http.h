// HTTP/1.0 and HTTP/1.1 (RFC 9112 message syntax, RFC 9110 semantics): one request log per
// request/response exchange. See README.md for the subset parsed and the known gaps.
//
// One message = one header block. Bodies are never buffered: Content-Length bodies are skipped
// by count; chunked bodies chunk by chunk (each chunk-size line is consumed as a message with
// L7Message::ignore, its data skipped by count), so that nothing in a body is mistaken for a
// message; bodies delimited by the connection close are skipped to the next boundary. Interim
// 1xx responses are consumed with `ignore` and do not take the request's place. The parser keeps
// the methods of unanswered requests in order, because the response to a HEAD has no body
// whatever its Content-Length says.
//
// After "101 Switching Protocols" the connection is no longer HTTP/1: an upgrade to h2c
// continues in HTTP/2 through an embedded http2::Http2Parser (stream 1 answers the request that
// asked for the upgrade); any other upgrade (WebSocket, ...) and a CONNECT tunnel make the rest
// of the connection opaque. A connection that opens with the HTTP/2 preface is handed to the
// HTTP/2 parser too.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "agent/l7/l7_config.h"
#include "agent/l7/parser.h"
#include "agent/l7/protocols/http2/http2.h"

namespace flowscope::agent::l7::http {

extern const ProtocolSpec kSpec;

InferResult Infer(const InferInput& in);

enum class StartLine : uint8_t {
  kNo,     // not the start of an HTTP/1 message
  kMaybe,  // a prefix of one: the bytes end before it can be told
  kYes,    // a request line ("GET /x HTTP/1.1") or a status line ("HTTP/1.1 200")
};
// Whether `d` begins with an HTTP/1.x request line (a known method, a target, the version and
// the line end) or status line ("HTTP/1.x NNN").
StartLine CheckStartLine(std::string_view d);

class HttpParser final : public Parser {
 public:
  // Methods of unanswered requests remembered per connection (beyond: the oldest is dropped).
  static constexpr size_t kMaxQueuedMethods = 256;

  enum class Mode : uint8_t {
    kHttp1,   // HTTP/1.x messages
    kTunnel,  // after a WebSocket (or other) upgrade or a CONNECT: opaque bytes
    kHttp2,   // after an h2c upgrade or the HTTP/2 preface: the embedded HTTP/2 parser
  };

  explicit HttpParser(const L7Config& config);
  ~HttpParser() override;

  ParseResult Parse(const ParseInput& in, L7Message* out) override;
  // The HTTP/2 parser's, after an h2c upgrade or a prior-knowledge preface.
  void TakeCounters(std::map<std::string, uint64_t>* out) override {
    if (h2_ != nullptr) h2_->TakeCounters(out);
  }
  size_t FindBoundary(Direction dir, std::string_view data) override;

  Mode mode() const { return mode_; }
  const http2::Http2Parser* http2() const { return h2_.get(); }

 private:
  enum MethodKind : uint8_t { kOtherMethod, kHeadMethod, kConnectMethod };
  // What a header block says about the body that follows it.
  struct Head {
    bool is_request = true;
    int32_t status = 0;
    uint8_t method = kOtherMethod;  // of the request (for a response: of the request it answers)
    bool has_length = false;
    uint64_t length = 0;
    bool transfer_encoding = false;
    bool chunked = false;        // the last transfer coding is "chunked"
    bool upgrade_h2c = false;    // Upgrade: lists h2c
    std::string http2_settings;  // HTTP2-Settings of an h2c upgrade request
  };
  enum class State : uint8_t {
    kStart,       // at a message start
    kHeaderTail,  // in a header block longer than the parse bound (already reported)
    kChunkLine,   // at a chunk-size line of a chunked body
    kTrailers,    // in the trailer section after the last chunk
  };
  struct Side {
    State state = State::kStart;
    bool mid_line = false;  // kHeaderTail/kTrailers: the previous call stopped inside a line
    Head head;
  };

  ParseResult ParseStart(const ParseInput& in, L7Message* out);
  ParseResult ParseTail(const ParseInput& in, L7Message* out);
  ParseResult ParseChunkLine(const ParseInput& in, L7Message* out);
  // The header block ends at `body` in the data: decides how the body is delimited and
  // whether the connection changes protocol.
  ParseResult FinishHead(const ParseInput& in, size_t body, L7Message* out);
  // A field that frames the body or changes protocol: true if `name` is one (and was used).
  bool FramingHeader(std::string_view name, std::string_view value, Head* head);
  ParseResult SwitchToHttp2(const ParseInput& in, L7Message* out);

  const L7Config& config_;
  Side sides_[2];
  // MethodKind of each unanswered request, oldest first, one byte each (a short string needs no
  // allocation for the usual one or two).
  std::string methods_;
  Mode mode_ = Mode::kHttp1;
  bool h2c_requested_ = false;
  std::string h2c_settings_;
  std::unique_ptr<http2::Http2Parser> h2_;
};

}  // namespace flowscope::agent::l7::http
