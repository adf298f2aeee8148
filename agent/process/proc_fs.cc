#include "agent/process/proc_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"

namespace flowscope::agent::process {
namespace {

constexpr size_t kContainerIdLen = 64;

template <typename T>
bool ParseUnsigned(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

bool IsLowerHex64(std::string_view s) {
  if (s.size() != kContainerIdLen) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status ErrnoStatus(int err, std::string_view what, const std::string& path) {
  std::string msg = absl::StrCat(std::string(what), " ", path, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ESRCH:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::UnavailableError(msg);
  }
}

// The id that one path component names when it is a runtime's scope or a bare id under a
// runtime's or Kubernetes' directory (`under_runtime`).
std::string_view IdFromComponent(std::string_view c, bool under_runtime) {
  // containerd with the systemd cgroup driver on cgroup v1 writes "<slice>:cri-containerd:<id>".
  if (size_t colon = c.rfind(':'); colon != std::string_view::npos) {
    std::string_view last = c.substr(colon + 1);
    if (IsLowerHex64(last)) return last;
    c = last;
  }
  if (c.ends_with(".scope")) c.remove_suffix(6);
  for (std::string_view prefix : {"docker-", "cri-containerd-", "crio-", "libpod-"}) {
    if (c.starts_with(prefix)) {
      std::string_view id = c.substr(prefix.size());
      return IsLowerHex64(id) ? id : std::string_view();
    }
  }
  if (under_runtime && IsLowerHex64(c)) return c;
  return {};
}

}  // namespace

absl::StatusOr<ProcStat> ParseStat(std::string_view content) {
  size_t open = content.find('(');
  size_t close = content.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return absl::InvalidArgumentError("stat: no '(comm)' in the line");
  }
  ProcStat st;
  if (!ParseUnsigned(TrimSpaces(content.substr(0, open)), &st.pid)) {
    return absl::InvalidArgumentError("stat: bad pid field");
  }
  st.comm = std::string(content.substr(open + 1, close - open - 1));
  std::vector<std::string_view> f = SplitFields(content.substr(close + 1), " \n");
  // f[i] is field i + 3 of proc(5): state is field 3, starttime field 22.
  constexpr size_t kState = 0, kPpid = 1, kFlags = 6, kStartTime = 19;
  if (f.size() <= kStartTime) {
    return absl::InvalidArgumentError(absl::StrCat("stat: ", f.size() + 2, " fields, need 22"));
  }
  if (f[kState].size() != 1) return absl::InvalidArgumentError("stat: bad state field");
  st.state = f[kState][0];
  if (!ParseUnsigned(f[kPpid], &st.ppid) || !ParseUnsigned(f[kFlags], &st.flags) ||
      !ParseUnsigned(f[kStartTime], &st.start_ticks)) {
    return absl::InvalidArgumentError("stat: bad ppid, flags or starttime field");
  }
  return st;
}

absl::StatusOr<uint32_t> ParseStatusUid(std::string_view content) {
  for (std::string_view line : SplitFields(content, "\n")) {
    if (!line.starts_with("Uid:")) continue;
    std::vector<std::string_view> f = SplitFields(line.substr(4), " \t");
    uint32_t uid = 0;
    if (f.empty() || !ParseUnsigned(f[0], &uid)) {
      return absl::InvalidArgumentError(
          absl::StrCat("status: bad Uid line '", std::string(line), "'"));
    }
    return uid;
  }
  return absl::InvalidArgumentError("status: no Uid line");
}

std::string CmdlineFromRaw(std::string_view raw, size_t max_bytes) {
  while (!raw.empty() && raw.back() == '\0') raw.remove_suffix(1);
  std::string out;
  if (raw.size() > max_bytes) {
    constexpr std::string_view kCut = "...";
    size_t keep = max_bytes > kCut.size() ? max_bytes - kCut.size() : max_bytes;
    out.assign(raw.substr(0, keep));
    if (keep != max_bytes) out.append(kCut);
  } else {
    out.assign(raw);
  }
  for (char& c : out) {
    if (c == '\0') c = ' ';
  }
  return out;
}

std::string ContainerIdFromCgroupPath(std::string_view path) {
  std::string_view found;
  bool under_runtime = false;
  for (std::string_view c : SplitFields(path, "/")) {
    if (std::string_view id = IdFromComponent(c, under_runtime); !id.empty()) found = id;
    if (c == "docker" || c.starts_with("kubepods") || c == "libpod_parent" || c == "crio") {
      under_runtime = true;
    }
  }
  return std::string(found);
}

std::string ContainerIdFromCgroupFile(std::string_view content) {
  for (std::string_view line : SplitFields(content, "\n")) {
    // hierarchy-ID:controller-list:path, where the path itself may contain ':'.
    size_t first = line.find(':');
    if (first == std::string_view::npos) continue;
    size_t second = line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    std::string id = ContainerIdFromCgroupPath(line.substr(second + 1));
    if (!id.empty()) return id;
  }
  return "";
}

uint64_t ParseNamespaceLink(std::string_view link) {
  size_t open = link.find(":[");
  if (open == std::string_view::npos || !link.ends_with("]")) return 0;
  uint64_t inode = 0;
  std::string_view digits = link.substr(open + 2, link.size() - open - 3);
  return ParseUnsigned(digits, &inode) ? inode : 0;
}

std::vector<std::string_view> SplitFields(std::string_view s, std::string_view delims) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find_first_of(delims, pos);
    if (end == std::string_view::npos) end = s.size();
    if (end > pos) out.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  std::string out;
  char buf[4096];
  while (out.size() < max_bytes) {
    size_t want = std::min(sizeof(buf), max_bytes - out.size());
    ssize_t n = read(fd, buf, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return ErrnoStatus(err, "read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

absl::StatusOr<std::string> ReadLinkString(const std::string& path) {
  char buf[4096];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  if (n < 0) return ErrnoStatus(errno, "readlink", path);
  return std::string(buf, static_cast<size_t>(n));
}

absl::StatusOr<std::vector<uint32_t>> ListPids(const std::string& proc_root) {
  DIR* dir = opendir(proc_root.c_str());
  if (dir == nullptr) return ErrnoStatus(errno, "opendir", proc_root);
  std::vector<uint32_t> pids;
  while (dirent* d = readdir(dir)) {
    uint32_t pid = 0;
    if (ParseUnsigned(std::string_view(d->d_name), &pid) && pid != 0) pids.push_back(pid);
  }
  closedir(dir);
  return pids;
}

uint64_t ClockTicksPerSecond() {
  static const uint64_t ticks = [] {
    long t = sysconf(_SC_CLK_TCK);
    return t > 0 ? static_cast<uint64_t>(t) : 100;
  }();
  return ticks;
}

namespace {
uint64_t ClockNs(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}
}  // namespace

uint64_t BootTimeWallNs() { return ClockNs(CLOCK_REALTIME) - ClockNs(CLOCK_BOOTTIME); }
uint64_t WallNowNs() { return ClockNs(CLOCK_REALTIME); }

}  // namespace flowscope::agent::process
