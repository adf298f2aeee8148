// SocketTracer against real sockets of this process (TCP and UDP over IPv4 and IPv6 loopback,
// every traced call shape) and against real OpenSSL programs (nginx, curl, openssl s_client).
// Needs root; skipped otherwise. Every wait is bounded.
#include "agent/ebpf/socket_tracer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace flowscope::agent::ebpf {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// A SocketEvent that owns its strings.
struct Owned {
  SocketEvent e;
  std::string comm;
  std::string data;
};

bool IsRoot() { return geteuid() == 0; }

uint32_t Tid() { return static_cast<uint32_t>(gettid()); }

void NameThread(const char* name) { pthread_setname_np(pthread_self(), name); }

class Traced {
 public:
  explicit Traced(SocketTracerOptions o) : tracer_(WithQuietLog(std::move(o))) {}
  absl::Status Start() { return tracer_.Start(); }
  SocketTracer& tracer() { return tracer_; }

  // Polls until `quiet_ms` pass without an event (at most `max_ms`).
  void Drain(int quiet_ms = 300, int max_ms = 8000) {
    const auto end = Clock::now() + std::chrono::milliseconds(max_ms);
    auto last = Clock::now();
    while (Clock::now() < end && Clock::now() - last < std::chrono::milliseconds(quiet_ms)) {
      auto n = tracer_.Poll(50, [&](const SocketEvent& e) { Keep(e); });
      ASSERT_TRUE(n.ok()) << n.status();
      if (*n > 0) last = Clock::now();
    }
  }
  // Polls until `pred` holds (at most `max_ms`); returns whether it did.
  template <typename Pred>
  bool PollUntil(Pred pred, int max_ms = 8000) {
    const auto end = Clock::now() + std::chrono::milliseconds(max_ms);
    while (Clock::now() < end) {
      if (pred()) return true;
      auto n = tracer_.Poll(20, [&](const SocketEvent& e) { Keep(e); });
      if (!n.ok()) return false;
    }
    return pred();
  }

  std::vector<Owned> events;

  std::vector<Owned> Where(const std::function<bool(const Owned&)>& f) const {
    std::vector<Owned> out;
    for (const auto& o : events) {
      if (f(o)) out.push_back(o);
    }
    return out;
  }
  std::vector<Owned> Data(uint32_t tid, int fd) const {
    return Where([&](const Owned& o) {
      return o.e.kind == SocketEventKind::kData && o.e.tid == tid && o.e.fd == fd;
    });
  }

 private:
  static SocketTracerOptions WithQuietLog(SocketTracerOptions o) {
    if (!o.log) o.log = [](std::string_view) {};
    return o;
  }
  void Keep(const SocketEvent& e) {
    Owned o{e, std::string(e.comm), std::string(e.data)};
    o.e.comm = {};
    o.e.data = {};
    events.push_back(std::move(o));
  }
  SocketTracer tracer_;
};

SocketTracerOptions OwnProcess() {
  SocketTracerOptions o;
  o.exclude_self = false;
  o.target_pid = static_cast<uint32_t>(getpid());
  o.tls = false;
  return o;
}

#define REQUIRE_ROOT() \
  if (!IsRoot()) GTEST_SKIP() << "needs root (eBPF)"

#define START_OR_FAIL(t)            \
  do {                              \
    absl::Status st_ = (t).Start(); \
    ASSERT_TRUE(st_.ok()) << st_;   \
  } while (0)

// ---- socket helpers (all blocking, loopback) ----

struct Listener {
  int fd = -1;
  uint16_t port = 0;
};

