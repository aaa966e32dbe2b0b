// Client text in messages: quoted and cut, escaped, and every message bounded.
#include <string>

#include <gtest/gtest.h>

#include "client_text.h"

namespace mfwq::server {
namespace {

TEST(ClientText, ShortPlainStringsAreQuotedWhole) {
  EXPECT_EQ(Quoted("encode-42"), "\"encode-42\"");
  EXPECT_EQ(Quoted(""), "\"\"");
  EXPECT_EQ(Quoted("C:\\media\\in.mp4"), "\"C:\\media\\in.mp4\"");  // backslashes as they are
  EXPECT_EQ(Quoted("caf\xC3\xA9"), "\"caf\xC3\xA9\"");
}

TEST(ClientText, LongStringsAreCutWithTheirLength) {
  const std::string shown = Quoted(std::string(9000, 'a'));
  EXPECT_EQ(shown, "\"" + std::string(kQuotedBytes, 'a') + "\xE2\x80\xA6\" (9000 bytes)");
  // Cut at a character, never inside one: 63 'a's, then a 2-byte é that
  // would end at byte 65.
  const std::string text = std::string(63, 'a') + "\xC3\xA9" + std::string(100, 'b');
  EXPECT_EQ(Quoted(text), "\"" + std::string(63, 'a') + "\xE2\x80\xA6\" (165 bytes)");
}

TEST(ClientText, PathsKeepMore) {
  const std::string path = "C:\\users\\root\\Temp\\" + std::string(100, 'd') + "\\secret.txt";
  EXPECT_EQ(Quoted(path, kQuotedPathBytes), "\"" + path + "\"");
  EXPECT_NE(Quoted(path).find("bytes)"), std::string::npos);
}

TEST(ClientText, QuotesControlsAndBytesThatAreNotUtf8AreEscaped) {
  EXPECT_EQ(Quoted("a\"b"), "\"a\\\"b\"");
  EXPECT_EQ(Quoted("a\nb\x01"), "\"a\\x0Ab\\x01\"");
  EXPECT_EQ(Quoted("\xFF\xC3"), "\"\\xFF\\xC3\"");      // a stray byte, a cut character
  EXPECT_EQ(Quoted("\xC0\xAF"), "\"\\xC0\\xAF\"");      // an overlong '/'
  EXPECT_EQ(Quoted("\xED\xA0\x80"), "\"\\xED\\xA0\\x80\"");  // a surrogate
  EXPECT_TRUE(IsUtf8("caf\xC3\xA9 \xF0\x9F\x8E\xAC"));
  EXPECT_FALSE(IsUtf8("\xC0\xAF"));
  EXPECT_FALSE(IsUtf8("\xF4\x90\x80\x80"));  // past U+10FFFF
}

TEST(ClientText, FieldKeysStayAsTheyAreWhenShortAndPlain) {
  EXPECT_EQ(FieldKey("duration"), "duration");
  EXPECT_EQ(FieldKey("a.b-c_d"), "a.b-c_d");
  EXPECT_EQ(FieldKey("has space"), "\"has space\"");
  EXPECT_EQ(FieldKey(""), "\"\"");
  EXPECT_EQ(FieldKey(std::string(100, 'k')).size(), Quoted(std::string(100, 'k')).size());
}

TEST(ClientText, EveryMessageIsBounded) {
  EXPECT_EQ(BoundedMessage("name: no event \"x\""), "name: no event \"x\"");
  EXPECT_EQ(BoundedMessage("two\nlines\tand a tab"), "two\nlines\tand a tab");
  const std::string cut = BoundedMessage(std::string(100000, 'm'));
  EXPECT_LE(cut.size(), kMaxMessageBytes);
  EXPECT_EQ(cut.substr(cut.size() - 3), "\xE2\x80\xA6");
  // Escapes count towards the bound too.
  const std::string escaped = BoundedMessage(std::string(5000, '\xFF'));
  EXPECT_LE(escaped.size(), kMaxMessageBytes);
  EXPECT_TRUE(IsUtf8(escaped));
  EXPECT_EQ(BoundedMessage("bad \xFF byte"), "bad \\xFF byte");
}

}  // namespace
}  // namespace mfwq::server
