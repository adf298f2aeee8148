// Kafka wire protocol (https://kafka.apache.org/protocol.html): size-delimited requests with a
// header v0/v1/v2 and responses with a header v0/v1, paired by correlation id. The parser keeps
// a per-flow map correlation id -> (api key, api version), because a response can only be
// decoded knowing the request it answers. See README.md for the fields and status mapping.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/l7/l7_config.h"
#include "agent/l7/parser.h"

namespace flowscope::agent::l7::kafka {

extern const ProtocolSpec kSpec;

// API key name as Apache Kafka names it ("Produce", "Fetch", ...); "" when unknown.
std::string_view ApiName(int api_key);
// Kafka's error name ("UNKNOWN_TOPIC_OR_PARTITION", ...); "" when unknown.
std::string_view ErrorName(int error_code);
// error_code 0 -> ok; errors caused by the request (invalid, unauthorised, unknown topic or
// member, unsupported) -> client error; every other non-zero code -> server error.
L7ResponseStatus StatusOfError(int error_code);

// Topic id (16-byte uuid) → topic name, learnt from the Metadata exchanges of one flow, for the
// requests that name topics by id only (Fetch v13+, Produce v13+). Bounded: beyond kMax names
// the oldest is forgotten.
class TopicIds {
 public:
  static constexpr size_t kMax = 256;
  void Learn(std::string_view id, std::string_view name);
  // "" when unknown.
  std::string_view Find(std::string_view id) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::array<char, 16> id;
    std::string name;
  };
  std::vector<Entry> entries_;
  size_t next_ = 0;  // the entry to overwrite when full
};

// Kafka's text form of a topic id (org.apache.kafka.common.Uuid#toString: URL-safe base64
// without padding, 22 characters), as kafka-topics --describe prints it.
std::string TopicIdString(std::string_view id);

class KafkaParser final : public Parser {
 public:
  explicit KafkaParser(const L7Config& config) : config_(config) {}
  ParseResult Parse(const ParseInput& in, L7Message* out) override;
  size_t FindBoundary(Direction dir, std::string_view data) override;

  // Requests awaiting their response (tests).
  size_t pending() const;
  // Topic ids this flow's Metadata exchanges named (tests).
  const TopicIds& topic_ids() const { return topic_ids_; }

 private:
  struct Pending {
    bool used = false;
    int16_t api_key = 0;
    int16_t api_version = 0;
    uint32_t correlation_id = 0;
  };
  // Kafka clients keep few requests in flight per connection (max.in.flight defaults to 5):
  // a small ring, the oldest overwritten when full, searched newest first.
  static constexpr size_t kMaxPending = 256;

  ParseResult ParseRequest(const ParseInput& in, L7Message* out);
  ParseResult ParseResponse(const ParseInput& in, L7Message* out);
  void Remember(int16_t api_key, int16_t api_version, uint32_t correlation_id);
  const Pending* Find(uint32_t correlation_id) const;
  void Forget(uint32_t correlation_id);

  const L7Config& config_;
  std::array<Pending, kMaxPending> pending_{};
  size_t next_ = 0;
  TopicIds topic_ids_;
};

}  // namespace flowscope::agent::l7::kafka
