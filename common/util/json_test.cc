#include "common/util/json.h"

#include <gtest/gtest.h>

#include "common/records/l4_flow_log.h"

namespace flowscope {
namespace {

TEST(JsonTest, EscapesControlAndQuoteCharacters) {
  std::string s;
  AppendJsonString(&s, std::string_view("a\"b\\c\n\x01", 7));
  EXPECT_EQ(s, R"("a\"b\\c\n\u0001")");
}

TEST(JsonTest, Doubles) {
  std::string s;
  AppendJsonDouble(&s, 12.0);
  s.push_back(' ');
  AppendJsonDouble(&s, 0.1234);
  s.push_back(' ');
  AppendJsonDouble(&s, 1.0 / 0.0);
  EXPECT_EQ(s, "12 0.123 null");
}

TEST(JsonTest, L4FlowLogUsesColumnNames) {
  L4FlowLog r;
  ASSERT_TRUE(IpAddr::Parse("10.0.0.1", &r.ip_0));
  ASSERT_TRUE(IpAddr::Parse("10.0.0.2", &r.ip_1));
  r.client_port = 40000;
  r.server_port = 80;
  r.protocol = 6;
  r.close_type = CloseType::kTcpServerRst;
  r.byte_tx = 123;
  r.rtt = 56.5;
  std::string j = ToJson(r);
  EXPECT_EQ(j.front(), '{');
  EXPECT_EQ(j.back(), '}');
  EXPECT_NE(j.find(R"("ip_0":"10.0.0.1")"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("server_port":80)"), std::string::npos);
  EXPECT_NE(j.find(R"("close_type":2)"), std::string::npos);
  EXPECT_NE(j.find(R"("byte_tx":123)"), std::string::npos);
  EXPECT_NE(j.find(R"("rtt":56.500)"), std::string::npos);
  EXPECT_NE(j.find(R"("is_ipv4":true)"), std::string::npos);
}

}  // namespace
}  // namespace flowscope
