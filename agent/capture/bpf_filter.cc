#include "agent/capture/bpf_filter.h"

#include <pcap/pcap.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace flowscope::agent {

// libpcap's struct bpf_insn and the kernel's struct sock_filter are the same four fields; the
// program is copied instruction by instruction, so only the field types must agree.
static_assert(sizeof(bpf_insn) == sizeof(sock_filter));

sock_fprog BpfProgram::AsSockFprog() const {
  sock_fprog f{};
  f.len = static_cast<unsigned short>(insns_.size());
  f.filter = const_cast<sock_filter*>(insns_.data());  // the kernel copies it, never writes
  return f;
}

std::string BpfProgram::Dump() const {
  std::string out;
  for (size_t i = 0; i < insns_.size(); ++i) {
    const sock_filter& in = insns_[i];
    absl::StrAppendFormat(&out, "(%03d) code=0x%04x jt=%d jf=%d k=0x%08x\n", i, in.code, in.jt,
                          in.jf, in.k);
  }
  return out;
}

absl::StatusOr<BpfProgram> CompileFilter(const std::string& expression, int link_type,
                                         uint32_t snaplen) {
  // The link types we capture with (libpcap LINKTYPE_ values) mapped to the DLT_ values that
  // pcap's code generator knows: LINKTYPE_RAW is 101 in files but DLT_RAW (12) in the API.
  int dlt = link_type;
  if (link_type == 101) dlt = DLT_RAW;
  if (snaplen == 0 || snaplen > kMaxSnaplen) {
    return absl::InvalidArgumentError(
        absl::StrCat("bpf: snaplen ", snaplen, " is outside 1..", kMaxSnaplen));
  }
  std::unique_ptr<pcap_t, decltype(&pcap_close)> dead(
      pcap_open_dead(dlt, static_cast<int>(snaplen)), &pcap_close);
  if (dead == nullptr) {
    return absl::InternalError(absl::StrCat("bpf: pcap_open_dead(", dlt, ") failed"));
  }
  bpf_program prog{};
  // optimize=1 as tcpdump does; the netmask only matters for "ip broadcast", which we cannot
  // know for a live multi-interface capture.
  if (pcap_compile(dead.get(), &prog, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bpf: cannot compile filter '", expression, "': ", pcap_geterr(dead.get())));
  }
  std::vector<sock_filter> insns(prog.bf_len);
  for (u_int i = 0; i < prog.bf_len; ++i) {
    insns[i].code = prog.bf_insns[i].code;
    insns[i].jt = prog.bf_insns[i].jt;
    insns[i].jf = prog.bf_insns[i].jf;
    insns[i].k = prog.bf_insns[i].k;
  }
  pcap_freecode(&prog);
  // The kernel refuses programs longer than BPF_MAXINSNS; say so before setsockopt does with a
  // bare EINVAL.
  if (insns.size() > BPF_MAXINSNS) {
    return absl::InvalidArgumentError(absl::StrCat("bpf: filter '", expression, "' compiles to ",
                                                   insns.size(),
                                                   " instructions, more than the "
                                                   "kernel's limit of ",
                                                   BPF_MAXINSNS));
  }
  return BpfProgram(std::move(insns));
}

}  // namespace flowscope::agent
