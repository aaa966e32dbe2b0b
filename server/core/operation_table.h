// OperationTable: the operations clients submit, from acceptance to their
// one completion.
//
// Submit checks the request (kind, parameters, queue, events: errors name
// the field), deduplicates by (client, request_id), has the journal write
// it, and puts the Operation on its MF work queue (MFPutWorkItemEx2), after
// a delay (MFScheduleWorkItemEx) or once an event is set
// (MFPutWaitingWorkItem). Every accepted operation ends with exactly one
// completion, whatever happens: run, failed, cancelled (at any stage), or
// past its deadline. Completions get increasing sequence numbers in the
// order the journal writes them, and reach the CompletionListener in that
// order, after the journal has them; a signal event is set after the
// listener has the completion.
//
// Its parts, one job each:
//   operation_table.cc       construction, restore from the journal, shutdown
//   operation_admission.cc   checks, deduplication, limits, numbering;
//                            acceptance once the journal has it
//   operation_dispatch.cc    MF: queueing, scheduled and waiting items, the
//                            gate, starting, progress, deadlines, cancel
//   completion_pipeline.cc   claiming a completion, and publishing it once
//                            the journal writer has written it
//   operation_retention.cc   retention by count and age, pruning the journal
//   operation_listing.cc     Get, List, ReadCompletions, event waiters
//   journal_writer.h         the thread that writes the journal
//
// Threads: every public method may be called from any thread, and none
// waits for the journal or another thread's work but the blocking forms
// marked so (for tests and tools; never on a gRPC reaction). MF workers
// run operations and claim their completions; MF timers fire deadlines;
// the journal writer's thread commits, then finishes acceptances (answers,
// dispatch) and publishes completions (the listener's calls).
//
// Locks, in the order they may be taken: mu_ (the table's state), then a
// QueueTable's, EventTable's or the ready-count's leaf locks, or the
// journal writer's (a leaf). No user code (kinds, listeners, callbacks)
// and no I/O runs under mu_.
#ifndef MFWQ_SERVER_CORE_OPERATION_TABLE_H_
#define MFWQ_SERVER_CORE_OPERATION_TABLE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <mfwq/com_ptr.h>
#include <mfwq/mfapi.h>
#include <mfwq/thread_annotations.h>

#include "event_table.h"
#include "journal.h"
#include "journal_writer.h"
#include "operation.h"
#include "operation_entry.h"
#include "operation_kind.h"
#include "operation_records.h"
#include "queue_table.h"
#include "request_index.h"
#include "status.h"
#include "table_clock.h"

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
  // The session that submitted the operation first (SubmitSpec::session;
  // 0: none, or not known after a restart): a retry in that same session
  // is reported through its tag already.
  std::uint64_t session = 0;
};

struct CancelResult {
  // False when the operation had completed already.
  bool cancelled = false;
  OperationView operation;
};

// Receives every completion, in sequence order, one call at a time, on the
// journal writer's thread, after the journal has it and the table shows
// it, with no lock of the table's held: it may read the table, and must
// not block (it delays every completion after it).
class CompletionListener {
 public:
  virtual ~CompletionListener() = default;
  // Completions that were journaled together, in sequence order. The
  // records are shared and never change: a listener may keep them.
  virtual void OnCompletions(std::span<const CompletionPtr> completions) = 0;
  // An operation's kind starts running (on its work-queue thread).
  virtual void OnStarted(OperationNumber operation) { (void)operation; }
  // A running operation reports progress (on its work-queue thread).
  // `last_sequence` is that of the latest completion before it.
  virtual void OnProgress(const ProgressRecord& progress, std::uint64_t last_sequence) {
    (void)progress;
    (void)last_sequence;
  }
  // The journal refused a write (`status`), or, with OK, writes again.
  // While it refuses, the table accepts nothing new and holds completions
  // back (they are written again until the journal takes them).
  virtual void OnJournalHealth(const Status& status) { (void)status; }
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
  // The time it goes by (timestamps, deadlines, retention by age); none:
  // the system clock with MF timers. Must outlive the table.
  TableClock* clock = nullptr;
};

