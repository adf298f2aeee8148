// SocketPipeline on hand-made socket events (the eBPF tracer itself is tested on real sockets in
// agent/ebpf; `flowscope agent` end to end in tests/integration/agent_ebpf_test.py).
#include "agent/pipeline/socket_pipeline.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace flowscope::agent {
namespace {

using ebpf::Direction;
using ebpf::SocketEvent;
using ebpf::SocketEventKind;
using ebpf::SocketRole;

constexpr uint64_t kSec = 1'000'000'000;
constexpr uint64_t kT0 = 1'700'000'000 * kSec;

class Rows : public RecordSink {
 public:
  void OnL7Log(const L7FlowLog& r) override { logs.push_back(r); }
  void OnApplication(const ApplicationRow& r) override { app.push_back(r); }
  void OnApplicationMap(const ApplicationMapRow& r) override { map.push_back(r); }
  std::vector<L7FlowLog> logs;
  std::vector<ApplicationRow> app;
  std::vector<ApplicationMapRow> map;
};

IpAddr V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  const uint8_t bytes[4] = {a, b, c, d};
  return IpAddr::V4(bytes);
}

// One end of a connection as the tracer reports it.
struct End {
  uint32_t pid, tid;
  std::string comm;
  uint64_t socket_id;
  SocketRole role;
  IpAddr local, remote;
  uint16_t local_port, remote_port;
  uint8_t proto = kIpProtoTcp;
};

SocketEvent Data(const End& end, Direction dir, uint64_t ts, std::string_view data,
                 uint64_t trace_id, uint32_t seq = 0, uint32_t msg_len = 0) {
  SocketEvent e;
  e.kind = SocketEventKind::kData;
  e.pid = end.pid;
  e.tid = end.tid;
  e.comm = end.comm;
  e.ts_ns = ts;
  e.direction = dir;
  e.local_ip = end.local;
  e.remote_ip = end.remote;
  e.local_port = end.local_port;
  e.remote_port = end.remote_port;
  e.l4_protocol = end.proto;
  e.socket_id = end.socket_id;
  e.role = end.role;
  e.tcp_seq = seq;
  e.tcp_seq_valid = end.proto == kIpProtoTcp;
  e.syscall_trace_id = trace_id;
  e.msg_len = msg_len != 0 ? msg_len : static_cast<uint32_t>(data.size());
  e.data = data;
  return e;
}

SocketEvent Close(const End& end, uint64_t ts) {
  SocketEvent e;
  e.kind = SocketEventKind::kClose;
  e.pid = end.pid;
  e.socket_id = end.socket_id;
  e.ts_ns = ts;
  return e;
}

const IpAddr kLo = V4(127, 0, 0, 1);
const End kCurl{100, 101, "curl", 11, SocketRole::kClient, kLo, kLo, 40000, 80};
const End kNginx{200, 201, "nginx", 22, SocketRole::kServer, kLo, kLo, 80, 40000};

constexpr std::string_view kGet = "GET /a/b/c?q=1 HTTP/1.1\r\nHost: svc\r\n\r\n";
constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";

SocketPipelineConfig Config() {
  SocketPipelineConfig c;
  c.agent_id = 3;
  c.process_name = [](uint32_t pid) -> std::string {
    return pid == 200 ? "nginx-master-name" : "";  // "" → the event's comm
  };
  return c;
}

