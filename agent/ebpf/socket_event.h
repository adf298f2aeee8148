// SocketEvent: one record of the eBPF socket tracer, decoded into plain C++ (no libbpf here, so
// that the decoder is unit-tested without root). The raw layout is socket_trace_event.h; the
// meaning of each field (TCP sequence, syscall_trace_id, timestamps) is in README.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/net/ip_addr.h"

namespace flowscope::agent::ebpf {

enum class SocketEventKind : uint8_t {
  kData = 1,   // bytes sent or received
  kOpen = 2,   // connect()/accept() returned, or a socket first seen mid-stream
  kClose = 3,  // close() of the socket's last descriptor
};

enum class Direction : uint8_t { kEgress = 0, kIngress = 1 };

enum class SocketRole : uint8_t { kUnknown = 0, kClient = 1, kServer = 2 };

// The hook that produced an event (values of enum fs_func).
enum class SocketFunc : uint8_t {
  kNone = 0,
  kRead = 1,
  kWrite = 2,
  kReadv = 3,
  kWritev = 4,
  kSendto = 5,
  kRecvfrom = 6,
  kSendmsg = 7,
  kRecvmsg = 8,
  kSendmmsg = 9,
  kRecvmmsg = 10,
  kConnect = 11,
  kAccept = 12,
  kClose = 13,
  kSslWrite = 14,
  kSslRead = 15,
  kSslWriteEx = 16,
  kSslReadEx = 17,
};

std::string_view SocketFuncName(SocketFunc func);
std::string_view SocketRoleName(SocketRole role);

struct SocketEvent {
  SocketEventKind kind = SocketEventKind::kData;
  SocketFunc func = SocketFunc::kNone;
  uint32_t pid = 0;       // process (tgid)
  uint32_t tid = 0;       // thread
  std::string_view comm;  // thread name, valid during the callback
  uint64_t ts_ns = 0;     // wall clock (CLOCK_REALTIME) ns: entry of sends, return of receives
  uint64_t mono_ns = 0;   // the same instant in CLOCK_MONOTONIC (bpf_ktime_get_ns)
  Direction direction = Direction::kEgress;
  // This process's end of the socket and the peer. An IPv4-mapped IPv6 address (::ffff:a.b.c.d
  // on a dual-stack socket) is reported as IPv4. Unconnected UDP: remote from the call's
  // sockaddr (remote_from_msg), local address 0.0.0.0/:: unless the socket was bound to one.
  IpAddr local_ip, remote_ip;
  uint16_t local_port = 0, remote_port = 0;
  uint8_t l4_protocol = 0;  // 6 TCP, 17 UDP
  uint64_t socket_id = 0;   // unique per socket (0: TLS record whose socket was not seen)
  SocketRole role = SocketRole::kUnknown;
  bool role_inferred = false;  // socket first seen after its connect()/accept()
  uint32_t tcp_seq = 0;        // TCP sequence of the message's first byte (tcp_seq_valid)
  bool tcp_seq_valid = false;
  uint64_t syscall_trace_id = 0;  // 0: an egress message on a thread that never received
  bool is_tls = false;            // plaintext of an OpenSSL call
  bool tls_ciphertext = false;    // syscall bytes of a socket known to carry TLS
  bool remote_from_msg = false;
  int32_t fd = -1;
  uint32_t msg_len = 0;   // real length of the message; data may be shorter (capture_bytes)
  std::string_view data;  // first bytes of the message, valid during the callback
};

enum class DecodeStatus {
  kEvent,      // *event filled
  kExec,       // a process exec'd: *exec_pid filled (TLS library discovery, not a SocketEvent)
  kMalformed,  // too short, unknown kind, or inconsistent lengths: nothing read out of bounds
};

// Decodes one ring-buffer record. `wall_offset_ns` = CLOCK_REALTIME - CLOCK_MONOTONIC, added to
// the kernel's monotonic timestamp. Strings in *event point into `data`.
DecodeStatus DecodeRecord(const void* data, size_t size, int64_t wall_offset_ns, SocketEvent* event,
                          uint32_t* exec_pid);

}  // namespace flowscope::agent::ebpf
