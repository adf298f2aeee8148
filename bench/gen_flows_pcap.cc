// gen_flows_pcap: writes the synthetic capture that the pcap replay benchmark reads
// (bench/run_pcap_replay.sh). It is generated at bench time, never committed.
//
// The traffic imitates what a tap in front of a server farm sees: many overlapping TCP flows
// with real handshakes (MSS, SACK, timestamps, window scale), HTTP-like request/response
// exchanges on keep-alive connections, responses segmented at the MSS with slow-start rounds
// and delayed ACKs (seq/ack numbers consistent), a few spurious retransmissions, FIN closes
// from either side, RSTs, refused connections, a few long-lived connection-pool flows and bulk
// transfers, DNS over UDP, and a share of IPv6. The tap sits next to the servers: a server's
// packets follow the client's at once, the client's answer comes one RTT later.
//
// Deterministic: the same options give the same file, byte for byte, so a prefix made with
// --max-packets is the prefix of the full file. Frames are written with caplen = min(len,
// --snaplen) as `tcpdump -s 128` would, which keeps the file small while the record length
// keeps the wire bytes.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <memory>
#include <numbers>
#include <queue>
#include <string>
#include <vector>

namespace flowscope::bench {
namespace {

constexpr uint64_t kUs = 1000;
constexpr uint64_t kMs = 1000 * kUs;
constexpr uint64_t kSec = 1000 * kMs;
constexpr uint64_t kEpochNs = 1'700'000'000 * kSec;  // 2023-11-14, the trace's first second

// splitmix64: small, fast, and identical everywhere (the std:: distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  uint64_t Below(uint64_t n) { return Next() % n; }
  bool Chance(double p) { return Uniform() < p; }
  double Exponential(double mean) { return -mean * std::log(1.0 - Uniform()); }
  double LogUniform(double lo, double hi) { return lo * std::exp(std::log(hi / lo) * Uniform()); }
  double LogNormal(double median, double sigma) {
    double u1 = 1.0 - Uniform();
    double u2 = Uniform();
    double n = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    return median * std::exp(sigma * n);
  }