TEST(SocketPipeline, BothEndsOfALoopbackCallNameBothProcesses) {
  Rows rows;
  SocketPipeline p(Config(), &rows);
  p.OnEvent(Data(kCurl, Direction::kEgress, kT0 + 1'000'000, kGet, 0, 5000));
  p.OnEvent(Data(kNginx, Direction::kIngress, kT0 + 1'010'000, kGet, 7, 5000));
  p.OnEvent(Data(kNginx, Direction::kEgress, kT0 + 1'500'000, kOk, 7, 9000));
  p.OnEvent(Data(kCurl, Direction::kIngress, kT0 + 1'510'000, kOk, 8, 9000));
  ASSERT_EQ(rows.logs.size(), 2u);

  const L7FlowLog& server = rows.logs[0];  // complete first: at nginx's response
  EXPECT_EQ(server.signal_source, SignalSource::kEbpf);
  EXPECT_EQ(server.request_type, "GET");
  EXPECT_EQ(server.request_resource, "/a/b/c?q=1");
  EXPECT_EQ(server.response_code, 200);
  EXPECT_EQ(server.response_duration, 490u);
  EXPECT_EQ(server.client_port, 40000);
  EXPECT_EQ(server.server_port, 80);
  EXPECT_EQ(server.process_id_0, 100u);  // the client, named from its own traced socket
  EXPECT_EQ(server.process_kname_0, "curl");
  EXPECT_EQ(server.process_id_1, 200u);
  EXPECT_EQ(server.process_kname_1, "nginx-master-name");
  EXPECT_EQ(server.syscall_trace_id_request, 7u);
  EXPECT_EQ(server.syscall_trace_id_response, 7u);
  EXPECT_EQ(server.syscall_thread_0, 201u);
  EXPECT_EQ(server.syscall_thread_1, 201u);
  EXPECT_EQ(server.req_tcp_seq, 5000u);
  EXPECT_EQ(server.resp_tcp_seq, 9000u);
  EXPECT_EQ(server.flow_id, (uint64_t{1} << 48) | 22);
  EXPECT_EQ(server.agent_id, 3);
  EXPECT_FALSE(server.is_tls);

  const L7FlowLog& client = rows.logs[1];
  EXPECT_EQ(client.response_duration, 510u);
  EXPECT_EQ(client.process_id_0, 100u);
  EXPECT_EQ(client.process_kname_0, "curl");
  EXPECT_EQ(client.process_id_1, 200u);
  EXPECT_EQ(client.process_kname_1, "nginx-master-name");
  EXPECT_EQ(client.syscall_trace_id_request, 0u);
  EXPECT_EQ(client.syscall_trace_id_response, 8u);
  EXPECT_EQ(client.syscall_thread_0, 101u);
  EXPECT_EQ(client.flow_id, (uint64_t{1} << 48) | 11);

  const SocketPipelineStats s = p.Stats();
  EXPECT_EQ(s.data_events, 4u);
  EXPECT_EQ(s.sockets, 2u);
  EXPECT_EQ(s.local_peers, 2u);
  EXPECT_EQ(s.l7.logs, 2u);

  p.Finish(kT0 + 5 * kSec);
  // RED rows carry the server process; the map rows both.
  ASSERT_FALSE(rows.app.empty());
  uint64_t requests = 0;
  for (const auto& r : rows.app) {
    EXPECT_EQ(r.signal_source, SignalSource::kEbpf);
    EXPECT_EQ(r.process_id, 200u);
    EXPECT_EQ(r.process_kname, "nginx-master-name");
    EXPECT_EQ(r.endpoint, "/a/b");
    if (r.interval == 1) requests += r.meter.request;
  }
  EXPECT_EQ(requests, 2u);
  for (const auto& r : rows.map) {
    EXPECT_EQ(r.process_id_0, 100u);
    EXPECT_EQ(r.process_id_1, 200u);
  }
}

TEST(SocketPipeline, InboundRequestAndOutboundCallShareTheTraceId) {
  // A service thread reads an HTTP request (trace 41), calls redis, answers.
  const End svc_in{300, 301, "svc", 31, SocketRole::kServer, kLo, kLo, 8080, 50000};
  const End svc_out{300, 301, "svc", 32, SocketRole::kClient, kLo, kLo, 50001, 6379};
  Rows rows;
  SocketPipeline p(Config(), &rows);
  p.OnEvent(Data(svc_in, Direction::kIngress, kT0 + 1000, kGet, 41, 1));
  p.OnEvent(Data(svc_out, Direction::kEgress, kT0 + 2000, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 41, 1));
  p.OnEvent(Data(svc_out, Direction::kIngress, kT0 + 3000, "$1\r\nv\r\n", 42, 1));
  p.OnEvent(Data(svc_in, Direction::kEgress, kT0 + 4000, kOk, 42, 1));
  ASSERT_EQ(rows.logs.size(), 2u);
  const L7FlowLog& redis = rows.logs[0];
  const L7FlowLog& http = rows.logs[1];
  EXPECT_EQ(redis.l7_protocol, L7Protocol::kRedis);
  EXPECT_EQ(http.l7_protocol, L7Protocol::kHttp1);
  EXPECT_EQ(http.syscall_trace_id_request, 41u);
  EXPECT_EQ(redis.syscall_trace_id_request, http.syscall_trace_id_request);
  EXPECT_EQ(redis.process_id_0, 300u);
  EXPECT_EQ(http.process_id_1, 300u);
  EXPECT_EQ(redis.process_id_1, 0u);  // the redis server was not traced
}

