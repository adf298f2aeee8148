// `flowscope pcap FILE`: analyse a capture file offline and print flow logs or network metrics.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "agent/capture/pcap_file_source.h"
#include "agent/pipeline/packet_pipeline.h"
#include "cli/commands.h"
#include "cli/engine_options.h"

namespace flowscope::cli {
namespace {

struct PcapArgs {
  std::string file;
  EngineOptions engine;
};

int RunPcap(const PcapArgs& args) {
  auto resolved = Resolve(args.engine);
  if (!resolved.ok()) {
    std::fprintf(stderr, "flowscope pcap: %s\n", std::string(resolved.status().message()).c_str());
    return 2;
  }
  auto source = agent::PcapFileSource::Open(args.file);
  if (!source.ok()) {
    std::fprintf(stderr, "flowscope %s\n", std::string(source.status().message()).c_str());
    return 1;
  }
  FILE* out = stdout;
  if (!args.engine.output_file.empty()) {
    out = std::fopen(args.engine.output_file.c_str(), "w");
    if (out == nullptr) {
      std::fprintf(stderr, "flowscope pcap: cannot write %s\n", args.engine.output_file.c_str());
      return 1;
    }
  }
  int rc = 0;
  {
    RecordWriter writer(*resolved, out);
    agent::PacketPipeline pipeline(resolved->pipeline, &writer);
    agent::RunOptions run;
    // Progress only on a terminal and only for files big enough to wait for.
    const bool progress = !args.engine.quiet && isatty(STDERR_FILENO) &&
                          (*source)->file_size() > (32u << 20);
    auto t0 = std::chrono::steady_clock::now();
    if (progress) {
      run.on_progress = [&](const agent::PacketSource&) {
        double pct = 100.0 * static_cast<double>((*source)->file_offset()) /
                     static_cast<double>((*source)->file_size());
        double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        auto st = (*source)->Stats();
        std::fprintf(stderr, "\r  %5.1f%%  %llu packets  %.0f packets/s ", pct,
                     static_cast<unsigned long long>(st.frames),
                     secs > 0 ? static_cast<double>(st.frames) / secs : 0.0);
      };
    }
    absl::Status status = agent::RunSource(**source, pipeline, run);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (progress) std::fprintf(stderr, "\r%60s\r", "");
    writer.Flush();
    auto stats = pipeline.Stats();
    stats.source = (*source)->Stats();
    if (!args.engine.quiet) {
      std::fputs(FormatSummary(args.file, stats, writer.rows(), secs).c_str(), stderr);
    }
    if (!status.ok()) {
      std::fprintf(stderr, "flowscope %s\n", std::string(status.message()).c_str());
      rc = 1;
    }
  }
  if (out != stdout) std::fclose(out);
  return rc;
}

}  // namespace

void RegisterPcapCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<PcapArgs>();
  CLI::App* cmd = app.add_subcommand(
      "pcap", "Analyse a pcap/pcapng file offline: flow logs, request logs or metrics as JSON lines "
              "or a table, then a summary on stderr");
  cmd->add_option("FILE", args->file, "capture file (pcap or pcapng; any libpcap link type "
                                      "flowscope decodes: Ethernet, Linux cooked, raw IP)")
      ->required();
  AddEngineOptions(cmd, &args->engine);
  cmd->footer(
      "Examples:\n"
      "  flowscope pcap trace.pcap                       # one JSON line per L4 flow log\n"
      "  flowscope pcap trace.pcap --format table        # the same, for reading\n"
      "  flowscope pcap trace.pcap --output network --interval 1s\n"
      "  flowscope pcap trace.pcap --output l7 --format table   # request logs\n"
      "  flowscope pcap trace.pcap --output application        # RED per endpoint\n"
      "Exit status: 0 on success, 1 if the file could not be read to its end (what was read "
      "is still reported), 2 on bad options.");
  cmd->callback([args, exit_code]() { *exit_code = RunPcap(*args); });
}

}  // namespace flowscope::cli
