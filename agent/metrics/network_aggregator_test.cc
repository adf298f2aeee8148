#include "agent/metrics/network_aggregator.h"

#include <gtest/gtest.h>

#include <vector>

namespace flowscope::agent {
namespace {

FlowMeterDelta Delta(uint32_t second, const char* c, const char* s, uint64_t tx, uint64_t rx) {
  FlowMeterDelta d;
  d.second = second;
  IpAddr::Parse(c, &d.ip_0);
  IpAddr::Parse(s, &d.ip_1);
  d.server_port = 80;
  d.protocol = 6;
  d.meter.packet_tx = 1;
  d.meter.packet_rx = 1;
  d.meter.byte_tx = tx;
  d.meter.byte_rx = rx;
  return d;
}

struct Collected {
  std::vector<NetworkRow> net;
  std::vector<NetworkMapRow> map;
};

TEST(NetworkAggregatorTest, SumsPerKeyAndRoleAndEmitsAfterWatermark) {
  Collected out;
  AggregatorConfig cfg;
  NetworkAggregator agg(
      cfg, [&](const NetworkRow& r) { out.net.push_back(r); },
      [&](const NetworkMapRow& r) { out.map.push_back(r); });
  agg.Add(Delta(100, "10.0.0.1", "10.0.0.9", 100, 1000));
  agg.Add(Delta(100, "10.0.0.2", "10.0.0.9", 10, 20));
  agg.Add(Delta(101, "10.0.0.1", "10.0.0.9", 5, 6));
  agg.Watermark(100);
  EXPECT_TRUE(out.net.empty());  // second 100 is not over until watermark 101
  agg.Watermark(101);
  // Second 100: client rows for .1 and .2, one server row for .9 with both summed.
  ASSERT_EQ(out.net.size(), 3u);
  ASSERT_EQ(out.map.size(), 2u);
  for (const auto& r : out.net) {
    EXPECT_EQ(r.time, 100u);
    EXPECT_EQ(r.interval, 1u);
    if (r.role == FlowRole::kServer) {
      EXPECT_EQ(r.ip.ToString(), "10.0.0.9");
      EXPECT_EQ(r.meter.byte_tx, 1020u);  // what the server sent
      EXPECT_EQ(r.meter.byte_rx, 110u);
    }
  }
  agg.Flush();
  // Second 101 at 1 s, then the minute [60, 120) with everything.
  uint64_t minute_server_tx = 0;
  int minute_rows = 0;
  for (const auto& r : out.net) {
    if (r.interval == 60) {
      ++minute_rows;
      EXPECT_EQ(r.time, 60u);
      if (r.role == FlowRole::kServer) minute_server_tx += r.meter.byte_tx;
    }
  }
  EXPECT_EQ(minute_rows, 3);
  EXPECT_EQ(minute_server_tx, 1026u);
  EXPECT_EQ(agg.stats().late_deltas, 0u);
}

TEST(NetworkAggregatorTest, LateDeltaIsCountedAndNotLost) {
  std::vector<NetworkMapRow> map;
  AggregatorConfig cfg;
  cfg.network_1s = cfg.network_1m = cfg.network_map_1m = false;
  NetworkAggregator agg(cfg, [](const NetworkRow&) {}, [&](const NetworkMapRow& r) { map.push_back(r); });
  agg.Add(Delta(200, "10.0.0.1", "10.0.0.9", 1, 1));
  agg.Watermark(201);
  agg.Add(Delta(200, "10.0.0.1", "10.0.0.9", 7, 7));  // too late for second 200
  agg.Flush();
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map[1].time, 201u);
  EXPECT_EQ(map[1].meter.byte_tx, 7u);
  EXPECT_EQ(agg.stats().late_deltas, 1u);
}

}  // namespace
}  // namespace flowscope::agent
