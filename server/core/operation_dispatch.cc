// OperationTable: the MF side of operations. Putting them on their work
// queues, scheduled (MFScheduleWorkItemEx) or waiting for an event
// (MFPutWaitingWorkItem); the gate that holds one picked up before its
// acceptance is journaled; starting and progress (on MF workers);
// deadlines (the table's clock); and cancellation at any stage.
#include <algorithm>
#include <shared_mutex>
#include <thread>
#include <utility>

#include "operation_table.h"

namespace mfwq::server {
namespace {

// A worker that picks up an operation whose acceptance is still being
// journaled spins this long for it before it sleeps: about one small
// journal write, so a lone operation starts without a second wake-up.
constexpr auto kGateSpin = std::chrono::microseconds(50);

}  // namespace

// Links operations (and deadline timers) back to the table, and unlinks on
// the table's destruction, after which late MF callbacks find nothing.
class OperationTable::Observer final : public OperationObserver {
 public:
  explicit Observer(OperationTable* table) : table_(table) {}

  // Waits for callbacks in progress; later ones find no table.
  void Detach() {
    std::unique_lock lock(mu_);
    table_ = nullptr;
  }

  // Runs the operation only if it is neither completed nor cancelled.
  bool OnStarting(Operation& op) override {
    std::shared_lock lock(mu_);
    return table_ != nullptr && table_->Start(op.spec().number);
  }
  void OnProgress(Operation& op, std::uint64_t done, std::uint64_t total,
                  const std::string& message) override {
    std::shared_lock lock(mu_);
    if (table_ != nullptr) table_->OnProgress(op, done, total, message);
  }
  void OnCompleted(Operation& op) override {
    std::shared_lock lock(mu_);
    if (table_ != nullptr) table_->Finish(op.spec().number, /*only_if_not_started=*/false);
  }
  void OnDeadline(OperationNumber number) {
    std::shared_lock lock(mu_);
    if (table_ != nullptr) table_->CancelInternal(number, "deadline passed");
  }

