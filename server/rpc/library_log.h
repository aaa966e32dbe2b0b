// What libraries log, in the server's log, bounded.
//
// Protocol Buffers' library logs an ERROR line of its own for each request
// that does not parse (a string field that is not UTF-8, for one): a client
// could fill the log by sending such requests. Once RouteProtobufLogs is
// called, the library's lines become the server's own JSON lines (event
// "protobuf_log"), at most one per interval; the next one written says how
// many were left out meanwhile. Lines from a thread that holds a
// ProtobufLogCapture are kept by it instead: the request parser reports
// them itself, bounded per client (request_parse.h).
#ifndef MFWQ_SERVER_RPC_LIBRARY_LOG_H_
#define MFWQ_SERVER_RPC_LIBRARY_LOG_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <map>
#include <optional>
#include <string>
#include <string_view>

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

// At most one admission per interval for each key (a client's name, say).
// Keys are forgotten once their interval has passed with nothing refused;
// past `max_keys` remembered, new keys share one limit. Thread-safe.
class KeyedLogRateLimit {
 public:
  using Clock = LogRateLimit::Clock;
  KeyedLogRateLimit(Clock::duration interval, std::size_t max_keys,
                    std::function<Clock::time_point()> now);

  // As LogRateLimit::Admit, for `key`.
  std::optional<std::uint64_t> Admit(std::string_view key);

  // Keys remembered (the shared one included, once used).
  std::size_t size() const;

 private:
  struct Entry {
    Clock::time_point last;
    std::uint64_t refused = 0;
  };
  const Clock::duration interval_;
  const std::size_t max_keys_;
  const std::function<Clock::time_point()> now_;
  mutable Mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_ MFWQ_GUARDED_BY(mu_);
  std::optional<Entry> shared_ MFWQ_GUARDED_BY(mu_);  // for keys past max_keys_
};

// While one is alive on a thread, Protocol Buffers' lines from that thread
// are kept here (the first of them) instead of being logged. Nests.
class ProtobufLogCapture {
 public:
  ProtobufLogCapture();
  ~ProtobufLogCapture();
  ProtobufLogCapture(const ProtobufLogCapture&) = delete;
  ProtobufLogCapture& operator=(const ProtobufLogCapture&) = delete;

  // The first line captured; empty if none.
  const std::string& first() const { return first_; }

 private:
  friend void KeepProtobufLine(ProtobufLogCapture&, const std::string&);
  std::string first_;
  ProtobufLogCapture* const outer_;
};

// How often a library's lines may reach the log.
inline constexpr std::chrono::seconds kLibraryLogInterval{10};

// Sends Protocol Buffers' log lines to the server's log through one
// LogRateLimit of kLibraryLogInterval. Idempotent.
void RouteProtobufLogs();

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_RPC_LIBRARY_LOG_H_
