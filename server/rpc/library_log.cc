#include "library_log.h"

#include <string>
#include <utility>

#include <google/protobuf/stubs/logging.h>

#include "client_text.h"
#include "log.h"

namespace mfwq::server {

LogRateLimit::LogRateLimit(Clock::duration interval, std::function<Clock::time_point()> now)
    : interval_(interval), now_(std::move(now)) {}

std::optional<std::uint64_t> LogRateLimit::Admit() {
  const Clock::time_point now = now_();
  MutexLock lock(mu_);
  if (last_ && now - *last_ < interval_) {
    ++refused_;
    return std::nullopt;
  }
  last_ = now;
  return std::exchange(refused_, 0);
}

namespace {

LogRateLimit& ProtobufLimit() {
  static LogRateLimit limit(kLibraryLogInterval, [] { return LogRateLimit::Clock::now(); });
  return limit;
}

void ProtobufLogHandler(google::protobuf::LogLevel level, const char* filename, int line,
                        const std::string& message) {
  const char* ours = level >= google::protobuf::LOGLEVEL_ERROR     ? "error"
                     : level == google::protobuf::LOGLEVEL_WARNING ? "warn"
                                                                   : "info";
  if (!LogLine::Enabled(ours)) return;
  const std::optional<std::uint64_t> left_out = ProtobufLimit().Admit();
  if (!left_out) return;
  LogLine(ours, "protobuf_log")
      .Field("message", BoundedMessage(message))
      .Field("source", std::string(filename != nullptr ? filename : "") + ":" +
                           std::to_string(line))
      .Field("left_out", *left_out);
}

}  // namespace

void RouteProtobufLogs() { google::protobuf::SetLogHandler(&ProtobufLogHandler); }

}  // namespace mfwq::server
