// OperationTable: retention. Completed operations are kept (for Get, List,
// deduplication and replaying completions) up to a count and an age; the
// oldest beyond either go, and the journal is told to forget them, in
// batches.
#include "operation_table.h"

namespace mfwq::server {
namespace {

// Completions dropped by retention before the journal is told to forget them.
constexpr std::uint64_t kPruneBatch = 1024;

}  // namespace

std::uint64_t OperationTable::EnforceRetentionLocked(Clock::time_point now,
                                                     std::vector<EntryPtr>& dropped_entries) {
  std::uint64_t dropped = 0;
  while (!by_sequence_.empty()) {
    const auto oldest = by_sequence_.begin();
    const OperationEntry& entry = *oldest->second;
    if (by_sequence_.size() <= options_.retain_count &&
        now - entry.view.completion->complete_time <= options_.retain_age) {
      break;
    }
    if (!entry.view.request_id.empty()) {
      // (A later operation may have taken the request id since this one was dropped.)
      by_request_.Erase(RequestKey{entry.view.client, entry.view.request_id},
                        entry.view.number.value);
    }
    operations_.erase(entry.view.number);
    dropped = oldest->first;
    dropped_entries.push_back(std::move(oldest->second));
    by_sequence_.erase(oldest);
  }
  if (dropped != 0) dropped_through_ = dropped;
  return dropped;
}

void OperationTable::PruneLocked(std::uint64_t dropped, bool force) {
  if (options_.journal == nullptr || dropped <= pruned_through_) return;
  // The journal forgets in batches: one delete per completion would double its writes.
  if (!force && dropped < pruned_through_ + kPruneBatch) return;
  writer_.Prune(dropped);  // written with its next commit, again until it is
  pruned_through_ = dropped;
}

void OperationTable::Maintain() {
  std::vector<EntryPtr> dropped_entries;  // freed last, unlocked
  MutexLock lock(mu_);
  EnforceRetentionLocked(clock_.Now(), dropped_entries);
  PruneLocked(dropped_through_, /*force=*/true);
}

}  // namespace mfwq::server
