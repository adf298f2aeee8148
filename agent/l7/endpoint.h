// Endpoint derivation: the resource a request log aggregates by in RED metrics.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace flowscope::agent::l7 {

// HTTP: the path without query or fragment, cut to its first `segments` segments
// ("/api/v1/users/42?x=1" with 2 → "/api/v1"). "" for an empty path; "/" for the root.
inline std::string HttpEndpoint(std::string_view path, uint32_t segments) {
  path = path.substr(0, path.find_first_of("?#"));
  if (path.empty()) return std::string();
  if (path[0] != '/') return std::string(path);  // absolute-form or authority-form: keep
  size_t pos = 0;
  for (uint32_t i = 0; i < segments; ++i) {
    size_t next = path.find('/', pos + 1);
    if (next == std::string_view::npos) return std::string(path);
    pos = next;
  }
  return pos == 0 ? std::string("/") : std::string(path.substr(0, pos));
}

}  // namespace flowscope::agent::l7
