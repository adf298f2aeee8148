// `flowscope agent`: the host agent. Two sources run side by side, each on its own thread:
//   eBPF   — the socket tracer (syscalls + OpenSSL uprobes) → SocketPipeline → request logs
//            and RED metrics that name processes; the process table kept fresh by exec/fork/
//            exit events names them;
//   packets — AF_PACKET capture → PacketPipeline → flow logs, network metrics, request logs.
// Either can be turned off. Until the server transport exists (`flowscope server`), rows go to
// stdout (--stdout), and the agent's own cost (events/s, drops by cause, CPU, RSS) to stderr
// every --stats-interval.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/capture/afpacket_source.h"
#include "agent/ebpf/socket_tracer.h"
#include "agent/pipeline/packet_pipeline.h"
#include "agent/pipeline/socket_pipeline.h"
#include "agent/process/proc_event_source.h"
#include "agent/process/process_table.h"
#include "agent/process/self_stats.h"
#include "cli/commands.h"
#include "cli/engine_options.h"
#include "cli/stop_signal.h"

namespace flowscope::cli {
namespace {

constexpr const char* kDefaultInterfaces = "/^(lo|eth.*|en.*|veth.*)$/";

struct AgentArgs {
  bool to_stdout = false;
  bool no_ebpf = false;
  bool no_packets = false;
  bool no_tls = false;
  std::vector<std::string> interfaces;
  std::string filter;
  uint32_t capture_bytes = 1024;
  uint32_t pid = 0;
  double stats_interval_s = 10;
  double duration_s = 0;
  EngineOptions engine;
};

std::atomic<bool>& g_stop = StopFlag();

uint64_t WallNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// Rows from both source threads go through one writer.
class LockedSink final : public agent::RecordSink {
 public:
  LockedSink(RecordWriter* writer, FILE* out) : writer_(writer), out_(out) {}
  void OnL4FlowLog(const L4FlowLog& r) override { Locked([&] { writer_->OnL4FlowLog(r); }); }
  void OnNetwork(const NetworkRow& r) override { Locked([&] { writer_->OnNetwork(r); }); }
  void OnNetworkMap(const NetworkMapRow& r) override {
    Locked([&] { writer_->OnNetworkMap(r); });
  }
  void OnL7Log(const L7FlowLog& r) override { Locked([&] { writer_->OnL7Log(r); }); }
  void OnApplication(const ApplicationRow& r) override {
    Locked([&] { writer_->OnApplication(r); });
  }
  void OnApplicationMap(const ApplicationMapRow& r) override {
    Locked([&] { writer_->OnApplicationMap(r); });
  }
  // Rows appear batch by batch (~100 ms) so that pipes follow live. A failed write (the reader
  // went away, disk full) stops the agent.
  void Flush() {
    std::lock_guard<std::mutex> lock(mu_);
    errno = 0;
    if (std::fflush(out_) != 0 || std::ferror(out_)) {
      if (write_errno_ == 0) write_errno_ = errno != 0 ? errno : EIO;
      g_stop.store(true, std::memory_order_relaxed);
    }
  }
  int write_errno() {
    std::lock_guard<std::mutex> lock(mu_);
    return write_errno_;
  }
  uint64_t rows() {
    std::lock_guard<std::mutex> lock(mu_);
    return writer_->rows();
  }

 private:
  template <typename Fn>
  void Locked(Fn&& fn) {
    std::lock_guard<std::mutex> lock(mu_);
    fn();
  }
  std::mutex mu_;
  RecordWriter* writer_;
  FILE* out_;
  int write_errno_ = 0;
};

// What each source thread last published, for the stats line.
struct EbpfSnapshot {
  agent::ebpf::SocketTracerCounters tracer;
  agent::SocketPipelineStats pipeline;
};

template <typename T>
class Published {
 public:
  void Set(const T& v) {
    std::lock_guard<std::mutex> lock(mu_);
    value_ = v;
  }
  T Get() {
    std::lock_guard<std::mutex> lock(mu_);
    return value_;
  }

