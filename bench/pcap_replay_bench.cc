// pcap_replay_bench: how fast the packet path eats a capture file on one core, beside the
// ceiling that libpcap's own read loop sets (bench/run_pcap_replay.sh runs it; figures in
// docs/benchmarks.md).
//
//   --mode libpcap    pcap_next_ex over the file, touching the first bytes of every frame
//   --mode decode     PcapFileSource + Decoder: read and decode, nothing kept
//   --mode flowmap    read, decode and FlowMap, meter deltas and flow logs counted and dropped
//   --mode flowscope  PcapFileSource + PacketPipeline through RunSource: read, decode, flow map,
//                     L7 request logs, network and application metrics; the records go to a
//                     sink that only counts them
//   --mode l4only     the same with the L7 engine off (PipelineConfig::l7_enabled = false): the
//                     baseline that shows what request logs cost (bench/run_l7_bench.sh)
//
// With L7 on, the RESULT line also carries the request logs (rows of RecordSink::OnL7Log) and
// their rate per wall and per CPU second, and the L7 engine's counters.
//
// Every run opens the file afresh and is timed from the open to the end of the last record
// (for flowscope: after Finish(), which closes every flow and flushes every meter). Warm-up
// runs first, so that the file is in the page cache and the figures measure CPU, not the disk.
// The figures are reported, never checked against a target.
#include <pcap/pcap.h>
#include <sys/resource.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/capture/decoder.h"
#include "agent/capture/pcap_file_source.h"
#include "agent/l7/registry.h"
#include "agent/pipeline/packet_pipeline.h"

namespace flowscope::bench {
namespace {

struct RunResult {
  uint64_t packets = 0;
  uint64_t wire_bytes = 0;
  double wall_s = 0;
  double user_s = 0;
  double sys_s = 0;
  // Sanity counters of the mode, printed as key=value.
  std::vector<std::pair<std::string, uint64_t>> counters;
};

double Now(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double Seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
}

// Wall and CPU (user, system) time of one run.
class Stopwatch {
 public:
  Stopwatch() {
    getrusage(RUSAGE_SELF, &usage_);
    wall_ = Now(CLOCK_MONOTONIC);
  }
  void Stop(RunResult* r) const {
    r->wall_s = Now(CLOCK_MONOTONIC) - wall_;
    rusage end{};
    getrusage(RUSAGE_SELF, &end);
    r->user_s = Seconds(end.ru_utime) - Seconds(usage_.ru_utime);
    r->sys_s = Seconds(end.ru_stime) - Seconds(usage_.ru_stime);
  }

 private:
  rusage usage_{};
  double wall_ = 0;
};

// The ceiling: libpcap's read loop and nothing else. Each frame's first 8 bytes and its lengths
// are folded into a checksum that is printed, so that the loop cannot be optimised away.
absl::StatusOr<RunResult> RunLibpcap(const std::string& path) {
  RunResult r;
  Stopwatch watch;
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  // Same open call as PcapFileSource, so both pay the same timestamp conversion.
  pcap_t* h =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (h == nullptr) return absl::InvalidArgumentError(absl::StrCat("libpcap: ", errbuf));
  uint64_t fold = 0;
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  int rc;
  while ((rc = pcap_next_ex(h, &hdr, &data)) == 1) {
    uint64_t head = 0;
    std::memcpy(&head, data, std::min<uint32_t>(hdr->caplen, 8));
    fold = (fold ^ head) * 0x100000001b3ull + hdr->caplen;
    ++r.packets;
    r.wire_bytes += hdr->len;
  }
  absl::Status status = absl::OkStatus();
  if (rc != PCAP_ERROR_BREAK) {
    status = absl::DataLossError(absl::StrCat("libpcap: ", path, ": ", pcap_geterr(h)));
  }
  pcap_close(h);
  watch.Stop(&r);
  if (!status.ok()) return status;
  r.counters.emplace_back("fold", fold & 0xffff);
  return r;
}

// Read and decode: what the pipeline costs before the flow map.
absl::StatusOr<RunResult> RunDecode(const std::string& path) {
  RunResult r;
  Stopwatch watch;
  auto source = agent::PcapFileSource::Open(path);
  if (!source.ok()) return source.status();
  agent::Decoder decoder;
  agent::DecodeStats stats;
  uint64_t tcp = 0;
  uint64_t udp = 0;
  agent::Packet packet;
  while (true) {
    auto poll = (*source)->Poll(0, [&](const agent::RawFrame& f) {
      agent::DecodeResult res =
          decoder.Decode(f.link_type, f.data, f.cap_len, f.wire_len, f.timestamp_ns, &packet);
      stats.Count(res, packet);
      tcp += res == agent::DecodeResult::kOk && packet.IsTcp();
      udp += res == agent::DecodeResult::kOk && packet.IsUdp();
    });
    if (!poll.ok()) return poll.status();
    if (*poll == agent::PollResult::kEnd) break;
  }
  watch.Stop(&r);
  agent::SourceStats src = (*source)->Stats();
  r.packets = src.frames;
  r.wire_bytes = src.bytes;
  r.counters = {{"decoded_ok", stats.ok},
                {"decode_errors", stats.errors()},
                {"not_ip", stats.not_ip},
                {"tcp_packets", tcp},
                {"udp_packets", udp}};
  return r;
}

// The flow map alone: what the meter deltas cost before the network aggregator sums them.
class CountingFlowSink final : public agent::FlowSink {
 public:
  void OnFlowLog(const L4FlowLog&) override { ++flow_logs; }
  void OnMeterDelta(const agent::FlowMeterDelta&) override { ++deltas; }
  void OnWatermark(uint32_t) override {}

