// Library log lines reach the server's log bounded: at most one per interval.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>

#include "library_log.h"
#include "log.h"
#include "mfwq/v1/mfwq.pb.h"

namespace mfwq::server {
namespace {

TEST(LogRateLimit, AdmitsOnePerIntervalAndCountsTheRest) {
  LogRateLimit::Clock::time_point now{};
  LogRateLimit limit(std::chrono::seconds(10), [&] { return now; });
  EXPECT_EQ(limit.Admit(), std::optional<std::uint64_t>(0));
  for (int i = 0; i < 1000; ++i) {
    now += std::chrono::milliseconds(1);
    EXPECT_FALSE(limit.Admit().has_value());
  }
  now += std::chrono::seconds(9);  // 10.000 s after the first
  EXPECT_EQ(limit.Admit(), std::optional<std::uint64_t>(1000));
  EXPECT_FALSE(limit.Admit().has_value());
  now += std::chrono::seconds(10);
  EXPECT_EQ(limit.Admit(), std::optional<std::uint64_t>(1));
}

// `prefix` and `n`, appended (GCC 12 at -O3 warns, wrongly, of
// "k" + std::to_string(n)).
std::string Key(const char* prefix, int n) {
  std::string key = prefix;
  key += std::to_string(n);
  return key;
}

TEST(KeyedLogRateLimit, AdmitsOnePerIntervalForEachKey) {
  KeyedLogRateLimit::Clock::time_point now{};
  KeyedLogRateLimit limit(std::chrono::seconds(10), 8, [&] { return now; });
  EXPECT_EQ(limit.Admit("a"), std::optional<std::uint64_t>(0));
  EXPECT_EQ(limit.Admit("b"), std::optional<std::uint64_t>(0));
  for (int i = 0; i < 5; ++i) {
    now += std::chrono::milliseconds(1);
    EXPECT_FALSE(limit.Admit("a").has_value());
  }
  EXPECT_FALSE(limit.Admit("b").has_value());
  now += std::chrono::seconds(10);
  EXPECT_EQ(limit.Admit("a"), std::optional<std::uint64_t>(5));
  EXPECT_EQ(limit.Admit("b"), std::optional<std::uint64_t>(1));
}

// However many keys come, it remembers at most max_keys of them (and the
// shared one): keys past that share one limit; idle keys are forgotten.
TEST(KeyedLogRateLimit, RemembersAtMostMaxKeys) {
  KeyedLogRateLimit::Clock::time_point now{};
  KeyedLogRateLimit limit(std::chrono::seconds(10), 4, [&] { return now; });
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(limit.Admit(Key("k", i)).has_value());
  // Full: the next keys share one limit.
  EXPECT_EQ(limit.Admit("x0"), std::optional<std::uint64_t>(0));
  for (int i = 1; i < 1000; ++i) EXPECT_FALSE(limit.Admit(Key("x", i)).has_value());
  EXPECT_EQ(limit.size(), 5u);
  // An interval later the idle keys are forgotten, and new ones have their own.
  now += std::chrono::seconds(10);
  EXPECT_EQ(limit.Admit("y"), std::optional<std::uint64_t>(0));
  EXPECT_FALSE(limit.Admit("y").has_value());
  EXPECT_LE(limit.size(), 5u);
  EXPECT_EQ(limit.Admit("x5"), std::optional<std::uint64_t>(0));
}

// Requests that do not parse (here: a string field that is not UTF-8) make
// Protocol Buffers log a line each; routed, they make at most one line per
// interval of the server's log.
TEST(LibraryLog, ProtobufLinesAreRateLimited) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("mfwq-library-log-" + std::to_string(::getpid()) + "-" +
       std::to_string(std::chrono::system_clock::now().time_since_epoch().count()));
  std::string error;
  ASSERT_TRUE(LogLine::SetFile(path.string(), &error)) << error;
  RouteProtobufLogs();
  const auto start = std::chrono::steady_clock::now();
  const std::string bad("\x0a\x02\xff\xfe", 4);  // SetEventRequest.name = 0xFF 0xFE
  constexpr int kParses = 500;
  for (int i = 0; i < kParses; ++i) {
    v1::SetEventRequest request;
    EXPECT_FALSE(request.ParseFromString(bad));
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  std::ifstream in(path);
  int lines = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("\"protobuf_log\"") != std::string::npos) {
      ++lines;
      EXPECT_NE(line.find("invalid UTF-8"), std::string::npos) << line;
    }
  }
  EXPECT_GE(lines, 1);
  EXPECT_LE(lines, 1 + elapsed / kLibraryLogInterval);
  // (On Windows the log still holds it open: left in the temporary folder.)
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
}

}  // namespace
}  // namespace mfwq::server
