#include "agent/ebpf/socket_tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/ebpf/socket_trace_event.h"
#include "agent/ebpf/tls_libraries.h"
#include "common/status.h"
#include "socket_trace.skel.h"

namespace flowscope::agent::ebpf {
namespace {

using Clock = std::chrono::steady_clock;

std::string Errno(int err) { return std::strerror(err); }

// libbpf's messages go through one process-wide callback. Warnings are kept (last few) so that
// a load failure can quote the verifier; FLOWSCOPE_LIBBPF_DEBUG=1 prints everything.
std::mutex g_libbpf_mu;
std::deque<std::string>* g_libbpf_lines = new std::deque<std::string>();

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  static const bool debug = getenv("FLOWSCOPE_LIBBPF_DEBUG") != nullptr;
  if (debug) {
    va_list copy;
    va_copy(copy, args);
    vfprintf(stderr, fmt, copy);
    va_end(copy);
  }
  if (level == LIBBPF_DEBUG) return 0;
  char buf[512];
  vsnprintf(buf, sizeof(buf), fmt, args);
  std::string line(buf);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  std::lock_guard<std::mutex> lock(g_libbpf_mu);
  g_libbpf_lines->push_back(std::move(line));
  while (g_libbpf_lines->size() > 8) g_libbpf_lines->pop_front();
  return 0;
}

std::string LibbpfTail() {
  std::lock_guard<std::mutex> lock(g_libbpf_mu);
  if (g_libbpf_lines->empty()) return "";
  return absl::StrCat(" (libbpf: ", absl::StrJoin(*g_libbpf_lines, " | "), ")");
}

void ClearLibbpfTail() {
  std::lock_guard<std::mutex> lock(g_libbpf_mu);
  g_libbpf_lines->clear();
}

int64_t NowNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// CLOCK_REALTIME - CLOCK_MONOTONIC, from the closest of a few samples.
int64_t WallOffsetNs() {
  int64_t best_gap = INT64_MAX, offset = 0;
  for (int i = 0; i < 5; ++i) {
    int64_t m1 = NowNs(CLOCK_MONOTONIC);
    int64_t r = NowNs(CLOCK_REALTIME);
    int64_t m2 = NowNs(CLOCK_MONOTONIC);
    if (m2 - m1 < best_gap) {
      best_gap = m2 - m1;
      offset = r - (m1 + (m2 - m1) / 2);
    }
  }
  return offset;
}

// Effective capabilities of this process (CapEff of /proc/self/status).
uint64_t EffectiveCaps() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  }
  return 0;
}

bool Exists(const char* path) {
  struct stat st;
  return stat(path, &st) == 0;
}

uint32_t EphemeralPortLow() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  uint32_t lo = 0, hi = 0;
  if (in >> lo >> hi && lo > 0 && lo < 65536) return lo;
  return 32768;
}

struct SkeletonDeleter {
  void operator()(socket_trace* s) const { socket_trace::destroy(s); }
};
struct RingBufferDeleter {
  void operator()(ring_buffer* r) const { ring_buffer__free(r); }
};
struct LinkDeleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;

}  // namespace

struct SocketTracer::Impl {
  SocketTracerOptions options;
  std::unique_ptr<socket_trace, SkeletonDeleter> skel;
  std::unique_ptr<ring_buffer, RingBufferDeleter> ring;
  int64_t wall_offset_ns = 0;
  Clock::time_point last_offset_refresh;

  // Poll's callback while ring_buffer__poll runs.
  const EventFn* current_fn = nullptr;
  size_t delivered_in_poll = 0;
  uint64_t delivered = 0;
  uint64_t malformed = 0;
  std::vector<uint32_t> exec_pids;

  // Rate over whole seconds of polling.
  Clock::time_point rate_start;
  uint64_t rate_base = 0;
  double rate = 0;