// Completions retained, in sequence order, for replaying a stream.
struct CompletionBatch {
  std::vector<CompletionPtr> completions;
  // The last sequence assigned when this was read.
  std::uint64_t last_sequence = 0;
};

class OperationTable {
 public:
  using SubmitDone = std::function<void(std::vector<StatusOr<SubmitResult>> results)>;
  using CancelDone = std::function<void(StatusOr<CancelResult> result)>;

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

  // Submits each, in order; `done` gets the answers at the same indexes,
  // once, on this thread if none needed the journal, else on the journal
  // writer's once the journal has them. Those accepted are journaled
  // together, in one write (with whatever else the writer has).
  // `brief`: the answers' views of operations accepted now hold only the
  // number, the state and the completion (the submitter has the rest); a
  // retry's answer holds the first attempt's whole view.
  void SubmitBatch(std::vector<SubmitSpec> specs, bool brief, SubmitDone done);
  // Blocking forms (not for gRPC threads).
  std::vector<StatusOr<SubmitResult>> SubmitBatch(std::vector<SubmitSpec> specs,
                                                  bool brief = false);
  StatusOr<SubmitResult> Submit(SubmitSpec spec);

  // A client sees its own operations only.
  StatusOr<OperationView> Get(const std::string& client, OperationNumber number) const;
  // Blocking: waits until the operation completes or `timeout` passes; the
  // view either way.
  StatusOr<OperationView> Wait(const std::string& client, OperationNumber number,
                               std::chrono::milliseconds timeout) const;
  // The client's operations that pass `filter`, in submission order, a page
  // at a time (page_size 0: 100; at most 1000).
  StatusOr<OperationPage> List(const std::string& client, const OperationFilter& filter,
                               int page_size, const std::string& page_token) const;
  // Cancels an operation at any stage before its completion: it completes
  // with MF_E_OPERATION_CANCELLED (a running one when its kind stops, if it
  // can; otherwise its own outcome stands). `done` gets the answer, with
  // the completion if the cancel made it (then on the journal writer's
  // thread, once it is published).
  void Cancel(const std::string& client, OperationNumber number, CancelDone done);
  // Blocking form (not for gRPC threads).
  StatusOr<CancelResult> Cancel(const std::string& client, OperationNumber number);
  // Asks for the cancellation and returns at once: whether it will be
  // cancelled (false: completed already, or running and unable to stop).
  StatusOr<bool> RequestCancel(const std::string& client, OperationNumber number);
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
  // Blocking: waits until every accepted operation has completed, or
  // `deadline`; true if they all did.
  bool Drain(Clock::time_point deadline);
  // Blocking: completes every operation not completed yet with
  // MF_E_SHUTDOWN and `reason` (a running one once its kind stops, if it
  // can), and waits for the completions. Completions the journal refuses
  // from now on are given up (they come back after a restart as
  // interrupted) rather than written again.
  void CancelAll(const std::string& reason);
  // Applies retention by age (completions apply it by count as they come)
  // and lets the journal forget what is no longer retained.
  void Maintain();
  // Accepted operations not completed yet.
  std::size_t outstanding() const;
  // Of those, the ones on their queues to run at once, waiting for their turn.
  std::size_t ready() const;
  // Successful journal commits so far.
  std::uint64_t journal_commits() const { return writer_.commits(); }

 private:
  class Observer;
  struct Admission;
  struct PendingBatch;
  enum class Admitted {
    kAnswered,  // refused, or a retry of an accepted operation: the answer is set
    kReserved,  // in the table, waiting to be journaled and dispatched
    kDeferred,  // answered later, by a continuation this registered
  };
  // The operation numbers of a batch: one block of consecutive numbers,
  // taken when the first is needed, big enough for the rest of the batch
  // (those refused go unused). Batches accepted at the same time then
  // never interleave their numbers, and the journal finds an operation's
  // batch by its number alone.
  struct NumberBlock {
    std::uint64_t next = 0, end = 0;
  };