 private:
  // Shared by callbacks (which may run at once on many queues), exclusive
  // for Detach.
  std::shared_mutex mu_;
  OperationTable* table_;
};

std::shared_ptr<OperationObserver> OperationTable::MakeObserver(OperationTable* table) {
  return std::make_shared<Observer>(table);
}

void OperationTable::DetachObserver() { static_cast<Observer&>(*observer_).Detach(); }

HRESULT OperationTable::Dispatch(const EntryPtr& entry) {
  MFWORKITEM_KEY key = 0;
  HRESULT hr;
  if (entry->delay) {
    hr = MFScheduleWorkItemEx(entry->op.get(), -static_cast<INT64>(entry->delay->count()), &key);
  } else if (entry->wait_event) {
    hr =
        MFPutWaitingWorkItem(entry->wait_event->get(), entry->view.priority, entry->op.get(), &key);
  } else {
    return MFPutWorkItemEx2(entry->view.queue, entry->view.priority, entry->op.get());
  }
  if (SUCCEEDED(hr)) {
    bool drop;
    {
      MutexLock lock(mu_);
      drop = entry->claimed || entry->cancel_message.has_value();
      if (!drop) entry->key = key;
    }
    // Completed or cancelled before its key was known here: take the item
    // back from MF, or it would wait (and take an event's signal) for nothing.
    if (drop) MFCancelWorkItem(key);
  }
  return hr;
}

void OperationTable::SetDeadline(const EntryPtr& entry) {
  // (The observer, not the table: a timer may fire after the table is gone.)
  auto observer = std::static_pointer_cast<Observer>(observer_);
  const OperationNumber number = entry->view.number;
  const TableClock::TimerId timer =
      clock_.Schedule(*entry->deadline, [observer, number] { observer->OnDeadline(number); });
  if (timer == 0) {
    // Only when MF is shutting down: an operation must not outlive its deadline.
    CancelInternal(number, "deadline: could not be scheduled");
    return;
  }
  bool done;
  {
    MutexLock lock(mu_);
    done = entry->claimed;
    if (!done) entry->deadline_timer = timer;
  }
  if (done) clock_.Cancel(timer);  // completed already: the timer would hold on for nothing
}

void OperationTable::AwaitGate(const OperationEntry& entry) {
  const auto spin_until = std::chrono::steady_clock::now() + kGateSpin;
  while (entry.gated.load() && std::chrono::steady_clock::now() < spin_until) {
    std::this_thread::yield();
  }
  if (!entry.gated.load()) return;
  MutexLock lock(mu_);
  gate_cv_.wait(lock.native(), [&entry]() MFWQ_REQUIRES(mu_) { return !entry.gated.load(); });
}

bool OperationTable::Start(OperationNumber number) {
  {
    MutexLock lock(mu_);
    EntryPtr entry = FindLocked(number);
    if (!entry) return false;
    if (entry->gated.load()) {
      // Its acceptance is still being journaled: it starts once that is
      // done, if it is still in the table (not refused meanwhile).
      lock.Unlock();
      AwaitGate(*entry);
      lock.Lock();
      entry = FindLocked(number);
      if (!entry) return false;
    }
    if (entry->claimed || entry->cancel_message) return false;
    MarkReadyLocked(*entry, false);
    if (entry->view.state == OperationState::kWaiting) LeaveWaitingLocked(*entry);
    entry->view.state = OperationState::kRunning;
    entry->key = 0;  // fired: nothing left to cancel in MF
    entry->start_time = clock_.Now();
    if (std::exchange(entry->counted_pending, false)) --entry->counters->pending;
    ++entry->counters->running;
  }
  if (listener_ != nullptr) listener_->OnStarted(number);
  return true;
}

void OperationTable::OnProgress(const Operation& op, std::uint64_t done, std::uint64_t total,
                                const std::string& message) {
  ProgressRecord progress;
  std::uint64_t last_sequence;
  {
    MutexLock lock(mu_);
    EntryPtr entry = FindLocked(op.spec().number);
    if (!entry || entry->claimed) return;
    progress.operation = entry->view.number;
    progress.client = entry->view.client;
    progress.queue = entry->view.queue;
    progress.done = done;
    progress.total = total;
    progress.message = message;
    progress.session = entry->session;
    progress.unary = entry->unary;
    entry->view.progress = progress;
    last_sequence = completed_sequence_;
  }
  if (listener_ != nullptr) listener_->OnProgress(progress, last_sequence);
}

bool OperationTable::CancelInternal(OperationNumber number, const std::string& message,
                                    HRESULT status) {
  EntryPtr entry;
  ComPtr<Operation> op;  // (the entry lets go of it once completed)
  OperationState state;
  MFWORKITEM_KEY key;
  {
    MutexLock lock(mu_);
    entry = FindLocked(number);
    if (!entry || entry->claimed) return false;
    if (!entry->cancel_message) {  // from now on it will not start
      entry->cancel_message = message;
      entry->cancel_status = status;
    }
    // Submit has not finished accepting it (journal, MF): Submit completes
    // the cancellation once it has.
    if (!entry->accepted) return true;
    state = entry->view.state;
    key = entry->key;
    op = entry->op;
  }
  // A running kind that can stop, stops (and reports MF_E_OPERATION_CANCELLED).
  op->RequestCancel();
  if (state == OperationState::kRunning) {
    // One that cannot runs its course: its own outcome stands.
    std::shared_ptr<const OperationKind> kind = kinds_.Find(entry->view.kind);
    return kind != nullptr && kind->info().cancellable_while_running;
  }
  if (key != 0 && state == OperationState::kWaiting && MFCancelWorkItem(key) == S_OK) {
    // MF invokes a cancelled waiting item (with MF_E_OPERATION_CANCELLED):
    // it completes through the usual path, without running.
    return true;
  }
  // A cancelled scheduled item is dropped without a call; a queued one will
  // not run when its turn comes. Either way, complete it now.
  if (key != 0 && state == OperationState::kScheduled) MFCancelWorkItem(key);
  Finish(number, /*only_if_not_started=*/true);
  return true;
}

void OperationTable::MarkReadyLocked(OperationEntry& entry, bool ready) {
  if (entry.ready == ready) return;
  entry.ready = ready;
  if (ready) {
    ready_.fetch_add(1);
  } else if (ready_.fetch_sub(1) == 1) {
    writer_.NothingMoreComing();  // it may be waiting for them
  }
}

void OperationTable::LeaveWaitingLocked(const OperationEntry& entry) {
  auto it = waiting_.find({entry.view.client, entry.wait_event_name});
  if (it != waiting_.end() && --it->second == 0) waiting_.erase(it);
}

}  // namespace mfwq::server