  // TLS: one set of uprobe links per distinct libssl file (dev, inode).
  struct Library {
    std::string path;
    std::vector<LinkPtr> links;
  };
  std::map<std::pair<dev_t, ino_t>, Library> libraries;
  std::set<std::pair<dev_t, ino_t>> failed_libraries;
  uint64_t attach_failures = 0;
  std::unordered_set<uint32_t> scanned_pids;
  struct Watch {
    Clock::time_point exec_time;
    size_t step = 0;
  };
  std::unordered_map<uint32_t, Watch> watched_pids;  // exec'd recently: scanned on a schedule
  Clock::time_point next_scan, next_full_scan;

  void Log(std::string_view msg) const {
    if (options.log) {
      options.log(msg);
    } else {
      fprintf(stderr, "ebpf: %.*s\n", static_cast<int>(msg.size()), msg.data());
    }
  }

  absl::Status CheckEnvironment();
  absl::Status EnsureTracefs();
  absl::Status Load();
  absl::Status AttachSyscalls();
  void AttachLibrary(const TlsLibraryFile& lib);
  void ScanPid(uint32_t pid);
  void DiscoverTls(bool force);

  static int OnRecord(void* ctx, void* data, size_t size) {
    static_cast<Impl*>(ctx)->Handle(data, size);
    return 0;
  }
  void Handle(const void* data, size_t size);
};

absl::Status SocketTracer::Impl::CheckEnvironment() {
  const SocketTracerOptions& o = options;
  if (o.capture_bytes == 0 || o.capture_bytes > FS_CAPTURE_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("ebpf: capture_bytes ", o.capture_bytes, " must be 1..", FS_CAPTURE_MAX));
  }
  const auto page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  if (o.ring_bytes < page || (o.ring_bytes & (o.ring_bytes - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("ebpf: ring_bytes ", o.ring_bytes,
                                                   " must be a power of two >= the page size (",
                                                   page, ")"));
  }
  constexpr int kCapSysAdmin = 21, kCapPerfmon = 38, kCapBpf = 39;
  const uint64_t caps = EffectiveCaps();
  const bool admin = (caps >> kCapSysAdmin) & 1;
  const bool bpf_perfmon = ((caps >> kCapBpf) & 1) && ((caps >> kCapPerfmon) & 1);
  if (!admin && !bpf_perfmon) {
    return absl::PermissionDeniedError(absl::StrCat(
        "ebpf: the socket tracer needs root (CAP_SYS_ADMIN, or CAP_BPF and CAP_PERFMON); "
        "running as uid ",
        geteuid(), " with capabilities 0x", absl::Hex(caps)));
  }
  if (!Exists("/sys/kernel/btf/vmlinux")) {
    return absl::FailedPreconditionError(
        "ebpf: the kernel has no BTF (/sys/kernel/btf/vmlinux missing): CO-RE programs need a "
        "kernel built with CONFIG_DEBUG_INFO_BTF=y");
  }
  return absl::OkStatus();
}

// libbpf resolves tracepoint ids through tracefs: /sys/kernel/debug/tracing when debugfs is
// mounted, else /sys/kernel/tracing. A fresh machine may have neither: mount tracefs.
absl::Status SocketTracer::Impl::EnsureTracefs() {
  if (Exists("/sys/kernel/debug/tracing/events/syscalls") ||
      Exists("/sys/kernel/tracing/events/syscalls")) {
    return absl::OkStatus();
  }
  if (Exists("/sys/kernel/debug/tracing") && !Exists("/sys/kernel/debug/tracing/events")) {
    // libbpf would pick this empty debugfs path; a tracefs there serves it.
    if (mount("nodev", "/sys/kernel/debug/tracing", "tracefs", 0, nullptr) == 0) {
      Log("mounted tracefs on /sys/kernel/debug/tracing (it was not mounted)");
    }
  }
  if (!Exists("/sys/kernel/tracing/events")) {
    if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "ebpf: tracefs is not mounted and mounting it on /sys/kernel/tracing failed: ",
          Errno(errno), " (try: mount -t tracefs nodev /sys/kernel/tracing)"));
    }
    Log("mounted tracefs on /sys/kernel/tracing (it was not mounted)");
  }
  if (!Exists("/sys/kernel/tracing/events/syscalls") &&
      !Exists("/sys/kernel/debug/tracing/events/syscalls")) {
    return absl::FailedPreconditionError(
        "ebpf: tracefs has no events/syscalls: the kernel lacks CONFIG_FTRACE_SYSCALLS");
  }
  return absl::OkStatus();
}