  uint64_t flow_logs = 0;
  uint64_t deltas = 0;
};

// Read, decode and flow map, without the network aggregator.
absl::StatusOr<RunResult> RunFlowMap(const std::string& path) {
  RunResult r;
  CountingFlowSink sink;
  Stopwatch watch;
  auto source = agent::PcapFileSource::Open(path);
  if (!source.ok()) return source.status();
  agent::Decoder decoder;
  agent::FlowMap flow_map(agent::FlowMapConfig{}, &sink);
  agent::Packet packet;
  uint64_t not_decoded = 0;
  while (true) {
    auto poll = (*source)->Poll(0, [&](const agent::RawFrame& f) {
      if (decoder.Decode(f.link_type, f.data, f.cap_len, f.wire_len, f.timestamp_ns, &packet) ==
          agent::DecodeResult::kOk) {
        flow_map.OnPacket(packet);
      } else {
        ++not_decoded;
      }
    });
    if (!poll.ok()) return poll.status();
    if (*poll == agent::PollResult::kEnd) break;
  }
  flow_map.Finish();
  watch.Stop(&r);
  agent::SourceStats src = (*source)->Stats();
  r.packets = src.frames;
  r.wire_bytes = src.bytes;
  r.counters = {{"flows_created", flow_map.stats().flows_created},
                {"flow_logs", sink.flow_logs},
                {"meter_deltas", sink.deltas},
                {"not_decoded", not_decoded}};
  return r;
}

// Discards every record, counting what the TCP conversation cross-check and the L7 benchmark
// need.
class CountingSink final : public agent::RecordSink {
 public:
  void OnL4FlowLog(const L4FlowLog& log) override {
    ++flow_logs;
    if (log.is_new_flow) {
      tcp_flows += log.protocol == 6;
      udp_flows += log.protocol == 17;
    }
  }
  void OnNetwork(const NetworkRow&) override { ++network_rows; }
  void OnNetworkMap(const NetworkMapRow&) override { ++network_map_rows; }
  void OnL7Log(const L7FlowLog& row) override {
    ++l7_logs;
    l7_sessions += row.type == L7LogType::kSession;
    l7_error_logs += row.response_status == L7ResponseStatus::kClientError ||
                     row.response_status == L7ResponseStatus::kServerError;
    l7_timeout_logs += row.response_status == L7ResponseStatus::kTimeout;
  }