 private:
  uint64_t state_;
};

uint64_t Mix(uint64_t a, uint64_t b) { return Rng(a * 0x9e3779b97f4a7c15ull ^ b).Next(); }

struct GenConfig {
  uint64_t flows = 100'000;
  double seconds = 60;
  uint64_t seed = 1;
  std::string out;
  uint32_t snaplen = 128;    // 0: whole frames
  uint64_t max_packets = 0;  // 0: no limit
  double ipv6_share = 0.15;
  double dns_share = 0.15;
};

// ---- Hosts --------------------------------------------------------------------------------

struct Service {
  uint16_t port;
  double weight;
  uint32_t servers;
};
// What the servers behind the tap offer; the port decides what the payload starts with.
constexpr Service kServices[] = {
    {443, 0.45, 96},  {80, 0.18, 48},   {8080, 0.10, 32}, {6379, 0.10, 16},
    {3306, 0.07, 16}, {5432, 0.05, 16}, {9092, 0.05, 12},
};
constexpr uint32_t kDnsResolvers = 4;

void PutBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void PutBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// Clients: 10.64.0.0/10 and 2001:db8:1000::/64. Servers: 172.16.0.0/16 and 2001:db8:2000::/64.
void ClientIp(uint32_t i, bool v6, uint8_t* ip) {
  std::memset(ip, 0, 16);
  if (!v6) {
    PutBe32(ip, (10u << 24) | ((64u << 16) + i));
    return;
  }
  const uint8_t prefix[] = {0x20, 0x01, 0x0d, 0xb8, 0x10, 0x00};
  std::memcpy(ip, prefix, sizeof(prefix));
  PutBe32(ip + 12, i + 1);
}
void ServerIp(uint32_t j, bool v6, uint8_t* ip) {
  std::memset(ip, 0, 16);
  if (!v6) {
    PutBe32(ip, (172u << 24) | (16u << 16) | (j + 1));
    return;
  }
  const uint8_t prefix[] = {0x20, 0x01, 0x0d, 0xb8, 0x20, 0x00};
  std::memcpy(ip, prefix, sizeof(prefix));
  PutBe32(ip + 12, j + 1);
}
void Mac(uint64_t id, uint8_t* mac) {
  mac[0] = 0x02;  // locally administered
  for (int i = 1; i < 6; ++i) mac[i] = static_cast<uint8_t>(id >> (8 * (5 - i)));
}

// Per-client properties, stable for the whole trace: distance and OS.
struct ClientProfile {
  uint64_t rtt_ns;
  uint64_t rate_bps;  // bottleneck rate of the path
  uint8_t ttl;        // as seen at the tap
};
ClientProfile ProfileOf(uint64_t seed, uint32_t client) {
  Rng r(Mix(seed, 0xc11e47ull << 32 | client));
  ClientProfile p;
  if (r.Chance(0.4)) {  // same data centre
    p.rtt_ns = static_cast<uint64_t>(r.LogUniform(80e3, 2e6));
    p.rate_bps = static_cast<uint64_t>(r.LogUniform(1e9, 10e9));
  } else {  // internet
    p.rtt_ns = static_cast<uint64_t>(r.LogUniform(8e6, 180e6));
    p.rate_bps = static_cast<uint64_t>(r.LogUniform(10e6, 500e6));
  }
  uint8_t hops = static_cast<uint8_t>(1 + r.Below(20));
  p.ttl = static_cast<uint8_t>((r.Chance(0.3) ? 128 : 64) - hops);
  return p;
}

// ---- Payloads -----------------------------------------------------------------------------

enum class Kind : uint8_t { kWeb, kLongLived, kBulk, kRefused, kDns };
enum class Content : uint8_t { kNone, kRequest, kResponse, kData, kDnsQuery, kDnsReply };

// Bytes that look like compressed or encrypted data.
const uint8_t* NoiseTable() {
  static const std::vector<uint8_t> table = [] {
    std::vector<uint8_t> t(8192);
    Rng r(42);
    for (auto& b : t) b = static_cast<uint8_t>(r.Next());
    return t;
  }();
  return table.data();
}

void FillNoise(uint8_t* out, uint32_t n, uint32_t offset) {
  const uint8_t* t = NoiseTable();
  for (uint32_t i = 0; i < n; ++i) out[i] = t[(offset + i) & 8191];
}

// Copies `text` then noise, `n` bytes in all.
void FillText(uint8_t* out, uint32_t n, const std::string& text, uint32_t offset) {
  uint32_t k = std::min<uint32_t>(n, static_cast<uint32_t>(text.size()));
  std::memcpy(out, text.data(), k);
  FillNoise(out + k, n - k, offset);
}

// The start of an application message of `len` bytes on `port`.
void FillMessage(uint8_t* out, uint32_t n, uint16_t port, bool request, uint32_t len,
                 uint64_t flow_id) {
  char text[256];
  switch (port) {
    case 80:
    case 8080:
      if (request) {
        std::snprintf(text, sizeof(text),
                      "GET /api/v1/items/%llu HTTP/1.1\r\nHost: svc%u.example.internal\r\n"
                      "User-Agent: bench/1.0\r\nAccept: application/json\r\n\r\n",
                      static_cast<unsigned long long>(flow_id % 1000003), port);
      } else {
        std::snprintf(text, sizeof(text),
                      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      "Content-Length: %u\r\n\r\n{\"items\":[",
                      len > 120 ? len - 120 : len);
      }
      FillText(out, n, text, static_cast<uint32_t>(flow_id));
      return;
    case 6379:
      if (request) {
        std::snprintf(text, sizeof(text), "*2\r\n$3\r\nGET\r\n$14\r\nsession:%06llu\r\n",
                      static_cast<unsigned long long>(flow_id % 1000000));
      } else {
        std::snprintf(text, sizeof(text), "$%u\r\n", len > 8 ? len - 8 : 0);
      }
      FillText(out, n, text, static_cast<uint32_t>(flow_id));
      return;
    case 443:
      // TLS application data record header.
      if (n >= 5) {
        out[0] = 0x17;
        out[1] = 0x03;
        out[2] = 0x03;
        PutBe16(out + 3, static_cast<uint16_t>(std::min<uint32_t>(len - 5, 16384)));
        FillNoise(out + 5, n - 5, static_cast<uint32_t>(flow_id));
        return;
      }
      break;
    default:
      break;
  }
  FillNoise(out, n, static_cast<uint32_t>(flow_id));
}

// A DNS query (type A or AAAA) for svcNNNN.example.com, or its answer. Returns the length.
uint32_t BuildDns(uint8_t* out, uint16_t txid, uint32_t name_id, bool aaaa, bool reply) {
  uint8_t* p = out;
  PutBe16(p, txid);
  PutBe16(p + 2, reply ? 0x8180 : 0x0100);
  PutBe16(p + 4, 1);
  PutBe16(p + 6, reply ? 1 : 0);
  PutBe16(p + 8, 0);
  PutBe16(p + 10, 0);
  p += 12;
  char label[16];
  int n = std::snprintf(label, sizeof(label), "svc%04u", name_id % 10000);
  *p++ = static_cast<uint8_t>(n);
  std::memcpy(p, label, n);
  p += n;
  *p++ = 7;
  std::memcpy(p, "example", 7);
  p += 7;
  *p++ = 3;
  std::memcpy(p, "com", 3);
  p += 3;
  *p++ = 0;
  PutBe16(p, aaaa ? 28 : 1);
  PutBe16(p + 2, 1);
  p += 4;
  if (reply) {
    PutBe16(p, 0xc00c);
    PutBe16(p + 2, aaaa ? 28 : 1);
    PutBe16(p + 4, 1);
    PutBe32(p + 6, 300);
    p += 10;
    uint8_t addr[16];
    ServerIp(name_id % 256, aaaa, addr);
    PutBe16(p, aaaa ? 16 : 4);
    std::memcpy(p + 2, addr, aaaa ? 16 : 4);
    p += 2 + (aaaa ? 16 : 4);
  }
  return static_cast<uint32_t>(p - out);
}

// ---- Pcap output --------------------------------------------------------------------------

class PcapWriter {
 public:
  ~PcapWriter() {
    if (file_ != nullptr) std::fclose(file_);
  }
  bool Open(const std::string& path, uint32_t snaplen) {
    file_ = std::fopen(path.c_str(), "wb");
    if (file_ == nullptr) return false;
    buffer_.resize(4 << 20);
    std::setvbuf(file_, buffer_.data(), _IOFBF, buffer_.size());
    uint8_t h[24];
    uint32_t magic = 0xa1b2c3d4;  // microsecond timestamps, host byte order
    uint16_t major = 2, minor = 4;
    uint32_t zero = 0, snap = snaplen == 0 ? 65535 : snaplen, link = 1;  // DLT_EN10MB
    std::memcpy(h, &magic, 4);
    std::memcpy(h + 4, &major, 2);
    std::memcpy(h + 6, &minor, 2);
    std::memcpy(h + 8, &zero, 4);
    std::memcpy(h + 12, &zero, 4);
    std::memcpy(h + 16, &snap, 4);
    std::memcpy(h + 20, &link, 4);
    return std::fwrite(h, sizeof(h), 1, file_) == 1;
  }
  void Write(uint64_t t_ns, const uint8_t* data, uint32_t cap_len, uint32_t wire_len) {
    uint32_t rec[4] = {static_cast<uint32_t>(t_ns / kSec),
                       static_cast<uint32_t>((t_ns % kSec) / kUs), cap_len, wire_len};
    std::fwrite(rec, sizeof(rec), 1, file_);
    std::fwrite(data, cap_len, 1, file_);
    bytes_ += sizeof(rec) + cap_len;
  }
  bool Close() {
    bool ok = std::fflush(file_) == 0 && std::ferror(file_) == 0;
    ok = std::fclose(file_) == 0 && ok;
    file_ = nullptr;
    return ok;
  }
  uint64_t bytes() const { return bytes_ + 24; }

