// Test support: the TCP and UDP conversations of a recorded pcap, one per client/server pair, as
// the L7 engine would receive them (capture order, TCP retransmissions dropped). The protocol
// tests feed these to their parser (engine_like_feeder.h) and compare with tshark's facts
// (facts.h).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "agent/l7/parser.h"

namespace flowscope::agent::l7::l7test {

struct Segment {
  uint64_t frame = 0;  // 1-based frame number in the capture (tshark's frame.number)
  Direction dir = Direction::kClientToServer;
  uint64_t timestamp_ns = 0;
  std::string bytes;  // TCP: the payload minus bytes already seen; UDP: the datagram
};

struct Connection {
  std::string client, server;  // "ip:port"
  uint16_t server_port = 0;
  bool udp = false;
  std::vector<Segment> segments;  // capture order

  // Every byte of one direction, in order.
  std::string Stream(Direction dir) const;
  // The first segment of a direction (nullptr when there is none).
  const Segment* First(Direction dir) const;
};

// The conversations of `pcap_path` keyed "client>server" (as the facts' records name them): a
// packet goes to the server when its destination port is one of `server_ports`; packets of
// other ports and packets without payload are left out. A capture that cannot be read is a test
// failure (and an empty map).
std::map<std::string, Connection> ReadConnections(const std::string& pcap_path,
                                                  const std::set<uint16_t>& server_ports);

}  // namespace flowscope::agent::l7::l7test
