#include "agent/l7/trace_context.h"

#include <gtest/gtest.h>

namespace flowscope::agent::l7 {
namespace {

TEST(TraceContextTest, Traceparent) {
  std::string t, s;
  EXPECT_TRUE(ParseTraceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", &t, &s));
  EXPECT_EQ(t, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(s, "00f067aa0ba902b7");
  EXPECT_FALSE(ParseTraceparent("00-short-00f067aa0ba902b7-01", &t, &s));
  EXPECT_FALSE(ParseTraceparent("garbage", &t, &s));
}

TEST(TraceContextTest, Sw8) {
  // trace id "trace-1", segment "seg-9", span 3 (values base64-encoded as SkyWalking does).
  std::string t, s;
  EXPECT_TRUE(ParseSw8("1-dHJhY2UtMQ==-c2VnLTk=-3-c3Zj-aW5zdA==-L2FwaQ==-aG9zdDo4MA==", &t, &s));
  EXPECT_EQ(t, "trace-1");
  EXPECT_EQ(s, "seg-9-3");
  EXPECT_FALSE(ParseSw8("1-!!!-x-3", &t, &s));
}

TEST(TraceContextTest, B3AndUber) {
  std::string t, s, p;
  EXPECT_TRUE(ParseB3("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
                      &t, &s, &p));
  EXPECT_EQ(t, "80f198ee56343ba864fe8b2a57d3eff7");
  EXPECT_EQ(s, "e457b5a2e4d86bd1");
  EXPECT_EQ(p, "05e3ac9a4f6e3b90");
  std::string t2, s2, p2;
  EXPECT_TRUE(ParseUberTraceId("abc123%3Adef456%3A0%3A1", &t2, &s2, &p2));
  EXPECT_EQ(t2, "abc123");
  EXPECT_EQ(s2, "def456");
  EXPECT_EQ(p2, "");  // parent 0 means none
  EXPECT_FALSE(ParseUberTraceId("a:b", &t2, &s2, &p2));
}

TEST(TraceContextTest, CollectorHonoursPriorityAndExtras) {
  L7Config config;  // trace ids: traceparent before sw8 before b3 ...
  TraceHeaderCollector c(config);
  c.Offer("X-B3-TraceId", "1111111111111111");
  c.Offer("TraceParent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  c.Offer("X-Request-ID", "  req-42 ");
  c.Offer("X-Forwarded-For", "203.0.113.7, 10.0.0.1");
  c.Offer("User-Agent", "curl");
  TraceContext ctx;
  c.Finish(&ctx);
  EXPECT_EQ(ctx.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(ctx.span_id, "00f067aa0ba902b7");
  EXPECT_EQ(ctx.x_request_id, "req-42");
  EXPECT_EQ(ctx.http_proxy_client, "203.0.113.7");
}

TEST(TraceContextTest, CollectorFallsBackToLowerPriority) {
  L7Config config;
  TraceHeaderCollector c(config);
  c.Offer("x-b3-traceid", "463ac35c9f6413ad48485a3953bb6124");
  c.Offer("x-b3-spanid", "a2fb4a1d1a96d312");
  c.Offer("x-b3-parentspanid", "0020000000000001");
  TraceContext ctx;
  c.Finish(&ctx);
  EXPECT_EQ(ctx.trace_id, "463ac35c9f6413ad48485a3953bb6124");
  EXPECT_EQ(ctx.span_id, "a2fb4a1d1a96d312");
  EXPECT_EQ(ctx.parent_span_id, "0020000000000001");
}

TEST(TraceContextTest, MalformedWinnerIsNotCopied) {
  L7Config config;
  TraceHeaderCollector c(config);
  c.Offer("traceparent", "not-a-traceparent");
  TraceContext ctx;
  c.Finish(&ctx);
  EXPECT_EQ(ctx.trace_id, "");
}

}  // namespace
}  // namespace flowscope::agent::l7
