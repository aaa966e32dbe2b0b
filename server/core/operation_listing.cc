// OperationTable: what clients read. An operation by number, pages of a
// client's operations, retained completions for replay, and who waits on
// an event.
#include <algorithm>

#include "operation_table.h"

namespace mfwq::server {

EntryPtr OperationTable::FindLocked(OperationNumber number) const {
  auto it = operations_.find(number);
  return it == operations_.end() ? nullptr : it->second;
}

StatusOr<EntryPtr> OperationTable::FindLocked(const std::string& client,
                                              OperationNumber number) const {
  EntryPtr entry = FindLocked(number);
  if (!entry || entry->view.client != client || !entry->accepted) {
    return NotFound("operation_id: no operation \"" + OperationId(number) + "\"");
  }
  return entry;
}

OperationView OperationTable::ViewLocked(const OperationEntry& entry, bool brief) const {
  if (!brief) return entry.view;
  OperationView view;
  view.number = entry.view.number;
  view.state = entry.view.state;
  view.completion = entry.view.completion;
  return view;
}

StatusOr<OperationView> OperationTable::Get(const std::string& client,
                                            OperationNumber number) const {
  MutexLock lock(mu_);
  auto found = FindLocked(client, number);
  if (!found.ok()) return found.status();
  return ViewLocked(*found.value());
}

StatusOr<OperationView> OperationTable::Wait(const std::string& client, OperationNumber number,
                                             std::chrono::milliseconds timeout) const {
  MutexLock lock(mu_);
  auto found = FindLocked(client, number);
  if (!found.ok()) return found.status();
  EntryPtr entry = found.value();
  // Until the listener has it too: a waiter may count on that.
  completed_cv_.wait_for(lock.native(), timeout, [&]() MFWQ_REQUIRES(mu_) { return entry->delivered; });
  return ViewLocked(*entry);
}

StatusOr<OperationPage> OperationTable::List(const std::string& client,
                                             const OperationFilter& filter, int page_size,
                                             const std::string& page_token) const {
  if (page_size < 0 || page_size > 1000) return InvalidArgument("page_size: must be 0 to 1000");
  if (page_size == 0) page_size = 100;
  // The token is the id of the previous page's last operation; ids sort in
  // submission order.
  auto after = ParseOperationId(page_token);
  if (!page_token.empty() && !after) return InvalidArgument("page_token: not one this server gave");
  OperationPage page;
  MutexLock lock(mu_);
  for (auto it = after ? operations_.upper_bound(*after) : operations_.begin();
       it != operations_.end(); ++it) {
    const OperationEntry& entry = *it->second;
    const OperationView& v = entry.view;
    if (!entry.accepted || v.client != client) continue;
    if (filter.queue && v.queue != *filter.queue) continue;
    if (!filter.kind.empty() && v.kind != filter.kind) continue;
    if (!filter.states.empty() &&
        std::find(filter.states.begin(), filter.states.end(), v.state) == filter.states.end()) {
      continue;
    }
    if (static_cast<int>(page.operations.size()) == page_size) {
      page.next_page_token = OperationId(page.operations.back().number);
      break;
    }
    page.operations.push_back(v);
  }
  return page;
}

std::uint64_t OperationTable::last_sequence() const {
  MutexLock lock(mu_);
  return completed_sequence_;
}

StatusOr<CompletionBatch> OperationTable::ReadCompletions(std::uint64_t after,
                                                          std::size_t max) const {
  MutexLock lock(mu_);
  if (after != 0 && after < dropped_through_) {
    return Status(StatusCode::kOutOfRange, "after_sequence: " + std::to_string(after) +
                                               " is no longer retained; the oldest retained is " +
                                               std::to_string(dropped_through_ + 1));
  }
  CompletionBatch batch;
  batch.last_sequence = completed_sequence_;
  for (auto it = by_sequence_.upper_bound(after);
       it != by_sequence_.end() && batch.completions.size() < max; ++it) {
    batch.completions.push_back(it->second->view.completion);
  }
  return batch;
}

std::uint32_t OperationTable::WaitingOn(const std::string& client, const std::string& name) const {
  MutexLock lock(mu_);
  auto it = waiting_.find({client, name});
  return it == waiting_.end() ? 0 : it->second;
}

}  // namespace mfwq::server
