// The L7 engine with a toy line protocol, so that reassembly, skipping, resync, pairing and
// timeouts are tested on their own, independent of any real protocol:
//   request  "REQ <id> <name> [<body length>]\n" followed by <body length> bytes
//   response "RSP <id> <code>\n"
// In "ordered" mode the ids are ignored for pairing (pipelining); in "multiplexed" mode they are
// the pair id.
#include "agent/l7/engine.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "agent/l7/text.h"

namespace flowscope::agent::l7 {
namespace {

constexpr uint64_t kT0 = 1'700'000'000'000'000'000ull;
constexpr uint64_t kMs = 1'000'000;

bool multiplexed_mode = false;

class ToyParser : public Parser {
 public:
  ParseResult Parse(const ParseInput& in, L7Message* out) override {
    size_t nl = in.data.find('\n');
    if (nl == std::string_view::npos) {
      if (in.at_limit || !LooksLikeStart(in.data)) return ParseResult::Invalid();
      return ParseResult::NeedMore();
    }
    std::vector<std::string_view> f = Split(in.data.substr(0, nl), ' ');
    if (f.size() < 3 || (f[0] != "REQ" && f[0] != "RSP")) return ParseResult::Invalid();
    out->is_request = f[0] == "REQ";
    uint64_t id = std::stoull(std::string(f[1]));
    if (multiplexed_mode) {
      out->has_pair_id = true;
      out->pair_id = id;
    }
    out->has_request_id = true;
    out->request_id = id;
    uint64_t skip = 0;
    if (out->is_request) {
      out->request_type = "GET";
      out->request_resource = std::string(f[2]);
      out->expects_response = f[2] != "oneway";
      if (f.size() >= 4) skip = std::stoull(std::string(f[3]));
      out->length = static_cast<int64_t>(skip);
    } else {
      out->has_code = true;
      out->code = std::stoi(std::string(f[2]));
      out->status = out->code >= 500   ? L7ResponseStatus::kServerError
                    : out->code >= 400 ? L7ResponseStatus::kClientError
                                       : L7ResponseStatus::kOk;
    }
    return ParseResult::Ok(static_cast<uint32_t>(nl + 1), skip);
  }
  size_t FindBoundary(Direction, std::string_view data) override {
    size_t a = data.find("REQ ");
    size_t b = data.find("RSP ");
    size_t at = std::min(a, b);
    return at == std::string_view::npos ? data.size() : at;
  }

 private:
  static bool LooksLikeStart(std::string_view d) {
    std::string_view p = d.substr(0, 4);
    return std::string_view("REQ ").substr(0, p.size()) == p ||
           std::string_view("RSP ").substr(0, p.size()) == p;
  }
};

InferResult ToyInfer(const InferInput& in) {
  return in.data.substr(0, 4) == "REQ " ? InferResult::kYes : InferResult::kNo;
}
std::unique_ptr<Parser> MakeToy(const L7Config&) { return std::make_unique<ToyParser>(); }

const ProtocolSpec kToy = {L7Protocol::kRedis, "toy", true, true, {7777}, ToyInfer, MakeToy};

class Rows : public L7Sink {
 public:
  void OnL7Log(const L7FlowLog& r) override { rows.push_back(r); }
  std::vector<L7FlowLog> rows;
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    multiplexed_mode = false;
    IpAddr::Parse("10.0.0.1", &flow_.ip_0);
    IpAddr::Parse("10.0.0.2", &flow_.ip_1);
    flow_.client_port = 40000;
    flow_.server_port = 7777;
    flow_.protocol = kIpProtoTcp;
    flow_.flow_id = 9;
  }
  // Client payload at time t (ms) with its TCP sequence, tracking the next sequence.
  void C(uint64_t ms, std::string_view d) { Send(Direction::kClientToServer, ms, d, &cseq_); }
  void S(uint64_t ms, std::string_view d) { Send(Direction::kServerToClient, ms, d, &sseq_); }
  void Send(Direction dir, uint64_t ms, std::string_view d, uint32_t* seq) {
    engine_.OnPayload(&state_, flow_, dir, kT0 + ms * kMs, true, *seq, d,
                      static_cast<uint32_t>(d.size()));
    *seq += static_cast<uint32_t>(d.size());
  }

