#include "agent/process/process_table.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace flowscope::agent::process {
namespace {

constexpr size_t kMaxStatBytes = 4096;
constexpr size_t kMaxStatusBytes = 16384;
constexpr size_t kMaxCgroupBytes = 65536;
constexpr size_t kMaxCommBytes = 64;

ProcessTableOptions WithDefaults(ProcessTableOptions o) {
  if (o.boot_time_ns == 0) o.boot_time_ns = BootTimeWallNs();
  if (o.max_cmdline_bytes == 0) o.max_cmdline_bytes = 1;
  return o;
}

uint64_t SteadyNowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

std::string TrimNewline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
  return s;
}

}  // namespace

std::string_view InfoSourceName(InfoSource s) {
  switch (s) {
    case InfoSource::kScan:
      return "scan";
    case InfoSource::kExec:
      return "exec";
    case InfoSource::kFork:
      return "fork";
    case InfoSource::kRescan:
      return "rescan";
    case InfoSource::kEvent:
      return "event";
  }
  return "unknown";
}

ProcessTable::ProcessTable(ProcessTableOptions options)
    : options_(WithDefaults(std::move(options))) {}

std::string ProcessTable::PidDir(uint32_t pid) const {
  return absl::StrCat(options_.proc_root, "/", pid);
}

void ProcessTable::CountReadError() {
  std::unique_lock lock(mu_);
  ++proc_read_errors_;
}

