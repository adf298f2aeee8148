#include "server/storage/clickhouse/tsv.h"

#include <charconv>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/storage/clickhouse/ddl.h"

namespace flowscope::server::storage::clickhouse {

bool UnescapeTsv(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    if (++i == in.size()) return false;
    switch (in[i]) {
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case '0': out->push_back('\0'); break;
      case 'a': out->push_back('\a'); break;
      case 'v': out->push_back('\v'); break;
      case 'x': {
        if (i + 2 >= in.size()) return false;
        unsigned v = 0;
        auto [p, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16);
        if (ec != std::errc() || p != in.data() + i + 3) return false;
        out->push_back(static_cast<char>(v));
        i += 2;
        break;
      }
      default: out->push_back(in[i]);  // \\ \' \" and anything else stand for themselves
    }
  }
  return true;
}

namespace {

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    if (p == std::string_view::npos) break;
    out.push_back(s.substr(start, p - start));
    start = p + 1;
  }
  out.push_back(s.substr(start));
  return out;
}

enum class Kind { kUnsigned, kSigned, kFloat, kDateTime, kArray, kIp, kText };

struct ColumnKind {
  Kind kind = Kind::kText;
  bool nullable = false;
  std::string timezone;  // DateTime('tz')
};

// Strips `Wrapper(` ... `)` around `t` when present.
bool Unwrap(std::string_view* t, std::string_view wrapper) {
  if (t->size() > wrapper.size() + 2 && t->starts_with(wrapper) &&
      (*t)[wrapper.size()] == '(' && t->back() == ')') {
    *t = t->substr(wrapper.size() + 1, t->size() - wrapper.size() - 2);
    return true;
  }
  return false;
}

ColumnKind Classify(std::string_view t) {
  ColumnKind k;
  for (bool again = true; again;) {
    again = false;
    if (Unwrap(&t, "LowCardinality")) again = true;
    if (Unwrap(&t, "Nullable")) again = k.nullable = true;
  }
  if (t.starts_with("UInt")) {
    k.kind = Kind::kUnsigned;
  } else if (t.starts_with("Int")) {
    k.kind = Kind::kSigned;
  } else if (t.starts_with("Float")) {
    k.kind = Kind::kFloat;
  } else if (t == "DateTime") {
    k.kind = Kind::kDateTime;
  } else if (Unwrap(&t, "DateTime")) {
    k.kind = Kind::kDateTime;
    if (t.size() >= 2 && t.front() == '\'' && t.back() == '\'') {
      k.timezone = std::string(t.substr(1, t.size() - 2));
    }
  } else if (t.starts_with("Array(")) {
    k.kind = Kind::kArray;
  } else if (t == "IPv4" || t == "IPv6") {
    k.kind = Kind::kIp;
  }
  return k;
}

// Splits the text of an array literal ['a','b\'c'] / [1,2] / [[1],[2]] into element texts;
// quoted strings are unescaped, anything else is kept as written.
bool ParseArray(std::string_view s, std::vector<std::string>* out) {
  if (s.size() < 2 || s.front() != '[' || s.back() != ']') return false;
  s = s.substr(1, s.size() - 2);
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '\'') {
      std::string elem;
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char c = s[i++];
        if (c == '\'') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (i == s.size()) return false;
          std::string one;
          size_t len = s[i] == 'x' ? 3 : 1;
          if (i + len > s.size()) return false;
          if (!UnescapeTsv(s.substr(i - 1, len + 1), &one)) return false;
          elem += one;
          i += len;
        } else {
          elem.push_back(c);
        }
      }
      if (!closed) return false;
      out->push_back(std::move(elem));
    } else {
      // Unquoted: up to the next comma at depth 0, skipping quoted strings inside.
      size_t start = i;
      int depth = 0;
      while (i < s.size() && (depth > 0 || s[i] != ',')) {
        char c = s[i];
        if (c == '[' || c == '(') ++depth;
        if (c == ']' || c == ')') {
          if (--depth < 0) return false;
        }
        if (c == '\'') {
          for (++i; i < s.size() && s[i] != '\''; ++i) {
            if (s[i] == '\\') ++i;
          }
          if (i >= s.size()) return false;
        }
        ++i;
      }
      if (depth != 0 || i == start) return false;
      out->emplace_back(s.substr(start, i - start));
    }
    if (i == s.size()) break;
    if (s[i] != ',') return false;
    ++i;
    if (i == s.size()) return false;  // trailing comma
  }
  return true;
}

