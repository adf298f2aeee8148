// Trace context from message headers (HTTP/1, HTTP/2, gRPC metadata, Kafka record headers,
// MQTT 5 user properties): W3C `traceparent`, SkyWalking `sw8`, Zipkin `b3` and `x-b3-*`,
// Jaeger `uber-trace-id`, plus `X-Request-ID` and `X-Forwarded-For`. Which headers count and in
// which priority comes from L7Config (the first configured header present wins).
#pragma once

#include <string_view>

#include "agent/l7/l7_config.h"
#include "agent/l7/parser.h"

namespace flowscope::agent::l7 {

class TraceHeaderCollector {
 public:
  explicit TraceHeaderCollector(const L7Config& config);
  // Offer every header of one message (any case); values are copied only when they win.
  void Offer(std::string_view name, std::string_view value);
  // Writes the winners into `ctx`.
  void Finish(TraceContext* ctx);

 private:
  struct Slot {
    size_t priority = SIZE_MAX;  // index in the configured list; lower wins
    std::string value;
    std::string header;  // lower-case name of the winning header
  };
  void Consider(Slot* slot, const std::vector<std::string>& names, std::string_view name,
                std::string_view value);
  // Bit n set: some configured name is n bytes long (bit 63: 63 or more). Most headers are
  // rejected by their length alone.
  static uint64_t LengthBit(size_t n) { return uint64_t{1} << (n < 63 ? n : 63); }
  const L7Config& config_;
  uint64_t lengths_ = 0;
  Slot trace_, span_, x_request_id_, proxy_client_;
  std::string parent_span_;  // from b3 / x-b3-parentspanid / uber-trace-id
};

// Parsers of the individual formats, exposed for tests. Each returns false on malformed input.
bool ParseTraceparent(std::string_view v, std::string* trace_id, std::string* span_id);
bool ParseSw8(std::string_view v, std::string* trace_id, std::string* span_id);
bool ParseB3(std::string_view v, std::string* trace_id, std::string* span_id,
             std::string* parent_span_id);
bool ParseUberTraceId(std::string_view v, std::string* trace_id, std::string* span_id,
                      std::string* parent_span_id);

}  // namespace flowscope::agent::l7
