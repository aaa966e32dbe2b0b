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

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <mfwq/com_ptr.h>
#include <mfwq/mfapi.h>

#include "event_table.h"
#include "journal.h"
#include "operation.h"
#include "operation_kind.h"
#include "operation_records.h"
#include "queue_table.h"
#include "request_index.h"
#include "status.h"

namespace mfwq::server {

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
// on a thread that completed an operation (this one's, or another's that
// shares its journal write), under the table's delivery lock, after the
// journal has it and the table shows it. OnCompletion must
// not call back into the table; the others may.
class CompletionListener {
 public:
  virtual ~CompletionListener() = default;
  virtual void OnCompletion(const CompletionRecord& completion) = 0;
  // Completions that were journaled together, in sequence order: as many
  // OnCompletion calls, unless the listener has a better way (such as
  // keeping the records, which are shared and never change).
  virtual void OnCompletions(std::span<const CompletionPtr> completions) {
    for (const CompletionPtr& completion : completions) OnCompletion(*completion);
  }
  // An operation's kind starts running (on its work-queue thread).
  virtual void OnStarted(const std::string& operation_id) { (void)operation_id; }
  // A running operation reports progress (on its work-queue thread).
  // `last_sequence` is that of the latest completion before it.
  virtual void OnProgress(const ProgressRecord& progress, std::uint64_t last_sequence) {
    (void)progress;
    (void)last_sequence;
  }
  // The journal refused a completion: it is delivered all the same, but
  // would not survive a restart.
  virtual void OnJournalError(const Status& status) { (void)status; }
};

struct OperationTableOptions {
  // Where accepted operations and completions are made durable; none: the
  // table forgets everything when it goes.
  Journal* journal = nullptr;
  // Completed operations are retained (for Get, List, deduplication and
  // replaying completions) while both hold: at most this many ...
  std::size_t retain_count = 100000;
  // ... completed at most this long ago.
  std::chrono::seconds retain_age = std::chrono::hours(24 * 7);
  // Limits (RESOURCE_EXHAUSTED, naming the limit): operations a client has
  // accepted and not completed, and operations on one queue not completed
  // (pending, scheduled, waiting or running). 0: no limit.
  std::size_t max_inflight_per_client = 0;
  std::size_t max_queue_depth = 0;
};

// Completions retained, in sequence order, for replaying a stream.
struct CompletionBatch {
  std::vector<CompletionPtr> completions;
  // The last sequence assigned when this was read.
  std::uint64_t last_sequence = 0;
};

class OperationTable {
 public:
  // The tables and the listener must outlive this. REQUIRES: MFStartup.
  OperationTable(const KindRegistry& kinds, QueueTable& queues, EventTable& events,
                 CompletionListener* listener, OperationTableOptions options = {});
  // Cancels what has not completed (MF_E_SHUTDOWN) and waits for every
  // completion.
  ~OperationTable();

  // Loads the journal, if there is one: completed operations come back,
  // and those it accepted but never completed are completed now with
  // MF_E_SHUTDOWN. Call once, before anything else.
  Status Restore();

  OperationTable(const OperationTable&) = delete;
  OperationTable& operator=(const OperationTable&) = delete;

  StatusOr<SubmitResult> Submit(SubmitSpec spec);
  // Submits each, in order, as Submit would; the answers are at the same
  // indexes. The operations accepted are journaled together, in one write.
  // `brief`: the answers' views of operations accepted now hold only the
  // id, the state and the completion (the submitter has the rest); a
  // retry's answer holds the first attempt's whole view.
  std::vector<StatusOr<SubmitResult>> SubmitBatch(std::vector<SubmitSpec> specs,
                                                  bool brief = false);
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

  // Completions retained with a sequence after `after` (all retained ones
  // for 0), at most `max` of them. OUT_OF_RANGE if some after `after` are
  // no longer retained.
  StatusOr<CompletionBatch> ReadCompletions(std::uint64_t after, std::size_t max) const;

  // How many of the client's operations wait on its event `name`.
  std::uint32_t WaitingOn(const std::string& client, const std::string& name) const;
  // Cancels the client's operations waiting on its event `name` (it is
  // being deleted); returns how many.
  std::uint32_t CancelWaitingOn(const std::string& client, const std::string& name);

