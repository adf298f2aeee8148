#include "agent/ebpf/socket_event.h"

#include <cstring>

#include "agent/ebpf/socket_trace_event.h"

namespace flowscope::agent::ebpf {
namespace {

// The layout the BPF program writes (socket_trace_event.h); a change on one side only fails
// here rather than as garbage at run time.
static_assert(sizeof(fs_sock_event) == 112);
static_assert(offsetof(fs_sock_event, ts_ns) == 24);
static_assert(offsetof(fs_sock_event, local_addr) == 64);
static_assert(offsetof(fs_sock_event, comm) == 96);
static_assert(sizeof(fs_exec_event) == 24);

constexpr uint8_t kAfInet = 2;
constexpr uint8_t kAfInet6 = 10;

// IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4.
IpAddr ToIp(uint8_t family, const uint8_t* bytes) {
  if (family == kAfInet) return IpAddr::V4(bytes);
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bytes, kMapped, sizeof(kMapped)) == 0) return IpAddr::V4(bytes + 12);
  return IpAddr::V6(bytes);
}

std::string_view CommView(const char* comm) {
  size_t n = 0;
  while (n < FS_COMM_LEN && comm[n] != '\0') ++n;
  return {comm, n};
}

}  // namespace

std::string_view SocketFuncName(SocketFunc func) {
  switch (func) {
    case SocketFunc::kNone:
      return "none";
    case SocketFunc::kRead:
      return "read";
    case SocketFunc::kWrite:
      return "write";
    case SocketFunc::kReadv:
      return "readv";
    case SocketFunc::kWritev:
      return "writev";
    case SocketFunc::kSendto:
      return "sendto";
    case SocketFunc::kRecvfrom:
      return "recvfrom";
    case SocketFunc::kSendmsg:
      return "sendmsg";
    case SocketFunc::kRecvmsg:
      return "recvmsg";
    case SocketFunc::kSendmmsg:
      return "sendmmsg";
    case SocketFunc::kRecvmmsg:
      return "recvmmsg";
    case SocketFunc::kConnect:
      return "connect";
    case SocketFunc::kAccept:
      return "accept";
    case SocketFunc::kClose:
      return "close";
    case SocketFunc::kSslWrite:
      return "SSL_write";
    case SocketFunc::kSslRead:
      return "SSL_read";
    case SocketFunc::kSslWriteEx:
      return "SSL_write_ex";
    case SocketFunc::kSslReadEx:
      return "SSL_read_ex";
  }
  return "?";
}

std::string_view SocketRoleName(SocketRole role) {
  switch (role) {
    case SocketRole::kUnknown:
      return "unknown";
    case SocketRole::kClient:
      return "client";
    case SocketRole::kServer:
      return "server";
  }
  return "?";
}

DecodeStatus DecodeRecord(const void* data, size_t size, int64_t wall_offset_ns, SocketEvent* event,
                          uint32_t* exec_pid) {
  if (data == nullptr || size == 0) return DecodeStatus::kMalformed;
  const auto* bytes = static_cast<const uint8_t*>(data);
  if (bytes[0] == FS_EV_EXEC) {
    if (size < sizeof(fs_exec_event)) return DecodeStatus::kMalformed;
    fs_exec_event x;
    std::memcpy(&x, bytes, sizeof(x));
    *exec_pid = x.pid;
    return DecodeStatus::kExec;
  }
  if (size < sizeof(fs_sock_event)) return DecodeStatus::kMalformed;
  // Ring records are 8-byte aligned, but a copy costs little and assumes nothing.
  fs_sock_event h;
  std::memcpy(&h, bytes, sizeof(h));
  if (h.kind != FS_EV_DATA && h.kind != FS_EV_OPEN && h.kind != FS_EV_CLOSE) {
    return DecodeStatus::kMalformed;
  }
  if (h.cap_len > FS_CAPTURE_MAX || h.cap_len > size - sizeof(fs_sock_event)) {
    return DecodeStatus::kMalformed;
  }
  if (h.kind == FS_EV_DATA && h.cap_len > h.msg_len) return DecodeStatus::kMalformed;
  if (h.direction > FS_DIR_INGRESS || h.role > FS_ROLE_SERVER || h.func >= FS_FN_MAX) {
    return DecodeStatus::kMalformed;
  }
  const bool no_socket = (h.flags & FS_F_NO_SOCKET) != 0;
  if (!no_socket && h.family != kAfInet && h.family != kAfInet6) return DecodeStatus::kMalformed;

  SocketEvent& e = *event;
  e = SocketEvent{};
  e.kind = static_cast<SocketEventKind>(h.kind);
  e.func = static_cast<SocketFunc>(h.func);
  e.pid = h.pid;
  // The BPF side writes comm into the record; view it there, not in the local copy.
  e.comm = CommView(reinterpret_cast<const char*>(bytes + offsetof(fs_sock_event, comm)));
  e.mono_ns = h.ts_ns;
  e.ts_ns = static_cast<uint64_t>(static_cast<int64_t>(h.ts_ns) + wall_offset_ns);
  e.tid = h.tid;
  e.direction = static_cast<Direction>(h.direction);
  if (!no_socket) {
    e.local_ip = ToIp(h.family, h.local_addr);
    e.remote_ip = ToIp(h.family, h.remote_addr);
  }
  e.local_port = h.local_port;
  e.remote_port = h.remote_port;
  e.l4_protocol = h.l4_proto;
  e.socket_id = h.socket_id;
  e.role = static_cast<SocketRole>(h.role);
  e.role_inferred = (h.flags & FS_F_ROLE_INFERRED) != 0;
  e.tcp_seq_valid = (h.flags & FS_F_SEQ_VALID) != 0;
  e.tcp_seq = e.tcp_seq_valid ? h.tcp_seq : 0;
  e.syscall_trace_id = h.syscall_trace_id;
  e.is_tls = (h.flags & FS_F_TLS) != 0;
  e.tls_ciphertext = (h.flags & FS_F_TLS_CIPHER) != 0;
  e.remote_from_msg = (h.flags & FS_F_ADDR_FROM_MSG) != 0;
  e.fd = h.fd;
  e.msg_len = h.msg_len;
  e.data =
      std::string_view(reinterpret_cast<const char*>(bytes + sizeof(fs_sock_event)), h.cap_len);
  return DecodeStatus::kEvent;
}

}  // namespace flowscope::agent::ebpf
