#include "common/net/ip_addr.h"

#include <arpa/inet.h>

#include <cstdio>

namespace flowscope {

std::string IpAddr::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  const char* r = inet_ntop(is_v4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof(buf));
  return r ? std::string(r) : std::string();
}

bool IpAddr::Parse(std::string_view text, IpAddr* out) {
  std::string s(text);
  IpAddr a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.is_v4 = true;
    *out = a;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.is_v4 = false;
    *out = a;
    return true;
  }
  return false;
}

std::string MacToString(const uint8_t mac[6]) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return buf;
}

}  // namespace flowscope