  // --- operation_admission.cc ---
  // Checks a request and reserves its operation in the table, numbered from
  // `numbers` (a block for `left` operations taken if it is empty); the
  // answer goes to batch->results[index]. REQUIRES: no lock held.
  Admitted Admit(SubmitSpec& spec, NumberBlock& numbers, std::size_t left,
                 const std::shared_ptr<PendingBatch>& batch, std::size_t index,
                 Admission* admission);
  // Answers a retry of `first`, now or (kDeferred) once `first` is
  // settled or delivered. REQUIRES: mu_ held.
  Admitted RetriedLocked(const EntryPtr& first, SubmitSpec& spec,
                         const std::shared_ptr<PendingBatch>& batch, std::size_t index) MFWQ_REQUIRES(mu_);
  // Has the journal write what was admitted, dispatching gated ones first.
  // REQUIRES: no lock held.
  void WriteAdmitted(const std::shared_ptr<PendingBatch>& batch, std::vector<Admission> admitted);
  // The journal wrote them (or refused, `journaled`): dispatches, answers.
  // On the journal writer's thread. REQUIRES: no lock held.
  void AdmittedWritten(const std::shared_ptr<PendingBatch>& batch, std::vector<Admission>& admitted,
                       const std::vector<HRESULT>& early, bool gated, const Status& journaled);
  // An admitted operation is journaled and dispatched: clients may see it.
  // REQUIRES: no lock held.
  SubmitResult Accept(const Admission& admission, bool brief);
  // Submits `spec` again once the attempt it waited for is settled.
  void Resubmit(const std::shared_ptr<PendingBatch>& batch, std::size_t index, SubmitSpec spec);
  // Takes a refused admission out of the table. REQUIRES: no lock held.
  void Unreserve(const EntryPtr& entry);
  // RESOURCE_EXHAUSTED if one more operation would pass a limit.
  // REQUIRES: mu_ held.
  Status CheckLimitsLocked(const std::string& client, DWORD queue) const MFWQ_REQUIRES(mu_);
  // An operation counted against the limits completed (or was refused).
  // REQUIRES: mu_ held.
  void ReleaseLimitsLocked(const std::string& client, DWORD queue) MFWQ_REQUIRES(mu_);

  // --- operation_dispatch.cc ---
  static std::shared_ptr<OperationObserver> MakeObserver(OperationTable* table);
  // Late MF callbacks find no table from now on.
  void DetachObserver();
  // Puts the operation on MF per its trigger. REQUIRES: no lock held.
  HRESULT Dispatch(const EntryPtr& entry);
  // Waits until `entry` is no longer gated (its acceptance journaled, or
  // refused); on the MF worker that picked it up. REQUIRES: no lock held.
  void AwaitGate(const OperationEntry& entry);
  // Starts the timer that cancels the operation at its deadline.
  // REQUIRES: no lock held.
  void SetDeadline(const EntryPtr& entry);

  // False if it had completed already. `status` is what the completion
  // carries if the operation does not run its course (MF_E_OPERATION_CANCELLED
  // or MF_E_SHUTDOWN). REQUIRES: no lock held.
  bool CancelInternal(OperationNumber number, const std::string& message,
                      HRESULT status = MF_E_OPERATION_CANCELLED);
  // The operation's turn came on its queue (from the dispatcher): false if
  // it must not run.
  bool Start(OperationNumber number);
  void OnProgress(const Operation& op, std::uint64_t done, std::uint64_t total,
                  const std::string& message);
  // Counts the operation in ready_, or no longer. REQUIRES: mu_ held.
  void MarkReadyLocked(OperationEntry& entry, bool ready) MFWQ_REQUIRES(mu_);
  // The operation is no longer in state kWaiting. REQUIRES: mu_ held.
  void LeaveWaitingLocked(const OperationEntry& entry) MFWQ_REQUIRES(mu_);

  // --- completion_pipeline.cc ---
  // Claims the operation's one completion (nothing if claimed already, or,
  // with `only_if_not_started`, if its kind is running) and hands it to the
  // journal writer. REQUIRES: no lock held.
  void Finish(OperationNumber number, bool only_if_not_started);
  // The completion of a claimed operation, but its sequence. REQUIRES: mu_ held.
  CompletionRecord RecordLocked(const OperationEntry& entry, Clock::time_point now) const MFWQ_REQUIRES(mu_);
  // The journal writer wrote these (or, `durable` false, gave up on them):
  // the table shows them, the listener hears of them. On the writer's thread.
  void Publish(std::vector<JournalWriter::Published>& completions, bool durable);
  // The journal writer's news, for the listener.
  void OnJournalHealth(const Status& status);

