// ProcessTable: what the agent knows about every process of the host, by pid (tgid), so that
// socket events, packets and profiles can be named (comm, cmdline, exe, container, netns).
//
// Sources: an initial scan of /proc, then exec/fork/exit events (ProcEventSource, eBPF) applied
// through OnExec/OnFork/OnExit, and a periodic Rescan() that repairs what lost events left
// wrong. Exited processes stay resolvable for a grace period (late events still name them),
// then ExpireExited() forgets them.
//
// Threading: lookups come from the event-processing threads while one updater thread applies
// events. The map is guarded by a std::shared_mutex; entries are immutable
// (shared_ptr<const ProcessInfo>), replaced whole on every change, so a reader holds the lock
// only to copy one pointer and keeps a consistent record as long as it likes. Updaters read
// /proc before taking the exclusive lock, never while holding it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "agent/process/proc_fs.h"

namespace flowscope::agent::process {

// Where a record's fields came from last.
enum class InfoSource : uint8_t {
  kScan,    // the initial /proc scan
  kExec,    // an exec event, then /proc/PID read
  kFork,    // a fork event: copied from the parent, not yet read from /proc (inherited)
  kRescan,  // the periodic rescan (an event was lost, or a fork child was refreshed)
  kEvent,   // only what an event carried: /proc/PID had already gone
};
std::string_view InfoSourceName(InfoSource s);

struct ProcessInfo {
  uint32_t pid = 0;  // tgid
  uint32_t ppid = 0;
  uint32_t uid = 0;  // real uid
  std::string comm;
  std::string cmdline;         // arguments joined by spaces, bounded (ProcessTableOptions)
  std::string exe;             // readlink /proc/PID/exe; "" for kernel threads or when unreadable
  std::string container_id;    // 64 hex digits from the cgroup path, "" outside containers
  uint64_t start_time_ns = 0;  // wall clock (from starttime + boot time; fork time when inherited)
  uint64_t start_ticks = 0;    // /proc/PID/stat starttime, tells a reused pid apart; 0 unknown
  uint64_t netns = 0;          // inode of /proc/PID/ns/net, 0 unknown
  bool kernel_thread = false;
  InfoSource source = InfoSource::kScan;
  uint64_t exit_time_ns = 0;  // wall clock; 0 while alive
  int32_t exit_code = 0;      // wait(2) status as the kernel keeps it, valid once exited

  bool exited() const { return exit_time_ns != 0; }
  // A fork child whose fields are still the parent's.
  bool inherited() const { return source == InfoSource::kFork; }
};

struct ProcessTableOptions {
  std::string proc_root = "/proc";
  std::chrono::nanoseconds exit_grace = std::chrono::seconds(10);
  // Wall-clock time of boot in ns, to turn starttime ticks into a time; 0: BootTimeWallNs().
  uint64_t boot_time_ns = 0;
  size_t max_cmdline_bytes = 4096;
  // Thread names from /proc/PID/task/TID/comm: cached this long, at most this many.
  bool thread_names = true;
  std::chrono::nanoseconds thread_name_ttl = std::chrono::seconds(30);
  size_t max_thread_names = 65536;
};

// What an exec event carries (see ProcEventSource).
struct ExecUpdate {
  uint32_t pid = 0;
  uint32_t ppid = 0;
  uint32_t uid = 0;
  std::string_view comm;
  std::string_view filename;  // the path given to execve, unresolved
  std::string_view raw_args;  // NUL-separated, maybe cut; used when /proc/PID/cmdline is gone
  uint64_t time_ns = 0;       // wall clock
};

struct RescanResult {
  size_t listed = 0;     // pids found in /proc
  size_t added = 0;      // alive in /proc, unknown to the table (a lost fork/exec)
  size_t exited = 0;     // alive in the table, gone (or a zombie) in /proc (a lost exit)
  size_t refreshed = 0;  // known but stale: a lost exec (comm changed), a reused pid, a fork child
  size_t fixed() const { return added + exited + refreshed; }
};

struct ProcessTableStats {
  size_t alive = 0;
  size_t exited = 0;  // in their grace period
  uint64_t expired = 0;
  uint64_t proc_read_errors = 0;  // /proc/PID files that could not be parsed (not vanished ones)
  uint64_t thread_name_reads = 0;
  uint64_t thread_name_hits = 0;
};

class ProcessTable {
 public:
  explicit ProcessTable(ProcessTableOptions options = {});
  ProcessTable(const ProcessTable&) = delete;
  ProcessTable& operator=(const ProcessTable&) = delete;