class TimeZones {
 public:
  explicit TimeZones(std::string_view server) : server_(server) {}
  absl::StatusOr<absl::TimeZone> Get(const std::string& name) {
    const std::string& n = name.empty() ? server_ : name;
    auto it = cache_.find(n);
    if (it != cache_.end()) return it->second;
    absl::TimeZone tz = absl::UTCTimeZone();
    if (n != "UTC" && n != "Etc/UTC" && !absl::LoadTimeZone(n, &tz)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "clickhouse: cannot load timezone '", n, "' to read DateTime values (is tzdata installed?)"));
    }
    cache_.emplace(n, tz);
    return tz;
  }

 private:
  std::string server_;
  std::map<std::string, absl::TimeZone> cache_;
};

absl::StatusOr<Value> ParseField(std::string_view raw, const ColumnKind& k, TimeZones* zones) {
  if (raw == "\\N" && k.nullable) return Value{};
  const char* b = raw.data();
  const char* e = raw.data() + raw.size();
  switch (k.kind) {
    case Kind::kUnsigned: {
      uint64_t v = 0;
      auto [p, ec] = std::from_chars(b, e, v);
      if (ec != std::errc() || p != e) break;
      return Value{v};
    }
    case Kind::kSigned: {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(b, e, v);
      if (ec != std::errc() || p != e) break;
      return Value{v};
    }
    case Kind::kFloat: {
      double v = 0;
      auto [p, ec] = std::from_chars(b, e, v);
      if (ec != std::errc() || p != e) break;
      return Value{v};
    }
    case Kind::kDateTime: {
      if (raw.starts_with("0000-00-00")) return Value{uint64_t{0}};
      auto tz = zones->Get(k.timezone);
      if (!tz.ok()) return tz.status();
      absl::Time t;
      std::string err;
      if (!absl::ParseTime("%Y-%m-%d %H:%M:%S", Av(raw), *tz, &t, &err)) break;
      int64_t secs = absl::ToUnixSeconds(t);
      if (secs < 0) break;
      return Value{static_cast<uint64_t>(secs)};
    }
    case Kind::kArray: {
      std::vector<std::string> elems;
      if (!ParseArray(raw, &elems)) break;
      return Value{std::move(elems)};
    }
    case Kind::kIp: {
      IpAddr ip;
      if (!IpAddr::Parse(raw, &ip)) break;
      return Value{ip};
    }
    case Kind::kText: {
      std::string s;
      if (!UnescapeTsv(raw, &s)) break;
      return Value{std::move(s)};
    }
  }
  return absl::DataLossError(absl::StrCat("clickhouse: malformed value '",
                                          Av(raw.substr(0, 64)), "' in the reply"));
}

}  // namespace

absl::StatusOr<QueryResult> ParseTsvWithNamesAndTypes(std::string_view body,
                                                      std::string_view server_timezone) {
  QueryResult r;
  if (body.empty()) return r;  // statements without a result set
  if (body.back() != '\n') {
    return absl::DataLossError("clickhouse: reply does not end with a newline (cut short?)");
  }
  body.remove_suffix(1);
  std::vector<std::string_view> lines = Split(body, '\n');
  if (lines.size() < 2) {
    return absl::DataLossError("clickhouse: reply lacks the names and types lines");
  }
  std::string text;
  for (std::string_view f : Split(lines[0], '\t')) {
    if (!UnescapeTsv(f, &text)) return absl::DataLossError("clickhouse: malformed column name");
    r.columns.push_back(text);
  }
  for (std::string_view f : Split(lines[1], '\t')) {
    if (!UnescapeTsv(f, &text)) return absl::DataLossError("clickhouse: malformed column type");
    r.types.push_back(text);
  }
  if (r.columns.size() != r.types.size()) {
    return absl::DataLossError(absl::StrCat("clickhouse: reply names ", r.columns.size(),
                                            " columns but gives ", r.types.size(), " types"));
  }
  std::vector<ColumnKind> kinds;
  for (const auto& t : r.types) kinds.push_back(Classify(t));
  TimeZones zones(server_timezone);
  r.rows.reserve(lines.size() - 2);
  for (size_t li = 2; li < lines.size(); ++li) {
    std::vector<std::string_view> fields = Split(lines[li], '\t');
    if (fields.size() != kinds.size()) {
      return absl::DataLossError(absl::StrCat("clickhouse: reply row ", li - 2, " has ",
                                              fields.size(), " fields, expected ", kinds.size()));
    }
    auto& row = r.rows.emplace_back();
    row.reserve(fields.size());
    for (size_t c = 0; c < fields.size(); ++c) {
      auto v = ParseField(fields[c], kinds[c], &zones);
      if (!v.ok()) return v.status();
      row.push_back(*std::move(v));
    }
  }
  return r;
}

}  // namespace flowscope::server::storage::clickhouse
