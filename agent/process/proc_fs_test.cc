#include "agent/process/proc_fs.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace flowscope::agent::process {
namespace {

using ::testing::HasSubstr;

// A real line from a 6.18 kernel, with the comm replaced.
std::string StatLine(std::string_view pid, std::string_view comm,
                     std::string_view rest_after_state) {
  return std::string(pid) + " (" + std::string(comm) + ") " + std::string(rest_after_state);
}
constexpr std::string_view kRest =
    "S 1 4242 4242 0 -1 4194560 1020 0 0 0 3 1 0 0 20 0 1 0 987654 8802304 896 "
    "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

TEST(ParseStatTest, PlainLine) {
  auto st = ParseStat(StatLine("4242", "sleep", kRest));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->pid, 4242u);
  EXPECT_EQ(st->comm, "sleep");
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 1u);
  EXPECT_EQ(st->flags, 4194560u);
  EXPECT_EQ(st->start_ticks, 987654u);
}

TEST(ParseStatTest, CommWithSpacesAndParentheses) {
  // A comm may contain ") S 1 2 (": only the last ')' ends it.
  auto st = ParseStat(StatLine("7", "a) S 99 (b c)", kRest));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->comm, "a) S 99 (b c)");
  EXPECT_EQ(st->ppid, 1u);
  EXPECT_EQ(st->start_ticks, 987654u);

  st = ParseStat(StatLine("8", "", kRest));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->comm, "");

  st = ParseStat(StatLine("9", "))((", kRest));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->comm, "))((");
}

TEST(ParseStatTest, KernelThreadFlag) {
  auto st = ParseStat(
      "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 2 0 0 18446744073709551615 "
      "0 0 0 0 0 0 0 2147483647 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_NE(st->flags & kPfKthread, 0u);
  EXPECT_EQ(st->ppid, 0u);
}

TEST(ParseStatTest, Malformed) {
  EXPECT_FALSE(ParseStat("").ok());
  EXPECT_FALSE(ParseStat("12 sleep S 1").ok());                     // no parentheses
  EXPECT_FALSE(ParseStat("12 (sleep) S 1 2 3").ok());               // too few fields
  EXPECT_FALSE(ParseStat("x (sleep) " + std::string(kRest)).ok());  // bad pid
  EXPECT_FALSE(ParseStat(StatLine("1", "a", "S x" + std::string(kRest.substr(3)))).ok());
  EXPECT_FALSE(ParseStat("12 )sleep( S").ok());  // ')' before '('
  auto st = ParseStat(StatLine("1", "a", "SS 1 2"));
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.status().message()), HasSubstr("fields"));
}

TEST(ParseStatusUidTest, RealUid) {
  auto uid =
      ParseStatusUid("Name:\tsleep\nUmask:\t0022\nState:\tS\nUid:\t1000\t0\t0\t0\nGid:\t0\n");
  ASSERT_TRUE(uid.ok()) << uid.status();
  EXPECT_EQ(*uid, 1000u);
  EXPECT_FALSE(ParseStatusUid("Name:\tx\n").ok());
  EXPECT_FALSE(ParseStatusUid("Uid:\t\n").ok());
  EXPECT_FALSE(ParseStatusUid("Uid:\tabc\t0\n").ok());
}

TEST(CmdlineFromRawTest, NulsBecomeSpaces) {
  using namespace std::string_literals;
  EXPECT_EQ(CmdlineFromRaw("/bin/sleep\0000.2\0"s, 4096), "/bin/sleep 0.2");
  EXPECT_EQ(CmdlineFromRaw("a\0\0b\0\0\0"s, 4096), "a  b");  // empty argument kept
  EXPECT_EQ(CmdlineFromRaw(""s, 4096), "");
  EXPECT_EQ(CmdlineFromRaw("\0\0"s, 4096), "");
  // setproctitle-style: one string with spaces and no NULs.
  EXPECT_EQ(CmdlineFromRaw("nginx: worker process"s, 4096), "nginx: worker process");
}

TEST(CmdlineFromRawTest, Bounded) {
  using namespace std::string_literals;
  std::string raw = "python3\0-c\0"s + std::string(100, 'x');
  std::string cut = CmdlineFromRaw(raw, 20);
  EXPECT_EQ(cut.size(), 20u);
  EXPECT_EQ(cut, "python3 -c xxxxxx...");
  EXPECT_EQ(CmdlineFromRaw("abcdef", 2), "ab");  // too short for the marker
  EXPECT_EQ(CmdlineFromRaw("abcdef", 6), "abcdef");
}

