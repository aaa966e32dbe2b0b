#include "log.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#ifdef _WIN32
#include <share.h>

#include "os_error.h"
#endif

namespace mfwq::server {
namespace {

std::atomic<int> g_level{1};
// Where lines go: standard error until SetFile. Never closed (lines may be
// written until the process ends).
std::atomic<std::FILE*> g_out{nullptr};

int LevelOf(std::string_view level) {
  if (level == "debug") return 0;
  if (level == "info") return 1;
  if (level == "warn") return 2;
  if (level == "error") return 3;
  return -1;
}

void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char esc[8];
          std::snprintf(esc, sizeof esc, "\\u%04x", c);
          out += esc;
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

}  // namespace

bool LogLine::SetLevel(std::string_view level) {
  const int l = LevelOf(level);
  if (l < 0) return false;
  g_level = l;
  return true;
}

bool LogLine::Enabled(std::string_view level) { return LevelOf(level) >= g_level.load(); }

bool LogLine::SetFile(const std::string& path, std::string* error) {
  // Not inherited by the programs exec starts ("N", "e": O_CLOEXEC).
#ifdef _WIN32
  // Shared for reading and writing while the server writes it.
  std::FILE* file = _wfsopen(Widen(path).c_str(), L"abN", _SH_DENYNO);
#else
  std::FILE* file = std::fopen(path.c_str(), "abe");
#endif
  if (file == nullptr) {
    *error = "log_file " + path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  std::setvbuf(file, nullptr, _IONBF, 0);  // each line written whole, at once
  g_out = file;
  return true;
}

LogLine::LogLine(std::string_view level, std::string_view event) : enabled_(Enabled(level)) {
  if (!enabled_) return;
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1000000;
  std::tm tm{};
#ifdef _WIN32
  gmtime_s(&tm, &secs);
#else
  gmtime_r(&secs, &tm);
#endif
  char ts[96];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(micros));
  line_ = "{\"ts\":\"";
  line_ += ts;
  line_ += "\",\"level\":";
  AppendJsonString(line_, level);
  line_ += ",\"event\":";
  AppendJsonString(line_, event);
}

LogLine::~LogLine() {
  if (!enabled_) return;
  line_ += "}\n";
  std::FILE* out = g_out.load();
  std::fwrite(line_.data(), 1, line_.size(), out != nullptr ? out : stderr);
}

void LogLine::Key(std::string_view key) {
  line_.push_back(',');
  AppendJsonString(line_, key);
  line_.push_back(':');
}

LogLine& LogLine::Field(std::string_view key, std::string_view value) {
  if (!enabled_) return *this;
  Key(key);
  AppendJsonString(line_, value);
  return *this;
}

LogLine& LogLine::Field(std::string_view key, std::int64_t value) {
  if (!enabled_) return *this;
  Key(key);
  line_ += std::to_string(value);
  return *this;
}

LogLine& LogLine::Field(std::string_view key, std::uint64_t value) {
  if (!enabled_) return *this;
  Key(key);
  line_ += std::to_string(value);
  return *this;
}

LogLine& LogLine::Field(std::string_view key, bool value) {
  if (!enabled_) return *this;
  Key(key);
  line_ += value ? "true" : "false";
  return *this;
}

}  // namespace mfwq::server
