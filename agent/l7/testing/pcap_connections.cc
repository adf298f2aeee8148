#include "agent/l7/testing/pcap_connections.h"

#include <gtest/gtest.h>

#include <string_view>

#include "agent/capture/decoder.h"
#include "agent/capture/pcap_file_source.h"

namespace flowscope::agent::l7::l7test {
namespace {

std::string Endpoint(const IpAddr& ip, uint16_t port) {
  return ip.ToString() + ":" + std::to_string(port);
}

}  // namespace

std::string Connection::Stream(Direction dir) const {
  std::string out;
  for (const Segment& s : segments) {
    if (s.dir == dir) out += s.bytes;
  }
  return out;
}

const Segment* Connection::First(Direction dir) const {
  for (const Segment& s : segments) {
    if (s.dir == dir) return &s;
  }
  return nullptr;
}

std::map<std::string, Connection> ReadConnections(const std::string& pcap_path,
                                                  const std::set<uint16_t>& server_ports) {
  std::map<std::string, Connection> out;
  struct Next {
    bool known = false;
    uint32_t seq = 0;
  };
  std::map<std::string, Next> next[2];  // TCP: the next sequence number expected, per direction
  auto src = PcapFileSource::Open(pcap_path);
  EXPECT_TRUE(src.ok()) << pcap_path << ": " << src.status();
  if (!src.ok()) return out;
  Decoder decoder;
  uint64_t frame = 0;
  for (;;) {
    auto polled = (*src)->Poll(0, [&](const RawFrame& f) {
      ++frame;
      Packet p;
      if (decoder.Decode(f.link_type, f.data, f.cap_len, f.wire_len, f.timestamp_ns, &p) !=
              DecodeResult::kOk ||
          p.payload_cap_len == 0 || !(p.IsTcp() || p.IsUdp())) {
        return;
      }
      const bool to_server = server_ports.count(p.dst_port) > 0;
      if (!to_server && server_ports.count(p.src_port) == 0) return;
      const std::string client =
          to_server ? Endpoint(p.src_ip, p.src_port) : Endpoint(p.dst_ip, p.dst_port);
      const std::string server =
          to_server ? Endpoint(p.dst_ip, p.dst_port) : Endpoint(p.src_ip, p.src_port);
      const std::string key = client + ">" + server;
      const int d = to_server ? 0 : 1;
      std::string_view payload(reinterpret_cast<const char*>(p.payload), p.payload_cap_len);
      if (p.IsTcp()) {
        Next& n = next[d][key];
        uint32_t seq = p.seq;
        if (n.known && static_cast<int32_t>(seq - n.seq) < 0) {
          const uint32_t dup = n.seq - seq;
          if (dup >= payload.size()) return;
          payload.remove_prefix(dup);
          seq += dup;
        }
        n.known = true;
        n.seq = seq + static_cast<uint32_t>(payload.size());
      }
      Connection& conn = out[key];
      conn.client = client;
      conn.server = server;
      conn.server_port = to_server ? p.dst_port : p.src_port;
      conn.udp = p.IsUdp();
      conn.segments.push_back(
          Segment{frame, to_server ? Direction::kClientToServer : Direction::kServerToClient,
                  p.timestamp_ns, std::string(payload)});
    });
    if (!polled.ok() || *polled == PollResult::kEnd) break;
  }
  return out;
}

}  // namespace flowscope::agent::l7::l7test