Listener Listen(int family, int type) {
  Listener l;
  l.fd = socket(family, type, 0);
  if (family == AF_INET) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(l.fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(l.fd, reinterpret_cast<sockaddr*>(&a), &len);
    l.port = ntohs(a.sin_port);
  } else {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    bind(l.fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(l.fd, reinterpret_cast<sockaddr*>(&a), &len);
    l.port = ntohs(a.sin6_port);
  }
  if (type == SOCK_STREAM) listen(l.fd, 16);
  return l;
}

// sockaddr of the loopback address of `family` at `port`.
struct Addr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&ss); }
};
Addr Loopback(int family, uint16_t port) {
  Addr a;
  if (family == AF_INET) {
    auto* s = reinterpret_cast<sockaddr_in*>(&a.ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.len = sizeof(sockaddr_in);
  } else {
    auto* s = reinterpret_cast<sockaddr_in6*>(&a.ss);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    s->sin6_addr = in6addr_loopback;
    a.len = sizeof(sockaddr_in6);
  }
  return a;
}

int Connect(int family, uint16_t port) {
  int fd = socket(family, SOCK_STREAM, 0);
  Addr a = Loopback(family, port);
  if (connect(fd, a.get(), a.len) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// Reads exactly n bytes (several reads if TCP splits them).
std::string ReadN(int fd, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, out.data() + got, n - got);
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  out.resize(got);
  return out;
}

// Fails the test rather than hanging: every socket gets a receive timeout.
void Timeouts(int fd) {
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// ---- tests on this process's own sockets ----

TEST(SocketTracerTest, RejectsBadOptions) {
  SocketTracerOptions o = OwnProcess();
  o.capture_bytes = 0;
  EXPECT_EQ(SocketTracer(o).Start().code(), absl::StatusCode::kInvalidArgument);
  o.capture_bytes = 5000;
  EXPECT_THAT(std::string(SocketTracer(o).Start().message()), HasSubstr("capture_bytes 5000"));
  o.capture_bytes = 1024;
  o.ring_bytes = 3000;
  EXPECT_EQ(SocketTracer(o).Start().code(), absl::StatusCode::kInvalidArgument);
  SocketTracer never_started(OwnProcess());
  EXPECT_FALSE(never_started.Poll(0, [](const SocketEvent&) {}).ok());
}

// Client and server threads ping-pong three request/response pairs over TCP/IPv4 with
// write/read, then close.
TEST(SocketTracerTest, TcpIpv4ReadWrite) {
  REQUIRE_ROOT();
  Traced t(OwnProcess());
  START_OR_FAIL(t);
  const std::vector<std::string> requests = {"request number zero", "req 1",
                                             "the third and longest request of all"};
  const std::vector<std::string> responses = {"resp-0", "response one, longer", "r2"};
  Listener l = Listen(AF_INET, SOCK_STREAM);
  int server_fd = -1, client_fd = -1;
  uint32_t server_tid = 0, client_tid = 0;
  std::vector<std::string> got_requests, got_responses;
  std::thread server([&] {
    NameThread("fs-tcp-server");
    server_tid = Tid();
    server_fd = accept(l.fd, nullptr, nullptr);
    Timeouts(server_fd);
    for (size_t k = 0; k < requests.size(); ++k) {
      got_requests.push_back(ReadN(server_fd, requests[k].size()));
      EXPECT_EQ(write(server_fd, responses[k].data(), responses[k].size()),
                static_cast<ssize_t>(responses[k].size()));
    }
    close(server_fd);
  });
  std::thread client([&] {
    NameThread("fs-tcp-client");
    client_tid = Tid();
    client_fd = Connect(AF_INET, l.port);
    ASSERT_GE(client_fd, 0);
    Timeouts(client_fd);
    for (size_t k = 0; k < requests.size(); ++k) {
      EXPECT_EQ(write(client_fd, requests[k].data(), requests[k].size()),
                static_cast<ssize_t>(requests[k].size()));
      got_responses.push_back(ReadN(client_fd, responses[k].size()));
    }
    close(client_fd);
  });
  client.join();
  server.join();
  close(l.fd);
  ASSERT_EQ(got_requests, requests);
  ASSERT_EQ(got_responses, responses);
  t.Drain();

  auto opens = t.Where([&](const Owned& o) { return o.e.kind == SocketEventKind::kOpen; });
  auto client_open = t.Where([&](const Owned& o) {
    return o.e.kind == SocketEventKind::kOpen && o.e.tid == client_tid && o.e.fd == client_fd;
  });
  auto server_open = t.Where([&](const Owned& o) {
    return o.e.kind == SocketEventKind::kOpen && o.e.tid == server_tid && o.e.fd == server_fd;
  });
  ASSERT_EQ(client_open.size(), 1u) << opens.size() << " open events";
  ASSERT_EQ(server_open.size(), 1u);
  const SocketEvent& co = client_open[0].e;
  const SocketEvent& so = server_open[0].e;
  EXPECT_EQ(co.func, SocketFunc::kConnect);
  EXPECT_EQ(co.role, SocketRole::kClient);
  EXPECT_FALSE(co.role_inferred);
  EXPECT_EQ(so.func, SocketFunc::kAccept);
  EXPECT_EQ(so.role, SocketRole::kServer);
  EXPECT_NE(co.socket_id, so.socket_id);
  EXPECT_EQ(co.l4_protocol, 6);
  EXPECT_EQ(co.remote_port, l.port);
  EXPECT_EQ(so.local_port, l.port);
  EXPECT_EQ(co.local_port, so.remote_port);
  EXPECT_EQ(co.local_ip.ToString(), "127.0.0.1");
  EXPECT_EQ(co.remote_ip.ToString(), "127.0.0.1");
  EXPECT_EQ(client_open[0].comm, "fs-tcp-client");

  auto cdata = t.Data(client_tid, client_fd);
  auto sdata = t.Data(server_tid, server_fd);
  ASSERT_EQ(cdata.size(), 6u);
  ASSERT_EQ(sdata.size(), 6u);
  for (size_t k = 0; k < requests.size(); ++k) {
    const Owned& creq = cdata[2 * k];
    const Owned& cresp = cdata[2 * k + 1];
    const Owned& sreq = sdata[2 * k];
    const Owned& sresp = sdata[2 * k + 1];
    SCOPED_TRACE(k);
    EXPECT_EQ(creq.e.func, SocketFunc::kWrite);
    EXPECT_EQ(creq.e.direction, Direction::kEgress);
    EXPECT_EQ(creq.data, requests[k]);
    EXPECT_EQ(creq.e.msg_len, requests[k].size());
    EXPECT_EQ(cresp.e.func, SocketFunc::kRead);
    EXPECT_EQ(cresp.e.direction, Direction::kIngress);
    EXPECT_EQ(cresp.data, responses[k]);
    EXPECT_EQ(sreq.e.direction, Direction::kIngress);
    EXPECT_EQ(sreq.data, requests[k]);
    EXPECT_EQ(sresp.e.direction, Direction::kEgress);
    EXPECT_EQ(sresp.data, responses[k]);
    for (const Owned* o : {&creq, &cresp}) {
      EXPECT_EQ(o->e.pid, static_cast<uint32_t>(getpid()));
      EXPECT_EQ(o->comm, "fs-tcp-client");
      EXPECT_EQ(o->e.socket_id, co.socket_id);
      EXPECT_EQ(o->e.role, SocketRole::kClient);
      EXPECT_EQ(o->e.local_port, co.local_port);
      EXPECT_EQ(o->e.remote_port, l.port);
      EXPECT_TRUE(o->e.tcp_seq_valid);
    }
    for (const Owned* o : {&sreq, &sresp}) {
      EXPECT_EQ(o->comm, "fs-tcp-server");
      EXPECT_EQ(o->e.socket_id, so.socket_id);
      EXPECT_EQ(o->e.role, SocketRole::kServer);
      EXPECT_EQ(o->e.local_port, l.port);
    }
    // One sequence space per direction, seen identically from both ends.
    EXPECT_EQ(sreq.e.tcp_seq, creq.e.tcp_seq);
    EXPECT_EQ(cresp.e.tcp_seq, sresp.e.tcp_seq);
    if (k + 1 < requests.size()) {
      EXPECT_EQ(cdata[2 * k + 2].e.tcp_seq, creq.e.tcp_seq + requests[k].size());
      EXPECT_EQ(sdata[2 * k + 3].e.tcp_seq, sresp.e.tcp_seq + responses[k].size());
    }
    // Send timestamps at entry, receive timestamps at return: the request is sent before the
    // server has it, and both are near now on the wall clock.
    EXPECT_LE(creq.e.mono_ns, sreq.e.mono_ns);
  }
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  EXPECT_LT(std::llabs(now_ns - static_cast<int64_t>(cdata[0].e.ts_ns)), 60'000'000'000LL);

  auto closes = t.Where([&](const Owned& o) { return o.e.kind == SocketEventKind::kClose; });
  std::set<uint64_t> closed;
  for (const auto& c : closes) closed.insert(c.e.socket_id);
  EXPECT_TRUE(closed.count(co.socket_id)) << "client close missing";
  EXPECT_TRUE(closed.count(so.socket_id)) << "server close missing";
  auto c = t.tracer().Counters();
  EXPECT_GE(c.data_events, 12u);
  EXPECT_EQ(c.ring_full, 0u);
  EXPECT_EQ(c.malformed, 0u);
  EXPECT_GE(c.delivered, 12u + 4u);
}

// A 100 KB write is reported with its real length and the first capture_bytes bytes; the
// receiver's reads continue each other's sequence numbers and share one trace id.
TEST(SocketTracerTest, LargeWriteTruncatedToCaptureBytes) {
  REQUIRE_ROOT();
  Traced t(OwnProcess());
  START_OR_FAIL(t);
  std::string big(100000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('A' + (i * 7 + i / 26) % 26);
  Listener l = Listen(AF_INET, SOCK_STREAM);
  int sfd = -1, cfd = -1;
  uint32_t stid = 0, ctid = 0;
  std::string received;
  std::thread server([&] {
    stid = Tid();
    sfd = accept(l.fd, nullptr, nullptr);
    Timeouts(sfd);
    received = ReadN(sfd, big.size());
  });
  std::thread client([&] {
    ctid = Tid();
    cfd = Connect(AF_INET, l.port);
    Timeouts(cfd);
    EXPECT_EQ(write(cfd, big.data(), big.size()), static_cast<ssize_t>(big.size()));
  });
  client.join();
  server.join();
  ASSERT_EQ(received, big);
  t.Drain();
  auto sent = t.Data(ctid, cfd);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].e.msg_len, 100000u);
  EXPECT_EQ(sent[0].data.size(), 1024u);
  EXPECT_EQ(sent[0].data, big.substr(0, 1024));
  auto reads = t.Data(stid, sfd);
  ASSERT_GE(reads.size(), 1u);
  uint64_t total = 0;
  for (size_t i = 0; i < reads.size(); ++i) {
    const SocketEvent& e = reads[i].e;
    EXPECT_EQ(reads[i].data, big.substr(total, std::min<size_t>(1024, e.msg_len)));
    EXPECT_EQ(e.tcp_seq, static_cast<uint32_t>(sent[0].e.tcp_seq + total));
    EXPECT_EQ(e.syscall_trace_id, reads[0].e.syscall_trace_id);  // consecutive ingress
    total += e.msg_len;
  }
  EXPECT_EQ(total, 100000u);
  close(sfd);
  close(cfd);
  close(l.fd);
}

// TCP over IPv6 with the gather/scatter calls: writev/readv, sendmsg/recvmsg.
TEST(SocketTracerTest, TcpIpv6VectoredCalls) {
  REQUIRE_ROOT();
  Traced t(OwnProcess());
  START_OR_FAIL(t);
  Listener l = Listen(AF_INET6, SOCK_STREAM);
  ASSERT_GE(l.fd, 0);
  int sfd = -1, cfd = -1;
  uint32_t stid = 0, ctid = 0;
  std::thread server([&] {
    stid = Tid();
    sfd = accept(l.fd, nullptr, nullptr);
    Timeouts(sfd);
    char a[4], b[100];
    iovec iov[2] = {{a, sizeof(a)}, {b, sizeof(b)}};
    ssize_t n = readv(sfd, iov, 2);
    EXPECT_EQ(n, 10);
    std::string r1 = "HTTP/1.1 ", r2 = "200 OK\r\n";
    iovec out[2] = {{r1.data(), r1.size()}, {r2.data(), r2.size()}};
    msghdr m{};
    m.msg_iov = out;
    m.msg_iovlen = 2;
    EXPECT_EQ(sendmsg(sfd, &m, 0), 17);
  });
  std::thread client([&] {
    ctid = Tid();
    cfd = Connect(AF_INET6, l.port);
    Timeouts(cfd);
    std::string p1 = "abc", p2 = "defg", p3 = "hij";
    iovec iov[3] = {{p1.data(), 3}, {p2.data(), 4}, {p3.data(), 3}};
    EXPECT_EQ(writev(cfd, iov, 3), 10);
    char buf[64];
    iovec in{buf, sizeof(buf)};
    msghdr m{};
    m.msg_iov = &in;
    m.msg_iovlen = 1;
    size_t got = 0;
    while (got < 17) {
      in.iov_base = buf + got;
      in.iov_len = sizeof(buf) - got;
      ssize_t r = recvmsg(cfd, &m, 0);
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    EXPECT_EQ(got, 17u);
  });
  client.join();
  server.join();
  t.Drain();
  auto c = t.Data(ctid, cfd);
  auto s = t.Data(stid, sfd);
  ASSERT_GE(c.size(), 2u);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(c[0].e.func, SocketFunc::kWritev);
  EXPECT_EQ(c[0].data, "abcdefghij");
  EXPECT_EQ(c[0].e.msg_len, 10u);
  EXPECT_FALSE(c[0].e.local_ip.is_v4);
  EXPECT_EQ(c[0].e.local_ip.ToString(), "::1");
  EXPECT_EQ(c[0].e.remote_ip.ToString(), "::1");
  EXPECT_EQ(c[0].e.remote_port, l.port);
  EXPECT_EQ(s[0].e.func, SocketFunc::kReadv);
  EXPECT_EQ(s[0].data, "abcdefghij");
  EXPECT_EQ(s[0].e.tcp_seq, c[0].e.tcp_seq);
  EXPECT_EQ(s[1].e.func, SocketFunc::kSendmsg);
  EXPECT_EQ(s[1].data, "HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(c[1].e.func, SocketFunc::kRecvmsg);
  std::string joined;
  for (size_t i = 1; i < c.size(); ++i) joined += c[i].data;
  EXPECT_EQ(joined, "HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(c[1].e.tcp_seq, s[1].e.tcp_seq);
  EXPECT_EQ(s[0].e.socket_id, s[1].e.socket_id);
  EXPECT_EQ(c[0].e.socket_id, c[1].e.socket_id);
  close(sfd);
  close(cfd);
  close(l.fd);
}

// Unconnected UDP: sendto/recvfrom take the peer from the call's sockaddr; sendmmsg and
// recvmmsg give one event per datagram.
TEST(SocketTracerTest, UdpDatagrams) {
  REQUIRE_ROOT();
  Traced t(OwnProcess());
  START_OR_FAIL(t);
  Listener srv = Listen(AF_INET, SOCK_DGRAM);
  int cli = socket(AF_INET, SOCK_DGRAM, 0);
  Timeouts(srv.fd);
  Timeouts(cli);
  Addr to = Loopback(AF_INET, srv.port);
  ASSERT_EQ(sendto(cli, "ping", 4, 0, to.get(), to.len), 4);
  sockaddr_in from{};
  socklen_t fromlen = sizeof(from);
  char buf[2048];
  ASSERT_EQ(recvfrom(srv.fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &fromlen), 4);
  const uint16_t cport = ntohs(from.sin_port);

  std::vector<std::string> dgrams = {"first", "second datagram", std::string(1500, 'z')};
  std::vector<mmsghdr> msgs(dgrams.size());
  std::vector<iovec> iovs(dgrams.size());
  for (size_t i = 0; i < dgrams.size(); ++i) {
    iovs[i] = {dgrams[i].data(), dgrams[i].size()};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = to.get();
    msgs[i].msg_hdr.msg_namelen = to.len;
  }
  ASSERT_EQ(sendmmsg(cli, msgs.data(), msgs.size(), 0), 3);
  std::vector<std::string> rbufs(8, std::string(2048, '\0'));
  std::vector<mmsghdr> rmsgs(8);
  std::vector<iovec> riovs(8);
  std::vector<sockaddr_in> rfrom(8);
  size_t received = 0;
  for (int attempt = 0; attempt < 3 && received < 3; ++attempt) {
    for (size_t i = 0; i < 8; ++i) {
      riovs[i] = {rbufs[i].data(), rbufs[i].size()};
      rmsgs[i] = {};
      rmsgs[i].msg_hdr.msg_iov = &riovs[i];
      rmsgs[i].msg_hdr.msg_iovlen = 1;
      rmsgs[i].msg_hdr.msg_name = &rfrom[i];
      rmsgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    }
    int n = recvmmsg(srv.fd, rmsgs.data(), 8, MSG_WAITFORONE, nullptr);
    ASSERT_GT(n, 0);
    received += static_cast<size_t>(n);
  }
  ASSERT_EQ(received, 3u);
  t.Drain();
  const uint32_t tid = Tid();
  auto c = t.Data(tid, cli);
  auto s = t.Data(tid, srv.fd);
  ASSERT_EQ(c.size(), 4u);
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(c[0].e.func, SocketFunc::kSendto);
  EXPECT_EQ(c[0].data, "ping");
  EXPECT_EQ(c[0].e.l4_protocol, 17);
  EXPECT_TRUE(c[0].e.remote_from_msg);
  EXPECT_EQ(c[0].e.remote_port, srv.port);
  EXPECT_EQ(c[0].e.remote_ip.ToString(), "127.0.0.1");
  EXPECT_EQ(c[0].e.local_port, cport);
  EXPECT_EQ(c[0].e.role, SocketRole::kClient);  // unconnected UDP: the first sender
  EXPECT_TRUE(c[0].e.role_inferred);
  EXPECT_FALSE(c[0].e.tcp_seq_valid);
  EXPECT_EQ(s[0].e.func, SocketFunc::kRecvfrom);
  EXPECT_EQ(s[0].data, "ping");
  EXPECT_EQ(s[0].e.remote_port, cport);
  EXPECT_EQ(s[0].e.local_port, srv.port);
  EXPECT_EQ(s[0].e.role, SocketRole::kServer);
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(c[i + 1].e.func, SocketFunc::kSendmmsg);
    EXPECT_EQ(c[i + 1].e.msg_len, dgrams[i].size());
    EXPECT_EQ(c[i + 1].data, dgrams[i].substr(0, 1024));
    EXPECT_EQ(c[i + 1].e.remote_port, srv.port);
    EXPECT_EQ(s[i + 1].e.func, SocketFunc::kRecvmmsg);
    EXPECT_EQ(s[i + 1].e.msg_len, dgrams[i].size());
    EXPECT_EQ(s[i + 1].data, dgrams[i].substr(0, 1024));
    EXPECT_EQ(s[i + 1].e.remote_port, cport);
    EXPECT_EQ(s[i + 1].e.socket_id, s[0].e.socket_id);
    EXPECT_EQ(c[i + 1].e.socket_id, c[0].e.socket_id);
  }
  close(cli);
  close(srv.fd);
}

// syscall_trace_id on one thread: reads in a row share an id, the next write reuses it, the
// read after a write starts a new one.
TEST(SocketTracerTest, SyscallTraceId) {
  REQUIRE_ROOT();
  Traced t(OwnProcess());
  START_OR_FAIL(t);
  Listener front = Listen(AF_INET, SOCK_STREAM), back = Listen(AF_INET, SOCK_STREAM);
  int front_client = Connect(AF_INET, front.port);
  int front_server = accept(front.fd, nullptr, nullptr);
  int back_client = Connect(AF_INET, back.port);
  int back_server = accept(back.fd, nullptr, nullptr);
  for (int fd : {front_client, front_server, back_client, back_server}) Timeouts(fd);
  // Everything the middle thread will read is queued first, in separate writes.
  ASSERT_EQ(write(front_client, "req1", 4), 4);
  ASSERT_EQ(write(front_client, "more", 4), 4);
  uint32_t mid = 0;
  std::thread middle([&] {
    mid = Tid();
    EXPECT_EQ(ReadN(front_server, 4), "req1");     // ingress: new id A
    EXPECT_EQ(ReadN(front_server, 4), "more");     // ingress after ingress: A
    EXPECT_EQ(write(back_client, "call", 4), 4);   // egress: A
    EXPECT_EQ(ReadN(back_client, 5), "reply");     // ingress after egress: new id B
    EXPECT_EQ(write(front_server, "resp", 4), 4);  // egress: B
    EXPECT_EQ(ReadN(front_server, 4), "req2");     // new inbound request: new id C
  });
  EXPECT_EQ(ReadN(back_server, 4), "call");
  ASSERT_EQ(write(back_server, "reply", 5), 5);
  EXPECT_EQ(ReadN(front_client, 4), "resp");
  ASSERT_EQ(write(front_client, "req2", 4), 4);
  middle.join();
  t.Drain();
  auto ev =
      t.Where([&](const Owned& o) { return o.e.kind == SocketEventKind::kData && o.e.tid == mid; });
  ASSERT_EQ(ev.size(), 6u);
  std::vector<std::string> payloads;
  for (const auto& o : ev) payloads.push_back(o.data);
  ASSERT_EQ(payloads, (std::vector<std::string>{"req1", "more", "call", "reply", "resp", "req2"}));
  const uint64_t a = ev[0].e.syscall_trace_id, b = ev[3].e.syscall_trace_id,
                 c = ev[5].e.syscall_trace_id;
  EXPECT_NE(a, 0u);
  EXPECT_EQ(ev[1].e.syscall_trace_id, a);
  EXPECT_EQ(ev[2].e.syscall_trace_id, a);
  EXPECT_NE(b, a);
  EXPECT_EQ(ev[4].e.syscall_trace_id, b);
  EXPECT_NE(c, b);
  EXPECT_NE(c, a);
  // A thread that never received sends with id 0.
  auto first_write = t.Where([&](const Owned& o) {
    return o.e.kind == SocketEventKind::kData && o.e.fd == front_client && o.data == "req1";
  });
  ASSERT_EQ(first_write.size(), 1u);
  EXPECT_EQ(first_write[0].e.syscall_trace_id, 0u);
  for (int fd : {front_client, front_server, back_client, back_server, front.fd, back.fd}) {
    close(fd);
  }
}

// Files, pipes and unix sockets produce no events (only counters).
TEST(SocketTracerTest, NonInetDescriptorsAreIgnored) {
  REQUIRE_ROOT();
  Traced t(OwnProcess());
  START_OR_FAIL(t);
  const auto before = t.tracer().Counters();
  uint32_t tid = 0;
  std::thread worker([&] {
    tid = Tid();
    char path[] = "/tmp/fs_ebpf_file_XXXXXX";
    int f = mkstemp(path);
    EXPECT_EQ(write(f, "file bytes", 10), 10);
    lseek(f, 0, SEEK_SET);
    char buf[16];
    EXPECT_EQ(read(f, buf, sizeof(buf)), 10);
    close(f);
    unlink(path);
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    EXPECT_EQ(write(p[1], "pipe", 4), 4);
    EXPECT_EQ(read(p[0], buf, 4), 4);
    close(p[0]);
    close(p[1]);
    int u[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, u), 0);
    EXPECT_EQ(write(u[0], "unix", 4), 4);
    EXPECT_EQ(read(u[1], buf, 4), 4);
    close(u[0]);
    close(u[1]);
  });
  worker.join();
  t.Drain();
  EXPECT_TRUE(t.Where([&](const Owned& o) { return o.e.tid == tid; }).empty());
  const auto after = t.tracer().Counters();
  EXPECT_GE(after.not_socket - before.not_socket, 4u);  // file write+read, pipe write+read
  EXPECT_GE(after.not_inet - before.not_inet, 2u);      // unix write+read
}

// close() of a dup()ed descriptor does not end the socket; closing the last one does.
TEST(SocketTracerTest, CloseOnlyWhenLastReferenceGoes) {
  REQUIRE_ROOT();
  Traced t(OwnProcess());
  START_OR_FAIL(t);
  Listener l = Listen(AF_INET, SOCK_STREAM);
  int c = Connect(AF_INET, l.port);
  int s = accept(l.fd, nullptr, nullptr);
  int c2 = dup(c);
  close(c);
  ASSERT_EQ(write(c2, "still open", 10), 10);
  t.Drain(200);
  auto open =
      t.Where([&](const Owned& o) { return o.e.kind == SocketEventKind::kOpen && o.e.fd == c; });
  ASSERT_EQ(open.size(), 1u);
  const uint64_t id = open[0].e.socket_id;
  auto closes = [&] {
    return t.Where(
        [&](const Owned& o) { return o.e.kind == SocketEventKind::kClose && o.e.socket_id == id; });
  };
  EXPECT_TRUE(closes().empty());
  auto w =
      t.Where([&](const Owned& o) { return o.e.kind == SocketEventKind::kData && o.e.fd == c2; });
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].e.socket_id, id);
  close(c2);
  t.Drain(200);
  ASSERT_EQ(closes().size(), 1u);
  EXPECT_EQ(closes()[0].e.fd, c2);
  close(s);
  close(l.fd);
}

// A ring that cannot hold the burst: drops are counted, never silent.
TEST(SocketTracerTest, RingFullIsCounted) {
  REQUIRE_ROOT();
  SocketTracerOptions o = OwnProcess();
  o.ring_bytes = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  o.capture_bytes = 1024;
  Traced t(o);
  START_OR_FAIL(t);
  Listener l = Listen(AF_INET, SOCK_STREAM);
  int c = Connect(AF_INET, l.port);
  int s = accept(l.fd, nullptr, nullptr);
  Timeouts(c);
  Timeouts(s);
  std::string msg(1000, 'x');
  const int kMessages = 64;
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_EQ(write(c, msg.data(), msg.size()), static_cast<ssize_t>(msg.size()));
  }
  t.Drain();
  auto counters = t.tracer().Counters();
  EXPECT_GT(counters.ring_full, 0u);
  // The connect/accept records went into the empty ring first; every write after is either
  // in the ring or counted as dropped.
  EXPECT_EQ(counters.data_events + counters.ring_full, static_cast<uint64_t>(kMessages));
  auto delivered = t.Where([&](const Owned& ev) { return ev.e.kind == SocketEventKind::kData; });
  EXPECT_EQ(delivered.size(), counters.data_events);
  close(c);
  close(s);
  close(l.fd);
}

// A machine where tracefs is not mounted (CI's fresh VMs): the loader mounts it, says so, and
// traces. Runs in a child process with a private mount namespace, so the host keeps its mounts.
TEST(SocketTracerTest, MountsTracefsWhenMissing) {
  REQUIRE_ROOT();
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(out[0]);
    auto fail = [&](const std::string& why) {
      (void)!write(out[1], why.data(), why.size());
      _exit(1);
    };
    if (unshare(CLONE_NEWNS) != 0) fail("unshare: " + std::string(strerror(errno)));
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail("private mounts");
    // Everything that could serve libbpf's tracepoint lookup goes away in this namespace.
    for (const char* m :
         {"/sys/kernel/debug/tracing", "/sys/kernel/tracing", "/sys/kernel/debug"}) {
      umount2(m, MNT_DETACH);
    }
    if (access("/sys/kernel/tracing/events", F_OK) == 0) fail("could not unmount tracefs");
    std::string log;
    SocketTracerOptions o = OwnProcess();
    o.log = [&](std::string_view m) { log.append(m).append("\n"); };
    SocketTracer tracer(o);
    absl::Status st = tracer.Start();
    if (!st.ok()) fail("start: " + st.ToString());
    if (log.find("mounted tracefs on /sys/kernel/tracing") == std::string::npos) {
      fail("no mount message in log: " + log);
    }
    Listener l = Listen(AF_INET, SOCK_STREAM);
    int c = Connect(AF_INET, l.port);
    if (write(c, "after mount", 11) != 11) fail("write");
    bool seen = false;
    for (int i = 0; i < 100 && !seen; ++i) {
      (void)tracer.Poll(20, [&](const SocketEvent& e) {
        seen |= e.kind == SocketEventKind::kData && e.data == "after mount";
      });
    }
    if (!seen) fail("no event after mounting tracefs");
    _exit(0);
  }
  close(out[1]);
  std::string why;
  char buf[512];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof(buf))) > 0) why.append(buf, static_cast<size_t>(n));
  close(out[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << why;
}

// ---- TLS: real OpenSSL programs ----

// A child process, killed and reaped at scope exit.
class Child {
 public:
  // Runs argv with optional extra environment; stdin from a pipe when `pipe_stdin`.
  Child(std::vector<std::string> argv, std::vector<std::string> env_extra = {},
        bool pipe_stdin = false) {
    int in[2] = {-1, -1};
    if (pipe_stdin && pipe(in) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      if (pipe_stdin) {
        dup2(in[0], 0);
        close(in[0]);
        close(in[1]);
      } else {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
      }
      int devnull_out = open("/dev/null", O_WRONLY);
      dup2(devnull_out, 1);
      dup2(devnull_out, 2);
      for (const auto& e : env_extra) putenv(const_cast<char*>(e.c_str()));
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    if (pipe_stdin) {
      close(in[0]);
      stdin_ = in[1];
    }
  }
  ~Child() {
    if (stdin_ >= 0) close(stdin_);
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGTERM);
      Wait(2000);
      if (!reaped_) {
        kill(pid_, SIGKILL);
        Wait(2000);
      }
    }
  }
  pid_t pid() const { return pid_; }
  int stdin_fd() const { return stdin_; }
  void CloseStdin() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
  }
  // Waits up to max_ms for exit; returns the exit status or -1.
  int Wait(int max_ms) {
    const auto end = Clock::now() + std::chrono::milliseconds(max_ms);
    while (!reaped_ && Clock::now() < end) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return reaped_ ? status_ : -1;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  bool reaped_ = false;
  int status_ = -1;
};

