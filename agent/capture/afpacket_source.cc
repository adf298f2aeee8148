#include "agent/capture/afpacket_source.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <regex.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/capture/bpf_filter.h"
#include "common/status.h"

namespace flowscope::agent {
namespace {

constexpr int kLinkEthernet = 1;
constexpr int kLinkRawIp = 101;
constexpr uint32_t kVlanTagLen = 4;
constexpr uint32_t kMacPairLen = 2 * ETH_ALEN;  // destination + source MAC
// Where the kernel puts the sockaddr_ll of a packet: right after the aligned tpacket3_hdr.
constexpr uint32_t kSllOffset = TPACKET_ALIGN(sizeof(tpacket3_hdr));

std::string Errno(int err) { return std::strerror(err); }

// "lo, eth0, veth1" in ifindex order, for error messages.
std::string AvailableList(std::vector<InterfaceInfo> available) {
  if (available.empty()) return "none";
  std::sort(available.begin(), available.end(),
            [](const InterfaceInfo& a, const InterfaceInfo& b) { return a.ifindex < b.ifindex; });
  return absl::StrJoin(available, ", ",
                       [](std::string* out, const InterfaceInfo& i) { out->append(i.name); });
}

bool IsEthernetLike(uint16_t hatype) { return hatype == ARPHRD_ETHER || hatype == ARPHRD_LOOPBACK; }

// A file descriptor that closes itself.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& o) noexcept : fd_(o.Release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.Release();
    }
    return *this;
  }
  int Get() const { return fd_; }
  int Release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

uint16_t HardwareType(int sock, const std::string& name) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(sock, SIOCGIFHWADDR, &ifr) != 0) return ARPHRD_VOID;
  return ifr.ifr_hwaddr.sa_family;
}

}  // namespace

absl::StatusOr<FanoutMode> ParseFanoutMode(std::string_view name) {
  if (name == "hash") return FanoutMode::kHash;
  if (name == "lb") return FanoutMode::kLoadBalance;
  if (name == "cpu") return FanoutMode::kCpu;
  return absl::InvalidArgumentError(
      absl::StrCat("afpacket: fanout mode '", std::string(name), "' is not one of hash, lb, cpu"));
}

std::string_view FanoutModeName(FanoutMode mode) {
  switch (mode) {
    case FanoutMode::kHash:
      return "hash";
    case FanoutMode::kLoadBalance:
      return "lb";
    case FanoutMode::kCpu:
      return "cpu";
  }
  return "?";
}

absl::StatusOr<std::vector<InterfaceInfo>> ListInterfaces() {
  struct if_nameindex* list = if_nameindex();
  if (list == nullptr) {
    return absl::InternalError(absl::StrCat("afpacket: cannot list interfaces: ", Errno(errno)));
  }
  // Any socket serves for SIOCGIFHWADDR; a UDP socket needs no privilege.
  Fd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (sock.Get() < 0) sock = Fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  std::vector<InterfaceInfo> out;
  for (struct if_nameindex* p = list; p->if_index != 0 && p->if_name != nullptr; ++p) {
    InterfaceInfo info;
    info.name = p->if_name;
    info.ifindex = p->if_index;
    info.hatype = sock.Get() >= 0 ? HardwareType(sock.Get(), info.name) : ARPHRD_ETHER;
    info.link_type = IsEthernetLike(info.hatype) ? kLinkEthernet : kLinkRawIp;
    out.push_back(std::move(info));
  }
  if_freenameindex(list);
  std::sort(out.begin(), out.end(),
            [](const InterfaceInfo& a, const InterfaceInfo& b) { return a.ifindex < b.ifindex; });
  return out;
}

bool IsInterfaceRegex(std::string_view spec) {
  if (spec.size() >= 2 && spec.front() == '/' && spec.back() == '/') return true;
  return spec.find_first_of("*?[](){}|^$+\\") != std::string_view::npos;
}

