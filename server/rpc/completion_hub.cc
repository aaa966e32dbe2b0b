#include "completion_hub.h"

#include <vector>

#include <mfwq/hresult.h>

#include "log.h"

namespace mfwq::server::rpc {

bool Subscriber::Matches(const std::string& client, DWORD queue, OperationNumber id,
                         std::uint64_t session, bool unary) const {
  if (client != filter_.client) return false;
  if (filter_.exclude_session_operations && session != 0 && !unary) return false;
  if (!filter_.queues.empty() && filter_.queues.count(queue) == 0) return false;
  if (!filter_.operations.empty() && filter_.operations.count(id) == 0) return false;
  if (filter_.session != 0 && session != filter_.session) {
    MutexLock lock(mu_);
    return extra_.count(id) != 0;
  }
  return true;
}

bool Subscriber::Push(HubItem item) {
  MutexLock lock(mu_);
  if (overflowed_) return false;
  if (const auto* c = std::get_if<CompletionPtr>(&item.body);
      c != nullptr && !extra_.empty() && extra_.count((*c)->operation) != 0) {
    if (!delivered_.insert((*c)->operation).second) return false;
  }
  if (buffer_.size() >= max_buffered_) {
    overflowed_ = true;
    std::deque<HubItem>().swap(buffer_);  // free it now
    return true;
  }
  buffer_.push_back(std::move(item));
  return buffer_.size() == 1;
}

bool Subscriber::AddOperation(OperationNumber id) {
  MutexLock lock(mu_);
  return extra_.insert(id).second;
}

void Subscriber::Offer(const CompletionPtr& completion) {
  if (Push(HubItem{completion->sequence, completion})) wake_();
}

std::deque<HubItem> Subscriber::Take(std::size_t max, bool* overflowed) {
  MutexLock lock(mu_);
  *overflowed = overflowed_;
  std::deque<HubItem> taken;
  if (buffer_.size() <= max) {
    taken.swap(buffer_);
  } else {
    for (std::size_t i = 0; i < max; ++i) {
      taken.push_back(std::move(buffer_.front()));
      buffer_.pop_front();
    }
  }
  return taken;
}

void CompletionHub::Seed(std::uint64_t last_sequence) {
  MutexLock lock(mu_);
  last_sequence_ = last_sequence;
}

std::uint64_t CompletionHub::Subscribe(const std::shared_ptr<Subscriber>& subscriber) {
  MutexLock lock(mu_);
  subscribers_.insert(subscriber);
  return last_sequence_;
}

void CompletionHub::Unsubscribe(const std::shared_ptr<Subscriber>& subscriber) {
  MutexLock lock(mu_);
  subscribers_.erase(subscriber);
}

std::uint64_t CompletionHub::AddWaiter(OperationNumber id, Waiter waiter) {
  MutexLock lock(mu_);
  const std::uint64_t token = next_waiter_++;
  waiters_.emplace(id, std::make_pair(token, std::move(waiter)));
  return token;
}

void CompletionHub::RemoveWaiter(OperationNumber id, std::uint64_t token) {
  MutexLock lock(mu_);
  auto [first, last] = waiters_.equal_range(id);
  for (auto it = first; it != last; ++it) {
    if (it->second.first == token) {
      waiters_.erase(it);
      return;
    }
  }
}

void CompletionHub::OnCompletions(std::span<const CompletionPtr> completions) {
  if (completions.empty()) return;
  // Each subscriber is woken once for the batch, however many it takes.
  std::set<std::shared_ptr<Subscriber>> wake;
  std::vector<Waiter> waiters;
  {
    MutexLock lock(mu_);
    last_sequence_ = completions.back()->sequence;
    for (const CompletionPtr& shared : completions) {
      const CompletionRecord& c = *shared;
      for (const auto& s : subscribers_) {
        if (s->Matches(c.client, c.queue, c.operation, c.session, c.unary) &&
            s->Push(HubItem{c.sequence, shared})) {
          wake.insert(s);
        }
      }
      if (waiters_.empty()) continue;
      auto [first, last] = waiters_.equal_range(c.operation);
      for (auto it = first; it != last; ++it) waiters.push_back(std::move(it->second.second));
      waiters_.erase(first, last);
    }
  }
  for (const auto& s : wake) s->wake_();
  for (const auto& w : waiters) w();
  for (const CompletionPtr& shared : completions) {
    const CompletionRecord& c = *shared;
    // Failures are worth a line at the default level; the rest at debug.
    const bool failed = FAILED(c.status) && c.status != MF_E_OPERATION_CANCELLED;
    const char* level = failed ? "info" : "debug";
    if (!LogLine::Enabled(level)) continue;
    LogLine(level, "operation_completed")
        .Field("op", OperationId(c.operation))
        .Field("client", c.client)
        .Field("queue", std::uint64_t{c.queue})
        .Field("kind", c.kind)
        .Field("sequence", c.sequence)
        .Field("status", FormatHResult(c.status))
        .Field("message", c.message)
        .Field("bytes", c.bytes_transferred);
  }
}

void CompletionHub::OnProgress(const ProgressRecord& p, std::uint64_t last_sequence) {
  std::vector<std::shared_ptr<Subscriber>> wake;
  {
    MutexLock lock(mu_);
    for (const auto& s : subscribers_) {
      if (s->filter_.include_progress &&
          s->Matches(p.client, p.queue, p.operation, p.session, p.unary) &&
          s->Push(HubItem{last_sequence, p})) {
        wake.push_back(s);
      }
    }
  }
  for (const auto& s : wake) s->wake_();
}

void CompletionHub::OnJournalHealth(const Status& status) {
  if (status.ok()) {
    LogLine("warn", "journal_writes_again");
    return;
  }
  {
    MutexLock lock(mu_);
    ++journal_errors_;
  }
  LogLine("error", "journal_write_failed")
      .Field("error", status.message())
      .Field("effect", "nothing is accepted, and completions are held back, until it can be "
                       "written again");
}

std::uint64_t CompletionHub::journal_errors() const {
  MutexLock lock(mu_);
  return journal_errors_;
}

}  // namespace mfwq::server::rpc
