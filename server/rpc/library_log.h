// What libraries log, in the server's log, bounded.
//
// Protocol Buffers' library logs an ERROR line of its own for each request
// that does not parse (a string field that is not UTF-8, for one): a client
// could fill the log by sending such requests. Once RouteProtobufLogs is
// called, the library's lines become the server's own JSON lines (event
// "protobuf_log"), at most one per interval; the next one written says how
// many were left out meanwhile.
#ifndef MFWQ_SERVER_RPC_LIBRARY_LOG_H_
#define MFWQ_SERVER_RPC_LIBRARY_LOG_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>

#include <mfwq/thread_annotations.h>

namespace mfwq::server {

// At most one admission per interval. Thread-safe.
class LogRateLimit {
 public:
  using Clock = std::chrono::steady_clock;
  LogRateLimit(Clock::duration interval, std::function<Clock::time_point()> now);

  // How many were refused since the last admission, if this one is
  // admitted; nothing if it is not (it is counted instead).
  std::optional<std::uint64_t> Admit();

 private:
  const Clock::duration interval_;
  const std::function<Clock::time_point()> now_;
  Mutex mu_;
  std::optional<Clock::time_point> last_ MFWQ_GUARDED_BY(mu_);
  std::uint64_t refused_ MFWQ_GUARDED_BY(mu_) = 0;
};

// How often a library's lines may reach the log.
inline constexpr std::chrono::seconds kLibraryLogInterval{10};

// Sends Protocol Buffers' log lines to the server's log through one
// LogRateLimit of kLibraryLogInterval. Idempotent.
void RouteProtobufLogs();

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_RPC_LIBRARY_LOG_H_
