// CompletionHub: fans completions and progress out to the streams that
// watch them (WatchCompletions, Session) and to WaitOperation calls.
//
// It is the operation table's CompletionListener, so it hears every
// completion once, in sequence order. Each subscriber has a bounded buffer:
// one that falls more than `max_buffered` notifications behind is marked
// overflowed and its buffer freed (its stream then ends with a status that
// says where to resume), so a stalled watcher never grows memory without
// bound. Thread-safe.
#ifndef MFWQ_SERVER_RPC_COMPLETION_HUB_H_
#define MFWQ_SERVER_RPC_COMPLETION_HUB_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <variant>

#include <mfwq/thread_annotations.h>

#include "operation_table.h"

namespace mfwq::server::rpc {

// A completion, or a progress report with the sequence of the completion
// before it.
struct HubItem {
  std::uint64_t sequence = 0;
  std::variant<CompletionPtr, ProgressRecord> body;
};

// What one stream watches. Filters are fixed at creation; the session's
// extra operation ids may grow.
class Subscriber {
 public:
  struct Filter {
    std::string client;          // only this client's operations
    std::set<DWORD> queues;      // empty: any
    std::set<OperationNumber> operations;  // empty: any
    std::uint64_t session = 0;   // non-zero: only operations tagged with it ...
    // Leaves out operations only sessions submitted (CompletionRecord::unary).
    bool exclude_session_operations = false;
    bool include_progress = false;
  };
  // `wake` is called (from any thread, with no lock of the subscriber's
  // held) when something is added to an empty buffer or it overflows.
  Subscriber(Filter filter, std::size_t max_buffered, std::function<void()> wake)
      : filter_(std::move(filter)), max_buffered_(max_buffered), wake_(std::move(wake)) {}

  // ... or, for a session, these (deduplicated submits it did not make).
  // False if `id` was added before: the session then owes its completion
  // already, or has reported it. (The session's Answered alone calls it.)
  [[nodiscard]] bool AddOperation(OperationNumber id);
  // Takes up to `max` buffered items; `overflowed` says it fell behind.
  std::deque<HubItem> Take(std::size_t max, bool* overflowed);
  // Delivers `completion` unless it has been delivered already (a
  // session's catch-up for an added operation).
  void Offer(const CompletionPtr& completion);

  bool Matches(const std::string& client, DWORD queue, OperationNumber id,
               std::uint64_t session, bool unary) const;

 private:
  friend class CompletionHub;
  // Returns whether to wake.
  bool Push(HubItem item) MFWQ_EXCLUDES(mu_);

  const Filter filter_;
  const std::size_t max_buffered_;
  const std::function<void()> wake_;

  mutable Mutex mu_;
  std::set<OperationNumber> extra_ MFWQ_GUARDED_BY(mu_);
  std::set<OperationNumber> delivered_ MFWQ_GUARDED_BY(mu_);  // of extra_
  std::deque<HubItem> buffer_ MFWQ_GUARDED_BY(mu_);
  bool overflowed_ MFWQ_GUARDED_BY(mu_) = false;
};

class CompletionHub final : public CompletionListener {
 public:
  using Waiter = std::function<void()>;

  // Where numbering stands before any completion comes (after a restart).
  void Seed(std::uint64_t last_sequence);
  // Adds a subscriber; returns the last sequence it will not hear of (it
  // hears of every completion after it).
  std::uint64_t Subscribe(const std::shared_ptr<Subscriber>& subscriber);
  void Unsubscribe(const std::shared_ptr<Subscriber>& subscriber);

  // Calls `waiter` once, when operation `id` completes; returns a token for
  // RemoveWaiter. (The caller checks afterwards whether it had completed
  // before.)
  std::uint64_t AddWaiter(OperationNumber id, Waiter waiter);
  void RemoveWaiter(OperationNumber id, std::uint64_t token);

  // CompletionListener.
  void OnCompletions(std::span<const CompletionPtr> completions) override;
  void OnProgress(const ProgressRecord& progress, std::uint64_t last_sequence) override;
  void OnJournalHealth(const Status& status) override;

  // Commits the journal refused.
  std::uint64_t journal_errors() const;

 private:
  mutable Mutex mu_;
  std::uint64_t last_sequence_ MFWQ_GUARDED_BY(mu_) = 0;
  std::set<std::shared_ptr<Subscriber>> subscribers_ MFWQ_GUARDED_BY(mu_);
  std::multimap<OperationNumber, std::pair<std::uint64_t, Waiter>> waiters_ MFWQ_GUARDED_BY(mu_);
  std::uint64_t next_waiter_ MFWQ_GUARDED_BY(mu_) = 1;
  std::uint64_t journal_errors_ MFWQ_GUARDED_BY(mu_) = 0;
};

}  // namespace mfwq::server::rpc

#endif  // MFWQ_SERVER_RPC_COMPLETION_HUB_H_
