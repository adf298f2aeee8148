#include "agent/ebpf/socket_event.h"

#include <cstring>
#include <string>
#include <vector>

#include "agent/ebpf/socket_trace_event.h"
#include "gtest/gtest.h"

namespace flowscope::agent::ebpf {
namespace {

std::vector<uint8_t> Record(const fs_sock_event& h, std::string_view payload) {
  std::vector<uint8_t> out(sizeof(h) + payload.size());
  std::memcpy(out.data(), &h, sizeof(h));
  std::memcpy(out.data() + sizeof(h), payload.data(), payload.size());
  return out;
}

fs_sock_event DataHeader(std::string_view payload) {
  fs_sock_event h{};
  h.kind = FS_EV_DATA;
  h.direction = FS_DIR_INGRESS;
  h.role = FS_ROLE_SERVER;
  h.func = FS_FN_RECVFROM;
  h.flags = FS_F_SEQ_VALID | FS_F_ROLE_INFERRED;
  h.family = 2;
  h.l4_proto = 6;
  h.pid = 100;
  h.tid = 101;
  h.fd = 7;
  h.tcp_seq = 0xfffffff0u;
  h.ts_ns = 5'000'000'000;
  h.socket_id = 42;
  h.syscall_trace_id = 9;
  h.msg_len = 100000;
  h.cap_len = static_cast<uint32_t>(payload.size());
  h.local_port = 8080;
  h.remote_port = 40000;
  const uint8_t local[4] = {127, 0, 0, 1}, remote[4] = {10, 1, 2, 3};
  std::memcpy(h.local_addr, local, 4);
  std::memcpy(h.remote_addr, remote, 4);
  std::memcpy(h.comm, "server-thread", 13);
  return h;
}

TEST(DecodeRecordTest, DataRecord) {
  auto rec = Record(DataHeader("GET / HTTP/1.1\r\n"), "GET / HTTP/1.1\r\n");
  SocketEvent e;
  uint32_t exec_pid = 0;
  ASSERT_EQ(DecodeRecord(rec.data(), rec.size(), 1'000, &e, &exec_pid), DecodeStatus::kEvent);
  EXPECT_EQ(e.kind, SocketEventKind::kData);
  EXPECT_EQ(e.func, SocketFunc::kRecvfrom);
  EXPECT_EQ(e.pid, 100u);
  EXPECT_EQ(e.tid, 101u);
  EXPECT_EQ(e.comm, "server-thread");
  EXPECT_EQ(e.mono_ns, 5'000'000'000u);
  EXPECT_EQ(e.ts_ns, 5'000'001'000u);
  EXPECT_EQ(e.direction, Direction::kIngress);
  EXPECT_EQ(e.local_ip.ToString(), "127.0.0.1");
  EXPECT_EQ(e.remote_ip.ToString(), "10.1.2.3");
  EXPECT_EQ(e.local_port, 8080);
  EXPECT_EQ(e.remote_port, 40000);
  EXPECT_EQ(e.l4_protocol, 6);
  EXPECT_EQ(e.socket_id, 42u);
  EXPECT_EQ(e.role, SocketRole::kServer);
  EXPECT_TRUE(e.role_inferred);
  EXPECT_TRUE(e.tcp_seq_valid);
  EXPECT_EQ(e.tcp_seq, 0xfffffff0u);
  EXPECT_EQ(e.syscall_trace_id, 9u);
  EXPECT_FALSE(e.is_tls);
  EXPECT_EQ(e.fd, 7);
  EXPECT_EQ(e.msg_len, 100000u);
  EXPECT_EQ(e.data, "GET / HTTP/1.1\r\n");
}

TEST(DecodeRecordTest, FullCommIsNotReadPastItsField) {
  fs_sock_event h = DataHeader("x");
  std::memset(h.comm, 'a', sizeof(h.comm));  // 16 bytes, no NUL
  auto rec = Record(h, "x");
  SocketEvent e;
  uint32_t pid = 0;
  ASSERT_EQ(DecodeRecord(rec.data(), rec.size(), 0, &e, &pid), DecodeStatus::kEvent);
  EXPECT_EQ(e.comm, std::string(16, 'a'));
}

TEST(DecodeRecordTest, MappedIpv6BecomesIpv4AndIpv6Stays) {
  fs_sock_event h = DataHeader("");
  h.family = 10;
  const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 2};
  uint8_t v6[16] = {};
  v6[15] = 1;  // ::1
  std::memcpy(h.local_addr, mapped, 16);
  std::memcpy(h.remote_addr, v6, 16);
  h.kind = FS_EV_OPEN;
  auto rec = Record(h, "");
  SocketEvent e;
  uint32_t pid = 0;
  ASSERT_EQ(DecodeRecord(rec.data(), rec.size(), 0, &e, &pid), DecodeStatus::kEvent);
  EXPECT_EQ(e.kind, SocketEventKind::kOpen);
  EXPECT_TRUE(e.local_ip.is_v4);
  EXPECT_EQ(e.local_ip.ToString(), "192.168.1.2");
  EXPECT_FALSE(e.remote_ip.is_v4);
  EXPECT_EQ(e.remote_ip.ToString(), "::1");
}

TEST(DecodeRecordTest, ExecRecord) {
  fs_exec_event x{};
  x.kind = FS_EV_EXEC;
  x.pid = 4242;
  SocketEvent e;
  uint32_t pid = 0;
  EXPECT_EQ(DecodeRecord(&x, sizeof(x), 0, &e, &pid), DecodeStatus::kExec);
  EXPECT_EQ(pid, 4242u);
  EXPECT_EQ(DecodeRecord(&x, sizeof(x) - 1, 0, &e, &pid), DecodeStatus::kMalformed);
}

TEST(DecodeRecordTest, MalformedRecordsAreRejected) {
  const std::string payload = "0123456789";
  SocketEvent e;
  uint32_t pid = 0;
  // Empty and too short for a header.
  EXPECT_EQ(DecodeRecord(nullptr, 0, 0, &e, &pid), DecodeStatus::kMalformed);
  auto rec = Record(DataHeader(payload), payload);
  for (size_t n = 1; n < sizeof(fs_sock_event); n += 7) {
    EXPECT_EQ(DecodeRecord(rec.data(), n, 0, &e, &pid), DecodeStatus::kMalformed) << n;
  }
  // cap_len beyond the record: every truncation of the payload is caught (ASan would see an
  // over-read otherwise: the buffer is exactly `n` bytes).
  for (size_t n = sizeof(fs_sock_event); n < rec.size(); ++n) {
    std::vector<uint8_t> cut(rec.begin(), rec.begin() + static_cast<long>(n));
    EXPECT_EQ(DecodeRecord(cut.data(), cut.size(), 0, &e, &pid), DecodeStatus::kMalformed) << n;
  }
  std::string last_data;  // e.data points into the record, which the lambda frees
  auto mutate = [&](auto fn) {
    fs_sock_event h = DataHeader(payload);
    fn(h);
    auto r = Record(h, payload);
    DecodeStatus st = DecodeRecord(r.data(), r.size(), 0, &e, &pid);
    last_data = std::string(e.data);
    return st;
  };
  EXPECT_EQ(mutate([](fs_sock_event& h) { h.kind = 0; }), DecodeStatus::kMalformed);
  EXPECT_EQ(mutate([](fs_sock_event& h) { h.kind = 9; }), DecodeStatus::kMalformed);
  EXPECT_EQ(mutate([](fs_sock_event& h) { h.cap_len = 0xffffffffu; }), DecodeStatus::kMalformed);
  EXPECT_EQ(mutate([](fs_sock_event& h) { h.cap_len = FS_CAPTURE_MAX + 1; }),
            DecodeStatus::kMalformed);
  EXPECT_EQ(mutate([](fs_sock_event& h) { h.msg_len = 3; }), DecodeStatus::kMalformed);
  EXPECT_EQ(mutate([](fs_sock_event& h) { h.direction = 2; }), DecodeStatus::kMalformed);
  EXPECT_EQ(mutate([](fs_sock_event& h) { h.role = 3; }), DecodeStatus::kMalformed);
  EXPECT_EQ(mutate([](fs_sock_event& h) { h.func = FS_FN_MAX; }), DecodeStatus::kMalformed);
  EXPECT_EQ(mutate([](fs_sock_event& h) { h.family = 1; }), DecodeStatus::kMalformed);
  // A TLS record without socket has no family and is fine.
  EXPECT_EQ(mutate([](fs_sock_event& h) {
              h.family = 0;
              h.flags = FS_F_NO_SOCKET | FS_F_TLS;
            }),
            DecodeStatus::kEvent);
  EXPECT_TRUE(e.is_tls);
  EXPECT_EQ(last_data, payload);
}

TEST(DecodeRecordTest, RandomBytesNeverCrash) {
  // Deterministic pseudo-random records of every size up to 2 headers.
  uint32_t x = 12345;
  SocketEvent e;
  uint32_t pid = 0;
  size_t events = 0;
  for (size_t size = 1; size < 2 * sizeof(fs_sock_event); ++size) {
    for (int round = 0; round < 20; ++round) {
      std::vector<uint8_t> buf(size);
      for (auto& b : buf) {
        x = x * 1103515245 + 12345;
        b = static_cast<uint8_t>(x >> 16);
      }
      buf[0] = static_cast<uint8_t>(1 + round % 4);  // mostly valid kinds
      if (DecodeRecord(buf.data(), buf.size(), 0, &e, &pid) == DecodeStatus::kEvent) {
        ++events;
        EXPECT_LE(e.data.size(), size - sizeof(fs_sock_event));
      }
    }
  }
  SUCCEED() << events << " random records decoded";
}

TEST(SocketNamesTest, FuncAndRole) {
  EXPECT_EQ(SocketFuncName(SocketFunc::kSendmmsg), "sendmmsg");
  EXPECT_EQ(SocketFuncName(SocketFunc::kSslReadEx), "SSL_read_ex");
  EXPECT_EQ(SocketRoleName(SocketRole::kClient), "client");
}

}  // namespace
}  // namespace flowscope::agent::ebpf
