#include "agent/l7/protocols/kafka/kafka.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "agent/l7/testing/engine_like_feeder.h"
#include "agent/l7/testing/facts.h"
#include "agent/l7/testing/pcap_connections.h"

namespace flowscope::agent::l7::kafka {
namespace {

using namespace std::string_literals;

constexpr Direction kC2S = Direction::kClientToServer;
constexpr Direction kS2C = Direction::kServerToClient;

// Builds Kafka encodings (protocol.html § Protocol Primitive Types).
class Buf {
 public:
  Buf& I8(int v) {
    s_.push_back(static_cast<char>(v));
    return *this;
  }
  Buf& I16(int v) { return Be(static_cast<uint16_t>(v), 2); }
  Buf& I32(int64_t v) { return Be(static_cast<uint32_t>(v), 4); }
  Buf& I64(int64_t v) { return Be(static_cast<uint64_t>(v), 8); }
  Buf& Raw(std::string_view v) {
    s_.append(v);
    return *this;
  }
  Buf& Str(std::string_view v) {
    I16(static_cast<int>(v.size()));
    return Raw(v);
  }
  Buf& NullStr() { return I16(-1); }
  Buf& UVar(uint64_t v) {
    while (v >= 0x80) {
      s_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    s_.push_back(static_cast<char>(v));
    return *this;
  }
  Buf& Var(int64_t v) {
    return UVar((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  Buf& CStr(std::string_view v) {
    UVar(v.size() + 1);
    return Raw(v);
  }
  Buf& CArr(size_t n) { return UVar(n + 1); }
  Buf& Tags() { return UVar(0); }
  const std::string& str() const { return s_; }
  size_t size() const { return s_.size(); }

 private:
  template <typename T>
  Buf& Be(T v, int n) {
    for (int i = n - 1; i >= 0; --i) s_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return *this;
  }
  std::string s_;
};

std::string Sized(const std::string& payload) {
  return Buf().I32(static_cast<int64_t>(payload.size())).Raw(payload).str();
}

// A request: header v1 (or v2 with `flexible`), then `body`.
std::string Request(int key, int version, int32_t corr, std::string_view client,
                    const std::string& body, bool flexible = false) {
  Buf h;
  h.I16(key).I16(version).I32(corr).Str(client);
  if (flexible) h.Tags();
  return Sized(h.str() + body);
}

std::string Response(int32_t corr, const std::string& body, bool header_tags = false) {
  Buf h;
  h.I32(corr);
  if (header_tags) h.Tags();
  return Sized(h.str() + body);
}

// A v2 record batch with one uncompressed record carrying `headers`.
std::string RecordBatch(const std::vector<std::pair<std::string, std::string>>& headers,
                        std::string_view value = "hello", int16_t attributes = 0) {
  Buf rec;
  rec.I8(0).Var(0).Var(0).Var(-1).Var(static_cast<int64_t>(value.size())).Raw(value);
  rec.Var(static_cast<int64_t>(headers.size()));
  for (const auto& [k, v] : headers) {
    rec.Var(static_cast<int64_t>(k.size())).Raw(k).Var(static_cast<int64_t>(v.size())).Raw(v);
  }
  Buf record;
  record.Var(static_cast<int64_t>(rec.size())).Raw(rec.str());
  Buf after_length;  // partitionLeaderEpoch .. records
  after_length.I32(0)
      .I8(2)
      .I32(0x12345678)
      .I16(attributes)
      .I32(0)
      .I64(1700000000000)
      .I64(1700000000000)
      .I64(-1)
      .I16(-1)
      .I32(-1)
      .I32(1)
      .Raw(record.str());
  return Buf().I64(0).I32(static_cast<int64_t>(after_length.size())).Raw(after_length.str()).str();
}

constexpr char kTraceparent[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

std::string ProduceV7(int32_t corr, std::string_view topic, int acks = -1,
                      const std::string& batch = RecordBatch({{"traceparent", kTraceparent}})) {
  Buf b;
  b.NullStr()
      .I16(acks)
      .I32(30000)
      .I32(1)
      .Str(topic)
      .I32(1)
      .I32(0)
      .I32(static_cast<int64_t>(batch.size()))
      .Raw(batch);
  return Request(0, 7, corr, "fsl7-producer", b.str());
}

std::string ProduceResponseV7(int32_t corr, std::string_view topic, int error) {
  Buf b;
  b.I32(1).Str(topic).I32(1).I32(0).I16(error).I64(42).I64(-1).I64(0).I32(0);
  return Response(corr, b.str());
}

std::string ApiVersionsV3Request(int32_t corr) {
  return Request(18, 3, corr, "rdkafka", Buf().CStr("librdkafka").CStr("2.0.2").Tags().str(), true);
}

L7Config Config() { return L7Config(); }

ParseResult ParseOne(KafkaParser& p, Direction dir, std::string_view data, L7Message* m,
                     bool at_limit = false) {
  return p.Parse(ParseInput{dir, data, at_limit, false}, m);
}

// ---- Requests and responses ----

TEST(KafkaTest, ApiVersionsFlexibleRequestAndHeaderV0Response) {
  L7Config config = Config();
  KafkaParser p(config);
  const std::string req = ApiVersionsV3Request(1);
  L7Message m;
  ParseResult r = ParseOne(p, kC2S, req, &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, req.size());
  EXPECT_EQ(r.skip, 0u);
  EXPECT_TRUE(m.is_request);
  EXPECT_EQ(m.request_type, "ApiVersions");
  EXPECT_EQ(m.version, "3");
  EXPECT_TRUE(m.has_pair_id);
  EXPECT_EQ(m.pair_id, 1u);
  EXPECT_TRUE(m.has_request_id);
  EXPECT_EQ(m.request_id, 1u);
  EXPECT_TRUE(m.expects_response);
  EXPECT_EQ(m.length, static_cast<int64_t>(req.size() - 4));
  EXPECT_EQ(p.pending(), 1u);

  // Response header v0 although v3 is flexible: error_code right after the correlation id.
  const std::string resp = Response(1, Buf().I16(35).CArr(0).I32(0).Tags().str());
  L7Message rm;
  r = ParseOne(p, kS2C, resp, &rm);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, resp.size());
  EXPECT_FALSE(rm.is_request);
  EXPECT_EQ(rm.pair_id, 1u);
  EXPECT_TRUE(rm.has_code);
  EXPECT_EQ(rm.code, 35);
  EXPECT_EQ(rm.status, L7ResponseStatus::kClientError);
  EXPECT_EQ(rm.exception, "UNSUPPORTED_VERSION");
  EXPECT_EQ(rm.request_type, "ApiVersions");
  EXPECT_EQ(rm.length, static_cast<int64_t>(resp.size() - 4));
  EXPECT_EQ(p.pending(), 0u);
}

TEST(KafkaTest, ProduceV7TopicPartitionAndTraceHeader) {
  L7Config config = Config();
  KafkaParser p(config);
  const std::string req = ProduceV7(4, "fsl7-orders");
  L7Message m;
  ParseResult r = ParseOne(p, kC2S, req, &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, req.size());
  EXPECT_EQ(m.request_type, "Produce");
  EXPECT_EQ(m.version, "7");
  EXPECT_EQ(m.request_domain, "fsl7-orders");
  EXPECT_EQ(m.request_resource, "fsl7-orders");
  EXPECT_EQ(m.endpoint, "fsl7-orders-0");
  EXPECT_EQ(m.trace.trace_id, "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(m.trace.span_id, "b7ad6b7169203331");
  EXPECT_TRUE(m.expects_response);

  const std::string resp = ProduceResponseV7(4, "fsl7-orders", 6);
  L7Message rm;
  r = ParseOne(p, kS2C, resp, &rm);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(rm.code, 6);
  EXPECT_EQ(rm.status, L7ResponseStatus::kServerError);
  EXPECT_EQ(rm.exception, "NOT_LEADER_OR_FOLLOWER");
}

TEST(KafkaTest, ProduceHeadersOfCompressedBatchAreNotRead) {
  L7Config config = Config();
  KafkaParser p(config);
  L7Message m;
  const std::string req =
      ProduceV7(4, "t", -1, RecordBatch({{"traceparent", kTraceparent}}, "v", /*gzip=*/1));
  ASSERT_EQ(ParseOne(p, kC2S, req, &m).state, ParseState::kOk);
  EXPECT_EQ(m.request_domain, "t");
  EXPECT_TRUE(m.trace.trace_id.empty());
}

TEST(KafkaTest, ProduceAcksZeroExpectsNoResponse) {
  L7Config config = Config();
  KafkaParser p(config);
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S, ProduceV7(9, "logs", 0), &m).state, ParseState::kOk);
  EXPECT_FALSE(m.expects_response);
  EXPECT_EQ(p.pending(), 0u);
  // A "response" with that correlation id is not one.
  L7Message rm;
  EXPECT_EQ(ParseOne(p, kS2C, ProduceResponseV7(9, "logs", 0), &rm).state, ParseState::kInvalid);
}

TEST(KafkaTest, ProduceV9FlexibleWithSw8Header) {
  L7Config config = Config();
  KafkaParser p(config);
  const std::string sw8 =
      "1-MGFmNzY1MTkxNmNkNDNkZDg0NDhlYjIxMWM4MDMxOWM=-MWYyZDNjNGI1YTY5Nzg4MA==-3-c2Vydg==-"
      "aW5zdA==-L2FwaQ==-MTI3LjAuMC4xOjgwODA=";
  const std::string batch = RecordBatch({{"sw8", sw8}, {"k", "v"}});
  Buf b;
  b.CStr("txn-1").I16(1).I32(30000).CArr(2);
  b.CStr("orders").CArr(1).I32(3).UVar(batch.size() + 1).Raw(batch).Tags().Tags();
  b.CStr("audit").CArr(1).I32(0).UVar(1).Tags().Tags();  // null records
  b.Tags();
  const std::string req = Request(0, 9, 77, "java-producer", b.str(), true);
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S, req, &m).state, ParseState::kOk);
  EXPECT_EQ(m.version, "9");
  EXPECT_EQ(m.request_domain, "orders");
  EXPECT_EQ(m.request_resource, "orders,audit");
  EXPECT_EQ(m.endpoint, "orders-3");
  EXPECT_EQ(m.trace.trace_id, "0af7651916cd43dd8448eb211c80319c");

  // Flexible response: header tagged fields, compact arrays.
  Buf rb;
  rb.CArr(1)
      .CStr("orders")
      .CArr(1)
      .I32(3)
      .I16(3)
      .I64(-1)
      .I64(-1)
      .I64(-1)
      .CArr(0)
      .UVar(0)
      .Tags()
      .Tags()
      .I32(0)
      .Tags();
  const std::string resp = Response(77, rb.str(), true);
  L7Message rm;
  ParseResult r = ParseOne(p, kS2C, resp, &rm);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, resp.size());
  EXPECT_EQ(rm.code, 3);
  EXPECT_EQ(rm.status, L7ResponseStatus::kClientError);
  EXPECT_EQ(rm.exception, "UNKNOWN_TOPIC_OR_PARTITION");
}

TEST(KafkaTest, FetchV11RequestAndResponses) {
  L7Config config = Config();
  KafkaParser p(config);
  Buf b;
  b.I32(-1)
      .I32(100)
      .I32(1)
      .I32(52428800)
      .I8(0)
      .I32(0)
      .I32(-1)
      .I32(1)
      .Str("fsl7-orders")
      .I32(1)
      .I32(0)
      .I32(-1)
      .I64(5)
      .I64(-1)
      .I32(1048576)
      .I32(0)
      .Str("");
  const std::string req = Request(1, 11, 8, "fsl7-consumer", b.str());
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S, req, &m).state, ParseState::kOk);
  EXPECT_EQ(m.request_type, "Fetch");
  EXPECT_EQ(m.request_domain, "fsl7-orders");
  EXPECT_EQ(m.endpoint, "fsl7-orders-0");