 private:
  FILE* file_ = nullptr;
  std::vector<char> buffer_;
  uint64_t bytes_ = 0;
};

// ---- Flows --------------------------------------------------------------------------------

// One packet of a flow, before it becomes bytes.
struct Seg {
  uint64_t t_ns;
  uint32_t seq;
  uint32_t ack;
  uint32_t len;  // transport payload bytes
  // Length of the application message that starts here (first segment only); for DNS the
  // query's index on its socket (0: A, 1: AAAA).
  uint32_t msg_len;
  uint8_t flags;
  bool from_client;
  Content content;
};

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;

struct Endpoints {
  bool v6 = false;
  bool udp = false;
  uint8_t cip[16];
  uint8_t sip[16];
  uint8_t cmac[6];
  uint8_t smac[6];
  uint16_t cport = 0;
  uint16_t sport = 0;
  uint8_t cttl = 64;
  uint8_t sttl = 64;
  uint32_t flow_label = 0;
};

struct FlowParams {
  uint64_t rtt_ns;
  uint64_t rate_bps;
  uint64_t server_proc_ns;  // kernel turnaround of the server (SYN-ACK, FIN-ACK)
};

// A flow produces its packets phase by phase (handshake, one exchange, one chunk of a bulk
// transfer, close) into a small buffer sorted by time; the generator merges the buffers of all
// active flows. A phase starts after the last packet of the previous one, so every flow's
// packets come in time order.
class Flow {
 public:
  Flow(uint64_t id, Kind kind, const Endpoints& ep, const FlowParams& params, uint64_t start_ns,
       uint64_t seed)
      : id_(id), kind_(kind), ep_(ep), params_(params), rng_(Mix(seed, id)), next_ns_(start_ns) {
    c_seq_ = static_cast<uint32_t>(rng_.Next());
    s_seq_ = static_cast<uint32_t>(rng_.Next());
    c_ipid_ = static_cast<uint16_t>(rng_.Next());
    s_ipid_ = static_cast<uint16_t>(rng_.Next());
    c_ts_ = static_cast<uint32_t>(rng_.Next());
    s_ts_ = static_cast<uint32_t>(rng_.Next());
    mss_ = ep_.v6 ? 1428 : 1448;  // 1500 minus IP, TCP and the timestamp option
    switch (kind_) {
      case Kind::kWeb: {
        exchanges_left_ = 1;
        while (exchanges_left_ < 30 && rng_.Chance(0.55)) ++exchanges_left_;
        double c = rng_.Uniform();
        close_ = c < 0.62   ? Close::kClientFin
                 : c < 0.92 ? Close::kServerIdleFin
                 : c < 0.97 ? Close::kClientRst
                            : Close::kServerRst;
        break;
      }
      case Kind::kLongLived:
        exchanges_left_ = 1'000'000'000;  // until the trace ends
        break;
      case Kind::kBulk:
        bulk_left_ = static_cast<uint64_t>(rng_.LogUniform(1e6, 40e6));
        bulk_upload_ = rng_.Chance(0.2);
        close_ = Close::kClientFin;
        break;
      default:
        break;
    }
  }

  uint64_t id() const { return id_; }
  bool is_tcp() const { return !ep_.udp; }
  bool Empty() const { return pos_ == buf_.size(); }
  const Seg& Peek() const { return buf_[pos_]; }

  // Produces the next phase; false when the flow is over.
  bool Refill() {
    buf_.clear();
    pos_ = 0;
    while (buf_.empty() && phase_ != Phase::kDone) Step();
    if (buf_.empty()) return false;
    std::stable_sort(buf_.begin(), buf_.end(),
                     [](const Seg& a, const Seg& b) { return a.t_ns < b.t_ns; });
    next_ns_ = std::max(next_ns_, buf_.back().t_ns);
    return true;
  }

  // Writes the next packet as a frame and consumes it.
  void WriteNext(PcapWriter& out, uint32_t snaplen, uint64_t* wire_bytes) {
    const Seg& s = buf_[pos_++];
    uint8_t frame[1600];
    uint32_t wire = 0;
    uint32_t cap = BuildFrame(s, snaplen, frame, &wire);
    out.Write(kEpochNs + s.t_ns, frame, cap, wire);
    *wire_bytes += wire;
  }

 private:
  enum class Phase : uint8_t { kStart, kExchange, kBulk, kClose, kDone };
  enum class Close : uint8_t { kClientFin, kServerIdleFin, kClientRst, kServerRst };

  void Step() {
    switch (phase_) {
      case Phase::kStart:
        if (kind_ == Kind::kDns) {
          Dns();
          phase_ = Phase::kDone;
        } else if (kind_ == Kind::kRefused) {
          Emit(next_ns_, true, kSyn, 0);
          Emit(next_ns_ + params_.server_proc_ns, false, kRst | kAck, 0, 0, Content::kNone,
               /*seq=*/0, /*ack=*/c_seq_ + 1);
          phase_ = Phase::kDone;
        } else {
          Handshake();
          phase_ = kind_ == Kind::kBulk ? Phase::kBulk : Phase::kExchange;
          first_exchange_ = true;
        }
        return;
      case Phase::kExchange:
        if (exchanges_left_ == 0) {
          phase_ = Phase::kClose;
          return;
        }
        --exchanges_left_;
        WebExchange();
        return;
      case Phase::kBulk:
        BulkChunk();
        return;
      case Phase::kClose:
        CloseFlow();
        phase_ = Phase::kDone;
        return;
      case Phase::kDone:
        return;
    }
  }

