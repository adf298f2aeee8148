#include "agent/l7/engine.h"

#include <algorithm>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "agent/l7/registry.h"

namespace flowscope::agent::l7 {
namespace {

constexpr uint64_t kNsPerUs = 1000;
constexpr uint64_t kNsPerSec = 1'000'000'000;

inline bool SeqLt(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }

// One direction of a flow's byte stream.
struct DirStream {
  std::string buf;         // start of a message that needed more bytes (≤ max_parse_bytes)
  uint64_t buf_ts = 0;     // when buf[0] was seen
  uint32_t buf_seq = 0;
  PayloadMeta buf_meta;    // of the payload that brought buf[0]
  uint64_t skip = 0;       // bytes of the current message still to drop
  bool to_boundary = false;  // dropping bytes until the parser finds a message start
  bool seq_known = false;
  uint32_t next_seq = 0;
};

// Requests awaiting their response, oldest first: a ring over a vector that keeps its capacity
// (usually one slot), so a request costs no allocation once the flow has seen its first one.
// (std::deque allocates a whole node per 496-byte message and ~0.6 KB when constructed.)
class PendingQueue {
 public:
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  L7Message& front() { return slots_[head_]; }
  void push_back(L7Message&& m) {
    if (size_ == slots_.size()) Grow();
    slots_[(head_ + size_) % slots_.size()] = std::move(m);
    ++size_;
  }
  // The slot is left as it is: Emit moved its strings out, and the next push overwrites it.
  void pop_front() {
    head_ = (head_ + 1) % slots_.size();
    --size_;
  }
  template <typename Fn>
  void ForEach(Fn&& fn) {
    for (size_t i = 0; i < size_; ++i) fn(slots_[(head_ + i) % slots_.size()]);
  }
  void clear() {
    slots_.clear();
    head_ = size_ = 0;
  }