bool WaitForPort(uint16_t port, int max_ms) {
  const auto end = Clock::now() + std::chrono::milliseconds(max_ms);
  while (Clock::now() < end) {
    int fd = Connect(AF_INET, port);
    if (fd >= 0) {
      close(fd);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

uint16_t FreePort() {
  Listener l = Listen(AF_INET, SOCK_STREAM);
  uint16_t p = l.port;
  close(l.fd);
  return p;
}

bool HaveTool(const char* name) {
  std::string cmd = std::string("command -v ") + name + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// nginx with a self-signed certificate on 127.0.0.1:port, in a scratch directory.
class TlsServer {
 public:
  TlsServer() {
    char tmpl[] = "/tmp/fs_ebpf_tls_XXXXXX";
    dir_ = mkdtemp(tmpl);
    port_ = FreePort();
    std::filesystem::create_directories(dir_ + "/html");
    std::filesystem::create_directories(dir_ + "/logs");
    std::ofstream(dir_ + "/html/index.html") << "hello over tls\n";
    const std::string gen = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + dir_ +
                            "/key.pem -out " + dir_ +
                            "/cert.pem -days 2 -subj /CN=localhost >/dev/null 2>&1";
    if (std::system(gen.c_str()) != 0) return;
    std::ofstream conf(dir_ + "/nginx.conf");
    conf << "worker_processes 1;\npid " << dir_ << "/nginx.pid;\nerror_log " << dir_
         << "/logs/error.log;\nuser root;\nevents { worker_connections 64; }\nhttp {\n"
         << "  access_log " << dir_ << "/logs/access.log;\n"
         << "  client_body_temp_path " << dir_ << "/body;\n  proxy_temp_path " << dir_
         << "/proxy;\n  fastcgi_temp_path " << dir_ << "/fcgi;\n  uwsgi_temp_path " << dir_
         << "/uwsgi;\n  scgi_temp_path " << dir_ << "/scgi;\n"
         << "  server { listen 127.0.0.1:" << port_ << " ssl; root " << dir_ << "/html;\n"
         << "    ssl_certificate " << dir_ << "/cert.pem; ssl_certificate_key " << dir_
         << "/key.pem; }\n}\n";
    conf.close();
    nginx_ = std::make_unique<Child>(std::vector<std::string>{
        "nginx", "-p", dir_, "-c", dir_ + "/nginx.conf", "-g", "daemon off;"});
    ready_ = WaitForPort(port_, 5000);
  }
  ~TlsServer() {
    nginx_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  bool ready() const { return ready_; }
  uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  uint16_t port_ = 0;
  std::unique_ptr<Child> nginx_;
  bool ready_ = false;
};

SocketTracerOptions AllProcessesWithTls() {
  SocketTracerOptions o;
  o.tls = true;
  return o;
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// nginx (started before the tracer) and curl (after): both ends' plaintext, on the TCP
// connection's tuple and socket.
TEST(SocketTracerTlsTest, NginxAndCurlPlaintext) {
  REQUIRE_ROOT();
  if (!HaveTool("nginx") || !HaveTool("curl") || !HaveTool("openssl")) {
    GTEST_SKIP() << "needs nginx, curl and openssl";
  }
  TlsServer server;
  ASSERT_TRUE(server.ready()) << "nginx did not listen on " << server.port();
  Traced t(AllProcessesWithTls());
  START_OR_FAIL(t);
  ASSERT_FALSE(t.tracer().TlsLibraries().empty());
  const std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/";
  Child curl({"curl", "-sk", "--max-time", "5", "-o", "/dev/null", url});
  ASSERT_EQ(curl.Wait(8000), 0) << "curl failed";
  const uint32_t curl_pid = static_cast<uint32_t>(curl.pid());
  auto tls_of = [&](uint32_t pid, Direction dir, std::string_view prefix) {
    return t.Where([&, pid, dir, prefix](const Owned& o) {
      return o.e.kind == SocketEventKind::kData && o.e.pid == pid && o.e.is_tls &&
             o.e.direction == dir && StartsWith(o.data, prefix);
    });
  };
  ASSERT_TRUE(t.PollUntil([&] {
    return !tls_of(curl_pid, Direction::kEgress, "GET / HTTP/1.1").empty() &&
           !tls_of(curl_pid, Direction::kIngress, "HTTP/1.1 200").empty();
  })) << "curl plaintext not seen; counters: tls_events="
      << t.tracer().Counters().tls_events;
  t.Drain(200, 2000);
  const Owned req = tls_of(curl_pid, Direction::kEgress, "GET / HTTP/1.1")[0];
  const Owned resp = tls_of(curl_pid, Direction::kIngress, "HTTP/1.1 200")[0];
  EXPECT_EQ(req.comm, "curl");
  EXPECT_EQ(req.e.func, SocketFunc::kSslWrite);
  EXPECT_EQ(req.e.remote_port, server.port());
  EXPECT_EQ(req.e.remote_ip.ToString(), "127.0.0.1");
  EXPECT_EQ(req.e.role, SocketRole::kClient);
  EXPECT_NE(req.e.socket_id, 0u);
  EXPECT_EQ(resp.e.socket_id, req.e.socket_id);
  EXPECT_EQ(resp.e.local_port, req.e.local_port);
  EXPECT_FALSE(req.e.tcp_seq_valid);
  EXPECT_THAT(req.data, HasSubstr("Host: 127.0.0.1"));
  // The ciphertext of the same socket is marked as such.
  auto cipher = t.Where([&](const Owned& o) {
    return o.e.kind == SocketEventKind::kData && o.e.socket_id == req.e.socket_id && !o.e.is_tls &&
           o.e.tls_ciphertext;
  });
  EXPECT_FALSE(cipher.empty());
  // nginx's worker saw the same request and sent the response, on the other end.
  auto server_req = t.Where([&](const Owned& o) {
    return o.e.kind == SocketEventKind::kData && o.comm == "nginx" && o.e.is_tls &&
           o.e.direction == Direction::kIngress && StartsWith(o.data, "GET / HTTP/1.1") &&
           o.e.remote_port == req.e.local_port;
  });
  ASSERT_EQ(server_req.size(), 1u);
  EXPECT_EQ(server_req[0].e.local_port, server.port());
  EXPECT_EQ(server_req[0].e.role, SocketRole::kServer);
  auto server_resp = t.Where([&](const Owned& o) {
    return o.e.kind == SocketEventKind::kData && o.e.pid == server_req[0].e.pid && o.e.is_tls &&
           o.e.direction == Direction::kEgress && StartsWith(o.data, "HTTP/1.1 200") &&
           o.e.remote_port == req.e.local_port;
  });
  ASSERT_FALSE(server_resp.empty());
  // The server thread received then sent: one syscall_trace_id.
  EXPECT_EQ(server_resp[0].e.syscall_trace_id, server_req[0].e.syscall_trace_id);
}

// A libssl file nobody mapped when the tracer started (a private copy loaded through
// LD_LIBRARY_PATH by a process started later) is found through the exec event and traced.
TEST(SocketTracerTlsTest, LibraryOfLaterProcessIsAttached) {
  REQUIRE_ROOT();
  if (!HaveTool("nginx") || !HaveTool("openssl")) GTEST_SKIP() << "needs nginx and openssl";
  std::string system_libssl;
  for (const char* p :
       {"/usr/lib/x86_64-linux-gnu/libssl.so.3", "/lib/x86_64-linux-gnu/libssl.so.3",
        "/usr/lib/aarch64-linux-gnu/libssl.so.3", "/usr/lib64/libssl.so.3"}) {
    if (access(p, R_OK) == 0) {
      system_libssl = p;
      break;
    }
  }
  if (system_libssl.empty()) GTEST_SKIP() << "no libssl.so.3 found";
  TlsServer server;
  ASSERT_TRUE(server.ready());
  const std::string libdir = server.dir() + "/privlib";
  std::filesystem::create_directories(libdir);
  std::filesystem::copy_file(system_libssl, libdir + "/libssl.so.3");

  Traced t(AllProcessesWithTls());
  START_OR_FAIL(t);
  auto attached_copy = [&] {
    for (const auto& p : t.tracer().TlsLibraries()) {
      if (p.size() >= libdir.size() + 12 &&
          p.substr(p.size() - libdir.size() - 12) == libdir + "/libssl.so.3") {
        return true;
      }
    }
    return false;
  };
  ASSERT_FALSE(attached_copy());
  Child client(
      {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(server.port()), "-quiet"},
      {"LD_LIBRARY_PATH=" + libdir}, /*pipe_stdin=*/true);
  ASSERT_TRUE(t.PollUntil(attached_copy, 8000)) << "private libssl copy not attached";
  const std::string request = "GET / HTTP/1.1\r\nHost: late\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(write(client.stdin_fd(), request.data(), request.size()),
            static_cast<ssize_t>(request.size()));
  const uint32_t pid = static_cast<uint32_t>(client.pid());
  auto seen = [&] {
    return t.Where([&](const Owned& o) {
      return o.e.pid == pid && o.e.is_tls && o.e.direction == Direction::kEgress &&
             StartsWith(o.data, "GET / HTTP/1.1\r\nHost: late");
    });
  };
  ASSERT_TRUE(t.PollUntil([&] { return !seen().empty(); }, 8000));
  const Owned ev = seen()[0];
  EXPECT_EQ(ev.comm, "openssl");
  EXPECT_EQ(ev.e.remote_port, server.port());
  EXPECT_EQ(ev.e.role, SocketRole::kClient);
  ASSERT_TRUE(t.PollUntil(
      [&] {
        return !t.Where([&](const Owned& o) {
                   return o.e.pid == pid && o.e.is_tls && o.e.direction == Direction::kIngress &&
                          StartsWith(o.data, "HTTP/1.1 200");
                 }).empty();
      },
      8000))
      << "response plaintext not seen";
  client.CloseStdin();
  client.Wait(3000);
}

}  // namespace
}  // namespace flowscope::agent::ebpf