  // Shutting down. Submit is refused (UNAVAILABLE) from now on.
  void StopAccepting();
  // Waits until every accepted operation has completed, or `deadline`;
  // true if they all did.
  bool Drain(Clock::time_point deadline);
  // Completes every operation not completed yet with MF_E_SHUTDOWN and
  // `reason` (a running one once its kind stops, if it can), and waits for
  // the completions.
  void CancelAll(const std::string& reason);
  // Applies retention by age (completions apply it by count as they come)
  // and lets the journal forget what is no longer retained.
  void Maintain();
  // Accepted operations not completed yet.
  std::size_t outstanding() const;
  // Of those, the ones on their queues to run at once, waiting for their turn.
  std::size_t ready() const;

 private:
  struct Entry;
  struct Admission;
  class Observer;
  class DeadlineCallback;
  enum class Admitted {
    kAnswered,  // refused, or a retry of an accepted operation: the answer is set
    kReserved,  // in the table, waiting to be journaled and dispatched
    kBusy,      // another attempt with its request id is being accepted
  };

  // Answers a retry of the operation numbered `first_number` (kBusy while
  // that one is being accepted). REQUIRES: `lock` holds mu_.
  Admitted RetriedLocked(std::unique_lock<std::mutex>& lock, std::uint64_t first_number,
                         const SubmitSpec& spec, StatusOr<SubmitResult>* answer);
  // The operation numbers of a batch: one block of consecutive numbers,
  // taken when the first is needed, big enough for the rest of the batch
  // (those refused go unused). Batches accepted at the same time then
  // never interleave their numbers, and the journal finds an operation's
  // batch by its number alone.
  struct NumberBlock {
    std::uint64_t next = 0, end = 0;
  };
  // Checks a request and reserves its operation in the table, numbered from
  // `numbers` (a block for `left` operations taken if it is empty).
  // REQUIRES: no lock held.
  Admitted Admit(SubmitSpec& spec, NumberBlock& numbers, std::size_t left,
                 StatusOr<SubmitResult>* answer, Admission* admission);
  // Journals what was admitted (one write), dispatches each to MF and
  // answers it; what cannot be leaves the table again. REQUIRES: no lock held.
  void AcceptAdmitted(std::vector<Admission>& admitted, bool brief,
                      std::vector<StatusOr<SubmitResult>>& results);
  // An admitted operation is journaled and dispatched: clients may see it.
  // REQUIRES: no lock held.
  SubmitResult Accept(const Admission& admission, bool brief);

  // Puts the operation on MF per its trigger. REQUIRES: no lock held.
  HRESULT Dispatch(const std::shared_ptr<Entry>& entry);
  // Waits until `entry` is no longer gated (its acceptance journaled, or
  // refused). REQUIRES: no lock held.
  void AwaitGate(const Entry& entry);
  // Starts the MF timer that cancels the operation `left` from now.
  // REQUIRES: no lock held.
  void SetDeadline(const std::shared_ptr<Entry>& entry, Clock::duration left);
  // The operation's turn came on its queue: false if it must not run.
  bool Start(const std::string& id);
  // Claims the operation's one completion (nothing if claimed already, or,
  // with `only_if_not_started`, if its kind is running) and delivers it.
  // REQUIRES: no lock held.
  void Finish(const std::string& id, bool only_if_not_started);
  // Delivers a claimed completion: at once on this thread, together with
  // any others claimed meanwhile; or, if another thread is delivering, by
  // that thread soon after; or, if more completions are on their way, by
  // the delivery thread, together with them. REQUIRES: no lock held.
  void Deliver(std::shared_ptr<Entry> entry);
  // Delivers what is claimed until nothing is, first waiting for more if
  // `gather`. REQUIRES: no lock held; delivering_ set by the caller.
  void DeliverClaimed(bool gather);
  // Enough claimed to deliver without waiting. REQUIRES: claimed_mu_ held.
  bool GatheredLocked() const;
  void DeliveryThread();
  // Numbers, journals (in one write) and publishes claimed completions, in
  // order. REQUIRES: no lock held; only one thread at a time.
  void DeliverBatch(const std::vector<std::shared_ptr<Entry>>& batch);
  // Counts the operation in ready_, or no longer. REQUIRES: mu_ held.
  void MarkReadyLocked(Entry& entry, bool ready);
  // The completion of a claimed operation. REQUIRES: mu_ held.
  CompletionRecord RecordLocked(const Entry& entry) const;
  // False if it had completed already. `status` is what the completion
  // carries if the operation does not run its course (MF_E_OPERATION_CANCELLED
  // or MF_E_SHUTDOWN). REQUIRES: no lock held.
  bool CancelInternal(const std::string& id, const std::string& message,
                      HRESULT status = MF_E_OPERATION_CANCELLED);
  void OnProgress(const Operation& op, std::uint64_t done, std::uint64_t total,
                  const std::string& message);
  // Drops the oldest completed operations beyond retention, into
  // `dropped_entries` (for the caller to free once unlocked); returns the
  // sequence of the last one dropped (0: none). REQUIRES: mu_ held.
  std::uint64_t EnforceRetentionLocked(Clock::time_point now,
                                       std::vector<std::shared_ptr<Entry>>& dropped_entries);
  // The operation is no longer in state kWaiting. REQUIRES: mu_ held.
  void LeaveWaitingLocked(const Entry& entry);
  // RESOURCE_EXHAUSTED if one more operation would pass a limit.
  // REQUIRES: mu_ held.
  Status CheckLimitsLocked(const std::string& client, DWORD queue) const;
  // An operation counted against the limits completed (or was refused).
  // REQUIRES: mu_ held.
  void ReleaseLimitsLocked(const std::string& client, DWORD queue);
  // Tells the journal to forget up to `sequence`. REQUIRES: delivery_mu_ held.
  void PruneJournalLocked(std::uint64_t sequence);
  using Operations = std::map<std::uint64_t, std::shared_ptr<Entry>>;
  // A client's request id, as by_request_ keys it. A key in the index
  // views its entry's own view.client and view.request_id, which never
  // change, and leaves the index before that entry is freed.
  using RequestKey = RequestIndex::Key;
  // The operation with id `id`, or end(). REQUIRES: mu_ held.
  Operations::const_iterator FindLocked(const std::string& id) const;
  // `brief`: only its id, state and completion.
  OperationView ViewLocked(const Entry& entry, bool brief = false) const;
  StatusOr<std::shared_ptr<Entry>> FindLocked(const std::string& client,
                                              const std::string& id) const;