  void Emit(uint64_t t, bool from_client, uint8_t flags, uint32_t len, uint32_t msg_len = 0,
            Content content = Content::kNone, int64_t seq = -1, int64_t ack = -1) {
    Seg s;
    s.t_ns = t;
    s.from_client = from_client;
    s.flags = flags;
    s.len = len;
    s.msg_len = msg_len;
    s.content = content;
    s.seq = seq >= 0 ? static_cast<uint32_t>(seq) : from_client ? c_seq_ : s_seq_;
    s.ack = ack >= 0         ? static_cast<uint32_t>(ack)
            : (flags & kAck) ? (from_client ? s_seq_ : c_seq_)
                             : 0;
    buf_.push_back(s);
  }

  uint64_t Jitter(uint64_t max_ns) { return rng_.Below(max_ns); }
  uint64_t Rtt() { return params_.rtt_ns + Jitter(params_.rtt_ns / 16 + 1); }

  void Handshake() {
    uint64_t t = next_ns_;
    Emit(t, true, kSyn, 0);
    c_seq_ += 1;
    t += params_.server_proc_ns;
    Emit(t, false, kSyn | kAck, 0);
    s_seq_ += 1;
    t += Rtt();
    Emit(t, true, kAck, 0);
  }

  // Sends `bytes` from one side in slow-start rounds paced by the path rate; the receiver ACKs
  // every second full segment (and the last one when `ack_last`). Returns the time of the last
  // data segment. At most `max_segs` segments; the rest stays in `*left`.
  uint64_t Transfer(bool from_client, uint64_t start, uint64_t* left, uint32_t max_segs,
                    Content first, uint32_t msg_len, bool ack_last, bool push_at_end) {
    uint32_t& seq = from_client ? c_seq_ : s_seq_;
    // The tap is at the server: the client's ACKs reach it one RTT after the server's segment,
    // the server's ACKs leave right after the client's segment arrives.
    const uint64_t ack_delay_fixed = from_client ? params_.server_proc_ns : 0;
    uint64_t round_start = start;
    uint64_t t = start;
    uint64_t last_data = start;
    uint32_t sent = 0;
    uint32_t unacked = 0;
    while (*left > 0 && sent < max_segs) {
      uint32_t n = std::min<uint32_t>(cwnd_, max_segs - sent);
      t = std::max(t, round_start);
      for (uint32_t k = 0; k<n&& * left> 0; ++k) {
        uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(mss_, *left));
        *left -= len;
        bool last = *left == 0;
        uint8_t flags = kAck | ((last && push_at_end) || (sent + 1 == max_segs) ? kPsh : 0);
        Content c = sent == 0 && first != Content::kData ? first : Content::kData;
        Emit(t, from_client, flags, len, sent == 0 ? msg_len : 0, c);
        if (rng_.Chance(0.001)) {  // spurious retransmission after an RTO
          Emit(t + std::max<uint64_t>(200 * kMs, 3 * params_.rtt_ns), from_client, flags, len, 0,
               Content::kData);
        }
        seq += len;
        ++sent;
        last_data = t;
        if (++unacked == 2 || (last && ack_last)) {
          uint64_t delay = from_client ? ack_delay_fixed + Jitter(20 * kUs) : Rtt();
          Emit(t + delay, !from_client, kAck, 0);
          unacked = 0;
        }
        t += (static_cast<uint64_t>(len) + 66) * 8 * kSec / params_.rate_bps;
      }
      round_start += Rtt();
      cwnd_ = std::min<uint32_t>(cwnd_ * 2, 2048);
    }
    return last_data;
  }

  void WebExchange() {
    // Think time of the client between requests on a kept-alive connection.
    uint64_t t = next_ns_;
    if (first_exchange_) {
      t += Jitter(50 * kUs);
      first_exchange_ = false;
    } else if (kind_ == Kind::kLongLived) {
      t += static_cast<uint64_t>(rng_.Exponential(2.0 * kSec));
    } else {
      t += static_cast<uint64_t>(std::min(rng_.LogNormal(0.3 * kSec, 1.5), 30.0 * kSec));
    }
    cwnd_ = 10;  // slow start after idle
    uint64_t req = static_cast<uint64_t>(std::clamp(rng_.LogNormal(350, 0.4), 80.0, 4000.0));
    uint64_t resp;
    double mix = rng_.Uniform();
    if (kind_ == Kind::kLongLived) {
      resp = static_cast<uint64_t>(rng_.LogUniform(100, 4000));
    } else if (mix < 0.30) {
      resp = static_cast<uint64_t>(rng_.Uniform(100, 1000));
    } else if (mix < 0.98) {
      resp = static_cast<uint64_t>(std::clamp(rng_.LogNormal(4000, 0.9), 200.0, 60000.0));
    } else {
      resp = static_cast<uint64_t>(rng_.LogUniform(64e3, 1e6));
    }
    uint32_t req_len = static_cast<uint32_t>(req);
    uint64_t t_req = Transfer(true, t, &req, UINT32_MAX, Content::kRequest, req_len,
                              /*ack_last=*/false, /*push_at_end=*/true);
    uint64_t think = static_cast<uint64_t>(std::min(
        rng_.LogNormal(kind_ == Kind::kLongLived ? 0.5 * kMs : 3.0 * kMs, 1.2), 2.0 * kSec));
    if (think > 40 * kMs) Emit(t_req + 40 * kMs, false, kAck, 0);  // delayed ACK
    cwnd_ = 10;
    uint32_t resp_len = static_cast<uint32_t>(resp);
    Transfer(false, t_req + think, &resp, UINT32_MAX, Content::kResponse, resp_len,
             /*ack_last=*/true, /*push_at_end=*/true);
  }