absl::Status SocketTracer::Impl::Load() {
  libbpf_set_print(LibbpfPrint);
  ClearLibbpfTail();
  skel.reset(socket_trace::open());
  if (!skel) {
    return absl::InternalError(
        absl::StrCat("ebpf: cannot open the socket_trace object: ", Errno(errno), LibbpfTail()));
  }
  auto* ro = skel->rodata;
  ro->self_tgid = options.exclude_self ? static_cast<uint32_t>(getpid()) : 0;
  ro->target_tgid = options.target_pid;
  ro->capture_bytes = options.capture_bytes;
  ro->ephemeral_port_lo = EphemeralPortLow();
  ro->reserve_records = options.reserve_records ? 1 : 0;
  ro->wakeup_bytes = std::min(options.wakeup_bytes, options.ring_bytes / 4);
  // Ids unique across restarts: start time in the high 32 bits, a counter below.
  const uint64_t seed = static_cast<uint64_t>(NowNs(CLOCK_REALTIME) / 1000000000) << 32;
  skel->data->next_socket_id = seed | 1;
  skel->data->next_trace_id = seed | 1;
  if (int err = bpf_map__set_max_entries(skel->maps.events, options.ring_bytes); err != 0) {
    return absl::InternalError(
        absl::StrCat("ebpf: ring size ", options.ring_bytes, ": ", Errno(-err)));
  }
  if (!options.tls) {
    for (bpf_program* p :
         {skel->progs.ssl_write_enter, skel->progs.ssl_read_enter, skel->progs.ssl_write_ex_enter,
          skel->progs.ssl_read_ex_enter, skel->progs.ssl_exit, skel->progs.sched_process_exec}) {
      bpf_program__set_autoload(p, false);
    }
  }
  if (int err = socket_trace::load(skel.get()); err != 0) {
    return absl::InternalError(
        absl::StrCat("ebpf: loading the socket tracer failed: ", Errno(-err), LibbpfTail()));
  }
  return absl::OkStatus();
}

absl::Status SocketTracer::Impl::AttachSyscalls() {
  if (int err = socket_trace::attach(skel.get()); err != 0) {
    return absl::InternalError(absl::StrCat(
        "ebpf: attaching the syscall tracepoints failed: ", Errno(-err), LibbpfTail()));
  }
  return absl::OkStatus();
}

void SocketTracer::Impl::AttachLibrary(const TlsLibraryFile& lib) {
  const auto key = std::make_pair(lib.dev, lib.ino);
  if (libraries.count(key) != 0 || failed_libraries.count(key) != 0) return;
  struct Probe {
    const char* func;
    bpf_program* enter;
    bool required;
  };
  const Probe probes[] = {
      {"SSL_write", skel->progs.ssl_write_enter, true},
      {"SSL_read", skel->progs.ssl_read_enter, true},
      {"SSL_write_ex", skel->progs.ssl_write_ex_enter, false},  // OpenSSL >= 1.1.1
      {"SSL_read_ex", skel->progs.ssl_read_ex_enter, false},
  };
  Library library{lib.path, {}};
  std::vector<std::string> missing;
  for (const Probe& p : probes) {
    LIBBPF_OPTS(bpf_uprobe_opts, enter_opts, .retprobe = false, .func_name = p.func);
    LIBBPF_OPTS(bpf_uprobe_opts, exit_opts, .retprobe = true, .func_name = p.func);
    LinkPtr enter(bpf_program__attach_uprobe_opts(p.enter, -1, lib.path.c_str(), 0, &enter_opts));
    LinkPtr exit;
    if (enter) {
      exit.reset(bpf_program__attach_uprobe_opts(skel->progs.ssl_exit, -1, lib.path.c_str(), 0,
                                                 &exit_opts));
    }
    if (!enter || !exit) {
      if (p.required) {
        ++attach_failures;
        failed_libraries.insert(key);
        Log(absl::StrCat("tls: cannot attach to ", p.func, " in ", lib.path, ": ", Errno(errno),
                         LibbpfTail()));
        return;
      }
      missing.emplace_back(p.func);
      continue;
    }
    library.links.push_back(std::move(enter));
    library.links.push_back(std::move(exit));
  }
  Log(absl::StrCat(
      "tls: uprobes attached to ", lib.path,
      missing.empty() ? "" : absl::StrCat(" (without ", absl::StrJoin(missing, ", "), ")")));
  libraries.emplace(key, std::move(library));
}

