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
