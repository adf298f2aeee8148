// Shared libFuzzer driver for stream protocol parsers: the input (after a control byte) is fed
// to inference and, split in three, to one parser through Parse (both directions, with and
// without at_limit, honouring consumed/skip like the engine) and FindBoundary; then, whole, to a
// second parser as the other direction. Traps when a parser breaks the contract of parser.h.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/l7/parser.h"
#include "agent/l7/l7_config.h"

namespace flowscope::agent::l7::fuzzing {

inline void Feed(Parser& p, Direction dir, std::string_view data, size_t bound) {
  while (!data.empty()) {
    const std::string_view view = data.substr(0, bound);
    L7Message m;
    ParseResult r = p.Parse(ParseInput{dir, view, view.size() >= bound, false}, &m);
    if (r.state == ParseState::kNeedMore) {
      r = p.Parse(ParseInput{dir, view, true, false}, &m);
    }
    if (r.state != ParseState::kOk || r.consumed == 0) {
      if (r.state == ParseState::kOk && r.consumed > view.size()) __builtin_trap();
      const size_t off = p.FindBoundary(dir, data.substr(1));
      if (off > data.size() - 1) __builtin_trap();
      data.remove_prefix(1 + off);
      continue;
    }
    if (r.consumed > view.size()) __builtin_trap();
    data.remove_prefix(r.consumed);
    if (r.skip == kSkipToBoundary) {
      data.remove_prefix(p.FindBoundary(dir, data));
    } else {
      data.remove_prefix(static_cast<size_t>(std::min<uint64_t>(r.skip, data.size())));
    }
  }
}


// `configure` may adjust the configuration from the control byte (e.g. obfuscation on/off).
inline int FuzzStreamParser(const ProtocolSpec& spec, uint16_t server_port, const uint8_t* bytes,
                            size_t size, void (*configure)(L7Config&, uint8_t ctl) = nullptr) {
  if (size == 0) return 0;
  const std::string_view all(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  const uint8_t ctl = bytes[0];
  spec.infer(InferInput{Direction::kClientToServer, all, false, server_port});
  L7Config config;
  if (configure != nullptr) configure(config, ctl);
  const size_t bound = (ctl & 2) ? 1024 : 64;
  auto parser = spec.make_parser(config);
  const size_t a = all.size() / 3, b = 2 * all.size() / 3;
  Feed(*parser, Direction::kClientToServer, all.substr(0, a), bound);
  Feed(*parser, Direction::kServerToClient, all.substr(a, b - a), bound);
  Feed(*parser, Direction::kClientToServer, all.substr(b), bound);
  auto other = spec.make_parser(config);
  Feed(*other, Direction::kServerToClient, all, bound);
  return 0;
}

// A record-structured input, for protocols whose meaning depends on the conversation (Kafka
// responses need their request, MQTT packets the CONNECT's level): after the control byte, each
// record is a 2-byte header (top bit: server → client; the rest: length) and its bytes, fed in
// order to one parser; then the whole input, both ways, to a second one.
inline int FuzzRecordParser(const ProtocolSpec& spec, uint16_t server_port, const uint8_t* bytes,
                            size_t size) {
  if (size == 0) return 0;
  L7Config config;
  const size_t bound = (bytes[0] & 1) ? 1024 : 64;
  auto parser = spec.make_parser(config);
  std::string_view rest(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  while (rest.size() >= 2) {
    const auto hi = static_cast<uint8_t>(rest[0]), lo = static_cast<uint8_t>(rest[1]);
    rest.remove_prefix(2);
    const Direction dir = (hi & 0x80) ? Direction::kServerToClient : Direction::kClientToServer;
    const size_t len = std::min<size_t>(((hi & 0x7f) << 8) | lo, rest.size());
    const std::string_view record = rest.substr(0, len);
    rest.remove_prefix(len);
    spec.infer(InferInput{dir, record, false, server_port});
    spec.infer(InferInput{dir, record, false, 0});
    Feed(*parser, dir, record, bound);
  }
  const std::string_view all(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  auto other = spec.make_parser(config);
  Feed(*other, Direction::kClientToServer, all, bound);
  Feed(*other, Direction::kServerToClient, all, bound);
  return 0;
}

}  // namespace flowscope::agent::l7::fuzzing
