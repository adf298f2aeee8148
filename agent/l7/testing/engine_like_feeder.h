// Test support: feeds one parser the way the L7 engine does (engine.cc), without the engine's
// pairing and rows, so that a protocol test can look at every message a parser produced: per
// direction at most `max_parse_bytes` shown, kNeedMore buffered, skips honoured, FindBoundary
// after kInvalid or kSkipToBoundary; UDP datagrams parsed one each. Each message keeps the
// capture frame and time of its first byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/l7/parser.h"
#include "agent/l7/testing/pcap_connections.h"

namespace flowscope::agent::l7::l7test {

class EngineLikeFeeder {
 public:
  explicit EngineLikeFeeder(Parser* parser, size_t max_parse_bytes = 1024)
      : parser_(parser), max_(max_parse_bytes) {}

  // The next bytes of direction `dir` of a TCP stream, first seen at `ts` in capture frame
  // `frame`.
  void Feed(Direction dir, std::string_view data, uint64_t ts = 0, uint64_t frame = 0);
  // One whole datagram.
  void FeedDatagram(Direction dir, std::string_view data, uint64_t ts = 0, uint64_t frame = 0);
  void Feed(const Segment& s, bool udp = false) {
    udp ? FeedDatagram(s.dir, s.bytes, s.timestamp_ns, s.frame)
        : Feed(s.dir, s.bytes, s.timestamp_ns, s.frame);
  }
  // Nothing buffered, skipped or searched for: every byte fed belonged to a whole message.
  bool Idle(Direction dir) const;

  std::vector<L7Message> messages;  // the messages that are not `ignore`, in parse order
  std::vector<uint64_t> frames;     // frames[i]: capture frame of messages[i]'s first byte
  int invalid = 0;                  // kInvalid (or kOk consuming nothing)
  int ignored = 0;

 private:
  struct Side {
    std::string buf;          // start of a message that needed more bytes (≤ max)
    uint64_t buf_offset = 0;  // stream offset of buf[0]
    uint64_t offset = 0;      // stream offset of the next byte fed
    uint64_t skip = 0;
    bool to_boundary = false;
    // Where each fed chunk starts in the stream: (offset, frame, time).
    std::vector<std::pair<uint64_t, std::pair<uint64_t, uint64_t>>> starts;
  };
  std::pair<uint64_t, uint64_t> FrameAndTimeAt(const Side& s, uint64_t offset) const;
  void Keep(L7Message&& m, uint64_t frame);

  Parser* parser_;
  size_t max_;
  Side side_[2];
};

// A whole conversation through `parser`, in capture order.
struct ParsedConnection {
  std::vector<L7Message> messages;
  std::vector<uint64_t> frames;
  int invalid = 0;
  bool idle = true;  // both directions ended on a message boundary
};
ParsedConnection ParseConnection(const Connection& conn, Parser* parser,
                                 size_t max_parse_bytes = 1024);

// A request and the response the engine would pair with it.
struct Pair {
  L7Message request;
  std::optional<L7Message> response;
};
// Pairs as the engine does: by pair id when the request has one, otherwise in order (the
// oldest pending request takes the next response); requests that expect no response stay
// alone. In request order. Responses without a request are a test failure.
std::vector<Pair> PairLikeEngine(const std::vector<L7Message>& messages);

// Each connection through its own parser from `make_parser`, as the engine would feed it: no
// message may be invalid and each direction must end on a message boundary (test failures
// otherwise). The pairs (PairLikeEngine) per connection key.
std::map<std::string, std::vector<Pair>> PairsPerConnection(
    const std::map<std::string, Connection>& conns,
    const std::function<std::unique_ptr<Parser>()>& make_parser);

// Hands out each connection's pairs in order, as the facts' records of that connection come
// (requests are answered in order on these protocols).
class InOrderPairs {
 public:
  explicit InOrderPairs(std::map<std::string, std::vector<Pair>> pairs)
      : pairs_(std::move(pairs)) {}
  // The next pair of connection `key`; nullptr (and a test failure) when there is none left.
  const Pair* Next(const std::string& key);
  size_t size() const;  // pairs of all connections

 private:
  std::map<std::string, std::vector<Pair>> pairs_;
  std::map<std::string, size_t> used_;
};

// Messages of one direction, in order.
std::vector<L7Message> Requests(const std::vector<L7Message>& messages);
std::vector<L7Message> Responses(const std::vector<L7Message>& messages);

// The value of attribute `name` of a message or a row ("" when absent).
template <typename MessageOrRow>
std::string Attribute(const MessageOrRow& m, std::string_view name) {
  for (const auto& [k, v] : m.attributes) {
    if (k == name) return v;
  }
  return "";
}

}  // namespace flowscope::agent::l7::l7test
