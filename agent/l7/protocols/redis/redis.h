// Redis: RESP2 and RESP3 (https://redis.io/docs/latest/develop/reference/protocol-spec/).
// Requests are arrays of bulk strings (or inline command lines); replies are any RESP value,
// nested aggregates included. One Parse call = one top-level value. Values longer than the
// parse bound are cut: the visible part is parsed, a bulk string's unseen rest is skipped, and
// the elements of an aggregate that follow it are consumed by later calls as ignored messages
// (the parser keeps the open aggregates per direction), so the next reply starts where it
// should.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "agent/l7/l7_config.h"
#include "agent/l7/parser.h"

namespace flowscope::agent::l7::redis {

extern const ProtocolSpec kSpec;

inline constexpr uint32_t kMaxDepth = 32;               // nesting of aggregates
inline constexpr int64_t kMaxBulkLength = 512LL << 20;  // Redis's proto-max-bulk-len default
inline constexpr int64_t kMaxElements = 1LL << 24;      // elements of one aggregate
inline constexpr size_t kMaxArgs = 256;                 // request arguments kept for the log
inline constexpr size_t kMaxExceptionBytes = 256;

// The obfuscated (or plain) command line of `args` (args[0] is the command), as DeepFlow's
// CommandLine::stringify: values replaced by '?' per command, keys and options kept.
std::string CommandLine(const std::string_view* args, size_t n, bool obfuscate);

class RedisParser final : public Parser {
 public:
  explicit RedisParser(const L7Config& config) : obfuscate_(config.obfuscate_redis) {}
  ParseResult Parse(const ParseInput& in, L7Message* out) override;
  size_t FindBoundary(Direction dir, std::string_view data) override;

  // Open aggregates of a value cut by the parse bound: elements still to come per level.
  struct Open {
    uint32_t depth = 0;
    int64_t left[kMaxDepth] = {};
  };

 private:
  ParseResult ParseRequest(const ParseInput& in, L7Message* out);
  ParseResult ParseInline(const ParseInput& in, L7Message* out);
  ParseResult ParseReply(const ParseInput& in, L7Message* out);
  ParseResult Continue(const ParseInput& in, L7Message* out);

  bool obfuscate_;
  Open open_[2];  // per direction; depth 0 = none
};

}  // namespace flowscope::agent::l7::redis
