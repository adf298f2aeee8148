// SocketPipeline: eBPF socket events → L7 engine → request logs and RED metrics, the syscall
// counterpart of PacketPipeline. The engine does not care where bytes come from: each traced
// socket is a flow (the TLS plaintext of a socket is a second one), its messages carry the
// thread and syscall_trace_id that moved them, and its rows name the processes at both ends
// (the other end too when it is a traced process of this host, as on loopback).
//
// Single-threaded: one thread calls OnEvent and Tick. Decoding lives in agent/ebpf (no libbpf
// here).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "agent/ebpf/socket_event.h"
#include "agent/l7/engine.h"
#include "agent/metrics/application_aggregator.h"
#include "agent/pipeline/packet_pipeline.h"

namespace flowscope::agent {

struct SocketPipelineConfig {
  l7::L7Config l7;
  ApplicationAggregatorConfig application;
  uint16_t agent_id = 0;
  // A socket without events for this long is ended (its pending requests time out): close
  // events are missed for sockets closed by process exit, dup2 or close_range.
  uint64_t idle_timeout_ns = 120'000'000'000;
  // Sockets followed at once; events of further sockets are counted and dropped.
  size_t max_sockets = 131072;
  // process_kname of a pid (the process's comm, not the thread's); "" → the event's comm.
  std::function<std::string(uint32_t pid)> process_name;
};

struct SocketPipelineStats {
  uint64_t events = 0;
  uint64_t data_events = 0;
  uint64_t bytes = 0;           // payload bytes handed to the engine
  uint64_t truncated = 0;       // messages longer than the captured bytes
  uint64_t tls_plaintext = 0;   // data events from OpenSSL uprobes
  uint64_t tls_unattributed = 0;  // TLS plaintext without a socket: dropped
  uint64_t open_events = 0;
  uint64_t close_events = 0;
  uint64_t sockets = 0;         // followed now
  uint64_t sockets_created = 0;
  uint64_t sockets_closed = 0;  // ended by a close event
  uint64_t sockets_idle = 0;    // ended by idle_timeout_ns
  uint64_t sockets_dropped = 0;  // events dropped because max_sockets were followed
  uint64_t local_peers = 0;     // streams whose other end was named from a traced local socket
  ApplicationAggregatorStats application;
  l7::L7Stats l7;
};

class SocketPipeline {
 public:
  SocketPipeline(const SocketPipelineConfig& config, RecordSink* sink);
  ~SocketPipeline();
  SocketPipeline(const SocketPipeline&) = delete;
  SocketPipeline& operator=(const SocketPipeline&) = delete;

  void OnEvent(const ebpf::SocketEvent& event);
  // Wall clock (ns): request timeouts, idle sockets, metrics buckets that are complete.
  void Tick(uint64_t now_ns);
  // Ends every socket and emits every metrics bucket.
  void Finish(uint64_t now_ns);
  SocketPipelineStats Stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowscope::agent
