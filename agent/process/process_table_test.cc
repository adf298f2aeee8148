#include "agent/process/process_table.h"

#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace flowscope::agent::process {
namespace {

using ::testing::HasSubstr;
using namespace std::string_literals;
namespace fs = std::filesystem;

constexpr uint64_t kBoot = 1'700'000'000'000'000'000ull;  // wall clock of the fake boot
constexpr uint64_t kSec = 1'000'000'000ull;
constexpr char kDockerId[] = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";

// A fake proc root in a temporary directory.
class FakeProc {
 public:
  FakeProc() {
    char tmpl[] = "/tmp/fs_fake_proc_XXXXXX";
    root_ = mkdtemp(tmpl);
  }
  ~FakeProc() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  const std::string& Root() const { return root_; }

  struct Proc {
    uint32_t pid = 0;
    uint32_t ppid = 1;
    std::string comm = "proc";
    char state = 'S';
    uint32_t flags = 4194560;
    uint64_t start_ticks = 1000;
    uint32_t uid = 0;
    std::string cmdline;  // raw, NUL-separated
    std::string exe;      // symlink target, "" for none
    std::string cgroup = "0::/\n";
    uint64_t netns = 4026531840;
  };

  void Add(const Proc& p) {
    std::string dir = Dir(p.pid);
    fs::create_directories(dir + "/ns");
    fs::create_directories(dir + "/task/" + std::to_string(p.pid));
    Write(dir + "/stat",
          absl::StrCat(p.pid, " (", p.comm, ") ", std::string(1, p.state), " ", p.ppid,
                       " 10 10 0 -1 ", p.flags, " 0 0 0 0 0 0 0 0 20 0 1 0 ", p.start_ticks,
                       " 8802304 896 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 1 0 0\n"));
    Write(dir + "/status", absl::StrCat("Name:\t", p.comm, "\nState:\tS (sleeping)\nUid:\t", p.uid,
                                        "\t", p.uid, "\t", p.uid, "\t", p.uid, "\n"));
    Write(dir + "/cmdline", p.cmdline);
    Write(dir + "/cgroup", p.cgroup);
    Write(dir + "/task/" + std::to_string(p.pid) + "/comm", p.comm + "\n");
    std::error_code ec;
    fs::remove(dir + "/exe", ec);
    if (!p.exe.empty()) fs::create_symlink(p.exe, dir + "/exe");
    fs::remove(dir + "/ns/net", ec);
    fs::create_symlink(absl::StrCat("net:[", p.netns, "]"), dir + "/ns/net");
  }
  void Remove(uint32_t pid) { fs::remove_all(Dir(pid)); }
  void RemoveFile(uint32_t pid, const std::string& name) { fs::remove(Dir(pid) + "/" + name); }
  void WriteFile(uint32_t pid, const std::string& name, const std::string& content) {
    fs::create_directories(fs::path(Dir(pid) + "/" + name).parent_path());
    Write(Dir(pid) + "/" + name, content);
  }
  std::string Dir(uint32_t pid) const { return root_ + "/" + std::to_string(pid); }

 private:
  static void Write(const std::string& path, const std::string& content) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << content;
  }
  std::string root_;
};

ProcessTableOptions Options(const FakeProc& proc) {
  ProcessTableOptions o;
  o.proc_root = proc.Root();
  o.boot_time_ns = kBoot;
  o.exit_grace = std::chrono::seconds(10);
  return o;
}

FakeProc::Proc Nginx() {
  FakeProc::Proc p;
  p.pid = 100;
  p.ppid = 1;
  p.comm = "nginx: worker";
  p.start_ticks = 12345;
  p.uid = 33;
  p.cmdline = "nginx: worker process\0\0\0"s;
  p.exe = "/usr/sbin/nginx";
  p.cgroup = std::string("0::/system.slice/docker-") + kDockerId + ".scope\n";
  p.netns = 4026532001;
  return p;
}

