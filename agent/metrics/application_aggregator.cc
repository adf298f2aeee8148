#include "agent/metrics/application_aggregator.h"

#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "agent/metrics/time_series.h"

namespace flowscope::agent {
namespace {

// The tags of a row, as stored (keys) and as looked up from a request log without copying its
// endpoint (views). Hash and Eq accept both, so a lookup allocates nothing.
// The tags of a row, as stored (keys: S = std::string) and as looked up from a request log
// without copying its strings (views: S = std::string_view). Hash and Eq accept both, so a
// lookup allocates nothing.
template <typename S>
struct AppKeyT {
  IpAddr ip;
  uint16_t server_port;
  uint8_t protocol;
  L7Protocol l7_protocol;
  SignalSource signal_source;
  uint32_t process_id;
  S endpoint;
  S process_kname;
};
using AppKey = AppKeyT<std::string>;
using AppKeyView = AppKeyT<std::string_view>;

template <typename S>
struct AppMapKeyT {
  IpAddr ip_0, ip_1;
  uint16_t server_port;
  uint8_t protocol;
  L7Protocol l7_protocol;
  SignalSource signal_source;
  uint32_t process_id_0, process_id_1;
  S endpoint;
  S process_kname_0, process_kname_1;
};
using AppMapKey = AppMapKeyT<std::string>;
using AppMapKeyView = AppMapKeyT<std::string_view>;

inline absl::string_view AbslView(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view View(const std::string& s) { return s; }
inline std::string_view View(std::string_view s) { return s; }

struct AppKeyHash {
  using is_transparent = void;
  template <typename K>
  size_t operator()(const K& k) const {
    return absl::Hash<std::tuple<IpAddr, uint16_t, uint8_t, L7Protocol, SignalSource, uint32_t,
                                 absl::string_view, absl::string_view>>{}(
        {k.ip, k.server_port, k.protocol, k.l7_protocol, k.signal_source, k.process_id,
         AbslView(k.endpoint), AbslView(k.process_kname)});
  }
};
struct AppKeyEq {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return a.ip == b.ip && a.server_port == b.server_port && a.protocol == b.protocol &&
           a.l7_protocol == b.l7_protocol && a.signal_source == b.signal_source &&
           a.process_id == b.process_id && View(a.endpoint) == View(b.endpoint) &&
           View(a.process_kname) == View(b.process_kname);
  }
};
struct AppMapKeyHash {
  using is_transparent = void;
  template <typename K>
  size_t operator()(const K& k) const {
    return absl::Hash<std::tuple<IpAddr, IpAddr, uint16_t, uint8_t, L7Protocol, SignalSource,
                                 uint32_t, uint32_t, absl::string_view, absl::string_view,
                                 absl::string_view>>{}(
        {k.ip_0, k.ip_1, k.server_port, k.protocol, k.l7_protocol, k.signal_source,
         k.process_id_0, k.process_id_1, AbslView(k.endpoint), AbslView(k.process_kname_0),
         AbslView(k.process_kname_1)});
  }
};
struct AppMapKeyEq {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return a.ip_0 == b.ip_0 && a.ip_1 == b.ip_1 && a.server_port == b.server_port &&
           a.protocol == b.protocol && a.l7_protocol == b.l7_protocol &&
           a.signal_source == b.signal_source && a.process_id_0 == b.process_id_0 &&
           a.process_id_1 == b.process_id_1 && View(a.endpoint) == View(b.endpoint) &&
           View(a.process_kname_0) == View(b.process_kname_0) &&
           View(a.process_kname_1) == View(b.process_kname_1);
  }
};

}  // namespace

class ApplicationAggregator::Impl {
 public:
  Impl(const ApplicationAggregatorConfig& c, AppFn on_app, MapFn on_map)
      : config_(c), on_app_(std::move(on_app)), on_map_(std::move(on_map)) {}

  void Add(const L7FlowLog& r) {
    ++stats_.logs;
    bool on_time = true;
    if (app_.enabled()) {
      const AppKeyView view{r.ip_1,          r.server_port,  r.protocol,
                            r.l7_protocol,   r.signal_source, r.process_id_1,
                            r.endpoint,      r.process_kname_1};
      app_.Upsert(r.time, view,
                  [&] {
                    return AppKey{view.ip,          view.server_port,   view.protocol,
                                  view.l7_protocol, view.signal_source, view.process_id,
                                  std::string(view.endpoint), std::string(view.process_kname)};
                  },
                  &on_time)
          .Add(r);
    }
    if (map_.enabled()) {
      const AppMapKeyView view{r.ip_0,         r.ip_1,          r.server_port,
                               r.protocol,     r.l7_protocol,   r.signal_source,
                               r.process_id_0, r.process_id_1,  r.endpoint,
                               r.process_kname_0, r.process_kname_1};
      map_.Upsert(r.time, view,
                  [&] {
                    return AppMapKey{view.ip_0,
                                     view.ip_1,
                                     view.server_port,
                                     view.protocol,
                                     view.l7_protocol,
                                     view.signal_source,
                                     view.process_id_0,
                                     view.process_id_1,
                                     std::string(view.endpoint),
                                     std::string(view.process_kname_0),
                                     std::string(view.process_kname_1)};
                  },
                  &on_time)
          .Add(r);
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
      r.signal_source = k.signal_source;
      r.process_id = k.process_id;
      r.process_kname = k.process_kname;
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
      r.signal_source = k.signal_source;
      r.process_id_0 = k.process_id_0;
      r.process_id_1 = k.process_id_1;
      r.process_kname_0 = k.process_kname_0;
      r.process_kname_1 = k.process_kname_1;
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
  Table<AppKey, ApplicationMeter, AppKeyHash, AppKeyEq> app_{config_.application_1s, config_.application_1m};
  Table<AppMapKey, ApplicationMeter, AppMapKeyHash, AppMapKeyEq> map_{config_.application_map_1s, config_.application_map_1m};
};

ApplicationAggregator::ApplicationAggregator(const ApplicationAggregatorConfig& config,
                                             AppFn on_app, MapFn on_map)
    : impl_(std::make_unique<Impl>(config, std::move(on_app), std::move(on_map))) {}
ApplicationAggregator::~ApplicationAggregator() = default;
void ApplicationAggregator::Add(const L7FlowLog& row) { impl_->Add(row); }
void ApplicationAggregator::Watermark(uint32_t second) { impl_->Watermark(second); }
const ApplicationAggregatorStats& ApplicationAggregator::stats() const { return impl_->stats_; }

}  // namespace flowscope::agent
