#include "agent/sender/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace flowscope::agent::sender {
namespace {

constexpr size_t kHeader = 16;  // u32 length, u64 seq, u32 checksum
constexpr std::string_view kSuffix = ".seg";

// FNV-1a: enough to tell a torn or garbled record from a whole one.
uint32_t Checksum(std::string_view data) {
  uint32_t h = 2166136261u;
  for (unsigned char c : data) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

void PutLe(char* p, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint64_t GetLe(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

absl::Status Errno(const char* what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

bool ReadAt(int fd, uint64_t off, char* buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = pread(fd, buf + done, n - done, static_cast<off_t>(off + done));
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

std::string Spool::PathOf(uint64_t first_seq) const {
  return absl::StrFormat("%s/%020d%s", options_.dir, first_seq, kSuffix);
}

absl::StatusOr<Spool> Spool::Open(SpoolOptions options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("spool: no directory given");
  if (options.max_bytes == 0 || options.segment_bytes == 0) {
    return absl::InvalidArgumentError("spool: max_bytes and segment_bytes must be > 0");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("spool: cannot create ", options.dir, ": ", ec.message()));
  }
  Spool spool(std::move(options));
  if (absl::Status st = spool.Index(); !st.ok()) return st;
  return spool;
}

absl::Status Spool::Index() {
  std::vector<std::pair<uint64_t, std::string>> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != 20 + kSuffix.size() || !name.ends_with(kSuffix)) continue;
    uint64_t first = 0;
    bool digits = true;
    for (size_t i = 0; i < 20; ++i) {
      if (name[i] < '0' || name[i] > '9') digits = false;
      first = first * 10 + static_cast<uint64_t>(name[i] - '0');
    }
    if (digits) files.emplace_back(first, entry.path().string());
  }
  if (ec) return absl::InternalError(absl::StrCat("spool: listing ", options_.dir, ": ", ec.message()));
  std::sort(files.begin(), files.end());
  for (const auto& [first, path] : files) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Errno("spool: open", path);
    Segment seg;
    seg.first_seq = first;
    seg.path = path;
    uint64_t off = 0;
    char h[kHeader];
    std::string payload;
    while (ReadAt(fd, off, h, kHeader)) {
      const uint64_t len = GetLe(h, 4), seq = GetLe(h + 4, 8), sum = GetLe(h + 12, 4);
      payload.resize(len);
      if (len > options_.max_bytes || !ReadAt(fd, off + kHeader, payload.data(), len) ||
          Checksum(payload) != sum || (!seg.entries.empty() && seq <= seg.entries.back().seq)) {
        ++stats_.corrupt_records;
        break;
      }
      seg.entries.push_back({seq, off, static_cast<uint32_t>(len)});
      off += kHeader + len;
    }
    close(fd);
    // What follows a bad record is unreadable: cut it off so that appends continue cleanly.
    if (truncate(path.c_str(), static_cast<off_t>(off)) != 0) return Errno("spool: truncate", path);
    seg.bytes = off;
    if (seg.entries.empty()) {
      std::filesystem::remove(path, ec);
      continue;
    }
    stats_.bytes += seg.bytes;
    stats_.batches += seg.entries.size();
    segments_.push_back(std::move(seg));
  }
  return absl::OkStatus();
}

absl::Status Spool::DropOldest() {
  Segment& seg = segments_.front();
  const uint64_t waiting = seg.entries.size() - seg.acked;
  stats_.dropped_batches += waiting;
  stats_.dropped_bytes += seg.bytes;
  stats_.batches -= waiting;
  stats_.bytes -= seg.bytes;
  std::error_code ec;
  std::filesystem::remove(seg.path, ec);
  segments_.pop_front();
  if (ec) return absl::InternalError(absl::StrCat("spool: remove ", seg.path, ": ", ec.message()));
  return absl::OkStatus();
}

absl::Status Spool::Append(uint64_t seq, std::string_view payload) {
  const uint64_t need = kHeader + payload.size();
  if (need > options_.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("spool: a batch of ", payload.size(),
                                                   " bytes exceeds the spool bound of ",
                                                   options_.max_bytes));
  }
  if (!segments_.empty() && !segments_.back().entries.empty() &&
      seq <= segments_.back().entries.back().seq) {
    return absl::InvalidArgumentError(
        absl::StrCat("spool: sequence ", seq, " is not after ", segments_.back().entries.back().seq));
  }
  while (!segments_.empty() && stats_.bytes + need > options_.max_bytes) {
    if (absl::Status st = DropOldest(); !st.ok()) return st;
  }
  if (segments_.empty() || segments_.back().bytes + need > options_.segment_bytes) {
    Segment seg;
    seg.first_seq = seq;
    seg.path = PathOf(seq);
    segments_.push_back(std::move(seg));
  }
  Segment& seg = segments_.back();
  std::string rec(kHeader, '\0');
  PutLe(rec.data(), payload.size(), 4);
  PutLe(rec.data() + 4, seq, 8);
  PutLe(rec.data() + 12, Checksum(payload), 4);
  rec.append(payload);
  const int fd = open(seg.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("spool: open", seg.path);
  size_t done = 0;
  while (done < rec.size()) {
    const ssize_t w = write(fd, rec.data() + done, rec.size() - done);
    if (w <= 0) {
      const absl::Status st = Errno("spool: write", seg.path);
      // Leave no partial record behind.
      if (ftruncate(fd, static_cast<off_t>(seg.bytes)) != 0) { /* reported by the status */ }
      close(fd);
      return st;
    }
    done += static_cast<size_t>(w);
  }
  close(fd);
  seg.entries.push_back({seq, seg.bytes, static_cast<uint32_t>(payload.size())});
  seg.bytes += rec.size();
  stats_.bytes += rec.size();
  ++stats_.batches;
  ++stats_.appended;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<SpooledBatch>> Spool::Next() {
  const uint64_t after = std::max(read_after_, acked_until_);
  for (const Segment& seg : segments_) {
    if (seg.entries.empty() || seg.entries.back().seq <= after) continue;
    auto it = std::upper_bound(seg.entries.begin(), seg.entries.end(), after,
                               [](uint64_t s, const Entry& e) { return s < e.seq; });
    const int fd = open(seg.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Errno("spool: open", seg.path);
    SpooledBatch b;
    b.seq = it->seq;
    b.payload.resize(it->size);
    const bool ok = ReadAt(fd, it->offset + kHeader, b.payload.data(), it->size);
    close(fd);
    if (!ok) return Errno("spool: read", seg.path);
    read_after_ = b.seq;
    ++stats_.replayed;
    return std::optional<SpooledBatch>(std::move(b));
  }
  return std::optional<SpooledBatch>();
}

absl::Status Spool::Ack(uint64_t seq) {
  if (seq <= acked_until_) return absl::OkStatus();
  acked_until_ = seq;
  while (!segments_.empty()) {
    Segment& seg = segments_.front();
    // Batches of this segment now acknowledged leave the counts at once; the file goes when
    // all of them are.
    while (seg.acked < seg.entries.size() && seg.entries[seg.acked].seq <= seq) {
      ++seg.acked;
      --stats_.batches;
      ++stats_.acked;
    }
    if (seg.acked < seg.entries.size()) break;
    stats_.bytes -= seg.bytes;
    std::error_code ec;
    std::filesystem::remove(seg.path, ec);
    const std::string path = seg.path;
    segments_.pop_front();
    if (ec) return absl::InternalError(absl::StrCat("spool: remove ", path, ": ", ec.message()));
  }
  return absl::OkStatus();
}

void Spool::Rewind() { read_after_ = acked_until_; }

}  // namespace flowscope::agent::sender
