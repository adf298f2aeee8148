// Options shared by the commands that run the packet engine (`pcap`, `capture`): what to print,
// in which format, and the flow engine's tunables. One struct, registered on each command.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/pipeline/packet_pipeline.h"

namespace flowscope::cli {

enum class OutputKind { kL4, kL7, kNetwork, kNetworkMap, kApplication, kApplicationMap, kNone };
enum class Format { kJsonl, kTable };

struct EngineOptions {
  std::string output = "l4";
  std::string format = "jsonl";
  std::string interval = "1m";
  std::string output_file;  // empty: stdout
  double established_timeout_s = 300;
  double closing_rst_timeout_s = 35;
  double opening_rst_timeout_s = 1;
  double others_timeout_s = 5;
  double report_interval_s = 60;
  uint32_t max_flows = 1u << 20;
  bool no_l7 = false;
  std::vector<std::string> l7_protocols;  // empty: all
  std::string obfuscate = "redis";        // comma list of redis, sql; or none
  uint32_t l7_max_parse_bytes = 1024;
  bool quiet = false;
};

void AddEngineOptions(CLI::App* cmd, EngineOptions* options);

struct ResolvedOptions {
  OutputKind kind = OutputKind::kL4;
  Format format = Format::kJsonl;
  uint32_t interval_s = 60;
  agent::PipelineConfig pipeline;
};

// Validates the option values (they were accepted as strings/numbers by CLI11) and builds the
// pipeline configuration; errors name the bad value and the accepted ones.
absl::StatusOr<ResolvedOptions> Resolve(const EngineOptions& options);

// Writes rows of the selected kind to a FILE* as JSON lines or an aligned table.
class RecordWriter : public agent::RecordSink {
 public:
  RecordWriter(const ResolvedOptions& options, FILE* out);
  ~RecordWriter() override;
  void OnL4FlowLog(const L4FlowLog& row) override;
  void OnNetwork(const NetworkRow& row) override;
  void OnNetworkMap(const NetworkMapRow& row) override;
  void OnL7Log(const L7FlowLog& row) override;
  void OnApplication(const ApplicationRow& row) override;
  void OnApplicationMap(const ApplicationMapRow& row) override;
  void Flush();
  uint64_t rows() const { return rows_; }

 private:
  void WriteLine(const std::string& line);
  void MaybeHeader();
  ResolvedOptions options_;
  FILE* out_;
  uint64_t rows_ = 0;
  bool header_done_ = false;
};

// The end-of-run summary (packets, bytes, flows, decode errors, drops), for stderr.
std::string FormatSummary(const std::string& what, const agent::PipelineStats& stats,
                          uint64_t rows, double seconds);

}  // namespace flowscope::cli
