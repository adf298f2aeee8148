#include "common/records/l7_flow_log.h"

namespace flowscope {

std::string_view L7ProtocolName(L7Protocol p) {
  switch (p) {
    case L7Protocol::kUnknown: return "N/A";
    case L7Protocol::kHttp1: return "HTTP";
    case L7Protocol::kHttp2: return "HTTP2";
    case L7Protocol::kGrpc: return "gRPC";
    case L7Protocol::kMysql: return "MySQL";
    case L7Protocol::kPostgresql: return "PostgreSQL";
    case L7Protocol::kRedis: return "Redis";
    case L7Protocol::kMemcached: return "Memcached";
    case L7Protocol::kKafka: return "Kafka";
    case L7Protocol::kMqtt: return "MQTT";
    case L7Protocol::kDns: return "DNS";
    case L7Protocol::kTls: return "TLS";
  }
  return "N/A";
}

std::string_view L7ResponseStatusName(L7ResponseStatus s) {
  switch (s) {
    case L7ResponseStatus::kOk: return "ok";
    case L7ResponseStatus::kTimeout: return "timeout";
    case L7ResponseStatus::kServerError: return "server error";
    case L7ResponseStatus::kClientError: return "client error";
    case L7ResponseStatus::kUnknown: return "unknown";
    case L7ResponseStatus::kParseFailed: return "parse failed";
  }
  return "unknown";
}

}  // namespace flowscope

#include "common/records/application_metrics.h"

namespace flowscope {

void ApplicationMeter::Add(const L7FlowLog& r) {
  if (r.type != L7LogType::kResponse) ++request;
  if (r.type != L7LogType::kRequest) ++response;
  switch (r.response_status) {
    case L7ResponseStatus::kClientError: ++client_error; break;
    case L7ResponseStatus::kServerError: ++server_error; break;
    case L7ResponseStatus::kTimeout: ++timeout; break;
    default: break;
  }
  if (r.type == L7LogType::kSession) {
    rrt_sum += r.response_duration;
    ++rrt_count;
    rrt_max = std::max<uint64_t>(rrt_max, r.response_duration);
    rrt_sketch.Add(r.response_duration);
  }
}

void ApplicationMeter::Merge(const ApplicationMeter& o) {
  request += o.request;
  response += o.response;
  client_error += o.client_error;
  server_error += o.server_error;
  timeout += o.timeout;
  rrt_sum += o.rrt_sum;
  rrt_count += o.rrt_count;
  rrt_max = std::max(rrt_max, o.rrt_max);
  rrt_sketch.Merge(o.rrt_sketch);
}

}  // namespace flowscope
