#include "agent/capture/pcap_file_source.h"

#include <pcap/pcap.h>
#include <sys/stat.h>

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace flowscope::agent {

struct PcapFileSource::Impl {
  pcap_t* handle = nullptr;
  bool nanosecond = false;
};

absl::StatusOr<std::unique_ptr<PcapFileSource>> PcapFileSource::Open(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("pcap: cannot open ", path, ": no such file"));
  }
  if (S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("pcap: ", path, " is a directory"));
  }
  if (st.st_size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("pcap: ", path, " is empty (0 bytes), not a capture file"));
  }
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  // Ask for nanosecond timestamps: libpcap scales microsecond files up, so one code path serves.
  pcap_t* h = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO,
                                                      errbuf);
  if (h == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("pcap: ", path, " is not a readable pcap/pcapng file: ", errbuf));
  }
  auto src = std::unique_ptr<PcapFileSource>(new PcapFileSource());
  src->impl_ = std::make_unique<Impl>();
  src->impl_->handle = h;
  src->impl_->nanosecond = pcap_get_tstamp_precision(h) == PCAP_TSTAMP_PRECISION_NANO;
  src->path_ = path;
  src->link_type_ = pcap_datalink(h);
  src->file_size_ = static_cast<uint64_t>(st.st_size);
  return src;
}

PcapFileSource::~PcapFileSource() {
  if (impl_ && impl_->handle) pcap_close(impl_->handle);
}

uint64_t PcapFileSource::file_offset() const {
  FILE* f = pcap_file(impl_->handle);
  if (f == nullptr) return 0;
  long off = std::ftell(f);
  return off > 0 ? static_cast<uint64_t>(off) : 0;
}

absl::StatusOr<PollResult> PcapFileSource::Poll(int /*timeout_ms*/, FrameFn fn) {
  // Deliver a batch, then return so that the caller can tick timers and report progress.
  constexpr int kBatch = 4096;
  for (int i = 0; i < kBatch; ++i) {
    pcap_pkthdr* hdr = nullptr;
    const u_char* data = nullptr;
    int rc = pcap_next_ex(impl_->handle, &hdr, &data);
    if (rc == 1) {
      RawFrame f;
      f.data = data;
      f.cap_len = hdr->caplen;
      f.wire_len = hdr->len < hdr->caplen ? hdr->caplen : hdr->len;
      uint64_t frac = static_cast<uint64_t>(hdr->ts.tv_usec);
      f.timestamp_ns = static_cast<uint64_t>(hdr->ts.tv_sec) * 1000000000ull +
                       (impl_->nanosecond ? frac : frac * 1000ull);
      f.link_type = link_type_;
      ++stats_.frames;
      stats_.bytes += f.wire_len;
      fn(f);
      continue;
    }
    if (rc == PCAP_ERROR_BREAK) return PollResult::kEnd;  // clean end of file
    // A record libpcap cannot read (truncated file, bad record length): what came before has
    // been delivered; report the damage and stop.
    ++stats_.file_errors;
    return absl::DataLossError(absl::StrCat("pcap: ", path_, ": after ", stats_.frames,
                                            " packets: ", pcap_geterr(impl_->handle)));
  }
  return PollResult::kFrames;
}

}  // namespace flowscope::agent
