#include "agent/process/self_stats.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace flowscope::agent::process {
namespace {

uint64_t ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

TEST(ParseStatmTest, ResidentPages) {
  auto rss = ParseStatmRssBytes("5000 1234 300 10 0 900 0\n", 4096);
  ASSERT_TRUE(rss.ok()) << rss.status();
  EXPECT_EQ(*rss, 1234u * 4096u);
  EXPECT_FALSE(ParseStatmRssBytes("", 4096).ok());
  EXPECT_FALSE(ParseStatmRssBytes("5000", 4096).ok());
  EXPECT_FALSE(ParseStatmRssBytes("5000 12x4 3", 4096).ok());
}

TEST(CpuPercentTest, Arithmetic) {
  SelfSample a{.steady_ns = 1'000'000'000, .cpu_user_ns = 100, .cpu_system_ns = 0};
  SelfSample b{
      .steady_ns = 2'000'000'000, .cpu_user_ns = 300'000'100, .cpu_system_ns = 200'000'000};
  EXPECT_DOUBLE_EQ(CpuPercent(a, b), 50.0);
  SelfSample two_cpus{.steady_ns = 2'000'000'000, .cpu_user_ns = 2'000'000'100};
  EXPECT_DOUBLE_EQ(CpuPercent(a, two_cpus), 200.0);
  EXPECT_EQ(CpuPercent(b, a), 0.0);  // not later
  EXPECT_EQ(CpuPercent(a, a), 0.0);
}

TEST(SelfStatsTest, CountsBurnedCpu) {
  SelfStats stats;
  auto before = stats.Sample();
  ASSERT_TRUE(before.ok()) << before.status();
  // Burn 200 ms of this thread's CPU time (whatever the machine's load, the kernel accounts it).
  const uint64_t start = ThreadCpuNs();
  volatile uint64_t sink = 0;
  while (ThreadCpuNs() - start < 200'000'000) {
    for (int i = 0; i < 10000; ++i) sink = sink + static_cast<uint64_t>(i);
  }
  auto after = stats.Sample();
  ASSERT_TRUE(after.ok()) << after.status();
  const uint64_t used = after->cpu_ns() - before->cpu_ns();
  EXPECT_GE(used, 190'000'000u);
  EXPECT_LT(used, 2'000'000'000u);
  EXPECT_GT(after->cpu_user_ns, before->cpu_user_ns);
  const double pct = CpuPercent(*before, *after);
  EXPECT_GT(pct, 5.0);  // at least some of the wall time went to this thread
  EXPECT_LE(pct, 100.0 * static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN)) + 5.0);
}

TEST(SelfStatsTest, RssFollowsTouchedMemory) {
  SelfStats stats;
  auto before = stats.Sample();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_GT(before->rss_bytes, 0u);
  constexpr size_t kSize = 64u << 20;
  void* p = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  std::memset(p, 1, kSize);
  auto touched = stats.Sample();
  ASSERT_TRUE(touched.ok());
  EXPECT_GE(touched->rss_bytes, before->rss_bytes + kSize - (4u << 20));
  EXPECT_GE(touched->max_rss_bytes, touched->rss_bytes - (1u << 20));
  munmap(p, kSize);
  auto released = stats.Sample();
  ASSERT_TRUE(released.ok());
  EXPECT_LT(released->rss_bytes, touched->rss_bytes - kSize / 2);
  // It agrees with VmRSS of /proc/self/status within a few MiB.
  std::ifstream status("/proc/self/status");
  std::string line;
  uint64_t vmrss_kib = 0;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) vmrss_kib = std::stoull(line.substr(6));
  }
  EXPECT_NEAR(static_cast<double>(released->rss_bytes), static_cast<double>(vmrss_kib * 1024),
              4.0 * (1 << 20));
}

TEST(SelfStatsTest, ReportComparesWithThePreviousSample) {
  SelfStats stats;
  const uint64_t start = ThreadCpuNs();
  volatile uint64_t sink = 0;
  while (ThreadCpuNs() - start < 50'000'000) sink = sink + 1;
  auto r = stats.Report();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->cpu_percent, 1.0);  // since construction: the loop above
  EXPECT_GT(r->rss_bytes, 0u);
  EXPECT_GE(r->cpu_ns, 50'000'000u);
  usleep(200'000);  // idle
  r = stats.Report();
  ASSERT_TRUE(r.ok());
  EXPECT_LT(r->cpu_percent, 50.0);
}

TEST(SelfStatsTest, MissingStatmIsAnError) {
  SelfStats stats("/nonexistent/statm");
  auto s = stats.Sample();
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace flowscope::agent::process
