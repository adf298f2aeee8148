// The contract between the L7 engine and one protocol's parser.
//
// The engine owns the bytes: it reassembles each direction of a flow (TCP segments or syscall
// payloads, it does not matter which), and hands a parser the bytes at the start of the next
// message, at most `L7Config::max_parse_bytes` of them (default 1024, DeepFlow's payload
// truncation). The parser parses ONE message from the start of those bytes:
//   - kOk: it filled `out` from data[0..consumed). If the message is longer than what it was
//     shown (a body, a big value), `skip` says how many more bytes of this message follow; the
//     engine drops them as they arrive, without buffering. `skip = kSkipToBoundary` means the
//     length is unknown: the engine drops bytes until FindBoundary() finds a message start.
//   - kNeedMore: the bytes are the beginning of a message; call again with more. When the engine
//     cannot give more (`at_limit`, the parse bound is reached), the parser must decide: kOk with
//     what it has (and a skip), or kInvalid.
//   - kInvalid: the bytes do not start a message of this protocol. The engine counts it and
//     calls FindBoundary() to resynchronise.
// Parsers never allocate per byte, never throw, never trust a length field, and keep their own
// per-flow state (e.g. HPACK tables, prepared statements) in the object.
//
// Pairing is the engine's: requests and responses of one flow are matched by `pair_id` when
// the protocol multiplexes (HTTP/2 stream, Kafka correlation id, DNS transaction id, ...) and
// in order otherwise (pipelining: the oldest pending request takes the next response).
#pragma once

#include <cstdint>
#include <map>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/records/l7_flow_log.h"

namespace flowscope::agent::l7 {

enum class Direction : uint8_t { kClientToServer = 0, kServerToClient = 1 };

// Trace context found in a message (headers, metadata, SQL comments).
struct TraceContext {
  std::string trace_id;
  std::string span_id;
  std::string parent_span_id;
  std::string x_request_id;
  std::string http_proxy_client;  // X-Forwarded-For
};

// What a parser extracts from one message. The engine fills timestamps and sequence numbers.
struct L7Message {
  bool is_request = true;
  bool ignore = false;  // consumed bytes that carry no request or response (control frames)
  // Protocol of this message when a parser serves several (HTTP/2 vs gRPC); kUnknown = the
  // parser's own.
  L7Protocol protocol = L7Protocol::kUnknown;
  // Pairing.
  bool has_pair_id = false;
  uint64_t pair_id = 0;
  bool expects_response = true;  // false: one-way (MQTT QoS 0 PUBLISH, ...): logged alone
  // Request side.
  std::string version;
  std::string request_type;
  std::string request_domain;
  std::string request_resource;
  std::string endpoint;
  bool has_request_id = false;
  uint64_t request_id = 0;
  // Response side.
  L7ResponseStatus status = L7ResponseStatus::kUnknown;
  bool has_code = false;
  int32_t code = 0;
  std::string exception;
  std::string result;
  bool has_affected_rows = false;
  uint64_t affected_rows = 0;
  // Both.
  int64_t length = -1;  // message length as the protocol declares it (body or whole frame)
  TraceContext trace;
  std::vector<std::pair<std::string, std::string>> attributes;

  // Set by the engine. A parser may set timestamp_ns (from ParseInput::timestamp_ns) for a
  // message it reports after its first bytes (a gRPC response completed by its trailers).
  uint64_t timestamp_ns = 0;  // when the message's first byte was seen
  uint32_t tcp_seq = 0;       // TCP sequence number of its first byte (0 for UDP)
  // eBPF sources (PayloadMeta of the payload holding the first byte): the thread that sent or
  // received the message and its syscall_trace_id; 0 for packets.
  uint64_t syscall_trace_id = 0;
  uint32_t syscall_thread = 0;
};

enum class ParseState : uint8_t { kOk, kNeedMore, kInvalid };

inline constexpr uint64_t kSkipToBoundary = std::numeric_limits<uint64_t>::max();

struct ParseResult {
  ParseState state = ParseState::kInvalid;
  uint32_t consumed = 0;  // kOk: bytes of `data` that belong to the message
  uint64_t skip = 0;      // kOk: further bytes of the message still to come (dropped)

  static ParseResult Ok(uint32_t consumed, uint64_t skip = 0) {
    return {ParseState::kOk, consumed, skip};
  }
  static ParseResult NeedMore() { return {ParseState::kNeedMore, 0, 0}; }
  static ParseResult Invalid() { return {ParseState::kInvalid, 0, 0}; }
};

struct ParseInput {
  Direction dir = Direction::kClientToServer;
  std::string_view data;  // from the start of a message; at most max_parse_bytes
  bool at_limit = false;  // no more bytes will be added to `data` for this message
  bool is_udp = false;    // `data` is one whole datagram
  uint64_t timestamp_ns = 0;  // when data[0] was seen
};

class Parser {
 public:
  virtual ~Parser() = default;
  virtual ParseResult Parse(const ParseInput& in, L7Message* out) = 0;
  // Offset of the first plausible message start in `data` (data.size() if none). Called after
  // kInvalid, after a sequence gap, and while skipping to a boundary.
  virtual size_t FindBoundary(Direction dir, std::string_view data) {
    (void)dir;
    return data.size();
  }
  // Called when a response is paired with its request: a parser may complete fields that need
  // both (e.g. the response to a HEAD has no body; a DNS answer's name).
  virtual void OnPaired(const L7Message& request, L7Message* response) {
    (void)request;
    (void)response;
  }
  // What the parser could not decode beyond what the engine sees (HTTP/2 HPACK failures, ...):
  // adds its counters since the previous call to `out` by name. Called when the flow ends; the
  // engine sums them into L7Stats::parser_counters as "<protocol>.<name>".
  virtual void TakeCounters(std::map<std::string, uint64_t>* out) { (void)out; }
};

// Inference verdict for a payload.
enum class InferResult : uint8_t { kNo, kYes };

struct InferInput {
  Direction dir = Direction::kClientToServer;
  std::string_view data;  // the first bytes of a payload (any size, maybe partial)
  bool is_udp = false;
  uint16_t server_port = 0;
};

struct L7Config;

// One protocol's entry in the registry (registry.h): how to recognise it and how to make a
// parser for a flow.
struct ProtocolSpec {
  L7Protocol id = L7Protocol::kUnknown;
  std::string_view name;  // lower case, as in configuration: "http", "redis", ...
  bool over_tcp = true;
  bool over_udp = false;
  std::vector<uint16_t> default_ports;  // a hint to try this protocol first, never required
  InferResult (*infer)(const InferInput& in) = nullptr;
  std::unique_ptr<Parser> (*make_parser)(const L7Config& config) = nullptr;
};

}  // namespace flowscope::agent::l7
