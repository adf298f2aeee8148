// Kafka request/response parsing. Spec: https://kafka.apache.org/protocol.html (§ Common Request
// and Response Structure, § Protocol Primitive Types, § Record Batch, § The Messages) and the
// message schemas in apache/kafka clients/src/main/resources/common/message/*.json, which give
// each field's versions and each API's first flexible version.
#include "agent/l7/protocols/kafka/kafka.h"

#include <algorithm>
#include <string>

#include "agent/l7/byte_reader.h"
#include "agent/l7/trace_context.h"

namespace flowscope::agent::l7::kafka {
namespace {

// socket.request.max.bytes defaults to 100 MiB: a broker rejects larger requests.
constexpr uint32_t kMaxRequestSize = 104857600;
// Responses (Fetch) are bounded by fetch.max.bytes / message.max.bytes; 1 GiB is far above both.
constexpr uint32_t kMaxResponseSize = 1u << 30;
constexpr int kMaxApiVersion = 20;    // the highest version of any API today is 17 (Fetch)
constexpr size_t kMaxKept = 256;      // bytes of a topic, group or client id kept in a message
constexpr size_t kMaxResource = 512;  // bytes of the comma-joined topic list
constexpr int32_t kMaxWalk = 1024;    // array elements walked to reach a field
constexpr uint32_t kMaxTaggedFields = 64;
constexpr size_t kBoundaryWindow = 1024;  // bytes checked at each candidate boundary
constexpr int kMaxRecordHeaders = 64;

constexpr int16_t kProduce = 0;
constexpr int16_t kFetch = 1;
constexpr int16_t kListOffsets = 2;
constexpr int16_t kMetadata = 3;
constexpr int16_t kOffsetCommit = 8;
constexpr int16_t kOffsetFetch = 9;
constexpr int16_t kApiVersions = 18;
constexpr int16_t kControlledShutdown = 7;

struct Api {
  std::string_view name;
  int8_t flexible_since;  // first version with compact types and tagged fields; -1: none
};

// Indexed by API key (protocol.html § Api Keys; flexibleVersions from the JSON schemas).
constexpr Api kApis[] = {
    {"Produce", 9},                       // 0
    {"Fetch", 12},                        // 1
    {"ListOffsets", 6},                   // 2
    {"Metadata", 9},                      // 3
    {"LeaderAndIsr", 4},                  // 4
    {"StopReplica", 2},                   // 5
    {"UpdateMetadata", 6},                // 6
    {"ControlledShutdown", 3},            // 7
    {"OffsetCommit", 8},                  // 8
    {"OffsetFetch", 6},                   // 9
    {"FindCoordinator", 3},               // 10
    {"JoinGroup", 6},                     // 11
    {"Heartbeat", 4},                     // 12
    {"LeaveGroup", 4},                    // 13
    {"SyncGroup", 4},                     // 14
    {"DescribeGroups", 5},                // 15
    {"ListGroups", 3},                    // 16
    {"SaslHandshake", -1},                // 17
    {"ApiVersions", 3},                   // 18
    {"CreateTopics", 5},                  // 19
    {"DeleteTopics", 4},                  // 20
    {"DeleteRecords", 2},                 // 21
    {"InitProducerId", 2},                // 22
    {"OffsetForLeaderEpoch", 4},          // 23
    {"AddPartitionsToTxn", 3},            // 24
    {"AddOffsetsToTxn", 3},               // 25
    {"EndTxn", 3},                        // 26
    {"WriteTxnMarkers", 1},               // 27
    {"TxnOffsetCommit", 3},               // 28
    {"DescribeAcls", 2},                  // 29
    {"CreateAcls", 2},                    // 30
    {"DeleteAcls", 2},                    // 31
    {"DescribeConfigs", 4},               // 32
    {"AlterConfigs", 2},                  // 33
    {"AlterReplicaLogDirs", 2},           // 34
    {"DescribeLogDirs", 2},               // 35
    {"SaslAuthenticate", 2},              // 36
    {"CreatePartitions", 2},              // 37
    {"CreateDelegationToken", 2},         // 38
    {"RenewDelegationToken", 2},          // 39
    {"ExpireDelegationToken", 2},         // 40
    {"DescribeDelegationToken", 2},       // 41
    {"DeleteGroups", 2},                  // 42
    {"ElectLeaders", 2},                  // 43
    {"IncrementalAlterConfigs", 1},       // 44
    {"AlterPartitionReassignments", 0},   // 45
    {"ListPartitionReassignments", 0},    // 46
    {"OffsetDelete", -1},                 // 47
    {"DescribeClientQuotas", 1},          // 48
    {"AlterClientQuotas", 1},             // 49
    {"DescribeUserScramCredentials", 0},  // 50
    {"AlterUserScramCredentials", 0},     // 51
    {"Vote", 0},                          // 52
    {"BeginQuorumEpoch", 0},              // 53
    {"EndQuorumEpoch", 0},                // 54
    {"DescribeQuorum", 0},                // 55
    {"AlterPartition", 0},                // 56
    {"UpdateFeatures", 0},                // 57
    {"Envelope", 0},                      // 58
    {"FetchSnapshot", 0},                 // 59
    {"DescribeCluster", 0},               // 60
    {"DescribeProducers", 0},             // 61
    {"BrokerRegistration", 0},            // 62
    {"BrokerHeartbeat", 0},               // 63
    {"UnregisterBroker", 0},              // 64
    {"DescribeTransactions", 0},          // 65
    {"ListTransactions", 0},              // 66
    {"AllocateProducerIds", 0},           // 67
    {"ConsumerGroupHeartbeat", 0},        // 68
    {"ConsumerGroupDescribe", 0},         // 69
    {"ControllerRegistration", 0},        // 70
    {"GetTelemetrySubscriptions", 0},     // 71
    {"PushTelemetry", 0},                 // 72
    {"AssignReplicasToDirs", 0},          // 73
    {"ListClientMetricsResources", 0},    // 74
    {"DescribeTopicPartitions", 0},       // 75
    {"ShareGroupHeartbeat", 0},           // 76
    {"ShareGroupDescribe", 0},            // 77
    {"ShareFetch", 0},                    // 78
    {"ShareAcknowledge", 0},              // 79
    {"AddRaftVoter", 0},                  // 80
    {"RemoveRaftVoter", 0},               // 81
    {"UpdateRaftVoter", 0},               // 82
    {"InitializeShareGroupState", 0},     // 83
    {"ReadShareGroupState", 0},           // 84
    {"WriteShareGroupState", 0},          // 85
    {"DeleteShareGroupState", 0},         // 86
    {"ReadShareGroupStateSummary", 0},    // 87
    {"StreamsGroupHeartbeat", 0},         // 88
    {"StreamsGroupDescribe", 0},          // 89
    {"DescribeShareGroupOffsets", 0},     // 90
    {"AlterShareGroupOffsets", 0},        // 91
    {"DeleteShareGroupOffsets", 0},       // 92
};
constexpr int kMaxApiKey = static_cast<int>(sizeof(kApis) / sizeof(kApis[0])) - 1;

// org.apache.kafka.common.protocol.Errors, by code (protocol.html § Error Codes).
constexpr std::string_view kErrors[] = {
    "NONE",                                   // 0
    "OFFSET_OUT_OF_RANGE",                    // 1
    "CORRUPT_MESSAGE",                        // 2
    "UNKNOWN_TOPIC_OR_PARTITION",             // 3
    "INVALID_FETCH_SIZE",                     // 4
    "LEADER_NOT_AVAILABLE",                   // 5
    "NOT_LEADER_OR_FOLLOWER",                 // 6
    "REQUEST_TIMED_OUT",                      // 7
    "BROKER_NOT_AVAILABLE",                   // 8
    "REPLICA_NOT_AVAILABLE",                  // 9
    "MESSAGE_TOO_LARGE",                      // 10
    "STALE_CONTROLLER_EPOCH",                 // 11
    "OFFSET_METADATA_TOO_LARGE",              // 12
    "NETWORK_EXCEPTION",                      // 13
    "COORDINATOR_LOAD_IN_PROGRESS",           // 14
    "COORDINATOR_NOT_AVAILABLE",              // 15
    "NOT_COORDINATOR",                        // 16
    "INVALID_TOPIC_EXCEPTION",                // 17
    "RECORD_LIST_TOO_LARGE",                  // 18
    "NOT_ENOUGH_REPLICAS",                    // 19
    "NOT_ENOUGH_REPLICAS_AFTER_APPEND",       // 20
    "INVALID_REQUIRED_ACKS",                  // 21
    "ILLEGAL_GENERATION",                     // 22
    "INCONSISTENT_GROUP_PROTOCOL",            // 23
    "INVALID_GROUP_ID",                       // 24
    "UNKNOWN_MEMBER_ID",                      // 25
    "INVALID_SESSION_TIMEOUT",                // 26
    "REBALANCE_IN_PROGRESS",                  // 27
    "INVALID_COMMIT_OFFSET_SIZE",             // 28
    "TOPIC_AUTHORIZATION_FAILED",             // 29
    "GROUP_AUTHORIZATION_FAILED",             // 30
    "CLUSTER_AUTHORIZATION_FAILED",           // 31
    "INVALID_TIMESTAMP",                      // 32
    "UNSUPPORTED_SASL_MECHANISM",             // 33
    "ILLEGAL_SASL_STATE",                     // 34
    "UNSUPPORTED_VERSION",                    // 35
    "TOPIC_ALREADY_EXISTS",                   // 36
    "INVALID_PARTITIONS",                     // 37
    "INVALID_REPLICATION_FACTOR",             // 38
    "INVALID_REPLICA_ASSIGNMENT",             // 39
    "INVALID_CONFIG",                         // 40
    "NOT_CONTROLLER",                         // 41
    "INVALID_REQUEST",                        // 42
    "UNSUPPORTED_FOR_MESSAGE_FORMAT",         // 43
    "POLICY_VIOLATION",                       // 44
    "OUT_OF_ORDER_SEQUENCE_NUMBER",           // 45
    "DUPLICATE_SEQUENCE_NUMBER",              // 46
    "INVALID_PRODUCER_EPOCH",                 // 47
    "INVALID_TXN_STATE",                      // 48
    "INVALID_PRODUCER_ID_MAPPING",            // 49
    "INVALID_TRANSACTION_TIMEOUT",            // 50
    "CONCURRENT_TRANSACTIONS",                // 51
    "TRANSACTION_COORDINATOR_FENCED",         // 52
    "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",  // 53
    "SECURITY_DISABLED",                      // 54
    "OPERATION_NOT_ATTEMPTED",                // 55
    "KAFKA_STORAGE_ERROR",                    // 56
    "LOG_DIR_NOT_FOUND",                      // 57
    "SASL_AUTHENTICATION_FAILED",             // 58
    "UNKNOWN_PRODUCER_ID",                    // 59
    "REASSIGNMENT_IN_PROGRESS",               // 60
    "DELEGATION_TOKEN_AUTH_DISABLED",         // 61
    "DELEGATION_TOKEN_NOT_FOUND",             // 62
    "DELEGATION_TOKEN_OWNER_MISMATCH",        // 63
    "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED",   // 64
    "DELEGATION_TOKEN_AUTHORIZATION_FAILED",  // 65
    "DELEGATION_TOKEN_EXPIRED",               // 66
    "INVALID_PRINCIPAL_TYPE",                 // 67
    "NON_EMPTY_GROUP",                        // 68
    "GROUP_ID_NOT_FOUND",                     // 69
    "FETCH_SESSION_ID_NOT_FOUND",             // 70
    "INVALID_FETCH_SESSION_EPOCH",            // 71
    "LISTENER_NOT_FOUND",                     // 72
    "TOPIC_DELETION_DISABLED",                // 73
    "FENCED_LEADER_EPOCH",                    // 74
    "UNKNOWN_LEADER_EPOCH",                   // 75
    "UNSUPPORTED_COMPRESSION_TYPE",           // 76
    "STALE_BROKER_EPOCH",                     // 77
    "OFFSET_NOT_AVAILABLE",                   // 78
    "MEMBER_ID_REQUIRED",                     // 79
    "PREFERRED_LEADER_NOT_AVAILABLE",         // 80
    "GROUP_MAX_SIZE_REACHED",                 // 81
    "FENCED_INSTANCE_ID",                     // 82
    "ELIGIBLE_LEADERS_NOT_AVAILABLE",         // 83
    "ELECTION_NOT_NEEDED",                    // 84
    "NO_REASSIGNMENT_IN_PROGRESS",            // 85
    "GROUP_SUBSCRIBED_TO_TOPIC",              // 86
    "INVALID_RECORD",                         // 87
    "UNSTABLE_OFFSET_COMMIT",                 // 88
    "THROTTLING_QUOTA_EXCEEDED",              // 89
    "PRODUCER_FENCED",                        // 90
    "RESOURCE_NOT_FOUND",                     // 91
    "DUPLICATE_RESOURCE",                     // 92
    "UNACCEPTABLE_CREDENTIAL",                // 93
    "INCONSISTENT_VOTER_SET",                 // 94
    "INVALID_UPDATE_VERSION",                 // 95
    "FEATURE_UPDATE_FAILED",                  // 96
    "PRINCIPAL_DESERIALIZATION_FAILURE",      // 97
    "SNAPSHOT_NOT_FOUND",                     // 98
    "POSITION_OUT_OF_RANGE",                  // 99
    "UNKNOWN_TOPIC_ID",                       // 100
    "DUPLICATE_BROKER_REGISTRATION",          // 101
    "BROKER_ID_NOT_REGISTERED",               // 102
    "INCONSISTENT_TOPIC_ID",                  // 103
    "INCONSISTENT_CLUSTER_ID",                // 104
    "TRANSACTIONAL_ID_NOT_FOUND",             // 105
    "FETCH_SESSION_TOPIC_ID_ERROR",           // 106
    "INELIGIBLE_REPLICA",                     // 107
    "NEW_LEADER_ELECTED",                     // 108
    "OFFSET_MOVED_TO_TIERED_STORAGE",         // 109
    "FENCED_MEMBER_EPOCH",                    // 110
    "UNRELEASED_INSTANCE_ID",                 // 111
    "UNSUPPORTED_ASSIGNOR",                   // 112
    "STALE_MEMBER_EPOCH",                     // 113
};

// Errors that say the request itself was wrong: malformed or invalid values, failed
// authentication or authorisation, unknown topic/group/member, unsupported version or feature.
constexpr int kClientErrors[] = {1,  3,  4,  10, 12, 17, 18, 21, 22, 23, 24, 25, 26,
                                 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
                                 42, 43, 44, 47, 48, 49, 50, 53, 58, 61, 62, 63, 64,
                                 65, 66, 67, 69, 73, 76, 79, 86, 87, 91, 92, 93, 100};

bool IsClientError(int code) {
  for (int c : kClientErrors) {
    if (c == code) return true;
  }
  return false;
}

bool IsFlexible(int api_key, int api_version) {
  if (api_key < 0 || api_key > kMaxApiKey) return false;
  const int since = kApis[api_key].flexible_since;
  return since >= 0 && api_version >= since;
}

bool IsPrintable(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// Legal topic names: ASCII letters, digits, '.', '_' and '-' (Topic.java), at most 249.
bool IsTopicName(std::string_view s) {
  if (s.size() > 249) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

std::string Bounded(std::string_view s) { return std::string(s.substr(0, kMaxKept)); }

// Reads the Kafka primitive types (protocol.html § Protocol Primitive Types); `flexible` selects
// the compact forms (unsigned varint lengths + 1) of strings, bytes and arrays.
class Reader {
 public:
  Reader(std::string_view data, bool flexible) : r_(data), flexible_(flexible) {}

  size_t offset() const { return r_.offset(); }
  size_t remaining() const { return r_.remaining(); }
  bool Skip(size_t n) { return r_.Skip(n); }
  bool I8(int8_t* v) {
    uint8_t u;
    if (!r_.U8(&u)) return false;
    *v = static_cast<int8_t>(u);
    return true;
  }
  bool I16(int16_t* v) {
    uint16_t u;
    if (!r_.U16Be(&u)) return false;
    *v = static_cast<int16_t>(u);
    return true;
  }
  bool I32(int32_t* v) {
    uint32_t u;
    if (!r_.U32Be(&u)) return false;
    *v = static_cast<int32_t>(u);
    return true;
  }
  bool Bytes(size_t n, std::string_view* v) { return r_.Bytes(n, v); }
  bool Uuid(std::string_view* v) { return r_.Bytes(16, v); }
  // Unsigned varint of at most 5 bytes (32 bits).
  bool UVarint(uint32_t* v) {
    uint32_t x = 0;
    for (int shift = 0; shift <= 28; shift += 7) {
      uint8_t b;
      if (!r_.U8(&b)) return false;
      if (shift == 28 && (b & 0xf0) != 0) return false;
      x |= static_cast<uint32_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = x;
        return true;
      }
    }
    return false;
  }
  // Zig-zag varint (record fields): at most 5 bytes.
  bool Varint(int32_t* v) {
    uint32_t u;
    if (!UVarint(&u)) return false;
    *v = static_cast<int32_t>((u >> 1) ^ (~(u & 1) + 1));
    return true;
  }
  // Zig-zag varlong: at most 10 bytes; the value is skipped.
  bool SkipVarlong() {
    for (int i = 0; i < 10; ++i) {
      uint8_t b;
      if (!r_.U8(&b)) return false;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  // STRING / NULLABLE_STRING / COMPACT_(NULLABLE_)STRING; null reads as "".
  bool String(std::string_view* s) {
    int64_t len;
    if (flexible_) {
      uint32_t n;
      if (!UVarint(&n)) return false;
      len = static_cast<int64_t>(n) - 1;
    } else {
      int16_t n;
      if (!I16(&n)) return false;
      len = n;
    }
    if (len < -1) return false;
    if (len == -1) {
      *s = {};
      return true;
    }
    return r_.Bytes(static_cast<size_t>(len), s);
  }
  // BYTES / COMPACT_BYTES / RECORDS: the part of the value that is present (it may be cut by
  // the end of the data); false when even the length is missing or invalid.
  bool PartialBytes(std::string_view* s) {
    int64_t len;
    if (flexible_) {
      uint32_t n;
      if (!UVarint(&n)) return false;
      len = static_cast<int64_t>(n) - 1;
    } else {
      int32_t n;
      if (!I32(&n)) return false;
      len = n;
    }
    if (len < 0) return false;
    const size_t take = std::min<size_t>(static_cast<size_t>(len), r_.remaining());
    return r_.Bytes(take, s);
  }
  // Skips a whole BYTES / COMPACT_BYTES / RECORDS value (null included).
  bool SkipBytes() {
    int64_t len;
    if (flexible_) {
      uint32_t n;
      if (!UVarint(&n)) return false;
      len = static_cast<int64_t>(n) - 1;
    } else {
      int32_t n;
      if (!I32(&n)) return false;
      len = n;
    }
    if (len < -1) return false;
    return len <= 0 || r_.Skip(static_cast<size_t>(len));
  }
  // ARRAY / COMPACT_ARRAY element count; -1 for null.
  bool Array(int32_t* n) {
    if (flexible_) {
      uint32_t u;
      if (!UVarint(&u)) return false;
      *n = u == 0 ? -1 : static_cast<int32_t>(u - 1);
      return true;
    }
    if (!I32(n)) return false;
    return *n >= -1;
  }
  bool TaggedFields() {
    if (!flexible_) return true;
    uint32_t count;
    if (!UVarint(&count) || count > kMaxTaggedFields) return false;
    for (uint32_t i = 0; i < count; ++i) {
      uint32_t tag, size;
      if (!UVarint(&tag) || !UVarint(&size) || !r_.Skip(size)) return false;
    }
    return true;
  }

 private:
  ByteReader r_;
  bool flexible_;
};

// The topics a request names: the first one is the request domain (and, with its first
// partition, the endpoint "topic-partition"); all of them, comma-joined, the resource.
struct Topics {
  std::string joined;
  std::string first;
  bool has_partition = false;
  int32_t partition = 0;
  int count = 0;

  void Add(std::string_view name) {
    if (name.empty() || !IsTopicName(name)) return;
    if (count++ == 0) first = Bounded(name);
    if (joined.size() >= kMaxResource) return;
    if (!joined.empty()) joined += ',';
    joined.append(name.substr(0, kMaxResource - std::min(kMaxResource, joined.size())));
  }
  void Partition(int32_t p) {
    if (count == 1 && !has_partition) {
      has_partition = true;
      partition = p;
    }
  }
  void Fill(L7Message* out) const {
    if (count == 0) return;
    out->request_domain = first;
    out->request_resource = joined;
    out->endpoint = has_partition ? first + "-" + std::to_string(partition) : first;
  }
};

void SetTopicId(L7Message* out, std::string_view uuid) {
  out->attributes.emplace_back("topic_id", TopicIdString(uuid));
}

bool IsNullUuid(std::string_view id) {
  return id.find_first_not_of('\0') == std::string_view::npos;
}

void SetGroup(L7Message* out, std::string_view group) {
  if (!group.empty() && IsPrintable(group)) {
    out->attributes.emplace_back("group_id", Bounded(group));
  }
}

// Headers of the first record of a v2 record batch (protocol.html § Record Batch, § Record):
// baseOffset int64, batchLength int32, partitionLeaderEpoch int32, magic int8, crc uint32,
// attributes int16, lastOffsetDelta int32, baseTimestamp int64, maxTimestamp int64,
// producerId int64, producerEpoch int16, baseSequence int32, records count int32, records.
void OfferRecordHeaders(std::string_view batch, TraceHeaderCollector* collector) {
  Reader r(batch, false);
  int8_t magic;
  int16_t attributes;
  int32_t count;
  if (!r.Skip(8 + 4 + 4) || !r.I8(&magic) || magic != 2 || !r.Skip(4) || !r.I16(&attributes) ||
      !r.Skip(4 + 8 + 8 + 8 + 2 + 4) || !r.I32(&count) || count < 1) {
    return;
  }
  if ((attributes & 0x07) != 0) return;  // compressed: headers are inside the compressed data
  int32_t length, key_len, value_len, headers;
  int8_t record_attributes;
  if (!r.Varint(&length) || length <= 0 || !r.I8(&record_attributes) || !r.SkipVarlong() ||
      !r.SkipVarlong() || !r.Varint(&key_len) || key_len < -1 ||
      !r.Skip(key_len > 0 ? static_cast<size_t>(key_len) : 0) || !r.Varint(&value_len) ||
      value_len < -1 || !r.Skip(value_len > 0 ? static_cast<size_t>(value_len) : 0) ||
      !r.Varint(&headers) || headers < 0) {
    return;
  }
  for (int i = 0; i < headers && i < kMaxRecordHeaders; ++i) {
    int32_t name_len, val_len;
    std::string_view name, value;
    if (!r.Varint(&name_len) || name_len < 0 || !r.Bytes(static_cast<size_t>(name_len), &name) ||
        !r.Varint(&val_len) || val_len < -1 ||
        (val_len > 0 && !r.Bytes(static_cast<size_t>(val_len), &value))) {
      return;
    }
    collector->Offer(name, value);
  }
}

// Reads a topic: its name, or (topic-id versions: `by_id` set) its uuid, kept as attribute
// topic_id and named as a Metadata exchange of the flow named it (else by the id's text form).
bool ReadTopic(Reader& r, const TopicIds* by_id, Topics* topics, L7Message* out) {
  std::string_view name;
  if (by_id != nullptr) {
    std::string_view id;
    if (!r.Uuid(&id)) return false;
    if (topics->count == 0 && out->attributes.empty()) SetTopicId(out, id);
    name = by_id->Find(id);
    topics->Add(name.empty() ? std::string_view(TopicIdString(id)) : name);
    return true;
  }
  if (!r.String(&name)) return false;
  topics->Add(name);
  return true;
}

// ProduceRequest: transactional_id (v3+), acks int16, timeout_ms int32,
// topic_data [name (topic_id uuid v13+), partition_data [index int32, records]].
void DecodeProduce(Reader& r, int version, const L7Config& config, const TopicIds& ids,
                   L7Message* out) {
  std::string_view s;
  int16_t acks;
  int32_t n_topics;
  Topics topics;
  if (version >= 3 && !r.String(&s)) return;
  if (!r.I16(&acks)) return;
  if (acks == 0) out->expects_response = false;
  if (!r.Skip(4) || !r.Array(&n_topics)) return;
  for (int32_t t = 0; t < n_topics && t < kMaxWalk; ++t) {
    int32_t n_partitions, partition;
    if (!ReadTopic(r, version >= 13 ? &ids : nullptr, &topics, out) || !r.Array(&n_partitions)) {
      break;
    }
    bool whole = true;
    for (int32_t i = 0; i < n_partitions && i < kMaxWalk; ++i) {
      std::string_view records;
      if (!r.I32(&partition)) {
        whole = false;
        break;
      }
      topics.Partition(partition);
      if (t == 0 && i == 0) {
        // Trace context from the record headers of the first batch, as far as it is present.
        Reader copy = r;
        if (copy.PartialBytes(&records)) {
          TraceHeaderCollector collector(config);
          OfferRecordHeaders(records, &collector);
          collector.Finish(&out->trace);
        }
      }
      if (!r.SkipBytes() || !r.TaggedFields()) {
        whole = false;
        break;
      }
    }
    if (!whole || !r.TaggedFields()) break;
  }
  topics.Fill(out);
}

// FetchRequest: replica_id int32 (v0-14), max_wait_ms int32, min_bytes int32, max_bytes int32
// (v3+), isolation_level int8 (v4+), session_id int32 + session_epoch int32 (v7+),
// topics [topic (topic_id uuid v13+), partitions [partition int32, current_leader_epoch int32
// (v9+), fetch_offset int64, last_fetched_epoch int32 (v12+), log_start_offset int64 (v5+),
// partition_max_bytes int32]].
void DecodeFetch(Reader& r, int version, const TopicIds& ids, L7Message* out) {
  const size_t fixed = (version <= 14 ? 4 : 0) + 8 + (version >= 3 ? 4 : 0) +
                       (version >= 4 ? 1 : 0) + (version >= 7 ? 8 : 0);
  const size_t partition_rest =
      (version >= 9 ? 4 : 0) + 8 + (version >= 12 ? 4 : 0) + (version >= 5 ? 8 : 0) + 4;
  int32_t n_topics;
  Topics topics;
  if (r.Skip(fixed) && r.Array(&n_topics)) {
    for (int32_t t = 0; t < n_topics && t < kMaxWalk; ++t) {
      int32_t n_partitions, partition;
      if (!ReadTopic(r, version >= 13 ? &ids : nullptr, &topics, out) || !r.Array(&n_partitions)) {
        break;
      }
      bool whole = true;
      for (int32_t i = 0; i < n_partitions && i < kMaxWalk && whole; ++i) {
        whole = r.I32(&partition);
        if (whole) topics.Partition(partition);
        whole = whole && r.Skip(partition_rest) && r.TaggedFields();
      }
      if (!whole || !r.TaggedFields()) break;
    }
  }
  topics.Fill(out);
}

// MetadataRequest: topics [name] (v0; nullable v1+ where null means all topics;
// [topic_id uuid, name nullable] v10+), then flags we do not need. A topic named both ways
// teaches `ids` its name.
void DecodeMetadata(Reader& r, int version, TopicIds* ids, L7Message* out) {
  int32_t n_topics;
  Topics topics;
  if (r.Array(&n_topics)) {
    for (int32_t t = 0; t < n_topics && t < kMaxWalk; ++t) {
      std::string_view id, name;
      if ((version >= 10 && !r.Uuid(&id)) || !r.String(&name) || !r.TaggedFields()) break;
      topics.Add(name);
      if (!id.empty()) ids->Learn(id, name);
    }
  }
  topics.Fill(out);
}

// ListOffsetsRequest: replica_id int32, isolation_level int8 (v2+), topics [name, partitions
// [partition_index int32, current_leader_epoch int32 (v4+), timestamp int64, max_num_offsets
// int32 (v0)]].
void DecodeListOffsets(Reader& r, int version, L7Message* out) {
  const size_t partition_rest = (version >= 4 ? 4 : 0) + 8 + (version == 0 ? 4 : 0);
  int32_t n_topics;
  Topics topics;
  if (r.Skip(4 + (version >= 2 ? 1 : 0)) && r.Array(&n_topics)) {
    for (int32_t t = 0; t < n_topics && t < kMaxWalk; ++t) {
      int32_t n_partitions, partition;
      if (!ReadTopic(r, nullptr, &topics, out) || !r.Array(&n_partitions)) break;
      bool whole = true;
      for (int32_t i = 0; i < n_partitions && i < kMaxWalk && whole; ++i) {
        whole = r.I32(&partition);
        if (whole) topics.Partition(partition);
        whole = whole && r.Skip(partition_rest) && r.TaggedFields();
      }
      if (!whole || !r.TaggedFields()) break;
    }
  }
  topics.Fill(out);
}

// OffsetFetchRequest v0-7: group_id, topics [name, partition_indexes [int32]] (nullable from
// v2). v8-9: groups [group_id, member_id + member_epoch (v9), topics (same)]. Later versions
// name topics by id.
void DecodeOffsetFetch(Reader& r, int version, L7Message* out) {
  std::string_view group, s;
  int32_t n;
  if (version >= 8 && (!r.Array(&n) || n < 1)) return;
  if (!r.String(&group)) return;
  SetGroup(out, group);
  if (version >= 10) return;
  if (version == 9 && (!r.String(&s) || !r.Skip(4))) return;
  int32_t n_topics;
  Topics topics;
  if (r.Array(&n_topics)) {
    for (int32_t t = 0; t < n_topics && t < kMaxWalk; ++t) {
      int32_t n_partitions, partition;
      if (!ReadTopic(r, nullptr, &topics, out) || !r.Array(&n_partitions)) break;
      bool whole = true;
      for (int32_t i = 0; i < n_partitions && i < kMaxWalk && whole; ++i) {
        whole = r.I32(&partition);
        if (whole) topics.Partition(partition);
      }
      if (!whole || !r.TaggedFields()) break;
    }
  }
  topics.Fill(out);
}

// OffsetCommitRequest: group_id, generation_id int32 (v1+), member_id (v1+),
// group_instance_id (v7+), retention_time_ms int64 (v2-4), topics [name, partitions
// [partition_index int32, committed_offset int64, committed_leader_epoch int32 (v6+),
// commit_timestamp int64 (v1), committed_metadata nullable string]]. Later versions name
// topics by id.
void DecodeOffsetCommit(Reader& r, int version, L7Message* out) {
  std::string_view group, s;
  if (!r.String(&group)) return;
  SetGroup(out, group);
  if (version >= 10) return;
  if (version >= 1 && (!r.Skip(4) || !r.String(&s))) return;
  if (version >= 7 && !r.String(&s)) return;
  if (version >= 2 && version <= 4 && !r.Skip(8)) return;
  const size_t fixed = 8 + (version >= 6 ? 4 : 0) + (version == 1 ? 8 : 0);
  int32_t n_topics;
  Topics topics;
  if (r.Array(&n_topics)) {
    for (int32_t t = 0; t < n_topics && t < kMaxWalk; ++t) {
      int32_t n_partitions, partition;
      if (!ReadTopic(r, nullptr, &topics, out) || !r.Array(&n_partitions)) break;
      bool whole = true;
      for (int32_t i = 0; i < n_partitions && i < kMaxWalk && whole; ++i) {
        whole = r.I32(&partition);
        if (whole) topics.Partition(partition);
        whole = whole && r.Skip(fixed) && r.String(&s) && r.TaggedFields();
      }
      if (!whole || !r.TaggedFields()) break;
    }
  }
  topics.Fill(out);
}

// The group id of group-coordinator requests: the first field for most of them.
void DecodeGroup(Reader& r, int api_key, int version, L7Message* out) {
  std::string_view group;
  int32_t n;
  int8_t key_type;
  switch (api_key) {
    case 11:  // JoinGroup
    case 12:  // Heartbeat
    case 13:  // LeaveGroup
    case 14:  // SyncGroup
    case 47:  // OffsetDelete
    case 68:  // ConsumerGroupHeartbeat
    case 76:  // ShareGroupHeartbeat
    case 88:  // StreamsGroupHeartbeat
      if (r.String(&group)) SetGroup(out, group);
      return;
    case 15:  // DescribeGroups
    case 42:  // DeleteGroups
    case 69:  // ConsumerGroupDescribe
    case 77:  // ShareGroupDescribe
    case 89:  // StreamsGroupDescribe
      if (r.Array(&n) && n >= 1 && r.String(&group)) SetGroup(out, group);
      return;
    case 10:  // FindCoordinator: key (v0-3), key_type int8 (v1+), coordinator_keys (v4+)
      if (version <= 3) {
        if (!r.String(&group)) return;
        if (version >= 1 && (!r.I8(&key_type) || key_type != 0)) return;  // 1: transaction
      } else if (!r.I8(&key_type) || key_type != 0 || !r.Array(&n) || n < 1 || !r.String(&group)) {
        return;
      }
      SetGroup(out, group);
      return;
    case 28:  // TxnOffsetCommit: transactional_id, group_id
      if (r.String(&group) && r.String(&group)) SetGroup(out, group);
      return;
    case 25:  // AddOffsetsToTxn: transactional_id, producer_id int64, producer_epoch int16,
              // group_id
      if (r.String(&group) && r.Skip(8 + 2) && r.String(&group)) SetGroup(out, group);
      return;
    default:
      return;
  }
}

// Skips `topic name or id` then `[partitions]` to the first partition's error_code, the shape
// of Produce, ListOffsets, OffsetCommit and Fetch responses.
bool FirstPartitionError(Reader& r, bool topic_id, int16_t* code) {
  int32_t topics, partitions;
  std::string_view s;
  if (!r.Array(&topics) || topics < 1) return false;
  if (topic_id ? !r.Uuid(&s) : !r.String(&s)) return false;
  return r.Array(&partitions) && partitions >= 1 && r.Skip(4) && r.I16(code);
}

// MetadataResponse up to its topics: throttle_time_ms (v3+), brokers [node_id, host, port,
// rack (v1+)], cluster_id (v2+), controller_id (v1+).
bool SkipMetadataHead(Reader& r, int version) {
  std::string_view s;
  if (version >= 3 && !r.Skip(4)) return false;
  int32_t brokers;
  if (!r.Array(&brokers) || brokers > kMaxWalk) return false;
  for (int32_t i = 0; i < brokers; ++i) {
    if (!r.Skip(4) || !r.String(&s) || !r.Skip(4)) return false;
    if (version >= 1 && !r.String(&s)) return false;
    if (!r.TaggedFields()) return false;
  }
  if (version >= 2 && !r.String(&s)) return false;
  return version < 1 || r.Skip(4);
}

// The topics of a MetadataResponse v10+ (as far as the data shown goes) teach `ids` their
// names: topics [error_code, name, topic_id uuid, is_internal, partitions [error_code,
// partition_index, leader_id, leader_epoch (v7+), replica_nodes [int32], isr_nodes [int32],
// offline_replicas [int32] (v5+)], topic_authorized_operations (v8+)].
void LearnMetadataTopics(Reader& r, int version, TopicIds* ids) {
  int32_t n_topics;
  if (version < 10 || !SkipMetadataHead(r, version) || !r.Array(&n_topics)) return;
  for (int32_t t = 0; t < n_topics && t < kMaxWalk; ++t) {
    std::string_view name, id;
    int32_t n_partitions;
    if (!r.Skip(2) || !r.String(&name) || !r.Uuid(&id)) return;
    ids->Learn(id, name);
    if (!r.Skip(1) || !r.Array(&n_partitions)) return;
    for (int32_t i = 0; i < n_partitions && i < kMaxWalk; ++i) {
      if (!r.Skip(2 + 4 + 4 + (version >= 7 ? 4 : 0))) return;
      for (int list = 0; list < (version >= 5 ? 3 : 2); ++list) {
        int32_t nodes;
        if (!r.Array(&nodes) || (nodes > 0 && !r.Skip(size_t{4} * static_cast<size_t>(nodes)))) {
          return;
        }
      }
      if (!r.TaggedFields()) return;
    }
    if ((version >= 8 && !r.Skip(4)) || !r.TaggedFields()) return;
  }
}

// The error code of a response, where it is cheap to reach; false when there is none.
bool DecodeResponseCode(Reader& r, int api_key, int version, int16_t* code) {
  std::string_view s;
  int32_t n;
  switch (api_key) {
    case 17:  // SaslHandshake
    case 18:  // ApiVersions
    case 36:  // SaslAuthenticate
      return r.I16(code);
    case 11:  // JoinGroup: throttle_time_ms from v2
      return (version < 2 || r.Skip(4)) && r.I16(code);
    case 12:  // Heartbeat
    case 13:  // LeaveGroup
    case 14:  // SyncGroup
    case 16:  // ListGroups: throttle_time_ms from v1
      return (version < 1 || r.Skip(4)) && r.I16(code);
    case 22:  // InitProducerId
    case 25:  // AddOffsetsToTxn
    case 26:  // EndTxn
    case 60:  // DescribeCluster
    case 68:  // ConsumerGroupHeartbeat
      return r.Skip(4) && r.I16(code);
    case 10:  // FindCoordinator
      if (version == 0) return r.I16(code);
      if (!r.Skip(4)) return false;
      if (version <= 3) return r.I16(code);
      // coordinators [key, node_id int32, host, port int32, error_code]
      return r.Array(&n) && n >= 1 && r.String(&s) && r.Skip(4) && r.String(&s) && r.Skip(4) &&
             r.I16(code);
    case 0:  // Produce: responses [...]; throttle_time_ms at the end
      return FirstPartitionError(r, version >= 13, code);
    case 1: {  // Fetch: throttle (v1+), error_code + session_id (v7+), responses
      if (version >= 1 && !r.Skip(4)) return false;
      int16_t top = 0;
      if (version >= 7) {
        if (!r.I16(&top)) return false;
        if (top != 0 || !r.Skip(4)) {
          *code = top;
          return true;
        }
      }
      int16_t partition_code;
      if (FirstPartitionError(r, version >= 13, &partition_code)) {
        *code = partition_code;
        return true;
      }
      *code = top;
      return version >= 7;
    }
    case 2:  // ListOffsets: throttle from v2
      return (version < 2 || r.Skip(4)) && FirstPartitionError(r, false, code);
    case 8:  // OffsetCommit: throttle from v3
      return (version < 3 || r.Skip(4)) && FirstPartitionError(r, false, code);
    case 3:  // Metadata: the first topic's error_code
      return SkipMetadataHead(r, version) && r.Array(&n) && n >= 1 && r.I16(code);
    case 15:  // DescribeGroups: throttle from v1; groups [error_code, ...]
      return (version < 1 || r.Skip(4)) && r.Array(&n) && n >= 1 && r.I16(code);
    case 42:  // DeleteGroups: throttle; results [group_id, error_code]
      return r.Skip(4) && r.Array(&n) && n >= 1 && r.String(&s) && r.I16(code);
    case 19:  // CreateTopics: throttle from v2; topics [name, topic_id (v7+), error_code]
      return (version < 2 || r.Skip(4)) && r.Array(&n) && n >= 1 && r.String(&s) &&
             (version < 7 || r.Skip(16)) && r.I16(code);
    case 20:  // DeleteTopics: throttle from v1; responses [name, topic_id (v6+), error_code]
      return (version < 1 || r.Skip(4)) && r.Array(&n) && n >= 1 && r.String(&s) &&
             (version < 6 || r.Skip(16)) && r.I16(code);
    default:
      return false;
  }
}

// The request header (protocol.html § Common Request and Response Structure): api_key int16,
// api_version int16, correlation_id int32, then client_id NULLABLE_STRING (header v1+) and
// tagged fields (header v2, flexible versions). ControlledShutdown v0 alone uses header v0.
struct RequestHeader {
  uint32_t size = 0;
  int16_t api_key = 0;
  int16_t api_version = 0;
  uint32_t correlation_id = 0;
  bool has_client_id = false;
  std::string_view client_id;
  size_t end = 0;  // offset of the body in the data
};

enum class HeaderResult { kOk, kShort, kBad };

// Checks as much of a request header as `data` holds; kShort when more bytes are needed.
HeaderResult ReadRequestHeader(std::string_view data, RequestHeader* h) {
  ByteReader r(data);
  // Even a partial size must be able to stay within the maximum.
  if (!data.empty() && static_cast<uint8_t>(data[0]) > (kMaxRequestSize >> 24)) {
    return HeaderResult::kBad;
  }
  if (!r.U32Be(&h->size)) return HeaderResult::kShort;
  if (h->size < 8 || h->size > kMaxRequestSize) return HeaderResult::kBad;
  uint16_t key, version;
  if (!r.U16Be(&key)) return HeaderResult::kShort;
  if (key > kMaxApiKey) return HeaderResult::kBad;
  if (!r.U16Be(&version)) return HeaderResult::kShort;
  if (version > kMaxApiVersion) return HeaderResult::kBad;
  h->api_key = static_cast<int16_t>(key);
  h->api_version = static_cast<int16_t>(version);
  if (!r.U32Be(&h->correlation_id)) return HeaderResult::kShort;
  if (h->api_key == kControlledShutdown && h->api_version == 0) {
    h->end = r.offset();
    return HeaderResult::kOk;
  }
  if (h->size < 10) return HeaderResult::kBad;
  uint16_t len_u;
  if (!r.U16Be(&len_u)) return HeaderResult::kShort;
  const auto len = static_cast<int16_t>(len_u);
  if (len < -1 || (len > 0 && static_cast<uint32_t>(len) > h->size - 10)) return HeaderResult::kBad;
  if (len >= 0) {
    if (!r.Bytes(static_cast<size_t>(len), &h->client_id)) {
      // Check what is there already, so that garbage is rejected early.
      if (!IsPrintable(r.rest())) return HeaderResult::kBad;
      return HeaderResult::kShort;
    }
    if (!IsPrintable(h->client_id)) return HeaderResult::kBad;
    h->has_client_id = true;
  }
  if (IsFlexible(h->api_key, h->api_version)) {
    Reader t(r.rest(), true);
    if (!t.TaggedFields()) {
      // Complete data with bad tagged fields is not a request; otherwise wait for more.
      return data.size() >= 4ull + h->size ? HeaderResult::kBad : HeaderResult::kShort;
    }
    r.Skip(t.offset());
  }
  if (r.offset() > 4ull + h->size) return HeaderResult::kBad;
  h->end = r.offset();
  return HeaderResult::kOk;
}

}  // namespace

std::string_view ApiName(int api_key) {
  if (api_key < 0 || api_key > kMaxApiKey) return {};
  return kApis[api_key].name;
}

std::string_view ErrorName(int error_code) {
  if (error_code == -1) return "UNKNOWN_SERVER_ERROR";
  constexpr int kCount = static_cast<int>(sizeof(kErrors) / sizeof(kErrors[0]));
  if (error_code < 0 || error_code >= kCount) return {};
  return kErrors[error_code];
}

L7ResponseStatus StatusOfError(int error_code) {
  if (error_code == 0) return L7ResponseStatus::kOk;
  return IsClientError(error_code) ? L7ResponseStatus::kClientError
                                   : L7ResponseStatus::kServerError;
}

size_t KafkaParser::pending() const {
  size_t n = 0;
  for (const Pending& p : pending_) n += p.used ? 1 : 0;
  return n;
}

void KafkaParser::Remember(int16_t api_key, int16_t api_version, uint32_t correlation_id) {
  Forget(correlation_id);
  pending_[next_] = Pending{true, api_key, api_version, correlation_id};
  next_ = (next_ + 1) % kMaxPending;
}

const KafkaParser::Pending* KafkaParser::Find(uint32_t correlation_id) const {
  for (size_t i = 0; i < kMaxPending; ++i) {
    const Pending& p = pending_[(next_ + kMaxPending - 1 - i) % kMaxPending];
    if (p.used && p.correlation_id == correlation_id) return &p;
  }
  return nullptr;
}

void KafkaParser::Forget(uint32_t correlation_id) {
  for (Pending& p : pending_) {
    if (p.used && p.correlation_id == correlation_id) p.used = false;
  }
}

void TopicIds::Learn(std::string_view id, std::string_view name) {
  if (id.size() != 16 || IsNullUuid(id) || name.empty() || !IsTopicName(name)) return;
  for (Entry& e : entries_) {
    if (std::string_view(e.id.data(), e.id.size()) == id) {
      e.name.assign(name);
      return;
    }
  }
  Entry* e;
  if (entries_.size() < kMax) {
    e = &entries_.emplace_back();
  } else {
    e = &entries_[next_];
    next_ = (next_ + 1) % kMax;
  }
  std::copy(id.begin(), id.end(), e->id.begin());
  e->name.assign(name);
}

std::string_view TopicIds::Find(std::string_view id) const {
  for (const Entry& e : entries_) {
    if (std::string_view(e.id.data(), e.id.size()) == id) return e.name;
  }
  return {};
}

std::string TopicIdString(std::string_view id) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : id) {
    acc = (acc << 8) | static_cast<uint8_t>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3f]);
  return out;
}

ParseResult KafkaParser::Parse(const ParseInput& in, L7Message* out) {
  if (in.is_udp) return ParseResult::Invalid();
  return in.dir == Direction::kClientToServer ? ParseRequest(in, out) : ParseResponse(in, out);
}

ParseResult KafkaParser::ParseRequest(const ParseInput& in, L7Message* out) {
  RequestHeader h;
  switch (ReadRequestHeader(in.data, &h)) {
    case HeaderResult::kBad:
      return ParseResult::Invalid();
    case HeaderResult::kShort:
      return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
    case HeaderResult::kOk:
      break;
  }
  const uint64_t total = 4ull + h.size;
  const bool complete = in.data.size() >= total;
  if (!complete && !in.at_limit) return ParseResult::NeedMore();
  const size_t end = complete ? static_cast<size_t>(total) : in.data.size();

  out->is_request = true;
  out->request_type = std::string(ApiName(h.api_key));
  out->version = std::to_string(h.api_version);
  out->has_pair_id = true;
  out->pair_id = h.correlation_id;
  out->has_request_id = true;
  out->request_id = h.correlation_id;
  out->length = h.size;
  out->expects_response = true;

  const std::string_view body = in.data.substr(h.end, end - h.end);
  Reader r(body, IsFlexible(h.api_key, h.api_version));
  switch (h.api_key) {
    case kProduce:
      DecodeProduce(r, h.api_version, config_, topic_ids_, out);
      break;
    case kFetch:
      DecodeFetch(r, h.api_version, topic_ids_, out);
      break;
    case kListOffsets:
      DecodeListOffsets(r, h.api_version, out);
      break;
    case kMetadata:
      DecodeMetadata(r, h.api_version, &topic_ids_, out);
      break;
    case kOffsetCommit:
      DecodeOffsetCommit(r, h.api_version, out);
      break;
    case kOffsetFetch:
      DecodeOffsetFetch(r, h.api_version, out);
      break;
    default:
      DecodeGroup(r, h.api_key, h.api_version, out);
  }
  if (out->expects_response) Remember(h.api_key, h.api_version, h.correlation_id);
  return ParseResult::Ok(static_cast<uint32_t>(end), total - end);
}

ParseResult KafkaParser::ParseResponse(const ParseInput& in, L7Message* out) {
  ByteReader r(in.data);
  uint32_t size, correlation_id;
  if (!r.U32Be(&size)) return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  if (size < 4 || size > kMaxResponseSize) return ParseResult::Invalid();
  if (!r.U32Be(&correlation_id)) {
    return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  }
  // Without its request a response can be neither decoded nor told from garbage (a flow picked
  // up in the middle of a long response): the engine resynchronises on a known correlation id.
  const Pending* p = Find(correlation_id);
  if (p == nullptr) return ParseResult::Invalid();
  const int16_t api_key = p->api_key;
  const int16_t api_version = p->api_version;
  const bool flexible = IsFlexible(api_key, api_version);
  const uint64_t total = 4ull + size;
  const bool complete = in.data.size() >= total;
  if (!complete && !in.at_limit) return ParseResult::NeedMore();
  const size_t end = complete ? static_cast<size_t>(total) : in.data.size();
  Reader body(in.data.substr(r.offset(), end - r.offset()), flexible);
  // ApiVersions responses keep header v0 even in flexible versions, so that a client can read
  // them whatever version the broker supports (KIP-511).
  const bool header_tags = flexible && api_key != kApiVersions;
  const bool header_ok = !header_tags || body.TaggedFields();
  if (header_ok && api_key == kMetadata) {
    Reader topics = body;
    LearnMetadataTopics(topics, api_version, &topic_ids_);
  }
  int16_t code = 0;
  const bool has_code = header_ok && DecodeResponseCode(body, api_key, api_version, &code);

  out->is_request = false;
  out->request_type = std::string(ApiName(api_key));
  out->version = std::to_string(api_version);
  out->has_pair_id = true;
  out->pair_id = correlation_id;
  out->has_request_id = true;
  out->request_id = correlation_id;
  out->length = size;
  out->status = L7ResponseStatus::kOk;
  if (has_code) {
    out->has_code = true;
    out->code = code;
    out->status = StatusOfError(code);
    if (code != 0) {
      std::string_view name = ErrorName(code);
      out->exception = name.empty() ? "error_code " + std::to_string(code) : std::string(name);
    }
  }
  Forget(correlation_id);
  return ParseResult::Ok(static_cast<uint32_t>(end), total - end);
}

size_t KafkaParser::FindBoundary(Direction dir, std::string_view data) {
  for (size_t i = 0; i < data.size(); ++i) {
    // A header fits in the first bytes; looking further would make the scan quadratic.
    std::string_view d = data.substr(i, kBoundaryWindow);
    if (dir == Direction::kClientToServer) {
      RequestHeader h;
      if (ReadRequestHeader(d, &h) != HeaderResult::kBad) return i;
      continue;
    }
    ByteReader r(d);
    uint32_t size, correlation_id;
    if (static_cast<uint8_t>(d[0]) > (kMaxResponseSize >> 24)) continue;
    if (!r.U32Be(&size)) return i;  // too short to tell: let the parser wait for more
    if (size < 4 || size > kMaxResponseSize) continue;
    if (!r.U32Be(&correlation_id)) return i;
    if (Find(correlation_id) != nullptr) return i;
  }
  return data.size();
}

namespace {

// A client's first message: a whole, plausible request header (printable client id, known API,
// sane version and size) and, when the data holds more than one message, a plausible next one.
InferResult Infer(const InferInput& in) {
  if (in.is_udp || in.dir != Direction::kClientToServer) return InferResult::kNo;
  RequestHeader h;
  if (ReadRequestHeader(in.data, &h) != HeaderResult::kOk) return InferResult::kNo;
  if (h.api_key == kControlledShutdown && h.api_version == 0) return InferResult::kNo;
  const uint64_t total = 4ull + h.size;
  // Clients name themselves (client.id); an anonymous request must at least be whole.
  if (h.client_id.empty() && in.data.size() < total) return InferResult::kNo;
  if (in.data.size() > total) {
    RequestHeader next;
    if (ReadRequestHeader(in.data.substr(static_cast<size_t>(total)), &next) ==
        HeaderResult::kBad) {
      return InferResult::kNo;
    }
  }
  return InferResult::kYes;
}

std::unique_ptr<Parser> MakeParser(const L7Config& config) {
  return std::make_unique<KafkaParser>(config);
}

}  // namespace

const ProtocolSpec kSpec = {
    L7Protocol::kKafka, "kafka", /*over_tcp=*/true, /*over_udp=*/false, {9092}, Infer, MakeParser,
};

}  // namespace flowscope::agent::l7::kafka