TEST(ProcessTableTest, ScanReadsEveryField) {
  FakeProc proc;
  proc.Add({.pid = 1, .ppid = 0, .comm = "init", .cmdline = "/sbin/init\0"s, .exe = "/sbin/init"});
  proc.Add(Nginx());
  ProcessTable table(Options(proc));
  auto n = table.Scan();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 2u);

  auto p = table.Lookup(100);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->pid, 100u);
  EXPECT_EQ(p->ppid, 1u);
  EXPECT_EQ(p->uid, 33u);
  EXPECT_EQ(p->comm, "nginx: worker");
  EXPECT_EQ(p->cmdline, "nginx: worker process");
  EXPECT_EQ(p->exe, "/usr/sbin/nginx");
  EXPECT_EQ(p->container_id, kDockerId);
  EXPECT_EQ(p->netns, 4026532001u);
  EXPECT_EQ(p->start_ticks, 12345u);
  EXPECT_EQ(p->start_time_ns, kBoot + 12345 * (kSec / ClockTicksPerSecond()));
  EXPECT_FALSE(p->exited());
  EXPECT_FALSE(p->kernel_thread);
  EXPECT_EQ(p->source, InfoSource::kScan);

  auto init = table.Lookup(1);
  ASSERT_NE(init, nullptr);
  EXPECT_EQ(init->cmdline, "/sbin/init");
  EXPECT_EQ(init->container_id, "");
  EXPECT_EQ(table.Lookup(2), nullptr);
  EXPECT_EQ(table.Stats().alive, 2u);
}

TEST(ProcessTableTest, OddCommsKernelThreadsAndZombies) {
  FakeProc proc;
  proc.Add({.pid = 10, .comm = "a) S 1 (b"});
  proc.Add({.pid = 11, .comm = "tab\there"});
  proc.Add({.pid = 12, .comm = ""});
  proc.Add({.pid = 2, .ppid = 0, .comm = "kthreadd", .flags = 2129984});
  proc.Add({.pid = 13, .comm = "defunct", .state = 'Z'});
  ProcessTable table(Options(proc));
  ASSERT_TRUE(table.Scan().ok());
  ASSERT_NE(table.Lookup(10), nullptr);
  EXPECT_EQ(table.Lookup(10)->comm, "a) S 1 (b");
  EXPECT_EQ(table.Lookup(10)->ppid, 1u);
  EXPECT_EQ(table.Lookup(11)->comm, "tab\there");
  EXPECT_EQ(table.Lookup(12)->comm, "");
  EXPECT_TRUE(table.Lookup(2)->kernel_thread);
  EXPECT_EQ(table.Lookup(2)->exe, "");
  ASSERT_NE(table.Lookup(13), nullptr);
  EXPECT_TRUE(table.Lookup(13)->exited());  // zombies enter in their grace period
  EXPECT_EQ(table.Stats().exited, 1u);
}

TEST(ProcessTableTest, MissingAndBrokenFiles) {
  FakeProc proc;
  proc.Add({.pid = 20, .comm = "bare", .cmdline = "bare\0"s, .exe = "/bin/bare"});
  for (const char* f : {"status", "cmdline", "cgroup", "exe", "ns/net"}) proc.RemoveFile(20, f);
  proc.Add({.pid = 21, .comm = "garbage"});
  proc.WriteFile(21, "stat", "21 garbage without parentheses\n");
  proc.Add({.pid = 22, .comm = "badstatus"});
  proc.WriteFile(22, "status", "Name:\tbadstatus\nUid:\tnot-a-number\n");
  fs::create_directories(proc.Dir(23));  // a process that vanished: directory, no files
  proc.WriteFile(24, "cmdline", "x");    // no stat either

  ProcessTable table(Options(proc));
  auto n = table.Scan();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 2u);  // 20 and 22

  auto bare = table.Lookup(20);
  ASSERT_NE(bare, nullptr);
  EXPECT_EQ(bare->comm, "bare");
  EXPECT_EQ(bare->cmdline, "");
  EXPECT_EQ(bare->exe, "");
  EXPECT_EQ(bare->container_id, "");
  EXPECT_EQ(bare->netns, 0u);
  EXPECT_EQ(table.Lookup(21), nullptr);
  ASSERT_NE(table.Lookup(22), nullptr);
  EXPECT_EQ(table.Lookup(22)->uid, 0u);
  EXPECT_EQ(table.Lookup(23), nullptr);
  EXPECT_EQ(table.Lookup(24), nullptr);
  EXPECT_EQ(table.Stats().proc_read_errors, 2u);  // 21's stat, 22's status; not 23 or 24
}

