#include "agent/process/self_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/process/proc_fs.h"

namespace flowscope::agent::process {
namespace {

uint64_t TimevalNs(const timeval& tv) {
  return static_cast<uint64_t>(tv.tv_sec) * 1'000'000'000ull +
         static_cast<uint64_t>(tv.tv_usec) * 1000ull;
}

}  // namespace

absl::StatusOr<uint64_t> ParseStatmRssBytes(std::string_view statm, uint64_t page_size) {
  std::vector<std::string_view> f = SplitFields(statm, " \n");
  uint64_t pages = 0;
  if (f.size() < 2) return absl::InvalidArgumentError("statm: fewer than 2 fields");
  auto [p, ec] = std::from_chars(f[1].data(), f[1].data() + f[1].size(), pages);
  if (ec != std::errc() || p != f[1].data() + f[1].size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("statm: bad resident field '", std::string(f[1]), "'"));
  }
  return pages * page_size;
}

double CpuPercent(const SelfSample& from, const SelfSample& to) {
  if (to.steady_ns <= from.steady_ns || to.cpu_ns() < from.cpu_ns()) return 0;
  return 100.0 * static_cast<double>(to.cpu_ns() - from.cpu_ns()) /
         static_cast<double>(to.steady_ns - from.steady_ns);
}

SelfStats::SelfStats(std::string statm_path) : statm_path_(std::move(statm_path)) {
  if (absl::StatusOr<SelfSample> s = Sample(); s.ok()) last_ = *s;
}

absl::StatusOr<SelfSample> SelfStats::Sample() const {
  SelfSample s;
  s.steady_ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) {
    return absl::InternalError(absl::StrCat("getrusage: ", std::strerror(errno)));
  }
  s.cpu_user_ns = TimevalNs(ru.ru_utime);
  s.cpu_system_ns = TimevalNs(ru.ru_stime);
  s.max_rss_bytes = static_cast<uint64_t>(ru.ru_maxrss) * 1024;  // KiB on Linux
  absl::StatusOr<std::string> statm = ReadSmallFile(statm_path_, 256);
  if (!statm.ok()) return statm.status();
  long page = sysconf(_SC_PAGESIZE);
  absl::StatusOr<uint64_t> rss =
      ParseStatmRssBytes(*statm, page > 0 ? static_cast<uint64_t>(page) : 4096);
  if (!rss.ok()) return rss.status();
  s.rss_bytes = *rss;
  return s;
}

absl::StatusOr<SelfReport> SelfStats::Report() {
  absl::StatusOr<SelfSample> now = Sample();
  if (!now.ok()) return now.status();
  SelfReport r;
  r.cpu_percent = last_.has_value() ? CpuPercent(*last_, *now) : 0;
  r.rss_bytes = now->rss_bytes;
  r.max_rss_bytes = now->max_rss_bytes;
  r.cpu_ns = now->cpu_ns();
  last_ = *now;
  return r;
}

}  // namespace flowscope::agent::process