  L7Config config_;
  Rows out_;
  L7Engine engine_{config_, &out_, {&kToy}};
  FlowL7StatePtr state_;
  FlowInfo flow_;
  uint32_t cseq_ = 1000, sseq_ = 5000;
};

TEST_F(EngineTest, PipelinedRequestsPairInOrder) {
  C(0, "REQ 1 a\nREQ 2 b\nREQ 3 c\n");
  S(2, "RSP 1 200\nRSP 2 404\n");
  S(5, "RSP 3 500\n");
  ASSERT_EQ(out_.rows.size(), 3u);
  EXPECT_EQ(out_.rows[0].request_resource, "a");
  EXPECT_EQ(out_.rows[0].response_code, 200);
  EXPECT_EQ(out_.rows[0].response_status, L7ResponseStatus::kOk);
  EXPECT_EQ(out_.rows[0].response_duration, 2000u);
  EXPECT_EQ(out_.rows[0].type, L7LogType::kSession);
  L7FlowCounters c = L7Engine::TakeCounters(state_.get());
  EXPECT_EQ(c.request, 3u);
  EXPECT_EQ(c.response, 3u);
  EXPECT_EQ(c.client_error, 1u);
  EXPECT_EQ(c.server_error, 1u);
  EXPECT_EQ(c.rrt_count, 3u);
  EXPECT_EQ(c.rrt_sum, 2000u + 2000u + 5000u);
  EXPECT_EQ(c.rrt_max, 5000u);
  EXPECT_EQ(out_.rows[1].request_resource, "b");
  EXPECT_EQ(out_.rows[1].response_status, L7ResponseStatus::kClientError);
  EXPECT_EQ(out_.rows[2].response_status, L7ResponseStatus::kServerError);
  EXPECT_EQ(out_.rows[2].response_duration, 5000u);
  // Sequence numbers of each message's first byte.
  EXPECT_EQ(out_.rows[0].req_tcp_seq, 1000u);
  EXPECT_EQ(out_.rows[1].req_tcp_seq, 1008u);
  EXPECT_EQ(out_.rows[1].resp_tcp_seq, 5010u);
  EXPECT_EQ(out_.rows[0].l7_protocol, L7Protocol::kRedis);
  EXPECT_EQ(out_.rows[0].client_port, 40000);
  EXPECT_EQ(engine_.stats().requests, 3u);
  EXPECT_EQ(engine_.stats().responses, 3u);
  EXPECT_EQ(L7Engine::ProtocolOf(state_.get()), L7Protocol::kRedis);
}

TEST_F(EngineTest, MultiplexedResponsesPairById) {
  multiplexed_mode = true;
  C(0, "REQ 7 a\nREQ 8 b\n");
  S(1, "RSP 8 200\n");
  S(3, "RSP 7 201\n");
  ASSERT_EQ(out_.rows.size(), 2u);
  EXPECT_EQ(out_.rows[0].request_resource, "b");
  EXPECT_EQ(out_.rows[0].response_duration, 1000u);
  EXPECT_EQ(out_.rows[1].request_resource, "a");
  EXPECT_EQ(out_.rows[1].response_code, 201);
  EXPECT_EQ(out_.rows[1].request_id, 7u);
}

TEST_F(EngineTest, MessageSpanningPayloadsIsReassembled) {
  C(0, "REQ 1 lo");
  C(1, "ng-name\n");
  S(4, "RSP 1 2");
  S(6, "00\n");
  ASSERT_EQ(out_.rows.size(), 1u);
  EXPECT_EQ(out_.rows[0].request_resource, "long-name");
  EXPECT_EQ(out_.rows[0].response_code, 200);
  EXPECT_EQ(out_.rows[0].start_time, (kT0) / 1000);           // first segment of the request
  EXPECT_EQ(out_.rows[0].response_duration, 4000u);           // first segment of the response
}

TEST_F(EngineTest, LongBodiesAreSkippedWithoutBuffering) {
  std::string body(5000, 'x');
  C(0, "REQ 1 upload 5000\n" + body.substr(0, 1000));
  C(1, body.substr(1000, 3000));
  C(2, body.substr(4000) + "REQ 2 next\n");
  S(3, "RSP 1 200\nRSP 2 200\n");
  ASSERT_EQ(out_.rows.size(), 2u);
  EXPECT_EQ(out_.rows[0].request_length, 5000);
  EXPECT_EQ(out_.rows[1].request_resource, "next");
  EXPECT_EQ(engine_.stats().skipped_bytes, 5000u);
  EXPECT_EQ(engine_.stats().invalid, 0u);
}

TEST_F(EngineTest, GarbageIsCountedAndSkipped) {
  C(0, "REQ 1 a\n");
  C(1, "\x01\x02garbage!!REQ 2 b\n");
  S(2, "RSP 1 200\nRSP 2 200\n");
  ASSERT_EQ(out_.rows.size(), 2u);
  EXPECT_EQ(out_.rows[1].request_resource, "b");
  EXPECT_GE(engine_.stats().invalid, 1u);
}

TEST_F(EngineTest, SequenceGapResynchronises) {
  C(0, "REQ 1 a\nREQ 2 par");
  cseq_ += 100;  // 100 bytes never captured
  C(1, "tial\nREQ 3 c\n");
  S(2, "RSP 1 200\n");
  S(3, "RSP 3 200\n");
  EXPECT_EQ(engine_.stats().gaps, 1u);
  ASSERT_GE(out_.rows.size(), 2u);
  EXPECT_EQ(out_.rows[0].request_resource, "a");
  // "REQ 2" was cut by the gap and is never logged; "REQ 3" is found again.
  bool saw_c = false;
  for (const auto& r : out_.rows) saw_c |= r.request_resource == "c";
  EXPECT_TRUE(saw_c);
}

TEST_F(EngineTest, RetransmittedBytesAreDropped) {
  C(0, "REQ 1 a\n");
  cseq_ -= 8;
  C(1, "REQ 1 a\n");  // the same segment again
  S(2, "RSP 1 200\n");
  ASSERT_EQ(out_.rows.size(), 1u);
  EXPECT_EQ(engine_.stats().retransmitted_bytes, 8u);
  EXPECT_EQ(engine_.stats().requests, 1u);
}

TEST_F(EngineTest, UnansweredRequestTimesOut) {
  C(0, "REQ 1 a\nREQ 2 b\n");
  S(1, "RSP 1 200\n");
  engine_.Expire(state_.get(), flow_, kT0 + 60'000 * kMs);
  EXPECT_EQ(out_.rows.size(), 1u);
  engine_.Expire(state_.get(), flow_, kT0 + 121'000 * kMs);  // request timeout 120 s
  ASSERT_EQ(out_.rows.size(), 2u);
  EXPECT_EQ(out_.rows[1].request_resource, "b");
  EXPECT_EQ(out_.rows[1].response_status, L7ResponseStatus::kTimeout);
  EXPECT_EQ(out_.rows[1].type, L7LogType::kRequest);
  EXPECT_EQ(out_.rows[1].time, (kT0 + 121'000 * kMs) / 1'000'000'000);
  EXPECT_EQ(engine_.stats().timeouts, 1u);
}

TEST_F(EngineTest, FlowEndTimesOutPendingRequests) {
  C(0, "REQ 1 a\n");
  engine_.OnFlowEnd(&state_, flow_, kT0 + 5 * kMs);
  ASSERT_EQ(out_.rows.size(), 1u);
  EXPECT_EQ(out_.rows[0].response_status, L7ResponseStatus::kTimeout);
  L7FlowCounters c = L7Engine::TakeCounters(state_.get());
  EXPECT_EQ(c.request, 1u);
  EXPECT_EQ(c.timeout, 1u);
  EXPECT_EQ(c.response, 0u);
  EXPECT_EQ(L7Engine::TakeCounters(state_.get()).request, 0u);  // taken
}

TEST_F(EngineTest, OrphanResponseAndOneWayRequest) {
  C(0, "REQ 1 oneway\n");
  S(1, "RSP 9 200\n");
  ASSERT_EQ(out_.rows.size(), 2u);
  EXPECT_EQ(out_.rows[0].type, L7LogType::kRequest);
  EXPECT_EQ(out_.rows[0].response_status, L7ResponseStatus::kOk);
  EXPECT_EQ(out_.rows[1].type, L7LogType::kResponse);
  EXPECT_EQ(engine_.stats().orphan_responses, 1u);
  EXPECT_EQ(engine_.stats().one_way, 1u);
}

TEST_F(EngineTest, InferenceGivesUpAfterTheConfiguredAttempts) {
  for (int i = 0; i < 20; ++i) C(i, "HELLO\n");
  EXPECT_EQ(engine_.stats().flows_unknown, 1u);
  C(30, "REQ 1 a\n");  // too late: the flow was given up
  EXPECT_TRUE(out_.rows.empty());
  EXPECT_EQ(L7Engine::ProtocolOf(state_.get()), L7Protocol::kUnknown);
}

TEST_F(EngineTest, TruncatedPayloadResynchronises) {
  // 20 bytes were sent but only 10 captured: the rest of the stream starts at unknown ground.
  engine_.OnPayload(&state_, flow_, Direction::kClientToServer, kT0, true, cseq_,
                    "REQ 1 abcd", 20);
  cseq_ += 20;
  C(1, "xx\nREQ 2 b\n");
  S(2, "RSP 2 200\n");
  EXPECT_EQ(engine_.stats().truncated, 1u);
  bool saw_b = false;
  for (const auto& r : out_.rows) saw_b |= r.request_resource == "b";
  EXPECT_TRUE(saw_b);
}

TEST_F(EngineTest, UdpDatagramsAreWholeMessages) {
  flow_.protocol = kIpProtoUdp;
  multiplexed_mode = true;
  engine_.OnPayload(&state_, flow_, Direction::kClientToServer, kT0, false, 0, "REQ 5 q\n", 8);
  engine_.OnPayload(&state_, flow_, Direction::kServerToClient, kT0 + kMs, false, 0,
                    "RSP 5 200\n", 10);
  ASSERT_EQ(out_.rows.size(), 1u);
  EXPECT_EQ(out_.rows[0].response_duration, 1000u);
}

TEST_F(EngineTest, MessagesLongerThanTheParseBoundAreCutNotBuffered) {
  // No newline within max_parse_bytes: the parser gives up at the bound; nothing is buffered
  // beyond it and the stream recovers at the next request.
  std::string huge = "REQ 1 " + std::string(3000, 'n');
  C(0, huge);
  C(1, "\nREQ 2 ok\n");
  S(2, "RSP 2 200\n");
  bool saw_ok = false;
  for (const auto& r : out_.rows) saw_ok |= r.request_resource == "ok";
  EXPECT_TRUE(saw_ok);
  EXPECT_GE(engine_.stats().invalid, 1u);
}

}  // namespace
}  // namespace flowscope::agent::l7