  // --- operation_retention.cc ---
  // Drops the oldest completed operations beyond retention, into
  // `dropped_entries` (for the caller to free once unlocked); returns the
  // sequence of the last one dropped (0: none). REQUIRES: mu_ held.
  std::uint64_t EnforceRetentionLocked(Clock::time_point now,
                                       std::vector<EntryPtr>& dropped_entries) MFWQ_REQUIRES(mu_);
  // Has the journal forget up to `dropped`, once enough is dropped
  // (`force`: whatever is dropped). REQUIRES: mu_ held.
  void PruneLocked(std::uint64_t dropped, bool force) MFWQ_REQUIRES(mu_);

  // --- operation_listing.cc ---
  using Operations = std::map<OperationNumber, EntryPtr>;
  // A client's request id, as by_request_ keys it. A key in the index
  // views its entry's own view.client and view.request_id, which never
  // change, and leaves the index before that entry is freed.
  using RequestKey = RequestIndex::Key;
  // The operation numbered `number`, or null. REQUIRES: mu_ held.
  EntryPtr FindLocked(OperationNumber number) const MFWQ_REQUIRES(mu_);
  // The client's accepted operation, or NOT_FOUND. REQUIRES: mu_ held.
  StatusOr<EntryPtr> FindLocked(const std::string& client, OperationNumber number) const MFWQ_REQUIRES(mu_);
  // `brief`: only its number, state and completion. REQUIRES: mu_ held.
  OperationView ViewLocked(const OperationEntry& entry, bool brief = false) const MFWQ_REQUIRES(mu_);

  const KindRegistry& kinds_;
  QueueTable& queues_;
  EventTable& events_;
  CompletionListener* const listener_;
  const OperationTableOptions options_;
  SystemTableClock system_clock_;
  TableClock& clock_;  // options_.clock, or system_clock_
  // Its Observer: every Operation reports to it.
  const std::shared_ptr<OperationObserver> observer_;

  // Operations put on their queues to run at once and not started yet.
  // Changed with mu_ held.
  std::atomic<std::size_t> ready_{0};

  mutable Mutex mu_;
  mutable std::condition_variable completed_cv_;  // an entry was delivered (with mu_)
  std::condition_variable gate_cv_;               // an entry's gate opened (with mu_)
  std::uint64_t next_number_ MFWQ_GUARDED_BY(mu_) = 1;
  // By number: in submission order.
  Operations operations_ MFWQ_GUARDED_BY(mu_);
  // Operation numbers by RequestKey.
  RequestIndex by_request_ MFWQ_GUARDED_BY(mu_);
  // Completed operations retained, by sequence.
  std::map<std::uint64_t, EntryPtr> by_sequence_ MFWQ_GUARDED_BY(mu_);
  std::uint64_t completed_sequence_ MFWQ_GUARDED_BY(mu_) = 0;
  std::uint64_t dropped_through_ MFWQ_GUARDED_BY(mu_) = 0;  // retention dropped up to here
  std::uint64_t pruned_through_ MFWQ_GUARDED_BY(mu_) = 0;  // the journal was told to forget up to here
  std::size_t outstanding_ MFWQ_GUARDED_BY(mu_) = 0;  // accepted, not completed
  std::map<std::string, std::size_t> inflight_ MFWQ_GUARDED_BY(mu_);  // outstanding_ by client
  std::map<DWORD, std::size_t> depth_ MFWQ_GUARDED_BY(mu_);  // outstanding_ by queue
  // Operations in state kWaiting, by (client, event name).
  std::map<std::pair<std::string, std::string>, std::uint32_t> waiting_ MFWQ_GUARDED_BY(mu_);
  bool accepting_ MFWQ_GUARDED_BY(mu_) = true;

  // Last: it calls back into all of the above until it is gone.
  JournalWriter writer_;
};

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_OPERATION_TABLE_H_
