// OperationTable: the completion pipeline. An operation's one completion is
// claimed (on the MF worker that ran it, or the thread that cancelled it),
// stamped and recorded at once, and handed to the journal writer, which
// numbers and writes it; once written, Publish shows it in the table and
// hands it to the listener, on the writer's thread.
#include <utility>

#include "operation_table.h"

namespace mfwq::server {

void OperationTable::Finish(OperationNumber number, bool only_if_not_started) {
  EntryPtr entry;
  TableClock::TimerId deadline_timer = 0;
  CompletionRecord record;
  {
    MutexLock lock(mu_);
    entry = FindLocked(number);
    if (!entry || entry->claimed) return;
    // A running kind delivers its own outcome when it returns.
    if (only_if_not_started && entry->start_time) return;
    if (!entry->accepted && !entry->start_time) {
      // MF gave it back before its acceptance was journaled (it never
      // started: a queue shutting down): acceptance completes it, as it
      // does one cancelled meanwhile, or takes it out if refused. (One
      // that started did so after its acceptance was written: it completes
      // as usual, even before Accept marks it accepted.)
      if (!entry->cancel_message) {
        entry->cancel_message = "cancelled: its work queue gave it back before it ran";
        entry->cancel_status = MF_E_OPERATION_CANCELLED;
      }
      return;
    }
    entry->claimed = true;
    MarkReadyLocked(*entry, false);  // claimed before its turn came: not on its way
    deadline_timer = std::exchange(entry->deadline_timer, 0);
    // Stamped now, as the callback returns: on a queue that runs one item
    // at a time, the next item starts after this.
    record = RecordLocked(*entry, clock_.Now());
  }
  if (deadline_timer != 0) clock_.Cancel(deadline_timer);
  writer_.Complete({std::move(record), std::move(entry)});
}

CompletionRecord OperationTable::RecordLocked(const OperationEntry& entry,
                                              Clock::time_point now) const {
  const Operation& op = *entry.op;
  CompletionRecord record;
  record.operation = entry.view.number;
  record.request_id = entry.view.request_id;
  record.client = entry.view.client;
  record.queue = entry.view.queue;
  record.kind = entry.view.kind;
  record.state = op.spec().state;
  record.submit_time = entry.view.submit_time;
  record.session = entry.session;
  record.unary = entry.unary;
  record.start_time = entry.start_time;
  record.complete_time = now;
  if (entry.start_time) {
    // The kind ran and returned: what the work queue's MFASYNCRESULT holds.
    record.status = op.hrStatusResult;
    record.bytes_transferred =
        op.dwBytesTransferred == 0xFFFFFFFFu ? op.bytes_transferred() : op.dwBytesTransferred;
    record.message = op.message();
    record.result = op.result();
    if (record.status == MF_E_OPERATION_CANCELLED && entry.cancel_message) {
      // It stopped because it was asked to: say who asked (a client, its
      // deadline, the server going: then MF_E_SHUTDOWN).
      record.status = entry.cancel_status;
      record.message = *entry.cancel_message;
    }
  } else {
    // It never ran (cancelled, or past its deadline, before its turn). The
    // Operation itself is not read: a queue may still be handing it over.
    record.status = entry.cancel_status;
    record.message = entry.cancel_message.value_or("cancelled");
  }
  return record;
}

void OperationTable::Publish(std::vector<JournalWriter::Published>& completions, bool durable) {
  std::vector<EntryPtr> batch;
  std::vector<CompletionPtr> records;
  batch.reserve(completions.size());
  records.reserve(completions.size());
  for (JournalWriter::Published& p : completions) {
    batch.push_back(std::static_pointer_cast<OperationEntry>(std::move(p.owner)));
    records.push_back(std::move(p.completion));
  }
  // Dropped by retention, and what ran them: freed at the end, with no lock held.
  std::vector<EntryPtr> dropped_entries;
  std::vector<ComPtr<Operation>> ran;
  ran.reserve(batch.size());
  {
    MutexLock lock(mu_);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      OperationEntry& entry = *batch[i];
      const CompletionRecord& record = *records[i];
      ran.push_back(std::move(entry.op));  // its work is done, and its copy of the request
      entry.key = 0;
      ReleaseLimitsLocked(entry.view.client, entry.view.queue);
      QueueCounters& c = *entry.counters;
      if (record.start_time) {
        --c.running;
      } else if (std::exchange(entry.counted_pending, false)) {
        --c.pending;
      }
      if (!durable) continue;  // given up at shutdown: never completed, as far as anyone knows
      if (entry.view.state == OperationState::kWaiting) LeaveWaitingLocked(entry);
      entry.view.state = OperationState::kCompleted;
      entry.view.progress.reset();
      entry.view.completion = records[i];
      by_sequence_.emplace(record.sequence, batch[i]);
      if (record.status == MF_E_OPERATION_CANCELLED || record.status == MF_E_SHUTDOWN) {
        ++c.cancelled;
      } else if (FAILED(record.status)) {
        ++c.failed;
      } else {
        ++c.completed;
      }
    }
    if (durable) {
      completed_sequence_ = records.back()->sequence;
      PruneLocked(EnforceRetentionLocked(clock_.Now(), dropped_entries), /*force=*/false);
    }
  }
  if (durable) {
    if (listener_ != nullptr) listener_->OnCompletions(records);
    // The remote hEvent: set once the completion is out.
    for (const EntryPtr& entry : batch) {
      if (entry->signal_event) SetEvent(entry->signal_event->get());
    }
  }
  // Only now are they done: Wait returns, a Cancel answers, and the table
  // may go (its destructor waits for outstanding_ to reach zero).
  std::vector<std::function<void()>> delivered;
  {
    MutexLock lock(mu_);
    for (const EntryPtr& entry : batch) {
      entry->delivered = true;
      for (auto& fn : entry->on_delivered) delivered.push_back(std::move(fn));
      entry->on_delivered.clear();
    }
    outstanding_ -= batch.size();
    completed_cv_.notify_all();
  }
  for (auto& fn : delivered) fn();
}

}  // namespace mfwq::server
