// `flowscope capture -i IF`: capture live from network interfaces (AF_PACKET rings) and print
// flow logs or network metrics as they are produced, until Ctrl-C, SIGTERM or --duration.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/capture/afpacket_source.h"
#include "agent/capture/bpf_filter.h"
#include "agent/pipeline/packet_pipeline.h"
#include "cli/commands.h"
#include "cli/engine_options.h"
#include "cli/stop_signal.h"

namespace flowscope::cli {
namespace {

struct CaptureArgs {
  std::vector<std::string> interfaces;
  std::string filter;
  int fanout_group = -1;  // -1: no fanout
  std::string fanout_mode = "hash";
  uint32_t snaplen = agent::kMaxSnaplen;
  double duration_s = 0;  // 0: until interrupted
  bool promisc = false;
  uint32_t ring_block_kib = 1024;
  uint32_t ring_blocks = 4;
  EngineOptions engine;
};

std::string DescribeCapture(const agent::AfPacketSource& source, const CaptureArgs& args) {
  std::vector<std::string> ifs;
  for (const auto& i : source.interfaces()) {
    ifs.push_back(absl::StrCat(i.name, " (ifindex ", i.ifindex,
                               i.link_type == 1 ? ", ethernet)" : ", raw ip)"));
  }
  std::string out = absl::StrCat("capturing on ", absl::StrJoin(ifs, ", "));
  if (!args.filter.empty()) absl::StrAppend(&out, ", filter '", args.filter, "'");
  if (args.fanout_group >= 0) {
    absl::StrAppend(&out, ", fanout group ", args.fanout_group, " ", args.fanout_mode);
  }
  if (args.promisc) absl::StrAppend(&out, ", promiscuous");
  if (args.duration_s > 0) {
    absl::StrAppend(&out, ", for ", args.duration_s, " s");
  } else {
    absl::StrAppend(&out, ", until Ctrl-C");
  }
  return out;
}

int RunCapture(const CaptureArgs& args) {
  InstallStopSignalHandlers();
  auto resolved = Resolve(args.engine);
  if (!resolved.ok()) {
    std::fprintf(stderr, "flowscope capture: %s\n",
                 std::string(resolved.status().message()).c_str());
    return 2;
  }
  agent::AfPacketOptions opts;
  opts.interfaces = args.interfaces;
  opts.filter = args.filter;
  opts.snaplen = args.snaplen;
  opts.promiscuous = args.promisc;
  opts.block_size = args.ring_block_kib * 1024u;
  opts.block_count = args.ring_blocks;
  if (args.fanout_group >= 0) {
    auto mode = agent::ParseFanoutMode(args.fanout_mode);
    if (!mode.ok()) {
      std::fprintf(stderr, "flowscope capture: %s\n", std::string(mode.status().message()).c_str());
      return 2;
    }
    opts.fanout = agent::FanoutOptions{static_cast<uint16_t>(args.fanout_group), *mode};
  }
  auto source = agent::AfPacketSource::Open(opts);
  if (!source.ok()) {
    std::fprintf(stderr, "flowscope capture: %s\n", std::string(source.status().message()).c_str());
    return source.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  // Each flow log names the interface its flow's first packet came from.
  {
    const agent::AfPacketSource* src = source->get();
    resolved->pipeline.flow.interface_name = [src](uint32_t ifindex) {
      return std::string(src->InterfaceName(ifindex));
    };
  }

  FILE* out = stdout;
  if (!args.engine.output_file.empty()) {
    out = std::fopen(args.engine.output_file.c_str(), "w");
    if (out == nullptr) {
      std::fprintf(stderr, "flowscope capture: cannot write %s: %s\n",
                   args.engine.output_file.c_str(), std::strerror(errno));
      return 1;
    }
  }

  std::atomic<bool>& g_stop = StopFlag();
  int rc = 0;
  {
    RecordWriter writer(*resolved, out);
    agent::PacketPipeline pipeline(resolved->pipeline, &writer);
    // The rings are bound: from here on no packet is missed. Scripts wait for this line.
    if (!args.engine.quiet) {
      std::fprintf(stderr, "flowscope: %s\n", DescribeCapture(**source, args).c_str());
      std::fflush(stderr);
    }
    const auto t0 = std::chrono::steady_clock::now();
    const auto limit = std::chrono::duration<double>(args.duration_s);
    int write_errno = 0;
    auto flush_rows = [&]() {
      // Rows appear batch by batch (every ~100 ms) so that `| head`, `| jq` and tail -f follow
      // the capture live, without a write per row.
      errno = 0;
      if (std::fflush(out) != 0 || std::ferror(out)) {
        if (write_errno == 0) write_errno = errno != 0 ? errno : EIO;
        g_stop.store(true, std::memory_order_relaxed);
      }
    };
    agent::RunOptions run;
    run.stop = &g_stop;
    run.live = true;
    run.on_progress = [&](const agent::PacketSource&) {
      flush_rows();
      if (args.duration_s > 0 && std::chrono::steady_clock::now() - t0 >= limit) {
        g_stop.store(true, std::memory_order_relaxed);
      }
    };
    absl::Status status = agent::RunSource(**source, pipeline, run);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    flush_rows();
    auto stats = pipeline.Stats();
    stats.source = (*source)->Stats();
    if (!args.engine.quiet) {
      std::fputs(FormatSummary(absl::StrCat("capture on ", (*source)->Describe()), stats,
                               writer.rows(), secs)
                     .c_str(),
                 stderr);
    }
    if (!status.ok()) {
      std::fprintf(stderr, "flowscope capture: %s\n", std::string(status.message()).c_str());
      rc = 1;
    } else if (write_errno != 0 && write_errno != EPIPE) {
      // EPIPE is the reader going away (`| head`): a normal way to end. Anything else (disk
      // full) lost rows.
      std::fprintf(stderr, "flowscope capture: writing rows failed: %s\n",
                   std::strerror(write_errno));
      rc = 1;
    }
  }
  if (out != stdout) std::fclose(out);
  return rc;
}

}  // namespace

void RegisterCaptureCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<CaptureArgs>();
  CLI::App* cmd = app.add_subcommand(
      "capture",
      "Capture live from network interfaces (AF_PACKET TPACKET_V3 rings) and print flow logs or "
      "network metrics as they are produced; a summary on stderr at the end. Needs root or "
      "CAP_NET_RAW");
  cmd->add_option("-i,--interface", args->interfaces,
                  "interface to capture on; repeat for several. An exact name (eth0, eth0.100), "
                  "or a regex matched against whole interface names when written /like this/ "
                  "or when it contains one of * ? [ ] ( ) { } | ^ $ + \\ (veth.*, eth[01])")
      ->required()
      ->type_name("IF");
  cmd->add_option("-f,--filter", args->filter,
                  "capture filter in tcpdump syntax (pcap-filter(7)), run in the kernel, e.g. "
                  "'tcp port 443 or udp port 53'")
      ->type_name("EXPR");
  auto* group =
      cmd->add_option("--fanout-group", args->fanout_group,
                      "join PACKET_FANOUT group N so that several flowscope processes share the "
                      "traffic; with several interfaces the i-th joins group N+i")
          ->check(CLI::Range(0, 65535))
          ->type_name("N");
  cmd->add_option("--fanout-mode", args->fanout_mode,
                  "how the kernel spreads packets over the group: hash (by flow, both "
                  "directions together; the only mode that keeps flows whole), lb (round robin), "
                  "cpu (by receiving CPU)")
      ->check(CLI::IsMember({"hash", "lb", "cpu"}))
      ->needs(group)
      ->capture_default_str();
  cmd->add_option("-s,--snaplen", args->snaplen,
                  "bytes kept of each packet (headers are in the first 128)")
      ->check(CLI::Range(1u, agent::kMaxSnaplen))
      ->capture_default_str();
  cmd->add_option("-d,--duration", args->duration_s,
                  "stop after this many seconds (default: run until Ctrl-C or SIGTERM)")
      ->check(CLI::PositiveNumber)
      ->type_name("SECONDS");
  cmd->add_flag("--promisc", args->promisc,
                "put the interfaces in promiscuous mode while capturing (for traffic of other "
                "hosts on a mirror port or hub; undone when flowscope exits)");
  cmd->add_option("--ring-block-kib", args->ring_block_kib,
                  "size of one ring block in KiB; the largest packet must fit in a block")
      ->check(CLI::Range(4u, 1u << 20))
      ->capture_default_str();
  cmd->add_option("--ring-blocks", args->ring_blocks,
                  "ring blocks per interface; raise it if the summary reports kernel drops")
      ->check(CLI::Range(2u, 65536u))
      ->capture_default_str();
  AddEngineOptions(cmd, &args->engine);
  cmd->footer(
      "Examples:\n"
      "  flowscope capture -i eth0                          # L4 flow logs as JSON lines\n"
      "  flowscope capture -i eth0 --format table -f 'tcp port 443'\n"
      "  flowscope capture -i 'veth.*' -i lo --output network --interval 1s\n"
      "  flowscope capture -i eth0 --duration 60 -o flows.jsonl\n"
      "  flowscope capture -i eth0 --fanout-group 7 &  flowscope capture -i eth0 "
      "--fanout-group 7 &\n"
      "Rows are printed when flows close (or every --report-interval for long ones); the rest "
      "are flushed when the capture stops. On lo each packet is counted once (the kernel's "
      "outgoing copy is skipped).\n"
      "Exit status: 0 after Ctrl-C, SIGTERM or --duration (also when the reader of stdout goes "
      "away), 1 if capture could not start or failed, 2 on bad options.");
  cmd->callback([args, exit_code]() { *exit_code = RunCapture(*args); });
}

}  // namespace flowscope::cli