  // throttle, error_code 0, session_id, responses [topic, partitions [index, error_code 1]]
  Buf rb;
  rb.I32(0).I16(0).I32(0).I32(1).Str("fsl7-orders").I32(1).I32(0).I16(1).I64(5);
  L7Message rm;
  ASSERT_EQ(ParseOne(p, kS2C, Response(8, rb.str()), &rm).state, ParseState::kOk);
  EXPECT_EQ(rm.code, 1);
  EXPECT_EQ(rm.exception, "OFFSET_OUT_OF_RANGE");
  EXPECT_EQ(rm.status, L7ResponseStatus::kClientError);

  // A session error at the top level wins.
  ASSERT_EQ(ParseOne(p, kC2S, Request(1, 11, 9, "c", b.str()), &m).state, ParseState::kOk);
  ASSERT_EQ(ParseOne(p, kS2C, Response(9, Buf().I32(0).I16(70).I32(0).I32(0).str()), &rm).state,
            ParseState::kOk);
  EXPECT_EQ(rm.code, 70);
  EXPECT_EQ(rm.exception, "FETCH_SESSION_ID_NOT_FOUND");
  EXPECT_EQ(rm.status, L7ResponseStatus::kServerError);
}

TEST(KafkaTest, FetchV13NamesTopicsById) {
  L7Config config = Config();
  KafkaParser p(config);
  Buf b;
  b.I32(-1)
      .I32(500)
      .I32(1)
      .I32(1000)
      .I8(0)
      .I32(0)
      .I32(-1)
      .CArr(1)
      .Raw("\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef"s)
      .CArr(1)
      .I32(2)
      .I32(-1)
      .I64(0)
      .I32(-1)
      .I64(-1)
      .I32(1000)
      .Tags()
      .Tags()
      .CArr(0)
      .CStr("")
      .Tags();
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S, Request(1, 13, 3, "c", b.str(), true), &m).state, ParseState::kOk);
  // No Metadata exchange named the topic: it is named by its id, as Kafka's tools print it.
  EXPECT_EQ(m.request_domain, "ASNFZ4mrze8BI0VniavN7w");
  EXPECT_EQ(m.endpoint, "ASNFZ4mrze8BI0VniavN7w-2");
  ASSERT_EQ(m.attributes.size(), 1u);
  EXPECT_EQ(m.attributes[0].first, "topic_id");
  EXPECT_EQ(m.attributes[0].second, "ASNFZ4mrze8BI0VniavN7w");
}