 private:
  std::mutex mu_;
  T value_{};
};

std::string FormatBytes(uint64_t b) {
  return absl::StrFormat("%.1f MiB", static_cast<double>(b) / (1024.0 * 1024.0));
}

std::string EbpfLine(const EbpfSnapshot& s, double events_per_s) {
  const auto& t = s.tracer;
  const auto& p = s.pipeline;
  return absl::StrFormat(
      "ebpf: %.0f events/s, %d data events, %d request logs, %d sockets followed; drops: "
      "ring_full=%d copy_failed=%d map_full=%d mmsg_truncated=%d tls_no_socket=%d "
      "malformed=%d sockets_over_limit=%d; l7: invalid=%d gaps=%d truncated=%d timeouts=%d; "
      "tls libraries=%d attach_failures=%d",
      events_per_s, t.data_events, p.l7.logs, p.sockets, t.ring_full, t.copy_failed,
      t.map_full, t.mmsg_truncated, t.tls_no_socket, t.malformed, p.sockets_dropped, p.l7.invalid,
      p.l7.gaps, p.truncated, p.l7.timeouts, t.tls_libraries, t.tls_attach_failures);
}

std::string PacketLine(const agent::PipelineStats& s, double packets_per_s) {
  return absl::StrFormat(
      "packets: %.0f packets/s, %d packets, %d flows (%d active), %d request logs; drops: "
      "kernel=%d truncated=%d malformed=%d flows_evicted=%d",
      packets_per_s, s.source.frames, s.flow.flows_created, s.flow.active_flows, s.l7.logs,
      s.source.kernel_drops, s.decode.truncated, s.decode.malformed, s.flow.evicted);
}

int RunAgent(const AgentArgs& args) {
  // First: loading the BPF programs takes a second or two, and Ctrl-C during it must end the
  // agent cleanly too.
  InstallStopSignalHandlers();
  if (!args.to_stdout) {
    std::fprintf(stderr,
                 "flowscope agent: nowhere to send rows: add --stdout to print them (the server "
                 "transport, --server, comes with `flowscope server`)\n");
    return 2;
  }
  if (args.no_ebpf && args.no_packets) {
    std::fprintf(stderr, "flowscope agent: --no-ebpf and --no-packets leave nothing to run\n");
    return 2;
  }
  auto resolved = Resolve(args.engine);
  if (!resolved.ok()) {
    std::fprintf(stderr, "flowscope agent: %s\n",
                 std::string(resolved.status().message()).c_str());
    return 2;
  }
  if (args.engine.no_l7 && args.no_packets) {
    std::fprintf(stderr, "flowscope agent: --no-l7 with --no-packets leaves nothing to run\n");
    return 2;
  }

  // Sources first: a source that cannot start is an error that names what to do.
  std::unique_ptr<agent::process::ProcessTable> procs;
  std::unique_ptr<agent::process::ProcEventSource> proc_events;
  std::unique_ptr<agent::ebpf::SocketTracer> tracer;
  const bool ebpf_on = !args.no_ebpf && !args.engine.no_l7;
  if (ebpf_on) {
    procs = std::make_unique<agent::process::ProcessTable>();
    if (auto n = procs->Scan(); !n.ok()) {
      std::fprintf(stderr, "flowscope agent: reading /proc: %s\n",
                   std::string(n.status().message()).c_str());
      return 1;
    }
    auto pe = agent::process::ProcEventSource::Start(procs.get(), {});
    if (!pe.ok()) {
      std::fprintf(stderr, "flowscope agent: process events: %s (or run with --no-ebpf)\n",
                   std::string(pe.status().message()).c_str());
      return 1;
    }
    proc_events = std::move(*pe);
    agent::ebpf::SocketTracerOptions to;
    to.capture_bytes = args.capture_bytes;
    to.target_pid = args.pid;
    to.tls = !args.no_tls;
    if (args.engine.quiet) to.log = [](std::string_view) {};
    tracer = std::make_unique<agent::ebpf::SocketTracer>(to);
    if (absl::Status st = tracer->Start(); !st.ok()) {
      std::fprintf(stderr, "flowscope agent: eBPF socket tracer: %s (or run with --no-ebpf)\n",
                   std::string(st.message()).c_str());
      return 1;
    }
  }
  std::unique_ptr<agent::AfPacketSource> packets;
  if (!args.no_packets) {
    agent::AfPacketOptions opts;
    opts.interfaces = args.interfaces;
    if (opts.interfaces.empty()) opts.interfaces.push_back(kDefaultInterfaces);
    opts.filter = args.filter;
    auto src = agent::AfPacketSource::Open(opts);
    if (!src.ok()) {
      std::fprintf(stderr, "flowscope agent: packet capture: %s (or run with --no-packets)\n",
                   std::string(src.status().message()).c_str());
      return src.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    }
    packets = std::move(*src);
    const agent::AfPacketSource* p = packets.get();
    resolved->pipeline.flow.interface_name = [p](uint32_t ifindex) {
      return std::string(p->InterfaceName(ifindex));
    };
  }

  FILE* out = stdout;
  if (!args.engine.output_file.empty()) {
    out = std::fopen(args.engine.output_file.c_str(), "w");
    if (out == nullptr) {
      std::fprintf(stderr, "flowscope agent: cannot write %s: %s\n",
                   args.engine.output_file.c_str(), std::strerror(errno));
      return 1;
    }
  }
  int rc = 0;
  {
    RecordWriter writer(*resolved, out);
    LockedSink sink(&writer, out);
    Published<EbpfSnapshot> ebpf_pub;
    Published<agent::PipelineStats> packet_pub;
    std::atomic<bool> ebpf_failed{false}, packets_failed{false};

    std::thread ebpf_thread;
    if (tracer) {
      agent::SocketPipelineConfig sc;
      sc.l7 = resolved->pipeline.l7;
      sc.application = resolved->pipeline.application;
      agent::process::ProcessTable* table = procs.get();
      sc.process_name = [table](uint32_t pid) -> std::string {
        auto info = table->Lookup(pid);
        return info ? info->comm : std::string();
      };
      ebpf_thread = std::thread([&, sc] {
        agent::SocketPipeline pipeline(sc, &sink);
        auto last_publish = std::chrono::steady_clock::now();
        while (!g_stop.load(std::memory_order_relaxed)) {
          auto n = tracer->Poll(100, [&](const agent::ebpf::SocketEvent& e) {
            pipeline.OnEvent(e);
          });
          if (!n.ok()) {
            std::fprintf(stderr, "flowscope agent: eBPF: %s\n",
                         std::string(n.status().message()).c_str());
            ebpf_failed = true;
            g_stop = true;
            break;
          }
          pipeline.Tick(WallNs());
          sink.Flush();
          const auto now = std::chrono::steady_clock::now();
          if (now - last_publish >= std::chrono::milliseconds(500)) {
            ebpf_pub.Set({tracer->Counters(), pipeline.Stats()});
            last_publish = now;
          }
        }
        // Whatever is still in the ring, then every open request and metrics bucket.
        (void)tracer->Poll(0, [&](const agent::ebpf::SocketEvent& e) { pipeline.OnEvent(e); });
        pipeline.Finish(WallNs());
        ebpf_pub.Set({tracer->Counters(), pipeline.Stats()});
      });
    }

    std::thread packet_thread;
    if (packets) {
      packet_thread = std::thread([&] {
        agent::PacketPipeline pipeline(resolved->pipeline, &sink);
        agent::RunOptions run;
        run.stop = &g_stop;
        run.live = true;
        run.on_progress = [&](const agent::PacketSource& src) {
          sink.Flush();
          auto s = pipeline.Stats();
          s.source = src.Stats();
          packet_pub.Set(s);
        };
        absl::Status st = agent::RunSource(*packets, pipeline, run);
        if (!st.ok()) {
          std::fprintf(stderr, "flowscope agent: packets: %s\n", std::string(st.message()).c_str());
          packets_failed = true;
          g_stop = true;
        }
        auto s = pipeline.Stats();
        s.source = packets->Stats();
        packet_pub.Set(s);
      });
    }

    if (!args.engine.quiet) {
      std::string what;
      if (tracer) {
        absl::StrAppend(&what, "eBPF socket tracer (", args.capture_bytes, " bytes per message",
                        args.no_tls ? "" : ", OpenSSL uprobes",
                        args.pid != 0 ? absl::StrCat(", pid ", args.pid) : std::string(), ")");
      }
      if (packets) {
        absl::StrAppend(&what, what.empty() ? "" : " and ", "packets on ", packets->Describe());
      }
      std::fprintf(stderr, "flowscope agent: running %s; rows on %s; Ctrl-C to stop\n",
                   what.c_str(), out == stdout ? "stdout" : args.engine.output_file.c_str());
      std::fflush(stderr);
    }

    agent::process::SelfStats self;
    (void)self.Report();
    const auto t0 = std::chrono::steady_clock::now();
    auto next_stats = t0 + std::chrono::duration<double>(args.stats_interval_s);
    uint64_t last_packets = 0, last_events = 0;
    auto last_packets_t = t0, last_events_t = t0;
    auto print_stats = [&](bool final) {
      std::string line = final ? "flowscope agent: final: " : "flowscope agent: ";
      if (auto r = self.Report(); r.ok()) {
        absl::StrAppend(&line, absl::StrFormat("cpu %.1f%%, rss %s", r->cpu_percent,
                                               FormatBytes(r->rss_bytes)));
      }
      absl::StrAppend(&line, ", rows ", sink.rows());
      std::fprintf(stderr, "%s\n", line.c_str());
      if (tracer) {
        const EbpfSnapshot snap = ebpf_pub.Get();
        const auto now = std::chrono::steady_clock::now();
        const double dt = std::chrono::duration<double>(now - last_events_t).count();
        const uint64_t events = snap.tracer.delivered;
        const double eps = dt > 0 ? static_cast<double>(events - last_events) / dt : 0;
        last_events = events;
        last_events_t = now;
        std::fprintf(stderr, "  %s\n", EbpfLine(snap, eps).c_str());
      }
      if (packets) {
        auto s = packet_pub.Get();
        const auto now = std::chrono::steady_clock::now();
        const double dt = std::chrono::duration<double>(now - last_packets_t).count();
        const double pps = dt > 0 ? static_cast<double>(s.source.frames - last_packets) / dt : 0;
        last_packets = s.source.frames;
        last_packets_t = now;
        std::fprintf(stderr, "  %s\n", PacketLine(s, pps).c_str());
      }
      if (proc_events) {
        auto ps = proc_events->Stats();
        std::fprintf(stderr,
                     "  processes: %zu known; events exec=%llu fork=%llu exit=%llu; drops: "
                     "ring_full=%llu (repaired by rescans: %llu)\n",
                     procs->Stats().alive, static_cast<unsigned long long>(ps.exec),
                     static_cast<unsigned long long>(ps.fork),
                     static_cast<unsigned long long>(ps.exit),
                     static_cast<unsigned long long>(ps.dropped),
                     static_cast<unsigned long long>(ps.rescan_added + ps.rescan_exited +
                                                     ps.rescan_refreshed));
      }
      std::fflush(stderr);
    };
    while (!g_stop.load(std::memory_order_relaxed)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const auto now = std::chrono::steady_clock::now();
      if (args.duration_s > 0 &&
          now - t0 >= std::chrono::duration<double>(args.duration_s)) {
        g_stop = true;
      }
      if (args.stats_interval_s > 0 && now >= next_stats && !args.engine.quiet) {
        print_stats(false);
        next_stats = now + std::chrono::duration<double>(args.stats_interval_s);
      }
    }
    if (ebpf_thread.joinable()) ebpf_thread.join();
    if (packet_thread.joinable()) packet_thread.join();
    if (proc_events) proc_events->Stop();
    sink.Flush();
    if (!args.engine.quiet) print_stats(true);
    const int werr = sink.write_errno();
    if (ebpf_failed || packets_failed) {
      rc = 1;
    } else if (werr != 0 && werr != EPIPE) {
      std::fprintf(stderr, "flowscope agent: writing rows failed: %s\n", std::strerror(werr));
      rc = 1;
    }
  }
  if (out != stdout) std::fclose(out);
  return rc;
}

}  // namespace

void RegisterAgentCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<AgentArgs>();
  args->engine.output = "l7";  // the agent's first product: request logs
  CLI::App* cmd = app.add_subcommand(
      "agent",
      "Run the host agent: every process's calls through eBPF (syscalls and OpenSSL, no code "
      "change) and the packets of the host's interfaces, as request logs, flow logs and "
      "metrics. Needs root (CAP_BPF, CAP_PERFMON, CAP_NET_RAW)");
  cmd->add_flag("--stdout", args->to_stdout,
                "print rows on stdout (JSON lines or a table) instead of sending them to a "
                "server");
  cmd->add_flag("--no-ebpf", args->no_ebpf,
                "do not trace syscalls and TLS libraries (packets only)");
  cmd->add_flag("--no-packets", args->no_packets, "do not capture packets (eBPF only)");
  cmd->add_flag("--no-tls", args->no_tls, "no OpenSSL uprobes (TLS plaintext not seen)");
  cmd->add_option("-i,--interface", args->interfaces,
                  absl::StrCat("interfaces to capture packets on, as for `flowscope capture` "
                               "(default: ",
                               kDefaultInterfaces, ")"))
      ->type_name("IF");
  cmd->add_option("-f,--filter", args->filter, "packet capture filter (pcap-filter(7) syntax)")
      ->type_name("EXPR");
  cmd->add_option("--capture-bytes", args->capture_bytes,
                  "bytes of each sent or received message copied by eBPF (the real length is "
                  "always known)")
      ->check(CLI::Range(1u, 4096u))
      ->capture_default_str();
  cmd->add_option("--pid", args->pid, "trace only this process with eBPF (default: all)")
      ->type_name("PID");
  cmd->add_option("--stats-interval", args->stats_interval_s,
                  "print the agent's own figures (events/s, drops by cause, CPU, RSS) on stderr "
                  "every this many seconds; 0: only at the end")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("-d,--duration", args->duration_s,
                  "stop after this many seconds (default: run until Ctrl-C or SIGTERM)")
      ->check(CLI::PositiveNumber)
      ->type_name("SECONDS");
  AddEngineOptions(cmd, &args->engine);
  cmd->footer(
      "Examples:\n"
      "  flowscope agent --stdout                           # request logs of every process\n"
      "  flowscope agent --stdout --format table --no-packets\n"
      "  flowscope agent --stdout --output application --interval 1s\n"
      "  flowscope agent --stdout --output l4 --no-ebpf -i eth0\n"
      "Request logs from eBPF have signal_source 3 and name the client and server processes "
      "(process_id_0/1, process_kname_0/1); the ones from packets have signal_source 0.\n"
      "Exit status: 0 after Ctrl-C, SIGTERM or --duration, 1 if a source could not start or "
      "failed, 2 on bad options.");
  cmd->callback([args, exit_code]() { *exit_code = RunAgent(*args); });
}

}  // namespace flowscope::cli