absl::StatusOr<std::vector<InterfaceInfo>> MatchInterfaces(
    const std::vector<std::string>& specs, const std::vector<InterfaceInfo>& available) {
  if (specs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("afpacket: no interface given; available: ", AvailableList(available)));
  }
  std::vector<InterfaceInfo> out;
  auto add = [&out](const InterfaceInfo& i) {
    for (const auto& o : out) {
      if (o.ifindex == i.ifindex) return;
    }
    out.push_back(i);
  };
  for (const std::string& spec : specs) {
    if (spec.empty()) {
      return absl::InvalidArgumentError("afpacket: empty interface name");
    }
    if (!IsInterfaceRegex(spec)) {
      auto it = std::find_if(available.begin(), available.end(),
                             [&spec](const InterfaceInfo& i) { return i.name == spec; });
      if (it == available.end()) {
        return absl::NotFoundError(absl::StrCat("afpacket: no interface named '", spec,
                                                "'; available: ", AvailableList(available)));
      }
      add(*it);
      continue;
    }
    std::string body = spec;
    if (body.size() >= 2 && body.front() == '/' && body.back() == '/') {
      body = body.substr(1, body.size() - 2);
    }
    // Anchored: the regex must match the whole name, as users expect from `veth.*`.
    std::string anchored = absl::StrCat("^(", body, ")$");
    regex_t re;
    int rc = regcomp(&re, anchored.c_str(), REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
      char msg[256];
      regerror(rc, &re, msg, sizeof(msg));
      return absl::InvalidArgumentError(
          absl::StrCat("afpacket: interface regex '", spec, "' is invalid: ", msg));
    }
    size_t matched = 0;
    for (const auto& i : available) {
      if (regexec(&re, i.name.c_str(), 0, nullptr, 0) == 0) {
        add(i);
        ++matched;
      }
    }
    regfree(&re);
    if (matched == 0) {
      return absl::NotFoundError(
          absl::StrCat("afpacket: interface regex '", spec,
                       "' matches no interface; available: ", AvailableList(available)));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const InterfaceInfo& a, const InterfaceInfo& b) { return a.ifindex < b.ifindex; });
  return out;
}

absl::Status ValidateOptions(const AfPacketOptions& o) {
  const auto page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  if (o.block_size < page || o.block_size % page != 0 || o.block_size > (1u << 30)) {
    return absl::InvalidArgumentError(absl::StrCat("afpacket: ring block size ", o.block_size,
                                                   " must be a multiple of the page size (", page,
                                                   ") up to 1 GiB"));
  }
  if (o.block_count < 2 || o.block_count > 65536) {
    return absl::InvalidArgumentError(
        absl::StrCat("afpacket: ring block count ", o.block_count, " is outside 2..65536"));
  }
  if (static_cast<uint64_t>(o.block_size) * o.block_count > 0xffffffffull) {
    return absl::InvalidArgumentError(absl::StrCat("afpacket: ring of ", o.block_count, " x ",
                                                   o.block_size, " bytes exceeds 4 GiB"));
  }
  if (o.frame_size < 128 || o.frame_size % TPACKET_ALIGNMENT != 0 || o.frame_size > o.block_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("afpacket: ring frame size ", o.frame_size, " must be a multiple of ",
                     TPACKET_ALIGNMENT, " between 128 and the block size (", o.block_size, ")"));
  }
  if (o.retire_timeout_ms > 60000) {
    return absl::InvalidArgumentError(
        absl::StrCat("afpacket: block retire timeout ", o.retire_timeout_ms, " ms is above 60000"));
  }
  if (o.snaplen == 0 || o.snaplen > kMaxSnaplen) {
    return absl::InvalidArgumentError(
        absl::StrCat("afpacket: snaplen ", o.snaplen, " is outside 1..", kMaxSnaplen));
  }
  return absl::OkStatus();
}

// One interface: its packet socket and the mmap'ed RX ring. Owns both.
struct AfPacketSource::Ring {
  InterfaceInfo info;
  Fd fd;
  uint8_t* map = nullptr;
  size_t map_size = 0;
  uint32_t block_size = 0;
  uint32_t block_count = 0;
  uint32_t next_block = 0;  // the block the kernel fills after the ones we hold
  bool skip_outgoing = false;
  bool reinsert_vlan = false;
  bool alive = true;

  ~Ring() {
    if (map != nullptr) munmap(map, map_size);
  }
};

