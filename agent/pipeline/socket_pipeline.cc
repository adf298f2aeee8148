#include "agent/pipeline/socket_pipeline.h"

#include <algorithm>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/hash/hash.h"

namespace flowscope::agent {
namespace {

using ebpf::Direction;
using ebpf::SocketEvent;
using ebpf::SocketEventKind;
using ebpf::SocketRole;

constexpr uint64_t kNsPerSec = 1'000'000'000;
// DeepFlow's eBPF flow ids: (ebpf type << 48) | socket id (48 bits). Types: 1 syscall
// tracepoints, 2 TLS uprobes.
constexpr uint64_t kEbpfTypeSyscall = 1;
constexpr uint64_t kEbpfTypeTls = 2;
constexpr uint64_t kSocketIdMask = (uint64_t{1} << 48) - 1;

// A stream of bytes the engine follows: a socket's syscall bytes, or its TLS plaintext; for
// unconnected UDP sockets, one per peer (a DNS server answers everybody on one socket).
struct StreamKey {
  uint64_t socket_id = 0;
  bool tls = false;
  IpAddr peer;  // UDP only
  uint16_t peer_port = 0;
  friend bool operator==(const StreamKey&, const StreamKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const StreamKey& k) {
    return H::combine(std::move(h), k.socket_id, k.tls, k.peer, k.peer_port);
  }
};

// A connection as both its ends see it: client address and port, server address and port.
struct ConnKey {
  IpAddr client, server;
  uint16_t client_port = 0, server_port = 0;
  uint8_t protocol = 0;
  friend bool operator==(const ConnKey&, const ConnKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const ConnKey& k) {
    return H::combine(std::move(h), k.client, k.server, k.client_port, k.server_port,
                      k.protocol);
  }
};

// The traced processes at the ends of a connection of this host (index 0 client, 1 server).
struct ConnEnds {
  uint32_t pid[2] = {0, 0};
  std::string name[2];
  uint32_t refs = 0;  // streams pointing here
};

struct Stream {
  l7::FlowInfo flow;
  l7::FlowL7StatePtr l7;
  ConnKey conn;
  ConnEnds* ends = nullptr;  // in conns_ (a node map: stable)
  int side = 0;  // 0: this process is the client, 1: the server
  uint32_t pid = 0;
  std::string process_name;
  uint64_t last_ns = 0;
};

}  // namespace

class SocketPipeline::Impl final : public l7::L7Sink {
 public:
  Impl(const SocketPipelineConfig& config, RecordSink* sink)
      : config_(config),
        sink_(sink),
        app_(
            [&] {
              ApplicationAggregatorConfig c = config.application;
              c.agent_id = config.agent_id;
              return c;
            }(),
            [sink](const ApplicationRow& r) { sink->OnApplication(r); },
            [sink](const ApplicationMapRow& r) { sink->OnApplicationMap(r); }),
        engine_(config.l7, this) {}

  void OnEvent(const SocketEvent& e) {
    ++stats_.events;
    switch (e.kind) {
      case SocketEventKind::kOpen:
        ++stats_.open_events;
        return;  // a stream starts with its first bytes
      case SocketEventKind::kClose:
        ++stats_.close_events;
        CloseSocket(e.socket_id, e.ts_ns);
        return;
      case SocketEventKind::kData:
        break;
    }
    ++stats_.data_events;
    if (e.is_tls) ++stats_.tls_plaintext;
    if (e.socket_id == 0) {
      ++stats_.tls_unattributed;  // no socket: no tuple to name the flow by
      return;
    }
    if (e.data.empty()) return;
    Stream* s = Find(e);
    if (s == nullptr) return;
    s->last_ns = e.ts_ns;
    const bool client_side = s->side == 0;
    const bool egress = e.direction == Direction::kEgress;
    const l7::Direction dir = (egress == client_side) ? l7::Direction::kClientToServer
                                                      : l7::Direction::kServerToClient;
    const uint32_t wire = std::max<uint32_t>(e.msg_len, static_cast<uint32_t>(e.data.size()));
    if (wire > e.data.size()) ++stats_.truncated;
    stats_.bytes += e.data.size();
    const l7::PayloadMeta meta{e.syscall_trace_id, e.tid};
    const bool has_seq = e.tcp_seq_valid && !e.is_tls;
    NameEnds(s);
    engine_.OnPayload(&s->l7, s->flow, dir, e.ts_ns, has_seq, e.tcp_seq, e.data, wire, &meta);
  }

  void Tick(uint64_t now_ns) {
    if (now_ns >= next_sweep_ns_) {
      next_sweep_ns_ = now_ns + kNsPerSec;
      std::vector<StreamKey> idle;
      for (auto& [key, s] : streams_) {
        if (s.last_ns + config_.idle_timeout_ns <= now_ns) {
          idle.push_back(key);
        } else if (s.l7 != nullptr) {
          NameEnds(&s);
          engine_.Expire(s.l7.get(), s.flow, now_ns);
        }
      }
      for (const StreamKey& k : idle) {
        ++stats_.sockets_idle;
        End(k, now_ns);
      }
    }
    // Rows of a second are complete once events of two seconds later arrive (ring-buffer
    // readers see CPUs' records slightly out of order).
    const uint64_t sec = now_ns / kNsPerSec;
    if (sec > 2) app_.Watermark(static_cast<uint32_t>(sec - 2));
  }

