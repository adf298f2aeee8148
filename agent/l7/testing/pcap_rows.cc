#include "agent/l7/testing/pcap_rows.h"

#include <gtest/gtest.h>

#include <utility>

#include "agent/capture/pcap_file_source.h"
#include "agent/pipeline/packet_pipeline.h"

namespace flowscope::agent::l7::l7test {

PcapRun RunPcap(const std::string& pcap_path, std::vector<std::string> protocols) {
  struct Sink : RecordSink {
    std::vector<L7FlowLog> rows;
    void OnL7Log(const L7FlowLog& r) override { rows.push_back(r); }
  } sink;
  PipelineConfig config;
  config.l7.enabled_protocols = std::move(protocols);
  PcapRun run;
  auto source = PcapFileSource::Open(pcap_path);
  EXPECT_TRUE(source.ok()) << pcap_path << ": " << source.status();
  if (!source.ok()) return run;
  PacketPipeline pipeline(config, &sink);
  EXPECT_TRUE(RunSource(**source, pipeline, RunOptions{}).ok());
  run.rows = std::move(sink.rows);
  run.stats = pipeline.Stats().l7;
  return run;
}

}  // namespace flowscope::agent::l7::l7test
