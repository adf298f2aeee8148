#include "server/storage/clickhouse/tsv.h"

#include "gtest/gtest.h"

namespace flowscope::server::storage::clickhouse {
namespace {

using namespace std::string_literals;
using Strings = std::vector<std::string>;

TEST(TsvTest, ValuesByType) {
  // As 18.16 writes it (header escaped like the data).
  const std::string body =
      "u\ti\tf\td\ts\tfs\ta\tn\tlc\te\tdz\n"
      "UInt64\tInt32\tFloat64\tDateTime\tString\tFixedString(4)\tArray(String)\tNullable(Int32)\t"
      "LowCardinality(String)\tEnum8(\\'a\\' = 1)\tDateTime(\\'Asia/Tokyo\\')\n"
      "18446744073709551615\t-2147483648\t-inf\t2023-11-14 22:13:20\ta\\tb\\nc\\'d\\\\e\\0\t"
      "ab\\0\\0\t['x\\ty','q\\'z','','[,]']\t\\N\tlc\ta\t2023-11-15 07:13:20\n"
      "0\t7\t0.5\t0000-00-00 00:00:00\t\xc3\xbc\t\\0\\0\\0\\0\t[]\t5\t\ta\t1970-01-01 09:00:00\n";
  auto r = ParseTsvWithNamesAndTypes(body, "UTC");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->columns, (Strings{"u", "i", "f", "d", "s", "fs", "a", "n", "lc", "e", "dz"}));
  EXPECT_EQ(r->types[9], "Enum8('a' = 1)");
  ASSERT_EQ(r->rows.size(), 2u);
  const auto& a = r->rows[0];
  EXPECT_EQ(a[0], Value{uint64_t{18446744073709551615u}});
  EXPECT_EQ(a[1], Value{int64_t{-2147483648}});
  EXPECT_TRUE(std::isinf(std::get<double>(a[2])) && std::get<double>(a[2]) < 0);
  EXPECT_EQ(a[3], Value{uint64_t{1700000000}});
  EXPECT_EQ(a[4], Value{"a\tb\nc'd\\e\0"s});
  EXPECT_EQ(a[5], Value{"ab\0\0"s});
  EXPECT_EQ(a[6], Value{(Strings{"x\ty", "q'z", "", "[,]"})});
  EXPECT_EQ(a[7], Value{});
  EXPECT_EQ(a[8], Value{"lc"s});
  EXPECT_EQ(a[9], Value{"a"s});
  EXPECT_EQ(a[10], Value{uint64_t{1700000000}});  // type's own timezone
  const auto& b = r->rows[1];
  EXPECT_EQ(b[2], Value{0.5});
  EXPECT_EQ(b[3], Value{uint64_t{0}});
  EXPECT_EQ(b[4], Value{"\xc3\xbc"s});
  EXPECT_EQ(b[6], Value{Strings{}});
  EXPECT_EQ(b[7], Value{int64_t{5}});
  EXPECT_EQ(b[8], Value{""s});
  EXPECT_EQ(b[10], Value{uint64_t{0}});
}

TEST(TsvTest, ServerTimezoneAppliesToPlainDateTime) {
  auto r = ParseTsvWithNamesAndTypes("t\nDateTime\n1970-01-01 09:00:00\n", "Asia/Tokyo");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rows[0][0], Value{uint64_t{0}});
}

TEST(TsvTest, ArraysOfNumbersAndNestedArraysKeepElementText) {
  auto r = ParseTsvWithNamesAndTypes(
      "a\tb\tip\nArray(UInt8)\tArray(Array(String))\tIPv6\n[1,2]\t[['a,b'],[]]\t::1\n", "UTC");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rows[0][0], Value{(Strings{"1", "2"})});
  EXPECT_EQ(r->rows[0][1], Value{(Strings{"['a,b']", "[]"})});
  IpAddr one;
  ASSERT_TRUE(IpAddr::Parse("::1", &one));
  EXPECT_EQ(r->rows[0][2], Value{one});
}

TEST(TsvTest, EmptyBodyIsNoResultSet) {
  auto r = ParseTsvWithNamesAndTypes("", "UTC");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->columns.empty());
}

TEST(TsvTest, MalformedRepliesAreErrors) {
  for (std::string body : {
           "x\nUInt8\n1"s,                    // no final newline
           "x\n"s,                            // no types
           "x\ty\nUInt8\n"s,                  // names ≠ types
           "x\nUInt8\n256x\n"s,               // not a number
           "x\nUInt8\n1\t2\n"s,               // too many fields
           "x\nInt64\n-\n"s,                  //
           "x\nString\nab\\\n"s,              // dangling escape
           "x\nString\n\\x4\n"s,              // short hex escape
           "x\nArray(String)\n['a'\n"s,       // unclosed array
           "x\nArray(String)\n['a\n"s,        //
           "x\nArray(String)\n['a',]\n"s,     //
           "x\nArray(String)\n[1]]\n"s,       //
           "x\nDateTime\n2023-13-01 00:00:00\n"s,
           "x\nIPv4\n1.2.3\n"s,
           "x\nNullable(String)\n\\\n"s,
       }) {
    auto r = ParseTsvWithNamesAndTypes(body, "UTC");
    EXPECT_FALSE(r.ok()) << body;
  }
}

TEST(TsvTest, UnescapeTsv) {
  std::string out;
  ASSERT_TRUE(UnescapeTsv("a\\x41\\b\\f\\r\\\"", &out));
  EXPECT_EQ(out, "aA\b\f\r\"");
  EXPECT_FALSE(UnescapeTsv("\\x4", &out));
  EXPECT_FALSE(UnescapeTsv("\\", &out));
}

}  // namespace
}  // namespace flowscope::server::storage::clickhouse
