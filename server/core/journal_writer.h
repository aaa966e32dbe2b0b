// JournalWriter: the one thread that writes the journal.
//
// Everything the operation table makes durable comes here: the operations
// of each submission (from any number of gRPC threads at once), the
// completions MF workers claim, withdrawals and retention's pruning. The
// writer takes everything that arrived while its previous commit ran and
// writes it in one transaction (group commit: one write, and one fsync
// under journal_sync = full, for all of it). Completions are numbered here,
// in commit order, so sequence numbers follow the journal. Under load
// (more completions on their way, no submission waiting) it gathers up to
// 256 completions for at most 200 µs before it commits.
//
// After a commit, on this thread and with no lock of the writer's held:
// each acceptance's `done` learns how its write went, then the completions
// go to `published`, in sequence order. A completion is told to nobody
// before it is durable. If a commit fails, its acceptances are refused
// (their `done` gets the error), and its completions, withdrawals and
// pruning are written again, with the same sequence numbers, after a pause
// that grows from 10 ms to 1 s; meanwhile `failure()` says why, so that
// the table refuses new work. Once GiveUpFailedWrites is called (the
// server is going), completions a failed commit held go to `published`
// with `durable` false instead: they come back after a restart as
// interrupted (MF_E_SHUTDOWN), under sequence numbers nobody was told.
//
// With no journal, a commit is a no-op that succeeds: the same thread and
// order, nothing durable.
//
// Threads: callers on any thread (the calls only queue and wake); the
// writer thread runs the commits and every callback. The writer's mutex is
// a leaf: nothing else is locked under it, and callbacks run without it.
#ifndef MFWQ_SERVER_CORE_JOURNAL_WRITER_H_
#define MFWQ_SERVER_CORE_JOURNAL_WRITER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <mfwq/thread_annotations.h>

#include "journal.h"
#include "operation_records.h"
#include "status.h"

namespace mfwq::server {

class JournalWriter {
 public:
  // A completion on its way: numbered by the writer. `owner` is kept with
  // it and handed back (the table's entry).
  struct Pending {
    CompletionRecord record;  // sequence set by the writer
    std::shared_ptr<void> owner;
  };
  struct Published {
    CompletionPtr completion;
    std::shared_ptr<void> owner;
  };
  using AcceptDone = std::function<void(const Status& journaled)>;
  using PublishFn = std::function<void(std::vector<Published>& completions, bool durable)>;
  // A commit failed (`status`), or, with OK, the journal writes again
  // after failing. Called on the writer thread.
  using HealthFn = std::function<void(const Status& status)>;

  // Whether more completions are on their way (operations queued to run
  // at once): the writer then waits a little for them to share a commit.
  using MoreComingFn = std::function<bool()>;

  // `journal` may be null. Starts the thread.
  JournalWriter(Journal* journal, PublishFn published, HealthFn health,
                MoreComingFn more_coming = nullptr);
  // Writes what is queued, then stops the thread.
  ~JournalWriter();

  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Sequence numbering carries on after `last_sequence`. Before anything is queued.
  void Seed(std::uint64_t last_sequence);

  // Writes these accepted operations (one row; the records' pointers must
  // stay good until `done` runs), then calls `done`.
  void Accept(std::vector<AcceptedRecord> records, AcceptDone done);
  // Writes that an accepted operation is withdrawn.
  void Withdraw(OperationNumber number);
  // Numbers and writes a completion, then publishes it.
  void Complete(Pending completion);
  // Writes that retention forgot completions up to `sequence`.
  void Prune(std::uint64_t sequence);
  // No more completions are on their way (MoreComingFn turned false).
  void NothingMoreComing();

  // From now on, completions of a failed commit are published as not
  // durable rather than written again.
  void GiveUpFailedWrites();
  // Why the last commit failed; OK while commits succeed.
  Status failure() const;
  bool failing() const { return failing_.load(std::memory_order_acquire); }
  // Commits made (successful ones), for tests and measurements.
  std::uint64_t commits() const { return commits_.load(); }

 private:
  struct Acceptance {
    std::vector<AcceptedRecord> records;
    AcceptDone done;
  };
  void Run();
  // Spins briefly for work (has_work_) before the writer sleeps.
  void Spin() const;
  bool HasWorkLocked() const MFWQ_REQUIRES(mu_);

  Journal* const journal_;
  const PublishFn published_;
  const HealthFn health_;
  const MoreComingFn more_coming_;

  mutable Mutex mu_;
  std::condition_variable wake_;
  std::vector<Acceptance> acceptances_ MFWQ_GUARDED_BY(mu_);
  std::vector<OperationNumber> withdrawn_ MFWQ_GUARDED_BY(mu_);
  std::vector<Pending> completions_ MFWQ_GUARDED_BY(mu_);
  std::uint64_t prune_through_ MFWQ_GUARDED_BY(mu_) = 0;
  std::uint64_t next_sequence_ MFWQ_GUARDED_BY(mu_) = 1;
  bool sleeping_ MFWQ_GUARDED_BY(mu_) = false;  // the writer waits on wake_
  bool gathering_ MFWQ_GUARDED_BY(mu_) = false;  // ... for more completions to come
  bool stopping_ MFWQ_GUARDED_BY(mu_) = false;
  bool give_up_ MFWQ_GUARDED_BY(mu_) = false;
  Status failure_ MFWQ_GUARDED_BY(mu_);
  // Mirrors of the above, read without the lock.
  std::atomic<bool> has_work_{false};
  std::atomic<bool> failing_{false};
  std::atomic<std::uint64_t> commits_{0};

  std::thread thread_;  // last: it uses all of the above
};

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_JOURNAL_WRITER_H_
