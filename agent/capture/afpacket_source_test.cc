#include "agent/capture/afpacket_source.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "agent/capture/bpf_filter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace flowscope::agent {
namespace {

using ::testing::HasSubstr;

std::vector<InterfaceInfo> Fake() {
  // Deliberately not in ifindex order.
  return {
      {"veth1", 7, ARPHRD_ETHER, 1}, {"lo", 1, ARPHRD_LOOPBACK, 1},
      {"eth0", 2, ARPHRD_ETHER, 1},  {"eth0.100", 3, ARPHRD_ETHER, 1},
      {"veth0", 6, ARPHRD_ETHER, 1}, {"tun0", 9, ARPHRD_NONE, 101},
      {"eth1", 4, ARPHRD_ETHER, 1},
  };
}

std::vector<std::string> Names(const std::vector<InterfaceInfo>& v) {
  std::vector<std::string> out;
  out.reserve(v.size());
  for (const auto& i : v) out.push_back(i.name);
  return out;
}

TEST(InterfaceRegexTest, Rule) {
  EXPECT_FALSE(IsInterfaceRegex("eth0"));
  EXPECT_FALSE(IsInterfaceRegex("eth0.100"));  // VLAN device names contain a dot
  EXPECT_FALSE(IsInterfaceRegex("veth-a_b@x:1"));
  EXPECT_TRUE(IsInterfaceRegex("veth.*"));
  EXPECT_TRUE(IsInterfaceRegex("eth[01]"));
  EXPECT_TRUE(IsInterfaceRegex("eth0|lo"));
  EXPECT_TRUE(IsInterfaceRegex("/eth0.100/"));  // slashes force a regex
  EXPECT_TRUE(IsInterfaceRegex("eth?"));
  EXPECT_FALSE(IsInterfaceRegex("/"));
}

TEST(MatchInterfacesTest, ExactNames) {
  auto r = MatchInterfaces({"eth1", "lo"}, Fake());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(*r), (std::vector<std::string>{"lo", "eth1"}));  // ifindex order
  EXPECT_EQ((*r)[0].ifindex, 1u);
  EXPECT_EQ((*r)[1].ifindex, 4u);
}

TEST(MatchInterfacesTest, DotIsLiteralInExactNames) {
  auto r = MatchInterfaces({"eth0.100"}, Fake());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(*r), (std::vector<std::string>{"eth0.100"}));
}

TEST(MatchInterfacesTest, RegexMatchesWholeName) {
  auto r = MatchInterfaces({"veth.*"}, Fake());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(*r), (std::vector<std::string>{"veth0", "veth1"}));
  // Anchored: "eth[0-9]" does not match veth0 or eth0.100.
  r = MatchInterfaces({"eth[0-9]"}, Fake());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(*r), (std::vector<std::string>{"eth0", "eth1"}));
}

TEST(MatchInterfacesTest, SlashRegexAndAlternation) {
  auto r = MatchInterfaces({"/eth0.*/"}, Fake());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(*r), (std::vector<std::string>{"eth0", "eth0.100"}));
  r = MatchInterfaces({"/lo|tun0/"}, Fake());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(*r), (std::vector<std::string>{"lo", "tun0"}));
  EXPECT_EQ((*r)[1].link_type, 101);
}

TEST(MatchInterfacesTest, OverlappingEntriesCaptureOnce) {
  auto r = MatchInterfaces({"veth0", "veth.*", "/veth[01]/"}, Fake());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(*r), (std::vector<std::string>{"veth0", "veth1"}));
}

TEST(MatchInterfacesTest, UnknownNameListsAvailable) {
  auto r = MatchInterfaces({"eth0", "eth9"}, Fake());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("no interface named 'eth9'"));
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("available: lo, eth0, eth0.100, eth1, veth0, veth1, tun0"));
}

TEST(MatchInterfacesTest, RegexMatchingNothing) {
  auto r = MatchInterfaces({"wlan.*"}, Fake());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("interface regex 'wlan.*' matches no interface; available: lo"));
}

TEST(MatchInterfacesTest, InvalidRegex) {
  auto r = MatchInterfaces({"eth[0"}, Fake());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("'eth[0' is invalid"));
}

