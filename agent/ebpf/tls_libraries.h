// Where the OpenSSL libraries are: the libssl files that processes map (found in
// /proc/PID/maps, opened through /proc/PID/root so that files inside containers are found) and
// the ones installed in the usual library directories. A uprobe attached by path applies to
// every process that maps that file (the kernel keys it by inode), so the tracer attaches once
// per distinct file, identified by device and inode.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flowscope::agent::ebpf {

// True for "libssl.so", "libssl.so.3", "libssl.so.1.1" (a basename).
bool IsLibsslName(std::string_view basename);

// The distinct libssl paths mapped in the text of a /proc/PID/maps file, in order of first
// appearance. Deleted files ("... (deleted)") are skipped: their path names nothing anymore.
std::vector<std::string> LibsslPathsInMaps(std::string_view maps_text);

struct TlsLibraryFile {
  std::string path;  // openable path (through /proc/PID/root for a process's mapping)
  dev_t dev = 0;
  ino_t ino = 0;
};

// libssl files mapped by process `pid` (empty if it is gone or maps none).
std::vector<TlsLibraryFile> TlsLibrariesOfProcess(uint32_t pid);

// libssl files in the usual library directories (/lib, /usr/lib, their multiarch and 64
// subfolders, /usr/local/lib), so that a program started later with the system's libssl is
// traced from its first call.
std::vector<TlsLibraryFile> SystemTlsLibraries();

// Process ids listed in /proc.
std::vector<uint32_t> ListPids();

}  // namespace flowscope::agent::ebpf
