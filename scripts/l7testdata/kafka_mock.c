// Real Kafka protocol traffic on loopback without a broker package: librdkafka's mock cluster
// (rdkafka_mock.h) is an in-process broker that listens on 127.0.0.1 (ephemeral port) and
// speaks the Kafka wire protocol to ordinary librdkafka clients over TCP.
//   gcc -O2 -o kafka_mock kafka_mock.c -lrdkafka
//   kafka_mock            prints the broker address, then runs the clients below
// Producer: ApiVersions, Metadata, then three Produce requests (one per message, acks=all),
// each message with a traceparent header; the first Produce is answered with an injected
// NOT_LEADER_FOR_PARTITION error (error_code 6) and is retried by the client.
// Consumer (group fsl7-group): FindCoordinator, JoinGroup, SyncGroup, OffsetFetch,
// ListOffsets, Fetch, Heartbeat, OffsetCommit, LeaveGroup.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOPIC "fsl7-orders"

static void die(const char *what, const char *detail) {
  fprintf(stderr, "kafka_mock: %s: %s\n", what, detail);
  exit(1);
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
  char err[256];
  if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) die(k, err);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void) {
  char err[256];
  rd_kafka_conf_t *hconf = rd_kafka_conf_new();
  set(hconf, "log_level", "3");
  rd_kafka_t *host = rd_kafka_new(RD_KAFKA_PRODUCER, hconf, err, sizeof(err));
  if (host == NULL) die("host instance", err);
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(host, 1);
  if (mc == NULL) die("mock cluster", "rd_kafka_mock_cluster_new failed");
  const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mc);
  printf("broker %s\n", bootstraps);
  fflush(stdout);
  if (rd_kafka_mock_topic_create(mc, TOPIC, 1, 1) != RD_KAFKA_RESP_ERR_NO_ERROR)
    die("topic", TOPIC);

  // ---- producer
  rd_kafka_conf_t *pconf = rd_kafka_conf_new();
  set(pconf, "bootstrap.servers", bootstraps);
  set(pconf, "client.id", "fsl7-producer");
  set(pconf, "acks", "all");
  set(pconf, "linger.ms", "0");
  set(pconf, "retry.backoff.ms", "50");
  set(pconf, "log_level", "3");
  rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof(err));
  if (p == NULL) die("producer", err);
  rd_kafka_mock_push_request_errors(mc, 0 /* Produce */, 1,
                                    RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  for (int i = 0; i < 3; i++) {
    char key[16], value[64], tp[64];
    snprintf(key, sizeof(key), "order-%d", i);
    snprintf(value, sizeof(value), "{\"order\":%d,\"qty\":%d}", i, i + 1);
    snprintf(tp, sizeof(tp), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333%d-01", i);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("traceparent", tp, (ssize_t)strlen(tp)), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) die("produce", rd_kafka_err2str(e));
    if (rd_kafka_flush(p, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) die("flush", "timed out");
  }
  rd_kafka_destroy(p);

  // ---- consumer group member
  rd_kafka_conf_t *cconf = rd_kafka_conf_new();
  set(cconf, "bootstrap.servers", bootstraps);
  set(cconf, "client.id", "fsl7-consumer");
  set(cconf, "group.id", "fsl7-group");
  set(cconf, "auto.offset.reset", "earliest");
  set(cconf, "enable.auto.commit", "false");
  set(cconf, "heartbeat.interval.ms", "300");
  set(cconf, "session.timeout.ms", "6000");
  set(cconf, "fetch.wait.max.ms", "100");
  set(cconf, "log_level", "3");
  rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, err, sizeof(err));
  if (c == NULL) die("consumer", err);
  rd_kafka_poll_set_consumer(c);
  rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, TOPIC, RD_KAFKA_PARTITION_UA);
  if (rd_kafka_subscribe(c, topics) != RD_KAFKA_RESP_ERR_NO_ERROR) die("subscribe", TOPIC);
  rd_kafka_topic_partition_list_destroy(topics);
  int got = 0;
  double deadline = now() + 20;
  while (got < 3 && now() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
    if (m == NULL) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      got++;
      printf("consumed offset %lld\n", (long long)m->offset);
    }
    rd_kafka_message_destroy(m);
  }
  if (got < 3) die("consume", "fewer than 3 messages");
  if (rd_kafka_commit(c, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) die("commit", "failed");
  // Stay a little so that a Heartbeat goes out.
  deadline = now() + 0.8;
  while (now() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
    if (m != NULL) rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(c);  // LeaveGroup
  rd_kafka_destroy(c);
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(host);
  return 0;
}