TEST(ProcessTableTest, MissingRootFails) {
  ProcessTableOptions o;
  o.proc_root = "/nonexistent/proc";
  ProcessTable table(o);
  auto n = table.Scan();
  ASSERT_FALSE(n.ok());
  EXPECT_THAT(std::string(n.status().message()), HasSubstr("/nonexistent/proc"));
}

TEST(ProcessTableTest, CmdlineBound) {
  FakeProc proc;
  proc.Add({.pid = 30, .comm = "java", .cmdline = "java\0-cp\0"s + std::string(10000, 'j')});
  ProcessTableOptions o = Options(proc);
  o.max_cmdline_bytes = 64;
  ProcessTable table(o);
  ASSERT_TRUE(table.Scan().ok());
  auto p = table.Lookup(30);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->cmdline.size(), 64u);
  EXPECT_THAT(p->cmdline, ::testing::StartsWith("java -cp jjj"));
  EXPECT_THAT(p->cmdline, ::testing::EndsWith("..."));
}

TEST(ProcessTableTest, ExecRereadsProc) {
  FakeProc proc;
  FakeProc::Proc sh{.pid = 40,
                    .ppid = 1,
                    .comm = "sh",
                    .start_ticks = 500,
                    .cmdline = "sh\0-c\0exec sleep 1\0"s,
                    .exe = "/bin/dash"};
  proc.Add(sh);
  ProcessTable table(Options(proc));
  ASSERT_TRUE(table.Scan().ok());
  FakeProc::Proc sleep = sh;
  sleep.comm = "sleep";
  sleep.cmdline = "sleep\0001\0"s;
  sleep.exe = "/usr/bin/sleep";
  proc.Add(sleep);
  auto p = table.OnExec({.pid = 40,
                         .ppid = 1,
                         .comm = "sleep",
                         .filename = "/bin/sleep",
                         .raw_args = "sleep\0001\0"s,
                         .time_ns = kBoot + 9 * kSec});
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->comm, "sleep");
  EXPECT_EQ(p->cmdline, "sleep 1");
  EXPECT_EQ(p->exe, "/usr/bin/sleep");  // resolved by /proc, not the execve path
  EXPECT_EQ(p->start_ticks, 500u);      // exec keeps the process
  EXPECT_EQ(p->source, InfoSource::kExec);
  EXPECT_EQ(table.Lookup(40), p);
}

TEST(ProcessTableTest, ExecOfVanishedProcessUsesEvent) {
  FakeProc proc;
  FakeProc::Proc p = Nginx();
  p.pid = 41;
  proc.Add(p);
  ProcessTable table(Options(proc));
  ASSERT_TRUE(table.Scan().ok());
  const uint64_t start = table.Lookup(41)->start_time_ns;
  proc.Remove(41);
  std::string args = "/bin/true\0--flag\0"s;
  auto e = table.OnExec({.pid = 41,
                         .ppid = 7,
                         .uid = 5,
                         .comm = "true",
                         .filename = "/bin/true",
                         .raw_args = args,
                         .time_ns = kBoot + 99 * kSec});
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->comm, "true");
  EXPECT_EQ(e->exe, "/bin/true");
  EXPECT_EQ(e->cmdline, "/bin/true --flag");
  EXPECT_EQ(e->ppid, 7u);
  EXPECT_EQ(e->uid, 5u);
  EXPECT_EQ(e->container_id, kDockerId);  // exec keeps the cgroup
  EXPECT_EQ(e->start_time_ns, start);
  EXPECT_EQ(e->source, InfoSource::kEvent);

  // Unknown before and gone: the event's time stands in for the start.
  auto u = table.OnExec({.pid = 42,
                         .ppid = 7,
                         .comm = "x",
                         .filename = "/x",
                         .raw_args = "",
                         .time_ns = kBoot + 5 * kSec});
  EXPECT_EQ(u->start_time_ns, kBoot + 5 * kSec);
  EXPECT_EQ(u->container_id, "");
}

