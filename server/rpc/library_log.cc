#include "library_log.h"

#include <iterator>
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

KeyedLogRateLimit::KeyedLogRateLimit(Clock::duration interval, std::size_t max_keys,
                                     std::function<Clock::time_point()> now)
    : interval_(interval), max_keys_(max_keys), now_(std::move(now)) {}

std::optional<std::uint64_t> KeyedLogRateLimit::Admit(std::string_view key) {
  const Clock::time_point now = now_();
  MutexLock lock(mu_);
  const auto admit = [&](Entry& entry) -> std::optional<std::uint64_t> {
    if (now - entry.last < interval_) {
      ++entry.refused;
      return std::nullopt;
    }
    entry.last = now;
    return std::exchange(entry.refused, 0);
  };
  if (auto it = entries_.find(key); it != entries_.end()) return admit(it->second);
  if (entries_.size() >= max_keys_) {
    // Forget the keys a new line would be admitted for with nothing to
    // report: they behave as new ones.
    for (auto it = entries_.begin(); it != entries_.end();) {
      const bool idle = now - it->second.last >= interval_ && it->second.refused == 0;
      it = idle ? entries_.erase(it) : std::next(it);
    }
  }
  if (entries_.size() >= max_keys_) {
    if (!shared_) {
      shared_ = Entry{now, 0};
      return 0;
    }
    return admit(*shared_);
  }
  entries_.emplace(std::string(key), Entry{now, 0});
  return 0;
}

std::size_t KeyedLogRateLimit::size() const {
  MutexLock lock(mu_);
  return entries_.size() + (shared_ ? 1 : 0);
}

namespace {

thread_local ProtobufLogCapture* capturing = nullptr;

}  // namespace

ProtobufLogCapture::ProtobufLogCapture() : outer_(capturing) { capturing = this; }

ProtobufLogCapture::~ProtobufLogCapture() { capturing = outer_; }

void KeepProtobufLine(ProtobufLogCapture& capture, const std::string& line) {
  if (capture.first_.empty()) capture.first_ = BoundedMessage(line);
}

namespace {

LogRateLimit& ProtobufLimit() {
  static LogRateLimit limit(kLibraryLogInterval, [] { return LogRateLimit::Clock::now(); });
  return limit;
}

void ProtobufLogHandler(google::protobuf::LogLevel level, const char* filename, int line,
                        const std::string& message) {
  if (capturing != nullptr) {
    KeepProtobufLine(*capturing, message);
    return;
  }
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