  uint64_t flow_logs = 0;
  uint64_t tcp_flows = 0;  // first reports of TCP flows: one per flow
  uint64_t udp_flows = 0;
  uint64_t network_rows = 0;
  uint64_t network_map_rows = 0;
  uint64_t l7_logs = 0;          // request log rows
  uint64_t l7_sessions = 0;      // rows with request and response
  uint64_t l7_error_logs = 0;    // rows with status client or server error
  uint64_t l7_timeout_logs = 0;  // rows of requests without response
};

// The packet path: read, decode, flow map, L7 request logs (unless `l7` is false), metrics.
// `l7_protocols`: the protocols to infer (empty: all registered ones).
absl::StatusOr<RunResult> RunFlowscope(const std::string& path, bool l7,
                                       const std::vector<std::string>& l7_protocols) {
  RunResult r;
  CountingSink sink;
  Stopwatch watch;
  auto source = agent::PcapFileSource::Open(path);
  if (!source.ok()) return source.status();
  agent::PipelineConfig config;  // defaults, as `flowscope pcap` without options
  config.l7_enabled = l7;
  config.l7.enabled_protocols = l7_protocols;
  agent::PacketPipeline pipeline(config, &sink);
  absl::Status status = agent::RunSource(**source, pipeline, agent::RunOptions{});
  watch.Stop(&r);
  if (!status.ok()) return status;
  agent::PipelineStats stats = pipeline.Stats();
  agent::SourceStats src = (*source)->Stats();
  r.packets = src.frames;
  r.wire_bytes = src.bytes;
  r.counters = {{"tcp_flows", sink.tcp_flows},
                {"udp_flows", sink.udp_flows},
                {"flows_created", stats.flow.flows_created},
                {"flow_logs", sink.flow_logs},
                {"network_rows", sink.network_rows},
                {"network_map_rows", sink.network_map_rows},
                {"decode_errors", stats.decode.errors()},
                {"evicted", stats.flow.evicted}};
  if (l7) {
    const agent::l7::L7Stats& l = stats.l7;
    r.counters.insert(r.counters.end(), {{"l7_logs", sink.l7_logs},
                                         {"l7_sessions", sink.l7_sessions},
                                         {"l7_error_logs", sink.l7_error_logs},
                                         {"l7_timeout_logs", sink.l7_timeout_logs},
                                         {"l7_flows_inferred", l.flows_inferred},
                                         {"l7_flows_unknown", l.flows_unknown},
                                         {"l7_requests", l.requests},
                                         {"l7_responses", l.responses},
                                         {"l7_invalid", l.invalid},
                                         {"l7_timeouts", l.timeouts},
                                         {"l7_orphan_responses", l.orphan_responses},
                                         {"l7_resyncs", l.resyncs},
                                         {"l7_gaps", l.gaps},
                                         {"l7_payloads", l.payloads},
                                         {"l7_skipped_bytes", l.skipped_bytes}});
  }
  return r;
}

struct Options {
  std::string mode = "flowscope";
  std::string file;
  int repeat = 5;
  int warmup = 1;
  std::vector<std::string> l7_protocols;
  bool list_l7_protocols = false;
};

double Mpps(const RunResult& r) { return static_cast<double>(r.packets) / r.wall_s / 1e6; }
double Gbps(const RunResult& r) { return static_cast<double>(r.wire_bytes) * 8.0 / r.wall_s / 1e9; }

int Main(int argc, char** argv) {
  Options opt;
  CLI::App app{
      "Replays a pcap file through libpcap alone, the decoder, or the whole flowscope "
      "packet path (with or without L7 request logs), and prints packets/s and Gbit/s (wire "
      "bytes) on this core, and request logs/s."};
  app.add_option("--mode", opt.mode, "what to run on each packet")
      ->check(CLI::IsMember({"libpcap", "decode", "flowmap", "flowscope", "l4only"}))
      ->capture_default_str();
  // One comma-separated value (a vector option would also swallow FILE).
  std::string l7_protocols;
  app.add_option("--l7-protocols", l7_protocols,
                 "--mode flowscope: infer only these protocols, comma-separated (names as in "
                 "the registry: http,redis,mysql,...; default all)");
  app.add_flag("--list-l7-protocols", opt.list_l7_protocols,
               "print the registered L7 protocols, one a line, and exit");
  app.add_option("--repeat", opt.repeat, "measured runs; best and median are reported")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--warmup", opt.warmup, "unmeasured runs first (page cache, allocator)")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  app.add_option("FILE", opt.file,
                 "pcap file (bench/gen_flows_pcap or bench/gen_l7_pcap writes one)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (absl::string_view name : absl::StrSplit(l7_protocols, ',', absl::SkipEmpty())) {
    opt.l7_protocols.emplace_back(name.data(), name.size());
  }
  if (opt.list_l7_protocols) {
    for (const agent::l7::ProtocolSpec* p : agent::l7::AllProtocols()) {
      std::printf("%.*s\n", static_cast<int>(p->name.size()), p->name.data());
    }
    return 0;
  }
  if (opt.file.empty()) {
    std::fprintf(stderr, "pcap_replay_bench: FILE is required\n");
    return 2;
  }
  for (const std::string& name : opt.l7_protocols) {
    if (agent::l7::FindProtocol(name) == nullptr) {
      std::fprintf(stderr,
                   "pcap_replay_bench: --l7-protocols: %s is not a registered protocol "
                   "(--list-l7-protocols lists them)\n",
                   name.c_str());
      return 2;
    }
  }
  auto run = [&]() -> absl::StatusOr<RunResult> {
    if (opt.mode == "libpcap") return RunLibpcap(opt.file);
    if (opt.mode == "decode") return RunDecode(opt.file);
    if (opt.mode == "flowmap") return RunFlowMap(opt.file);
    return RunFlowscope(opt.file, opt.mode == "flowscope", opt.l7_protocols);
  };
  if (!opt.l7_protocols.empty() && opt.mode != "flowscope") {
    std::fprintf(stderr, "pcap_replay_bench: --l7-protocols needs --mode flowscope, not %s\n",
                 opt.mode.c_str());
    return 2;
  }

