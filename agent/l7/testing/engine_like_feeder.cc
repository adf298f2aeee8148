#include "agent/l7/testing/engine_like_feeder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>

namespace flowscope::agent::l7::l7test {

std::pair<uint64_t, uint64_t> EngineLikeFeeder::FrameAndTimeAt(const Side& s,
                                                               uint64_t offset) const {
  std::pair<uint64_t, uint64_t> at{0, 0};
  for (const auto& [start, frame_time] : s.starts) {
    if (start > offset) break;
    at = frame_time;
  }
  return at;
}

void EngineLikeFeeder::Keep(L7Message&& m, uint64_t frame) {
  if (m.ignore) {
    ++ignored;
    return;
  }
  messages.push_back(std::move(m));
  frames.push_back(frame);
}

void EngineLikeFeeder::FeedDatagram(Direction dir, std::string_view data, uint64_t ts,
                                    uint64_t frame) {
  L7Message m;
  const ParseResult r = parser_->Parse(ParseInput{dir, data.substr(0, max_), true, true, ts}, &m);
  if (r.state != ParseState::kOk) {
    ++invalid;
    return;
  }
  if (m.timestamp_ns == 0) m.timestamp_ns = ts;
  Keep(std::move(m), frame);
}

void EngineLikeFeeder::Feed(Direction dir, std::string_view data, uint64_t ts, uint64_t frame) {
  Side& s = side_[static_cast<int>(dir)];
  if (!data.empty()) s.starts.push_back({s.offset, {frame, ts}});
  // `s.offset` is the stream offset of data[0]; buffered bytes are before it.
  auto advance = [&s, &data](size_t n) {
    data.remove_prefix(n);
    s.offset += n;
  };
  while (!data.empty()) {
    if (s.skip > 0) {
      const auto n = static_cast<size_t>(std::min<uint64_t>(s.skip, data.size()));
      s.skip -= n;
      advance(n);
      continue;
    }
    if (s.to_boundary) {
      advance(std::min(parser_->FindBoundary(dir, data), data.size()));
      if (data.empty()) return;
      s.to_boundary = false;
    }
    const bool buffered = !s.buf.empty();
    size_t appended = 0;
    std::string_view view;
    if (buffered) {
      appended = std::min(data.size(), max_ - std::min(max_, s.buf.size()));
      s.buf.append(data.data(), appended);
      view = s.buf;
    } else {
      view = data.substr(0, max_);
    }
    const auto [first_frame, first_ts] = FrameAndTimeAt(s, buffered ? s.buf_offset : s.offset);
    const bool at_limit = view.size() >= max_;
    L7Message m;
    const ParseResult r = parser_->Parse(ParseInput{dir, view, at_limit, false, first_ts}, &m);
    if (r.state == ParseState::kNeedMore && !at_limit) {
      if (buffered) {
        advance(appended);
      } else {
        s.buf.assign(view.data(), view.size());
        s.buf_offset = s.offset;
        advance(data.size());
      }
      continue;
    }
    if (r.state != ParseState::kOk || r.consumed == 0) {
      ++invalid;
      if (buffered) {
        s.buf.clear();
        advance(appended);
      } else {
        advance(1);
      }
      s.to_boundary = true;
      continue;
    }
    const size_t consumed = std::min<size_t>(r.consumed, view.size());
    if (m.timestamp_ns == 0) m.timestamp_ns = first_ts;
    if (buffered) {
      const size_t old = s.buf.size() - appended;
      if (consumed >= old) {
        advance(consumed - old);
        s.buf.clear();
      } else {
        // The message ended inside the bytes buffered before: their rest starts the next one.
        s.buf.erase(0, consumed);
        s.buf.resize(old - consumed);
        s.buf_offset += consumed;
      }
    } else {
      advance(consumed);
    }
    if (r.skip == kSkipToBoundary) {
      s.to_boundary = true;
    } else {
      s.skip = r.skip;
    }
    Keep(std::move(m), first_frame);
  }
}

bool EngineLikeFeeder::Idle(Direction dir) const {
  const Side& s = side_[static_cast<int>(dir)];
  return s.buf.empty() && s.skip == 0 && !s.to_boundary;
}

ParsedConnection ParseConnection(const Connection& conn, Parser* parser, size_t max_parse_bytes) {
  EngineLikeFeeder f(parser, max_parse_bytes);
  for (const Segment& s : conn.segments) f.Feed(s, conn.udp);
  ParsedConnection out;
  out.messages = std::move(f.messages);
  out.frames = std::move(f.frames);
  out.invalid = f.invalid;
  out.idle = f.Idle(Direction::kClientToServer) && f.Idle(Direction::kServerToClient);
  return out;
}

std::vector<Pair> PairLikeEngine(const std::vector<L7Message>& messages) {
  std::vector<Pair> pairs;
  std::deque<size_t> in_order;       // pending requests without pair id
  std::map<uint64_t, size_t> by_id;  // pending requests by pair id
  for (const L7Message& m : messages) {
    if (m.is_request) {
      pairs.push_back(Pair{m, std::nullopt});
      if (!m.expects_response) continue;
      if (m.has_pair_id) {
        by_id[m.pair_id] = pairs.size() - 1;
      } else {
        in_order.push_back(pairs.size() - 1);
      }
      continue;
    }
    if (m.has_pair_id) {
      auto it = by_id.find(m.pair_id);
      if (it != by_id.end()) {
        pairs[it->second].response = m;
        by_id.erase(it);
        continue;
      }
    } else if (!in_order.empty()) {
      pairs[in_order.front()].response = m;
      in_order.pop_front();
      continue;
    }
    ADD_FAILURE() << "response without request: " << m.request_type << " " << m.code << " "
                  << m.result << " " << m.exception;
  }
  return pairs;
}

std::map<std::string, std::vector<Pair>> PairsPerConnection(
    const std::map<std::string, Connection>& conns,
    const std::function<std::unique_ptr<Parser>()>& make_parser) {
  std::map<std::string, std::vector<Pair>> out;
  for (const auto& [key, conn] : conns) {
    std::unique_ptr<Parser> parser = make_parser();
    const ParsedConnection parsed = ParseConnection(conn, parser.get());
    EXPECT_EQ(parsed.invalid, 0) << key;
    EXPECT_TRUE(parsed.idle) << key;
    out[key] = PairLikeEngine(parsed.messages);
  }
  return out;
}

const Pair* InOrderPairs::Next(const std::string& key) {
  const size_t i = used_[key]++;
  auto it = pairs_.find(key);
  if (it == pairs_.end() || i >= it->second.size()) {
    ADD_FAILURE() << key << ": no parsed request #" << i;
    return nullptr;
  }
  return &it->second[i];
}

size_t InOrderPairs::size() const {
  size_t n = 0;
  for (const auto& [key, list] : pairs_) n += list.size();
  return n;
}

std::vector<L7Message> Requests(const std::vector<L7Message>& messages) {
  std::vector<L7Message> out;
  for (const L7Message& m : messages) {
    if (m.is_request) out.push_back(m);
  }
  return out;
}

std::vector<L7Message> Responses(const std::vector<L7Message>& messages) {
  std::vector<L7Message> out;
  for (const L7Message& m : messages) {
    if (!m.is_request) out.push_back(m);
  }
  return out;
}

}  // namespace flowscope::agent::l7::l7test