 private:
  void Grow() {
    std::vector<L7Message> bigger(std::max<size_t>(1, slots_.size() * 2));
    for (size_t i = 0; i < size_; ++i) bigger[i] = std::move(slots_[(head_ + i) % slots_.size()]);
    slots_ = std::move(bigger);
    head_ = 0;
  }
  std::vector<L7Message> slots_;
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace

class FlowL7State {
 public:
  const ProtocolSpec* spec = nullptr;
  std::unique_ptr<Parser> parser;
  bool given_up = false;
  uint32_t attempts = 0;
  DirStream dir[2];
  PendingQueue pending;                                  // in order (no pair id)
  absl::flat_hash_map<uint64_t, L7Message> pending_by_id;  // by pair id
  uint64_t oldest_by_id_ns = UINT64_MAX;                 // lower bound of pending_by_id times
  L7FlowCounters counters;
};

void FlowL7StateDeleter::operator()(FlowL7State* state) const { delete state; }

L7Engine::L7Engine(const L7Config& config, L7Sink* sink) : config_(config), sink_(sink) {
  for (const ProtocolSpec* p : AllProtocols()) {
    if (config_.enabled_protocols.empty() ||
        std::find(config_.enabled_protocols.begin(), config_.enabled_protocols.end(),
                  std::string(p->name)) != config_.enabled_protocols.end()) {
      enabled_.push_back(p);
    }
  }
}

L7Engine::L7Engine(const L7Config& config, L7Sink* sink,
                   std::vector<const ProtocolSpec*> protocols)
    : config_(config), sink_(sink), enabled_(std::move(protocols)) {}

L7Engine::~L7Engine() = default;

L7Protocol L7Engine::ProtocolOf(const FlowL7State* st) {
  return st && st->spec ? st->spec->id : L7Protocol::kUnknown;
}

bool L7Engine::Infer(FlowL7State* st, const FlowInfo& flow, Direction dir,
                     std::string_view data) {
  const bool udp = flow.protocol == kIpProtoUdp;
  InferInput in{dir, data, udp, flow.server_port};
  auto ports_of = [this](const ProtocolSpec* p) -> const std::vector<uint16_t>& {
    auto it = config_.port_hints.find(std::string(p->name));
    return it != config_.port_hints.end() ? it->second : p->default_ports;
  };
  auto usable = [udp](const ProtocolSpec* p) {
    return (udp ? p->over_udp : p->over_tcp) && p->infer != nullptr && p->make_parser != nullptr;
  };
  // Protocols whose port hint names the server port go first; then every other one in order.
  const ProtocolSpec* found = nullptr;
  for (int pass = 0; pass < 2 && found == nullptr; ++pass) {
    for (const ProtocolSpec* p : enabled_) {
      if (!usable(p)) continue;
      const auto& ports = ports_of(p);
      const bool hinted =
          std::find(ports.begin(), ports.end(), flow.server_port) != ports.end();
      if (hinted != (pass == 0)) continue;
      if (p->infer(in) == InferResult::kYes) {
        found = p;
        break;
      }
    }
  }
  if (found == nullptr) {
    if (++st->attempts >= config_.max_inference_attempts) {
      st->given_up = true;
      ++stats_.flows_unknown;
    }
    return false;
  }
  st->spec = found;
  st->parser = found->make_parser(config_);
  ++stats_.flows_inferred;
  return true;
}

void L7Engine::OnPayload(FlowL7StatePtr* state, const FlowInfo& flow,
                         Direction dir, uint64_t ts, bool has_seq, uint32_t seq,
                         std::string_view data, uint32_t wire_len, const PayloadMeta* meta) {
  ++stats_.payloads;
  stats_.bytes += data.size();
  if (*state == nullptr) state->reset(new FlowL7State());
  FlowL7State* st = state->get();
  if (st->given_up || data.empty()) return;
  DirStream& ds = st->dir[static_cast<int>(dir)];

  // TCP sequence: drop what was already seen, resynchronise after what was never seen.
  if (has_seq && flow.protocol == kIpProtoTcp) {
    if (ds.seq_known && seq != ds.next_seq) {
      if (SeqLt(seq, ds.next_seq)) {
        const uint32_t dup = ds.next_seq - seq;
        if (dup >= data.size()) {
          stats_.retransmitted_bytes += data.size();
          return;
        }
        stats_.retransmitted_bytes += dup;
        data.remove_prefix(dup);
        seq += dup;
        wire_len = wire_len > dup ? wire_len - dup : 0;
      } else {
        ++stats_.gaps;
        ds.buf.clear();
        ds.skip = 0;
        if (st->parser != nullptr && !ds.to_boundary) ++stats_.resyncs;
        ds.to_boundary = st->parser != nullptr;
      }
    }
    ds.seq_known = true;
    ds.next_seq = seq + std::max<uint32_t>(wire_len, static_cast<uint32_t>(data.size()));
  }

  if (st->parser == nullptr) {
    if (!Infer(st, flow, dir, data)) return;
  }
  Feed(st, flow, dir, ts, seq, data, meta != nullptr ? *meta : PayloadMeta{});
  if (wire_len > data.size()) {
    // The capture cut this payload: what follows in the stream is unknown ground.
    ++stats_.truncated;
    ds.buf.clear();
    ds.skip = 0;
    if (!ds.to_boundary) ++stats_.resyncs;
    ds.to_boundary = true;
  }
  Expire(st, flow, ts);
}

void L7Engine::Feed(FlowL7State* st, const FlowInfo& flow, Direction dir, uint64_t ts,
                    uint32_t seq, std::string_view data, const PayloadMeta& meta) {
  DirStream& ds = st->dir[static_cast<int>(dir)];
  const bool udp = flow.protocol == kIpProtoUdp;
  const size_t max = config_.max_parse_bytes;
  if (udp) {
    // A datagram is one whole message: no reassembly, no skipping across datagrams.
    L7Message msg;
    ParseResult r =
        st->parser->Parse(ParseInput{dir, data.substr(0, max), true, true, ts}, &msg);
    if (r.state == ParseState::kOk) {
      if (msg.timestamp_ns == 0) msg.timestamp_ns = ts;
      msg.syscall_trace_id = meta.syscall_trace_id;
      msg.syscall_thread = meta.thread_id;
      Deliver(st, flow, std::move(msg));
    } else {
      ++stats_.invalid;
    }
    return;
  }
  while (!data.empty()) {
    if (ds.skip > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(ds.skip, data.size()));
      ds.skip -= n;
      stats_.skipped_bytes += n;
      data.remove_prefix(n);
      seq += static_cast<uint32_t>(n);
      continue;
    }
    if (ds.to_boundary) {
      const size_t off = std::min(st->parser->FindBoundary(dir, data), data.size());
      stats_.skipped_bytes += off;
      data.remove_prefix(off);
      seq += static_cast<uint32_t>(off);
      if (data.empty()) return;
      ds.to_boundary = false;
    }
    const bool buffered = !ds.buf.empty();
    size_t appended = 0;
    std::string_view view;
    if (buffered) {
      appended = std::min(data.size(), max - std::min(max, ds.buf.size()));
      ds.buf.append(data.data(), appended);
      view = ds.buf;
    } else {
      view = data.substr(0, max);
    }
    const bool at_limit = view.size() >= max;
    L7Message msg;
    ParseResult r = st->parser->Parse(
        ParseInput{dir, view, at_limit, false, buffered ? ds.buf_ts : ts}, &msg);
    if (r.state == ParseState::kNeedMore && !at_limit) {
      if (buffered) {
        data.remove_prefix(appended);
        seq += static_cast<uint32_t>(appended);
      } else {
        ds.buf.assign(view.data(), view.size());
        ds.buf_ts = ts;
        ds.buf_seq = seq;
        ds.buf_meta = meta;
        data = {};
      }
      continue;
    }
    if (r.state != ParseState::kOk || r.consumed == 0) {
      // Not a message (or a parser that wants more than the bound allows): drop the pending
      // start and look for the next boundary in what follows.
      ++stats_.invalid;
      ++stats_.resyncs;
      if (buffered) {
        ds.buf.clear();
        data.remove_prefix(appended);
        seq += static_cast<uint32_t>(appended);
      } else {
        data.remove_prefix(1);
        seq += 1;
      }
      ds.to_boundary = true;
      continue;
    }
    const size_t consumed = std::min<size_t>(r.consumed, view.size());
    if (msg.timestamp_ns == 0) msg.timestamp_ns = buffered ? ds.buf_ts : ts;
    msg.tcp_seq = buffered ? ds.buf_seq : seq;
    const PayloadMeta& first_meta = buffered ? ds.buf_meta : meta;
    msg.syscall_trace_id = first_meta.syscall_trace_id;
    msg.syscall_thread = first_meta.thread_id;
    if (buffered) {
      const size_t old = ds.buf.size() - appended;
      if (consumed >= old) {
        const size_t from_data = consumed - old;
        data.remove_prefix(from_data);
        seq += static_cast<uint32_t>(from_data);
        ds.buf.clear();
      } else {
        // The message ended inside the bytes buffered before: keep their rest as the next
        // message's start and offer `data` again after it.
        ds.buf.erase(0, consumed);
        ds.buf.resize(old - consumed);
        ds.buf_seq += static_cast<uint32_t>(consumed);
      }
    } else {
      data.remove_prefix(consumed);
      seq += static_cast<uint32_t>(consumed);
    }
    if (r.skip == kSkipToBoundary) {
      ds.to_boundary = true;
    } else {
      ds.skip = r.skip;
    }
    Deliver(st, flow, std::move(msg));
  }
}

void L7Engine::Deliver(FlowL7State* st, const FlowInfo& flow, L7Message&& msg) {
  if (msg.ignore) return;
  if (msg.protocol == L7Protocol::kUnknown) msg.protocol = st->spec->id;
  const uint64_t now = msg.timestamp_ns;
  if (msg.is_request) {
    ++stats_.requests;
    if (!msg.expects_response) {
      ++stats_.one_way;
      Emit(st, flow, &msg, nullptr, L7LogType::kRequest, L7ResponseStatus::kOk, now);
      return;
    }
    if (msg.has_pair_id) {
      auto [it, inserted] = st->pending_by_id.try_emplace(msg.pair_id);
      if (!inserted) {
        // The same id again before an answer: the earlier request went unanswered.
        ++stats_.timeouts;
        Emit(st, flow, &it->second, nullptr, L7LogType::kRequest, L7ResponseStatus::kTimeout, now);
      }
      st->oldest_by_id_ns = std::min(st->oldest_by_id_ns, now);
      it->second = std::move(msg);
    } else {
      st->pending.push_back(std::move(msg));
    }
    while (st->pending.size() + st->pending_by_id.size() > config_.max_pending_requests &&
           !st->pending.empty()) {
      ++stats_.pending_overflow;
      ++stats_.timeouts;
      Emit(st, flow, &st->pending.front(), nullptr, L7LogType::kRequest, L7ResponseStatus::kTimeout,
           now);
      st->pending.pop_front();
    }
    return;
  }
  ++stats_.responses;
  if (msg.has_pair_id) {
    auto it = st->pending_by_id.find(msg.pair_id);
    if (it != st->pending_by_id.end()) {
      st->parser->OnPaired(it->second, &msg);
      Emit(st, flow, &it->second, &msg, L7LogType::kSession, msg.status, now);
      st->pending_by_id.erase(it);
      return;
    }
  } else if (!st->pending.empty()) {
    st->parser->OnPaired(st->pending.front(), &msg);
    Emit(st, flow, &st->pending.front(), &msg, L7LogType::kSession, msg.status, now);
    st->pending.pop_front();
    return;
  }
  ++stats_.orphan_responses;
  Emit(st, flow, nullptr, &msg, L7LogType::kResponse, msg.status, now);
}

void L7Engine::Expire(FlowL7State* st, const FlowInfo& flow, uint64_t now) {
  if (st == nullptr) return;
  const uint64_t limit = config_.request_timeout_ns;
  while (!st->pending.empty() && st->pending.front().timestamp_ns + limit <= now) {
    ++stats_.timeouts;
    Emit(st, flow, &st->pending.front(), nullptr, L7LogType::kRequest, L7ResponseStatus::kTimeout,
         now);
    st->pending.pop_front();
  }
  if (!st->pending_by_id.empty() && st->oldest_by_id_ns + limit <= now) {
    uint64_t oldest = UINT64_MAX;
    for (auto it = st->pending_by_id.begin(); it != st->pending_by_id.end();) {
      if (it->second.timestamp_ns + limit <= now) {
        ++stats_.timeouts;
        Emit(st, flow, &it->second, nullptr, L7LogType::kRequest, L7ResponseStatus::kTimeout, now);
        st->pending_by_id.erase(it++);
      } else {
        oldest = std::min(oldest, it->second.timestamp_ns);
        ++it;
      }
    }
    st->oldest_by_id_ns = oldest;
  }
}

void L7Engine::OnFlowEnd(FlowL7StatePtr* state, const FlowInfo& flow,
                         uint64_t now) {
  FlowL7State* st = state->get();
  if (st == nullptr) return;
  st->pending.ForEach([&](L7Message& req) {
    ++stats_.timeouts;
    Emit(st, flow, &req, nullptr, L7LogType::kRequest, L7ResponseStatus::kTimeout, now);
  });
  for (auto& [id, req] : st->pending_by_id) {
    ++stats_.timeouts;
    Emit(st, flow, &req, nullptr, L7LogType::kRequest, L7ResponseStatus::kTimeout, now);
  }
  st->pending.clear();
  st->pending_by_id.clear();
  if (st->parser != nullptr) {
    std::map<std::string, uint64_t> counters;
    st->parser->TakeCounters(&counters);
    for (const auto& [name, n] : counters) {
      if (n != 0) stats_.parser_counters[std::string(st->spec->name) + "." + name] += n;
    }
  }
  st->given_up = true;  // nothing more will be parsed for this flow
}

L7FlowCounters L7Engine::TakeCounters(FlowL7State* st) {
  if (st == nullptr) return {};
  L7FlowCounters c = st->counters;
  st->counters = {};
  return c;
}

// The messages are spent: their strings move into the row.
void L7Engine::Emit(FlowL7State* st, const FlowInfo& flow, L7Message* req, L7Message* resp,
                    L7LogType type, L7ResponseStatus status, uint64_t now) {
  L7FlowLog r;
  r.flow_id = flow.flow_id;
  r.ip_0 = flow.ip_0;
  r.ip_1 = flow.ip_1;
  r.client_port = flow.client_port;
  r.server_port = flow.server_port;
  r.protocol = flow.protocol;
  r.signal_source = flow.signal_source;
  r.agent_id = flow.agent_id;
  r.capture_nic = std::string(flow.capture_nic);
  r.is_tls = flow.is_tls;
  r.process_id_0 = flow.process_id_0;
  r.process_id_1 = flow.process_id_1;
  if (!flow.process_kname_0.empty()) r.process_kname_0 = std::string(flow.process_kname_0);
  if (!flow.process_kname_1.empty()) r.process_kname_1 = std::string(flow.process_kname_1);
  r.type = type;
  r.response_status = status;
  const L7Message* first = req ? req : resp;
  r.l7_protocol = first->protocol;
  r.start_time = first->timestamp_ns / kNsPerUs;
  r.end_time = (resp ? resp->timestamp_ns : first->timestamp_ns) / kNsPerUs;
  // A timeout is reported when it is noticed; its row belongs to that time.
  r.time = static_cast<uint32_t>(
      (status == L7ResponseStatus::kTimeout ? now : r.end_time * kNsPerUs) / kNsPerSec);
  if (req && resp && resp->timestamp_ns >= req->timestamp_ns) {
    r.response_duration = (resp->timestamp_ns - req->timestamp_ns) / kNsPerUs;
  }
  if (req) {
    r.version = std::move(req->version);
    r.request_type = std::move(req->request_type);
    r.request_domain = std::move(req->request_domain);
    r.request_resource = std::move(req->request_resource);
    r.endpoint = std::move(req->endpoint);
    r.has_request_id = req->has_request_id;
    r.request_id = req->request_id;
    r.request_length = req->length;
    r.req_tcp_seq = req->tcp_seq;
    r.syscall_trace_id_request = req->syscall_trace_id;
    r.syscall_thread_0 = req->syscall_thread;
    r.trace_id = std::move(req->trace.trace_id);
    r.span_id = std::move(req->trace.span_id);
    r.parent_span_id = std::move(req->trace.parent_span_id);
    r.x_request_id_0 = std::move(req->trace.x_request_id);
    r.http_proxy_client = std::move(req->trace.http_proxy_client);
    r.attributes = std::move(req->attributes);
  }
  if (resp) {
    if (r.version.empty()) r.version = std::move(resp->version);
    if (!req) {
      r.request_type = std::move(resp->request_type);
      r.request_resource = std::move(resp->request_resource);
      r.endpoint = std::move(resp->endpoint);
    }
    if (!r.has_request_id && resp->has_request_id) {
      r.has_request_id = true;
      r.request_id = resp->request_id;
    }
    r.has_response_code = resp->has_code;
    r.response_code = resp->code;
    r.response_exception = std::move(resp->exception);
    r.response_result = std::move(resp->result);
    r.response_length = resp->length;
    r.has_sql_affected_rows = resp->has_affected_rows;
    r.sql_affected_rows = resp->affected_rows;
    r.resp_tcp_seq = resp->tcp_seq;
    r.syscall_trace_id_response = resp->syscall_trace_id;
    r.syscall_thread_1 = resp->syscall_thread;
    r.x_request_id_1 = std::move(resp->trace.x_request_id);
    if (r.trace_id.empty()) r.trace_id = std::move(resp->trace.trace_id);
    if (r.span_id.empty()) r.span_id = std::move(resp->trace.span_id);
    if (r.attributes.empty()) {
      r.attributes = std::move(resp->attributes);
    } else {
      r.attributes.insert(r.attributes.end(), std::make_move_iterator(resp->attributes.begin()),
                          std::make_move_iterator(resp->attributes.end()));
    }
  }
  L7FlowCounters& c = st->counters;
  if (req) ++c.request;
  if (resp) ++c.response;
  if (status == L7ResponseStatus::kClientError) ++c.client_error;
  if (status == L7ResponseStatus::kServerError) ++c.server_error;
  if (status == L7ResponseStatus::kTimeout) ++c.timeout;
  if (req && resp) {
    c.rrt_sum += r.response_duration;
    ++c.rrt_count;
    c.rrt_max = std::max<uint32_t>(c.rrt_max, static_cast<uint32_t>(std::min<uint64_t>(
                                                  r.response_duration, UINT32_MAX)));
  }
  ++stats_.logs;
  sink_->OnL7Log(r);
}

}  // namespace flowscope::agent::l7
