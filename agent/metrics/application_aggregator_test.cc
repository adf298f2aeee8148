#include "agent/metrics/application_aggregator.h"

#include <gtest/gtest.h>

#include <vector>

namespace flowscope::agent {
namespace {

L7FlowLog Row(uint32_t time, const char* client, const char* endpoint, L7ResponseStatus status,
              uint64_t duration_us, L7LogType type = L7LogType::kSession) {
  L7FlowLog r;
  r.time = time;
  IpAddr::Parse(client, &r.ip_0);
  IpAddr::Parse("10.0.0.9", &r.ip_1);
  r.server_port = 80;
  r.protocol = 6;
  r.l7_protocol = L7Protocol::kHttp1;
  r.endpoint = endpoint;
  r.type = type;
  r.response_status = status;
  r.response_duration = duration_us;
  return r;
}

TEST(ApplicationAggregatorTest, RedPerEndpointAndPath) {
  std::vector<ApplicationRow> app;
  std::vector<ApplicationMapRow> map;
  ApplicationAggregator agg(
      ApplicationAggregatorConfig{}, [&](const ApplicationRow& r) { app.push_back(r); },
      [&](const ApplicationMapRow& r) { map.push_back(r); });
  agg.Add(Row(100, "10.0.0.1", "/api", L7ResponseStatus::kOk, 1000));
  agg.Add(Row(100, "10.0.0.2", "/api", L7ResponseStatus::kServerError, 3000));
  agg.Add(Row(100, "10.0.0.1", "/api", L7ResponseStatus::kClientError, 2000));
  agg.Add(Row(100, "10.0.0.1", "/login", L7ResponseStatus::kTimeout, 0, L7LogType::kRequest));
  agg.Watermark(101);
  ASSERT_EQ(app.size(), 2u);  // /api and /login on the server
  const ApplicationRow& api = app[0].endpoint == "/api" ? app[0] : app[1];
  EXPECT_EQ(api.meter.request, 3u);
  EXPECT_EQ(api.meter.response, 3u);
  EXPECT_EQ(api.meter.server_error, 1u);
  EXPECT_EQ(api.meter.client_error, 1u);
  EXPECT_EQ(api.meter.rrt_count, 3u);
  EXPECT_EQ(api.meter.rrt_sum, 6000u);
  EXPECT_EQ(api.meter.rrt_max, 3000u);
  EXPECT_NEAR(api.meter.rrt_sketch.Quantile(0.5), 2000.0, 20.0);
  const ApplicationRow& login = app[0].endpoint == "/login" ? app[0] : app[1];
  EXPECT_EQ(login.meter.timeout, 1u);
  EXPECT_EQ(login.meter.response, 0u);
  EXPECT_EQ(login.meter.rrt_count, 0u);
  ASSERT_EQ(map.size(), 3u);  // .1 /api, .2 /api, .1 /login
  agg.Flush();
  uint64_t minute_requests = 0;
  for (const auto& r : app) {
    if (r.interval == 60) minute_requests += r.meter.request;
  }
  EXPECT_EQ(minute_requests, 4u);
}

}  // namespace
}  // namespace flowscope::agent
