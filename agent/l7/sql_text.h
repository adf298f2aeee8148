// SQL text helpers shared by the SQL protocol parsers (MySQL, PostgreSQL): the statement's
// first keyword, an endpoint derived from it ("SELECT items"), literal obfuscation, trace
// context carried in comments (sqlcommenter and DeepFlow's `/* key: value */` style), and a
// UTF-8 safe copy. Every function works on the bytes it is given (a parser's bounded view), never
// reads past them, and returns strings no longer than its input (plus a fixed small bound).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "agent/l7/text.h"
#include "agent/l7/trace_context.h"

namespace flowscope::agent::l7::sql {

inline bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
// Characters of an unquoted identifier (bytes ≥ 0x80 too: UTF-8 identifiers).
inline bool IsIdentChar(char c) {
  return IsAlpha(c) || IsDigit(c) || c == '_' || c == '$' || static_cast<unsigned char>(c) >= 0x80;
}
inline char ToUpperAscii(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

// Skips whitespace and comments (`/* */`, `-- `, `#`) at the start of `s`. An unterminated
// comment swallows the rest.
inline std::string_view SkipSpaceAndComments(std::string_view s) {
  for (;;) {
    while (!s.empty() && (IsSpace(s.front()) || s.front() == '\f' || s.front() == '\v')) {
      s.remove_prefix(1);
    }
    if (s.size() >= 2 && s[0] == '/' && s[1] == '*') {
      size_t end = s.find("*/", 2);
      if (end == std::string_view::npos) return {};
      s.remove_prefix(end + 2);
    } else if ((s.size() >= 2 && s[0] == '-' && s[1] == '-') || (!s.empty() && s[0] == '#')) {
      size_t nl = s.find('\n');
      if (nl == std::string_view::npos) return {};
      s.remove_prefix(nl + 1);
    } else {
      return s;
    }
  }
}

// The first keyword of a statement (letters only, at most 24 of them), after leading comments and
// opening parentheses; empty when the text does not start with a word.
inline std::string_view FirstWord(std::string_view sql) {
  sql = SkipSpaceAndComments(sql);
  while (!sql.empty() && sql.front() == '(') sql = SkipSpaceAndComments(sql.substr(1));
  size_t n = 0;
  while (n < sql.size() && n <= 24 && IsAlpha(sql[n])) ++n;
  if (n == 0 || n > 24) return {};
  if (n < sql.size() && IsIdentChar(sql[n])) return {};  // "SELECT1x": not a keyword
  return sql.substr(0, n);
}

// Statement keywords that can start a MySQL or PostgreSQL statement. Inference uses this to
// tell SQL text from other bytes that happen to sit where SQL would be.
inline bool IsStatementKeyword(std::string_view word) {
  static constexpr std::string_view kWords[] = {
      "SELECT",     "INSERT",   "UPDATE",   "DELETE",    "REPLACE",  "WITH",       "SET",
      "SHOW",       "CREATE",   "DROP",     "ALTER",     "TRUNCATE", "RENAME",     "BEGIN",
      "START",      "COMMIT",   "ROLLBACK", "SAVEPOINT", "RELEASE",  "USE",        "CALL",
      "EXPLAIN",    "DESCRIBE", "DESC",     "PREPARE",   "EXECUTE",  "DEALLOCATE", "LOCK",
      "UNLOCK",     "GRANT",    "REVOKE",   "ANALYZE",   "OPTIMIZE", "CHECK",      "REPAIR",
      "FLUSH",      "KILL",     "LOAD",     "HANDLER",   "DO",       "XA",         "VALUES",
      "TABLE",      "COPY",     "LISTEN",   "NOTIFY",    "UNLISTEN", "VACUUM",     "DECLARE",
      "FETCH",      "CLOSE",    "MOVE",     "DISCARD",   "RESET",    "ABORT",      "END",
      "COMMENT",    "CLUSTER",  "REINDEX",  "REFRESH",   "SECURITY", "IMPORT",     "MERGE",
      "CHECKPOINT", "PURGE",    "INSTALL",  "UNINSTALL", "CHANGE",   "STOP",       "HELP",
      "CACHE",      "BINLOG",   "SIGNAL",   "RESIGNAL",  "GET",      "SHUTDOWN",   "CHECKSUM",
      "REASSIGN"};
  for (std::string_view k : kWords) {
    if (EqualsIgnoreCase(word, k)) return true;
  }
  return false;
}

// True when `sql` starts (after comments) with a statement keyword.
inline bool LooksLikeSql(std::string_view sql) { return IsStatementKeyword(FirstWord(sql)); }

// INSERT/UPDATE/DELETE/REPLACE/MERGE: statements whose affected-row count is meaningful
// (DeepFlow reports sql_affected_rows for these only).
inline bool IsDml(std::string_view sql) {
  std::string_view w = FirstWord(sql);
  return EqualsIgnoreCase(w, "INSERT") || EqualsIgnoreCase(w, "UPDATE") ||
         EqualsIgnoreCase(w, "DELETE") || EqualsIgnoreCase(w, "REPLACE") ||
         EqualsIgnoreCase(w, "MERGE");
}

namespace internal {

// Reads one token after spaces and comments: an identifier (dotted parts, each bare, `back`- or
// "double"-quoted, quotes removed) or a single other character. Returns false at the end.
inline bool NextToken(std::string_view* s, std::string* token, bool* is_word) {
  *s = SkipSpaceAndComments(*s);
  token->clear();
  *is_word = false;
  if (s->empty()) return false;
  char c = s->front();
  if (!IsIdentChar(c) && c != '`' && c != '"') {
    token->push_back(c);
    s->remove_prefix(1);
    return true;
  }
  *is_word = true;
  for (;;) {
    if (s->empty()) break;
    c = s->front();
    if (c == '`' || c == '"') {
      size_t end = s->find(c, 1);
      std::string_view part = s->substr(1, end == std::string_view::npos ? s->size() - 1 : end - 1);
      token->append(part.substr(0, 64 - std::min<size_t>(64, token->size())));
      s->remove_prefix(end == std::string_view::npos ? s->size() : end + 1);
    } else if (IsIdentChar(c)) {
      size_t n = 0;
      while (n < s->size() && IsIdentChar((*s)[n])) ++n;
      token->append(s->substr(0, std::min<size_t>(n, 64 - std::min<size_t>(64, token->size()))));
      s->remove_prefix(n);
    } else {
      break;
    }
    if (s->empty() || s->front() != '.') break;
    token->push_back('.');
    s->remove_prefix(1);
  }
  return true;
}

inline bool TokenIs(const std::string& token, bool is_word, std::string_view word) {
  return is_word && EqualsIgnoreCase(token, word);
}

// Skips a quoted literal starting at sql[i] (the quote); returns the index after it (or the end
// when unterminated). Doubled quotes escape; backslashes too when `backslash_escapes`.
inline size_t SkipQuoted(std::string_view sql, size_t i, bool backslash_escapes) {
  const char q = sql[i];
  ++i;
  while (i < sql.size()) {
    char c = sql[i];
    if (c == '\\' && backslash_escapes) {
      i += 2;
      continue;
    }
    if (c == q) {
      if (i + 1 < sql.size() && sql[i + 1] == q) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    ++i;
  }
  return sql.size();
}

}  // namespace internal

// The endpoint of a statement: its first keyword in upper case, followed by the table it works
// on for SELECT ... FROM t, INSERT/REPLACE INTO t, UPDATE t, DELETE FROM t, and the procedure
// for CALL p ("SELECT items", "INSERT fsl7.items", "BEGIN"). Empty when there is no keyword.
inline std::string Endpoint(std::string_view sql) {
  std::string_view verb = FirstWord(sql);
  if (verb.empty()) return std::string();
  std::string out;
  for (char c : verb) out.push_back(ToUpperAscii(c));
  std::string_view rest = SkipSpaceAndComments(sql);
  while (!rest.empty() && rest.front() == '(') rest = SkipSpaceAndComments(rest.substr(1));
  rest.remove_prefix(verb.size());

  std::string tok;
  bool word = false;
  std::string table;
  auto skip_words = [&](std::initializer_list<std::string_view> words) {
    for (;;) {
      std::string_view save = rest;
      if (!internal::NextToken(&rest, &tok, &word)) return false;
      bool skipped = false;
      for (std::string_view w : words) {
        if (internal::TokenIs(tok, word, w)) skipped = true;
      }
      if (!skipped) {
        rest = save;
        return true;
      }
    }
  };
  auto take_table = [&]() {
    if (internal::NextToken(&rest, &tok, &word) && word) table = tok;
  };
  if (out == "SELECT") {
    // The first FROM outside parentheses and string literals.
    int depth = 0;
    size_t guard = 0;
    while (++guard < 4096) {
      rest = SkipSpaceAndComments(rest);
      if (rest.empty()) break;
      char c = rest.front();
      if (c == '\'') {
        rest.remove_prefix(internal::SkipQuoted(rest, 0, true));
        continue;
      }
      if (c == '(' || c == ')') {
        depth += c == '(' ? 1 : -1;
        rest.remove_prefix(1);
        continue;
      }
      if (!internal::NextToken(&rest, &tok, &word)) break;
      if (depth <= 0 && internal::TokenIs(tok, word, "FROM")) {
        take_table();
        break;
      }
    }
  } else if (out == "INSERT" || out == "REPLACE") {
    if (skip_words({"LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "INTO"})) take_table();
  } else if (out == "UPDATE") {
    if (skip_words({"LOW_PRIORITY", "IGNORE", "ONLY"})) take_table();
  } else if (out == "DELETE") {
    if (skip_words({"LOW_PRIORITY", "QUICK", "IGNORE", "FROM", "ONLY"})) take_table();
  } else if (out == "CALL") {
    take_table();
  }
  if (!table.empty()) {
    out.push_back(' ');
    out.append(table);
  }
  return out;
}

// Replaces the literals of `sql` with '?': quoted strings ('...', and "..." when
// `double_quote_strings`, as MySQL does by default), numbers (also 0x.., 1e5, .5), prefixed
// strings (X'..', B'..', N'..', E'..') and PostgreSQL dollar-quoted strings ($$..$$, $tag$..$tag$).
// Identifiers, quoted identifiers, placeholders ($1, ?) and comments are kept. The result is
// never longer than `sql`; an unterminated literal (SQL cut at the parse bound) becomes '?'.
inline std::string Obfuscate(std::string_view sql, bool double_quote_strings,
                             bool backslash_escapes) {
  std::string out;
  out.reserve(sql.size());
  size_t i = 0;
  const size_t n = sql.size();
  while (i < n) {
    const char c = sql[i];
    if (c == '\'' || (c == '"' && double_quote_strings)) {
      i = internal::SkipQuoted(sql, i, backslash_escapes);
      out.push_back('?');
      continue;
    }
    if (c == '"' || c == '`') {
      size_t end = internal::SkipQuoted(sql, i, false);
      out.append(sql.substr(i, end - i));
      i = end;
      continue;
    }
    if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      size_t end = sql.find("*/", i + 2);
      end = end == std::string_view::npos ? n : end + 2;
      out.append(sql.substr(i, end - i));
      i = end;
      continue;
    }
    if ((c == '-' && i + 1 < n && sql[i + 1] == '-') || c == '#') {
      size_t end = sql.find('\n', i);
      end = end == std::string_view::npos ? n : end;
      out.append(sql.substr(i, end - i));
      i = end;
      continue;
    }
    if (c == '$') {
      if (i + 1 < n && IsDigit(sql[i + 1])) {  // $1: a placeholder
        size_t j = i + 1;
        while (j < n && IsDigit(sql[j])) ++j;
        out.append(sql.substr(i, j - i));
        i = j;
        continue;
      }
      size_t j = i + 1;
      while (j < n && (IsAlpha(sql[j]) || sql[j] == '_' || (j > i + 1 && IsDigit(sql[j])))) ++j;
      if (j < n && sql[j] == '$' && (i == 0 || !IsIdentChar(sql[i - 1]))) {
        std::string_view tag = sql.substr(i, j + 1 - i);
        size_t end = sql.find(tag, j + 1);
        i = end == std::string_view::npos ? n : end + tag.size();
        out.push_back('?');
        continue;
      }
    }
    const bool starts_number = (IsDigit(c) || (c == '.' && i + 1 < n && IsDigit(sql[i + 1]))) &&
                               (i == 0 || !IsIdentChar(sql[i - 1]));
    if (starts_number) {
      size_t j = i;
      if (c == '0' && j + 1 < n &&
          (sql[j + 1] == 'x' || sql[j + 1] == 'X' || sql[j + 1] == 'b' || sql[j + 1] == 'B')) {
        j += 2;
        while (j < n && IsHexDigit(sql[j])) ++j;
      } else {
        while (j < n && (IsDigit(sql[j]) || sql[j] == '.')) ++j;
        if (j < n && (sql[j] == 'e' || sql[j] == 'E')) {
          size_t k = j + 1;
          if (k < n && (sql[k] == '+' || sql[k] == '-')) ++k;
          if (k < n && IsDigit(sql[k])) {
            j = k;
            while (j < n && IsDigit(sql[j])) ++j;
          }
        }
      }
      out.push_back('?');
      i = j;
      continue;
    }
    if (IsIdentChar(c)) {
      size_t j = i;
      while (j < n && IsIdentChar(sql[j])) ++j;
      // X'ab', B'01', N'text', E'esc': the prefix belongs to the literal.
      if (j == i + 1 && j < n && sql[j] == '\'' &&
          (c == 'x' || c == 'X' || c == 'b' || c == 'B' || c == 'n' || c == 'N' || c == 'e' ||
           c == 'E')) {
        i = internal::SkipQuoted(sql, j, backslash_escapes || c == 'e' || c == 'E');
        out.push_back('?');
        continue;
      }
      out.append(sql.substr(i, j - i));
      i = j;
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

// Copies `s`, replacing each byte that is not part of a valid UTF-8 sequence (including a
// sequence cut at the end) with '?', so that what reaches protobuf string fields is valid.
inline std::string Utf8Safe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t min = 0;
    if (b < 0x80) {
      len = 1;
    } else if ((b & 0xe0) == 0xc0) {
      len = 2, min = 0x80;
    } else if ((b & 0xf0) == 0xe0) {
      len = 3, min = 0x800;
    } else if ((b & 0xf8) == 0xf0) {
      len = 4, min = 0x10000;
    }
    bool ok = len > 0 && i + len <= s.size();
    uint32_t cp = len == 1 ? b : (b & (0xff >> (len + 1)));
    for (size_t k = 1; ok && k < len; ++k) {
      const auto cb = static_cast<unsigned char>(s[i + k]);
      if ((cb & 0xc0) != 0x80) ok = false;
      cp = (cp << 6) | (cb & 0x3f);
    }
    if (ok && len > 1 && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) ok = false;
    if (ok && len == 1 && b < 0x20 && b != '\t' && b != '\n' && b != '\r') ok = false;
    if (!ok) {
      out.push_back('?');
      ++i;
      continue;
    }
    out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

// Offers every `key: value` / `key=value` pair found in the comments of `sql` to `collector`
// (DeepFlow reads trace ids from SQL comments; sqlcommenter writes `/*traceparent='...'*/`).
// Values may be single-quoted. At most 32 pairs are offered.
inline void OfferCommentPairs(std::string_view sql, TraceHeaderCollector* collector) {
  int offered = 0;
  size_t i = 0;
  while (i < sql.size() && offered < 32) {
    std::string_view body;
    if (sql[i] == '\'' || sql[i] == '"') {
      i = internal::SkipQuoted(sql, i, true);
      continue;
    }
    if (sql[i] == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      size_t end = sql.find("*/", i + 2);
      body =
          sql.substr(i + 2, end == std::string_view::npos ? std::string_view::npos : end - i - 2);
      i = end == std::string_view::npos ? sql.size() : end + 2;
    } else if ((sql[i] == '-' && i + 1 < sql.size() && sql[i + 1] == '-') || sql[i] == '#') {
      size_t end = sql.find('\n', i);
      body = sql.substr(i + (sql[i] == '#' ? 1 : 2), end == std::string_view::npos
                                                         ? std::string_view::npos
                                                         : end - i - (sql[i] == '#' ? 1 : 2));
      i = end == std::string_view::npos ? sql.size() : end + 1;
    } else {
      ++i;
      continue;
    }
    // key [ws] (':' | '=') [ws] value, pairs separated by spaces, commas or semicolons.
    size_t p = 0;
    while (p < body.size() && offered < 32) {
      while (p < body.size() && !(IsAlpha(body[p]) || body[p] == '_' || body[p] == '-')) ++p;
      size_t ks = p;
      while (p < body.size() && (IsAlpha(body[p]) || IsDigit(body[p]) || body[p] == '_' ||
                                 body[p] == '-' || body[p] == '.')) {
        ++p;
      }
      std::string_view key = body.substr(ks, p - ks);
      while (p < body.size() && (body[p] == ' ' || body[p] == '\t')) ++p;
      if (key.empty() || p >= body.size() || (body[p] != ':' && body[p] != '=')) continue;
      ++p;
      while (p < body.size() && (body[p] == ' ' || body[p] == '\t')) ++p;
      std::string_view value;
      if (p < body.size() && (body[p] == '\'' || body[p] == '"')) {
        const char q = body[p];
        size_t end = body.find(q, p + 1);
        if (end == std::string_view::npos) end = body.size();
        value = body.substr(p + 1, end - p - 1);
        p = end + 1;
      } else {
        size_t vs = p;
        while (p < body.size() && !IsSpace(body[p]) && body[p] != ',' && body[p] != ';') ++p;
        value = body.substr(vs, p - vs);
      }
      if (!value.empty()) {
        collector->Offer(key, value);
        ++offered;
      }
    }
  }
}

}  // namespace flowscope::agent::l7::sql
