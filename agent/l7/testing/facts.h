// Test support: the tshark facts of a protocol's recordings (testdata/<name>.json, written by
// scripts/l7testdata/tshark_l7_facts.py next to <name>.pcap) and the agreement count every
// pcap test reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>

namespace flowscope::agent::l7::l7test {

// One recording of agent/l7/protocols/<protocol>/testdata/.
struct Recording {
  std::string pcap;                 // path of <name>.pcap
  nlohmann::json facts;             // <name>.json; null when it could not be read (a test failure)
  std::set<uint16_t> server_ports;  // the server ports the records name
};
Recording LoadRecording(std::string_view protocol, std::string_view name);

// agent/l7/protocols/<protocol>/testdata/ (with the trailing slash).
std::string TestdataDir(std::string_view protocol);
// The JSON at `path`; null (and a test failure) when it is missing or malformed.
nlohmann::json LoadFacts(const std::string& path);

// "127.0.0.1:6379" → 6379.
uint16_t FactPort(const nlohmann::json& endpoint);
// "1795563328.852358000" → µs since the epoch.
uint64_t FactTimeUs(const nlohmann::json& t);
// A string fact, "" when null.
std::string FactString(const nlohmann::json& v);
// "client>server" of a record, the key of pcap_connections.h.
std::string ConnectionKey(const nlohmann::json& record);

// How many fact records the parsed messages agree with.
class Agreement {
 public:
  void Add(bool ok) {
    ++total_;
    agree_ += ok ? 1 : 0;
  }
  size_t total() const { return total_; }
  size_t agree() const { return agree_; }
  // Expects ≥ 99% agreement and, with `check_count`, a record for every request the facts
  // count; records the figure as the test's "agreement" property and prints it.
  void Finish(const nlohmann::json& facts, std::string_view label, bool check_count = true) const;

 private:
  size_t total_ = 0, agree_ = 0;
};

}  // namespace flowscope::agent::l7::l7test