  const KindRegistry& kinds_;
  QueueTable& queues_;
  EventTable& events_;
  CompletionListener* const listener_;
  const OperationTableOptions options_;
  const std::shared_ptr<Observer> observer_;

  // Completions claimed, waiting for the thread delivering to take them.
  // Lock order: mu_, then claimed_mu_.
  std::mutex claimed_mu_;
  std::deque<std::shared_ptr<Entry>> claimed_;  // guarded by claimed_mu_
  // Guarded by claimed_mu_:
  bool delivering_ = false;      // a thread is delivering
  bool gathering_ = false;       // the delivery thread waits for more
  bool wake_deliverer_ = false;  // the delivery thread is to deliver
  bool stopping_ = false;        // the delivery thread is to end
  std::condition_variable deliverer_cv_;
  // Operations put on their queues to run at once and not started yet: their
  // completions are on their way. Changed with mu_ held.
  std::atomic<std::size_t> ready_{0};

  std::mutex delivery_mu_;            // serialises completions: numbering and delivery
  std::uint64_t next_sequence_ = 1;   // guarded by delivery_mu_
  std::uint64_t pruned_through_ = 0;  // guarded by delivery_mu_

  mutable std::mutex mu_;
  mutable std::condition_variable completed_cv_;
  std::condition_variable gate_cv_;  // an Entry's gate opened (with mu_)
  std::uint64_t next_id_ = 1;        // guarded by mu_
  // By number: in submission order.
  Operations operations_;  // guarded by mu_
  // Operation numbers by RequestKey.
  RequestIndex by_request_;  // guarded by mu_
  // Completed operations retained, by sequence.
  std::map<std::uint64_t, std::shared_ptr<Entry>> by_sequence_;  // guarded by mu_
  std::uint64_t completed_sequence_ = 0;                         // guarded by mu_
  std::uint64_t dropped_through_ = 0;            // retention dropped up to here; guarded by mu_
  std::size_t outstanding_ = 0;                  // accepted, not completed; guarded by mu_
  std::map<std::string, std::size_t> inflight_;  // outstanding_ by client; guarded by mu_
  std::map<DWORD, std::size_t> depth_;           // outstanding_ by queue; guarded by mu_
  // Operations in state kWaiting, by (client, event name); guarded by mu_.
  std::map<std::pair<std::string, std::string>, std::uint32_t> waiting_;
  bool accepting_ = true;  // guarded by mu_

  // Runs DeliveryThread; last, as it uses all of the above.
  std::thread deliverer_;
};

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_OPERATION_TABLE_H_