TEST(KafkaTest, TopicIdText) {
  EXPECT_EQ(TopicIdString(std::string(16, '\0')), "AAAAAAAAAAAAAAAAAAAAAA");
  // org.apache.kafka.common.Uuid#toString of 0x0123456789abcdef0123456789abcdef.
  EXPECT_EQ(TopicIdString("\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef"s),
            "ASNFZ4mrze8BI0VniavN7w");
  EXPECT_EQ(TopicIdString(std::string(16, '\xff')), "_____________________w");
}

// 16-byte topic id number `n`.
std::string TopicId(uint8_t n) { return std::string(15, '\x5a') + static_cast<char>(n); }

// A Fetch v13 request (flexible) for partition 0 of each topic id.
std::string FetchV13(int32_t corr, const std::vector<std::string>& ids) {
  Buf b;
  b.I32(-1).I32(500).I32(1).I32(1000).I8(0).I32(0).I32(-1).CArr(ids.size());
  for (const std::string& id : ids) {
    b.Raw(id).CArr(1).I32(0).I32(-1).I64(0).I32(-1).I64(-1).I32(1000).Tags().Tags();
  }
  b.CArr(0).CStr("").Tags();
  return Request(1, 13, corr, "c", b.str(), true);
}

// A Metadata v12 response (flexible) with one broker and `topics` (name, id), one partition each.
std::string MetadataV12Response(int32_t corr,
                                const std::vector<std::pair<std::string, std::string>>& topics) {
  Buf b;
  b.I32(0).CArr(1).I32(1).CStr("broker-1").I32(9092).UVar(0).Tags();  // rack: null
  b.CStr("cluster").I32(1).CArr(topics.size());
  for (const auto& [name, id] : topics) {
    b.I16(0).CStr(name).Raw(id).I8(0);
    b.CArr(1).I16(0).I32(0).I32(1).I32(5).CArr(1).I32(1).CArr(1).I32(1).CArr(0).Tags();
    b.I32(-2147483648).Tags();
  }
  b.Tags();
  return Response(corr, b.str(), /*header_tags=*/true);
}

