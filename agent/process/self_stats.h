// SelfStats: the agent's own CPU time and resident memory, so that it can report its cost
// (CPU % and RSS) next to what it observes. CPU time comes from getrusage(RUSAGE_SELF)
// (microsecond resolution, every thread), RSS from /proc/self/statm.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace flowscope::agent::process {

struct SelfSample {
  uint64_t steady_ns = 0;    // std::chrono::steady_clock at the sample
  uint64_t cpu_user_ns = 0;  // all threads, since the process started
  uint64_t cpu_system_ns = 0;
  uint64_t rss_bytes = 0;      // resident now
  uint64_t max_rss_bytes = 0;  // high-water mark (ru_maxrss)

  uint64_t cpu_ns() const { return cpu_user_ns + cpu_system_ns; }
};

// Resident bytes from the content of /proc/PID/statm (second field, in pages).
absl::StatusOr<uint64_t> ParseStatmRssBytes(std::string_view statm, uint64_t page_size);

// CPU use between two samples in percent of one CPU (two busy CPUs give 200). 0 when `to` is
// not later than `from`.
double CpuPercent(const SelfSample& from, const SelfSample& to);

struct SelfReport {
  double cpu_percent = 0;  // since the previous Report() (or since construction)
  uint64_t rss_bytes = 0;
  uint64_t max_rss_bytes = 0;
  uint64_t cpu_ns = 0;  // total
};

class SelfStats {
 public:
  // `statm_path` is a parameter for tests; the agent uses its own.
  explicit SelfStats(std::string statm_path = "/proc/self/statm");

  absl::StatusOr<SelfSample> Sample() const;
  // A sample compared with the previous one. Not thread-safe: one reporting thread calls it.
  absl::StatusOr<SelfReport> Report();

 private:
  std::string statm_path_;
  std::optional<SelfSample> last_;
};

}  // namespace flowscope::agent::process
