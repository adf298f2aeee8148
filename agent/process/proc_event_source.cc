#include "agent/process/proc_event_source.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/process/bpf/proc_events.h"
#include "proc_events.skel.h"

namespace flowscope::agent::process {
namespace {

constexpr int kCapSysAdmin = 21;
constexpr int kCapPerfmon = 38;
constexpr int kCapBpf = 39;
constexpr const char* kTracefs = "/sys/kernel/tracing";
constexpr const char* kDebugfsTracing = "/sys/kernel/debug/tracing";
constexpr const char* kTracepoints[] = {"sched/sched_process_exec", "sched/sched_process_exit",
                                        "sched/sched_process_fork", "task/task_newtask"};

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

uint64_t SteadyNowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// The effective capability mask of this process (CapEff in /proc/self/status).
uint64_t EffectiveCapabilities() {
  absl::StatusOr<std::string> status = ReadSmallFile("/proc/self/status", 16384);
  if (!status.ok()) return 0;
  for (std::string_view line : SplitFields(*status, "\n")) {
    if (!line.starts_with("CapEff:")) continue;
    line.remove_prefix(7);
    while (!line.empty() && (line.front() == '\t' || line.front() == ' ')) line.remove_prefix(1);
    uint64_t caps = 0;
    for (char c : line) {
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) break;
      caps = caps << 4 | static_cast<uint64_t>(d);
    }
    return caps;
  }
  return 0;
}

// The tracefs directory that libbpf will use (it prefers debugfs' tracing when it exists),
// "" when none holds our tracepoints.
std::string TracefsWithEvents() {
  for (const char* root : {kDebugfsTracing, kTracefs}) {
    if (Exists(absl::StrCat(root, "/events/", kTracepoints[0], "/id"))) return root;
  }
  return "";
}

// libbpf's messages while Start() runs, so that a failure can say what libbpf said.
std::mutex g_libbpf_log_mu;
std::string* g_libbpf_log = nullptr;

int CaptureLibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[1024];
  int n = vsnprintf(buf, sizeof(buf), format, args);
  std::lock_guard lock(g_libbpf_log_mu);
  if (g_libbpf_log != nullptr && n > 0 && g_libbpf_log->size() < 8192) g_libbpf_log->append(buf);
  return n;
}

// Installs CaptureLibbpfPrint for its lifetime and restores the previous printer.
class LibbpfLogCapture {
 public:
  LibbpfLogCapture() {
    {
      std::lock_guard lock(g_libbpf_log_mu);
      g_libbpf_log = &log_;
    }
    previous_ = libbpf_set_print(CaptureLibbpfPrint);
  }
  ~LibbpfLogCapture() {
    libbpf_set_print(previous_);
    std::lock_guard lock(g_libbpf_log_mu);
    g_libbpf_log = nullptr;
  }
  // The last lines libbpf printed, for an error message.
  std::string Tail() {
    std::lock_guard lock(g_libbpf_log_mu);
    std::string s = log_;
    while (!s.empty() && s.back() == '\n') s.pop_back();
    if (s.size() > 600) s = "..." + s.substr(s.size() - 600);
    return s.empty() ? "" : absl::StrCat(" (libbpf: ", s, ")");
  }

 private:
  std::string log_;
  libbpf_print_fn_t previous_ = nullptr;
};

absl::Status LibbpfError(std::string_view what, int err, LibbpfLogCapture& log) {
  err = err < 0 ? -err : err;
  std::string msg =
      absl::StrCat("process events: ", std::string(what), ": ", std::strerror(err), log.Tail());
  if (err == EPERM || err == EACCES) return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

std::string_view BoundedString(const char* s, size_t max) { return {s, strnlen(s, max)}; }

}  // namespace

std::string_view ProcEventKindName(ProcEventKind kind) {
  switch (kind) {
    case ProcEventKind::kExec:
      return "exec";
    case ProcEventKind::kFork:
      return "fork";
    case ProcEventKind::kExit:
      return "exit";
  }
  return "unknown";
}

