// Readers and parsers for the few /proc files the process table uses. Parsers are pure functions
// over file contents (unit-tested on odd inputs); readers take the proc root as a parameter so
// that tests can point them at a fake tree. Nothing here throws or trusts a file's size: /proc
// files report size 0, processes vanish between two reads, and a comm may hold any byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace flowscope::agent::process {

// The fields of /proc/PID/stat (proc(5)) that the table keeps.
struct ProcStat {
  uint32_t pid = 0;
  std::string comm;  // between the first '(' and the last ')': may contain spaces and ')'
  char state = '?';  // R S D Z T t X I ...
  uint32_t ppid = 0;
  uint32_t flags = 0;        // PF_* (field 9); PF_KTHREAD marks kernel threads
  uint64_t start_ticks = 0;  // field 22: clock ticks after boot
};

inline constexpr uint32_t kPfKthread = 0x00200000;  // PF_KTHREAD from linux/sched.h

// Parses the content of /proc/PID/stat. Fails (InvalidArgument) when the parentheses or the
// numeric fields up to starttime are missing or malformed.
absl::StatusOr<ProcStat> ParseStat(std::string_view content);

// The real uid from the "Uid:" line of /proc/PID/status.
absl::StatusOr<uint32_t> ParseStatusUid(std::string_view content);

// /proc/PID/cmdline (NUL-separated arguments) as one line: NULs become spaces, trailing NULs are
// dropped, at most `max_bytes` bytes are kept (cut on a byte boundary; a cut line ends in "...").
std::string CmdlineFromRaw(std::string_view raw, size_t max_bytes);

// The 64-hex container id in one cgroup path (docker-<id>.scope, cri-containerd-<id>.scope,
// crio-<id>.scope, libpod-<id>.scope, .../docker/<id>, /kubepods/.../<id>, and the
// "...slice:cri-containerd:<id>" form), the innermost one when containers nest; "" for none.
std::string ContainerIdFromCgroupPath(std::string_view path);
// The same over the content of /proc/PID/cgroup ("hierarchy:controllers:path" lines): the
// first line whose path names a container.
std::string ContainerIdFromCgroupFile(std::string_view content);

// "net:[4026531840]" (readlink of /proc/PID/ns/net) -> 4026531840; 0 when malformed.
uint64_t ParseNamespaceLink(std::string_view link);

// Splits `s` at any of `delims`, dropping empty pieces. (Debian's abseil has its own
// absl::string_view, so absl::StrSplit does not take std::string_view.)
std::vector<std::string_view> SplitFields(std::string_view s, std::string_view delims);

// Reads a whole file of unknown size (procfs reports 0) up to `max_bytes`. NotFound when the
// file (or its process) is gone, PermissionDenied when unreadable.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes);
// readlink(2) into a string.
absl::StatusOr<std::string> ReadLinkString(const std::string& path);
// The numeric entries of `proc_root` (the pids), unsorted.
absl::StatusOr<std::vector<uint32_t>> ListPids(const std::string& proc_root);

// Clock ticks per second for /proc's tick fields (sysconf(_SC_CLK_TCK), 100 on Linux).
uint64_t ClockTicksPerSecond();
// Wall-clock time of boot in ns: CLOCK_REALTIME - CLOCK_BOOTTIME, sampled now.
uint64_t BootTimeWallNs();
// CLOCK_REALTIME in ns.
uint64_t WallNowNs();

}  // namespace flowscope::agent::process
