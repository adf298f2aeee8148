// PcapFileSource: reads pcap and pcapng files through libpcap (offline mode). Corrupt or
// truncated files end with a clear error after the good records have been delivered.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/capture/packet_source.h"

namespace flowscope::agent {

class PcapFileSource final : public PacketSource {
 public:
  // Opens `path`; fails with a message naming the file when it is missing, empty or not a
  // capture file.
  static absl::StatusOr<std::unique_ptr<PcapFileSource>> Open(const std::string& path);
  ~PcapFileSource() override;

  absl::StatusOr<PollResult> Poll(int timeout_ms, FrameFn fn) override;
  SourceStats Stats() const override { return stats_; }
  std::string Describe() const override { return path_; }

  int link_type() const { return link_type_; }
  // Bytes of the file read so far and its size, for progress reporting.
  uint64_t file_offset() const;
  uint64_t file_size() const { return file_size_; }

 private:
  PcapFileSource() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  int link_type_ = 1;
  uint64_t file_size_ = 0;
  SourceStats stats_;
};

}  // namespace flowscope::agent
