// Structured logs: one JSON object per line on standard error (or a file),
// with a
// timestamp, a level, an event name and fields ("op": the operation id,
// "client", "queue", ...), for log collectors to index.
//
//   LogLine("info", "operation_completed").Field("op", id).Field("status", name);
//
// The line is written, whole, when the LogLine goes out of scope.
#ifndef MFWQ_SERVER_RPC_LOG_H_
#define MFWQ_SERVER_RPC_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace mfwq::server {

class LogLine {
 public:
  LogLine(std::string_view level, std::string_view event);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  LogLine& Field(std::string_view key, std::string_view value);
  LogLine& Field(std::string_view key, const char* value) { return Field(key, std::string_view(value)); }
  LogLine& Field(std::string_view key, std::int64_t value);
  LogLine& Field(std::string_view key, std::uint64_t value);
  LogLine& Field(std::string_view key, int value) { return Field(key, std::int64_t{value}); }
  LogLine& Field(std::string_view key, unsigned value) { return Field(key, std::uint64_t{value}); }
  LogLine& Field(std::string_view key, bool value);

  // Lines below this level are dropped: "debug", "info" (default), "warn", "error".
  static bool SetLevel(std::string_view level);
  // Whether a line at `level` would be written (to skip building its fields).
  static bool Enabled(std::string_view level);
  // Lines go to the end of the file at `path` (created if missing, shared
  // for reading) from now on, instead of standard error. An error names the
  // file and says why; lines then go on to where they went.
  static bool SetFile(const std::string& path, std::string* error);

 private:
  void Key(std::string_view key);
  std::string line_;
  bool enabled_;
};

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_RPC_LOG_H_
