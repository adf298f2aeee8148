// The agent ↔ server messages: a batch round-trips, and the generated gRPC services work over a
// real loopback connection (the server and the agent sender come in server/ and agent/).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/proto/flowscope.grpc.pb.h"
#include "common/proto/flowscope.pb.h"

namespace flowscope::proto {
namespace {

TEST(Proto, RowBlockRoundTrips) {
  RowBlock block;
  block.add_columns("time");
  block.add_columns("ip_0");
  block.add_columns("attribute_names");
  Row* row = block.add_rows();
  row->add_cells()->set_u(1795572481);
  row->add_cells()->set_ip(std::string("\x7f\x00\x00\x01", 4));
  row->add_cells()->mutable_strings()->add_values("http_user_agent");
  DataBatch batch;
  batch.set_agent_id(7);
  batch.set_seq(42);
  batch.set_kind(L7_FLOW_LOG);
  batch.set_row_count(1);
  ASSERT_TRUE(block.SerializeToString(batch.mutable_payload()));
  std::string wire;
  ASSERT_TRUE(batch.SerializeToString(&wire));

  DataBatch back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.seq(), 42u);
  EXPECT_EQ(back.kind(), L7_FLOW_LOG);
  RowBlock rows;
  ASSERT_TRUE(rows.ParseFromString(back.payload()));
  ASSERT_EQ(rows.rows_size(), 1);
  EXPECT_EQ(rows.rows(0).cells(0).u(), 1795572481u);
  EXPECT_EQ(rows.rows(0).cells(1).ip().size(), 4u);
  EXPECT_EQ(rows.rows(0).cells(2).strings().values(0), "http_user_agent");
  // Garbage is refused, not crashed on.
  EXPECT_FALSE(back.ParseFromString(std::string("\xff\xff\xff\xff\x0f", 5)));
}

class TestServer final : public Synchronizer::Service, public Ingest::Service {
 public:
  grpc::Status Sync(grpc::ServerContext*, const SyncRequest* req, SyncResponse* resp) override {
    resp->set_agent_id(req->agent_id() != 0 ? req->agent_id() : 5);
    resp->set_config_version(1);
    resp->set_heartbeat_seconds(10);
    return grpc::Status::OK;
  }
  grpc::Status Push(grpc::ServerContext*,
                    grpc::ServerReaderWriter<Ack, DataBatch>* stream) override {
    DataBatch b;
    while (stream->Read(&b)) {
      Ack ack;
      ack.set_seq(b.seq());
      if (b.kind() == RECORD_UNKNOWN) ack.set_error("unknown record kind");
      stream->Write(ack);
    }
    return grpc::Status::OK;
  }
};

TEST(Proto, SyncAndPushOverLoopback) {
  TestServer service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(static_cast<Synchronizer::Service*>(&service));
  builder.RegisterService(static_cast<Ingest::Service*>(&service));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                     grpc::InsecureChannelCredentials());

  auto sync = Synchronizer::NewStub(channel);
  SyncRequest req;
  req.mutable_agent()->set_host_name("host-a");
  SyncResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(sync->Sync(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.agent_id(), 5u);

  auto ingest = Ingest::NewStub(channel);
  grpc::ClientContext pctx;
  auto stream = ingest->Push(&pctx);
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    DataBatch b;
    b.set_seq(seq);
    b.set_kind(seq == 2 ? RECORD_UNKNOWN : L4_FLOW_LOG);
    ASSERT_TRUE(stream->Write(b));
    Ack ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.seq(), seq);
    EXPECT_EQ(ack.error().empty(), seq != 2);
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  server->Shutdown();
}

}  // namespace
}  // namespace flowscope::proto
