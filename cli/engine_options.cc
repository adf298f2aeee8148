#include "cli/engine_options.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/l7/registry.h"
#include "agent/l7/text.h"
#include "common/util/json.h"

namespace flowscope::cli {

void AddEngineOptions(CLI::App* cmd, EngineOptions* o) {
  cmd->add_option("--output", o->output,
                  "what to print: l4 (flow_log.l4_flow_log rows), l7 (flow_log.l7_flow_log: "
                  "request logs), network "
                  "(flow_metrics.network: per ip, server port, protocol, role), network-map "
                  "(flow_metrics.network_map: per client→server path), application "
                  "(flow_metrics.application: RED per server endpoint), application-map (RED "
                  "per client→server path), none (summary only)")
      ->check(CLI::IsMember(
          {"l4", "l7", "network", "network-map", "application", "application-map", "none"}))
      ->capture_default_str();
  cmd->add_option("--format", o->format,
                  "jsonl: one JSON object per row, column names as in the tables; table: aligned "
                  "columns for reading")
      ->check(CLI::IsMember({"jsonl", "table"}))
      ->capture_default_str();
  cmd->add_option("--interval", o->interval, "granularity of the network and application outputs: 1s or 1m")
      ->check(CLI::IsMember({"1s", "1m"}))
      ->capture_default_str();
  cmd->add_option("-o,--output-file", o->output_file, "write rows to FILE instead of stdout");
  cmd->add_option("--established-timeout", o->established_timeout_s,
                  "idle seconds before an established TCP flow is closed (close type 3, timeout)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--closing-rst-timeout", o->closing_rst_timeout_s,
                  "seconds a TCP flow is kept after a RST that followed the handshake")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--opening-rst-timeout", o->opening_rst_timeout_s,
                  "seconds a TCP flow is kept after a RST during the handshake (e.g. refused)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--others-timeout", o->others_timeout_s,
                  "idle seconds before a flow in any other state is closed: TCP handshake or FIN "
                  "exchange in progress, UDP, ICMP, other IP")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--report-interval", o->report_interval_s,
                  "seconds between flow log reports of a long-lived flow")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-flows", o->max_flows,
                  "concurrent flows kept in memory; beyond it the longest-idle flow is closed "
                  "early and counted as evicted")
      ->check(CLI::Range(1u, 1u << 26))
      ->capture_default_str();
  cmd->add_flag("--no-l7", o->no_l7,
                "no request logs: skip protocol inference and parsing (L4 only)");
  cmd->add_option("--l7-protocols", o->l7_protocols,
                  "protocols to recognise (comma-separated names as in agent/l7/protocols/, "
                  "e.g. http,redis); default all")
      ->delimiter(',');
  cmd->add_option("--obfuscate", o->obfuscate,
                  "hide values in request logs: redis (command arguments), sql (literals), "
                  "both as redis,sql, or none")
      ->capture_default_str();
  cmd->add_option("--l7-max-parse-bytes", o->l7_max_parse_bytes,
                  "bytes of one message the parsers see; the rest of a long message is skipped")
      ->check(CLI::Range(64u, 1u << 20))
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", o->quiet, "no progress and no summary on stderr");
}

namespace {
uint64_t SecondsToNs(double s) { return static_cast<uint64_t>(std::llround(s * 1e9)); }
}  // namespace