TEST(MatchInterfacesTest, EmptyInput) {
  EXPECT_EQ(MatchInterfaces({}, Fake()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MatchInterfaces({""}, Fake()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ListInterfacesTest, HasLoopback) {
  auto r = ListInterfaces();
  ASSERT_TRUE(r.ok()) << r.status();
  bool found = false;
  for (const auto& i : *r) {
    if (i.name == "lo") {
      found = true;
      EXPECT_EQ(i.hatype, ARPHRD_LOOPBACK);
      EXPECT_EQ(i.link_type, 1);
      EXPECT_GT(i.ifindex, 0u);
    }
  }
  EXPECT_TRUE(found);
}

TEST(FanoutModeTest, Parse) {
  EXPECT_EQ(*ParseFanoutMode("hash"), FanoutMode::kHash);
  EXPECT_EQ(*ParseFanoutMode("lb"), FanoutMode::kLoadBalance);
  EXPECT_EQ(*ParseFanoutMode("cpu"), FanoutMode::kCpu);
  auto bad = ParseFanoutMode("rr");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("'rr' is not one of hash, lb, cpu"));
  EXPECT_EQ(FanoutModeName(FanoutMode::kLoadBalance), "lb");
}

TEST(ValidateOptionsTest, Geometry) {
  AfPacketOptions o;
  EXPECT_TRUE(ValidateOptions(o).ok());
  o.block_size = 1000;
  EXPECT_THAT(std::string(ValidateOptions(o).message()), HasSubstr("block size 1000"));
  o = AfPacketOptions{};
  o.block_count = 1;
  EXPECT_THAT(std::string(ValidateOptions(o).message()), HasSubstr("block count 1"));
  o = AfPacketOptions{};
  o.frame_size = 100;
  EXPECT_THAT(std::string(ValidateOptions(o).message()), HasSubstr("frame size 100"));
  o = AfPacketOptions{};
  o.snaplen = 0;
  EXPECT_THAT(std::string(ValidateOptions(o).message()), HasSubstr("snaplen 0"));
  o.snaplen = 262145;
  EXPECT_FALSE(ValidateOptions(o).ok());
  o = AfPacketOptions{};
  o.block_size = 1u << 30;
  o.block_count = 8;
  EXPECT_THAT(std::string(ValidateOptions(o).message()), HasSubstr("exceeds 4 GiB"));
}

TEST(BpfFilterTest, CompilesAndReturnsSnaplen) {
  auto p = CompileFilter("tcp port 80", 1, 262144);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_GT(p->size(), 4u);
  // The accept instruction returns the snap length, the reject one 0.
  bool accept = false, reject = false;
  for (const auto& in : p->instructions()) {
    if (BPF_CLASS(in.code) == BPF_RET && in.k == 262144) accept = true;
    if (BPF_CLASS(in.code) == BPF_RET && in.k == 0) reject = true;
  }
  EXPECT_TRUE(accept);
  EXPECT_TRUE(reject);
  sock_fprog f = p->AsSockFprog();
  EXPECT_EQ(f.len, p->size());
  EXPECT_THAT(p->Dump(), HasSubstr("(000) code=0x"));
}

TEST(BpfFilterTest, EmptyExpressionAcceptsSnaplen) {
  auto p = CompileFilter("", 1, 128);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 1u);
  EXPECT_EQ(BPF_CLASS(p->instructions()[0].code), BPF_RET);
  EXPECT_EQ(p->instructions()[0].k, 128u);
}

TEST(BpfFilterTest, RawIpLinkTypeDiffersFromEthernet) {
  auto eth = CompileFilter("udp", 1);
  auto raw = CompileFilter("udp", 101);
  ASSERT_TRUE(eth.ok()) << eth.status();
  ASSERT_TRUE(raw.ok()) << raw.status();
  // Ethernet checks the EtherType at offset 12 first; raw IP has no link header to check.
  EXPECT_EQ(eth->instructions()[0].k, 12u);
  EXPECT_NE(raw->instructions()[0].k, 12u);
  // Raw IP frames have no MAC addresses to filter on.
  EXPECT_FALSE(CompileFilter("ether host 00:11:22:33:44:55", 101).ok());
}

TEST(BpfFilterTest, SyntaxErrorNamesExpression) {
  auto p = CompileFilter("tcp prot 80");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()),
              HasSubstr("cannot compile filter 'tcp prot 80': "));
}

TEST(BpfFilterTest, BadSnaplen) {
  EXPECT_FALSE(CompileFilter("tcp", 1, 0).ok());
  EXPECT_FALSE(CompileFilter("tcp", 1, kMaxSnaplen + 1).ok());
}

TEST(AfPacketSourceTest, UnknownInterfaceFailsBeforeOpeningSockets) {
  AfPacketOptions o;
  o.interfaces = {"fs-no-such-if0"};
  auto s = AfPacketSource::Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("'fs-no-such-if0'"));
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("available: "));
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("lo"));
}

TEST(AfPacketSourceTest, BadFilterFailsBeforeOpeningSockets) {
  AfPacketOptions o;
  o.interfaces = {"lo"};
  o.filter = "port eighty";
  auto s = AfPacketSource::Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("'port eighty'"));
}