namespace {

int FanoutType(FanoutMode mode) {
  switch (mode) {
    case FanoutMode::kHash:
      // DEFRAG: fragments of one datagram are reassembled before hashing so that they all reach
      // the same socket as the flow's other packets.
      return PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG;
    case FanoutMode::kLoadBalance:
      return PACKET_FANOUT_LB;
    case FanoutMode::kCpu:
      return PACKET_FANOUT_CPU;
  }
  return PACKET_FANOUT_HASH;
}

absl::Status SetOpt(int fd, int level, int name, const void* value, socklen_t len,
                    const std::string& what, const InterfaceInfo& info) {
  if (setsockopt(fd, level, name, value, len) != 0) {
    int err = errno;
    return absl::InternalError(
        absl::StrCat("afpacket: ", info.name, ": ", what, " failed: ", Errno(err)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<AfPacketSource>> AfPacketSource::Open(
    const AfPacketOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  ASSIGN_OR_RETURN(std::vector<InterfaceInfo> available, ListInterfaces());
  ASSIGN_OR_RETURN(std::vector<InterfaceInfo> selected,
                   MatchInterfaces(options.interfaces, available));

  // Compile once per link type up front: a typo in the filter is reported before any socket.
  std::optional<BpfProgram> programs[2];  // [0] Ethernet, [1] raw IP
  const bool need_filter = !options.filter.empty() || options.snaplen < kMaxSnaplen;
  if (need_filter) {
    for (const auto& i : selected) {
      auto& slot = programs[i.link_type == kLinkEthernet ? 0 : 1];
      if (slot) continue;
      ASSIGN_OR_RETURN(BpfProgram prog,
                       CompileFilter(options.filter, i.link_type, options.snaplen));
      slot = std::move(prog);
    }
  }

  auto src = std::unique_ptr<AfPacketSource>(new AfPacketSource());
  for (size_t n = 0; n < selected.size(); ++n) {
    const InterfaceInfo& info = selected[n];
    auto ring = std::make_unique<Ring>();
    ring->info = info;
    const bool ethernet = info.link_type == kLinkEthernet;
    // Protocol 0: the socket receives nothing until bind() names the interface, so no packet of
    // another interface, and none that the filter would have rejected, reaches the ring.
    ring->fd = Fd(socket(AF_PACKET, (ethernet ? SOCK_RAW : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
    if (ring->fd.Get() < 0) {
      int err = errno;
      if (err == EPERM || err == EACCES) {
        return absl::PermissionDeniedError(
            absl::StrCat("afpacket: cannot open a packet socket (", Errno(err),
                         "): live capture needs root or the CAP_NET_RAW capability (e.g. sudo, or "
                         "setcap cap_net_raw+ep on the binary)"));
      }
      return absl::InternalError(absl::StrCat("afpacket: socket(AF_PACKET) failed: ", Errno(err)));
    }
    const int fd = ring->fd.Get();

    int version = TPACKET_V3;
    RETURN_IF_ERROR(SetOpt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version),
                           "PACKET_VERSION TPACKET_V3", info));
    if (ethernet) {
      // Headroom in front of each frame to write back an offloaded VLAN tag.
      unsigned int reserve = kVlanTagLen;
      RETURN_IF_ERROR(SetOpt(fd, SOL_PACKET, PACKET_RESERVE, &reserve, sizeof(reserve),
                             "PACKET_RESERVE", info));
      ring->reinsert_vlan = true;
    }
    const auto& prog = programs[ethernet ? 0 : 1];
    if (prog) {
      sock_fprog fprog = prog->AsSockFprog();
      RETURN_IF_ERROR(SetOpt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog),
                             absl::StrCat("attaching filter '", options.filter, "'"), info));
    }

    tpacket_req3 req{};
    req.tp_block_size = options.block_size;
    req.tp_block_nr = options.block_count;
    req.tp_frame_size = options.frame_size;
    req.tp_frame_nr = (options.block_size / options.frame_size) * options.block_count;
    req.tp_retire_blk_tov = options.retire_timeout_ms;
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) != 0) {
      int err = errno;
      return absl::ResourceExhaustedError(
          absl::StrCat("afpacket: ", info.name, ": cannot create an RX ring of ",
                       options.block_count, " x ", options.block_size, " bytes: ", Errno(err),
                       err == ENOMEM ? " (use fewer or smaller ring blocks)" : ""));
    }
    ring->block_size = options.block_size;
    ring->block_count = options.block_count;
    ring->map_size = static_cast<size_t>(options.block_size) * options.block_count;
    // No MAP_LOCKED: the ring is kernel memory that is never swapped, and locking would count it
    // against RLIMIT_MEMLOCK (8 MiB here) for nothing.
    void* map = mmap(nullptr, ring->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
      int err = errno;
      return absl::ResourceExhaustedError(
          absl::StrCat("afpacket: ", info.name, ": mmap of the RX ring failed: ", Errno(err)));
    }
    ring->map = static_cast<uint8_t*>(map);

    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = static_cast<int>(info.ifindex);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0) {
      int err = errno;
      return absl::UnavailableError(absl::StrCat("afpacket: cannot bind to ", info.name,
                                                 " (ifindex ", info.ifindex, "): ", Errno(err)));
    }
    if (options.promiscuous) {
      packet_mreq mreq{};
      mreq.mr_ifindex = static_cast<int>(info.ifindex);
      mreq.mr_type = PACKET_MR_PROMISC;
      // Dropped by the kernel when the socket closes, so a crash leaves no NIC promiscuous.
      RETURN_IF_ERROR(SetOpt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof(mreq),
                             "enabling promiscuous mode", info));
    }
    if (options.fanout) {
      const uint32_t group = (options.fanout->group + n) & 0xffff;
      const int arg =
          static_cast<int>(group | (static_cast<uint32_t>(FanoutType(options.fanout->mode)) << 16));
      if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) != 0) {
        int err = errno;
        return absl::FailedPreconditionError(absl::StrCat(
            "afpacket: ", info.name, ": cannot join fanout group ", group, " (mode ",
            std::string(FanoutModeName(options.fanout->mode)), "): ", Errno(err),
            err == EINVAL ? " (the group exists with another mode, or on another interface)" : ""));
      }
    }
    // Loopback delivers each packet twice; keep the received copy as libpcap does. (The kernel
    // could drop the outgoing copies itself with PACKET_IGNORE_OUTGOING, halving the ring load
    // on lo, but then they could not be counted; note that tp_drops counts both copies.)
    ring->skip_outgoing = info.hatype == ARPHRD_LOOPBACK;
    src->interface_info_.push_back(info);
    src->rings_.push_back(std::move(ring));
  }
  src->RebuildPollSet();
  return src;
}

