#include "agent/l7/trace_context.h"

#include <string>
#include <vector>

#include "agent/l7/text.h"

namespace flowscope::agent::l7 {
namespace {

// Applies the format of `header` (lower case) to `value`: the id it carries for the trace or
// the span. Unknown header names are taken verbatim (custom headers).
bool Extract(std::string_view header, std::string_view value, bool want_trace, std::string* out,
             std::string* parent) {
  std::string trace, span, par;
  bool ok = false;
  if (header == "traceparent") {
    ok = ParseTraceparent(value, &trace, &span);
  } else if (header == "sw8") {
    ok = ParseSw8(value, &trace, &span);
  } else if (header == "b3") {
    ok = ParseB3(value, &trace, &span, &par);
  } else if (header == "uber-trace-id") {
    ok = ParseUberTraceId(value, &trace, &span, &par);
  } else {
    trace = span = std::string(Trim(value));
    ok = !trace.empty();
  }
  if (!ok) return false;
  *out = want_trace ? trace : span;
  if (!want_trace && !par.empty()) *parent = par;
  return !out->empty();
}

}  // namespace

bool ParseTraceparent(std::string_view v, std::string* trace_id, std::string* span_id) {
  // version "-" trace-id(32 hex) "-" parent-id(16 hex) "-" flags(2 hex)
  std::vector<std::string_view> parts = Split(Trim(v), '-');
  if (parts.size() < 4 || parts[0].size() != 2 || parts[1].size() != 32 ||
      parts[2].size() != 16 || !IsHex(parts[1]) || !IsHex(parts[2])) {
    return false;
  }
  *trace_id = ToLower(parts[1]);
  *span_id = ToLower(parts[2]);
  return true;
}

bool ParseSw8(std::string_view v, std::string* trace_id, std::string* span_id) {
  // sample "-" base64(trace id) "-" base64(segment id) "-" span id "-" base64(service) ...
  std::vector<std::string_view> parts = Split(Trim(v), '-');
  if (parts.size() < 4) return false;
  std::string trace, segment;
  if (!Base64Decode(parts[1], &trace) || !Base64Decode(parts[2], &segment) ||
      trace.empty()) {
    return false;
  }
  *trace_id = trace;
  *span_id = segment + "-" + std::string(parts[3]);
  return true;
}

bool ParseB3(std::string_view v, std::string* trace_id, std::string* span_id,
             std::string* parent_span_id) {
  // trace-id "-" span-id ["-" sampled ["-" parent-span-id]]; "0"/"1"/"d" alone is sampling only.
  std::vector<std::string_view> parts = Split(Trim(v), '-');
  if (parts.size() < 2 || !IsHex(parts[0]) || !IsHex(parts[1])) return false;
  *trace_id = ToLower(parts[0]);
  *span_id = ToLower(parts[1]);
  if (parts.size() >= 4 && IsHex(parts[3])) *parent_span_id = ToLower(parts[3]);
  return true;
}

bool ParseUberTraceId(std::string_view v, std::string* trace_id, std::string* span_id,
                      std::string* parent_span_id) {
  // trace-id ":" span-id ":" parent-span-id ":" flags; ':' may arrive URL-encoded as %3A.
  std::string_view t = Trim(v);
  std::string s;
  s.reserve(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '%' && i + 2 < t.size() && t[i + 1] == '3' && (t[i + 2] == 'A' || t[i + 2] == 'a')) {
      s.push_back(':');
      i += 2;
    } else {
      s.push_back(t[i]);
    }
  }
  std::vector<std::string_view> parts = Split(s, ':');
  if (parts.size() != 4 || !IsHex(parts[0]) || !IsHex(parts[1])) return false;
  *trace_id = ToLower(parts[0]);
  *span_id = ToLower(parts[1]);
  if (IsHex(parts[2]) && parts[2] != "0") *parent_span_id = ToLower(parts[2]);
  return true;
}

void TraceHeaderCollector::Consider(Slot* slot, const std::vector<std::string>& names,
                                    std::string_view name, std::string_view value) {
  for (size_t i = 0; i < names.size() && i < slot->priority; ++i) {
    if (EqualsIgnoreCase(names[i], name)) {
      slot->priority = i;
      slot->value.assign(value.data(), value.size());
      slot->header.assign(name.data(), name.size());
      for (char& c : slot->header) c = ToLowerAscii(c);
      return;
    }
  }
}

namespace {
constexpr std::string_view kB3ParentSpanId = "x-b3-parentspanid";
}  // namespace

TraceHeaderCollector::TraceHeaderCollector(const L7Config& config) : config_(config) {
  for (const auto* names : {&config.trace_id_headers, &config.span_id_headers,
                            &config.x_request_id_headers, &config.proxy_client_headers}) {
    for (const std::string& n : *names) lengths_ |= LengthBit(n.size());
  }
  lengths_ |= LengthBit(kB3ParentSpanId.size());
}

void TraceHeaderCollector::Offer(std::string_view name, std::string_view value) {
  if ((lengths_ & LengthBit(name.size())) == 0) return;
  Consider(&trace_, config_.trace_id_headers, name, value);
  Consider(&span_, config_.span_id_headers, name, value);
  Consider(&x_request_id_, config_.x_request_id_headers, name, value);
  Consider(&proxy_client_, config_.proxy_client_headers, name, value);
  if (EqualsIgnoreCase(name, kB3ParentSpanId) && IsHex(value)) {
    parent_span_ = ToLower(value);
  }
}

void TraceHeaderCollector::Finish(TraceContext* ctx) {
  std::string parent;
  if (!trace_.value.empty()) {
    std::string unused;
    Extract(trace_.header, trace_.value, true, &ctx->trace_id, &unused);
  }
  if (!span_.value.empty()) Extract(span_.header, span_.value, false, &ctx->span_id, &parent);
  if (!parent.empty()) {
    ctx->parent_span_id = parent;
  } else if (!parent_span_.empty()) {
    ctx->parent_span_id = parent_span_;
  }
  if (!x_request_id_.value.empty()) {
    ctx->x_request_id = std::string(Trim(x_request_id_.value));
  }
  if (!proxy_client_.value.empty()) {
    // X-Forwarded-For: client, proxy1, proxy2: the first is the real client.
    std::string_view first = proxy_client_.value;
    first = first.substr(0, first.find(','));
    ctx->http_proxy_client = std::string(Trim(first));
  }
}

}  // namespace flowscope::agent::l7
