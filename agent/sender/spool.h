// Spool: the agent sender's bounded on-disk queue. While the server is unreachable (or slower
// than the agent), encoded batches are appended here in order; after reconnecting they are
// replayed oldest first and removed once the server acknowledges them. When the spool would
// exceed its bound, the oldest segment files are dropped and their batches counted (never a
// silent loss). A restarted agent finds what an earlier run left and replays it.
//
// Layout: DIR/NNNNNNNNNNNNNNNNNNNN.seg files (first sequence number of the segment, 20 digits),
// each a run of records: u32 length, u64 seq, u32 crc32c-like checksum of the payload, payload.
// A torn or corrupt record (crash during a write) ends its segment: what follows is dropped and
// counted as corrupt.
//
// Not thread-safe: the sender thread owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace flowscope::agent::sender {

struct SpoolOptions {
  std::string dir;
  uint64_t max_bytes = uint64_t{1} << 30;      // 1 GiB, as DeepFlow-like default of issue 6
  uint64_t segment_bytes = uint64_t{64} << 20;  // a segment is closed once it reaches this
};

struct SpoolStats {
  uint64_t appended = 0;         // batches written
  uint64_t replayed = 0;         // batches handed out by Next
  uint64_t acked = 0;            // batches removed after acknowledgement
  uint64_t dropped_batches = 0;  // lost to the size bound (oldest first)
  uint64_t dropped_bytes = 0;
  uint64_t corrupt_records = 0;  // torn or bad records found when reading
  uint64_t bytes = 0;            // on disk now
  uint64_t batches = 0;          // waiting now
};

struct SpooledBatch {
  uint64_t seq = 0;
  std::string payload;
};

class Spool {
 public:
  // Opens (creating DIR when missing) and indexes what an earlier run left.
  static absl::StatusOr<Spool> Open(SpoolOptions options);

  // Appends one batch; sequence numbers must increase. May drop the oldest segments to stay
  // within max_bytes (counted). A batch larger than max_bytes is refused.
  absl::Status Append(uint64_t seq, std::string_view payload);
  // The oldest batch not yet handed out since the last Rewind (nullopt when none).
  absl::StatusOr<std::optional<SpooledBatch>> Next();
  // Every batch up to and including `seq` is stored by the server: forget them (whole segments
  // are deleted once all their batches are acknowledged).
  absl::Status Ack(uint64_t seq);
  // The connection was lost: Next starts again from the oldest unacknowledged batch.
  void Rewind();

  const SpoolStats& stats() const { return stats_; }
  bool empty() const { return stats_.batches == 0; }

 private:
  struct Entry {
    uint64_t seq = 0;
    uint64_t offset = 0;  // of the record header in the file
    uint32_t size = 0;    // payload bytes
  };
  struct Segment {
    uint64_t first_seq = 0;
    uint64_t bytes = 0;
    std::string path;
    std::vector<Entry> entries;  // in sequence order
    size_t acked = 0;            // entries[0, acked) are acknowledged
  };
  explicit Spool(SpoolOptions options) : options_(std::move(options)) {}
  absl::Status Index();
  absl::Status DropOldest();
  std::string PathOf(uint64_t first_seq) const;

  SpoolOptions options_;
  std::deque<Segment> segments_;  // oldest first; the last one is open for appends
  uint64_t acked_until_ = 0;      // highest acknowledged seq
  uint64_t read_after_ = 0;       // Next returns batches with seq > this
  SpoolStats stats_;
};

}  // namespace flowscope::agent::sender