constexpr std::string_view kId = "3f1b0c9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f10";

TEST(ContainerIdTest, RuntimeFormats) {
  const std::string id(kId);
  struct Case {
    std::string path;
    std::string want;
  } cases[] = {
      // Docker, systemd cgroup driver.
      {"/system.slice/docker-" + id + ".scope", id},
      // Docker, cgroupfs driver.
      {"/docker/" + id, id},
      // containerd CRI, systemd driver (cgroup v2).
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1f2e3d4c_5b6a_7980_"
       "a1b2_c3d4e5f60718.slice/cri-containerd-" +
           id + ".scope",
       id},
      // containerd CRI, systemd driver on cgroup v1 as containerd writes it.
      {"/kubepods-besteffort-pod1f2e3d4c.slice:cri-containerd:" + id, id},
      // CRI-O.
      {"/kubepods.slice/kubepods-pod12.slice/crio-" + id + ".scope", id},
      // Podman.
      {"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id + ".scope", id},
      {"/machine.slice/libpod-" + id + ".scope/container", id},
      // Kubernetes, cgroupfs driver.
      {"/kubepods/besteffort/pod1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718/" + id, id},
      {"/kubepods/pod1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718/" + id, id},
      // Not containers.
      {"/", ""},
      {"/user.slice/user-0.slice/session-3.scope", ""},
      {"/system.slice/docker.service", ""},
      {"/process_api/3f0667e980efe30825d69511f6f785f3", ""},  // 32 hex: not an id
      {"/" + id, ""},                                         // bare id outside a runtime
      {"/docker/" + id.substr(0, 63), ""},                    // too short
      {"/docker/" + id + "0", ""},                            // too long
      {"/system.slice/docker-" + id.substr(0, 12) + ".scope", ""},
      // conmon (the CRI-O/podman monitor) is not the container.
      {"/machine.slice/libpod-conmon-" + id + ".scope", ""},
      {"/kubepods.slice/crio-conmon-" + id + ".scope", ""},
      // Upper-case hex is not what runtimes write.
      {"/docker/3F1B0C9A8D7E6F5A4B3C2D1E0F9A8B7C6D5E4F3A2B1C0D9E8F7A6B5C4D3E2F10", ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ContainerIdFromCgroupPath(c.path), c.want) << c.path;
  }
}

TEST(ContainerIdTest, NestedTakesInnermost) {
  std::string outer(64, 'a');
  std::string inner(kId);
  EXPECT_EQ(ContainerIdFromCgroupPath("/docker/" + outer + "/docker/" + inner), inner);
}

TEST(ContainerIdTest, CgroupFileV1AndV2) {
  const std::string id(kId);
  std::string v1 = "12:pids:/docker/" + id + "\n11:memory:/docker/" + id +
                   "\n1:name=systemd:/docker/" + id + "\n0::/\n";
  EXPECT_EQ(ContainerIdFromCgroupFile(v1), id);
  // Only one controller shows the container (this VM's memory controller line is not one).
  std::string mixed =
      "9:name=systemd:/\n4:memory:/process_api/3f0667e980efe30825d69511f6f785f3\n"
      "3:cpu:/kubepods/burstable/podx/" +
      id + "\n0::/\n";
  EXPECT_EQ(ContainerIdFromCgroupFile(mixed), id);
  EXPECT_EQ(ContainerIdFromCgroupFile("0::/system.slice/docker-" + id + ".scope\n"), id);
  EXPECT_EQ(ContainerIdFromCgroupFile("0::/\n"), "");
  EXPECT_EQ(ContainerIdFromCgroupFile(""), "");
  EXPECT_EQ(ContainerIdFromCgroupFile("garbage\nno colons here " + id + "\n"), "");
}

TEST(NamespaceLinkTest, Parse) {
  EXPECT_EQ(ParseNamespaceLink("net:[4026531840]"), 4026531840u);
  EXPECT_EQ(ParseNamespaceLink("net:[]"), 0u);
  EXPECT_EQ(ParseNamespaceLink("net:[12x]"), 0u);
  EXPECT_EQ(ParseNamespaceLink("4026531840"), 0u);
  EXPECT_EQ(ParseNamespaceLink(""), 0u);
}

}  // namespace
}  // namespace flowscope::agent::process