TEST(ProcessTableTest, ForkInheritsThenRefreshes) {
  FakeProc proc;
  proc.Add(Nginx());
  ProcessTable table(Options(proc));
  ASSERT_TRUE(table.Scan().ok());
  const uint64_t t = kBoot + 100 * kSec;
  auto child = table.OnFork(101, 100, "nginx: worker", t);
  ASSERT_NE(child, nullptr);
  EXPECT_TRUE(child->inherited());
  EXPECT_EQ(child->pid, 101u);
  EXPECT_EQ(child->ppid, 100u);
  EXPECT_EQ(child->exe, "/usr/sbin/nginx");
  EXPECT_EQ(child->container_id, kDockerId);
  EXPECT_EQ(child->start_time_ns, t);
  EXPECT_EQ(child->start_ticks, 0u);

  FakeProc::Proc c = Nginx();
  c.pid = 101;
  c.ppid = 100;
  c.uid = 65534;  // the child dropped privileges
  c.start_ticks = 10000;
  proc.Add(c);
  EXPECT_EQ(table.RefreshInherited(t + 10'000'000, std::chrono::milliseconds(50)), 0u);  // young
  EXPECT_TRUE(table.Lookup(101)->inherited());
  EXPECT_EQ(table.RefreshInherited(t + 60'000'000, std::chrono::milliseconds(50)), 1u);
  auto fresh = table.Lookup(101);
  EXPECT_FALSE(fresh->inherited());
  EXPECT_EQ(fresh->uid, 65534u);
  EXPECT_EQ(fresh->start_ticks, 10000u);
  EXPECT_EQ(table.RefreshInherited(t + 120'000'000, std::chrono::milliseconds(50)), 0u);

  // A child that execs before the refresh is not read twice.
  table.OnFork(102, 100, "nginx: worker", t);
  FakeProc::Proc e{.pid = 102, .ppid = 100, .comm = "sh", .cmdline = "sh\0"s, .exe = "/bin/sh"};
  proc.Add(e);
  table.OnExec({.pid = 102, .ppid = 100, .comm = "sh", .filename = "/bin/sh", .time_ns = t + 1});
  EXPECT_EQ(table.RefreshInherited(t + kSec, std::chrono::milliseconds(50)), 0u);
  EXPECT_EQ(table.Lookup(102)->source, InfoSource::kExec);

  // Unknown parent: what the event says.
  auto orphan = table.OnFork(200, 199, "ghost", t);
  EXPECT_EQ(orphan->comm, "ghost");
  EXPECT_EQ(orphan->exe, "");
}

