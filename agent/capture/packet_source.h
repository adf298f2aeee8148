// PacketSource: where frames come from (a pcap file, AF_PACKET rings). Sources hand out raw
// frames; decoding happens in the pipeline so that every source shares one decoder and one set
// of counters.
#pragma once

#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

namespace flowscope::agent {

struct RawFrame {
  const uint8_t* data = nullptr;
  uint32_t cap_len = 0;
  uint32_t wire_len = 0;
  uint64_t timestamp_ns = 0;
  int link_type = 1;  // libpcap DLT_*
  uint32_t ifindex = 0;
};

struct SourceStats {
  uint64_t frames = 0;           // handed to the pipeline
  uint64_t bytes = 0;            // wire bytes of those frames
  uint64_t kernel_drops = 0;     // dropped by the kernel before we saw them (ring full)
  uint64_t duplicates = 0;       // loopback OUTGOING copies skipped
  uint64_t file_errors = 0;      // unreadable records in a capture file
};

enum class PollResult { kFrames, kIdle, kEnd };

using FrameFn = absl::FunctionRef<void(const RawFrame&)>;

class PacketSource {
 public:
  virtual ~PacketSource() = default;
  // Waits up to `timeout_ms` for frames and calls `fn` for each available one. kEnd means the
  // source is exhausted (end of file); kIdle that nothing arrived in time. An error status is a
  // failure of the source itself (not of a packet).
  virtual absl::StatusOr<PollResult> Poll(int timeout_ms, FrameFn fn) = 0;
  virtual SourceStats Stats() const = 0;
  // Human-readable name for messages: file path or interface list.
  virtual std::string Describe() const = 0;
};

}  // namespace flowscope::agent
