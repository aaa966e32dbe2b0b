// Journal: where the operation table makes accepted operations and their
// completions durable, so that a restart loses none of them.
//
// The table writes an operation when it accepts it (before Submit answers)
// and its completion when it completes (before the completion reaches any
// listener, so before it is streamed). One thread writes (the table's
// journal writer), and it writes everything that arrived while its last
// commit ran in one transaction: acceptances of many submissions and the
// completions that came meanwhile (group commit). On start it loads what the journal
// holds: completed operations come back as they were, and accepted ones
// that never completed (the server stopped or crashed first) are completed
// with MF_E_SHUTDOWN. Sequence numbers and operation numbers carry on from
// the largest ones the journal has seen, so both stay unique across
// restarts, and request ids keep deduplicating.
//
// The core defines the interface only: it builds for Windows too. The
// server's SQLite journal (server/journal) implements it. Calls come one at
// a time.
#ifndef MFWQ_SERVER_CORE_JOURNAL_H_
#define MFWQ_SERVER_CORE_JOURNAL_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "operation_records.h"
#include "status.h"

namespace mfwq::server {

// An operation as the journal keeps it.
struct JournaledOperation {
  OperationView view;  // view.completion set if it completed
  std::string state;   // SubmitRequest.state, for the completion of an interrupted one
};

// An operation being accepted, as the journal writes it.
struct AcceptedRecord {
  const OperationView* operation = nullptr;
  const std::string* state = nullptr;  // SubmitRequest.state
};

// What one transaction writes: all of it is durable when Commit returns OK,
// none of it if it fails.
struct JournalWrite {
  // Operations accepted, in groups (each a block of consecutive numbers,
  // as a submission batch takes them; one row each).
  std::vector<std::span<const AcceptedRecord>> accepted;
  // Accepted operations that could not be dispatched after all (MF refused
  // them): the client was told they failed, so they must not come back.
  std::vector<OperationNumber> withdrawn;
  // Operations completed, in sequence order.
  std::span<const CompletionPtr> completed;
  // Forget the operations whose completions have a sequence up to this
  // (retention; 0: none). Numbering is not affected.
  std::uint64_t prune_through = 0;

  bool empty() const {
    return accepted.empty() && withdrawn.empty() && completed.empty() && prune_through == 0;
  }
};

struct JournalContents {
  // Every operation retained, in operation-number order.
  std::vector<JournaledOperation> operations;
  // The largest ever written, including those since pruned: numbering
  // carries on after them.
  std::uint64_t last_sequence = 0;
  std::uint64_t last_operation_number = 0;
};

class Journal {
 public:
  virtual ~Journal() = default;
  // What the journal holds. Called once, before anything is written.
  virtual StatusOr<JournalContents> Load() = 0;
  // Writes `write` in one transaction (one write to disk, one fsync if the
  // journal syncs).
  virtual Status Commit(const JournalWrite& write) = 0;

  // One part of a JournalWrite, committed alone.
  Status Accepted(std::span<const AcceptedRecord> operations) {
    JournalWrite w;
    if (!operations.empty()) w.accepted.push_back(operations);
    return w.empty() ? OkStatus() : Commit(w);
  }
  Status Withdrawn(OperationNumber number) {
    JournalWrite w;
    w.withdrawn.push_back(number);
    return Commit(w);
  }
  Status Completed(std::span<const CompletionPtr> completions) {
    JournalWrite w;
    w.completed = completions;
    return w.empty() ? OkStatus() : Commit(w);
  }
  Status Prune(std::uint64_t sequence) {
    JournalWrite w;
    w.prune_through = sequence;
    return w.empty() ? OkStatus() : Commit(w);
  }
};

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_JOURNAL_H_
