// OperationTable: construction, restoring from the journal, and shutdown.
#include "operation_table.h"

#include <utility>

namespace mfwq::server {
namespace {

constexpr char kRestartMessage[] = "interrupted: the server stopped before the operation completed";

}  // namespace

const char* OperationStateName(OperationState state) {
  switch (state) {
    case OperationState::kPending:
      return "pending";
    case OperationState::kScheduled:
      return "scheduled";
    case OperationState::kWaiting:
      return "waiting";
    case OperationState::kRunning:
      return "running";
    case OperationState::kCompleted:
      return "completed";
  }
  return "unknown";
}

OperationTable::OperationTable(const KindRegistry& kinds, QueueTable& queues, EventTable& events,
                               CompletionListener* listener, OperationTableOptions options)
    : kinds_(kinds),
      queues_(queues),
      events_(events),
      listener_(listener),
      options_(options),
      clock_(options.clock != nullptr ? *options.clock : system_clock_),
      observer_(MakeObserver(this)),
      writer_(
          options.journal,
          [this](std::vector<JournalWriter::Published>& completions, bool durable) {
            Publish(completions, durable);
          },
          [this](const Status& status) { OnJournalHealth(status); },
          [this] { return ready_.load() != 0; }) {}

OperationTable::~OperationTable() {
  StopAccepting();
  CancelAll("server shutting down");
  DetachObserver();
  // writer_ goes first of the members: its thread is idle (nothing is
  // outstanding) and stops before the state it calls back into.
}

void OperationTable::OnJournalHealth(const Status& status) {
  if (listener_ != nullptr) listener_->OnJournalHealth(status);
}

Status OperationTable::Restore() {
  if (options_.journal == nullptr) return OkStatus();
  {
    MutexLock lock(mu_);
    if (!operations_.empty()) {
      return Status(StatusCode::kFailedPrecondition, "journal: restored after operations came");
    }
  }
  // Before anything is submitted: the journal writer has nothing to write,
  // so this thread may use the journal. Built here, and installed at once.
  auto contents = options_.journal->Load();
  if (!contents.ok()) return contents.status();
  std::uint64_t next_sequence = contents->last_sequence + 1;
  std::vector<EntryPtr> entries;
  std::vector<CompletionPtr> interrupted;
  entries.reserve(contents->operations.size());
  for (JournaledOperation& journaled : contents->operations) {
    auto entry = std::make_shared<OperationEntry>();
    entry->view = std::move(journaled.view);
    entry->accepted = entry->settled = entry->claimed = entry->delivered = true;
    if (!entry->view.completion) {
      // Accepted, never completed: the server went first.
      CompletionRecord record;
      record.sequence = next_sequence++;
      record.operation = entry->view.number;
      record.request_id = entry->view.request_id;
      record.client = entry->view.client;
      record.queue = entry->view.queue;
      record.kind = entry->view.kind;
      record.status = MF_E_SHUTDOWN;
      record.message = kRestartMessage;
      record.state = std::move(journaled.state);
      record.submit_time = entry->view.submit_time;
      record.complete_time = clock_.Now();
      entry->view.completion = std::make_shared<const CompletionRecord>(std::move(record));
      interrupted.push_back(entry->view.completion);
    }
    entry->view.state = OperationState::kCompleted;
    entry->view.progress.reset();
    entries.push_back(std::move(entry));
  }
  // In one write, before anyone can hear of them.
  if (Status s = options_.journal->Completed(interrupted); !s.ok()) return s;
  std::vector<EntryPtr> dropped;  // by retention; freed last, unlocked
  {
    MutexLock lock(mu_);
    next_number_ = contents->last_operation_number + 1;
    completed_sequence_ = next_sequence - 1;
    std::uint64_t first_sequence = 0;
    for (EntryPtr& entry : entries) {
      const std::uint64_t sequence = entry->view.completion->sequence;
      if (first_sequence == 0 || sequence < first_sequence) first_sequence = sequence;
      if (!entry->view.request_id.empty()) {
        // The latest with the id has it; the key views this entry's strings.
        const RequestKey key{entry->view.client, entry->view.request_id};
        by_request_.Erase(key);
        by_request_.Insert(key, entry->view.number.value);
      }
      by_sequence_.emplace(sequence, entry);
      operations_.emplace(entry->view.number, std::move(entry));
    }
    writer_.Seed(completed_sequence_);
    // What the journal pruned before is not retained either.
    dropped_through_ = first_sequence == 0 ? contents->last_sequence : first_sequence - 1;
    pruned_through_ = dropped_through_;
    EnforceRetentionLocked(clock_.Now(), dropped);
  }
  if (listener_ != nullptr && !interrupted.empty()) listener_->OnCompletions(interrupted);
  return OkStatus();
}

void OperationTable::StopAccepting() {
  MutexLock lock(mu_);
  accepting_ = false;
}

bool OperationTable::Drain(Clock::time_point deadline) {
  MutexLock lock(mu_);
  return completed_cv_.wait_until(lock.native(), deadline, [this]() MFWQ_REQUIRES(mu_) { return outstanding_ == 0; });
}

void OperationTable::CancelAll(const std::string& reason) {
  std::vector<OperationNumber> open;
  {
    MutexLock lock(mu_);
    for (const auto& [number, entry] : operations_) {
      if (!entry->claimed) open.push_back(number);
    }
  }
  for (const OperationNumber number : open) CancelInternal(number, reason, MF_E_SHUTDOWN);
  // A journal that refuses writes now would hold the completions for ever.
  writer_.GiveUpFailedWrites();
  MutexLock lock(mu_);
  completed_cv_.wait(lock.native(), [this]() MFWQ_REQUIRES(mu_) { return outstanding_ == 0; });
}

std::size_t OperationTable::outstanding() const {
  MutexLock lock(mu_);
  return outstanding_;
}

std::size_t OperationTable::ready() const { return ready_.load(); }

}  // namespace mfwq::server