  // A big download (or upload) after a small request, in chunks of at most 256 segments.
  void BulkChunk() {
    if (!bulk_started_) {
      bulk_started_ = true;
      uint64_t req = 300;
      if (bulk_upload_) {
        cwnd_ = 10;
        Transfer(true, next_ns_ + Jitter(50 * kUs), &bulk_left_, 256, Content::kRequest,
                 static_cast<uint32_t>(bulk_left_), true, bulk_left_ <= 256u * mss_);
      } else {
        uint64_t t = Transfer(true, next_ns_ + Jitter(50 * kUs), &req, 8, Content::kRequest, 300,
                              false, true);
        cwnd_ = 10;
        Transfer(false, t + 1 * kMs, &bulk_left_, 256, Content::kResponse,
                 static_cast<uint32_t>(bulk_left_), true, bulk_left_ <= 256u * mss_);
      }
      return;
    }
    if (bulk_left_ == 0) {
      if (bulk_upload_) {  // the server's short answer to the upload
        uint64_t resp = 200;
        Transfer(false, next_ns_ + 2 * kMs, &resp, 8, Content::kResponse, 200, true, true);
      }
      phase_ = Phase::kClose;
      return;
    }
    Transfer(bulk_upload_, next_ns_ + Jitter(20 * kUs), &bulk_left_, 256, Content::kData, 0, true,
             true);
  }

  void CloseFlow() {
    uint64_t t = next_ns_;
    switch (close_) {
      case Close::kClientFin:
        t += static_cast<uint64_t>(rng_.Exponential(kind_ == Kind::kLongLived ? kSec : 50 * kMs));
        Emit(t, true, kFin | kAck, 0);
        c_seq_ += 1;
        t += params_.server_proc_ns;
        Emit(t, false, kFin | kAck, 0);
        s_seq_ += 1;
        Emit(t + Rtt(), true, kAck, 0);
        return;
      case Close::kServerIdleFin:  // keep-alive timeout of the server
        t += static_cast<uint64_t>(rng_.Uniform(5.0, 65.0) * kSec);
        Emit(t, false, kFin | kAck, 0);
        s_seq_ += 1;
        t += Rtt();
        Emit(t, true, kFin | kAck, 0);
        c_seq_ += 1;
        Emit(t + params_.server_proc_ns, false, kAck, 0);
        return;
      case Close::kClientRst:
        t += static_cast<uint64_t>(rng_.Exponential(100 * kMs));
        Emit(t, true, kRst | kAck, 0);
        return;
      case Close::kServerRst:
        t += static_cast<uint64_t>(rng_.Exponential(100 * kMs));
        Emit(t, false, kRst | kAck, 0);
        return;
    }
  }

  void Dns() {
    uint64_t t = next_ns_;
    uint32_t queries = rng_.Chance(0.3) ? 2 : 1;  // A and AAAA from the same socket
    for (uint32_t q = 0; q < queries; ++q) {
      uint8_t scratch[128];
      uint32_t name = static_cast<uint32_t>(id_ * 7919);
      bool aaaa = q == 1;
      Emit(t, true, 0, BuildDns(scratch, 0, name, aaaa, false), 0, Content::kDnsQuery, 0, 0);
      buf_.back().msg_len = q;
      if (!rng_.Chance(0.01)) {  // 1% unanswered
        uint64_t latency =
            static_cast<uint64_t>(std::min(rng_.LogNormal(0.8 * kMs, 1.5), 2.0 * kSec));
        Emit(t + latency, false, 0, BuildDns(scratch, 0, name, aaaa, true), 0, Content::kDnsReply,
             0, 0);
        buf_.back().msg_len = q;
      }
      t += Jitter(200 * kUs);
    }
  }

