// OperationTable: cancellation as clients ask for it: one operation (its
// answer once the completion the cancel made is out), or those waiting on
// an event that goes. The MF side is CancelInternal (operation_dispatch.cc).
#include <future>

#include "operation_table.h"

namespace mfwq::server {

void OperationTable::Cancel(const std::string& client, OperationNumber number, CancelDone done) {
  EntryPtr entry;
  Status missing = OkStatus();
  {
    MutexLock lock(mu_);
    auto found = FindLocked(client, number);
    if (found.ok()) {
      entry = found.value();
    } else {
      missing = found.status();
    }
  }
  if (!entry) {
    done(std::move(missing));
    return;
  }
  const bool cancelled = CancelInternal(number, "cancelled by client");
  MutexLock lock(mu_);
  if (entry->claimed && !entry->delivered) {
    // Its completion is on its way (perhaps made by this cancel): answer
    // with it once it is out.
    entry->on_delivered.push_back([this, entry, cancelled, done = std::move(done)] {
      StatusOr<CancelResult> result = Status(StatusCode::kInternal, "unanswered");
      {
        MutexLock relock(mu_);
        result = CancelResult{cancelled, ViewLocked(*entry)};
      }
      done(std::move(result));
    });
    return;
  }
  CancelResult result{cancelled, ViewLocked(*entry)};
  lock.Unlock();
  done(std::move(result));
}

StatusOr<CancelResult> OperationTable::Cancel(const std::string& client, OperationNumber number) {
  std::promise<StatusOr<CancelResult>> answered;
  auto answer = answered.get_future();
  Cancel(client, number, [&answered](StatusOr<CancelResult> result) {
    answered.set_value(std::move(result));
  });
  return answer.get();
}

StatusOr<bool> OperationTable::RequestCancel(const std::string& client, OperationNumber number) {
  {
    MutexLock lock(mu_);
    auto found = FindLocked(client, number);
    if (!found.ok()) return found.status();
  }
  return CancelInternal(number, "cancelled by client");
}

std::uint32_t OperationTable::CancelWaitingOn(const std::string& client, const std::string& name) {
  std::vector<OperationNumber> waiting;
  {
    MutexLock lock(mu_);
    if (waiting_.count({client, name}) == 0) return 0;
    for (const auto& [number, entry] : operations_) {
      if (!entry->claimed && entry->view.state == OperationState::kWaiting &&
          entry->view.client == client && entry->wait_event_name == name) {
        waiting.push_back(number);
      }
    }
  }
  std::uint32_t cancelled = 0;
  for (const OperationNumber number : waiting) {
    if (CancelInternal(number, "cancelled: the event it waited on was deleted")) ++cancelled;
  }
  return cancelled;
}

}  // namespace mfwq::server
