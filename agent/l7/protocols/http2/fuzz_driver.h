// libFuzzer driver shared by the HTTP/1 and HTTP/2 fuzzers: the input is a TCP conversation fed
// through the real L7 engine, so that the parser sees exactly what the engine shows it (bounded
// views, skips, boundary searches after gaps). Input layout:
//   byte 0: the parse bound, max_parse_bytes = 16 + 4 * byte (16..1036)
//   then records: one control byte, then the payload:
//     bit 0: direction (0 client → server, 1 server → client)
//     bit 1: 64 bytes of this direction were lost before the payload (a sequence gap)
//     bits 2-7: payload length = 1 + 8 * value (1..505 bytes; less if the input ends)
// Seeds in testdata/corpus/ are recorded conversations in this layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "agent/l7/engine.h"

namespace flowscope::agent::l7::fuzzing {

inline void Check(bool ok) {
  if (!ok) __builtin_trap();
}

inline void RunConversation(const uint8_t* data, size_t size,
                            std::vector<const ProtocolSpec*> protocols) {
  if (size < 1) return;
  struct Sink : L7Sink {
    uint64_t rows = 0;
    void OnL7Log(const L7FlowLog& r) override {
      ++rows;
      // Touch the strings so that a bad one shows up here.
      volatile size_t n = r.request_resource.size() + r.request_domain.size() + r.endpoint.size() +
                          r.response_exception.size() + r.trace_id.size() + r.version.size();
      (void)n;
    }
  } sink;
  L7Config config;
  config.max_parse_bytes = 16 + 4u * data[0];
  L7Engine engine(config, &sink, std::move(protocols));
  FlowL7StatePtr state;
  FlowInfo flow;
  flow.flow_id = 1;
  flow.client_port = 40000;
  flow.server_port = 80;
  flow.protocol = 6;
  uint32_t seq[2] = {1, 1};
  uint64_t t = 1'000'000'000;
  size_t pos = 1;
  while (pos < size) {
    const uint8_t ctrl = data[pos++];
    const int dir = ctrl & 1;
    if ((ctrl & 2) != 0) seq[dir] += 64;
    size_t len = 1 + 8 * static_cast<size_t>(ctrl >> 2);
    if (len > size - pos) len = size - pos;
    const std::string_view payload(reinterpret_cast<const char*>(data + pos), len);
    pos += len;
    engine.OnPayload(&state, flow, static_cast<Direction>(dir), t += 1000, true, seq[dir], payload,
                     static_cast<uint32_t>(len));
    seq[dir] += static_cast<uint32_t>(len);
  }
  engine.OnFlowEnd(&state, flow, t + 1000);
  const L7Stats& s = engine.stats();
  Check(sink.rows == s.logs);
  Check(s.logs <= s.requests + s.responses);
}

}  // namespace flowscope::agent::l7::fuzzing