void SocketTracer::Impl::ScanPid(uint32_t pid) {
  for (const TlsLibraryFile& lib : TlsLibrariesOfProcess(pid)) AttachLibrary(lib);
}

void SocketTracer::Impl::DiscoverTls(bool force) {
  const auto now = Clock::now();
  // Processes that just exec'd: their libraries appear once the dynamic loader ran, a few
  // milliseconds later (or much later with dlopen): look again on a widening schedule.
  static constexpr int kWatchMs[] = {0, 5, 15, 40, 100, 300, 1000};
  for (auto it = watched_pids.begin(); it != watched_pids.end();) {
    Watch& w = it->second;
    if (w.step < std::size(kWatchMs) &&
        now >= w.exec_time + std::chrono::milliseconds(kWatchMs[w.step])) {
      ScanPid(it->first);
      ++w.step;
    }
    const bool done = w.step >= std::size(kWatchMs) &&
                      now >= w.exec_time + std::chrono::milliseconds(options.tls_exec_watch_ms);
    if (done) {
      if (options.tls_exec_watch_ms > static_cast<uint32_t>(kWatchMs[std::size(kWatchMs) - 1])) {
        ScanPid(it->first);
      }
      it = watched_pids.erase(it);
    } else {
      ++it;
    }
  }
  if (!force && now < next_scan) return;
  next_scan = now + std::chrono::milliseconds(options.tls_scan_interval_ms);
  if (force || now >= next_full_scan) {
    scanned_pids.clear();
    next_full_scan = now + std::chrono::milliseconds(options.tls_full_rescan_ms);
  }
  std::unordered_set<uint32_t> alive;
  for (uint32_t pid : ListPids()) {
    alive.insert(pid);
    if (scanned_pids.insert(pid).second) ScanPid(pid);
  }
  // Forget exited processes so that a reused pid is scanned again.
  for (auto it = scanned_pids.begin(); it != scanned_pids.end();) {
    it = alive.count(*it) ? std::next(it) : scanned_pids.erase(it);
  }
}

void SocketTracer::Impl::Handle(const void* data, size_t size) {
  SocketEvent event;
  uint32_t exec_pid = 0;
  switch (DecodeRecord(data, size, wall_offset_ns, &event, &exec_pid)) {
    case DecodeStatus::kEvent:
      ++delivered;
      ++delivered_in_poll;
      if (current_fn != nullptr) (*current_fn)(event);
      break;
    case DecodeStatus::kExec:
      exec_pids.push_back(exec_pid);
      break;
    case DecodeStatus::kMalformed:
      ++malformed;
      break;
  }
}

