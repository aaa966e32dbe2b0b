// OperationTable: the operations clients submit, from acceptance to their
// one completion.
//
// Submit checks the request (kind, parameters, queue, events: errors name
// the field), deduplicates by (client, request_id), and puts the Operation
// on its MF work queue at once (MFPutWorkItemEx2), after a delay
// (MFScheduleWorkItemEx) or once an event is set (MFPutWaitingWorkItem).
// Every accepted operation ends with exactly one completion, whatever
// happens: run, failed, cancelled (at any stage), or past its deadline.
// Completions get increasing sequence numbers and reach the
// CompletionListener in that order, one at a time; a signal event is set
// after the listener has the completion. Thread-safe.
#ifndef MFWQ_SERVER_CORE_OPERATION_TABLE_H_
#define MFWQ_SERVER_CORE_OPERATION_TABLE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <mfwq/com_ptr.h>
#include <mfwq/mfapi.h>

#include "event_table.h"
#include "operation.h"
#include "operation_kind.h"
#include "queue_table.h"
#include "status.h"

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
};

enum class OperationState { kPending, kScheduled, kWaiting, kRunning, kCompleted };

struct CompletionRecord {
  std::uint64_t sequence = 0;
  std::string operation_id;
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
};

struct OperationView {
  std::string id;
  std::string request_id;
  std::string client;
  DWORD queue = 0;
  std::string kind;
  Parameters parameters;
  LONG priority = 0;
  OperationState state = OperationState::kPending;
  Clock::time_point submit_time;
  std::optional<CompletionRecord> completion;
};

struct OperationFilter {
  std::optional<DWORD> queue;
  std::vector<OperationState> states;  // empty: any
  std::string kind;                    // empty: any
};

struct OperationPage {
  std::vector<OperationView> operations;
  std::string next_page_token;  // empty: the last page
};

struct SubmitResult {
  OperationView operation;
  bool deduplicated = false;
};

struct CancelResult {
  // False when the operation had completed already.
  bool cancelled = false;
  OperationView operation;
};

// Receives every completion, in sequence order, one call at a time; called
// on whichever thread completed the operation, under the table's delivery
// lock. OnCompletion must not call back into the table; OnStarted may.
class CompletionListener {
 public:
  virtual ~CompletionListener() = default;
  virtual void OnCompletion(const CompletionRecord& completion) = 0;
  // An operation's kind starts running (on its work-queue thread).
  virtual void OnStarted(const std::string& operation_id) { (void)operation_id; }
};

class OperationTable {
 public:
  // The tables and the listener must outlive this. REQUIRES: MFStartup.
  OperationTable(const KindRegistry& kinds, QueueTable& queues, EventTable& events,
                 CompletionListener* listener);
  // Cancels what has not completed and waits for every completion.
  ~OperationTable();

  OperationTable(const OperationTable&) = delete;
  OperationTable& operator=(const OperationTable&) = delete;

  StatusOr<SubmitResult> Submit(SubmitSpec spec);
  // A client sees its own operations only.
  StatusOr<OperationView> Get(const std::string& client, const std::string& id) const;
  // Waits until the operation completes or `timeout` passes; the view either way.
  StatusOr<OperationView> Wait(const std::string& client, const std::string& id,
                               std::chrono::milliseconds timeout) const;
  // The client's operations that pass `filter`, in submission order, a page
  // at a time (page_size 0: 100; at most 1000).
  StatusOr<OperationPage> List(const std::string& client, const OperationFilter& filter,
                               int page_size, const std::string& page_token) const;
  // Cancels an operation at any stage before its completion: it completes
  // with MF_E_OPERATION_CANCELLED (a running one when its kind stops, if it
  // can; otherwise its own outcome stands).
  StatusOr<CancelResult> Cancel(const std::string& client, const std::string& id);
  // Every completion so far.
  std::uint64_t last_sequence() const;

 private:
  struct Entry;
  class Observer;
  class DeadlineCallback;

  // Puts the operation on MF per its trigger. REQUIRES: no lock held.
  HRESULT Dispatch(const std::shared_ptr<Entry>& entry);
  // Starts the MF timer that cancels the operation `left` from now.
  // REQUIRES: no lock held.
  void SetDeadline(const std::shared_ptr<Entry>& entry, Clock::duration left);
  // The operation's turn came on its queue: false if it must not run.
  bool Start(const std::string& id);
  // Claims the operation's one completion (nothing if claimed already, or,
  // with `only_if_not_started`, if its kind is running) and delivers it.
  // REQUIRES: no lock held.
  void Finish(const std::string& id, bool only_if_not_started);
  // Numbers and delivers a claimed completion. REQUIRES: no lock held.
  void Deliver(const std::shared_ptr<Entry>& entry);
  // False if it had completed already. REQUIRES: no lock held.
  bool CancelInternal(const std::string& id, const std::string& message);
  OperationView ViewLocked(const Entry& entry) const;
  StatusOr<std::shared_ptr<Entry>> FindLocked(const std::string& client,
                                              const std::string& id) const;

  const KindRegistry& kinds_;
  QueueTable& queues_;
  EventTable& events_;
  CompletionListener* const listener_;
  const std::shared_ptr<Observer> observer_;

  std::mutex delivery_mu_;  // serialises completions: numbering and delivery
  std::uint64_t next_sequence_ = 1;  // guarded by delivery_mu_

  mutable std::mutex mu_;
  mutable std::condition_variable completed_cv_;
  std::uint64_t next_id_ = 1;                                  // guarded by mu_
  std::map<std::string, std::shared_ptr<Entry>> operations_;   // guarded by mu_
  std::map<std::pair<std::string, std::string>, std::string> by_request_;  // guarded by mu_
  std::uint64_t completed_sequence_ = 0;                       // guarded by mu_
  std::size_t outstanding_ = 0;  // accepted, not completed; guarded by mu_
};

const char* OperationStateName(OperationState state);

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_OPERATION_TABLE_H_