  for (int i = 0; i < opt.warmup; ++i) {
    auto r = run();
    if (!r.ok()) {
      std::fprintf(stderr, "pcap_replay_bench: %s\n", std::string(r.status().message()).c_str());
      return 1;
    }
  }
  std::vector<RunResult> runs;
  for (int i = 0; i < opt.repeat; ++i) {
    auto r = run();
    if (!r.ok()) {
      std::fprintf(stderr, "pcap_replay_bench: %s\n", std::string(r.status().message()).c_str());
      return 1;
    }
    std::printf(
        "%-9s run %d: %llu packets in %.3f s (user %.3f, sys %.3f): %.3f Mpps, "
        "%.2f Gbit/s\n",
        opt.mode.c_str(), i + 1, static_cast<unsigned long long>(r->packets), r->wall_s, r->user_s,
        r->sys_s, Mpps(*r), Gbps(*r));
    if (!runs.empty() && (r->packets != runs[0].packets || r->counters != runs[0].counters)) {
      std::fprintf(stderr, "pcap_replay_bench: run %d saw different counts than run 1\n", i + 1);
      return 1;
    }
    runs.push_back(std::move(*r));
  }
  std::vector<RunResult> sorted = runs;
  std::sort(sorted.begin(), sorted.end(),
            [](const RunResult& a, const RunResult& b) { return a.wall_s < b.wall_s; });
  const RunResult& best = sorted.front();
  const RunResult& median = sorted[sorted.size() / 2];
  // On a shared machine the wall clock also counts time the core spent on someone else; the
  // CPU time of the least disturbed run is the other side of the picture.
  double min_cpu = runs[0].user_s + runs[0].sys_s;
  for (const RunResult& r : runs) min_cpu = std::min(min_cpu, r.user_s + r.sys_s);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  // One line for scripts.
  std::printf(
      "RESULT mode=%s packets=%llu wire_bytes=%llu runs=%zu best_s=%.4f median_s=%.4f "
      "best_cpu_s=%.4f min_cpu_s=%.4f best_mpps=%.4f median_mpps=%.4f cpu_mpps=%.4f "
      "best_gbps=%.3f median_gbps=%.3f max_rss_kb=%ld",
      opt.mode.c_str(), static_cast<unsigned long long>(best.packets),
      static_cast<unsigned long long>(best.wire_bytes), runs.size(), best.wall_s, median.wall_s,
      best.user_s + best.sys_s, min_cpu, Mpps(best), Mpps(median),
      static_cast<double>(best.packets) / min_cpu / 1e6, Gbps(best), Gbps(median), usage.ru_maxrss);
  for (const auto& [name, value] : best.counters) {
    std::printf(" %s=%llu", name.c_str(), static_cast<unsigned long long>(value));
  }
  // Request logs per second: best wall clock, median wall clock, least disturbed CPU time.
  for (const auto& [name, value] : best.counters) {
    if (name != "l7_logs") continue;
    const double logs = static_cast<double>(value);
    std::printf(" l7_logs_per_s=%.0f median_l7_logs_per_s=%.0f l7_logs_per_cpu_s=%.0f",
                logs / best.wall_s, logs / median.wall_s, logs / min_cpu);
  }
  std::printf("\n");
  return 0;
}

}  // namespace
}  // namespace flowscope::bench

int main(int argc, char** argv) { return flowscope::bench::Main(argc, argv); }