TEST(ProcessTableTest, ExitGracePeriodThenForgotten) {
  FakeProc proc;
  proc.Add(Nginx());
  ProcessTableOptions o = Options(proc);
  o.exit_grace = std::chrono::seconds(10);
  ProcessTable table(o);
  ASSERT_TRUE(table.Scan().ok());
  const uint64_t t = kBoot + 1000 * kSec;
  bool first = false;
  auto p = table.OnExit(100, 1, "nginx: worker", 9, t, &first);
  EXPECT_TRUE(first);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->exited());
  EXPECT_EQ(p->exit_time_ns, t);
  EXPECT_EQ(p->exit_code, 9);
  EXPECT_EQ(p->cmdline, "nginx: worker process");  // still names it
  table.OnExit(100, 1, "nginx: worker", 0, t + 5, &first);
  EXPECT_FALSE(first);  // a second exit of the same process
  EXPECT_EQ(table.Lookup(100)->exit_time_ns, t);

  EXPECT_EQ(table.ExpireExited(t + 9 * kSec), 0u);
  ASSERT_NE(table.Lookup(100), nullptr);
  EXPECT_EQ(table.ExpireExited(t + 10 * kSec), 1u);
  EXPECT_EQ(table.Lookup(100), nullptr);
  EXPECT_EQ(table.Stats().expired, 1u);
  EXPECT_EQ(table.Stats().exited, 0u);

  // An exit of a process never seen still leaves a record to name late events.
  table.OnExit(300, 1, "short", 0, t, &first);
  EXPECT_TRUE(first);
  ASSERT_NE(table.Lookup(300), nullptr);
  EXPECT_EQ(table.Lookup(300)->comm, "short");
  EXPECT_EQ(table.Lookup(300)->source, InfoSource::kEvent);
}

TEST(ProcessTableTest, ReusedPidSurvivesTheOldGracePeriod) {
  FakeProc proc;
  ProcessTable table(Options(proc));
  const uint64_t t = kBoot + 1000 * kSec;
  table.OnFork(500, 1, "old", t);
  table.OnExit(500, 1, "old", 0, t + kSec);
  table.OnFork(500, 1, "new", t + 2 * kSec);  // pid reused
  EXPECT_FALSE(table.Lookup(500)->exited());
  EXPECT_EQ(table.ExpireExited(t + 100 * kSec), 0u);
  ASSERT_NE(table.Lookup(500), nullptr);
  EXPECT_EQ(table.Lookup(500)->comm, "new");
  EXPECT_EQ(table.Stats().exited, 0u);
  EXPECT_EQ(table.Stats().alive, 1u);
}

TEST(ProcessTableTest, RescanRepairsLostEvents) {
  FakeProc proc;
  proc.Add(Nginx());
  proc.Add({.pid = 50, .comm = "bash", .start_ticks = 700, .exe = "/bin/bash"});
  proc.Add({.pid = 51, .comm = "cron", .start_ticks = 800});
  proc.Add({.pid = 52, .comm = "reused", .start_ticks = 900});
  proc.Add({.pid = 53, .comm = "dying", .start_ticks = 950});
  ProcessTable table(Options(proc));
  ASSERT_TRUE(table.Scan().ok());
  const uint64_t now = kBoot + 2000 * kSec;

  auto r = table.Rescan(now);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->fixed(), 0u);  // nothing changed
  EXPECT_EQ(r->listed, 5u);

  proc.Add({.pid = 60, .comm = "new", .start_ticks = 1500});  // lost fork/exec
  proc.Remove(51);                                            // lost exit
  proc.Add({.pid = 50, .comm = "python3", .start_ticks = 700, .exe = "/usr/bin/python3"});  // exec
  proc.Add({.pid = 52, .comm = "reused", .start_ticks = 1900});              // pid reused
  proc.Add({.pid = 53, .comm = "dying", .state = 'Z', .start_ticks = 950});  // zombie
  r = table.Rescan(now);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->added, 1u);
  EXPECT_EQ(r->exited, 2u);     // 51 gone, 53 zombie
  EXPECT_EQ(r->refreshed, 2u);  // 50 exec'd, 52 reused
  ASSERT_NE(table.Lookup(60), nullptr);
  EXPECT_EQ(table.Lookup(60)->source, InfoSource::kRescan);
  EXPECT_TRUE(table.Lookup(51)->exited());
  EXPECT_EQ(table.Lookup(51)->exit_time_ns, now);
  EXPECT_EQ(table.Lookup(50)->exe, "/usr/bin/python3");
  EXPECT_EQ(table.Lookup(52)->start_ticks, 1900u);
  EXPECT_TRUE(table.Lookup(53)->exited());

  r = table.Rescan(now + kSec);  // idempotent
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fixed(), 0u);
}

