// libFuzzer entry: the input is split into chunks fed to inference, Parse (both directions,
// with and without at_limit, honouring consumed/skip like the engine) and FindBoundary.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/l7/protocols/tls/tls.h"

namespace {

using flowscope::agent::l7::Direction;
using flowscope::agent::l7::InferInput;
using flowscope::agent::l7::kSkipToBoundary;
using flowscope::agent::l7::L7Config;
using flowscope::agent::l7::L7Message;
using flowscope::agent::l7::ParseInput;
using flowscope::agent::l7::ParseResult;
using flowscope::agent::l7::ParseState;

void Feed(flowscope::agent::l7::Parser& p, Direction dir, std::string_view data, size_t bound) {
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  const std::string_view all(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  const uint8_t ctl = bytes[0];
  const auto& spec = flowscope::agent::l7::tls::kSpec;
  spec.infer(InferInput{Direction::kClientToServer, all, false, 443});
  L7Config config;
  const size_t bound = (ctl & 2) ? 1024 : 64;
  auto parser = spec.make_parser(config);
  // Split: first part client → server, second part server → client, third client again.
  const size_t a = all.size() / 3, b = 2 * all.size() / 3;
  Feed(*parser, Direction::kClientToServer, all.substr(0, a), bound);
  Feed(*parser, Direction::kServerToClient, all.substr(a, b - a), bound);
  Feed(*parser, Direction::kClientToServer, all.substr(b), bound);
  // The whole input in one direction, as the other.
  auto other = spec.make_parser(config);
  Feed(*other, Direction::kServerToClient, all, bound);
  return 0;
}
