#include "server/storage/clickhouse/row_binary.h"

#include <limits>

#include "gtest/gtest.h"

// GCC 12, inlining RowBatch::Append of a temporary Value, reports a false maybe-uninitialized
// on the variant's other members (see server/storage/tables.h AppendNulls).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace flowscope::server::storage::clickhouse {
namespace {

using namespace std::string_literals;

TableSchema OneColumn(ColumnType t) {
  TableSchema s;
  s.database = "db";
  s.name = "t";
  s.columns = {{"c", t}};
  return s;
}

std::string Encode(ColumnType t, Value v) {
  TableSchema s = OneColumn(t);
  RowBatch b(&s);
  b.BeginRow();
  b.Append(std::move(v));
  std::string out;
  EXPECT_TRUE(AppendRowBinary(b, &out).ok());
  return out;
}

TEST(VarUIntTest, Leb128) {
  std::string out;
  AppendVarUInt(0, &out);
  AppendVarUInt(127, &out);
  AppendVarUInt(128, &out);
  AppendVarUInt(300, &out);
  EXPECT_EQ(out, "\x00\x7f\x80\x01\xac\x02"s);
  out.clear();
  AppendVarUInt(std::numeric_limits<uint64_t>::max(), &out);
  EXPECT_EQ(out, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"s);
}

TEST(RowBinaryTest, IntegersLittleEndianInTheirWidthAtTheirMaxima) {
  EXPECT_EQ(Encode(ColumnType::kUInt8, uint64_t{255}), "\xff"s);
  EXPECT_EQ(Encode(ColumnType::kUInt16, uint64_t{0xfffe}), "\xfe\xff"s);
  EXPECT_EQ(Encode(ColumnType::kUInt32, uint64_t{0x01020304}), "\x04\x03\x02\x01"s);
  EXPECT_EQ(Encode(ColumnType::kUInt64, std::numeric_limits<uint64_t>::max()), std::string(8, '\xff'));
  EXPECT_EQ(Encode(ColumnType::kInt32, int64_t{-2}), "\xfe\xff\xff\xff"s);
  EXPECT_EQ(Encode(ColumnType::kInt32, int64_t{std::numeric_limits<int32_t>::min()}),
            "\x00\x00\x00\x80"s);
  EXPECT_EQ(Encode(ColumnType::kInt64, std::numeric_limits<int64_t>::max()),
            "\xff\xff\xff\xff\xff\xff\xff\x7f"s);
  EXPECT_EQ(Encode(ColumnType::kInt64, std::numeric_limits<int64_t>::min()),
            "\x00\x00\x00\x00\x00\x00\x00\x80"s);
  // Either signedness is accepted when the value fits.
  EXPECT_EQ(Encode(ColumnType::kInt64, uint64_t{1}), "\x01\x00\x00\x00\x00\x00\x00\x00"s);
  EXPECT_EQ(Encode(ColumnType::kUInt16, int64_t{258}), "\x02\x01"s);
}

TEST(RowBinaryTest, FloatDateTimeStringIpArray) {
  EXPECT_EQ(Encode(ColumnType::kFloat64, 1.5), "\x00\x00\x00\x00\x00\x00\xf8\x3f"s);
  EXPECT_EQ(Encode(ColumnType::kDateTime, uint64_t{1700000000}), "\x00\xf1\x53\x65"s);
  EXPECT_EQ(Encode(ColumnType::kString, "a'\tü"s), "\x05" "a'\t\xc3\xbc"s);
  EXPECT_EQ(Encode(ColumnType::kString, std::string(200, 'x')), "\xc8\x01"s + std::string(200, 'x'));
  IpAddr v4;
  ASSERT_TRUE(IpAddr::Parse("10.1.2.3", &v4));
  EXPECT_EQ(Encode(ColumnType::kIp, v4), "\x0a\x01\x02\x03"s + std::string(12, '\0'));
  IpAddr v6;
  ASSERT_TRUE(IpAddr::Parse("2001:db8::1", &v6));
  EXPECT_EQ(Encode(ColumnType::kIp, v6),
            "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"s);
  EXPECT_EQ(Encode(ColumnType::kArrayString, std::vector<std::string>{"ab", "", "c"}),
            "\x03\x02" "ab" "\x00\x01" "c"s);
  EXPECT_EQ(Encode(ColumnType::kArrayString, std::vector<std::string>{}), "\x00"s);
}

TEST(RowBinaryTest, MissingValuesAreDefaults) {
  EXPECT_EQ(Encode(ColumnType::kUInt32, Value{}), std::string(4, '\0'));
  EXPECT_EQ(Encode(ColumnType::kString, Value{}), "\x00"s);
  EXPECT_EQ(Encode(ColumnType::kIp, Value{}), std::string(16, '\0'));
  EXPECT_EQ(Encode(ColumnType::kArrayString, Value{}), "\x00"s);
  EXPECT_EQ(Encode(ColumnType::kFloat64, Value{}), std::string(8, '\0'));
}

TEST(RowBinaryTest, RowsConcatenateColumnsInSchemaOrder) {
  TableSchema s;
  s.database = "db";
  s.name = "t";
  s.columns = {{"time", ColumnType::kDateTime}, {"p", ColumnType::kString, true},
               {"n", ColumnType::kUInt16}};
  RowBatch b(&s);
  b.BeginRow();
  b.Append(uint64_t{1});
  b.Append("http"s);
  b.Append(uint64_t{80});
  b.BeginRow();
  b.Append(uint64_t{2});
  b.Append(""s);
  b.Append(uint64_t{443});
  std::string out = "prefix";
  ASSERT_TRUE(AppendRowBinary(b, &out).ok());
  EXPECT_EQ(out, "prefix" "\x01\x00\x00\x00" "\x04" "http" "\x50\x00"
                 "\x02\x00\x00\x00" "\x00" "\xbb\x01"s);
}

TEST(RowBinaryTest, BadValuesNameTheColumnAndLeaveOutputUntouched) {
  TableSchema s;
  s.database = "db";
  s.name = "t";
  s.columns = {{"a", ColumnType::kUInt8}, {"b", ColumnType::kString}};
  auto check = [&](Value a, Value b_value, std::string_view message) {
    RowBatch b(&s);
    b.BeginRow();
    b.Append(uint64_t{1});
    b.Append("ok"s);
    b.BeginRow();
    b.Append(std::move(a));
    b.Append(std::move(b_value));
    std::string out = "keep";
    absl::Status st = AppendRowBinary(b, &out);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(st.message()).find(message), std::string::npos) << st;
    EXPECT_NE(std::string(st.message()).find("db.t row 1"), std::string::npos) << st;
    EXPECT_EQ(out, "keep");
  };
  check(Value(uint64_t{256}), Value("x"s), "column a: uint64 value does not fit UInt8");
  check(Value(int64_t{-1}), Value("x"s), "column a: int64 value does not fit UInt8");
  check(Value(uint64_t{1}), Value(uint64_t{1}), "column b: uint64 value does not fit String");
  check(Value("x"s), Value("x"s), "column a: string value does not fit UInt8");
  // Wrong number of values.
  RowBatch b(&s);
  b.BeginRow();
  b.Append(uint64_t{1});
  std::string out;
  EXPECT_FALSE(AppendRowBinary(b, &out).ok());
  EXPECT_TRUE(out.empty());
  // Int32 range both ways.
  TableSchema i = OneColumn(ColumnType::kInt32);
  auto fails = [&](Value v) {
    RowBatch bi(&i);
    bi.BeginRow();
    bi.Append(std::move(v));
    return !AppendRowBinary(bi, &out).ok();
  };
  EXPECT_TRUE(fails(Value(int64_t{1} << 31)));
  EXPECT_TRUE(fails(Value(-(int64_t{1} << 31) - 1)));
  EXPECT_TRUE(fails(Value(uint64_t{1} << 31)));
}

}  // namespace
}  // namespace flowscope::server::storage::clickhouse
