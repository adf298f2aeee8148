// Real eBPF on real processes (CTest label: integration; needs root). Every wait is bounded.
#include "agent/process/proc_event_source.h"

#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace flowscope::agent::process {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// Every event the listener saw, for the test to wait on.
class Collector {
 public:
  ProcEventListener Listener() {
    return [this](const ProcEvent& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
      cv_.notify_all();
    };
  }
  // Waits until `pred` holds over the events (or the timeout); returns whether it held.
  bool WaitFor(const std::function<bool(const std::vector<ProcEvent>&)>& pred,
               std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(events_); });
  }
  std::vector<ProcEvent> Of(uint32_t pid) {
    std::lock_guard lock(mu_);
    std::vector<ProcEvent> out;
    for (const auto& e : events_) {
      if (e.pid == pid) out.push_back(e);
    }
    return out;
  }
  std::vector<ProcEvent> All() {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ProcEvent> events_;
};

bool Has(const std::vector<ProcEvent>& events, ProcEventKind kind, uint32_t pid) {
  for (const auto& e : events) {
    if (e.kind == kind && e.pid == pid) return true;
  }
  return false;
}

const ProcEvent* Find(const std::vector<ProcEvent>& events, ProcEventKind kind, uint32_t pid,
                      int nth = 0) {
  for (const auto& e : events) {
    if (e.kind == kind && e.pid == pid && nth-- == 0) return &e;
  }
  return nullptr;
}

