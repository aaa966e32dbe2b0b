// The path rules of path_rules.h: Windows' as text (checked on every
// system), and CheckPath by the rules of the system the test runs on.
#include "path_rules.h"

#include <string>

#include <gtest/gtest.h>

namespace mfwq::server {
namespace {

// The reason WindowsPathProblem gives, which must mention `expected`.
void ExpectRefused(const std::string& path, bool full, const std::string& expected) {
  const std::string problem = WindowsPathProblem(path, full);
  EXPECT_NE(problem.find(expected), std::string::npos)
      << "path " << path << ": expected a reason with \"" << expected << "\", got \"" << problem
      << "\"";
}

TEST(WindowsPathRules, FullPathsWithADriveOrAShareAreAccepted) {
  for (const char* path : {"C:\\mfwq\\data", "c:/mfwq/data", "Z:\\tmp\\x", "C:\\", "D:/",
                           "\\\\server\\share", "\\\\server\\share\\media\\in.wav",
                           "//server/share/x", "C:\\a\\..\\b", "C:\\Program Files\\mfwq\\a.b.c"}) {
    EXPECT_EQ(WindowsPathProblem(path, true), "") << path;
    EXPECT_EQ(WindowsPathProblem(path, false), "") << path;
  }
}

TEST(WindowsPathRules, RelativePathsAreAcceptedOnlyWhereAllowed) {
  for (const char* path : {"in.wav", "media\\in.wav", "a/b/c.txt", "..\\x", "./x"}) {
    EXPECT_EQ(WindowsPathProblem(path, false), "") << path;
    ExpectRefused(path, true, "is not a full path");
  }
}

TEST(WindowsPathRules, PathsWhoseMeaningDependsOnTheCurrentDriveAreRefused) {
  for (bool full : {true, false}) {
    ExpectRefused("/tmp/x", full, "has no drive");
    ExpectRefused("\\mfwq\\data", full, "has no drive");
    ExpectRefused("C:foo", full, "relative to the current folder of drive C:");
    ExpectRefused("C:", full, "relative to the current folder of drive C:");
  }
}

TEST(WindowsPathRules, DeviceAndVerbatimPathsAreRefused) {
  for (const char* path : {"\\\\?\\C:\\root\\..\\x", "\\\\.\\C:", "\\\\.\\pipe\\x", "//?/C:/x",
                           "\\\\?\\UNC\\server\\share"}) {
    ExpectRefused(path, false, "device or verbatim path");
  }
  ExpectRefused("\\\\server", true, "not a full UNC path");
  ExpectRefused("\\\\server\\", true, "not a full UNC path");
}

TEST(WindowsPathRules, AlternateDataStreamsAreRefused) {
  ExpectRefused("C:\\root\\file::$DATA", true, "\"file::$DATA\" names an alternate data stream");
  ExpectRefused("file:stream", false, "names an alternate data stream");
  ExpectRefused("C:\\root\\folder:$I30:$INDEX_ALLOCATION\\x", true, "alternate data stream");
}

TEST(WindowsPathRules, ReservedDeviceNamesAreRefusedInAnyFolderCaseAndExtension) {
  for (const char* path : {"CON", "C:\\root\\nul", "C:\\root\\NUL.txt", "a\\Aux.tar.gz",
                           "prn", "com1", "LPT9.log", "COM\xC2\xB9", "CONIN$", "conout$",
                           "C:\\root\\con .txt"}) {
    ExpectRefused(path, false, "is a reserved device name");
  }
  for (const char* path : {"console", "nullable.txt", "com10", "lpt", "auxiliary\\x", "COMX"}) {
    EXPECT_EQ(WindowsPathProblem(path, false), "") << path;
  }
}

TEST(WindowsPathRules, TrailingDotsAndSpacesAndReservedCharactersAreRefused) {
  ExpectRefused("C:\\root\\.. \\outside", true, "ends in a dot or a space");
  ExpectRefused("C:\\root\\x.", true, "\"x.\" ends in a dot or a space");
  ExpectRefused("x \\y", false, "ends in a dot or a space");
  ExpectRefused("a\\b?.txt", false, "contains the character ?");
  ExpectRefused("a*", false, "contains the character *");
  ExpectRefused("a|b", false, "contains the character |");
  ExpectRefused("a<b>", false, "contains the character <");
  ExpectRefused("a\"b", false, "contains the character \"");
  ExpectRefused(std::string("a\x01", 2), false, "contains a control character");
  ExpectRefused("", false, "empty");
}

TEST(CheckPath, NamesTheFieldAndFollowsThisSystemsRules) {
  Status s = CheckPath("file_root", "relative/folder", true);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().rfind("file_root: ", 0), 0u) << s.message();
  EXPECT_NE(s.message().find("is not a full path"), std::string::npos) << s.message();
  EXPECT_TRUE(CheckPath("data_dir", "var/mfwq", false).ok());
  EXPECT_EQ(CheckPath("data_dir", "", false).message(), "data_dir: empty");
  EXPECT_EQ(CheckPath("data_dir", std::string("a\0b", 3), false).message(),
            "data_dir: contains a NUL character");
#if defined(_WIN32)
  EXPECT_TRUE(CheckPath("file_root", "C:\\media", true).ok());
  EXPECT_TRUE(CheckPath("file_root", "C:/media", true).ok());
  s = CheckPath("file_root", "/tmp/x", true);
  EXPECT_NE(s.message().find("has no drive"), std::string::npos) << s.message();
  s = CheckPath("data_dir", "/tmp/x", false);
  EXPECT_NE(s.message().find("has no drive"), std::string::npos) << s.message();
  EXPECT_FALSE(CheckPath("file_root", "C:\\media\\NUL", true).ok());
#else
  EXPECT_TRUE(CheckPath("file_root", "/tmp/x", true).ok());
  EXPECT_TRUE(CheckPath("file_root", "/srv/CON", true).ok());  // a name like any other here
  s = CheckPath("exec_allow", "C:\\bin\\x.exe", true);
  EXPECT_NE(s.message().find("one starting with /"), std::string::npos) << s.message();
#endif
}

}  // namespace
}  // namespace mfwq::server
