// The records the operation table keeps and hands out: what a client
// submits, what it sees of an operation, and how an operation completed or
// progresses. Plain values, shared by the table, its listeners and the
// journal.
#ifndef MFWQ_SERVER_CORE_OPERATION_RECORDS_H_
#define MFWQ_SERVER_CORE_OPERATION_RECORDS_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <mfwq/mfapi.h>

#include "operation_number.h"
#include "value.h"

namespace mfwq::server {

using Clock = std::chrono::system_clock;

struct SubmitSpec {
  std::string client;
  std::string request_id;  // empty: no deduplication
  DWORD queue = MFASYNC_CALLBACK_QUEUE_STANDARD;
  std::string kind;
  Parameters parameters;
  LONG priority = 0;
  std::optional<std::chrono::milliseconds> delay;  // or
  std::string wait_event;                          // (at most one of the two)
  std::string state;
  std::string signal_event;
  std::optional<Clock::time_point> deadline;
  // Tags the operation for the stream that submitted it (a session), which
  // its completion and progress then name; 0: none. Not journaled.
  std::uint64_t session = 0;
};

enum class OperationState { kPending, kScheduled, kWaiting, kRunning, kCompleted };

struct CompletionRecord {
  std::uint64_t sequence = 0;
  OperationNumber operation;
  std::string request_id;
  std::string client;
  DWORD queue = 0;
  std::string kind;
  HRESULT status = S_OK;  // MFASYNCRESULT::hrStatusResult
  std::string message;
  std::uint64_t bytes_transferred = 0;  // MFASYNCRESULT::dwBytesTransferred, 64 bits
  std::string result;
  std::string state;
  Clock::time_point submit_time;
  std::optional<Clock::time_point> start_time;
  Clock::time_point complete_time;
  std::uint64_t session = 0;  // SubmitSpec::session
  // A submission without a session (a unary Submit) asked for it, first or
  // as a retry with its request id. Not journaled.
  bool unary = false;
};

// A completion is made once and shared, never changed: by the table's
// view of its operation, the streams waiting to send it, and replays.
using CompletionPtr = std::shared_ptr<const CompletionRecord>;

// A running operation's latest progress report.
struct ProgressRecord {
  OperationNumber operation;
  std::string client;
  DWORD queue = 0;
  std::uint64_t done = 0;
  std::uint64_t total = 0;  // 0: not known
  std::string message;
  std::uint64_t session = 0;  // SubmitSpec::session
  bool unary = false;         // CompletionRecord::unary
};

struct OperationView {
  OperationNumber number;
  std::string request_id;
  std::string client;
  DWORD queue = 0;
  std::string kind;
  Parameters parameters;
  LONG priority = 0;
  OperationState state = OperationState::kPending;
  Clock::time_point submit_time;
  CompletionPtr completion;  // once completed
  std::optional<ProgressRecord> progress;
};

const char* OperationStateName(OperationState state);

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_OPERATION_RECORDS_H_