SocketTracer::SocketTracer(SocketTracerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

SocketTracer::~SocketTracer() {
  if (!impl_) return;
  // Links before the skeleton that owns their programs, the ring before its map.
  impl_->libraries.clear();
  impl_->ring.reset();
  impl_->skel.reset();
}

absl::Status SocketTracer::Start() {
  Impl& m = *impl_;
  if (m.skel) return absl::FailedPreconditionError("ebpf: socket tracer already started");
  RETURN_IF_ERROR(m.CheckEnvironment());
  RETURN_IF_ERROR(m.EnsureTracefs());
  absl::Status st = m.Load();
  if (st.ok()) st = m.AttachSyscalls();
  if (st.ok()) {
    m.ring.reset(ring_buffer__new(bpf_map__fd(m.skel->maps.events), &Impl::OnRecord, &m, nullptr));
    if (!m.ring) {
      st = absl::InternalError(absl::StrCat("ebpf: ring buffer: ", Errno(errno)));
    }
  }
  if (!st.ok()) {
    m.ring.reset();
    m.skel.reset();
    return st;
  }
  m.wall_offset_ns = WallOffsetNs();
  m.last_offset_refresh = m.rate_start = Clock::now();
  if (m.options.tls) {
    for (const TlsLibraryFile& lib : SystemTlsLibraries()) m.AttachLibrary(lib);
    m.DiscoverTls(/*force=*/true);
    if (m.libraries.empty()) m.Log("tls: no libssl found yet; watching new processes");
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> SocketTracer::Poll(int timeout_ms, EventFn fn) {
  Impl& m = *impl_;
  if (!m.ring) return absl::FailedPreconditionError("ebpf: socket tracer not started");
  // Processes that exec'd are rescanned on every poll: wait less while some are watched.
  if (!m.watched_pids.empty()) timeout_ms = std::min(timeout_ms, 5);
  m.current_fn = &fn;
  m.delivered_in_poll = 0;
  int rc = ring_buffer__poll(m.ring.get(), timeout_ms);
  // Records below the wake-up threshold raise no epoll event: take them too.
  if (rc >= 0) rc = ring_buffer__consume(m.ring.get());
  m.current_fn = nullptr;
  if (rc < 0 && rc != -EINTR) {
    return absl::InternalError(absl::StrCat("ebpf: ring buffer poll: ", Errno(-rc)));
  }
  const auto now = Clock::now();
  if (m.options.tls) {
    for (uint32_t pid : m.exec_pids) m.watched_pids[pid] = Impl::Watch{now, 0};
    m.exec_pids.clear();
    m.DiscoverTls(/*force=*/false);
  }
  if (now - m.last_offset_refresh > std::chrono::seconds(10)) {
    m.wall_offset_ns = WallOffsetNs();  // follows clock steps (NTP, settimeofday)
    m.last_offset_refresh = now;
  }
  const double elapsed = std::chrono::duration<double>(now - m.rate_start).count();
  if (elapsed >= 1.0) {
    m.rate = static_cast<double>(m.delivered - m.rate_base) / elapsed;
    m.rate_base = m.delivered;
    m.rate_start = now;
  }
  return m.delivered_in_poll;
}

SocketTracerCounters SocketTracer::Counters() const {
  const Impl& m = *impl_;
  SocketTracerCounters c;
  c.delivered = m.delivered;
  c.malformed = m.malformed;
  c.tls_libraries = m.libraries.size();
  c.tls_attach_failures = m.attach_failures;
  c.events_per_second = m.rate;
  if (!m.skel) return c;
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return c;
  std::vector<uint64_t> values(static_cast<size_t>(ncpu));
  uint64_t sums[FS_CNT_MAX] = {};
  for (uint32_t i = 0; i < FS_CNT_MAX; ++i) {
    if (bpf_map__lookup_elem(m.skel->maps.counters, &i, sizeof(i), values.data(),
                             values.size() * sizeof(uint64_t), 0) != 0) {
      continue;
    }
    for (uint64_t v : values) sums[i] += v;
  }
  c.data_events = sums[FS_CNT_DATA_EVENTS];
  c.open_events = sums[FS_CNT_OPEN_EVENTS];
  c.close_events = sums[FS_CNT_CLOSE_EVENTS];
  c.ring_full = sums[FS_CNT_RING_FULL];
  c.copy_failed = sums[FS_CNT_COPY_FAILED];
  c.map_full = sums[FS_CNT_MAP_FULL];
  c.not_socket = sums[FS_CNT_NOT_SOCKET];
  c.not_inet = sums[FS_CNT_NOT_INET];
  c.mmsg_truncated = sums[FS_CNT_MMSG_TRUNCATED];
  c.tls_events = sums[FS_CNT_TLS_EVENTS];
  c.tls_no_socket = sums[FS_CNT_TLS_NO_SOCKET];
  c.exec_events = sums[FS_CNT_EXEC_EVENTS];
  return c;
}

std::vector<std::string> SocketTracer::TlsLibraries() const {
  std::vector<std::string> out;
  for (const auto& [key, lib] : impl_->libraries) out.push_back(lib.path);
  return out;
}

}  // namespace flowscope::agent::ebpf
