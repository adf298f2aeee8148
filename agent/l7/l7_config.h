// Configuration of the L7 engine and its parsers, with DeepFlow's defaults
// (processors.request_log.* in deepflow-facts.md §1.2, §1.6).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace flowscope::agent::l7 {

struct L7Config {
  // Bytes of one message a parser may see (DeepFlow's payload_truncation).
  uint32_t max_parse_bytes = 1024;
  // Payloads of a flow tried for inference before the flow is given up as unknown.
  uint32_t max_inference_attempts = 16;
  // Protocols to infer, by ProtocolSpec::name; empty means all registered protocols.
  std::vector<std::string> enabled_protocols;
  // Port hints per protocol name, replacing the protocol's defaults ("redis" → {6379, 16379}).
  std::map<std::string, std::vector<uint16_t>> port_hints;
  // A request without response for this long is logged with status timeout.
  uint64_t request_timeout_ns = 120'000'000'000;
  // Pending requests kept per flow; beyond it the oldest is logged as timeout (counted).
  uint32_t max_pending_requests = 1024;

  // Trace context headers, by priority (case-insensitive names).
  std::vector<std::string> trace_id_headers = {"traceparent", "sw8", "b3", "x-b3-traceid",
                                               "uber-trace-id"};
  std::vector<std::string> span_id_headers = {"traceparent", "sw8", "b3", "x-b3-spanid",
                                              "uber-trace-id"};
  std::vector<std::string> x_request_id_headers = {"x-request-id"};
  std::vector<std::string> proxy_client_headers = {"x-forwarded-for"};

  // Endpoint: the first N segments of the HTTP path, query stripped (DeepFlow keep_segments).
  uint32_t http_endpoint_segments = 2;
  // Obfuscation (DeepFlow obfuscate_protocols: [Redis]).
  bool obfuscate_redis = true;
  bool obfuscate_sql = false;
};

}  // namespace flowscope::agent::l7
