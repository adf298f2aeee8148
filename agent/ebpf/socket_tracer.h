// SocketTracer: the eBPF socket tracer's loader. Loads bpf/socket_trace.bpf.c (CO-RE, skeleton
// built at build time), attaches it to the syscall tracepoints of the calls that move bytes
// through TCP/UDP sockets and, with TLS on, uprobes to OpenSSL's SSL_read/SSL_write(_ex) in
// every libssl file in use, then hands the decoded records (SocketEvent, socket_event.h) to a
// callback. Everything libbpf owns (skeleton, ring buffer, uprobe links) is released by the
// destructor. README.md describes the events, the TCP sequence and syscall_trace_id rules,
// drops and limits.
//
//   SocketTracer tracer({.capture_bytes = 1024});
//   RETURN_IF_ERROR(tracer.Start());
//   while (running) {
//     ASSIGN_OR_RETURN(size_t n, tracer.Poll(100, [&](const SocketEvent& e) { ... }));
//   }
//
// Not thread-safe: one thread calls Start, Poll and Counters.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/ebpf/socket_event.h"

namespace flowscope::agent::ebpf {

struct SocketTracerOptions {
  // Payload bytes copied per message (the real length is always reported): 1..4096.
  uint32_t capture_bytes = 1024;
  // Never trace this process (the agent's own traffic to the server).
  bool exclude_self = true;
  // 0: every process; otherwise only this process id (tgid). Benchmarks and tests use it.
  uint32_t target_pid = 0;
  // OpenSSL uprobes (plaintext of TLS connections) and discovery of libssl files.
  bool tls = true;
  // Ring buffer shared by all CPUs: a power of two >= the page size.
  uint32_t ring_bytes = 8u << 20;
  // The kernel wakes Poll only once this many bytes wait in the ring (clamped to a quarter of
  // ring_bytes); less is picked up when Poll's timeout expires. 0 wakes on every record, which
  // costs the traced programs a reader wake-up per message (README.md "Cost").
  uint32_t wakeup_bytes = 64u << 10;
  // How often Poll looks for processes not seen yet (new libssl files). Processes that exec
  // are looked at right away, then on a widening schedule until tls_exec_watch_ms after.
  uint32_t tls_scan_interval_ms = 1000;
  uint32_t tls_exec_watch_ms = 3000;
  // Every this often, all processes are rescanned (libssl loaded later with dlopen).
  uint32_t tls_full_rescan_ms = 30000;
  // Experimental: single-buffer calls write straight into a ring record reserved at
  // capture_bytes instead of assembling in a per-CPU buffer and copying the used part
  // (README.md "Ring records" has the measurement).
  bool reserve_records = false;
  // Messages about the tracer's own life (mounts, attached libraries, failures); default:
  // stderr, prefixed "ebpf: ".
  std::function<void(std::string_view)> log;
};

struct SocketTracerCounters {
  // Kernel side (per-CPU counters summed; README.md "Drops").
  uint64_t data_events = 0;
  uint64_t open_events = 0;
  uint64_t close_events = 0;
  uint64_t ring_full = 0;
  uint64_t copy_failed = 0;
  uint64_t map_full = 0;
  uint64_t not_socket = 0;  // informational
  uint64_t not_inet = 0;    // informational
  uint64_t mmsg_truncated = 0;
  uint64_t tls_events = 0;
  uint64_t tls_no_socket = 0;
  uint64_t exec_events = 0;
  // User side.
  uint64_t delivered = 0;      // SocketEvents handed to callbacks
  uint64_t malformed = 0;      // records that failed to decode
  uint64_t tls_libraries = 0;  // libssl files with uprobes attached
  uint64_t tls_attach_failures = 0;
  double events_per_second = 0;  // delivered, over the last full second of polling
};

class SocketTracer {
 public:
  using EventFn = absl::FunctionRef<void(const SocketEvent&)>;

  explicit SocketTracer(SocketTracerOptions options = {});
  ~SocketTracer();
  SocketTracer(const SocketTracer&) = delete;
  SocketTracer& operator=(const SocketTracer&) = delete;

  // Checks privileges and kernel support, mounts tracefs when missing, loads and attaches.
  // Errors name what is missing: PermissionDenied (not root / no CAP_BPF+CAP_PERFMON),
  // FailedPrecondition (no kernel BTF, tracefs missing and not mountable), InvalidArgument (bad
  // option), Internal (load or attach refused, with libbpf's last messages).
  absl::Status Start();

  // Waits up to `timeout_ms` for records and calls `fn` for each decoded event; returns how
  // many were delivered. Also runs the TLS library discovery when due.
  absl::StatusOr<size_t> Poll(int timeout_ms, EventFn fn);

  SocketTracerCounters Counters() const;

  // Paths of the libssl files with uprobes attached.
  std::vector<std::string> TlsLibraries() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowscope::agent::ebpf
