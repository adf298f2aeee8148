// L7FlowLog: one row of flow_log.l7_flow_log: one request and its response merged (a
// "session"), or a request without response (timeout) or a response without request. Column
// names and meanings follow DeepFlow (deepflow-facts.md §1.2, §2.2). `_0` is the client side.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/net/ip_addr.h"
#include "common/records/enums.h"

namespace flowscope {

// DeepFlow's L7Protocol ids (`l7_protocol` column).
enum class L7Protocol : uint8_t {
  kUnknown = 0,
  kHttp1 = 20,
  kHttp2 = 21,
  kGrpc = 41,
  kMysql = 60,
  kPostgresql = 61,
  kRedis = 80,
  kMemcached = 82,
  kKafka = 100,
  kMqtt = 101,
  kDns = 120,
  kTls = 121,
};

// `response_status` column.
enum class L7ResponseStatus : uint8_t {
  kOk = 0,
  kTimeout = 2,
  kServerError = 3,
  kClientError = 4,
  kUnknown = 5,
  kParseFailed = 6,
};

// `type` column: what the row holds.
enum class L7LogType : uint8_t { kRequest = 0, kResponse = 1, kSession = 2 };

std::string_view L7ProtocolName(L7Protocol p);
std::string_view L7ResponseStatusName(L7ResponseStatus s);

struct L7FlowLog {
  // Flow identity.
  uint32_t time = 0;        // s, end of the row
  uint64_t flow_id = 0;
  uint64_t start_time = 0;  // µs: the request's first byte (or the response's if alone)
  uint64_t end_time = 0;    // µs: the response's first byte (or = start_time)
  IpAddr ip_0, ip_1;
  uint16_t client_port = 0, server_port = 0;
  uint8_t protocol = 0;
  SignalSource signal_source = SignalSource::kPacket;
  uint16_t agent_id = 0;
  std::string capture_nic;

  // L7.
  L7Protocol l7_protocol = L7Protocol::kUnknown;
  std::string version;
  L7LogType type = L7LogType::kSession;
  std::string request_type;
  std::string request_domain;
  std::string request_resource;
  std::string endpoint;
  bool has_request_id = false;
  uint64_t request_id = 0;
  L7ResponseStatus response_status = L7ResponseStatus::kUnknown;
  bool has_response_code = false;
  int32_t response_code = 0;
  std::string response_exception;
  std::string response_result;
  uint64_t response_duration = 0;  // µs
  int64_t request_length = -1;     // -1: absent
  int64_t response_length = -1;
  bool has_sql_affected_rows = false;
  uint64_t sql_affected_rows = 0;
  bool is_tls = false;

  // Tracing and correlation.
  std::string trace_id;
  std::string span_id;
  std::string parent_span_id;
  std::string x_request_id_0;
  std::string x_request_id_1;
  std::string http_proxy_client;
  uint32_t req_tcp_seq = 0;
  uint32_t resp_tcp_seq = 0;
  uint64_t syscall_trace_id_request = 0;
  uint64_t syscall_trace_id_response = 0;
  uint32_t syscall_thread_0 = 0, syscall_thread_1 = 0;
  uint32_t process_id_0 = 0, process_id_1 = 0;
  std::string process_kname_0, process_kname_1;
  std::string app_service, app_instance;

  std::vector<std::pair<std::string, std::string>> attributes;
};

template <typename V>
void VisitColumns(const L7FlowLog& r, V&& v) {
  v("time", r.time);
  v("flow_id", r.flow_id);
  v("start_time", r.start_time);
  v("end_time", r.end_time);
  v("is_ipv4", r.ip_0.is_v4);
  v("ip_0", r.ip_0);
  v("ip_1", r.ip_1);
  v("client_port", r.client_port);
  v("server_port", r.server_port);
  v("protocol", r.protocol);
  v("signal_source", static_cast<uint32_t>(r.signal_source));
  v("agent_id", r.agent_id);
  v("capture_nic", std::string_view(r.capture_nic));
  v("l7_protocol", static_cast<uint32_t>(r.l7_protocol));
  v("l7_protocol_str", L7ProtocolName(r.l7_protocol));
  v("version", std::string_view(r.version));
  v("type", static_cast<uint32_t>(r.type));
  v("request_type", std::string_view(r.request_type));
  v("request_domain", std::string_view(r.request_domain));
  v("request_resource", std::string_view(r.request_resource));
  v("endpoint", std::string_view(r.endpoint));
  if (r.has_request_id) v("request_id", r.request_id);
  v("response_status", static_cast<uint32_t>(r.response_status));
  if (r.has_response_code) v("response_code", r.response_code);
  v("response_exception", std::string_view(r.response_exception));
  v("response_result", std::string_view(r.response_result));
  v("response_duration", r.response_duration);
  v("request_length", r.request_length);
  v("response_length", r.response_length);
  if (r.has_sql_affected_rows) v("sql_affected_rows", r.sql_affected_rows);
  v("is_tls", r.is_tls);
  v("trace_id", std::string_view(r.trace_id));
  v("span_id", std::string_view(r.span_id));
  v("parent_span_id", std::string_view(r.parent_span_id));
  v("x_request_id_0", std::string_view(r.x_request_id_0));
  v("x_request_id_1", std::string_view(r.x_request_id_1));
  v("http_proxy_client", std::string_view(r.http_proxy_client));
  v("req_tcp_seq", r.req_tcp_seq);
  v("resp_tcp_seq", r.resp_tcp_seq);
  v("syscall_trace_id_request", r.syscall_trace_id_request);
  v("syscall_trace_id_response", r.syscall_trace_id_response);
  v("syscall_thread_0", r.syscall_thread_0);
  v("syscall_thread_1", r.syscall_thread_1);
  v("process_id_0", r.process_id_0);
  v("process_id_1", r.process_id_1);
  v("process_kname_0", std::string_view(r.process_kname_0));
  v("process_kname_1", std::string_view(r.process_kname_1));
  v("app_service", std::string_view(r.app_service));
  v("app_instance", std::string_view(r.app_instance));
  std::vector<std::string_view> names, values;
  for (const auto& [name, value] : r.attributes) {
    names.push_back(name);
    values.push_back(value);
  }
  v("attribute_names", names);
  v("attribute_values", values);
}

}  // namespace flowscope
