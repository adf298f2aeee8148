// Small text helpers on std::string_view for parsers. (Debian's abseil is built with its own
// absl::string_view, distinct from std::string_view, so absl's string functions do not accept
// std::string_view here; these do, and never allocate unless they return a std::string.)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flowscope::agent::l7 {

inline bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
inline char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
inline bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

inline std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ToLowerAscii(c);
  return out;
}

inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLowerAscii(a[i]) != ToLowerAscii(b[i])) return false;
  }
  return true;
}

inline bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

inline bool IsHex(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsHexDigit(c)) return false;
  }
  return true;
}

// Splits on `sep`; at most `max_parts` parts (the last one keeps the rest).
inline std::vector<std::string_view> Split(std::string_view s, char sep, size_t max_parts = 64) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    size_t at = s.find(sep);
    if (at == std::string_view::npos) break;
    parts.push_back(s.substr(0, at));
    s.remove_prefix(at + 1);
  }
  parts.push_back(s);
  return parts;
}

// UTF-8 (RFC 3629) of wire bytes that go into row strings, so that what the agent sends
// (protobuf strings, JSON) stays valid. Ill-formed: bytes that cannot start a sequence, overlong
// forms, surrogates (U+D800..U+DFFF), code points above U+10FFFF and sequences cut short.
//
// The length of the well-formed sequence at s[i] (1 to 4); 0 when it is ill-formed, and then
// *subpart is the length of its maximal subpart (Unicode §3.9, "U+FFFD Substitution of Maximal
// Subparts"): the bytes one U+FFFD replaces.
inline size_t Utf8SequenceAt(std::string_view s, size_t i, size_t* subpart) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const unsigned char c = p[i];
  if (c < 0x80) return 1;
  size_t need = 0;                     // continuation bytes
  unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the first continuation byte
  if (c >= 0xc2 && c <= 0xdf) {
    need = 1;
  } else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    if (c == 0xe0) lo = 0xa0;  // overlong
    if (c == 0xed) hi = 0x9f;  // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if (c == 0xf0) lo = 0x90;  // overlong
    if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
  }
  size_t j = i + 1;
  for (size_t k = 0; k < need; ++k, ++j) {
    const unsigned char min = k == 0 ? lo : 0x80, max = k == 0 ? hi : 0xbf;
    if (j >= s.size() || p[j] < min || p[j] > max) {
      *subpart = j - i;
      return 0;
    }
  }
  if (need == 0) {
    *subpart = 1;
    return 0;
  }
  return j - i;
}

inline bool IsValidUtf8(std::string_view s) {
  size_t i = 0, bad = 0;
  while (i < s.size()) {
    const size_t n = Utf8SequenceAt(s, i, &bad);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// Appends `s` with each maximal subpart of an ill-formed sequence replaced by U+FFFD (as Rust's
// String::from_utf8_lossy, which DeepFlow uses).
inline void AppendUtf8Lossy(std::string* out, std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // Well-formed runs in one append.
    size_t end = i, bad = 0, n = 0;
    while (end < s.size() && (n = Utf8SequenceAt(s, end, &bad)) != 0) end += n;
    out->append(s.data() + i, end - i);
    if (end == s.size()) break;
    out->append("\xEF\xBF\xBD");
    i = end + bad;
  }
}

inline std::string Utf8Lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  AppendUtf8Lossy(&out, s);
  return out;
}

// Standard base64 (RFC 4648 §4), padding optional; false on any other character.
inline bool Base64Decode(std::string_view in, std::string* out) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

}  // namespace flowscope::agent::l7
