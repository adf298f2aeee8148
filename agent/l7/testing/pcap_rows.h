// Test support: the request logs of a recorded pcap through the real packet pipeline (flow
// map + L7 engine), for tests that check rows rather than one parser's messages.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/l7/engine.h"
#include "common/records/l7_flow_log.h"

namespace flowscope::agent::l7::l7test {

struct PcapRun {
  std::vector<L7FlowLog> rows;
  L7Stats stats;
};
// `protocols`: the enabled protocols (L7Config::enabled_protocols). A capture that cannot be
// read is a test failure.
PcapRun RunPcap(const std::string& pcap_path, std::vector<std::string> protocols);

}  // namespace flowscope::agent::l7::l7test