TEST(SocketPipeline, TlsPlaintextIsItsOwnFlowMarkedTls) {
  Rows rows;
  SocketPipeline p(Config(), &rows);
  SocketEvent req = Data(kCurl, Direction::kEgress, kT0 + 1000, kGet, 0);
  req.is_tls = true;
  req.tcp_seq_valid = false;
  SocketEvent resp = Data(kCurl, Direction::kIngress, kT0 + 9000, kOk, 5);
  resp.is_tls = true;
  resp.tcp_seq_valid = false;
  // The ciphertext of the same socket: not HTTP, the engine gives up on it or names it TLS.
  SocketEvent cipher = Data(kCurl, Direction::kEgress, kT0 + 1100, "\x17\x03\x03\x00\x05hello", 0);
  cipher.tls_ciphertext = true;
  p.OnEvent(req);
  p.OnEvent(cipher);
  p.OnEvent(resp);
  ASSERT_EQ(rows.logs.size(), 1u);
  EXPECT_TRUE(rows.logs[0].is_tls);
  EXPECT_EQ(rows.logs[0].request_type, "GET");
  EXPECT_EQ(rows.logs[0].flow_id, (uint64_t{2} << 48) | 11);
  EXPECT_EQ(p.Stats().tls_plaintext, 2u);
  EXPECT_EQ(p.Stats().sockets, 2u);  // the syscall stream and the plaintext one

  SocketEvent orphan = req;
  orphan.socket_id = 0;
  p.OnEvent(orphan);
  EXPECT_EQ(p.Stats().tls_unattributed, 1u);
}

std::string DnsQuery(uint16_t id, bool response) {
  std::string q;
  q += static_cast<char>(id >> 8);
  q += static_cast<char>(id & 0xff);
  q += response ? '\x81' : '\x01';  // QR, RD
  q += response ? '\x80' : '\x00';  // RA, rcode 0
  q += std::string("\x00\x01\x00\x00\x00\x00\x00\x00", 8);  // 1 question
  q += std::string("\x03" "www" "\x07" "example" "\x03" "org" "\x00", 17);
  q += std::string("\x00\x01\x00\x01", 4);  // A, IN
  return q;
}

TEST(SocketPipeline, UnconnectedUdpServerKeepsOneFlowPerPeer) {
  const IpAddr a = V4(10, 0, 0, 1), b = V4(10, 0, 0, 2), server = V4(10, 0, 0, 53);
  End dns_a{400, 400, "dnsmasq", 44, SocketRole::kServer, server, a, 53, 1111, kIpProtoUdp};
  End dns_b = dns_a;
  dns_b.remote = b;
  dns_b.remote_port = 2222;
  Rows rows;
  SocketPipeline p(Config(), &rows);
  const std::string qa = DnsQuery(0x1234, false), qb = DnsQuery(0x1234, false);
  const std::string ra = DnsQuery(0x1234, true), rb = DnsQuery(0x1234, true);
  p.OnEvent(Data(dns_a, Direction::kIngress, kT0 + 1000, qa, 1));
  p.OnEvent(Data(dns_b, Direction::kIngress, kT0 + 2000, qb, 2));
  p.OnEvent(Data(dns_b, Direction::kEgress, kT0 + 3000, rb, 2));
  p.OnEvent(Data(dns_a, Direction::kEgress, kT0 + 4000, ra, 1));
  ASSERT_EQ(rows.logs.size(), 2u);
  EXPECT_EQ(rows.logs[0].ip_0, b);
  EXPECT_EQ(rows.logs[0].client_port, 2222);
  EXPECT_EQ(rows.logs[1].ip_0, a);
  EXPECT_EQ(rows.logs[1].ip_1, server);
  EXPECT_EQ(rows.logs[1].request_resource, "www.example.org");
  EXPECT_EQ(p.Stats().sockets, 2u);
}