// Live capture on loopback. Needs CAP_NET_RAW, so it is skipped for ordinary users; as root it
// checks the ring walk, the filter, the loopback de-duplication and snaplen on real packets of
// our own (the filter names a port only this test uses).
class LoopbackCaptureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rx_ = socket(AF_INET, SOCK_DGRAM, 0);
    tx_ = socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(rx_, 0);
    ASSERT_GE(tx_, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(rx_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    ASSERT_EQ(getsockname(rx_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    addr_ = a;
    port_ = ntohs(a.sin_port);
  }
  void TearDown() override {
    if (rx_ >= 0) close(rx_);
    if (tx_ >= 0) close(tx_);
  }
  absl::StatusOr<std::unique_ptr<AfPacketSource>> OpenLo(uint32_t snaplen) {
    AfPacketOptions o;
    o.interfaces = {"lo"};
    o.filter = "udp port " + std::to_string(port_);
    o.snaplen = snaplen;
    o.block_size = 1u << 16;
    o.block_count = 4;
    o.retire_timeout_ms = 10;
    return AfPacketSource::Open(o);
  }
  void Send(int n, size_t payload) {
    std::string data(payload, 'x');
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(sendto(tx_, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&addr_),
                       sizeof(addr_)),
                static_cast<ssize_t>(data.size()));
    }
  }
  // Polls until `want` frames arrived or 3 s passed.
  std::vector<RawFrame> Collect(AfPacketSource& src, size_t want) {
    std::vector<RawFrame> frames;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (frames.size() < want && std::chrono::steady_clock::now() < deadline) {
      auto r = src.Poll(50, [&frames](const RawFrame& f) { frames.push_back(f); });
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok()) break;
    }
    return frames;
  }
  int rx_ = -1, tx_ = -1;
  sockaddr_in addr_{};
  uint16_t port_ = 0;
};

TEST_F(LoopbackCaptureTest, SeesEachPacketOnceWithoutOutgoingCopies) {
  auto src = OpenLo(kMaxSnaplen);
  if (!src.ok() && src.status().code() == absl::StatusCode::kPermissionDenied) {
    GTEST_SKIP() << "needs CAP_NET_RAW: " << src.status();
  }
  ASSERT_TRUE(src.ok()) << src.status();
  EXPECT_EQ((*src)->Describe(), "lo");
  constexpr int kCount = 5;
  constexpr size_t kPayload = 100;
  Send(kCount, kPayload);
  std::vector<RawFrame> frames = Collect(**src, kCount);
  // Any more would be duplicates: give them time to show up.
  (*src)->Poll(100, [&frames](const RawFrame& f) { frames.push_back(f); }).IgnoreError();
  ASSERT_EQ(frames.size(), static_cast<size_t>(kCount));
  const uint32_t lo_index = (*src)->interfaces()[0].ifindex;
  for (const auto& f : frames) {
    EXPECT_EQ(f.link_type, 1);
    EXPECT_EQ(f.ifindex, lo_index);
    EXPECT_EQ(f.wire_len, 14 + 20 + 8 + kPayload);
    EXPECT_EQ(f.cap_len, f.wire_len);
    EXPECT_GT(f.timestamp_ns, 1'600'000'000ull * 1'000'000'000ull);
  }
  EXPECT_EQ((*src)->InterfaceName(lo_index), "lo");
  EXPECT_EQ((*src)->InterfaceName(999999), "");
  SourceStats st = (*src)->Stats();
  EXPECT_EQ(st.frames, static_cast<uint64_t>(kCount));
  EXPECT_EQ(st.bytes, kCount * (14 + 20 + 8 + kPayload));
  EXPECT_EQ(st.duplicates, static_cast<uint64_t>(kCount));
  EXPECT_EQ(st.kernel_drops, 0u);
}

TEST_F(LoopbackCaptureTest, SnaplenTruncates) {
  auto src = OpenLo(64);
  if (!src.ok() && src.status().code() == absl::StatusCode::kPermissionDenied) {
    GTEST_SKIP() << "needs CAP_NET_RAW: " << src.status();
  }
  ASSERT_TRUE(src.ok()) << src.status();
  Send(2, 500);
  std::vector<RawFrame> frames = Collect(**src, 2);
  ASSERT_EQ(frames.size(), 2u);
  for (const auto& f : frames) {
    EXPECT_EQ(f.cap_len, 64u);
    EXPECT_EQ(f.wire_len, 14u + 20 + 8 + 500);
  }
}

TEST_F(LoopbackCaptureTest, IdleWhenNothingMatches) {
  auto src = OpenLo(kMaxSnaplen);
  if (!src.ok() && src.status().code() == absl::StatusCode::kPermissionDenied) {
    GTEST_SKIP() << "needs CAP_NET_RAW: " << src.status();
  }
  ASSERT_TRUE(src.ok()) << src.status();
  int calls = 0;
  auto r = (*src)->Poll(30, [&calls](const RawFrame&) { ++calls; });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, PollResult::kIdle);
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace flowscope::agent