absl::Status CheckProcEventPrerequisites(const ProcEventSourceOptions& options) {
  const uint64_t caps = EffectiveCapabilities();
  auto has = [caps](int cap) { return (caps >> cap & 1) != 0; };
  if (!has(kCapSysAdmin) && !(has(kCapBpf) && has(kCapPerfmon))) {
    return absl::PermissionDeniedError(absl::StrCat(
        "process events: need root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN); running as uid ",
        geteuid(), " with effective capabilities 0x", absl::Hex(caps)));
  }
  if (!Exists(options.btf_path)) {
    return absl::FailedPreconditionError(
        absl::StrCat("process events: kernel BTF ", options.btf_path,
                     " not found: the BPF programs are CO-RE and need a kernel built with "
                     "CONFIG_DEBUG_INFO_BTF=y"));
  }
  if (TracefsWithEvents().empty()) {
    if (!options.mount_tracefs) {
      return absl::FailedPreconditionError(
          absl::StrCat("process events: tracefs is not mounted (no ", kTracefs,
                       "/events): run `mount -t "
                       "tracefs nodev ",
                       kTracefs, "`"));
    }
    if (!Exists(absl::StrCat(kTracefs, "/events")) &&
        mount("nodev", kTracefs, "tracefs", 0, nullptr) != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "process events: tracefs is not mounted and mounting it at ", kTracefs, " failed (",
          std::strerror(errno), "): run `mount -t tracefs nodev ", kTracefs, "`"));
    }
  }
  const std::string tracefs = TracefsWithEvents();
  for (const char* tp : kTracepoints) {
    if (tracefs.empty() || !Exists(absl::StrCat(tracefs, "/events/", tp, "/id"))) {
      return absl::FailedPreconditionError(absl::StrCat(
          "process events: tracepoint ", tp, " not found under ",
          tracefs.empty() ? kTracefs : tracefs, "/events (kernel without CONFIG_TRACEPOINTS?)"));
    }
  }
  return absl::OkStatus();
}

struct ProcEventSource::Impl {
  ProcessTable* table = nullptr;
  ProcEventSourceOptions options;

  mutable std::mutex skel_mu;  // guards skel and rb against Stop() while Stats() reads maps
  proc_events* skel = nullptr;
  ring_buffer* rb = nullptr;
  std::thread thread;
  std::atomic<bool> stop{false};
  std::atomic<bool> rescan_requested{false};
  uint64_t boot_wall_ns = 0;  // poll thread only: refreshed every wake-up (the wall clock may step)

  std::atomic<uint64_t> exec{0}, fork{0}, exit{0}, exit_duplicates{0}, malformed{0};
  std::atomic<uint64_t> rescans{0}, rescan_added{0}, rescan_exited{0}, rescan_refreshed{0};
  std::atomic<uint64_t> rescan_errors{0}, fork_refreshed{0}, expired{0};
  // Drop counters read from the kernel at Stop(), when the map goes away.
  mutable std::vector<uint64_t> final_drops_per_cpu;
  mutable uint64_t final_drops_by_kind[FS_PROC_DROP_SLOTS] = {};

  ~Impl() { Close(); }

  void Close() {
    stop.store(true);
    if (thread.joinable()) thread.join();
    std::lock_guard lock(skel_mu);
    if (skel != nullptr) ReadDrops(&final_drops_per_cpu, final_drops_by_kind);
    if (rb != nullptr) ring_buffer__free(rb);
    rb = nullptr;
    if (skel != nullptr) proc_events::destroy(skel);
    skel = nullptr;
  }

