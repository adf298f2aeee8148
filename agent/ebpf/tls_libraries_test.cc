#include "agent/ebpf/tls_libraries.h"

#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace flowscope::agent::ebpf {
namespace {

TEST(TlsLibrariesTest, LibsslNames) {
  EXPECT_TRUE(IsLibsslName("libssl.so"));
  EXPECT_TRUE(IsLibsslName("libssl.so.3"));
  EXPECT_TRUE(IsLibsslName("libssl.so.1.1"));
  EXPECT_FALSE(IsLibsslName("libssl.so."));
  EXPECT_FALSE(IsLibsslName("libssl3.so"));  // NSS, not OpenSSL
  EXPECT_FALSE(IsLibsslName("libssl.so.3.bak"));
  EXPECT_FALSE(IsLibsslName("libcrypto.so.3"));
  EXPECT_FALSE(IsLibsslName("xlibssl.so.3"));
}

TEST(TlsLibrariesTest, PathsInMaps) {
  const std::string maps =
      "55d0c0a00000-55d0c0a02000 r--p 00000000 08:01 1234  /usr/bin/curl\n"
      "7f1c2c000000-7f1c2c021000 rw-p 00000000 00:00 0 \n"
      "7f1c2d000000-7f1c2d01f000 r--p 00000000 08:01 5678  /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
      "7f1c2d01f000-7f1c2d07a000 r-xp 0001f000 08:01 5678  /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
      "7f1c2e000000-7f1c2e01f000 r-xp 00000000 08:01 9999  /opt/app/lib/libssl.so.1.1 (deleted)\n"
      "7f1c2f000000-7f1c2f01f000 r-xp 00000000 08:01 7777  /opt/my app/libssl.so.1.1\n"
      "7f1c30000000-7f1c3001f000 r-xp 00000000 08:01 7778  /usr/lib/libcrypto.so.3\n"
      "7ffd5a9d2000-7ffd5a9f3000 rw-p 00000000 00:00 0     [stack]\n"
      "7f1c31000000-7f1c3101f000 r-xp 00000000 08:01 5678  /usr/lib/x86_64-linux-gnu/libssl.so.3";
  EXPECT_EQ(LibsslPathsInMaps(maps),
            (std::vector<std::string>{"/usr/lib/x86_64-linux-gnu/libssl.so.3",
                                      "/opt/my app/libssl.so.1.1"}));
  EXPECT_TRUE(LibsslPathsInMaps("").empty());
}

TEST(TlsLibrariesTest, ListPidsHasUs) {
  auto pids = ListPids();
  EXPECT_NE(std::find(pids.begin(), pids.end(), static_cast<uint32_t>(getpid())), pids.end());
}

TEST(TlsLibrariesTest, SystemLibrariesAreDistinctFiles) {
  auto libs = SystemTlsLibraries();
  for (size_t i = 0; i < libs.size(); ++i) {
    for (size_t j = i + 1; j < libs.size(); ++j) {
      EXPECT_FALSE(libs[i].dev == libs[j].dev && libs[i].ino == libs[j].ino)
          << libs[i].path << " and " << libs[j].path;
    }
  }
}

}  // namespace
}  // namespace flowscope::agent::ebpf
