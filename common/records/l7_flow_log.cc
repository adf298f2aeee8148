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