  // Sums the per-CPU drop counters (skel_mu held).
  void ReadDrops(std::vector<uint64_t>* per_cpu, uint64_t by_kind[FS_PROC_DROP_SLOTS]) const {
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return;
    per_cpu->assign(static_cast<size_t>(ncpu), 0);
    std::vector<__u64> values(static_cast<size_t>(ncpu));
    for (__u32 kind = 0; kind < FS_PROC_DROP_SLOTS; ++kind) {
      by_kind[kind] = 0;
      if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.drops), &kind, values.data()) != 0) continue;
      for (int cpu = 0; cpu < ncpu; ++cpu) {
        (*per_cpu)[static_cast<size_t>(cpu)] += values[static_cast<size_t>(cpu)];
        by_kind[kind] += values[static_cast<size_t>(cpu)];
      }
    }
  }

  static int OnRecord(void* ctx, void* data, size_t size) {
    static_cast<Impl*>(ctx)->Handle(data, size);
    return 0;
  }

  void Handle(const void* data, size_t size) {
    if (size < sizeof(fs_proc_event)) {
      malformed.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    fs_proc_event hdr;
    std::memcpy(&hdr, data, sizeof(hdr));
    ProcEvent ev;
    ev.pid = hdr.pid;
    ev.ppid = hdr.ppid;
    ev.tid = hdr.tid;
    ev.uid = hdr.uid;
    ev.comm = std::string(BoundedString(hdr.comm, sizeof(hdr.comm)));
    ev.time_ns = hdr.ts_boot_ns + boot_wall_ns;
    switch (hdr.kind) {
      case FS_PROC_EVENT_EXEC: {
        if (size < sizeof(fs_proc_exec_event)) {
          malformed.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        const auto* e = static_cast<const fs_proc_exec_event*>(data);
        ev.kind = ProcEventKind::kExec;
        ev.filename = std::string(
            BoundedString(e->filename, std::min<size_t>(e->filename_len, sizeof(e->filename))));
        std::string_view args(e->args, std::min<size_t>(e->args_len, sizeof(e->args)));
        ev.process = table->OnExec(
            ExecUpdate{ev.pid, ev.ppid, ev.uid, ev.comm, ev.filename, args, ev.time_ns});
        exec.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      case FS_PROC_EVENT_FORK:
        ev.kind = ProcEventKind::kFork;
        ev.process = table->OnFork(ev.pid, ev.ppid, ev.comm, ev.time_ns);
        fork.fetch_add(1, std::memory_order_relaxed);
        break;
      case FS_PROC_EVENT_EXIT: {
        ev.kind = ProcEventKind::kExit;
        ev.exit_code = hdr.exit_code;
        bool first = false;
        ev.process = table->OnExit(ev.pid, ev.ppid, ev.comm, ev.exit_code, ev.time_ns, &first);
        exit.fetch_add(1, std::memory_order_relaxed);
        if (!first) {
          exit_duplicates.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        break;
      }
      default:
        malformed.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (options.listener) options.listener(ev);
  }

  void Rescan(uint64_t now_ns) {
    absl::StatusOr<RescanResult> r = table->Rescan(now_ns);
    rescans.fetch_add(1, std::memory_order_relaxed);
    if (!r.ok()) {
      rescan_errors.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    rescan_added.fetch_add(r->added, std::memory_order_relaxed);
    rescan_exited.fetch_add(r->exited, std::memory_order_relaxed);
    rescan_refreshed.fetch_add(r->refreshed, std::memory_order_relaxed);
  }

  void Run() {
    const auto interval = static_cast<uint64_t>(options.rescan_interval.count());
    uint64_t next_rescan = SteadyNowNs() + interval;
    while (!stop.load(std::memory_order_relaxed)) {
      boot_wall_ns = BootTimeWallNs();
      int n = ring_buffer__poll(rb, options.poll_timeout_ms);
      if (n < 0 && n != -EINTR) {
        // Not expected once attached; avoid spinning if it ever happens.
        std::this_thread::sleep_for(std::chrono::milliseconds(options.poll_timeout_ms));
      }
      const uint64_t now = WallNowNs();
      fork_refreshed.fetch_add(table->RefreshInherited(now, options.fork_refresh_delay),
                               std::memory_order_relaxed);
      expired.fetch_add(table->ExpireExited(now), std::memory_order_relaxed);
      const uint64_t steady = SteadyNowNs();
      if (rescan_requested.exchange(false) || (interval > 0 && steady >= next_rescan)) {
        Rescan(now);
        next_rescan = SteadyNowNs() + interval;
      }
    }
  }
};

absl::StatusOr<std::unique_ptr<ProcEventSource>> ProcEventSource::Start(
    ProcessTable* table, ProcEventSourceOptions options) {
  if (table == nullptr) return absl::InvalidArgumentError("process events: no process table");
  const uint32_t ring = options.ring_buffer_bytes;
  if (ring < static_cast<uint32_t>(getpagesize()) || (ring & (ring - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("process events: ring_buffer_bytes ", ring,
                                                   " must be a power of two >= the page size ",
                                                   getpagesize()));
  }
  if (options.poll_timeout_ms <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("process events: poll_timeout_ms ", options.poll_timeout_ms, " must be > 0"));
  }
  if (absl::Status s = CheckProcEventPrerequisites(options); !s.ok()) return s;

  auto impl = std::make_unique<Impl>();
  impl->table = table;
  impl->options = std::move(options);
  {
    LibbpfLogCapture log;
    impl->skel = proc_events::open();
    if (impl->skel == nullptr) return LibbpfError("opening the BPF object failed", errno, log);
    if (int err = bpf_map__set_max_entries(impl->skel->maps.proc_events, ring); err != 0) {
      return LibbpfError("sizing the ring buffer failed", err, log);
    }
    if (int err = proc_events::load(impl->skel); err != 0) {
      return LibbpfError("loading the BPF programs failed", err, log);
    }
    if (int err = proc_events::attach(impl->skel); err != 0) {
      return LibbpfError("attaching the sched tracepoints failed", err, log);
    }
    impl->rb = ring_buffer__new(bpf_map__fd(impl->skel->maps.proc_events), &Impl::OnRecord,
                                impl.get(), nullptr);
    if (impl->rb == nullptr) return LibbpfError("opening the ring buffer failed", errno, log);
  }
  impl->boot_wall_ns = BootTimeWallNs();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<ProcEventSource>(new ProcEventSource(std::move(impl)));
}

ProcEventSource::ProcEventSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ProcEventSource::~ProcEventSource() { Stop(); }

void ProcEventSource::Stop() { impl_->Close(); }

void ProcEventSource::RequestRescan() { impl_->rescan_requested.store(true); }

ProcEventStats ProcEventSource::Stats() const {
  const Impl& m = *impl_;
  ProcEventStats s;
  s.exec = m.exec.load();
  s.fork = m.fork.load();
  s.exit = m.exit.load();
  s.exit_duplicates = m.exit_duplicates.load();
  s.malformed = m.malformed.load();
  s.rescans = m.rescans.load();
  s.rescan_added = m.rescan_added.load();
  s.rescan_exited = m.rescan_exited.load();
  s.rescan_refreshed = m.rescan_refreshed.load();
  s.rescan_errors = m.rescan_errors.load();
  s.fork_refreshed = m.fork_refreshed.load();
  s.expired = m.expired.load();
  uint64_t by_kind[FS_PROC_DROP_SLOTS] = {};
  {
    std::lock_guard lock(m.skel_mu);
    if (m.skel != nullptr) {
      m.ReadDrops(&s.dropped_per_cpu, by_kind);
    } else {
      s.dropped_per_cpu = m.final_drops_per_cpu;
      std::copy(std::begin(m.final_drops_by_kind), std::end(m.final_drops_by_kind), by_kind);
    }
  }
  s.dropped_exec = by_kind[FS_PROC_EVENT_EXEC];
  s.dropped_fork = by_kind[FS_PROC_EVENT_FORK];
  s.dropped_exit = by_kind[FS_PROC_EVENT_EXIT];
  for (uint64_t d : s.dropped_per_cpu) s.dropped += d;
  return s;
}

}  // namespace flowscope::agent::process
