// IpAddr: an IPv4 or IPv6 address in 16 bytes, cheap to copy, hash and compare. IPv4 addresses
// are stored in the first 4 bytes (network order) with the rest zero, so that equal addresses
// have equal bytes whatever their origin.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace flowscope {

struct IpAddr {
  std::array<uint8_t, 16> bytes{};
  bool is_v4 = true;

  static IpAddr V4(const uint8_t* p) {
    IpAddr a;
    std::memcpy(a.bytes.data(), p, 4);
    a.is_v4 = true;
    return a;
  }
  static IpAddr V6(const uint8_t* p) {
    IpAddr a;
    std::memcpy(a.bytes.data(), p, 16);
    a.is_v4 = false;
    return a;
  }
  // Host-order IPv4 value, as the l4_flow_log `ip4_*` columns store it.
  uint32_t V4Host() const {
    return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
           bytes[3];
  }
  // "10.0.0.1" or "fe80::1" (inet_ntop form).
  std::string ToString() const;
  // Parses dotted IPv4 or IPv6 text; returns false on malformed input.
  static bool Parse(std::string_view text, IpAddr* out);

  friend bool operator==(const IpAddr& a, const IpAddr& b) {
    return a.is_v4 == b.is_v4 && a.bytes == b.bytes;
  }
  friend bool operator<(const IpAddr& a, const IpAddr& b) {
    if (a.is_v4 != b.is_v4) return a.is_v4;
    return std::memcmp(a.bytes.data(), b.bytes.data(), 16) < 0;
  }
  template <typename H>
  friend H AbslHashValue(H h, const IpAddr& a) {
    return H::combine(std::move(h), a.bytes, a.is_v4);
  }
};

// "aa:bb:cc:dd:ee:ff".
std::string MacToString(const uint8_t mac[6]);

}  // namespace flowscope