absl::StatusOr<ResolvedOptions> Resolve(const EngineOptions& o) {
  ResolvedOptions r;
  if (o.output == "l4") {
    r.kind = OutputKind::kL4;
  } else if (o.output == "l7") {
    r.kind = OutputKind::kL7;
  } else if (o.output == "network") {
    r.kind = OutputKind::kNetwork;
  } else if (o.output == "network-map") {
    r.kind = OutputKind::kNetworkMap;
  } else if (o.output == "application") {
    r.kind = OutputKind::kApplication;
  } else if (o.output == "application-map") {
    r.kind = OutputKind::kApplicationMap;
  } else if (o.output == "none") {
    r.kind = OutputKind::kNone;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--output ", o.output, " is not one of l4, l7, network, network-map, application, application-map, none"));
  }
  if (o.format == "jsonl") {
    r.format = Format::kJsonl;
  } else if (o.format == "table") {
    r.format = Format::kTable;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--format ", o.format, " is not one of jsonl, table"));
  }
  if (o.interval == "1s") {
    r.interval_s = 1;
  } else if (o.interval == "1m") {
    r.interval_s = 60;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--interval ", o.interval, " is not one of 1s, 1m"));
  }
  auto& f = r.pipeline.flow;
  f.timeouts.established_ns = SecondsToNs(o.established_timeout_s);
  f.timeouts.closing_rst_ns = SecondsToNs(o.closing_rst_timeout_s);
  f.timeouts.opening_rst_ns = SecondsToNs(o.opening_rst_timeout_s);
  f.timeouts.others_ns = SecondsToNs(o.others_timeout_s);
  f.report_interval_ns = SecondsToNs(o.report_interval_s);
  f.max_flows = o.max_flows;
  r.pipeline.l7_enabled = !o.no_l7;
  r.pipeline.l7.max_parse_bytes = o.l7_max_parse_bytes;
  for (const std::string& name : o.l7_protocols) {
    if (agent::l7::FindProtocol(name) == nullptr) {
      std::string known;
      for (const auto* p : agent::l7::AllProtocols()) absl::StrAppend(&known, known.empty() ? "" : ", ", std::string(p->name));
      return absl::InvalidArgumentError(absl::StrCat("--l7-protocols: unknown protocol '", name,
                                                     "' (known: ", known, ")"));
    }
  }
  r.pipeline.l7.enabled_protocols = o.l7_protocols;
  r.pipeline.l7.obfuscate_redis = r.pipeline.l7.obfuscate_sql = false;
  for (std::string_view part : agent::l7::Split(o.obfuscate, ',')) {
    if (part == "redis") {
      r.pipeline.l7.obfuscate_redis = true;
    } else if (part == "sql") {
      r.pipeline.l7.obfuscate_sql = true;
    } else if (part != "none" && !part.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--obfuscate: '", std::string(part), "' is not one of redis, sql, none"));
    }
  }
  auto& m = r.pipeline.metrics;
  // Aggregate only what will be printed: the other tables cost time for nothing.
  m.network_1s = r.kind == OutputKind::kNetwork && r.interval_s == 1;
  m.network_1m = r.kind == OutputKind::kNetwork && r.interval_s == 60;
  m.network_map_1s = r.kind == OutputKind::kNetworkMap && r.interval_s == 1;
  m.network_map_1m = r.kind == OutputKind::kNetworkMap && r.interval_s == 60;
  auto& a = r.pipeline.application;
  a.application_1s = r.kind == OutputKind::kApplication && r.interval_s == 1;
  a.application_1m = r.kind == OutputKind::kApplication && r.interval_s == 60;
  a.application_map_1s = r.kind == OutputKind::kApplicationMap && r.interval_s == 1;
  a.application_map_1m = r.kind == OutputKind::kApplicationMap && r.interval_s == 60;
  return r;
}

RecordWriter::RecordWriter(const ResolvedOptions& options, FILE* out)
    : options_(options), out_(out) {}

RecordWriter::~RecordWriter() { Flush(); }

void RecordWriter::Flush() { std::fflush(out_); }

void RecordWriter::WriteLine(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fputc('\n', out_);
  ++rows_;
}

