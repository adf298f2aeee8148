#include "agent/l7/text.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace flowscope::agent::l7 {
namespace {

using namespace std::string_literals;

const std::string kR = "\xEF\xBF\xBD";  // U+FFFD

// Strictly well-formed UTF-8 (RFC 3629 §4), checked independently of the code under test.
bool WellFormed(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t len;
    if (c < 0x80) {
      cp = c, len = 1;
    } else if ((c & 0xe0) == 0xc0) {
      cp = c & 0x1f, len = 2;
    } else if ((c & 0xf0) == 0xe0) {
      cp = c & 0x0f, len = 3;
    } else if ((c & 0xf8) == 0xf0) {
      cp = c & 0x07, len = 4;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3f);
    }
    const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

TEST(Utf8Lossy, ValidTextIsUnchanged) {
  for (const std::string& s : {""s, "GET /index.html"s, "caf\xC3\xA9"s, "\xE2\x82\xAC 5"s,
                               "\xF0\x9F\x98\x80"s, "\xED\x9F\xBF"s /* U+D7FF */,
                               "\xEE\x80\x80"s /* U+E000 */, "\xF4\x8F\xBF\xBF"s /* U+10FFFF */,
                               "\xC2\x80"s, "\xE0\xA0\x80"s, "\xF0\x90\x80\x80"s, "a\0b"s}) {
    EXPECT_EQ(Utf8Lossy(s), s);
    EXPECT_TRUE(IsValidUtf8(s)) << testing::PrintToString(s);
  }
}

TEST(Utf8Lossy, MaximalSubpartsBecomeOneReplacementEach) {
  struct Case {
    std::string in, want;
  };
  const Case cases[] = {
      // Bytes that never start a sequence.
      {"a\x80z", "a" + kR + "z"},
      {"\xBF\xFE\xFF", kR + kR + kR},
      // Overlong forms: C0/C1 never valid; E0 80.. and F0 80.. fail at the second byte.
      {"\xC0\xAF", kR + kR},
      {"\xC1\xBF", kR + kR},
      {"\xE0\x80\xAF", kR + kR + kR},
      {"\xF0\x80\x80\xAF", kR + kR + kR + kR},
      // Surrogates (ED A0..BF ..) and code points above U+10FFFF.
      {"\xED\xA0\x80", kR + kR + kR},
      {"\xED\xBF\xBF", kR + kR + kR},
      {"\xF4\x90\x80\x80", kR + kR + kR + kR},
      {"\xF5\x80\x80\x80", kR + kR + kR + kR},
      // A sequence interrupted by a byte that is not a continuation: one U+FFFD for the
      // well-formed prefix, then the byte itself.
      {"\xE2\x82z", kR + "z"},
      {"\xF0\x9F\x98z", kR + "z"},
      {"\xC3\xC3\xA9", kR + "\xC3\xA9"},
      // Cut at the end (a bounded copy of wire bytes).
      {"caf\xC3", "caf" + kR},
      {"\xE2\x82", kR},
      {"ok\xF0\x9F\x98", "ok" + kR},
      {"\xF0", kR},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Utf8Lossy(c.in), c.want) << testing::PrintToString(c.in);
    EXPECT_FALSE(IsValidUtf8(c.in)) << testing::PrintToString(c.in);
  }
}

TEST(Utf8Lossy, AppendsAfterWhatIsThere) {
  std::string out = "x=";
  AppendUtf8Lossy(&out, "\xC3\xA9\xFF");
  EXPECT_EQ(out, "x=\xC3\xA9" + kR);
}

TEST(Utf8Lossy, AnyInputComesOutWellFormed) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 24, '\0');
    // Mostly bytes near the UTF-8 boundaries, where the mistakes are.
    for (char& c : s) c = static_cast<char>(rng() % 3 == 0 ? rng() : 0x7f + rng() % 0x78);
    const std::string out = Utf8Lossy(s);
    ASSERT_TRUE(WellFormed(out)) << testing::PrintToString(s);
    EXPECT_EQ(IsValidUtf8(s), WellFormed(s)) << testing::PrintToString(s);
    if (WellFormed(s)) {
      EXPECT_EQ(out, s);
    }
  }
}

}  // namespace
}  // namespace flowscope::agent::l7
