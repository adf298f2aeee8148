// L7Engine: from the byte streams of flows to request logs. Bytes may come from packets or from
// syscalls; the engine only sees (flow, direction, time, optional TCP sequence, bytes).
//
// Per flow it infers the protocol (content first, the server port only to choose what to try
// first, a bounded number of payloads before giving up), reassembles each direction up to
// `max_parse_bytes` per message, drops the rest of long messages without buffering them,
// resynchronises after sequence gaps and garbage, pairs requests with responses (by the
// parser's pair id when the protocol multiplexes, in order otherwise), and turns pairs,
// lone requests (timeouts) and lone responses into L7FlowLog rows. Everything it drops or
// cannot parse is counted in L7Stats.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/l7/l7_config.h"
#include "agent/l7/parser.h"
#include "common/records/l7_flow_log.h"

namespace flowscope::agent::l7 {

// The flow a payload belongs to, as rows will name it. `_0` is the client.
struct FlowInfo {
  uint64_t flow_id = 0;
  IpAddr ip_0, ip_1;
  uint16_t client_port = 0, server_port = 0;
  uint8_t protocol = 0;  // IP protocol: 6 or 17
  SignalSource signal_source = SignalSource::kPacket;
  uint16_t agent_id = 0;
  std::string_view capture_nic;
  bool is_tls = false;  // plaintext of a TLS session (uprobes)
  // Processes at the client (_0) and server (_1) end, when a syscall source knows them.
  uint32_t process_id_0 = 0, process_id_1 = 0;
  std::string_view process_kname_0, process_kname_1;
};

// What a syscall source knows about a payload beyond its bytes (eBPF socket events).
struct PayloadMeta {
  uint64_t syscall_trace_id = 0;
  uint32_t thread_id = 0;
};

struct L7Stats {
  uint64_t payloads = 0;
  uint64_t bytes = 0;
  uint64_t flows_inferred = 0;
  uint64_t flows_unknown = 0;       // gave up after max_inference_attempts
  uint64_t requests = 0;
  uint64_t responses = 0;
  uint64_t one_way = 0;             // requests that expect no response
  uint64_t logs = 0;                // rows emitted
  uint64_t timeouts = 0;            // requests without response
  uint64_t orphan_responses = 0;    // responses without request
  uint64_t invalid = 0;             // parser said kInvalid
  uint64_t resyncs = 0;             // boundary searches started (after invalid or a gap)
  uint64_t gaps = 0;                // TCP sequence gaps (lost or uncaptured bytes)
  uint64_t truncated = 0;           // payloads cut by the capture length
  uint64_t retransmitted_bytes = 0; // bytes seen twice, dropped
  uint64_t skipped_bytes = 0;       // message bytes beyond max_parse_bytes, dropped
  uint64_t pending_overflow = 0;    // pending requests dropped as timeouts (max_pending_requests)
  // Parsers' own counters of ended flows (Parser::TakeCounters), "<protocol>.<name>".
  std::map<std::string, uint64_t> parser_counters;
};

// What a flow's request logs add up to since the last TakeCounters(): the l7_* columns of its
// L4 flow log.
struct L7FlowCounters {
  uint32_t request = 0, response = 0;
  uint32_t client_error = 0, server_error = 0, timeout = 0;
  uint64_t rrt_sum = 0;  // µs
  uint32_t rrt_count = 0, rrt_max = 0;
};

class L7Sink {
 public:
  virtual ~L7Sink() = default;
  virtual void OnL7Log(const L7FlowLog& row) = 0;
};

// Per-flow state, owned by whoever owns the flow (the FlowMap), created by the engine.
class FlowL7State;
struct FlowL7StateDeleter {
  void operator()(FlowL7State* state) const;
};
using FlowL7StatePtr = std::unique_ptr<FlowL7State, FlowL7StateDeleter>;

class L7Engine {
 public:
  // Infers among the registered protocols (registry.h) enabled by the configuration.
  L7Engine(const L7Config& config, L7Sink* sink);
  // Infers among `protocols` only (tests, special deployments).
  L7Engine(const L7Config& config, L7Sink* sink, std::vector<const ProtocolSpec*> protocols);
  ~L7Engine();
  L7Engine(const L7Engine&) = delete;
  L7Engine& operator=(const L7Engine&) = delete;

  // One payload of `flow` in direction `dir`. `data` is what was captured; `wire_len` what was
  // sent (larger when the capture cut the payload). `has_seq`/`seq`: TCP sequence number of
  // data[0] when known (packets; eBPF gives it too).
  // `meta`: syscall sources only; it goes to the messages that start in this payload.
  void OnPayload(FlowL7StatePtr* state, const FlowInfo& flow, Direction dir,
                 uint64_t timestamp_ns, bool has_seq, uint32_t seq, std::string_view data,
                 uint32_t wire_len, const PayloadMeta* meta = nullptr);
  // Requests pending longer than the request timeout at `now_ns` become timeout rows.
  void Expire(FlowL7State* state, const FlowInfo& flow, uint64_t now_ns);
  // The flow is over: every pending request becomes a timeout row. The state stays (for
  // TakeCounters); its owner frees it.
  void OnFlowEnd(FlowL7StatePtr* state, const FlowInfo& flow, uint64_t now_ns);
  // The counters since the last call, reset.
  static L7FlowCounters TakeCounters(FlowL7State* state);

  // The protocol a flow was recognised as (kUnknown while inferring or when given up).
  static L7Protocol ProtocolOf(const FlowL7State* state);
  const L7Stats& stats() const { return stats_; }
  const L7Config& config() const { return config_; }

 private:
  friend class FlowL7State;
  bool Infer(FlowL7State* st, const FlowInfo& flow, Direction dir, std::string_view data);
  void Feed(FlowL7State* st, const FlowInfo& flow, Direction dir, uint64_t ts, uint32_t seq,
            std::string_view data, const PayloadMeta& meta);
  void Deliver(FlowL7State* st, const FlowInfo& flow, L7Message&& msg);
  void Emit(FlowL7State* st, const FlowInfo& flow, L7Message* req, L7Message* resp,
            L7LogType type, L7ResponseStatus forced_status, uint64_t now_ns);

  L7Config config_;
  L7Sink* sink_;
  L7Stats stats_;
  std::vector<const ProtocolSpec*> enabled_;
};

}  // namespace flowscope::agent::l7
