#include "server/storage/clickhouse/clickhouse_backend.h"
#include "server/storage/clickhouse/http_client.h"

#include <zlib.h>

#include "gtest/gtest.h"

namespace flowscope::server::storage::clickhouse {
namespace {

TEST(UrlTest, Parses) {
  auto u = ParseClickHouseUrl("clickhouse://ch.example:18123/prod");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "ch.example");
  EXPECT_EQ(u->port, 18123);
  EXPECT_EQ(u->HttpBase(), "http://ch.example:18123/");
  EXPECT_EQ(u->Database("flow_log"), "prod_flow_log");

  u = ParseClickHouseUrl("clickhouse://127.0.0.1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 8123);
  EXPECT_EQ(u->Database("flow_log"), "flow_log");

  u = ParseClickHouseUrl("clickhouse://fs:s3cret@[::1]:8124/");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->user, "fs");
  EXPECT_EQ(u->password, "s3cret");
  EXPECT_EQ(u->HttpBase(), "http://[::1]:8124/");
  EXPECT_EQ(u->Database("x"), "x");
}

TEST(UrlTest, RefusesBadUrlsNamingThem) {
  for (std::string_view bad :
       {"http://h:8123", "clickhouse://", "clickhouse://h:0", "clickhouse://h:65536",
        "clickhouse://h:x", "clickhouse://h/db-name", "clickhouse://[::1", "clickhouse://h/a;b"}) {
    auto u = ParseClickHouseUrl(bad);
    ASSERT_FALSE(u.ok()) << bad;
    EXPECT_NE(std::string(u.status().message()).find(bad), std::string_view::npos) << u.status();
  }
}

TEST(HttpTest, UrlEncodeAndGzipRoundTrip) {
  EXPECT_EQ(UrlEncode("INSERT INTO `a`.`b.1s` FORMAT RowBinary"),
            "INSERT%20INTO%20%60a%60.%60b.1s%60%20FORMAT%20RowBinary");
  std::string in(100000, 'x');
  for (size_t i = 0; i < in.size(); i += 7) in[i] = static_cast<char>(i);
  auto z = Gzip(in);
  ASSERT_TRUE(z.ok());
  ASSERT_GT(z->size(), 10u);
  EXPECT_EQ(static_cast<uint8_t>((*z)[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<uint8_t>((*z)[1]), 0x8b);
  EXPECT_LT(z->size(), in.size() / 2);
  std::string back(in.size(), '\0');
  z_stream zs{};
  ASSERT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(z->data());
  zs.avail_in = static_cast<uInt>(z->size());
  zs.next_out = reinterpret_cast<Bytef*>(back.data());
  zs.avail_out = static_cast<uInt>(back.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  inflateEnd(&zs);
  EXPECT_EQ(back, in);
}

TEST(HttpTest, RefusedConnectionIsUnavailable) {
  // Port 1 on loopback: nothing listens there in a test environment.
  HttpClient c("http://127.0.0.1:1/", "", "");
  auto r = c.Post({{"query", "SELECT 1"}}, "", std::chrono::milliseconds(2000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_NE(std::string(r.status().message()).find("127.0.0.1:1"), std::string_view::npos);
}

}  // namespace
}  // namespace flowscope::server::storage::clickhouse