  void Finish(uint64_t now_ns) {
    std::vector<StreamKey> all;
    all.reserve(streams_.size());
    for (const auto& [key, s] : streams_) all.push_back(key);
    for (const StreamKey& k : all) End(k, now_ns);
    app_.Flush();
  }

  SocketPipelineStats Stats() const {
    SocketPipelineStats s = stats_;
    s.sockets = streams_.size();
    s.application = app_.stats();
    s.l7 = engine_.stats();
    return s;
  }

  void OnL7Log(const L7FlowLog& row) override {
    app_.Add(row);
    sink_->OnL7Log(row);
  }

 private:
  Stream* Find(const SocketEvent& e) {
    StreamKey key{e.socket_id, e.is_tls, {}, 0};
    if (e.l4_protocol == kIpProtoUdp) {
      key.peer = e.remote_ip;
      key.peer_port = e.remote_port;
    }
    auto it = streams_.find(key);
    if (it != streams_.end()) return &it->second;
    if (streams_.size() >= config_.max_sockets) {
      ++stats_.sockets_dropped;
      return nullptr;
    }
    ++stats_.sockets_created;
    Stream& s = streams_[key];
    // Which end is the client: the tracer's role (connect/accept, or inferred from ports);
    // unknown → this process is taken for the client.
    s.side = e.role == SocketRole::kServer ? 1 : 0;
    l7::FlowInfo& f = s.flow;
    f.flow_id = ((e.is_tls ? kEbpfTypeTls : kEbpfTypeSyscall) << 48) |
                (e.socket_id & kSocketIdMask);
    if (s.side == 0) {
      f.ip_0 = e.local_ip;
      f.client_port = e.local_port;
      f.ip_1 = e.remote_ip;
      f.server_port = e.remote_port;
    } else {
      f.ip_0 = e.remote_ip;
      f.client_port = e.remote_port;
      f.ip_1 = e.local_ip;
      f.server_port = e.local_port;
    }
    f.protocol = e.l4_protocol;
    f.signal_source = SignalSource::kEbpf;
    f.agent_id = config_.agent_id;
    f.is_tls = e.is_tls;
    s.pid = e.pid;
    if (config_.process_name) s.process_name = config_.process_name(e.pid);
    if (s.process_name.empty()) s.process_name = std::string(e.comm);
    s.conn = ConnKey{f.ip_0, f.ip_1, f.client_port, f.server_port, f.protocol};
    ConnEnds& ends = conns_[s.conn];
    ++ends.refs;
    ends.pid[s.side] = s.pid;
    ends.name[s.side] = s.process_name;
    s.ends = &ends;
    return &s;
  }

  // The rows of a stream name its process and, when the other end is a traced socket of this
  // host (loopback, or two containers of one host), that process too.
  void NameEnds(Stream* s) {
    l7::FlowInfo& f = s->flow;
    const ConnEnds& e = *s->ends;
    if (f.process_id_0 == 0 && e.pid[0] != 0) {
      f.process_id_0 = e.pid[0];
      f.process_kname_0 = e.name[0];
      if (s->side == 1) ++stats_.local_peers;
    }
    if (f.process_id_1 == 0 && e.pid[1] != 0) {
      f.process_id_1 = e.pid[1];
      f.process_kname_1 = e.name[1];
      if (s->side == 0) ++stats_.local_peers;
    }
  }

  void CloseSocket(uint64_t socket_id, uint64_t now_ns) {
    if (socket_id == 0) return;
    bool any = false;
    // The syscall stream and the TLS one; UDP per-peer streams are few and short-lived: they
    // end by idleness.
    for (bool tls : {false, true}) {
      StreamKey k{socket_id, tls, {}, 0};
      if (streams_.contains(k)) {
        End(k, now_ns);
        any = true;
      }
    }
    if (any) ++stats_.sockets_closed;
  }

  void End(const StreamKey& key, uint64_t now_ns) {
    auto it = streams_.find(key);
    if (it == streams_.end()) return;
    Stream& s = it->second;
    if (s.l7 != nullptr) {
      NameEnds(&s);
      engine_.OnFlowEnd(&s.l7, s.flow, now_ns);
    }
    auto c = conns_.find(s.conn);
    if (c != conns_.end() && --c->second.refs == 0) conns_.erase(c);
    streams_.erase(it);
  }

  SocketPipelineConfig config_;
  RecordSink* sink_;
  ApplicationAggregator app_;
  l7::L7Engine engine_;
  absl::flat_hash_map<StreamKey, Stream> streams_;
  absl::node_hash_map<ConnKey, ConnEnds> conns_;
  uint64_t next_sweep_ns_ = 0;
  SocketPipelineStats stats_;
};

SocketPipeline::SocketPipeline(const SocketPipelineConfig& config, RecordSink* sink)
    : impl_(std::make_unique<Impl>(config, sink)) {}
SocketPipeline::~SocketPipeline() = default;
void SocketPipeline::OnEvent(const ebpf::SocketEvent& event) { impl_->OnEvent(event); }
void SocketPipeline::Tick(uint64_t now_ns) { impl_->Tick(now_ns); }
void SocketPipeline::Finish(uint64_t now_ns) { impl_->Finish(now_ns); }
SocketPipelineStats SocketPipeline::Stats() const { return impl_->Stats(); }

}  // namespace flowscope::agent
