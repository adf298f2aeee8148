#include "agent/l7/testing/facts.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace flowscope::agent::l7::l7test {

std::string TestdataDir(std::string_view protocol) {
  return std::string(FS_SOURCE_DIR "/agent/l7/protocols/") + std::string(protocol) + "/testdata/";
}

nlohmann::json LoadFacts(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << path;
  nlohmann::json j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
  EXPECT_TRUE(j.is_object()) << path << ": not a JSON object";
  return j.is_object() ? j : nlohmann::json();
}

Recording LoadRecording(std::string_view protocol, std::string_view name) {
  Recording r;
  const std::string base = TestdataDir(protocol) + std::string(name);
  r.pcap = base + ".pcap";
  r.facts = LoadFacts(base + ".json");
  if (r.facts.is_object() && r.facts.contains("records")) {
    for (const auto& rec : r.facts["records"]) r.server_ports.insert(FactPort(rec["server"]));
  }
  return r;
}

uint16_t FactPort(const nlohmann::json& endpoint) {
  const std::string s = endpoint.get<std::string>();
  return static_cast<uint16_t>(std::stoul(s.substr(s.rfind(':') + 1)));
}

uint64_t FactTimeUs(const nlohmann::json& t) {
  const std::string s = t.get<std::string>();
  const size_t dot = s.find('.');
  return std::stoull(s.substr(0, dot)) * 1'000'000 + std::stoull(s.substr(dot + 1, 6));
}

std::string FactString(const nlohmann::json& v) {
  return v.is_null() ? std::string() : v.get<std::string>();
}

std::string ConnectionKey(const nlohmann::json& record) {
  return record["client"].get<std::string>() + ">" + record["server"].get<std::string>();
}

void Agreement::Finish(const nlohmann::json& facts, std::string_view label,
                       bool check_count) const {
  if (check_count) {
    EXPECT_EQ(total_, facts["counts"]["requests"].get<size_t>());
  }
  EXPECT_GE(agree_ * 100, total_ * 99) << agree_ << "/" << total_;
  ::testing::Test::RecordProperty("agreement",
                                  std::to_string(agree_) + "/" + std::to_string(total_));
  std::printf("[ pcap     ] %.*s: %zu/%zu requests agree with tshark\n",
              static_cast<int>(label.size()), label.data(), agree_, total_);
}

}  // namespace flowscope::agent::l7::l7test
