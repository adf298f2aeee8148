// Rows per second into the embedded store (SQLite) for flow_log.l7_flow_log: records built in
// memory, visited into RowBatches (AppendRecord), inserted in batches (one transaction each),
// then bytes per row on disk. Reports figures; never fails on time.
//
//   storage_bench [--rows 500000] [--batch 10000] [--dir /tmp/fs_storage_bench]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "server/storage/sqlite/sqlite_backend.h"
#include "server/storage/tables.h"

namespace fs = flowscope;
namespace st = flowscope::server::storage;

namespace {

// A plausible HTTP request log: distinct flows, endpoints from a small set, a trace id each.
fs::L7FlowLog MakeRow(uint64_t i) {
  fs::L7FlowLog r;
  r.time = 1700000000 + static_cast<uint32_t>(i / 1000);
  r.flow_id = i * 2654435761u;
  r.start_time = uint64_t{r.time} * 1000000 + i % 1000;
  r.end_time = r.start_time + 1500 + i % 300;
  const uint8_t a[4] = {10, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
  const uint8_t b[4] = {10, 1, 0, static_cast<uint8_t>(i % 16)};
  r.ip_0 = fs::IpAddr::V4(a);
  r.ip_1 = fs::IpAddr::V4(b);
  r.client_port = static_cast<uint16_t>(30000 + i % 30000);
  r.server_port = 8080;
  r.protocol = fs::kIpProtoTcp;
  r.signal_source = fs::SignalSource::kEbpf;
  r.l7_protocol = fs::L7Protocol::kHttp1;
  r.version = "1.1";
  r.request_type = i % 5 ? "GET" : "POST";
  r.request_domain = "api.internal";
  r.request_resource = "/api/v1/items/" + std::to_string(i % 5000) + "?page=2";
  r.endpoint = "/api/v1/items/{id}";
  r.response_status = fs::L7ResponseStatus::kOk;
  r.has_response_code = true;
  r.response_code = 200;
  r.response_duration = r.end_time - r.start_time;
  r.request_length = 120;
  r.response_length = 2048;
  char trace[33];
  std::snprintf(trace, sizeof trace, "%016llx%016llx", static_cast<unsigned long long>(i),
                static_cast<unsigned long long>(r.flow_id));
  r.trace_id = trace;
  r.span_id = std::string(trace, 16);
  r.syscall_trace_id_request = i * 7;
  r.process_id_1 = 4242;
  r.process_kname_1 = "api-server";
  r.app_service = "items";
  r.attributes = {{"http.user_agent", "curl/7.88.1"}};
  return r;
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rows/s into the embedded SQLite store (flow_log.l7_flow_log)"};
  uint64_t rows = 500000;
  size_t batch_size = 10000;
  std::string dir = "/tmp/fs_storage_bench";
  app.add_option("--rows", rows, "rows to insert");
  app.add_option("--batch", batch_size, "rows per batch (one transaction)");
  app.add_option("--dir", dir, "data directory (emptied first)");
  CLI11_PARSE(app, argc, argv);

  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  st::sqlite::SqliteOptions o;
  o.data_dir = dir;
  auto backend = st::sqlite::SqliteBackend::Open(o);
  if (!backend.ok()) {
    std::fprintf(stderr, "storage_bench: %s\n", backend.status().ToString().c_str());
    return 1;
  }
  const std::vector<st::TableSchema> tables = st::StandardTables();
  const st::TableSchema& schema = *st::FindTable(tables, st::kL7FlowLog);
  if (auto s = (*backend)->EnsureTable(schema); !s.ok()) {
    std::fprintf(stderr, "storage_bench: %s\n", s.ToString().c_str());
    return 1;
  }

  std::vector<fs::L7FlowLog> records;
  records.reserve(batch_size);
  std::chrono::steady_clock::duration append_time{}, insert_time{};
  uint64_t done = 0;
  while (done < rows) {
    records.clear();
    for (size_t i = 0; i < batch_size && done + i < rows; ++i) records.push_back(MakeRow(done + i));
    const auto t0 = std::chrono::steady_clock::now();
    st::RowBatch batch(&schema);
    for (const auto& r : records) st::AppendRecord(&batch, r);
    const auto t1 = std::chrono::steady_clock::now();
    if (auto s = (*backend)->Insert(batch); !s.ok()) {
      std::fprintf(stderr, "storage_bench: %s\n", s.ToString().c_str());
      return 1;
    }
    const auto t2 = std::chrono::steady_clock::now();
    append_time += t1 - t0;
    insert_time += t2 - t1;
    done += records.size();
  }
  const auto q0 = std::chrono::steady_clock::now();
  auto q = (*backend)->Query(
      "SELECT endpoint, count(*), avg(response_duration) FROM flow_log.l7_flow_log "
      "WHERE time >= 1700000100 AND time < 1700000200 GROUP BY endpoint",
      {});
  const double query_s = Seconds(std::chrono::steady_clock::now() - q0);
  backend->reset();  // checkpoints the WAL into the file

  const auto bytes = std::filesystem::file_size(dir + "/flow_log.db", ec);
  std::printf("storage_bench: %llu rows of l7_flow_log (%zu columns) in batches of %zu\n",
              static_cast<unsigned long long>(done), schema.columns.size(), batch_size);
  std::printf("  AppendRecord (record -> RowBatch): %.0f rows/s\n", done / Seconds(append_time));
  std::printf("  Insert (RowBatch -> SQLite, one transaction per batch): %.0f rows/s\n",
              done / Seconds(insert_time));
  std::printf("  together: %.0f rows/s\n", done / Seconds(append_time + insert_time));
  std::printf("  on disk: %.1f MB, %.0f bytes/row (with the order_by index)\n", bytes / 1e6,
              static_cast<double>(bytes) / static_cast<double>(done));
  std::printf("  query (100 s of rows grouped by endpoint): %s in %.1f ms\n",
              q.ok() ? "ok" : q.status().ToString().c_str(), query_s * 1e3);
  return 0;
}
