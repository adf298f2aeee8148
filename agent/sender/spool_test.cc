#include "agent/sender/spool.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace flowscope::agent::sender {
namespace {

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("fs_spool_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  Spool Open(uint64_t max_bytes = 1 << 20, uint64_t segment_bytes = 4096) {
    auto s = Spool::Open({dir_.string(), max_bytes, segment_bytes});
    EXPECT_TRUE(s.ok()) << s.status();
    return std::move(*s);
  }
  static std::string Payload(uint64_t seq, size_t n = 100) {
    std::string p(n, static_cast<char>('a' + seq % 26));
    p += "#" + std::to_string(seq);
    return p;
  }
  std::filesystem::path dir_;
};

TEST_F(SpoolTest, ReplaysInOrderAndForgetsWhatIsAcknowledged) {
  Spool s = Open();
  for (uint64_t seq = 1; seq <= 100; ++seq) ASSERT_TRUE(s.Append(seq, Payload(seq)).ok());
  EXPECT_EQ(s.stats().batches, 100u);
  EXPECT_GT(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);  // several segments
  for (uint64_t seq = 1; seq <= 60; ++seq) {
    auto b = s.Next();
    ASSERT_TRUE(b.ok() && b->has_value());
    EXPECT_EQ((*b)->seq, seq);
    EXPECT_EQ((*b)->payload, Payload(seq));
  }
  ASSERT_TRUE(s.Ack(40).ok());
  EXPECT_EQ(s.stats().batches, 60u);
  EXPECT_EQ(s.stats().acked, 40u);
  // The connection drops: replay resumes after the last acknowledged batch.
  s.Rewind();
  auto b = s.Next();
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_EQ((*b)->seq, 41u);
  ASSERT_TRUE(s.Ack(100).ok());
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.stats().bytes, 0u);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 0);
  auto none = s.Next();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(SpoolTest, TheBoundDropsTheOldestSegmentsAndCountsThem) {
  Spool s = Open(/*max_bytes=*/2000, /*segment_bytes=*/500);
  for (uint64_t seq = 1; seq <= 50; ++seq) ASSERT_TRUE(s.Append(seq, Payload(seq)).ok());
  EXPECT_LE(s.stats().bytes, 2000u);
  EXPECT_GT(s.stats().dropped_batches, 0u);
  EXPECT_EQ(s.stats().dropped_batches + s.stats().batches, 50u);  // nothing lost silently
  auto b = s.Next();
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_EQ((*b)->seq, s.stats().dropped_batches + 1);  // the oldest that survived
  EXPECT_FALSE(s.Append(51, std::string(5000, 'x')).ok());  // larger than the bound
  EXPECT_FALSE(s.Append(10, "old").ok());                    // out of order
}

TEST_F(SpoolTest, ARestartedAgentFindsAndReplaysWhatWasLeft) {
  {
    Spool s = Open();
    for (uint64_t seq = 1; seq <= 30; ++seq) ASSERT_TRUE(s.Append(seq, Payload(seq)).ok());
    ASSERT_TRUE(s.Ack(10).ok());
  }
  Spool s = Open();
  // Acknowledgements of whole segments survive (their files are gone); the rest is replayed and
  // the server drops what it already has by sequence number.
  auto b = s.Next();
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_LE((*b)->seq, 11u);
  uint64_t last = (*b)->seq, n = 1;
  for (;;) {
    auto next = s.Next();
    ASSERT_TRUE(next.ok());
    if (!next->has_value()) break;
    EXPECT_EQ((*next)->seq, last + 1);
    EXPECT_EQ((*next)->payload, Payload((*next)->seq));
    last = (*next)->seq;
    ++n;
  }
  EXPECT_EQ(last, 30u);
  ASSERT_TRUE(s.Append(31, Payload(31)).ok());
}

TEST_F(SpoolTest, ATornRecordEndsItsSegmentAndIsCounted) {
  {
    Spool s = Open(1 << 20, 1 << 20);  // one segment
    for (uint64_t seq = 1; seq <= 5; ++seq) ASSERT_TRUE(s.Append(seq, Payload(seq)).ok());
  }
  // A crash in the middle of writing batch 6: half a record at the end.
  const auto file = std::filesystem::directory_iterator(dir_)->path();
  {
    std::ofstream f(file, std::ios::app | std::ios::binary);
    f.write("\x64\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00garbage", 19);
  }
  // And a flipped byte in batch 5's payload would end it there too; here only the tail is bad.
  Spool s = Open(1 << 20, 1 << 20);
  EXPECT_EQ(s.stats().batches, 5u);
  EXPECT_EQ(s.stats().corrupt_records, 1u);
  ASSERT_TRUE(s.Append(6, Payload(6)).ok());
  for (uint64_t seq = 1; seq <= 6; ++seq) {
    auto b = s.Next();
    ASSERT_TRUE(b.ok() && b->has_value());
    EXPECT_EQ((*b)->seq, seq);
    EXPECT_EQ((*b)->payload, Payload(seq));
  }
}

TEST_F(SpoolTest, BadOptionsAreRefused) {
  EXPECT_FALSE(Spool::Open({"", 1, 1}).ok());
  EXPECT_FALSE(Spool::Open({dir_.string(), 0, 1}).ok());
  EXPECT_FALSE(Spool::Open({"/proc/nope/spool", 1 << 20, 4096}).ok());
}

}  // namespace
}  // namespace flowscope::agent::sender
