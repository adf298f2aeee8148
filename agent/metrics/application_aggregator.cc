#include "agent/metrics/application_aggregator.h"

#include <string>
#include <utility>

#include "agent/metrics/time_series.h"

namespace flowscope::agent {
namespace {

struct AppKey {
  IpAddr ip;
  uint16_t server_port;
  uint8_t protocol;
  L7Protocol l7_protocol;
  std::string endpoint;
  friend bool operator==(const AppKey& a, const AppKey& b) {
    return a.ip == b.ip && a.server_port == b.server_port && a.protocol == b.protocol &&
           a.l7_protocol == b.l7_protocol && a.endpoint == b.endpoint;
  }
  template <typename H>
  friend H AbslHashValue(H h, const AppKey& k) {
    return H::combine(std::move(h), k.ip, k.server_port, k.protocol, k.l7_protocol, k.endpoint);
  }
};

struct AppMapKey {
  IpAddr ip_0, ip_1;
  uint16_t server_port;
  uint8_t protocol;
  L7Protocol l7_protocol;
  std::string endpoint;
  friend bool operator==(const AppMapKey& a, const AppMapKey& b) {
    return a.ip_0 == b.ip_0 && a.ip_1 == b.ip_1 && a.server_port == b.server_port &&
           a.protocol == b.protocol && a.l7_protocol == b.l7_protocol && a.endpoint == b.endpoint;
  }
  template <typename H>
  friend H AbslHashValue(H h, const AppMapKey& k) {
    return H::combine(std::move(h), k.ip_0, k.ip_1, k.server_port, k.protocol, k.l7_protocol,
                      k.endpoint);
  }
};

}  // namespace

class ApplicationAggregator::Impl {
 public:
  Impl(const ApplicationAggregatorConfig& c, AppFn on_app, MapFn on_map)
      : config_(c), on_app_(std::move(on_app)), on_map_(std::move(on_map)) {}

  void Add(const L7FlowLog& r) {
    ++stats_.logs;
    ApplicationMeter m;
    m.Add(r);
    bool on_time = true;
    if (app_.enabled()) {
      on_time &= app_.Add(r.time, AppKey{r.ip_1, r.server_port, r.protocol, r.l7_protocol,
                                         r.endpoint}, m);
    }
    if (map_.enabled()) {
      on_time &= map_.Add(r.time, AppMapKey{r.ip_0, r.ip_1, r.server_port, r.protocol,
                                            r.l7_protocol, r.endpoint}, m);
    }
    if (!on_time) ++stats_.late_logs;
  }

  void Watermark(uint32_t second) {
    auto [a1, a60] = app_.Emit(second, [&](uint32_t t, uint32_t interval, const AppKey& k,
                                           const ApplicationMeter& m) {
      ApplicationRow r;
      r.time = t;
      r.interval = interval;
      r.ip = k.ip;
      r.server_port = k.server_port;
      r.protocol = k.protocol;
      r.l7_protocol = k.l7_protocol;
      r.endpoint = k.endpoint;
      r.agent_id = config_.agent_id;
      r.meter = m;
      on_app_(r);
    });
    auto [m1, m60] = map_.Emit(second, [&](uint32_t t, uint32_t interval, const AppMapKey& k,
                                           const ApplicationMeter& m) {
      ApplicationMapRow r;
      r.time = t;
      r.interval = interval;
      r.ip_0 = k.ip_0;
      r.ip_1 = k.ip_1;
      r.server_port = k.server_port;
      r.protocol = k.protocol;
      r.l7_protocol = k.l7_protocol;
      r.endpoint = k.endpoint;
      r.agent_id = config_.agent_id;
      r.meter = m;
      on_map_(r);
    });
    stats_.rows_1s += a1 + m1;
    stats_.rows_1m += a60 + m60;
  }

  ApplicationAggregatorStats stats_;

 private:
  ApplicationAggregatorConfig config_;
  AppFn on_app_;
  MapFn on_map_;
  Table<AppKey, ApplicationMeter> app_{config_.application_1s, config_.application_1m};
  Table<AppMapKey, ApplicationMeter> map_{config_.application_map_1s, config_.application_map_1m};
};

ApplicationAggregator::ApplicationAggregator(const ApplicationAggregatorConfig& config,
                                             AppFn on_app, MapFn on_map)
    : impl_(std::make_unique<Impl>(config, std::move(on_app), std::move(on_map))) {}
ApplicationAggregator::~ApplicationAggregator() = default;
void ApplicationAggregator::Add(const L7FlowLog& row) { impl_->Add(row); }
void ApplicationAggregator::Watermark(uint32_t second) { impl_->Watermark(second); }
const ApplicationAggregatorStats& ApplicationAggregator::stats() const { return impl_->stats_; }

}  // namespace flowscope::agent