  uint32_t BuildFrame(const Seg& s, uint32_t snaplen, uint8_t* f, uint32_t* wire_out) {
    const bool c = s.from_client;
    const uint8_t* src_ip = c ? ep_.cip : ep_.sip;
    const uint8_t* dst_ip = c ? ep_.sip : ep_.cip;
    uint32_t l4_hdr;
    if (ep_.udp) {
      l4_hdr = 8;
    } else if (s.flags & kSyn) {
      l4_hdr = 40;  // MSS, SACK permitted, timestamps, NOP, window scale
    } else if (s.flags & kRst) {
      l4_hdr = 20;
    } else {
      l4_hdr = 32;  // NOP, NOP, timestamps
    }
    const uint32_t ip_hdr = ep_.v6 ? 40 : 20;
    const uint32_t ip_len = ip_hdr + l4_hdr + s.len;
    uint32_t wire = 14 + ip_len;
    const bool padded = wire < 60;  // Ethernet minimum frame (without FCS)
    if (padded) wire = 60;
    uint32_t cap = snaplen == 0 ? wire : std::min(wire, snaplen);
    *wire_out = wire;

    // Ethernet.
    std::memcpy(f, c ? ep_.smac : ep_.cmac, 6);
    std::memcpy(f + 6, c ? ep_.cmac : ep_.smac, 6);
    PutBe16(f + 12, ep_.v6 ? 0x86dd : 0x0800);
    uint8_t* ip = f + 14;
    const uint8_t proto = ep_.udp ? 17 : 6;
    if (!ep_.v6) {
      ip[0] = 0x45;
      ip[1] = 0;
      PutBe16(ip + 2, static_cast<uint16_t>(ip_len));
      PutBe16(ip + 4, c ? c_ipid_++ : s_ipid_++);
      PutBe16(ip + 6, 0x4000);  // DF
      ip[8] = c ? ep_.cttl : ep_.sttl;
      ip[9] = proto;
      PutBe16(ip + 10, 0);
      std::memcpy(ip + 12, src_ip, 4);
      std::memcpy(ip + 16, dst_ip, 4);
      uint32_t sum = 0;
      for (int i = 0; i < 20; i += 2) sum += (uint32_t{ip[i]} << 8) | ip[i + 1];
      while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
      PutBe16(ip + 10, static_cast<uint16_t>(~sum));
    } else {
      PutBe32(ip, (6u << 28) | ((ep_.flow_label ^ (c ? 0u : 0x5a5a5u)) & 0xfffff));
      PutBe16(ip + 4, static_cast<uint16_t>(l4_hdr + s.len));
      ip[6] = proto;
      ip[7] = c ? ep_.cttl : ep_.sttl;
      std::memcpy(ip + 8, src_ip, 16);
      std::memcpy(ip + 24, dst_ip, 16);
    }
    uint8_t* l4 = ip + ip_hdr;
    PutBe16(l4, c ? ep_.cport : ep_.sport);
    PutBe16(l4 + 2, c ? ep_.sport : ep_.cport);
    uint8_t* payload = l4 + l4_hdr;
    if (ep_.udp) {
      PutBe16(l4 + 4, static_cast<uint16_t>(8 + s.len));
      PutBe16(l4 + 6, 0);
    } else {
      PutBe32(l4 + 4, s.seq);
      PutBe32(l4 + 8, s.ack);
      l4[12] = static_cast<uint8_t>((l4_hdr / 4) << 4);
      l4[13] = s.flags;
      uint16_t window = (s.flags & kSyn) ? (c ? 64240 : 65160) : (c ? 501 : 509);
      if (s.flags & kRst) window = 0;
      PutBe16(l4 + 14, window);
      PutBe16(l4 + 16, 0);  // checksum: not computed (payloads are cut by the snap length)
      PutBe16(l4 + 18, 0);
      const uint64_t ms = s.t_ns / kMs;
      const uint32_t tsval = static_cast<uint32_t>((c ? c_ts_ : s_ts_) + ms);
      const uint32_t tsecr = static_cast<uint32_t>(
          (c ? s_ts_ : c_ts_) + (ms > params_.rtt_ns / kMs ? ms - params_.rtt_ns / kMs : 0));
      uint8_t* o = l4 + 20;
      if (s.flags & kSyn) {
        const uint16_t mss = static_cast<uint16_t>(mss_ + 12);
        const uint8_t opts[20] = {2,
                                  4,
                                  static_cast<uint8_t>(mss >> 8),
                                  static_cast<uint8_t>(mss),
                                  4,
                                  2,
                                  8,
                                  10,
                                  0,
                                  0,
                                  0,
                                  0,
                                  0,
                                  0,
                                  0,
                                  0,
                                  1,
                                  3,
                                  3,
                                  7};
        std::memcpy(o, opts, sizeof(opts));
        PutBe32(o + 8, tsval);
        PutBe32(o + 12, c ? 0 : tsecr);
      } else if (!(s.flags & kRst)) {
        o[0] = 1;
        o[1] = 1;
        o[2] = 8;
        o[3] = 10;
        PutBe32(o + 4, tsval);
        PutBe32(o + 8, tsecr);
      }
    }
    // Payload, only as far as the capture keeps it.
    const uint32_t hdrs = 14 + ip_hdr + l4_hdr;
    if (cap > hdrs) {
      uint32_t n = std::min(cap, 14 + ip_len) - hdrs;
      switch (s.content) {
        case Content::kDnsQuery:
        case Content::kDnsReply: {
          uint8_t msg[128];
          uint32_t len = BuildDns(msg, static_cast<uint16_t>(id_ * 31 + s.msg_len),
                                  static_cast<uint32_t>(id_ * 7919), s.msg_len == 1,
                                  s.content == Content::kDnsReply);
          std::memcpy(payload, msg, std::min(n, len));
          break;
        }
        case Content::kRequest:
        case Content::kResponse:
          FillMessage(payload, n, ep_.sport, s.content == Content::kRequest, s.msg_len, id_);
          break;
        default:
          FillNoise(payload, n, s.seq);
          break;
      }
    }
    if (ep_.udp && cap >= 14 + ip_len) {
      // DNS messages are captured whole: give them a valid checksum (zero is illegal on IPv6).
      const uint32_t alen = ep_.v6 ? 16 : 4;
      uint32_t sum = 17 + 8 + s.len;
      auto add = [&sum](const uint8_t* p, uint32_t n) {
        for (uint32_t i = 0; i + 1 < n; i += 2) sum += (uint32_t{p[i]} << 8) | p[i + 1];
        if (n & 1) sum += uint32_t{p[n - 1]} << 8;
      };
      add(src_ip, alen);
      add(dst_ip, alen);
      add(l4, 8 + s.len);
      while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
      uint16_t csum = static_cast<uint16_t>(~sum);
      PutBe16(l4 + 6, csum == 0 ? 0xffff : csum);
    }
    if (padded && cap > 14 + ip_len) std::memset(f + 14 + ip_len, 0, cap - 14 - ip_len);
    return cap;
  }

  const uint64_t id_;
  const Kind kind_;
  const Endpoints ep_;
  const FlowParams params_;
  Rng rng_;
  uint64_t next_ns_;  // where the next phase may start
  Phase phase_ = Phase::kStart;
  Close close_ = Close::kClientFin;
  uint32_t exchanges_left_ = 0;
  bool first_exchange_ = false;
  uint64_t bulk_left_ = 0;
  bool bulk_upload_ = false;
  bool bulk_started_ = false;
  uint32_t cwnd_ = 10;
  uint32_t mss_ = 1448;
  uint32_t c_seq_ = 0, s_seq_ = 0;  // next sequence number of each side
  uint16_t c_ipid_ = 0, s_ipid_ = 0;
  uint32_t c_ts_ = 0, s_ts_ = 0;
  std::vector<Seg> buf_;
  size_t pos_ = 0;
};

