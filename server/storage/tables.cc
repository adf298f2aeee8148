#include "server/storage/tables.h"

#include <array>

namespace flowscope::server::storage {

namespace internal {

bool IsLowCardinality(std::string_view column) {
  static constexpr std::array<std::string_view, 7> kNames = {
      "capture_nic",     "version",         "request_type", "process_kname",
      "process_kname_0", "process_kname_1", "app_service",
  };
  if (column.size() > 4 && column.substr(column.size() - 4) == "_str") return true;
  for (std::string_view n : kNames) {
    if (n == column) return true;
  }
  return false;
}

void AppendNulls(RowBatch* batch, size_t n) {
  static const Value kNull;
  for (size_t i = 0; i < n; ++i) batch->Append(kNull);
}

}  // namespace internal

std::vector<TableSchema> StandardTables(const Retention& retention) {
  std::vector<TableSchema> t;
  // DeepFlow orders by (time, l3_epc_id_1, ip4_1, ip6_1, server_port) and, for l7, the protocol
  // after time (deepflow-facts.md §2.2); we have no epc id and keep one ip column per side.
  t.push_back(SchemaOf<L4FlowLog>("flow_log", "l4_flow_log", {"time", "ip_1", "server_port"},
                                  retention.flow_log));
  t.push_back(SchemaOf<L7FlowLog>("flow_log", "l7_flow_log",
                                  {"time", "l7_protocol", "ip_1", "server_port"},
                                  retention.flow_log));
  struct Grain {
    const char* suffix;
    std::chrono::seconds retention;
  };
  for (const Grain& g : {Grain{".1s", retention.metrics_1s}, Grain{".1m", retention.metrics_1m}}) {
    t.push_back(SchemaOf<NetworkRow>("flow_metrics", std::string("network") + g.suffix,
                                     {"time", "ip", "server_port"}, g.retention));
    t.push_back(SchemaOf<NetworkMapRow>("flow_metrics", std::string("network_map") + g.suffix,
                                        {"time", "ip_1", "ip_0", "server_port"}, g.retention));
    t.push_back(SchemaOf<ApplicationRow>("flow_metrics", std::string("application") + g.suffix,
                                         {"time", "ip", "server_port", "l7_protocol"},
                                         g.retention));
    t.push_back(SchemaOf<ApplicationMapRow>(
        "flow_metrics", std::string("application_map") + g.suffix,
        {"time", "ip_1", "ip_0", "server_port", "l7_protocol"}, g.retention));
  }
  return t;
}

const TableSchema* FindTable(const std::vector<TableSchema>& tables, std::string_view full_name) {
  for (const TableSchema& s : tables) {
    if (full_name.size() == s.database.size() + 1 + s.name.size() &&
        full_name.substr(0, s.database.size()) == s.database &&
        full_name[s.database.size()] == '.' && full_name.substr(s.database.size() + 1) == s.name) {
      return &s;
    }
  }
  return nullptr;
}

}  // namespace flowscope::server::storage