// Fetch v13+ names topics by id: the names come from the Metadata responses of the flow.
TEST(KafkaTest, FetchV13TopicIdsNamedByMetadata) {
  L7Config config = Config();
  KafkaParser p(config);
  // Metadata v12 request (flexible): topics [topic_id (null), name], auto-create, authorised ops.
  const std::string req = Request(3, 12, 7, "c",
                                  Buf()
                                      .CArr(2)
                                      .Raw(std::string(16, '\0'))
                                      .CStr("orders")
                                      .Tags()
                                      .Raw(std::string(16, '\0'))
                                      .CStr("payments")
                                      .Tags()
                                      .I8(1)
                                      .I8(0)
                                      .Tags()
                                      .str(),
                                  true);
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S, req, &m).state, ParseState::kOk);
  EXPECT_EQ(m.request_resource, "orders,payments");
  EXPECT_EQ(p.topic_ids().size(), 0u);  // null ids teach nothing
  L7Message rm;
  ASSERT_EQ(
      ParseOne(p, kS2C, MetadataV12Response(7, {{"orders", TopicId(1)}, {"payments", TopicId(2)}}),
               &rm)
          .state,
      ParseState::kOk);
  EXPECT_EQ(rm.code, 0);
  EXPECT_EQ(p.topic_ids().size(), 2u);

  L7Message f;
  ASSERT_EQ(ParseOne(p, kC2S, FetchV13(8, {TopicId(2), TopicId(1), TopicId(3)}), &f).state,
            ParseState::kOk);
  EXPECT_EQ(f.request_type, "Fetch");
  EXPECT_EQ(f.request_domain, "payments");
  EXPECT_EQ(f.endpoint, "payments-0");
  // An id no Metadata response named is shown as Kafka's tools show it.
  EXPECT_EQ(f.request_resource, "payments,orders," + TopicIdString(TopicId(3)));
  ASSERT_EQ(f.attributes.size(), 1u);
  EXPECT_EQ(f.attributes[0].second, TopicIdString(TopicId(2)));

  // A later Metadata response may rename an id (a topic deleted and re-created elsewhere).
  ASSERT_EQ(
      ParseOne(p, kC2S, Request(3, 12, 9, "c", Buf().UVar(0).I8(1).I8(0).Tags().str(), true), &m)
          .state,
      ParseState::kOk);
  ASSERT_EQ(ParseOne(p, kS2C, MetadataV12Response(9, {{"renamed", TopicId(1)}}), &rm).state,
            ParseState::kOk);
  L7Message f2;
  ASSERT_EQ(ParseOne(p, kC2S, FetchV13(10, {TopicId(1)}), &f2).state, ParseState::kOk);
  EXPECT_EQ(f2.request_domain, "renamed");
}

// The names a flow keeps are bounded; the oldest go first.
TEST(KafkaTest, TopicIdsAreBounded) {
  TopicIds ids;
  for (int i = 0; i < 300; ++i) {
    std::string id(16, '\x01');
    id[0] = static_cast<char>(i >> 8);
    id[1] = static_cast<char>(i);
    ids.Learn(id, "t" + std::to_string(i));
  }
  EXPECT_EQ(ids.size(), TopicIds::kMax);
  std::string first(16, '\x01'), last(16, '\x01');
  first[0] = 0, first[1] = 0;
  last[0] = 1, last[1] = static_cast<char>(299 - 256);
  EXPECT_EQ(ids.Find(first), "");
  EXPECT_EQ(ids.Find(last), "t299");
  // Null ids and names that are not topic names are not learnt.
  ids.Learn(std::string(16, '\0'), "x");
  ids.Learn(std::string(16, '\x07'), "bad name\xff");
  EXPECT_EQ(ids.Find(std::string(16, '\0')), "");
  EXPECT_EQ(ids.Find(std::string(16, '\x07')), "");
}

TEST(KafkaTest, BigFetchResponseIsSkippedBySize) {
  L7Config config = Config();
  KafkaParser p(config);
  Buf b;
  b.I32(-1).I32(100).I32(1).I32(52428800).I8(0).I32(0).I32(-1).I32(0).I32(0).Str("");
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S, Request(1, 11, 5, "c", b.str()), &m).state, ParseState::kOk);
  const uint32_t size = 50 << 20;
  std::string resp =
      Buf().I32(size).I32(5).I32(0).I16(0).I32(0).I32(1).Str("t").I32(1).I32(0).I16(0).str();
  resp.resize(1024, 'x');
  L7Message rm;
  EXPECT_EQ(ParseOne(p, kS2C, resp, &rm).state, ParseState::kNeedMore);
  ParseResult r = ParseOne(p, kS2C, resp, &rm, /*at_limit=*/true);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(r.consumed, 1024u);
  EXPECT_EQ(r.skip, 4ull + size - 1024);
  EXPECT_EQ(rm.code, 0);
  EXPECT_EQ(rm.status, L7ResponseStatus::kOk);
  EXPECT_EQ(rm.length, size);
}

TEST(KafkaTest, MetadataTopicsAndFirstTopicError) {
  L7Config config = Config();
  KafkaParser p(config);
  L7Message m;
  const std::string req = Request(3, 2, 3, "fsl7-producer", Buf().I32(2).Str("a").Str("b").str());
  ASSERT_EQ(ParseOne(p, kC2S, req, &m).state, ParseState::kOk);
  EXPECT_EQ(m.request_type, "Metadata");
  EXPECT_EQ(m.request_domain, "a");
  EXPECT_EQ(m.request_resource, "a,b");
  EXPECT_EQ(m.endpoint, "a");
  // brokers [node, host, port, rack], cluster_id, controller_id, topics [error_code, ...]
  Buf rb;
  rb.I32(2)
      .I32(1)
      .Str("broker-1")
      .I32(9092)
      .NullStr()
      .I32(2)
      .Str("broker-2")
      .I32(9092)
      .Str("rack")
      .Str("cluster")
      .I32(1)
      .I32(1)
      .I16(5)
      .Str("a")
      .I8(0)
      .I32(0);
  L7Message rm;
  ASSERT_EQ(ParseOne(p, kS2C, Response(3, rb.str()), &rm).state, ParseState::kOk);
  EXPECT_EQ(rm.code, 5);
  EXPECT_EQ(rm.exception, "LEADER_NOT_AVAILABLE");
  EXPECT_EQ(rm.status, L7ResponseStatus::kServerError);
  // A null topic array (all topics): no topic.
  L7Message all;
  ASSERT_EQ(ParseOne(p, kC2S, Request(3, 4, 4, "c", Buf().I32(-1).I8(1).str()), &all).state,
            ParseState::kOk);
  EXPECT_EQ(all.request_domain, "");
  EXPECT_EQ(all.request_resource, "");
}

