#include "server/storage/clickhouse/query_check.h"

#include <cctype>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace flowscope::server::storage::clickhouse {

namespace {

// Skips whitespace and comments from `i`; false on an unterminated /* comment.
bool SkipSpace(std::string_view s, size_t* i) {
  while (*i < s.size()) {
    char c = s[*i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++*i;
    } else if (c == '-' && *i + 1 < s.size() && s[*i + 1] == '-') {
      while (*i < s.size() && s[*i] != '\n') ++*i;
    } else if (c == '/' && *i + 1 < s.size() && s[*i + 1] == '*') {
      size_t end = s.find("*/", *i + 2);
      if (end == std::string_view::npos) return false;
      *i = end + 2;
    } else {
      return true;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string_view> CheckReadOnlySql(std::string_view sql) {
  size_t i = 0;
  if (!SkipSpace(sql, &i)) return absl::InvalidArgumentError("clickhouse: unterminated comment");
  size_t word_end = i;
  while (word_end < sql.size() && std::isalpha(static_cast<unsigned char>(sql[word_end]))) {
    ++word_end;
  }
  std::string first = absl::AsciiStrToUpper(std::string(sql.substr(i, word_end - i)));
  if (first != "SELECT" && first != "WITH" && first != "SHOW" && first != "DESCRIBE" &&
      first != "DESC" && first != "EXISTS") {
    return absl::InvalidArgumentError(absl::StrCat(
        "clickhouse: only SELECT, WITH ... SELECT, SHOW, DESCRIBE and EXISTS are allowed, got '",
        first.empty() ? std::string(sql.substr(i, 16)) : first, "'"));
  }
  // Walk to the end: quotes and comments may hold anything; a `;` may only be followed by
  // whitespace and comments.
  size_t end = sql.size();
  for (size_t p = i; p < sql.size();) {
    char c = sql[p];
    if (c == '\'' || c == '"' || c == '`') {
      size_t q = p + 1;
      while (q < sql.size() && sql[q] != c) q += sql[q] == '\\' ? 2 : 1;
      if (q >= sql.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("clickhouse: unterminated ", std::string(1, c), " quote"));
      }
      p = q + 1;
    } else if ((c == '-' && p + 1 < sql.size() && sql[p + 1] == '-') ||
               (c == '/' && p + 1 < sql.size() && sql[p + 1] == '*')) {
      size_t q = p;
      if (!SkipSpace(sql, &q)) return absl::InvalidArgumentError("clickhouse: unterminated comment");
      p = q;
    } else if (c == ';') {
      size_t q = p + 1;
      while (true) {
        if (!SkipSpace(sql, &q)) {
          return absl::InvalidArgumentError("clickhouse: unterminated comment");
        }
        if (q < sql.size() && sql[q] == ';') {
          ++q;
          continue;
        }
        break;
      }
      if (q < sql.size()) {
        return absl::InvalidArgumentError("clickhouse: one statement per query");
      }
      end = p;
      break;
    } else {
      ++p;
    }
  }
  std::string_view stmt = sql.substr(i, end - i);
  // Drop trailing whitespace; a trailing -- comment stays harmless because the caller puts
  // FORMAT on a new line.
  while (!stmt.empty() && std::isspace(static_cast<unsigned char>(stmt.back()))) {
    stmt.remove_suffix(1);
  }
  return stmt;
}

}  // namespace flowscope::server::storage::clickhouse
