// Minimal, allocation-light JSON output for records: AppendJsonString escapes per RFC 8259, and
// JsonRowVisitor renders a record's VisitColumns() as one JSON object.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/net/ip_addr.h"

namespace flowscope {

void AppendJsonString(std::string* out, std::string_view s);
void AppendJsonDouble(std::string* out, double v);

class JsonRowVisitor {
 public:
  explicit JsonRowVisitor(std::string* out) : out_(out) {}

  template <typename T>
  void operator()(std::string_view name, const T& value) {
    Key(name);
    if constexpr (std::is_same_v<T, bool>) {
      out_->append(value ? "true" : "false");
    } else if constexpr (std::is_integral_v<T>) {
      out_->append(std::to_string(value));
    } else if constexpr (std::is_floating_point_v<T>) {
      AppendJsonDouble(out_, value);
    } else if constexpr (std::is_same_v<T, IpAddr>) {
      AppendJsonString(out_, value.ToString());
    } else if constexpr (std::is_same_v<T, std::vector<std::string_view>>) {
      out_->push_back('[');
      for (size_t i = 0; i < value.size(); ++i) {
        if (i) out_->push_back(',');
        AppendJsonString(out_, value[i]);
      }
      out_->push_back(']');
    } else {
      AppendJsonString(out_, std::string_view(value));
    }
  }

 private:
  void Key(std::string_view name) {
    if (!first_) out_->push_back(',');
    first_ = false;
    AppendJsonString(out_, name);
    out_->push_back(':');
  }
  std::string* out_;
  bool first_ = true;
};

// {"col":value,...} for any record with a VisitColumns overload.
template <typename Row>
std::string ToJson(const Row& row) {
  std::string s;
  s.reserve(1024);
  s.push_back('{');
  JsonRowVisitor v(&s);
  VisitColumns(row, v);
  s.push_back('}');
  return s;
}

}  // namespace flowscope