AfPacketSource::~AfPacketSource() = default;

std::string AfPacketSource::Describe() const { return AvailableList(interface_info_); }

std::string_view AfPacketSource::InterfaceName(uint32_t ifindex) const {
  for (const auto& i : interface_info_) {
    if (i.ifindex == ifindex) return i.name;
  }
  return {};
}

void AfPacketSource::CollectKernelStats() const {
  for (const auto& ring : rings_) {
    tpacket_stats_v3 st{};
    socklen_t len = sizeof(st);
    // Reading resets the kernel's counters: accumulate.
    if (getsockopt(ring->fd.Get(), SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
      stats_.kernel_drops += st.tp_drops;
    }
  }
}

SourceStats AfPacketSource::Stats() const {
  CollectKernelStats();
  return stats_;
}

uint32_t AfPacketSource::DrainRing(Ring& ring, uint32_t max_blocks, FrameFn fn) {
  uint32_t blocks = 0;
  while (blocks < max_blocks) {
    uint8_t* block = ring.map + static_cast<size_t>(ring.next_block) * ring.block_size;
    auto* desc = reinterpret_cast<tpacket_block_desc*>(block);
    // Acquire: the packets of the block are visible once we see it handed to user space.
    if ((__atomic_load_n(&desc->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) {
      break;
    }
    const uint32_t num = desc->hdr.bh1.num_pkts;
    uint32_t off = desc->hdr.bh1.offset_to_first_pkt;
    for (uint32_t i = 0; i < num; ++i) {
      // The kernel wrote these offsets; the checks only keep a kernel bug from becoming ours.
      if (off < sizeof(tpacket_block_desc) ||
          off + kSllOffset + sizeof(sockaddr_ll) > ring.block_size) {
        break;
      }
      auto* hdr = reinterpret_cast<tpacket3_hdr*>(block + off);
      const auto* sll = reinterpret_cast<const sockaddr_ll*>(block + off + kSllOffset);
      if (ring.skip_outgoing && sll->sll_pkttype == PACKET_OUTGOING) {
        ++stats_.duplicates;
      } else if (off + hdr->tp_mac + hdr->tp_snaplen <= ring.block_size) {
        RawFrame f;
        uint8_t* mac = block + off + hdr->tp_mac;
        f.data = mac;
        f.cap_len = hdr->tp_snaplen;
        f.wire_len = hdr->tp_len;
        f.timestamp_ns = static_cast<uint64_t>(hdr->tp_sec) * 1000000000ull + hdr->tp_nsec;
        f.link_type = ring.info.link_type;
        f.ifindex = ring.info.ifindex;
        // The driver stripped the 802.1Q tag into metadata: put it back between the MAC
        // addresses and the EtherType, in the headroom reserved by PACKET_RESERVE.
        if (ring.reinsert_vlan && (hdr->tp_status & TP_STATUS_VLAN_VALID) &&
            hdr->tp_snaplen >= kMacPairLen &&
            hdr->tp_mac >= kSllOffset + sizeof(sockaddr_ll) + kVlanTagLen) {
          uint8_t* tagged = mac - kVlanTagLen;
          std::memmove(tagged, mac, kMacPairLen);
          const uint16_t tpid = htons(
              (hdr->tp_status & TP_STATUS_VLAN_TPID_VALID) ? hdr->hv1.tp_vlan_tpid : ETH_P_8021Q);
          const uint16_t tci = htons(hdr->hv1.tp_vlan_tci);
          std::memcpy(tagged + kMacPairLen, &tpid, 2);
          std::memcpy(tagged + kMacPairLen + 2, &tci, 2);
          f.data = tagged;
          f.cap_len += kVlanTagLen;
          f.wire_len += kVlanTagLen;
        }
        ++stats_.frames;
        stats_.bytes += f.wire_len;
        fn(f);
      }
      if (hdr->tp_next_offset == 0) break;
      off += hdr->tp_next_offset;
    }
    // Release: hand the block back only after we are done reading it.
    __atomic_store_n(&desc->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    ring.next_block = ring.next_block + 1 == ring.block_count ? 0 : ring.next_block + 1;
    ++blocks;
  }
  return blocks;
}

absl::Status AfPacketSource::HandleSocketError(Ring& ring) {
  int err = 0;
  socklen_t len = sizeof(err);
  // Reading SO_ERROR clears it; otherwise poll() would report POLLERR forever.
  getsockopt(ring.fd.Get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err == 0 || err == ENETDOWN) {
    // ENETDOWN: the interface went down or was deleted. Down interfaces come back up and the
    // socket resumes by itself; a deleted one is gone for good.
    char name[IF_NAMESIZE];
    if (if_indextoname(ring.info.ifindex, name) == nullptr) ring.alive = false;
    return absl::OkStatus();
  }
  return absl::InternalError(
      absl::StrCat("afpacket: ", ring.info.name, ": socket error: ", Errno(err)));
}

void AfPacketSource::RebuildPollSet() {
  pollfds_.clear();
  poll_rings_.clear();
  for (auto& ring : rings_) {
    if (!ring->alive) continue;
    pollfds_.push_back(pollfd{ring->fd.Get(), POLLIN | POLLERR, 0});
    poll_rings_.push_back(ring.get());
  }
}

absl::StatusOr<PollResult> AfPacketSource::Poll(int timeout_ms, FrameFn fn) {
  // The kernel counters are 32-bit and reset on read: collect them about once a second so that
  // they cannot wrap even when nobody asks for Stats().
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  if (now.tv_sec != last_stats_s_) {
    last_stats_s_ = now.tv_sec;
    CollectKernelStats();
  }

  const uint64_t frames_before = stats_.frames;
  uint32_t blocks = 0;
  // At most one lap of each ring per call, so that the caller gets to tick its timers.
  for (auto& ring : rings_) {
    if (ring->alive) blocks += DrainRing(*ring, ring->block_count, fn);
  }
  if (blocks == 0) {
    if (pollfds_.empty()) {
      return absl::UnavailableError(
          absl::StrCat("afpacket: every captured interface disappeared (", Describe(), ")"));
    }
    int rc = poll(pollfds_.data(), pollfds_.size(), timeout_ms);
    if (rc < 0) {
      if (errno == EINTR) return PollResult::kIdle;  // a signal: let the caller check `stop`
      return absl::InternalError(absl::StrCat("afpacket: poll failed: ", Errno(errno)));
    }
    if (rc == 0) return PollResult::kIdle;
    bool lost = false;
    for (size_t i = 0; i < pollfds_.size(); ++i) {
      if (pollfds_[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
        RETURN_IF_ERROR(HandleSocketError(*poll_rings_[i]));
        lost |= !poll_rings_[i]->alive;
      }
    }
    if (lost) RebuildPollSet();
    for (auto& ring : rings_) {
      // A ring whose interface vanished still holds packets captured before: deliver them.
      blocks += DrainRing(*ring, ring->block_count, fn);
    }
  }
  return stats_.frames > frames_before ? PollResult::kFrames : PollResult::kIdle;
}

}  // namespace flowscope::agent