TEST(SocketPipeline, CloseAndIdlenessEndStreamsAndTimeOutTheirRequests) {
  Rows rows;
  SocketPipelineConfig c = Config();
  c.idle_timeout_ns = 10 * kSec;
  SocketPipeline p(c, &rows);
  p.OnEvent(Data(kCurl, Direction::kEgress, kT0, kGet, 0, 1));
  p.OnEvent(Close(kCurl, kT0 + kSec));
  ASSERT_EQ(rows.logs.size(), 1u);
  EXPECT_EQ(rows.logs[0].response_status, L7ResponseStatus::kTimeout);
  EXPECT_EQ(p.Stats().sockets_closed, 1u);
  EXPECT_EQ(p.Stats().sockets, 0u);

  p.OnEvent(Data(kNginx, Direction::kIngress, kT0 + 2 * kSec, kGet, 9, 1));
  p.Tick(kT0 + 5 * kSec);
  EXPECT_EQ(p.Stats().sockets, 1u);
  p.Tick(kT0 + 13 * kSec);
  EXPECT_EQ(p.Stats().sockets, 0u);
  EXPECT_EQ(p.Stats().sockets_idle, 1u);
  ASSERT_EQ(rows.logs.size(), 2u);
  EXPECT_EQ(rows.logs[1].response_status, L7ResponseStatus::kTimeout);
  EXPECT_EQ(rows.logs[1].process_id_1, 200u);
}

TEST(SocketPipeline, MessagesLongerThanTheCaptureResyncAtTheNextRequest) {
  Rows rows;
  SocketPipeline p(Config(), &rows);
  std::string post = "POST /up HTTP/1.1\r\nHost: svc\r\nContent-Length: 100000\r\n\r\n";
  const uint32_t real = static_cast<uint32_t>(post.size() + 100000);
  post.append(1024 - post.size(), 'x');
  uint32_t seq = 1;
  p.OnEvent(Data(kCurl, Direction::kEgress, kT0 + 1000, post, 0, seq, real));
  seq += real;
  p.OnEvent(Data(kCurl, Direction::kIngress, kT0 + 2000, kOk, 1, 77));
  p.OnEvent(Data(kCurl, Direction::kEgress, kT0 + 3000, kGet, 1, seq));
  p.OnEvent(Data(kCurl, Direction::kIngress, kT0 + 4000, kOk, 2, 77 + kOk.size()));
  ASSERT_EQ(rows.logs.size(), 2u);
  EXPECT_EQ(rows.logs[0].request_type, "POST");
  EXPECT_EQ(rows.logs[0].request_length, 100000);
  EXPECT_EQ(rows.logs[1].request_type, "GET");
  EXPECT_EQ(rows.logs[1].response_code, 200);
  EXPECT_EQ(p.Stats().truncated, 1u);
  EXPECT_EQ(p.Stats().l7.gaps, 0u);
}

TEST(SocketPipeline, SocketsBeyondTheBoundAreCountedNotFollowed) {
  Rows rows;
  SocketPipelineConfig c = Config();
  c.max_sockets = 1;
  SocketPipeline p(c, &rows);
  p.OnEvent(Data(kCurl, Direction::kEgress, kT0, kGet, 0, 1));
  p.OnEvent(Data(kNginx, Direction::kIngress, kT0, kGet, 1, 1));
  EXPECT_EQ(p.Stats().sockets, 1u);
  EXPECT_EQ(p.Stats().sockets_dropped, 1u);
}

}  // namespace
}  // namespace flowscope::agent