namespace {

std::string TimeOfDay(uint64_t unix_s, uint64_t us_frac, bool with_us) {
  time_t t = static_cast<time_t>(unix_s);
  struct tm tm {};
  gmtime_r(&t, &tm);
  if (with_us) {
    return absl::StrFormat("%02d:%02d:%02d.%06d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                           static_cast<int>(us_frac));
  }
  return absl::StrFormat("%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string Endpoint(const IpAddr& ip, uint16_t port) {
  if (ip.is_v4) return absl::StrCat(ip.ToString(), ":", port);
  return absl::StrCat("[", ip.ToString(), "]:", port);
}

double AvgUs(const DelayStat& d) { return d.count ? static_cast<double>(d.sum) / d.count : 0; }

constexpr char kL4Header[] =
    "%-15s  %-45s  %-5s  %-22s  %8s %8s  %10s %10s  %10s  %4s %4s %4s";
constexpr char kNetHeader[] = "%-19s  %-39s  %5s  %-5s  %-6s  %8s %8s  %10s %10s  %5s %5s  %9s  %4s";
constexpr char kL7Header[] = "%-15s  %-45s  %-28s  %-10s  %-12s  %-40s  %-12s  %6s  %10s";
constexpr char kAppHeader[] =
    "%-19s  %-45s  %-45s  %-10s  %-20s  %8s %8s  %6s %6s %6s  %10s %10s %10s";
constexpr char kMapHeader[] = "%-19s  %-39s  %-45s  %-5s  %8s %8s  %10s %10s  %5s %5s  %9s  %4s";

}  // namespace

void RecordWriter::MaybeHeader() {
  if (header_done_ || options_.format != Format::kTable) return;
  header_done_ = true;
  std::string h;
  switch (options_.kind) {
    case OutputKind::kL4:
      h = absl::StrFormat(kL4Header, "start", "client -> server", "proto", "close", "pkt_tx",
                          "pkt_rx", "byte_tx", "byte_rx", "rtt_us", "rtx", "zwin", "ooo");
      break;
    case OutputKind::kNetwork:
      h = absl::StrFormat(kNetHeader, "time", "ip", "port", "proto", "role", "pkt_tx", "pkt_rx",
                          "byte_tx", "byte_rx", "new", "close", "avg_rtt", "rtx");
      break;
    case OutputKind::kNetworkMap:
      h = absl::StrFormat(kMapHeader, "time", "client", "server", "proto", "pkt_tx", "pkt_rx",
                          "byte_tx", "byte_rx", "new", "close", "avg_rtt", "rtx");
      break;
    case OutputKind::kApplication:
    case OutputKind::kApplicationMap:
      h = absl::StrFormat(kAppHeader, "time", "client",
                          "server", "protocol", "endpoint", "request", "response", "c_err",
                          "s_err", "t_out", "avg_us", "p50_us", "p99_us");
      break;
    case OutputKind::kL7:
      h = absl::StrFormat(kL7Header, "start", "client -> server", "seen by", "protocol", "request",
                          "resource", "status", "code", "latency_us");
      break;
    case OutputKind::kNone:
      return;
  }
  std::fwrite(h.data(), 1, h.size(), out_);
  std::fputc('\n', out_);
}

void RecordWriter::OnL4FlowLog(const L4FlowLog& r) {
  if (options_.kind != OutputKind::kL4) return;
  if (options_.format == Format::kJsonl) {
    WriteLine(ToJson(r));
    return;
  }
  MaybeHeader();
  WriteLine(absl::StrFormat(
      kL4Header, TimeOfDay(r.start_time / 1000000, r.start_time % 1000000, true),
      absl::StrCat(Endpoint(r.ip_0, r.client_port), " -> ", Endpoint(r.ip_1, r.server_port)),
      std::string(IpProtocolName(r.protocol)), std::string(CloseTypeName(r.close_type)),
      absl::StrCat(r.packet_tx), absl::StrCat(r.packet_rx), absl::StrCat(r.byte_tx),
      absl::StrCat(r.byte_rx), absl::StrFormat("%.1f", r.rtt),
      absl::StrCat(r.retrans_tx + r.retrans_rx), absl::StrCat(r.zero_win_tx + r.zero_win_rx),
      absl::StrCat(r.ooo_tx + r.ooo_rx)));
}

void RecordWriter::OnNetwork(const NetworkRow& r) {
  if (options_.kind != OutputKind::kNetwork || r.interval != options_.interval_s) return;
  if (options_.format == Format::kJsonl) {
    WriteLine(ToJson(r));
    return;
  }
  MaybeHeader();
  const auto& m = r.meter;
  WriteLine(absl::StrFormat(
      kNetHeader, TimeOfDay(r.time, 0, false), r.ip.ToString(), absl::StrCat(r.server_port),
      std::string(IpProtocolName(r.protocol)), r.role == FlowRole::kClient ? "client" : "server",
      absl::StrCat(m.packet_tx), absl::StrCat(m.packet_rx), absl::StrCat(m.byte_tx),
      absl::StrCat(m.byte_rx), absl::StrCat(m.new_flow), absl::StrCat(m.closed_flow),
      absl::StrFormat("%.1f", AvgUs(m.rtt)), absl::StrCat(m.retrans_tx + m.retrans_rx)));
}

void RecordWriter::OnNetworkMap(const NetworkMapRow& r) {
  if (options_.kind != OutputKind::kNetworkMap || r.interval != options_.interval_s) return;
  if (options_.format == Format::kJsonl) {
    WriteLine(ToJson(r));
    return;
  }
  MaybeHeader();
  const auto& m = r.meter;
  WriteLine(absl::StrFormat(
      kMapHeader, TimeOfDay(r.time, 0, false), r.ip_0.ToString(),
      Endpoint(r.ip_1, r.server_port), std::string(IpProtocolName(r.protocol)),
      absl::StrCat(m.packet_tx), absl::StrCat(m.packet_rx), absl::StrCat(m.byte_tx),
      absl::StrCat(m.byte_rx), absl::StrCat(m.new_flow), absl::StrCat(m.closed_flow),
      absl::StrFormat("%.1f", AvgUs(m.rtt)), absl::StrCat(m.retrans_tx + m.retrans_rx)));
}

void RecordWriter::OnL7Log(const L7FlowLog& r) {
  if (options_.kind != OutputKind::kL7) return;
  if (options_.format == Format::kJsonl) {
    WriteLine(ToJson(r));
    return;
  }
  MaybeHeader();
  std::string resource = r.request_resource.substr(0, 40);
  for (char& c : resource) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  // Packets, or eBPF in the processes at both ends (`?` for an end not traced on this host).
  std::string seen_by = "packet";
  if (r.signal_source == SignalSource::kEbpf) {
    auto name = [](const std::string& n) { return n.empty() ? std::string("?") : n.substr(0, 11); };
    seen_by = absl::StrCat(name(r.process_kname_0), " -> ", name(r.process_kname_1),
                           r.is_tls ? " tls" : "");
  }
  WriteLine(absl::StrFormat(
      kL7Header, TimeOfDay(r.start_time / 1000000, r.start_time % 1000000, true),
      absl::StrCat(Endpoint(r.ip_0, r.client_port), " -> ", Endpoint(r.ip_1, r.server_port)),
      seen_by, std::string(L7ProtocolName(r.l7_protocol)), r.request_type.substr(0, 12), resource,
      std::string(L7ResponseStatusName(r.response_status)),
      r.has_response_code ? absl::StrCat(r.response_code) : std::string("-"),
      absl::StrCat(r.response_duration)));
}

namespace {
std::string AppLine(uint32_t time, const std::string& client, const std::string& server,
                    L7Protocol proto, const std::string& endpoint, const ApplicationMeter& m) {
  return absl::StrFormat(
      kAppHeader, TimeOfDay(time, 0, false), client, server, std::string(L7ProtocolName(proto)),
      endpoint.substr(0, 20), absl::StrCat(m.request), absl::StrCat(m.response),
      absl::StrCat(m.client_error), absl::StrCat(m.server_error), absl::StrCat(m.timeout),
      absl::StrFormat("%.0f", m.rrt_count ? static_cast<double>(m.rrt_sum) / m.rrt_count : 0.0),
      absl::StrFormat("%.0f", m.rrt_sketch.Quantile(0.5)),
      absl::StrFormat("%.0f", m.rrt_sketch.Quantile(0.99)));
}
}  // namespace

void RecordWriter::OnApplication(const ApplicationRow& r) {
  if (options_.kind != OutputKind::kApplication || r.interval != options_.interval_s) return;
  if (options_.format == Format::kJsonl) {
    WriteLine(ToJson(r));
    return;
  }
  MaybeHeader();
  WriteLine(AppLine(r.time, "*", Endpoint(r.ip, r.server_port), r.l7_protocol, r.endpoint,
                    r.meter));
}

void RecordWriter::OnApplicationMap(const ApplicationMapRow& r) {
  if (options_.kind != OutputKind::kApplicationMap || r.interval != options_.interval_s) return;
  if (options_.format == Format::kJsonl) {
    WriteLine(ToJson(r));
    return;
  }
  MaybeHeader();
  WriteLine(AppLine(r.time, r.ip_0.ToString(), Endpoint(r.ip_1, r.server_port), r.l7_protocol,
                    r.endpoint, r.meter));
}

std::string FormatSummary(const std::string& what, const agent::PipelineStats& s, uint64_t rows,
                          double seconds) {
  const auto& d = s.decode;
  const auto& f = s.flow;
  std::string out = absl::StrCat("flowscope: ", what, "\n");
  absl::StrAppendFormat(&out, "  packets  %d (%d bytes) in %.2f s", s.source.frames,
                        s.source.bytes, seconds);
  if (seconds > 0) {
    absl::StrAppendFormat(&out, ", %.0f packets/s", static_cast<double>(s.source.frames) / seconds);
  }
  absl::StrAppendFormat(&out, "\n  decoded  %d IP, %d not IP, %d fragments, %d tunnelled\n",
                        d.ok, d.not_ip, d.fragments, d.tunnelled);
  absl::StrAppendFormat(&out,
                        "  decode errors %d (truncated %d, malformed %d, unsupported link %d, "
                        "tunnel too deep %d)\n",
                        d.errors(), d.truncated, d.malformed, d.unsupported_link,
                        d.tunnel_too_deep);
  absl::StrAppendFormat(&out, "  flows    %d created, %d closed, %d evicted (max-flows), %d flow logs\n",
                        f.flows_created, f.flows_closed, f.evicted, f.flow_logs);
  absl::StrAppendFormat(&out, "  metrics  %d rows at 1s, %d rows at 1m (network); %d at 1s, %d "
                        "at 1m (application)\n",
                        s.metrics.rows_1s, s.metrics.rows_1m, s.application.rows_1s,
                        s.application.rows_1m);
  const auto& l = s.l7;
  absl::StrAppendFormat(&out,
                        "  l7       %d flows recognised, %d unrecognised; %d requests, %d "
                        "responses, %d request logs (%d timeouts, %d responses without request)\n",
                        l.flows_inferred, l.flows_unknown, l.requests, l.responses, l.logs,
                        l.timeouts, l.orphan_responses);
  absl::StrAppendFormat(&out,
                        "  l7 drops %d unparsable messages, %d resyncs, %d sequence gaps, %d "
                        "payloads cut by the capture, %d bytes skipped\n",
                        l.invalid, l.resyncs, l.gaps, l.truncated, l.skipped_bytes);
  if (!l.parser_counters.empty()) {
    std::string parts;
    for (const auto& [name, n] : l.parser_counters) {
      absl::StrAppend(&parts, parts.empty() ? "" : ", ", name, " ", n);
    }
    absl::StrAppendFormat(&out, "  l7 parse %s\n", parts);
  }
  absl::StrAppendFormat(&out,
                        "  drops    %d by the kernel, %d loopback duplicates skipped, %d unreadable "
                        "file records, %d late metric deltas\n",
                        s.source.kernel_drops, s.source.duplicates, s.source.file_errors,
                        s.metrics.late_deltas);
  absl::StrAppendFormat(&out, "  output   %d rows\n", rows);
  return out;
}

}  // namespace flowscope::cli