TEST(KafkaTest, GroupApisCarryGroupIdAndErrorCode) {
  L7Config config = Config();
  KafkaParser p(config);
  struct Case {
    std::string request;
    std::string response;
    std::string type;
    int code;
    L7ResponseStatus status;
  };
  const std::vector<Case> cases = {
      // JoinGroup v5: group_id, session timeout, rebalance timeout, member_id, instance id...
      {Request(
           11, 5, 1, "c",
           Buf().Str("g1").I32(45000).I32(300000).Str("").NullStr().Str("consumer").I32(0).str()),
       Response(1, Buf().I32(0).I16(79).I32(-1).Str("").Str("").Str("m-1").I32(0).str()),
       "JoinGroup", 79, L7ResponseStatus::kClientError},
      // SyncGroup v3
      {Request(14, 3, 2, "c", Buf().Str("g1").I32(1).Str("m-1").NullStr().I32(0).str()),
       Response(2, Buf().I32(0).I16(0).I32(0).str()), "SyncGroup", 0, L7ResponseStatus::kOk},
      // Heartbeat v4 (flexible): compact group id; response header v1 has tagged fields
      {Request(12, 4, 3, "c", Buf().CStr("g1").I32(1).CStr("m-1").UVar(0).Tags().str(), true),
       Response(3, Buf().I32(0).I16(27).Tags().str(), true), "Heartbeat", 27,
       L7ResponseStatus::kServerError},
      // LeaveGroup v1
      {Request(13, 1, 4, "c", Buf().Str("g1").Str("m-1").str()),
       Response(4, Buf().I32(0).I16(25).str()), "LeaveGroup", 25, L7ResponseStatus::kClientError},
      // FindCoordinator v2: key, key_type 0 (group)
      {Request(10, 2, 5, "c", Buf().Str("g1").I8(0).str()),
       Response(5, Buf().I32(0).I16(15).NullStr().I32(-1).Str("").I32(-1).str()), "FindCoordinator",
       15, L7ResponseStatus::kServerError},
      // OffsetCommit v7
      {Request(8, 7, 6, "c",
               Buf()
                   .Str("g1")
                   .I32(1)
                   .Str("m-1")
                   .NullStr()
                   .I32(1)
                   .Str("t")
                   .I32(1)
                   .I32(0)
                   .I64(10)
                   .I32(-1)
                   .NullStr()
                   .str()),
       Response(6, Buf().I32(0).I32(1).Str("t").I32(1).I32(0).I16(22).str()), "OffsetCommit", 22,
       L7ResponseStatus::kClientError},
      // OffsetFetch v5
      {Request(9, 5, 7, "c", Buf().Str("g1").I32(1).Str("t").I32(2).I32(0).I32(1).str()),
       Response(7, Buf().I32(0).I32(0).I16(0).str()), "OffsetFetch", 0, L7ResponseStatus::kOk},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.type);
    L7Message m, rm;
    ParseResult r = ParseOne(p, kC2S, c.request, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    EXPECT_EQ(r.consumed, c.request.size());
    EXPECT_EQ(m.request_type, c.type);
    ASSERT_FALSE(m.attributes.empty());
    EXPECT_EQ(m.attributes[0], (std::pair<std::string, std::string>("group_id", "g1")));
    r = ParseOne(p, kS2C, c.response, &rm);
    ASSERT_EQ(r.state, ParseState::kOk);
    EXPECT_EQ(r.consumed, c.response.size());
    if (c.type == "OffsetFetch") {
      EXPECT_FALSE(rm.has_code);  // not decoded: the top-level error comes last
    } else {
      EXPECT_TRUE(rm.has_code);
      EXPECT_EQ(rm.code, c.code);
    }
    EXPECT_EQ(rm.status, c.status);
  }
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S,
                     Request(8, 7, 10, "c",
                             Buf()
                                 .Str("g")
                                 .I32(1)
                                 .Str("m")
                                 .NullStr()
                                 .I32(1)
                                 .Str("t")
                                 .I32(1)
                                 .I32(4)
                                 .I64(1)
                                 .I32(-1)
                                 .NullStr()
                                 .str()),
                     &m)
                .state,
            ParseState::kOk);
  EXPECT_EQ(m.request_resource, "t");
  EXPECT_EQ(m.endpoint, "t-4");
}