TEST(ProcessTableTest, RescanLeavesExitingProcessExited) {
  // Between the exit tracepoint and the zombie state /proc still shows the process running.
  FakeProc proc;
  proc.Add({.pid = 70, .comm = "exiting", .start_ticks = 4000});
  ProcessTable table(Options(proc));
  ASSERT_TRUE(table.Scan().ok());
  table.OnExit(70, 1, "exiting", 0, kBoot + 50 * kSec);
  auto r = table.Rescan(kBoot + 51 * kSec);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fixed(), 0u);
  EXPECT_TRUE(table.Lookup(70)->exited());
}

TEST(ProcessTableTest, RescanRefreshesForkChildAndKeepsIt) {
  FakeProc proc;
  proc.Add(Nginx());
  ProcessTable table(Options(proc));
  ASSERT_TRUE(table.Scan().ok());
  const uint64_t tick = kSec / ClockTicksPerSecond();
  const uint64_t fork_ns = kBoot + 20000 * tick + 3'000'000;  // within the starttime tick
  table.OnFork(110, 100, "nginx: worker", fork_ns);
  FakeProc::Proc c = Nginx();
  c.pid = 110;
  c.ppid = 100;
  c.start_ticks = 20000;
  proc.Add(c);
  auto r = table.Rescan(fork_ns + kSec);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->refreshed, 1u);
  EXPECT_EQ(r->added, 0u);
  EXPECT_FALSE(table.Lookup(110)->inherited());
  EXPECT_EQ(table.Lookup(110)->start_ticks, 20000u);
}

TEST(ProcessTableTest, ThreadNamesCached) {
  FakeProc proc;
  proc.Add(Nginx());
  proc.WriteFile(100, "task/105/comm", "worker-1\n");
  ProcessTableOptions o = Options(proc);
  ProcessTable table(o);
  ASSERT_TRUE(table.Scan().ok());
  EXPECT_EQ(table.ThreadName(100, 100), "nginx: worker");
  EXPECT_EQ(table.ThreadName(100, 105), "worker-1");
  proc.WriteFile(100, "task/105/comm", "renamed\n");
  EXPECT_EQ(table.ThreadName(100, 105), "worker-1");  // cached
  EXPECT_EQ(table.Stats().thread_name_reads, 1u);
  EXPECT_EQ(table.Stats().thread_name_hits, 1u);
  EXPECT_EQ(table.ThreadName(100, 999), std::nullopt);
  EXPECT_EQ(table.ThreadName(999, 999), std::nullopt);

  o.thread_name_ttl = std::chrono::nanoseconds(0);
  ProcessTable uncached(o);
  ASSERT_TRUE(uncached.Scan().ok());
  EXPECT_EQ(uncached.ThreadName(100, 105), "renamed");
  proc.WriteFile(100, "task/105/comm", "again\n");
  EXPECT_EQ(uncached.ThreadName(100, 105), "again");

  o.thread_names = false;
  ProcessTable off(o);
  EXPECT_EQ(off.ThreadName(100, 105), std::nullopt);
}

