// A libFuzzer driver that feeds a parser the way the engine does (bounded view, NeedMore
// buffering, skips, FindBoundary after kInvalid), once with a 1024-byte bound and once with a
// small one so that at_limit paths run too; for protocols whose parsers take direct input in
// chunks of varying size and direction (mysql, postgresql). Traps when a parser breaks the
// contract of parser.h or keeps a string longer than it was shown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/l7/l7_config.h"
#include "agent/l7/parser.h"

namespace flowscope::agent::l7::fuzzing {

struct EngineSide {
  std::string buf;
  uint64_t skip = 0;
  bool to_boundary = false;
};

template <typename ParserT>
void EngineLikeFeed(ParserT& p, EngineSide& s, Direction dir, std::string_view data, size_t max) {
  int guard = 0;
  while (!data.empty() && ++guard < 100000) {
    if (s.skip > 0) {
      const size_t n = static_cast<size_t>(s.skip < data.size() ? s.skip : data.size());
      s.skip -= n;
      data.remove_prefix(n);
      continue;
    }
    if (s.to_boundary) {
      const size_t off = p.FindBoundary(dir, data);
      if (off > data.size()) __builtin_trap();
      data.remove_prefix(off);
      if (data.empty()) return;
      s.to_boundary = false;
    }
    const bool buffered = !s.buf.empty();
    size_t appended = 0;
    std::string_view view;
    if (buffered) {
      appended = data.size() < max - s.buf.size() ? data.size() : max - s.buf.size();
      s.buf.append(data.data(), appended);
      view = s.buf;
    } else {
      view = data.substr(0, max);
    }
    const bool at_limit = view.size() >= max;
    L7Message m;
    ParseResult r = p.Parse(ParseInput{dir, view, at_limit, false}, &m);
    if (r.state == ParseState::kNeedMore && !at_limit) {
      if (buffered) {
        data.remove_prefix(appended);
      } else {
        s.buf.assign(view.data(), view.size());
        data = {};
      }
      continue;
    }
    if (r.state != ParseState::kOk || r.consumed == 0) {
      if (buffered) {
        s.buf.clear();
        data.remove_prefix(appended);
      } else {
        data.remove_prefix(1);
      }
      s.to_boundary = true;
      continue;
    }
    if (r.consumed > view.size()) __builtin_trap();
    // Every string the parser keeps is bounded by what it is shown (plus fixed prefixes).
    if (m.request_resource.size() > max + 64 || m.exception.size() > view.size() ||
        m.endpoint.size() > max + 64) {
      __builtin_trap();
    }
    if (buffered) {
      const size_t old = s.buf.size() - appended;
      if (r.consumed >= old) {
        data.remove_prefix(r.consumed - old);
        s.buf.clear();
      } else {
        s.buf.erase(0, r.consumed);
        s.buf.resize(old - r.consumed);
      }
    } else {
      data.remove_prefix(r.consumed);
    }
    if (r.skip == kSkipToBoundary) {
      s.to_boundary = true;
    } else {
      s.skip = r.skip;
    }
  }
}

// Drives a parser of type ParserT (constructed from an L7Config) with the input: its first byte
// chooses how the rest is cut into chunks and which direction each goes to (bit 5: framed records
// that name their direction, as a real session; bit 6: SQL obfuscation; bit 7: one direction).
template <typename ParserT>
int FuzzEngineLike(InferResult (*infer)(const InferInput&), uint16_t server_port,
                   const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  static const L7Config kPlain;
  static const L7Config kObfuscating = [] {
    L7Config c;
    c.obfuscate_sql = true;
    return c;
  }();
  for (size_t max : {size_t{1024}, size_t{48}}) {
    ParserT p((mode & 0x40) ? kObfuscating : kPlain);
    EngineSide sides[2];
    std::string_view rest = in;
    uint32_t state = mode;
    while (!rest.empty() && (mode & 0x20)) {
      // Framed mode: records of [direction byte][length byte][bytes], a real session's order.
      if (rest.size() < 2) break;
      const Direction dir = static_cast<Direction>(rest[0] & 1);
      const size_t n = static_cast<uint8_t>(rest[1]);
      std::string_view chunk = rest.substr(2, n);
      infer(InferInput{dir, chunk, false, server_port});
      EngineLikeFeed(p, sides[static_cast<int>(dir)], dir, chunk, max);
      rest.remove_prefix(2 + chunk.size());
    }
    while (!rest.empty()) {
      state = state * 1103515245u + 12345u;
      const size_t n = 1 + (state >> 16) % (rest.size() < 300 ? rest.size() : 300);
      // Mode bit 7: one direction only (the first byte's bit 0 says which).
      const Direction dir = (mode & 0x80) ? static_cast<Direction>(mode & 1)
                                          : static_cast<Direction>((state >> 8) & 1);
      std::string_view chunk = rest.substr(0, n);
      infer(InferInput{dir, chunk, false, server_port});
      EngineLikeFeed(p, sides[static_cast<int>(dir)], dir, chunk, max);
      rest.remove_prefix(n);
    }
  }
  return 0;
}

}  // namespace flowscope::agent::l7::fuzzing