TEST(KafkaTest, PipelinedRequestsAndOutOfOrderResponses) {
  L7Config config = Config();
  KafkaParser p(config);
  const std::string a = ApiVersionsV3Request(1);
  const std::string b = ProduceV7(2, "x");
  const std::string c = Request(12, 3, 3, "c", Buf().Str("g").I32(1).Str("m").NullStr().str());
  std::string all = a + b + c;
  std::string_view rest = all;
  for (size_t len : {a.size(), b.size(), c.size()}) {
    L7Message m;
    ParseResult r = ParseOne(p, kC2S, rest, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    EXPECT_EQ(r.consumed, len);
    rest.remove_prefix(r.consumed);
  }
  EXPECT_EQ(p.pending(), 3u);
  // Responses by correlation id, in any order; each is decoded with its own request's API.
  const std::string resps = Response(3, Buf().I32(0).I16(0).str()) + ProduceResponseV7(2, "x", 0) +
                            Response(1, Buf().I16(0).str());
  rest = resps;
  const std::vector<std::pair<uint64_t, std::string>> want = {
      {3, "Heartbeat"}, {2, "Produce"}, {1, "ApiVersions"}};
  for (const auto& [id, type] : want) {
    L7Message m;
    ParseResult r = ParseOne(p, kS2C, rest, &m);
    ASSERT_EQ(r.state, ParseState::kOk);
    EXPECT_EQ(m.pair_id, id);
    EXPECT_EQ(m.request_type, type);
    EXPECT_EQ(m.status, L7ResponseStatus::kOk);
    rest.remove_prefix(r.consumed);
  }
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(p.pending(), 0u);
}

// ---- Truncation, garbage, adversarial lengths ----

TEST(KafkaTest, EveryTruncationNeedsMoreOrIsCutAtLimit) {
  const std::vector<std::string> requests = {
      ApiVersionsV3Request(1), ProduceV7(2, "topic"),
      Request(11, 5, 3, "c",
              Buf().Str("g").I32(1).I32(1).Str("").NullStr().Str("consumer").I32(0).str())};
  for (const std::string& msg : requests) {
    for (size_t n = 0; n < msg.size(); ++n) {
      L7Config config = Config();
      KafkaParser p(config);
      L7Message m;
      ParseResult r = ParseOne(p, kC2S, std::string_view(msg).substr(0, n), &m);
      EXPECT_EQ(r.state, ParseState::kNeedMore) << n;
      L7Message m2;
      r = ParseOne(p, kC2S, std::string_view(msg).substr(0, n), &m2, /*at_limit=*/true);
      if (r.state == ParseState::kOk) {
        EXPECT_EQ(r.consumed, n);
        EXPECT_EQ(r.consumed + r.skip, msg.size());
      } else {
        EXPECT_EQ(r.state, ParseState::kInvalid);
        EXPECT_LT(n, 30u);  // only when even the header is cut
      }
    }
  }
  // Responses too (the request first, so that they can be decoded).
  const std::string resp = ProduceResponseV7(2, "topic", 0);
  for (size_t n = 0; n < resp.size(); ++n) {
    L7Config config = Config();
    KafkaParser p(config);
    L7Message m;
    ASSERT_EQ(ParseOne(p, kC2S, ProduceV7(2, "topic"), &m).state, ParseState::kOk);
    EXPECT_EQ(ParseOne(p, kS2C, std::string_view(resp).substr(0, n), &m).state,
              ParseState::kNeedMore)
        << n;
  }
}

TEST(KafkaTest, GarbageAndLyingLengthsAreInvalid) {
  L7Config config = Config();
  KafkaParser p(config);
  L7Message m;
  EXPECT_EQ(ParseOne(p, kC2S, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &m).state, ParseState::kInvalid);
  EXPECT_EQ(ParseOne(p, kC2S, "\xff\xff\xff\xff\x00\x00\x00\x00"s, &m).state,
            ParseState::kInvalid);  // 4 GiB request
  EXPECT_EQ(ParseOne(p, kC2S, Sized(Buf().I16(200).I16(0).I32(1).Str("c").str()), &m).state,
            ParseState::kInvalid);  // unknown api key
  EXPECT_EQ(ParseOne(p, kC2S, Sized(Buf().I16(3).I16(99).I32(1).Str("c").str()), &m).state,
            ParseState::kInvalid);  // absurd version
  EXPECT_EQ(ParseOne(p, kC2S, Sized(Buf().I16(3).I16(1).I32(1).I16(500).Raw("c").str()), &m).state,
            ParseState::kInvalid);  // client id longer than the message
  EXPECT_EQ(ParseOne(p, kC2S, Sized(Buf().I16(3).I16(1).I32(1).Str("c\x01").str()), &m).state,
            ParseState::kInvalid);  // binary client id
  EXPECT_EQ(ParseOne(p, kC2S, Sized(Buf().I16(3).I16(1).I32(1).I16(-2).str()), &m).state,
            ParseState::kInvalid);
  // Flexible header whose tagged fields claim more than there is.
  EXPECT_EQ(
      ParseOne(p, kC2S,
               Sized(Buf().I16(18).I16(3).I32(1).Str("c").UVar(1).UVar(0).UVar(1000).str()), &m)
          .state,
      ParseState::kInvalid);
  // A response with an unknown correlation id (no request seen) is not trusted.
  EXPECT_EQ(ParseOne(p, kS2C, Response(12345, Buf().I16(0).str()), &m).state, ParseState::kInvalid);
  EXPECT_EQ(ParseOne(p, kS2C, "\x00\x00\x00\x02\x00\x00"s, &m).state, ParseState::kInvalid);
}

TEST(KafkaTest, HugeCountsAreWalkedWithinTheData) {
  L7Config config = Config();
  KafkaParser p(config);
  // Metadata request claiming two billion topics.
  L7Message m;
  ParseResult r =
      ParseOne(p, kC2S, Request(3, 2, 1, "c", Buf().I32(0x7fffffff).Str("a").Str("b").str()), &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(m.request_resource, "a,b");
  // Produce with a huge partition count and records length.
  Buf b;
  b.NullStr()
      .I16(1)
      .I32(1)
      .I32(0x7fffffff)
      .Str("t")
      .I32(0x7fffffff)
      .I32(0)
      .I32(0x7ffffff0)
      .Raw("tiny");
  r = ParseOne(p, kC2S, Request(0, 7, 2, "c", b.str()), &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(m.request_domain, "t");
  // Metadata response with two billion brokers.
  L7Message rm;
  r = ParseOne(p, kS2C, Response(1, Buf().I32(0x7fffffff).I32(1).Str("h").I32(1).NullStr().str()),
               &rm);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_FALSE(rm.has_code);
  EXPECT_EQ(rm.status, L7ResponseStatus::kOk);
  // Many long topic names: the resource stays bounded.
  Buf many;
  many.I32(100);
  for (int i = 0; i < 100; ++i) many.Str(std::string(200, static_cast<char>('a' + i % 26)));
  r = ParseOne(p, kC2S, Request(3, 2, 3, "c", many.str()), &m);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(m.request_resource.size(), 512u);
  EXPECT_EQ(m.request_domain.size(), 200u);
  // Names that cannot be topics are not reported.
  L7Message odd;
  r = ParseOne(p, kC2S, Request(3, 2, 4, "c", Buf().I32(2).Str("bad\x01name").Str("x y").str()),
               &odd);
  ASSERT_EQ(r.state, ParseState::kOk);
  EXPECT_EQ(odd.request_resource, "");
}

TEST(KafkaTest, PendingRequestsAreBounded) {
  L7Config config = Config();
  KafkaParser p(config);
  for (int i = 0; i < 1000; ++i) {
    L7Message m;
    ASSERT_EQ(ParseOne(p, kC2S, ApiVersionsV3Request(i), &m).state, ParseState::kOk);
  }
  EXPECT_EQ(p.pending(), 256u);
  L7Message m;
  EXPECT_EQ(ParseOne(p, kS2C, Response(999, Buf().I16(0).str()), &m).state, ParseState::kOk);
  EXPECT_EQ(ParseOne(p, kS2C, Response(0, Buf().I16(0).str()), &m).state, ParseState::kInvalid);
}

TEST(KafkaTest, FindBoundary) {
  L7Config config = Config();
  KafkaParser p(config);
  const std::string req = ProduceV7(7, "t");
  const std::string garbage = "\xde\xad\xbe\xef garbage \xff\xff\xff"s;
  EXPECT_EQ(p.FindBoundary(kC2S, garbage + req), garbage.size());
  EXPECT_EQ(p.FindBoundary(kC2S, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"s), 10u);
  L7Message m;
  ASSERT_EQ(ParseOne(p, kC2S, req, &m).state, ParseState::kOk);
  const std::string resp = ProduceResponseV7(7, "t", 0);
  EXPECT_EQ(p.FindBoundary(kS2C, garbage + resp), garbage.size());
  // A plausible size with an unknown correlation id is skipped.
  EXPECT_EQ(p.FindBoundary(kS2C, Response(8, "xx") + resp), 10u);
}

TEST(KafkaTest, StatusMapping) {
  EXPECT_EQ(StatusOfError(0), L7ResponseStatus::kOk);
  EXPECT_EQ(StatusOfError(-1), L7ResponseStatus::kServerError);
  EXPECT_EQ(StatusOfError(3), L7ResponseStatus::kClientError);
  EXPECT_EQ(StatusOfError(6), L7ResponseStatus::kServerError);
  EXPECT_EQ(StatusOfError(29), L7ResponseStatus::kClientError);
  EXPECT_EQ(StatusOfError(35), L7ResponseStatus::kClientError);
  EXPECT_EQ(StatusOfError(7), L7ResponseStatus::kServerError);
  EXPECT_EQ(StatusOfError(9999), L7ResponseStatus::kServerError);
  EXPECT_EQ(ErrorName(-1), "UNKNOWN_SERVER_ERROR");
  EXPECT_EQ(ErrorName(113), "STALE_MEMBER_EPOCH");
  EXPECT_EQ(ErrorName(9999), "");
  EXPECT_EQ(ApiName(0), "Produce");
  EXPECT_EQ(ApiName(2), "ListOffsets");
  EXPECT_EQ(ApiName(18), "ApiVersions");
  EXPECT_EQ(ApiName(22), "InitProducerId");
  EXPECT_EQ(ApiName(60), "DescribeCluster");
  EXPECT_EQ(ApiName(93), "");
}

// ---- Inference ----

bool InferYes(Direction dir, std::string_view data, uint16_t port = 0) {
  return kSpec.infer(InferInput{dir, data, false, port}) == InferResult::kYes;
}

TEST(KafkaTest, InferenceAcceptsFirstRequests) {
  EXPECT_TRUE(InferYes(kC2S, ApiVersionsV3Request(1)));
  EXPECT_TRUE(InferYes(kC2S, Request(18, 0, 1, "fsl7-producer", "")));
  EXPECT_TRUE(InferYes(kC2S, ProduceV7(1, "t")));
  EXPECT_TRUE(InferYes(kC2S, ProduceV7(1, "t").substr(0, 40)));  // the start of a big one
  EXPECT_TRUE(InferYes(kC2S, ApiVersionsV3Request(1) + ProduceV7(2, "t")));
  // Not from the server, not a truncated header, not a null client id on a partial message.
  EXPECT_FALSE(InferYes(kS2C, ApiVersionsV3Request(1)));
  EXPECT_FALSE(InferYes(kC2S, ApiVersionsV3Request(1).substr(0, 12)));
  EXPECT_FALSE(
      InferYes(kC2S, Sized(Buf().I16(18).I16(0).I32(1).NullStr().str() + "x").substr(0, 14)));
  EXPECT_FALSE(kSpec.infer(InferInput{kC2S, ApiVersionsV3Request(1), true, 9092}) ==
               InferResult::kYes);
}

TEST(KafkaTest, InferenceRejectsOtherProtocolsAndNoise) {
  EXPECT_FALSE(InferYes(kC2S, "GET / HTTP/1.1\r\nHost: example\r\n\r\n"));
  EXPECT_FALSE(InferYes(kC2S, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  EXPECT_FALSE(InferYes(kC2S, "*1\r\n$4\r\nPING\r\n"));
  EXPECT_FALSE(InferYes(kC2S, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s));  // TLS
  // PostgreSQL startup: length, protocol 3.0, "user\0postgres\0..."
  EXPECT_FALSE(InferYes(kC2S,
                        "\x00\x00\x00\x29\x00\x03\x00\x00user\0postgres\0database\0"
                        "postgres\0\0"s));
  EXPECT_FALSE(InferYes(kC2S, "\x00\x00\x00\x08\x04\xd2\x16\x2f"s));  // PostgreSQL SSLRequest
  // MySQL handshake response (3-byte length, sequence 1).
  EXPECT_FALSE(InferYes(kC2S, "\x55\x00\x00\x01\x8d\xa6\xff\x09\x00\x00\x00\x01\x21"s));
  // MQTT CONNECT.
  EXPECT_FALSE(InferYes(kC2S, "\x10\x16\x00\x04MQTT\x04\x02\x00\x3c\x00\x0aclient-abc"s));
  // DNS over TCP.
  EXPECT_FALSE(InferYes(kC2S,
                        "\x00\x1d\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                        "\x07example\x03com\x00\x00\x01\x00\x01"s));
  EXPECT_FALSE(InferYes(kC2S, "\x80\x00\x00\x03\x00\x00\x00\x00"s));  // memcached binary
  std::mt19937 rng(11);
  int yes = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s(1 + rng() % 96, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    yes += InferYes(kC2S, s);
  }
  EXPECT_EQ(yes, 0);
}

// ---- Real traffic (testdata/*.pcap, facts from tshark) ----

TEST(KafkaPcapTest, AgreesWithTshark) {
  const l7test::Recording rec = l7test::LoadRecording("kafka", "kafka_mock");
  ASSERT_TRUE(rec.facts.is_object());
  const uint16_t port = l7test::FactPort(rec.facts["records"][0]["server"]);
  std::map<uint64_t, const L7Message*> requests, responses;  // by first frame
  std::map<std::string, l7test::ParsedConnection> parsed;
  const L7Config config;  // parsers keep a reference to it
  for (const auto& [key, conn] : l7test::ReadConnections(rec.pcap, {port})) {
    const l7test::Segment* first = conn.First(kC2S);
    EXPECT_TRUE(InferYes(kC2S, first != nullptr ? first->bytes : "", port)) << key;
    KafkaParser parser(config);
    parsed[key] = l7test::ParseConnection(conn, &parser);
    EXPECT_EQ(parsed[key].invalid, 0) << key;
  }
  size_t n_req = 0, n_resp = 0;
  for (const auto& [key, conn] : parsed) {
    for (size_t i = 0; i < conn.messages.size(); ++i) {
      const L7Message& m = conn.messages[i];
      (m.is_request ? requests : responses)[conn.frames[i]] = &m;
      (m.is_request ? n_req : n_resp)++;
    }
  }
  EXPECT_EQ(n_req, rec.facts["counts"]["requests"].get<size_t>());
  EXPECT_EQ(n_resp, rec.facts["counts"]["responses"].get<size_t>());

  // tshark's value names differ from Kafka's in one place.
  auto method_of = [](const std::string& tshark) {
    return tshark == "Offsets" ? std::string("ListOffsets") : tshark;
  };
  l7test::Agreement agreement;
  size_t traces = 0;
  for (const auto& fact : rec.facts["records"]) {
    const uint64_t req_frame = fact["request"]["first_frame"];
    auto it = requests.find(req_frame);
    if (it == requests.end()) {
      agreement.Add(false);
      ADD_FAILURE() << "no request parsed in frame " << req_frame;
      continue;
    }
    const L7Message& req = *it->second;
    const std::string want_resource = fact["resource"].is_null() ? "" : fact["resource"];
    bool ok = req.request_type == method_of(fact["method"]) &&
              req.version == std::to_string(fact["api_version"].get<int>()) &&
              req.pair_id == fact["correlation_id"].get<uint64_t>() &&
              req.request_resource == want_resource;
    if (!fact["group_id"].is_null()) {
      bool has_group = false;
      for (const auto& [k, v] : req.attributes)
        has_group |= k == "group_id" && v == fact["group_id"];
      ok = ok && has_group;
    }
    for (const auto& h : fact["record_headers"]) {
      if (h[0] == "traceparent") {
        ++traces;
        ok = ok && req.trace.trace_id == "0af7651916cd43dd8448eb211c80319c";
      }
    }
    if (!fact["response"].is_null()) {
      auto rit = responses.find(fact["response"]["first_frame"].get<uint64_t>());
      if (rit == responses.end()) {
        ok = false;
      } else {
        const L7Message& resp = *rit->second;
        const int want = fact["status"].get<int>();
        ok = ok && resp.pair_id == req.pair_id && resp.code == want &&
             (resp.status != L7ResponseStatus::kOk) == fact["error"].get<bool>();
      }
    }
    EXPECT_TRUE(ok) << "frame " << req_frame << ": " << req.request_type << " v" << req.version
                    << " | " << req.request_resource << " | " << fact["method"] << " "
                    << fact["resource"] << " status " << fact["status"];
    agreement.Add(ok);
  }
  EXPECT_EQ(traces, 4u);
  agreement.Finish(rec.facts, "kafka_mock");
}

}  // namespace
}  // namespace flowscope::agent::l7::kafka