absl::StatusOr<ProcessInfo> ProcessTable::ReadProcess(uint32_t pid, InfoSource source) {
  const std::string dir = PidDir(pid);
  absl::StatusOr<std::string> stat_raw = ReadSmallFile(dir + "/stat", kMaxStatBytes);
  if (!stat_raw.ok()) return stat_raw.status();
  absl::StatusOr<ProcStat> stat = ParseStat(*stat_raw);
  if (!stat.ok()) {
    CountReadError();
    return absl::InvalidArgumentError(absl::StrCat(dir, "/", stat.status().message()));
  }
  ProcessInfo info;
  info.pid = pid;
  info.ppid = stat->ppid;
  info.comm = std::move(stat->comm);
  info.start_ticks = stat->start_ticks;
  info.start_time_ns =
      options_.boot_time_ns + stat->start_ticks * (1'000'000'000ull / ClockTicksPerSecond());
  info.kernel_thread = (stat->flags & kPfKthread) != 0;
  info.source = source;

  // The rest is best effort: a file may be unreadable (another user's process without root),
  // missing (kernel threads have no exe) or gone (the process exited meanwhile).
  if (absl::StatusOr<std::string> status = ReadSmallFile(dir + "/status", kMaxStatusBytes);
      status.ok()) {
    if (absl::StatusOr<uint32_t> uid = ParseStatusUid(*status); uid.ok()) {
      info.uid = *uid;
    } else {
      CountReadError();
    }
  }
  if (absl::StatusOr<std::string> raw =
          ReadSmallFile(dir + "/cmdline", options_.max_cmdline_bytes + 1);
      raw.ok()) {
    info.cmdline = CmdlineFromRaw(*raw, options_.max_cmdline_bytes);
  }
  if (absl::StatusOr<std::string> exe = ReadLinkString(dir + "/exe"); exe.ok()) {
    info.exe = std::move(*exe);
  }
  if (absl::StatusOr<std::string> cg = ReadSmallFile(dir + "/cgroup", kMaxCgroupBytes); cg.ok()) {
    info.container_id = ContainerIdFromCgroupFile(*cg);
  }
  if (absl::StatusOr<std::string> ns = ReadLinkString(dir + "/ns/net"); ns.ok()) {
    info.netns = ParseNamespaceLink(*ns);
  }
  return info;
}

void ProcessTable::Put(Ptr info) {
  std::unique_lock lock(mu_);
  Ptr& slot = processes_[info->pid];
  if (slot != nullptr && slot->exited()) --exited_count_;
  if (info->exited()) {
    ++exited_count_;
    exit_queue_.emplace_back(info->pid, info->exit_time_ns);
  }
  slot = std::move(info);
}

bool ProcessTable::MarkExitedIf(const Ptr& expected, uint64_t time_ns) {
  auto exited = std::make_shared<ProcessInfo>(*expected);
  exited->exit_time_ns = time_ns;
  std::unique_lock lock(mu_);
  auto it = processes_.find(expected->pid);
  if (it == processes_.end() || it->second != expected) return false;
  ++exited_count_;
  exit_queue_.emplace_back(expected->pid, time_ns);
  it->second = std::move(exited);
  return true;
}

std::shared_ptr<const ProcessInfo> ProcessTable::Lookup(uint32_t pid) const {
  std::shared_lock lock(mu_);
  auto it = processes_.find(pid);
  return it == processes_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const ProcessInfo>> ProcessTable::Snapshot() const {
  std::shared_lock lock(mu_);
  std::vector<Ptr> out;
  out.reserve(processes_.size());
  for (const auto& [pid, info] : processes_) out.push_back(info);
  return out;
}

ProcessTableStats ProcessTable::Stats() const {
  ProcessTableStats s;
  {
    std::shared_lock lock(mu_);
    s.exited = exited_count_;
    s.alive = processes_.size() - exited_count_;
    s.expired = expired_;
    s.proc_read_errors = proc_read_errors_;
  }
  std::lock_guard lock(thread_mu_);
  s.thread_name_reads = thread_name_reads_;
  s.thread_name_hits = thread_name_hits_;
  return s;
}

absl::StatusOr<size_t> ProcessTable::Scan() {
  absl::StatusOr<RescanResult> r = Rescan(WallNowNs());
  if (!r.ok()) return r.status();
  return r->listed;
}

absl::StatusOr<RescanResult> ProcessTable::Rescan(uint64_t now_ns) {
  // The snapshot is taken before listing /proc: a process that the events add afterwards is
  // not in it, so it cannot be taken for one that vanished.
  std::vector<Ptr> before = Snapshot();
  absl::StatusOr<std::vector<uint32_t>> pids = ListPids(options_.proc_root);
  if (!pids.ok()) return pids.status();
  const bool initial = before.empty();
  const InfoSource source = initial ? InfoSource::kScan : InfoSource::kRescan;
  const uint64_t tick_ns = 1'000'000'000ull / ClockTicksPerSecond();

  RescanResult result;
  absl::flat_hash_set<uint32_t> listed;
  listed.reserve(pids->size());
  for (uint32_t pid : *pids) {
    absl::StatusOr<std::string> raw = ReadSmallFile(PidDir(pid) + "/stat", kMaxStatBytes);
    if (!raw.ok()) continue;  // vanished since the listing
    absl::StatusOr<ProcStat> st = ParseStat(*raw);
    if (!st.ok()) {
      CountReadError();
      continue;
    }
    listed.insert(pid);
    ++result.listed;
    const bool zombie = st->state == 'Z' || st->state == 'X';
    Ptr cur = Lookup(pid);
    bool same = false;
    if (cur != nullptr) {
      if (cur->start_ticks != 0) {
        same = cur->start_ticks == st->start_ticks;
      } else {
        // Fork children and event-only records know their start from the event's time.
        uint64_t start = options_.boot_time_ns + st->start_ticks * tick_ns;
        uint64_t diff =
            start > cur->start_time_ns ? start - cur->start_time_ns : cur->start_time_ns - start;
        same = diff <= 2 * tick_ns;
      }
    }
    if (same && zombie) {
      if (!cur->exited() && MarkExitedIf(cur, now_ns)) ++result.exited;
      continue;
    }
    // Between the exit tracepoint and the zombie state /proc still shows the process running:
    // an exited record of the same process stays as it is.
    if (same && cur->exited()) continue;
    const bool stale = same && (cur->inherited() || cur->comm != st->comm);
    if (same && !stale) continue;

    absl::StatusOr<ProcessInfo> info = ReadProcess(pid, source);
    if (!info.ok()) continue;
    if (zombie) info->exit_time_ns = now_ns;
    if (cur == nullptr) {
      ++result.added;
    } else {
      ++result.refreshed;  // a lost exec, a fork child, or a reused pid
    }
    Put(std::make_shared<const ProcessInfo>(std::move(*info)));
  }

  for (const Ptr& p : before) {
    if (p->exited() || listed.contains(p->pid)) continue;
    if (access(PidDir(p->pid).c_str(), F_OK) == 0) continue;  // listed late, still there
    if (MarkExitedIf(p, now_ns)) ++result.exited;
  }
  if (initial) {
    result.added = result.refreshed = result.exited = 0;
  }
  return result;
}

std::shared_ptr<const ProcessInfo> ProcessTable::OnExec(const ExecUpdate& e) {
  Ptr prev = Lookup(e.pid);
  absl::StatusOr<ProcessInfo> read = ReadProcess(e.pid, InfoSource::kExec);
  ProcessInfo info;
  if (read.ok()) {
    info = std::move(*read);
    if (info.cmdline.empty() && !e.raw_args.empty()) {
      info.cmdline = CmdlineFromRaw(e.raw_args, options_.max_cmdline_bytes);
    }
  } else {
    // Gone already (or unreadable): what the event carries, plus what exec keeps (start time,
    // cgroup, network namespace) from the record of the same process.
    info.pid = e.pid;
    info.ppid = e.ppid;
    info.uid = e.uid;
    info.comm = std::string(e.comm);
    info.exe = std::string(e.filename);
    info.cmdline = CmdlineFromRaw(e.raw_args, options_.max_cmdline_bytes);
    info.start_time_ns = e.time_ns;
    info.source = InfoSource::kEvent;
    if (prev != nullptr && !prev->exited()) {
      info.start_time_ns = prev->start_time_ns;
      info.start_ticks = prev->start_ticks;
      info.container_id = prev->container_id;
      info.netns = prev->netns;
    }
  }
  auto ptr = std::make_shared<const ProcessInfo>(std::move(info));
  Put(ptr);
  return ptr;
}

std::shared_ptr<const ProcessInfo> ProcessTable::OnFork(uint32_t pid, uint32_t ppid,
                                                        std::string_view comm, uint64_t time_ns) {
  Ptr parent = Lookup(ppid);
  auto child =
      parent != nullptr ? std::make_shared<ProcessInfo>(*parent) : std::make_shared<ProcessInfo>();
  child->pid = pid;
  child->ppid = ppid;
  if (!comm.empty()) child->comm = std::string(comm);
  child->start_time_ns = time_ns;
  child->start_ticks = 0;
  child->exit_time_ns = 0;
  child->exit_code = 0;
  child->source = InfoSource::kFork;
  Put(child);
  std::lock_guard lock(pending_mu_);
  pending_forks_.emplace_back(pid, time_ns);
  return child;
}

std::shared_ptr<const ProcessInfo> ProcessTable::OnExit(uint32_t pid, uint32_t ppid,
                                                        std::string_view comm, int32_t exit_code,
                                                        uint64_t time_ns, bool* first) {
  if (first != nullptr) *first = false;
  if (time_ns == 0) time_ns = 1;  // 0 means alive
  Ptr cur = Lookup(pid);
  if (cur != nullptr && cur->exited()) return cur;
  std::shared_ptr<ProcessInfo> info;
  if (cur != nullptr) {
    info = std::make_shared<ProcessInfo>(*cur);
  } else {
    info = std::make_shared<ProcessInfo>();
    info->pid = pid;
    info->ppid = ppid;
    info->comm = std::string(comm);
    info->source = InfoSource::kEvent;
  }
  info->exit_time_ns = time_ns;
  info->exit_code = exit_code;
  Put(info);
  if (first != nullptr) *first = true;
  return info;
}

size_t ProcessTable::RefreshInherited(uint64_t now_ns, std::chrono::nanoseconds min_age) {
  const uint64_t age = static_cast<uint64_t>(std::max<int64_t>(0, min_age.count()));
  size_t refreshed = 0;
  while (true) {
    uint32_t pid = 0;
    {
      std::lock_guard lock(pending_mu_);
      if (pending_forks_.empty() || pending_forks_.front().second + age > now_ns) break;
      pid = pending_forks_.front().first;
      pending_forks_.pop_front();
    }
    Ptr cur = Lookup(pid);
    if (cur == nullptr || !cur->inherited() || cur->exited()) continue;  // exec'd or gone
    absl::StatusOr<ProcessInfo> info = ReadProcess(pid, InfoSource::kRescan);
    if (!info.ok()) continue;  // its exit event will come
    auto ptr = std::make_shared<const ProcessInfo>(std::move(*info));
    std::unique_lock lock(mu_);
    auto it = processes_.find(pid);
    if (it != processes_.end() && it->second == cur) {  // not replaced while /proc was read
      it->second = std::move(ptr);
      ++refreshed;
    }
  }
  return refreshed;
}

size_t ProcessTable::ExpireExited(uint64_t now_ns) {
  const uint64_t grace = static_cast<uint64_t>(std::max<int64_t>(0, options_.exit_grace.count()));
  size_t removed = 0;
  std::unique_lock lock(mu_);
  while (!exit_queue_.empty() && exit_queue_.front().second + grace <= now_ns) {
    auto [pid, exit_ns] = exit_queue_.front();
    exit_queue_.pop_front();
    auto it = processes_.find(pid);
    // Skip when the pid was reused or exited again since (a later queue entry covers that).
    if (it == processes_.end() || !it->second->exited() || it->second->exit_time_ns != exit_ns) {
      continue;
    }
    processes_.erase(it);
    --exited_count_;
    ++expired_;
    ++removed;
  }
  return removed;
}

std::optional<std::string> ProcessTable::ThreadName(uint32_t pid, uint32_t tid) {
  Ptr proc = Lookup(pid);
  if (tid == pid && proc != nullptr) return proc->comm;
  if (!options_.thread_names) return std::nullopt;
  const uint64_t key = (static_cast<uint64_t>(pid) << 32) | tid;
  const uint64_t now = SteadyNowNs();
  const uint64_t ttl =
      static_cast<uint64_t>(std::max<int64_t>(0, options_.thread_name_ttl.count()));
  const uint64_t start = proc != nullptr ? proc->start_time_ns : 0;
  {
    std::lock_guard lock(thread_mu_);
    auto it = thread_names_.find(key);
    // A cached name of another process that had the same pid does not count.
    if (it != thread_names_.end() && it->second.read_ns + ttl > now &&
        it->second.process_start_ns == start) {
      ++thread_name_hits_;
      return it->second.name;
    }
  }
  absl::StatusOr<std::string> comm =
      ReadSmallFile(absl::StrCat(PidDir(pid), "/task/", tid, "/comm"), kMaxCommBytes);
  if (!comm.ok()) return std::nullopt;
  std::string name = TrimNewline(std::move(*comm));
  std::lock_guard lock(thread_mu_);
  ++thread_name_reads_;
  if (thread_names_.size() >= options_.max_thread_names) thread_names_.clear();
  thread_names_[key] = CachedThreadName{name, now, start};
  return name;
}

}  // namespace flowscope::agent::process
