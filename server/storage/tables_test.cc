#include "server/storage/tables.h"

#include <set>
#include <string>
#include <variant>

#include "gtest/gtest.h"

namespace flowscope::server::storage {
namespace {

// True when `v` is a cell a column of type `t` can hold (NULL fits every column).
bool Fits(const Value& v, ColumnType t) {
  if (std::holds_alternative<std::monostate>(v)) return true;
  switch (t) {
    case ColumnType::kUInt8:
    case ColumnType::kUInt16:
    case ColumnType::kUInt32:
    case ColumnType::kUInt64:
    case ColumnType::kDateTime:
      return std::holds_alternative<uint64_t>(v);
    case ColumnType::kInt32:
    case ColumnType::kInt64:
      return std::holds_alternative<int64_t>(v);
    case ColumnType::kFloat64:
      return std::holds_alternative<double>(v);
    case ColumnType::kString:
      return std::holds_alternative<std::string>(v);
    case ColumnType::kIp:
      return std::holds_alternative<IpAddr>(v);
    case ColumnType::kArrayString:
      return std::holds_alternative<std::vector<std::string>>(v);
  }
  return false;
}

template <typename Record>
size_t VisitedCount(const Record& r) {
  size_t n = 0;
  VisitColumns(r, [&](std::string_view, const auto&) { ++n; });
  return n;
}

template <typename Record>
void CheckRoundTrip(const Record& r, std::string_view table) {
  const std::vector<TableSchema> tables = StandardTables();
  const TableSchema* s = FindTable(tables, table);
  ASSERT_NE(s, nullptr) << table;
  EXPECT_EQ(s->columns.size(), VisitedCount(SchemaSample<Record>())) << table;
  std::set<std::string> names;
  for (const Column& c : s->columns) EXPECT_TRUE(names.insert(c.name).second) << c.name;
  ASSERT_GE(s->ColumnIndex("time"), 0);
  EXPECT_EQ(s->columns[s->ColumnIndex("time")].type, ColumnType::kDateTime) << table;
  for (const std::string& k : s->order_by) EXPECT_GE(s->ColumnIndex(k), 0) << table << " " << k;

  RowBatch batch(s);
  AppendRecord(&batch, r);
  AppendRecord(&batch, r);
  ASSERT_EQ(batch.size(), 2u);
  for (const auto& row : batch.rows()) {
    ASSERT_EQ(row.size(), s->columns.size()) << table;
    for (size_t i = 0; i < row.size(); ++i) {
      EXPECT_TRUE(Fits(row[i], s->columns[i].type))
          << table << "." << s->columns[i].name << " type " << ColumnTypeName(s->columns[i].type)
          << " value index " << row[i].index();
    }
  }
}

IpAddr Ip(std::string_view text) {
  IpAddr a;
  EXPECT_TRUE(IpAddr::Parse(text, &a)) << text;
  return a;
}

TEST(TablesTest, StandardTableSet) {
  const std::vector<TableSchema> t = StandardTables();
  std::set<std::string> names;
  for (const TableSchema& s : t) names.insert(s.FullName());
  EXPECT_EQ(names, (std::set<std::string>{
                       "flow_log.l4_flow_log", "flow_log.l7_flow_log", "flow_metrics.network.1s",
                       "flow_metrics.network.1m", "flow_metrics.network_map.1s",
                       "flow_metrics.network_map.1m", "flow_metrics.application.1s",
                       "flow_metrics.application.1m", "flow_metrics.application_map.1s",
                       "flow_metrics.application_map.1m"}));
  using std::chrono::hours;
  EXPECT_EQ(FindTable(t, kL4FlowLog)->retention, hours(72));
  EXPECT_EQ(FindTable(t, kL7FlowLog)->retention, hours(72));
  EXPECT_EQ(FindTable(t, kNetwork1s)->retention, hours(24));
  EXPECT_EQ(FindTable(t, kApplicationMap1s)->retention, hours(24));
  EXPECT_EQ(FindTable(t, kNetworkMap1m)->retention, hours(24 * 7));
  EXPECT_EQ(FindTable(t, kApplication1m)->retention, hours(24 * 7));
  EXPECT_EQ(FindTable(t, "flow_log.nope"), nullptr);
  EXPECT_EQ(FindTable(t, "flow_log"), nullptr);

  Retention r;
  r.metrics_1s = hours(1);
  EXPECT_EQ(FindTable(StandardTables(r), kNetwork1s)->retention, hours(1));
}

TEST(TablesTest, ColumnTypesFromRecords) {
  const std::vector<TableSchema> t = StandardTables();
  const TableSchema& l7 = *FindTable(t, kL7FlowLog);
  auto type = [&](std::string_view c) { return l7.columns.at(l7.ColumnIndex(c)).type; };
  EXPECT_EQ(type("flow_id"), ColumnType::kUInt64);
  EXPECT_EQ(type("is_tls"), ColumnType::kUInt8);
  EXPECT_EQ(type("is_ipv4"), ColumnType::kUInt8);
  EXPECT_EQ(type("client_port"), ColumnType::kUInt16);
  EXPECT_EQ(type("req_tcp_seq"), ColumnType::kUInt32);
  EXPECT_EQ(type("response_code"), ColumnType::kInt32);
  EXPECT_EQ(type("request_length"), ColumnType::kInt64);
  EXPECT_EQ(type("ip_0"), ColumnType::kIp);
  EXPECT_EQ(type("endpoint"), ColumnType::kString);
  EXPECT_EQ(type("attribute_names"), ColumnType::kArrayString);
  // Optional columns are in the schema although a default record skips them.
  EXPECT_GE(l7.ColumnIndex("request_id"), 0);
  EXPECT_GE(l7.ColumnIndex("sql_affected_rows"), 0);
  EXPECT_TRUE(l7.columns[l7.ColumnIndex("l7_protocol_str")].low_cardinality);
  EXPECT_FALSE(l7.columns[l7.ColumnIndex("endpoint")].low_cardinality);
  const TableSchema& l4 = *FindTable(t, kL4FlowLog);
  EXPECT_EQ(l4.columns[l4.ColumnIndex("rtt")].type, ColumnType::kFloat64);
  EXPECT_EQ(l4.columns[l4.ColumnIndex("mac_0")].type, ColumnType::kString);
  const TableSchema& app = *FindTable(t, kApplication1s);
  EXPECT_EQ(app.columns[app.ColumnIndex("rrt_p99")].type, ColumnType::kFloat64);
}

TEST(TablesTest, EveryRecordRoundTripsIntoABatch) {
  L4FlowLog l4;
  l4.time = 1700000000;
  l4.ip_0 = Ip("10.0.0.1");
  l4.ip_1 = Ip("fe80::1");
  l4.is_new_flow = true;
  l4.rtt = 12.5;
  CheckRoundTrip(l4, kL4FlowLog);

  L7FlowLog l7;
  l7.time = 1700000000;
  l7.endpoint = "GET /x";
  l7.attributes = {{"a", "b"}};
  CheckRoundTrip(l7, kL7FlowLog);
  l7.has_request_id = l7.has_response_code = l7.has_sql_affected_rows = true;
  l7.response_code = -3;
  CheckRoundTrip(l7, kL7FlowLog);

  NetworkRow n;
  n.meter.rtt.Add(100);
  CheckRoundTrip(n, kNetwork1s);
  CheckRoundTrip(n, kNetwork1m);
  CheckRoundTrip(NetworkMapRow{}, kNetworkMap1s);
  CheckRoundTrip(NetworkMapRow{}, kNetworkMap1m);
  ApplicationRow a;
  a.endpoint = "/api";
  CheckRoundTrip(a, kApplication1s);
  CheckRoundTrip(a, kApplication1m);
  CheckRoundTrip(ApplicationMapRow{}, kApplicationMap1s);
  CheckRoundTrip(ApplicationMapRow{}, kApplicationMap1m);
}

TEST(TablesTest, AppendRecordValues) {
  const std::vector<TableSchema> t = StandardTables();
  const TableSchema& s = *FindTable(t, kL7FlowLog);
  L7FlowLog r;
  r.time = 1700000123;
  r.ip_0 = Ip("2001:db8::7");
  r.is_tls = true;
  r.response_code = 404;  // has_response_code false: NULL
  r.request_length = -1;
  r.endpoint = std::string("a\0b", 3);
  r.attributes = {{"k1", "v1"}, {"k2", "v2"}};
  RowBatch b(&s);
  AppendRecord(&b, r);
  const auto& row = b.rows()[0];
  auto at = [&](std::string_view c) { return row.at(s.ColumnIndex(c)); };
  EXPECT_EQ(at("time"), Value(uint64_t{1700000123}));
  EXPECT_EQ(at("ip_0"), Value(r.ip_0));
  EXPECT_EQ(at("is_ipv4"), Value(uint64_t{0}));
  EXPECT_EQ(at("is_tls"), Value(uint64_t{1}));
  EXPECT_EQ(at("response_code"), Value());
  EXPECT_EQ(at("request_id"), Value());
  EXPECT_EQ(at("request_length"), Value(int64_t{-1}));
  EXPECT_EQ(at("endpoint"), Value(std::string("a\0b", 3)));
  EXPECT_EQ(at("l7_protocol_str"), Value(std::string(L7ProtocolName(r.l7_protocol))));
  EXPECT_EQ(at("attribute_names"), Value(std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(at("attribute_values"), Value(std::vector<std::string>{"v1", "v2"}));
}

TEST(TablesTest, AppendRecordIntoAnEvolvedSchema) {
  // A newer schema with an extra column in the middle and one at the end: NULLs there.
  TableSchema s =
      SchemaOf<NetworkRow>("flow_metrics", "network.1s", {"time"}, std::chrono::hours(1));
  const size_t base = s.columns.size();
  s.columns.insert(s.columns.begin() + 2, Column{"extra_mid", ColumnType::kUInt32});
  s.columns.push_back(Column{"extra_end", ColumnType::kString});
  NetworkRow n;
  n.time = 5;
  n.server_port = 443;
  RowBatch b(&s);
  AppendRecord(&b, n);
  ASSERT_EQ(b.rows()[0].size(), base + 2);
  EXPECT_EQ(b.rows()[0][0], Value(uint64_t{5}));
  EXPECT_EQ(b.rows()[0][2], Value());
  EXPECT_EQ(b.rows()[0][s.ColumnIndex("server_port")], Value(uint64_t{443}));
  EXPECT_EQ(b.rows()[0].back(), Value());
}

}  // namespace
}  // namespace flowscope::server::storage
