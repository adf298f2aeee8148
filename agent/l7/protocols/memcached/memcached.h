// Memcached: the text protocol
// (https://github.com/memcached/memcached/blob/master/doc/protocol.txt: storage, retrieval,
// deletion, incr/decr, touch, gat, stats, meta commands) and the binary protocol
// (https://github.com/memcached/memcached/wiki/BinaryProtocolRevamped: 24-byte header). One Parse
// call = one command or one whole reply (a get reply's VALUE blocks and END are one message). Data
// blocks are never buffered: what the parse bound does not show is skipped by count.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "agent/l7/l7_config.h"
#include "agent/l7/parser.h"

namespace flowscope::agent::l7::memcached {

extern const ProtocolSpec kSpec;

inline constexpr uint64_t kMaxValueBytes = 1ULL << 30;  // memcached's -I ceiling (1 GiB)
inline constexpr size_t kMaxKeyBytes = 250;
inline constexpr size_t kMaxTextBytes = 256;  // result / exception kept
inline constexpr size_t kBinaryHeaderSize = 24;

class MemcachedParser final : public Parser {
 public:
  ParseResult Parse(const ParseInput& in, L7Message* out) override;
  size_t FindBoundary(Direction dir, std::string_view data) override;

 private:
  ParseResult ParseCommand(const ParseInput& in, L7Message* out);
  ParseResult ParseReply(const ParseInput& in, L7Message* out);
  ParseResult ParseBinary(const ParseInput& in, L7Message* out);

  // A VALUE/STAT listing cut by the parse bound: its rest (up to END) is consumed by later
  // calls as ignored messages.
  bool listing_open_ = false;
};

}  // namespace flowscope::agent::l7::memcached
