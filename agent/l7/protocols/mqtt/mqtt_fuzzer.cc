// libFuzzer entry. Input: one control byte, then records of a 2-byte big-endian header (top
// bit: direction, 1 = server -> client; low 15 bits: length, cut to what is left) and that many
// bytes, fed in order to one parser (a CONNECT sets the protocol level). Each record
// goes through inference, Parse (with and without at_limit, honouring consumed/skip like the
// engine) and FindBoundary. The raw input is also fed whole in both directions to a second
// parser.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/l7/protocols/mqtt/mqtt.h"

namespace {

using flowscope::agent::l7::Direction;
using flowscope::agent::l7::InferInput;
using flowscope::agent::l7::kSkipToBoundary;
using flowscope::agent::l7::L7Config;
using flowscope::agent::l7::L7Message;
using flowscope::agent::l7::ParseInput;
using flowscope::agent::l7::Parser;
using flowscope::agent::l7::ParseResult;
using flowscope::agent::l7::ParseState;

void Feed(Parser& p, Direction dir, std::string_view data, size_t bound) {
  while (!data.empty()) {
    const std::string_view view = data.substr(0, bound);
    L7Message m;
    ParseResult r = p.Parse(ParseInput{dir, view, view.size() >= bound, false}, &m);
    if (r.state == ParseState::kNeedMore) {
      r = p.Parse(ParseInput{dir, view, true, false}, &m);
    }
    if (r.state != ParseState::kOk || r.consumed == 0) {
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  const auto& spec = flowscope::agent::l7::mqtt::kSpec;
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
    spec.infer(InferInput{dir, record, false, 1883});
    spec.infer(InferInput{dir, record, false, 0});
    Feed(*parser, dir, record, bound);
  }
  const std::string_view all(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  auto other = spec.make_parser(config);
  Feed(*other, Direction::kClientToServer, all, bound);
  Feed(*other, Direction::kServerToClient, all, bound);
  return 0;
}
