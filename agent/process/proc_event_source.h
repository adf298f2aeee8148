// ProcEventSource: keeps a ProcessTable fresh from the kernel's process lifecycle events.
//
//   sched/sched_process_exec ─┐
//   task/task_newtask ─► sched/sched_process_fork ─┼─► BPF ring buffer ─► poll thread ─┬─►
//   ProcessTable::On* sched/sched_process_exit (group dead) ─┘ └─► listener
//
// The poll thread also refreshes fork children that did not exec (RefreshInherited), expires
// exited processes after the grace period, and rescans /proc every `rescan_interval` as a
// safety net for lost events. Losses are counted per CPU in the kernel (ring buffer full);
// what the rescan repaired is counted too.
//
// RAII over libbpf: Start() opens, loads and attaches the BPF programs and starts the thread;
// the destructor (or Stop()) joins the thread and detaches everything. Needs root (CAP_BPF and
// CAP_PERFMON, or CAP_SYS_ADMIN), kernel BTF, and tracefs (mounted by Start() if missing).
// This header does not include libbpf (keep libpcap users free of its struct bpf_insn).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/process/process_table.h"

namespace flowscope::agent::process {

enum class ProcEventKind : uint8_t { kExec = 1, kFork = 2, kExit = 3 };
std::string_view ProcEventKindName(ProcEventKind kind);  // "exec", "fork", "exit"

// One event as the listener sees it, after the table has applied it.
struct ProcEvent {
  ProcEventKind kind = ProcEventKind::kExec;
  uint32_t pid = 0;   // exec/exit: the process; fork: the new child
  uint32_t ppid = 0;  // fork: the forking process
  uint32_t tid = 0;   // exec: thread id before exec; fork: forking thread; exit: last thread
  uint32_t uid = 0;
  std::string comm;       // the task's comm at the event (fork: the parent's)
  std::string filename;   // exec: path given to execve (unresolved); else ""
  int32_t exit_code = 0;  // exit: wait(2) status
  uint64_t time_ns = 0;   // wall clock
  // The table's record after the event (exec: with cmdline, exe, container id).
  std::shared_ptr<const ProcessInfo> process;
};

using ProcEventListener = std::function<void(const ProcEvent&)>;

struct ProcEventSourceOptions {
  // Called on the poll thread for every exec and fork, and for the first exit of a process.
  // Keep it short: the ring buffer fills while it runs.
  ProcEventListener listener;
  std::chrono::nanoseconds rescan_interval = std::chrono::seconds(10);  // 0: no rescan
  // Fork children still inherited after this long are read from /proc.
  std::chrono::nanoseconds fork_refresh_delay = std::chrono::milliseconds(50);
  uint32_t ring_buffer_bytes = 1u << 20;  // a power of two, at least one page
  int poll_timeout_ms = 100;              // also the granularity of expiry and rescans
  bool mount_tracefs = true;              // mount tracefs at /sys/kernel/tracing if missing
  // Where Start() looks for kernel BTF (CO-RE needs it).
  std::string btf_path = "/sys/kernel/btf/vmlinux";
};

struct ProcEventStats {
  uint64_t exec = 0, fork = 0, exit = 0;  // events received
  uint64_t exit_duplicates = 0;           // exits of processes already marked exited
  uint64_t malformed = 0;                 // records of unexpected size or kind
  uint64_t dropped = 0;                   // ring buffer full, all CPUs and kinds
  std::vector<uint64_t> dropped_per_cpu;
  uint64_t dropped_exec = 0, dropped_fork = 0, dropped_exit = 0;
  uint64_t rescans = 0;
  uint64_t rescan_added = 0, rescan_exited = 0, rescan_refreshed = 0;
  uint64_t rescan_errors = 0;
  uint64_t fork_refreshed = 0;
  uint64_t expired = 0;
};

class ProcEventSource {
 public:
  // Checks privileges, BTF and tracefs (with an error that says what to do), loads and attaches
  // the programs, and starts the poll thread. `table` must outlive the source; scan it first
  // (Start() does not), so that processes older than the agent are known.
  static absl::StatusOr<std::unique_ptr<ProcEventSource>> Start(ProcessTable* table,
                                                                ProcEventSourceOptions options);
  ~ProcEventSource();
  ProcEventSource(const ProcEventSource&) = delete;
  ProcEventSource& operator=(const ProcEventSource&) = delete;

  // Stops the poll thread and detaches the programs. Idempotent.
  void Stop();
  // Asks the poll thread for a rescan at its next wake-up (within poll_timeout_ms).
  void RequestRescan();
  ProcEventStats Stats() const;

 private:
  struct Impl;
  explicit ProcEventSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The checks Start() makes before touching BPF, exposed for tests and for the agent's
// start-up diagnostics: PermissionDenied without the capabilities, FailedPrecondition without
// BTF or tracefs (after trying to mount it when `mount_tracefs`).
absl::Status CheckProcEventPrerequisites(const ProcEventSourceOptions& options);

}  // namespace flowscope::agent::process