// fork + execv(argv[0], argv); returns the child's pid.
pid_t Spawn(std::vector<const char*> argv) {
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    execv(argv[0], const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  return pid;
}

int Reap(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// Kills and reaps what is left of some children when a test ends early (a failed ASSERT).
class KillOnExit {
 public:
  explicit KillOnExit(std::vector<uint32_t>* pids) : pids_(pids) {}
  ~KillOnExit() {
    for (uint32_t pid : *pids_) {
      if (kill(static_cast<pid_t>(pid), SIGKILL) == 0) waitpid(static_cast<pid_t>(pid), nullptr, 0);
    }
  }

 private:
  std::vector<uint32_t>* pids_;
};

std::string Comm() {
  char name[17] = {};
  prctl(PR_GET_NAME, name);
  return name;
}

class ProcEventSourceTest : public ::testing::Test {
 protected:
  // Scans /proc and starts the source; skips the test without root.
  void StartSource(ProcessTableOptions table_options, ProcEventSourceOptions options) {
    table_ = std::make_unique<ProcessTable>(std::move(table_options));
    ASSERT_TRUE(table_->Scan().ok());
    options.listener = collector_.Listener();
    auto source = ProcEventSource::Start(table_.get(), std::move(options));
    if (source.status().code() == absl::StatusCode::kPermissionDenied && geteuid() != 0) {
      GTEST_SKIP() << "needs root: " << source.status();
    }
    ASSERT_TRUE(source.ok()) << source.status();
    source_ = std::move(*source);
  }

  Collector collector_;
  std::unique_ptr<ProcessTable> table_;
  std::unique_ptr<ProcEventSource> source_;
};

TEST_F(ProcEventSourceTest, ForkExecExitOfAShortLivedChild) {
  ProcessTableOptions topt;
  topt.exit_grace = std::chrono::seconds(1);
  ProcEventSourceOptions opt;
  opt.rescan_interval = std::chrono::nanoseconds(0);  // events alone
  StartSource(topt, opt);
  if (source_ == nullptr) return;

  const auto self = static_cast<uint32_t>(getpid());
  const auto child = static_cast<uint32_t>(Spawn({"/bin/sleep", "0.2"}));
  ASSERT_TRUE(collector_.WaitFor([&](const auto& ev) {
    return Has(ev, ProcEventKind::kExec, child);
  })) << "no exec event for "
      << child;

  // Alive: the table names it from the exec.
  auto alive = table_->Lookup(child);
  ASSERT_NE(alive, nullptr);
  EXPECT_FALSE(alive->exited());
  EXPECT_EQ(alive->comm, "sleep");
  EXPECT_EQ(alive->cmdline, "/bin/sleep 0.2");
  EXPECT_EQ(alive->exe, std::filesystem::canonical("/bin/sleep").string());
  EXPECT_EQ(alive->ppid, self);
  EXPECT_EQ(alive->uid, getuid());
  EXPECT_NE(alive->netns, 0u);
  EXPECT_EQ(alive->source, InfoSource::kExec);

  const int status = Reap(static_cast<pid_t>(child));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_TRUE(collector_.WaitFor([&](const auto& ev) {
    return Has(ev, ProcEventKind::kExit, child);
  })) << "no exit event for "
      << child;
  const auto events = collector_.Of(child);
  const ProcEvent* fork = Find(events, ProcEventKind::kFork, child);
  const ProcEvent* exec = Find(events, ProcEventKind::kExec, child);
  const ProcEvent* exit = Find(events, ProcEventKind::kExit, child);
  ASSERT_NE(fork, nullptr);
  ASSERT_NE(exec, nullptr);
  ASSERT_NE(exit, nullptr);
  EXPECT_EQ(fork->ppid, self);
  EXPECT_EQ(fork->comm, Comm());  // the parent's at fork time
  EXPECT_EQ(exec->ppid, self);
  EXPECT_EQ(exec->comm, "sleep");
  EXPECT_EQ(exec->filename, "/bin/sleep");
  EXPECT_EQ(exec->tid, child);
  ASSERT_NE(exec->process, nullptr);
  EXPECT_EQ(exec->process->cmdline, "/bin/sleep 0.2");
  EXPECT_EQ(exit->ppid, self);
  EXPECT_EQ(exit->comm, "sleep");
  EXPECT_EQ(exit->exit_code, 0);
  EXPECT_EQ(Find(events, ProcEventKind::kExit, child, 1), nullptr);  // exactly one exit
  // Wall-clock times, in order, about 0.2 s apart, and near now.
  EXPECT_LE(fork->time_ns, exec->time_ns);
  EXPECT_GE(exit->time_ns - exec->time_ns, 150'000'000u);
  EXPECT_LT(exit->time_ns - exec->time_ns, 5'000'000'000u);
  const uint64_t now = WallNowNs();
  EXPECT_LT(now - exit->time_ns, 5'000'000'000u);
  // The start time from /proc agrees with the fork event (starttime has 10 ms ticks).
  EXPECT_NEAR(static_cast<double>(alive->start_time_ns), static_cast<double>(fork->time_ns), 30e6);

  // Exited: still resolvable during the grace period, then forgotten.
  auto gone = table_->Lookup(child);
  ASSERT_NE(gone, nullptr);
  EXPECT_TRUE(gone->exited());
  EXPECT_EQ(gone->comm, "sleep");
  EXPECT_EQ(gone->cmdline, "/bin/sleep 0.2");
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (table_->Lookup(child) != nullptr && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const uint64_t forgotten = WallNowNs();
  EXPECT_EQ(table_->Lookup(child), nullptr) << "still there 5 s after exit";
  EXPECT_GE(forgotten - exit->time_ns, 1'000'000'000u);  // not before the grace period
  EXPECT_EQ(source_->Stats().dropped, 0u);
}

TEST_F(ProcEventSourceTest, ShellForksAndExecs) {
  ProcEventSourceOptions opt;
  opt.rescan_interval = std::chrono::nanoseconds(0);
  StartSource({}, opt);
  if (source_ == nullptr) return;

  // dash forks for /bin/true, then replaces itself with sleep (same pid, second exec).
  const uint32_t sh =
      static_cast<uint32_t>(Spawn({"/bin/sh", "-c", "/bin/true; exec /bin/sleep 0.1"}));
  const auto fails = static_cast<uint32_t>(Spawn({"/bin/sh", "-c", "exit 3"}));
  Reap(static_cast<pid_t>(sh));
  EXPECT_EQ(WEXITSTATUS(Reap(static_cast<pid_t>(fails))), 3);
  ASSERT_TRUE(collector_.WaitFor([&](const auto& ev) {
    return Has(ev, ProcEventKind::kExit, sh) && Has(ev, ProcEventKind::kExit, fails);
  }));

  const auto events = collector_.Of(sh);
  const ProcEvent* exec_sh = Find(events, ProcEventKind::kExec, sh, 0);
  const ProcEvent* exec_sleep = Find(events, ProcEventKind::kExec, sh, 1);
  ASSERT_NE(exec_sh, nullptr);
  ASSERT_NE(exec_sleep, nullptr);
  EXPECT_EQ(exec_sh->comm, "sh");
  EXPECT_EQ(exec_sh->filename, "/bin/sh");
  EXPECT_EQ(exec_sleep->comm, "sleep");
  EXPECT_EQ(exec_sleep->filename, "/bin/sleep");
  ASSERT_NE(exec_sleep->process, nullptr);
  EXPECT_EQ(exec_sleep->process->cmdline, "/bin/sleep 0.1");

  // The child that ran /bin/true: forked by sh, exec'd, exited, all with sh as parent.
  uint32_t true_pid = 0;
  for (const auto& e : collector_.All()) {
    if (e.kind == ProcEventKind::kFork && e.ppid == sh) true_pid = e.pid;
  }
  ASSERT_NE(true_pid, 0u) << "no fork event from sh";
  ASSERT_TRUE(
      collector_.WaitFor([&](const auto& ev) { return Has(ev, ProcEventKind::kExit, true_pid); }));
  const auto tev = collector_.Of(true_pid);
  const ProcEvent* fork = Find(tev, ProcEventKind::kFork, true_pid);
  const ProcEvent* exec = Find(tev, ProcEventKind::kExec, true_pid);
  const ProcEvent* exit = Find(tev, ProcEventKind::kExit, true_pid);
  ASSERT_NE(fork, nullptr);
  ASSERT_NE(exec, nullptr);
  ASSERT_NE(exit, nullptr);
  EXPECT_EQ(fork->comm, "sh");
  EXPECT_EQ(exec->comm, "true");
  EXPECT_EQ(exec->ppid, sh);
  EXPECT_EQ(exit->ppid, sh);
  // /bin/true is usually gone before its exec is handled: the event's argv names it then.
  ASSERT_NE(exec->process, nullptr);
  EXPECT_EQ(exec->process->cmdline, "/bin/true");

  // The table ends with what sh became.
  auto p = table_->Lookup(sh);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->comm, "sleep");
  EXPECT_EQ(p->cmdline, "/bin/sleep 0.1");
  EXPECT_TRUE(p->exited());

  const auto fails_events = collector_.Of(fails);
  const ProcEvent* exit3 = Find(fails_events, ProcEventKind::kExit, fails);
  ASSERT_NE(exit3, nullptr);
  EXPECT_EQ(exit3->exit_code, 3 << 8);  // wait(2) status
}

TEST_F(ProcEventSourceTest, ThreadsAreNotProcesses) {
  ProcEventSourceOptions opt;
  opt.rescan_interval = std::chrono::nanoseconds(0);
  StartSource({}, opt);
  if (source_ == nullptr) return;
  const auto self = static_cast<uint32_t>(getpid());
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back([] { usleep(10'000); });
  for (auto& t : threads) t.join();
  // A fork after the threads, as a marker that the earlier events have been handled.
  const auto marker = static_cast<uint32_t>(Spawn({"/bin/true"}));
  Reap(static_cast<pid_t>(marker));
  ASSERT_TRUE(
      collector_.WaitFor([&](const auto& ev) { return Has(ev, ProcEventKind::kExit, marker); }));
  for (const auto& e : collector_.All()) {
    EXPECT_FALSE(e.kind == ProcEventKind::kFork && e.ppid == self && e.pid != marker)
        << "thread " << e.pid << " reported as a process";
    EXPECT_FALSE(e.kind == ProcEventKind::kExit && e.pid == self) << "thread exit as process exit";
  }
  ASSERT_NE(table_->Lookup(self), nullptr);
  EXPECT_FALSE(table_->Lookup(self)->exited());
}

TEST_F(ProcEventSourceTest, ForkWithoutExecIsRefreshedFromProc) {
  ProcEventSourceOptions opt;
  opt.rescan_interval = std::chrono::nanoseconds(0);
  opt.fork_refresh_delay = std::chrono::milliseconds(50);
  StartSource({}, opt);
  if (source_ == nullptr) return;
  const auto self = static_cast<uint32_t>(getpid());
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_NAME, "fs-forked");  // no exec: only /proc can tell the new name
    pause();
    _exit(0);
  }
  const auto child = static_cast<uint32_t>(pid);
  std::vector<uint32_t> children = {child};
  KillOnExit guard(&children);
  ASSERT_TRUE(
      collector_.WaitFor([&](const auto& ev) { return Has(ev, ProcEventKind::kFork, child); }));
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  std::shared_ptr<const ProcessInfo> p;
  while (Clock::now() < deadline) {
    p = table_->Lookup(child);
    if (p != nullptr && !p->inherited()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->source, InfoSource::kRescan);
  EXPECT_EQ(p->comm, "fs-forked");
  EXPECT_EQ(p->ppid, self);
  EXPECT_NE(p->start_ticks, 0u);
  EXPECT_EQ(p->exe, table_->Lookup(self)->exe);
  EXPECT_GE(source_->Stats().fork_refreshed, 1u);

  kill(pid, SIGKILL);
  Reap(pid);
  children.clear();  // reaped: the pid may be reused from now on
  ASSERT_TRUE(
      collector_.WaitFor([&](const auto& ev) { return Has(ev, ProcEventKind::kExit, child); }));
  const auto events = collector_.Of(child);
  const ProcEvent* exit = Find(events, ProcEventKind::kExit, child);
  ASSERT_NE(exit, nullptr);
  EXPECT_EQ(exit->exit_code, SIGKILL);
  EXPECT_EQ(exit->comm, "fs-forked");
}

TEST_F(ProcEventSourceTest, BurstOf200ShortLivedProcesses) {
  ProcEventSourceOptions opt;
  opt.rescan_interval = std::chrono::nanoseconds(0);
  StartSource({}, opt);
  if (source_ == nullptr) return;
  constexpr int kCount = 200;
  std::vector<uint32_t> pids;
  for (int i = 0; i < kCount; ++i) pids.push_back(static_cast<uint32_t>(Spawn({"/bin/true"})));
  for (uint32_t pid : pids) Reap(static_cast<pid_t>(pid));

  auto missing = [&](const std::vector<ProcEvent>& ev, ProcEventKind kind) {
    absl::flat_hash_map<uint32_t, bool> seen;
    for (const auto& e : ev) {
      if (e.kind == kind) seen[e.pid] = true;
    }
    uint64_t n = 0;
    for (uint32_t pid : pids) n += seen.contains(pid) ? 0 : 1;
    return n;
  };
  // Wait until every exit is in, or what is missing is accounted for by drops.
  collector_.WaitFor(
      [&](const auto& ev) {
        return missing(ev, ProcEventKind::kExit) <= source_->Stats().dropped_exit;
      },
      std::chrono::seconds(15));
  const auto events = collector_.All();
  const ProcEventStats stats = source_->Stats();
  EXPECT_LE(missing(events, ProcEventKind::kFork), stats.dropped_fork);
  EXPECT_LE(missing(events, ProcEventKind::kExec), stats.dropped_exec);
  EXPECT_LE(missing(events, ProcEventKind::kExit), stats.dropped_exit);
  // Each one the events saw is still named by the table (10 s grace) as what it ran.
  size_t named = 0;
  for (uint32_t pid : pids) {
    auto p = table_->Lookup(pid);
    if (p == nullptr) continue;
    EXPECT_TRUE(p->exited()) << pid;
    if (p->comm == "true") ++named;
  }
  EXPECT_GE(named + stats.dropped_exec, static_cast<size_t>(kCount));
  EXPECT_EQ(stats.malformed, 0u);
}

TEST_F(ProcEventSourceTest, FullRingBufferIsCountedAndRescanRepairs) {
  // A one-page ring buffer and a listener that stalls the poll thread while 100 processes
  // start: the ring must overflow. The children stay alive, so a rescan can name them.
  // Shared with the listener: the poll thread may still call it while the test unwinds.
  auto gate = std::make_shared<std::mutex>();
  std::unique_lock<std::mutex> hold(*gate);
  table_ = std::make_unique<ProcessTable>();
  ASSERT_TRUE(table_->Scan().ok());
  ProcEventSourceOptions opt;
  opt.ring_buffer_bytes = static_cast<uint32_t>(getpagesize());
  opt.rescan_interval = std::chrono::nanoseconds(0);
  opt.fork_refresh_delay = std::chrono::hours(1);  // only the rescan repairs
  opt.listener = [gate](const ProcEvent&) { std::lock_guard wait(*gate); };
  auto source = ProcEventSource::Start(table_.get(), std::move(opt));
  if (source.status().code() == absl::StatusCode::kPermissionDenied && geteuid() != 0) {
    GTEST_SKIP() << "needs root: " << source.status();
  }
  ASSERT_TRUE(source.ok()) << source.status();
  source_ = std::move(*source);

  constexpr int kCount = 100;
  std::vector<uint32_t> pids;
  for (int i = 0; i < kCount; ++i)
    pids.push_back(static_cast<uint32_t>(Spawn({"/bin/sleep", "20"})));
  KillOnExit guard(&pids);
  // Let every child exec before the gate opens.
  for (uint32_t pid : pids) {
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    std::string comm;
    do {
      comm.clear();
      FILE* f = fopen(("/proc/" + std::to_string(pid) + "/comm").c_str(), "r");
      if (f != nullptr) {
        char buf[32] = {};
        if (fgets(buf, sizeof(buf), f) != nullptr) comm = buf;
        fclose(f);
      }
      if (comm == "sleep\n") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    } while (Clock::now() < deadline);
  }
  hold.unlock();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // drain what the ring kept

  ProcEventStats stats = source_->Stats();
  EXPECT_GT(stats.dropped, 0u);
  EXPECT_GT(stats.dropped_exec + stats.dropped_fork, 0u);
  uint64_t per_cpu = 0;
  for (uint64_t d : stats.dropped_per_cpu) per_cpu += d;
  EXPECT_EQ(per_cpu, stats.dropped);
  size_t wrong = 0;
  for (uint32_t pid : pids) {
    auto p = table_->Lookup(pid);
    if (p == nullptr || p->comm != "sleep" || p->inherited()) ++wrong;
  }
  EXPECT_GT(wrong, 0u) << "the ring buffer did not overflow";

  source_->RequestRescan();
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (source_->Stats().rescans == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stats = source_->Stats();
  ASSERT_EQ(stats.rescans, 1u);
  EXPECT_GE(stats.rescan_added + stats.rescan_refreshed, wrong);
  for (uint32_t pid : pids) {
    auto p = table_->Lookup(pid);
    ASSERT_NE(p, nullptr) << pid;
    EXPECT_EQ(p->comm, "sleep") << pid;
    EXPECT_EQ(p->cmdline, "/bin/sleep 20") << pid;
    EXPECT_FALSE(p->exited()) << pid;
  }
  for (uint32_t pid : pids) kill(static_cast<pid_t>(pid), SIGKILL);
  for (uint32_t pid : pids) Reap(static_cast<pid_t>(pid));
  pids.clear();  // reaped: the pids may be reused from now on
  source_->Stop();
}

TEST_F(ProcEventSourceTest, StopIsIdempotentAndStatsSurvive) {
  StartSource({}, {});
  if (source_ == nullptr) return;
  const auto child = static_cast<uint32_t>(Spawn({"/bin/true"}));
  Reap(static_cast<pid_t>(child));
  ASSERT_TRUE(
      collector_.WaitFor([&](const auto& ev) { return Has(ev, ProcEventKind::kExit, child); }));
  source_->Stop();
  source_->Stop();
  const ProcEventStats stats = source_->Stats();
  EXPECT_GE(stats.exec, 1u);
  EXPECT_GE(stats.exit, 1u);
  EXPECT_FALSE(stats.dropped_per_cpu.empty());
  // Nothing arrives after Stop().
  const size_t before = collector_.All().size();
  Reap(Spawn({"/bin/true"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(collector_.All().size(), before);
}

TEST(ProcEventSourceStartTest, BadOptions) {
  ProcessTable table;
  ProcEventSourceOptions opt;
  opt.ring_buffer_bytes = 3 * 4096;
  auto s = ProcEventSource::Start(&table, opt);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("12288"));
  EXPECT_FALSE(ProcEventSource::Start(nullptr, {}).ok());
}

TEST(ProcEventSourceStartTest, NoBtfIsAClearError) {
  if (geteuid() != 0) GTEST_SKIP() << "the capability check comes first without root";
  ProcEventSourceOptions opt;
  opt.btf_path = "/nonexistent/vmlinux";
  absl::Status s = CheckProcEventPrerequisites(opt);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("/nonexistent/vmlinux"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("CONFIG_DEBUG_INFO_BTF"));
}

TEST(ProcEventSourceStartTest, NotRootIsAClearError) {
  // A child that drops to nobody (losing every capability) runs the check and reports.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0) _exit(2);
    absl::Status s = CheckProcEventPrerequisites({});
    std::string msg = std::to_string(static_cast<int>(s.code())) + " " + std::string(s.message());
    (void)!write(fds[1], msg.data(), msg.size());
    _exit(0);
  }
  close(fds[1]);
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) msg.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  Reap(pid);
  EXPECT_THAT(msg, ::testing::StartsWith(
                       std::to_string(static_cast<int>(absl::StatusCode::kPermissionDenied))));
  EXPECT_THAT(msg, HasSubstr("need root"));
  EXPECT_THAT(msg, HasSubstr("uid 65534"));
}

TEST(ProcEventSourceStartTest, MountsTracefsWhenMissing) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  // In a child with a private mount namespace, so that nobody else loses tracefs.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    auto report = [&](const std::string& s) { (void)!write(fds[1], s.data(), s.size()); };
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr)) {
      report("setup: unshare failed");
      _exit(1);
    }
    umount2("/sys/kernel/tracing", MNT_DETACH);  // may not have been mounted at all
    if (access("/sys/kernel/tracing/events", F_OK) == 0) {
      report("setup: tracefs still mounted");
      _exit(1);
    }
    ProcEventSourceOptions opt;
    opt.mount_tracefs = false;
    absl::Status refused = CheckProcEventPrerequisites(opt);
    opt.mount_tracefs = true;
    absl::Status mounted = CheckProcEventPrerequisites(opt);
    report(std::to_string(static_cast<int>(refused.code())) + "|" + std::string(refused.message()) +
           "|" + std::to_string(static_cast<int>(mounted.code())) + "|" +
           (access("/sys/kernel/tracing/events/sched/sched_process_exec", F_OK) == 0 ? "events"
                                                                                     : "none"));
    _exit(0);
  }
  close(fds[1]);
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) msg.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  Reap(pid);
  ASSERT_THAT(msg, ::testing::Not(::testing::StartsWith("setup:"))) << msg;
  EXPECT_THAT(msg, ::testing::StartsWith(
                       std::to_string(static_cast<int>(absl::StatusCode::kFailedPrecondition))));
  EXPECT_THAT(msg, HasSubstr("mount -t tracefs nodev /sys/kernel/tracing"));
  EXPECT_THAT(msg, ::testing::EndsWith("|0|events"));  // mounted by the check itself
}

}  // namespace
}  // namespace flowscope::agent::process
