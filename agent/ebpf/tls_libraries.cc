#include "agent/ebpf/tls_libraries.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace flowscope::agent::ebpf {
namespace {

std::string_view Basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool StatFile(const std::string& path, TlsLibraryFile* out) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  out->path = path;
  out->dev = st.st_dev;
  out->ino = st.st_ino;
  return true;
}

void AddUnique(std::vector<TlsLibraryFile>* out, TlsLibraryFile f) {
  for (const auto& o : *out) {
    if (o.dev == f.dev && o.ino == f.ino) return;
  }
  out->push_back(std::move(f));
}

}  // namespace

bool IsLibsslName(std::string_view basename) {
  constexpr std::string_view kPrefix = "libssl.so";
  if (basename.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view rest = basename.substr(kPrefix.size());
  // "" or ".<digits and dots>"
  if (rest.empty()) return true;
  if (rest[0] != '.' || rest.size() < 2) return false;
  return std::all_of(rest.begin(), rest.end(),
                     [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
}

std::vector<std::string> LibsslPathsInMaps(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    // address perms offset dev inode pathname: the path starts at the first '/'.
    size_t slash = line.find('/');
    if (slash == std::string_view::npos) continue;
    std::string_view path = line.substr(slash);
    constexpr std::string_view kDeleted = " (deleted)";
    if (path.size() >= kDeleted.size() && path.substr(path.size() - kDeleted.size()) == kDeleted) {
      continue;
    }
    if (!IsLibsslName(Basename(path))) continue;
    if (std::find(out.begin(), out.end(), path) == out.end()) out.emplace_back(path);
  }
  return out;
}

std::vector<TlsLibraryFile> TlsLibrariesOfProcess(uint32_t pid) {
  std::vector<TlsLibraryFile> out;
  std::string base = "/proc/" + std::to_string(pid);
  std::ifstream in(base + "/maps");
  if (!in) return out;
  std::stringstream ss;
  ss << in.rdbuf();
  for (const std::string& path : LibsslPathsInMaps(ss.str())) {
    TlsLibraryFile f;
    if (StatFile(base + "/root" + path, &f)) AddUnique(&out, std::move(f));
  }
  return out;
}

std::vector<TlsLibraryFile> SystemTlsLibraries() {
  static const char* const kDirs[] = {
      "/lib",
      "/usr/lib",
      "/lib64",
      "/usr/lib64",
      "/usr/local/lib",
      "/lib/x86_64-linux-gnu",
      "/usr/lib/x86_64-linux-gnu",
      "/lib/aarch64-linux-gnu",
      "/usr/lib/aarch64-linux-gnu",
  };
  std::vector<TlsLibraryFile> out;
  for (const char* dir : kDirs) {
    DIR* d = opendir(dir);
    if (d == nullptr) continue;
    std::vector<std::string> names;
    while (dirent* ent = readdir(d)) {
      if (IsLibsslName(ent->d_name)) names.emplace_back(ent->d_name);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      TlsLibraryFile f;
      // stat follows symlinks: libssl.so -> libssl.so.3 is one file.
      if (StatFile(std::string(dir) + "/" + name, &f)) AddUnique(&out, std::move(f));
    }
  }
  return out;
}

std::vector<uint32_t> ListPids() {
  std::vector<uint32_t> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* ent = readdir(d)) {
    std::string_view name = ent->d_name;
    uint32_t pid = 0;
    auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (ec == std::errc() && p == name.data() + name.size() && pid > 0) out.push_back(pid);
  }
  closedir(d);
  return out;
}

}  // namespace flowscope::agent::ebpf