// ---- Generator ----------------------------------------------------------------------------

struct GenStats {
  uint64_t packets = 0;
  uint64_t wire_bytes = 0;
  uint64_t flows[5] = {};  // by Kind, flows that put at least one packet in the file
  uint64_t packets_by_kind[5] = {};
  uint64_t tcp_flows = 0;
  uint64_t udp_flows = 0;
  uint64_t max_active = 0;
  uint64_t last_ns = 0;
};

class Generator {
 public:
  explicit Generator(const GenConfig& config)
      : config_(config),
        rng_(Mix(config.seed, 0xa771)),
        clients_(static_cast<uint32_t>(std::max<uint64_t>(64, config.flows / 4))) {
    end_ns_ = static_cast<uint64_t>(config.seconds * kSec);
    next_port_.resize(clients_);
    for (uint32_t i = 0; i < clients_; ++i) {
      next_port_[i] = static_cast<uint16_t>(32768 + Mix(config.seed, i) % 28000);
    }
    // Connection-pool flows are open from the start of the trace; the rest arrive as a
    // Poisson process over the trace.
    long_lived_ = std::max<uint64_t>(1, config.flows / 50);
    for (uint64_t i = 0; i < long_lived_; ++i) {
      long_lived_starts_.push_back(static_cast<uint64_t>(rng_.Uniform(0, 2.0 * kSec)));
    }
    std::sort(long_lived_starts_.begin(), long_lived_starts_.end());
    arrival_gap_ns_ = config.seconds * 0.97 * kSec /
                      static_cast<double>(std::max<uint64_t>(1, config.flows - long_lived_));
    next_arrival_ns_ = static_cast<uint64_t>(rng_.Exponential(arrival_gap_ns_));
  }

  bool Run(PcapWriter& out, GenStats* stats) {
    struct Entry {
      uint64_t t;
      uint64_t id;
      uint32_t slot;
      bool operator>(const Entry& o) const { return t != o.t ? t > o.t : id > o.id; }
    };
    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
    std::vector<std::unique_ptr<Flow>> slots;
    std::vector<uint32_t> free_slots;
    std::vector<bool> counted;
    uint64_t created = 0;
    while (true) {
      // Start the next flow when it begins before the earliest pending packet.
      uint64_t t_arrival = UINT64_MAX;
      bool long_lived = false;
      if (ll_pos_ < long_lived_starts_.size()) {
        t_arrival = long_lived_starts_[ll_pos_];
        long_lived = true;
      }
      if (created - ll_pos_ < config_.flows - long_lived_ && next_arrival_ns_ < t_arrival) {
        t_arrival = next_arrival_ns_;
        long_lived = false;
      }
      if (t_arrival < end_ns_ && (heap.empty() || t_arrival <= heap.top().t)) {
        if (long_lived) {
          ++ll_pos_;
        } else {
          next_arrival_ns_ += static_cast<uint64_t>(rng_.Exponential(arrival_gap_ns_));
        }
        auto flow = NewFlow(created++, t_arrival, long_lived);
        if (!flow->Refill()) continue;
        uint32_t slot;
        if (!free_slots.empty()) {
          slot = free_slots.back();
          free_slots.pop_back();
          slots[slot] = std::move(flow);
          counted[slot] = false;
        } else {
          slot = static_cast<uint32_t>(slots.size());
          slots.push_back(std::move(flow));
          counted.push_back(false);
        }
        heap.push({slots[slot]->Peek().t_ns, slots[slot]->id(), slot});
        stats->max_active = std::max<uint64_t>(stats->max_active, heap.size());
        continue;
      }
      if (heap.empty()) break;
      Entry e = heap.top();
      if (e.t >= end_ns_) break;  // the capture stops here; open flows are cut
      heap.pop();
      Flow& f = *slots[e.slot];
      if (!counted[e.slot]) {
        counted[e.slot] = true;
        ++stats->flows[static_cast<int>(kinds_[e.id])];
        ++(f.is_tcp() ? stats->tcp_flows : stats->udp_flows);
      }
      f.WriteNext(out, config_.snaplen, &stats->wire_bytes);
      ++stats->packets_by_kind[static_cast<int>(kinds_[e.id])];
      stats->last_ns = e.t;
      if (++stats->packets == config_.max_packets) break;
      if (f.Empty() && !f.Refill()) {
        slots[e.slot].reset();
        free_slots.push_back(e.slot);
        continue;
      }
      heap.push({f.Peek().t_ns, e.id, e.slot});
    }
    return true;
  }