  // Reads every process of the proc root into the table (zombies enter as exited). Fails only
  // when the root itself cannot be listed.
  absl::StatusOr<size_t> Scan();
  // Compares the table with /proc and repairs it (see RescanResult).
  absl::StatusOr<RescanResult> Rescan(uint64_t now_ns);

  // The record of `pid`, alive or in its grace period; nullptr when unknown.
  std::shared_ptr<const ProcessInfo> Lookup(uint32_t pid) const;
  // The name of thread `tid` of process `pid`: the process comm when tid == pid, else
  // /proc/PID/task/TID/comm, cached. nullopt when unknown.
  std::optional<std::string> ThreadName(uint32_t pid, uint32_t tid);
  // Every record (alive and exited), in no particular order.
  std::vector<std::shared_ptr<const ProcessInfo>> Snapshot() const;
  ProcessTableStats Stats() const;

  // Event appliers. Each returns the record as it is after the event.
  // exec: (re)reads /proc/PID; the event's own fields fill in when the process is already gone.
  std::shared_ptr<const ProcessInfo> OnExec(const ExecUpdate& e);
  // fork: the child starts as a copy of the parent (inherited) until RefreshInherited() or
  // an exec replaces it. An unknown parent gives a record with what the event carries.
  std::shared_ptr<const ProcessInfo> OnFork(uint32_t pid, uint32_t ppid, std::string_view comm,
                                            uint64_t time_ns);
  // exit: the record is kept, marked exited, until `exit_grace` has passed. An unknown pid
  // gets an exited record from the event, so late events still name it. `first` (optional)
  // is set to whether this call is the one that marked it exited.
  std::shared_ptr<const ProcessInfo> OnExit(uint32_t pid, uint32_t ppid, std::string_view comm,
                                            int32_t exit_code, uint64_t time_ns,
                                            bool* first = nullptr);
  // Reads /proc for fork children inherited at least `min_age` before `now_ns` (most children
  // exec sooner, which makes the read unnecessary). Returns how many were refreshed.
  size_t RefreshInherited(uint64_t now_ns, std::chrono::nanoseconds min_age);
  // Forgets processes that exited more than `exit_grace` before `now_ns`. Returns how many.
  size_t ExpireExited(uint64_t now_ns);

  const ProcessTableOptions& options() const { return options_; }

 private:
  using Ptr = std::shared_ptr<const ProcessInfo>;

  // Reads /proc/PID. NotFound when the process is gone.
  absl::StatusOr<ProcessInfo> ReadProcess(uint32_t pid, InfoSource source);
  std::string PidDir(uint32_t pid) const;
  void Put(Ptr info);
  // Marks the record of `pid` exited when it is still `expected` (not replaced meanwhile).
  bool MarkExitedIf(const Ptr& expected, uint64_t time_ns);
  void CountReadError();

  const ProcessTableOptions options_;

  mutable std::shared_mutex mu_;
  absl::flat_hash_map<uint32_t, Ptr> processes_;  // guarded by mu_
  // Exit order (pid, exit time) for ExpireExited; an entry whose record was replaced since is
  // skipped. Guarded by mu_.
  std::deque<std::pair<uint32_t, uint64_t>> exit_queue_;
  size_t exited_count_ = 0;        // guarded by mu_
  uint64_t expired_ = 0;           // guarded by mu_
  uint64_t proc_read_errors_ = 0;  // guarded by mu_

  // Fork children waiting for RefreshInherited: (pid, fork time). Touched by the updater only,
  // guarded by pending_mu_ all the same.
  std::mutex pending_mu_;
  std::deque<std::pair<uint32_t, uint64_t>> pending_forks_;

  struct CachedThreadName {
    std::string name;
    uint64_t read_ns = 0;           // steady clock
    uint64_t process_start_ns = 0;  // of the process it was read for
  };
  mutable std::mutex thread_mu_;
  absl::flat_hash_map<uint64_t, CachedThreadName> thread_names_;  // key pid << 32 | tid
  uint64_t thread_name_reads_ = 0;                                // guarded by thread_mu_
  uint64_t thread_name_hits_ = 0;                                 // guarded by thread_mu_
};

}  // namespace flowscope::agent::process
