// Journal: where the operation table makes accepted operations and their
// completions durable, so that a restart loses none of them.
//
// The table writes an operation when it accepts it (before Submit answers)
// and its completion when it completes (before the completion reaches any
// listener, so before it is streamed). Both come in batches: the
// operations of one SubmitBatch, the completions that arrive together, each
// batch written at once (one transaction, one write to disk). On start it loads what the journal
// holds: completed operations come back as they were, and accepted ones
// that never completed (the server stopped or crashed first) are completed
// with MF_E_SHUTDOWN. Sequence numbers and operation numbers carry on from
// the largest ones the journal has seen, so both stay unique across
// restarts, and request ids keep deduplicating.
//
// The core defines the interface only: it builds for Windows too. The
// server's SQLite journal (server/journal) implements it. Implementations
// are called from many threads at once and must be thread-safe.
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
  std::uint64_t number = 0;  // the one in its id
  const OperationView* operation = nullptr;
  const std::string* state = nullptr;  // SubmitRequest.state
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
  // Operations were accepted, in this order. All of them are durable when
  // this returns OK; none is written if it fails.
  virtual Status Accepted(std::span<const AcceptedRecord> operations) = 0;
  // An accepted operation could not be dispatched after all (MF refused
  // it): the client was told it failed, so it must not come back.
  virtual Status Withdrawn(const std::string& operation_id) = 0;
  // Operations completed, in sequence order. All of them are durable when
  // this returns OK; none is written if it fails.
  virtual Status Completed(std::span<const CompletionPtr> completions) = 0;
  // Forgets the operations whose completions have a sequence up to
  // `sequence` (retention). Numbering is not affected.
  virtual Status Prune(std::uint64_t sequence) = 0;
};

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_JOURNAL_H_