 private:
  std::unique_ptr<Flow> NewFlow(uint64_t id, uint64_t start_ns, bool long_lived) {
    Kind kind = Kind::kWeb;
    if (long_lived) {
      kind = Kind::kLongLived;
    } else {
      double k = rng_.Uniform();
      if (k < config_.dns_share) {
        kind = Kind::kDns;
      } else if (k < config_.dns_share + 0.01) {
        kind = Kind::kRefused;
      } else if (k < config_.dns_share + 0.011) {
        kind = Kind::kBulk;
      }
    }
    kinds_.push_back(kind);
    Endpoints ep;
    ep.v6 = rng_.Chance(config_.ipv6_share);
    ep.udp = kind == Kind::kDns;
    uint32_t client = static_cast<uint32_t>(rng_.Below(clients_));
    ClientProfile profile = ProfileOf(config_.seed, client);
    uint32_t server;
    if (kind == Kind::kDns) {
      server = 4000 + static_cast<uint32_t>(rng_.Below(kDnsResolvers));
      ep.sport = 53;
    } else {
      double w = rng_.Uniform();
      uint32_t base = 0;
      size_t s = 0;
      for (; s + 1 < std::size(kServices) && w >= kServices[s].weight; ++s) {
        w -= kServices[s].weight;
        base += kServices[s].servers;
      }
      server = base + static_cast<uint32_t>(rng_.Below(kServices[s].servers));
      ep.sport = kServices[s].port;
    }
    ClientIp(client, ep.v6, ep.cip);
    ServerIp(server, ep.v6, ep.sip);
    // The tap sees clients through the router's MAC.
    Mac(profile.rtt_ns < 2 * kMs ? 0x10000000ull + client : 0x1, ep.cmac);
    Mac(0x20000000ull + server, ep.smac);
    uint16_t& port = next_port_[client];
    ep.cport = port;
    port = static_cast<uint16_t>(port >= 60999 ? 32768 : port + 1 + rng_.Below(3));
    ep.cttl = profile.ttl;
    ep.sttl = 64;
    ep.flow_label = static_cast<uint32_t>(rng_.Next()) & 0xfffff;
    FlowParams params;
    params.rtt_ns =
        static_cast<uint64_t>(static_cast<double>(profile.rtt_ns) * rng_.Uniform(0.95, 1.1));
    params.rate_bps = kind == Kind::kBulk
                          ? std::min<uint64_t>(profile.rate_bps,
                                               static_cast<uint64_t>(rng_.LogUniform(5e6, 100e6)))
                          : profile.rate_bps;
    params.server_proc_ns = 15 * kUs + rng_.Below(60 * kUs);
    return std::make_unique<Flow>(id, kind, ep, params, start_ns, config_.seed);
  }

  const GenConfig config_;
  Rng rng_;
  const uint32_t clients_;
  uint64_t end_ns_ = 0;
  std::vector<uint16_t> next_port_;
  uint64_t long_lived_ = 0;
  std::vector<uint64_t> long_lived_starts_;
  size_t ll_pos_ = 0;
  double arrival_gap_ns_ = 0;
  uint64_t next_arrival_ns_ = 0;
  std::vector<Kind> kinds_;  // by flow id
};

int Main(int argc, char** argv) {
  GenConfig config;
  CLI::App app{
      "Writes a synthetic Ethernet pcap of many overlapping TCP (and DNS) flows for the "
      "pcap replay benchmark. Deterministic for a given set of options."};
  app.add_option("--out", config.out, "pcap file to write")->required();
  app.add_option("--flows", config.flows, "flows started during the trace")
      ->check(CLI::Range(uint64_t{1}, uint64_t{10'000'000}))
      ->capture_default_str();
  app.add_option("--seconds", config.seconds, "trace duration")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str();
  app.add_option("--seed", config.seed, "random seed")->capture_default_str();
  app.add_option("--snaplen", config.snaplen,
                 "bytes kept of each frame (0: whole frames); the record keeps the wire length")
      ->capture_default_str();
  app.add_option("--max-packets", config.max_packets,
                 "stop after this many packets (0: no limit); the result is a prefix of the "
                 "file written without it")
      ->capture_default_str();
  app.add_option("--ipv6-share", config.ipv6_share, "share of flows over IPv6")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--dns-share", config.dns_share, "share of flows that are DNS over UDP")
      ->check(CLI::Range(0.0, 0.9))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (config.snaplen != 0 && config.snaplen < 96) {
    std::fprintf(stderr, "gen_flows_pcap: --snaplen %u is below 96, the largest header stack\n",
                 config.snaplen);
    return 2;
  }
  PcapWriter out;
  if (!out.Open(config.out, config.snaplen)) {
    std::fprintf(stderr, "gen_flows_pcap: cannot write %s\n", config.out.c_str());
    return 1;
  }
  GenStats stats;
  Generator gen(config);
  gen.Run(out, &stats);
  uint64_t file_bytes = out.bytes();
  if (!out.Close()) {
    std::fprintf(stderr, "gen_flows_pcap: write error on %s (disk full?)\n", config.out.c_str());
    return 1;
  }
  // key=value lines, read by run_pcap_replay.sh.
  std::printf("file=%s\n", config.out.c_str());
  std::printf("packets=%llu\n", static_cast<unsigned long long>(stats.packets));
  std::printf("wire_bytes=%llu\n", static_cast<unsigned long long>(stats.wire_bytes));
  std::printf("file_bytes=%llu\n", static_cast<unsigned long long>(file_bytes));
  std::printf("trace_seconds=%.3f\n", static_cast<double>(stats.last_ns) / kSec);
  std::printf("avg_wire_len=%.1f\n", stats.packets ? static_cast<double>(stats.wire_bytes) /
                                                         static_cast<double>(stats.packets)
                                                   : 0.0);
  std::printf("tcp_flows=%llu\n", static_cast<unsigned long long>(stats.tcp_flows));
  std::printf("udp_flows=%llu\n", static_cast<unsigned long long>(stats.udp_flows));
  const char* names[] = {"web", "long_lived", "bulk", "refused", "dns"};
  for (int k = 0; k < 5; ++k) {
    std::printf("flows_%s=%llu\n", names[k], static_cast<unsigned long long>(stats.flows[k]));
  }
  for (int k = 0; k < 5; ++k) {
    std::printf("packets_%s=%llu\n", names[k],
                static_cast<unsigned long long>(stats.packets_by_kind[k]));
  }
  std::printf("max_active_flows=%llu\n", static_cast<unsigned long long>(stats.max_active));
  return 0;
}

}  // namespace
}  // namespace flowscope::bench

int main(int argc, char** argv) { return flowscope::bench::Main(argc, argv); }
