// Test helpers shared by the HTTP/1 and HTTP/2 tests (header-only, tests only): a TCP
// connection driven through the real L7 engine, and HTTP/2 frames and HPACK blocks built with
// nghttp2's deflater. (Pcaps through the pipeline and the tshark facts: agent/l7/testing/.)
#pragma once

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/l7/engine.h"

namespace flowscope::agent::l7::httptest {

constexpr uint64_t kT0 = 1'700'000'000'000'000'000ull;
constexpr uint64_t kUs = 1000;

// One TCP connection through the engine: payloads in the order given, sequence numbers
// continuous unless a gap is asked for.
class Conn : public L7Sink {
 public:
  explicit Conn(std::vector<const ProtocolSpec*> protocols, L7Config config = {})
      : engine_(config, this, std::move(protocols)) {
    flow_.flow_id = 1;
    flow_.client_port = 40000;
    flow_.server_port = 8080;
    flow_.protocol = 6;
  }
  void OnL7Log(const L7FlowLog& row) override { rows.push_back(row); }

  // Sends `bytes` in direction `dir` at kT0 + `at_us`, as one payload (or in pieces of `piece`
  // bytes, to exercise reassembly).
  void Send(Direction dir, std::string_view bytes, uint64_t at_us, size_t piece = 0) {
    const int d = static_cast<int>(dir);
    if (piece == 0) piece = bytes.size();
    while (!bytes.empty()) {
      const std::string_view p = bytes.substr(0, piece);
      engine_.OnPayload(&state_, flow_, dir, kT0 + at_us * kUs, true, seq_[d], p,
                        static_cast<uint32_t>(p.size()));
      seq_[d] += static_cast<uint32_t>(p.size());
      bytes.remove_prefix(p.size());
    }
  }
  void C2S(std::string_view bytes, uint64_t at_us, size_t piece = 0) {
    Send(Direction::kClientToServer, bytes, at_us, piece);
  }
  void S2C(std::string_view bytes, uint64_t at_us, size_t piece = 0) {
    Send(Direction::kServerToClient, bytes, at_us, piece);
  }
  // Bytes of direction `dir` that were never seen.
  void Gap(Direction dir, uint32_t n) { seq_[static_cast<int>(dir)] += n; }
  void End(uint64_t at_us) { engine_.OnFlowEnd(&state_, flow_, kT0 + at_us * kUs); }

  const L7Stats& stats() const { return engine_.stats(); }
  L7Protocol protocol() const { return L7Engine::ProtocolOf(state_.get()); }

  std::vector<L7FlowLog> rows;

 private:
  L7Engine engine_;
  FlowL7StatePtr state_;
  FlowInfo flow_;
  uint32_t seq_[2] = {1000, 5000};
};

// ---- HTTP/2 frames ----

inline std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  const auto len = static_cast<uint32_t>(payload.size());
  f.push_back(static_cast<char>(len >> 16));
  f.push_back(static_cast<char>(len >> 8));
  f.push_back(static_cast<char>(len));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  f.push_back(static_cast<char>(stream >> 24));
  f.push_back(static_cast<char>(stream >> 16));
  f.push_back(static_cast<char>(stream >> 8));
  f.push_back(static_cast<char>(stream));
  f.append(payload);
  return f;
}

inline std::string Settings(std::vector<std::pair<uint16_t, uint32_t>> values) {
  std::string p;
  for (auto [id, v] : values) {
    p.push_back(static_cast<char>(id >> 8));
    p.push_back(static_cast<char>(id));
    for (int s = 24; s >= 0; s -= 8) p.push_back(static_cast<char>(v >> s));
  }
  return Frame(0x4, 0, 0, p);
}

using Headers = std::vector<std::pair<std::string, std::string>>;

// One direction's HPACK encoder (it indexes what it sends, like real peers).
class Encoder {
 public:
  // `max_table`: the largest dynamic table this encoder will ever use.
  explicit Encoder(size_t max_table = 4096) { nghttp2_hd_deflate_new(&deflater_, max_table); }
  ~Encoder() { nghttp2_hd_deflate_del(deflater_); }
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  std::string Block(const Headers& headers) {
    std::vector<nghttp2_nv> nvs;
    for (const auto& [n, v] : headers) {
      nvs.push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                               reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(),
                               v.size(), NGHTTP2_NV_FLAG_NONE});
    }
    std::string out(nghttp2_hd_deflate_bound(deflater_, nvs.data(), nvs.size()), '\0');
    const ssize_t n = nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<uint8_t*>(out.data()),
                                            out.size(), nvs.data(), nvs.size());
    EXPECT_GE(n, 0);
    out.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return out;
  }
  // The encoder will use a table this large (the peer allowed it); the next block says so.
  void SetTableSize(size_t size) { nghttp2_hd_deflate_change_table_size(deflater_, size); }

 private:
  nghttp2_hd_deflater* deflater_ = nullptr;
};

}  // namespace flowscope::agent::l7::httptest