TEST(ProcessTableTest, ReadersSeeWholeRecordsWhileUpdaterRuns) {
  FakeProc proc;
  ProcessTable table(Options(proc));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> seen{0}, torn{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        for (uint32_t pid = 1000; pid < 1010; ++pid) {
          auto p = table.Lookup(pid);
          if (p == nullptr) continue;
          ++seen;
          // Every record written below has cmdline == "run " + comm.
          if (p->cmdline != "run " + p->comm || p->pid != pid) ++torn;
        }
      }
    });
  }
  uint64_t t = kBoot;
  for (int round = 0; round < 2000; ++round) {
    for (uint32_t pid = 1000; pid < 1010; ++pid) {
      std::string comm = absl::StrCat("c", round);
      std::string args = "run\0"s + comm;
      table.OnExec({.pid = pid,
                    .ppid = 1,
                    .comm = comm,
                    .filename = "/x",
                    .raw_args = args,
                    .time_ns = ++t});
      if (round % 3 == 0) table.OnExit(pid, 1, comm, 0, ++t);
    }
    table.ExpireExited(t);
  }
  stop.store(true);
  for (auto& r : readers) r.join();
  EXPECT_GT(seen.load(), 0u);
  EXPECT_EQ(torn.load(), 0u);
}

// --- the real /proc ---

TEST(ProcessTableRealProcTest, FindsItselfAndInit) {
  ProcessTable table;
  auto n = table.Scan();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_GT(*n, 2u);
  auto self = table.Lookup(static_cast<uint32_t>(getpid()));
  ASSERT_NE(self, nullptr);
  EXPECT_EQ(self->ppid, static_cast<uint32_t>(getppid()));
  EXPECT_EQ(self->uid, getuid());
  EXPECT_EQ(self->comm, std::string("process_table_test").substr(0, 15));
  EXPECT_EQ(self->exe, fs::read_symlink("/proc/self/exe").string());
  EXPECT_THAT(self->cmdline, HasSubstr("process_table_test"));
  struct stat ns {};
  ASSERT_EQ(stat("/proc/self/ns/net", &ns), 0);
  EXPECT_EQ(self->netns, ns.st_ino);
  // Started after boot and not in the future; this VM's cgroups name no container.
  EXPECT_GT(self->start_time_ns, BootTimeWallNs());
  EXPECT_LE(self->start_time_ns, WallNowNs());
  EXPECT_EQ(self->container_id, "");
  ASSERT_NE(table.Lookup(1), nullptr);
  EXPECT_EQ(table.Lookup(1)->ppid, 0u);
}

TEST(ProcessTableRealProcTest, RescanSeesChildComeAndGo) {
  ProcessTable table;
  ASSERT_TRUE(table.Scan().ok());
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    execl("/bin/sleep", "sleep", "30", nullptr);
    _exit(127);
  }
  // Wait until the child has exec'd (its comm changes).
  for (int i = 0; i < 200; ++i) {
    std::ifstream f("/proc/" + std::to_string(child) + "/comm");
    std::string comm;
    std::getline(f, comm);
    if (comm == "sleep") break;
    usleep(10'000);
  }
  auto r = table.Rescan(WallNowNs());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GE(r->added, 1u);
  auto p = table.Lookup(static_cast<uint32_t>(child));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->comm, "sleep");
  EXPECT_EQ(p->cmdline, "sleep 30");
  EXPECT_EQ(p->ppid, static_cast<uint32_t>(getpid()));
  EXPECT_EQ(p->source, InfoSource::kRescan);

  kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  r = table.Rescan(WallNowNs());
  ASSERT_TRUE(r.ok());
  EXPECT_GE(r->exited, 1u);
  ASSERT_NE(table.Lookup(static_cast<uint32_t>(child)), nullptr);
  EXPECT_TRUE(table.Lookup(static_cast<uint32_t>(child))->exited());
}

TEST(ProcessTableRealProcTest, ThreadName) {
  ProcessTable table;
  ASSERT_TRUE(table.Scan().ok());
  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
  std::thread t([&] {
    pthread_setname_np(pthread_self(), "fs-worker");
    tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
    while (!done.load()) usleep(1000);
  });
  while (tid.load() == 0) usleep(1000);
  auto name = table.ThreadName(static_cast<uint32_t>(getpid()), static_cast<uint32_t>(tid.load()));
  done.store(true);
  t.join();
  EXPECT_EQ(name, "fs-worker");
}

}  // namespace
}  // namespace flowscope::agent::process
