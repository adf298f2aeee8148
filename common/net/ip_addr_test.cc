#include "common/net/ip_addr.h"

#include <gtest/gtest.h>

#include "absl/hash/hash.h"

namespace flowscope {
namespace {

TEST(IpAddrTest, ParsesAndFormatsBothFamilies) {
  IpAddr a;
  ASSERT_TRUE(IpAddr::Parse("10.1.2.3", &a));
  EXPECT_TRUE(a.is_v4);
  EXPECT_EQ(a.ToString(), "10.1.2.3");
  EXPECT_EQ(a.V4Host(), 0x0a010203u);
  IpAddr b;
  ASSERT_TRUE(IpAddr::Parse("fd00::1", &b));
  EXPECT_FALSE(b.is_v4);
  EXPECT_EQ(b.ToString(), "fd00::1");
  IpAddr c;
  EXPECT_FALSE(IpAddr::Parse("10.1.2", &c));
  EXPECT_FALSE(IpAddr::Parse("not an ip", &c));
}

TEST(IpAddrTest, EqualityAndHashIgnoreOrigin) {
  const uint8_t raw[4] = {192, 168, 0, 1};
  IpAddr a = IpAddr::V4(raw);
  IpAddr b;
  ASSERT_TRUE(IpAddr::Parse("192.168.0.1", &b));
  EXPECT_EQ(a, b);
  EXPECT_EQ(absl::Hash<IpAddr>()(a), absl::Hash<IpAddr>()(b));
  IpAddr v6;
  ASSERT_TRUE(IpAddr::Parse("::ffff:192.168.0.1", &v6));
  EXPECT_FALSE(a == v6);  // families differ
  EXPECT_TRUE(a < v6);
}

TEST(IpAddrTest, MacToString) {
  const uint8_t mac[6] = {0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xff};
  EXPECT_EQ(MacToString(mac), "00:1b:21:aa:bb:ff");
}

}  // namespace
}  // namespace flowscope
