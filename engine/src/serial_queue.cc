#include "serial_queue.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <utility>

#include "platform.h"

namespace mfwq::engine {

namespace {

// The hand-overs of the Forward loop running on this thread, if one is.
struct HandOver {
  std::shared_ptr<SerialQueue> queue;
  WorkItem item;
};
thread_local std::deque<HandOver>* t_hand_overs = nullptr;

// The targets that queues destroyed on this thread leave to release, while
// the outermost of those destructors releases them one after another.
thread_local std::vector<std::shared_ptr<Executor>>* t_releasing = nullptr;

// Clears one of the above when its loop ends.
template <typename T>
struct ClearOnExit {
  T*& slot;
  ~ClearOnExit() { slot = nullptr; }
};

}  // namespace

SerialQueue::SerialQueue(std::shared_ptr<Executor> target, DWORD target_id)
    : target_(std::move(target)), target_id_(target_id) {}

SerialQueue::~SerialQueue() {
  if (t_releasing != nullptr) {
    t_releasing->push_back(std::move(target_));
    return;
  }
  std::vector<std::shared_ptr<Executor>> releasing;
  t_releasing = &releasing;
  ClearOnExit<std::vector<std::shared_ptr<Executor>>> clear{t_releasing};
  releasing.push_back(std::move(target_));
  while (!releasing.empty()) {
    std::shared_ptr<Executor> next = std::move(releasing.back());
    releasing.pop_back();
    next.reset();  // may destroy a queue, which adds its own target
  }
}

HRESULT SerialQueue::Submit(WorkItem item) {
  {
    MutexLock lock(mu_);
    if (!accepting_) return stopped_ ? MF_E_SHUTDOWN : MF_E_INVALID_WORKQUEUE;  // freed: id gone
    if (busy_) {
      queued_.Push(std::move(item));
      return S_OK;
    }
    busy_ = true;
  }
  Forward(std::move(item));
  return S_OK;
}

void SerialQueue::Forward(WorkItem item) {
  if (t_hand_overs != nullptr) {
    t_hand_overs->push_back({shared_from_this(), std::move(item)});
    return;
  }
  std::deque<HandOver> hand_overs;
  t_hand_overs = &hand_overs;
  ClearOnExit<std::deque<HandOver>> clear{t_hand_overs};
  ForwardNow(std::move(item));
  while (!hand_overs.empty()) {
    HandOver next = std::move(hand_overs.front());
    hand_overs.pop_front();
    next.queue->ForwardNow(std::move(next.item));
  }
}

void SerialQueue::ForwardNow(WorkItem item) {
  for (;;) {
    std::uint64_t ticket = 0;
    if (GetCallbackParameters(item.result.get()).flags & MFASYNC_REPLY_CALLBACK) {
      ReplyBook& book = Platform::Get().replies();
      ticket = book.Open(weak_from_this());
      if (MarkAwaitingReply(item.result.get(), ticket, book)) {
        MutexLock lock(mu_);
        awaited_reply_ = ticket;
      } else {
        book.Close(ticket);
        ticket = 0;
      }
    }
    // In reply mode, keep the result to unmark it should the target refuse it.
    ComPtr<IMFAsyncResult> marked = ticket != 0 ? item.result : nullptr;
    if (ticket == 0) item.on_done.push_back(shared_from_this());
    if (SUCCEEDED(target_->Submit(std::move(item)))) return;
    // The target is shutting down: this item will not run; move on.
    if (marked) {
      Platform::Get().replies().Close(ticket);
      ClearReplyMark(marked.get(), ticket);
      marked.Reset();
    }
    if (!TakeNext(&item)) return;
  }
}

bool SerialQueue::TakeNext(WorkItem* next) {
  bool unlock_target = false;
  {
    MutexLock lock(mu_);
    awaited_reply_ = 0;
    if (!stopped_ && !queued_.empty()) {
      *next = queued_.Pop();
      return true;
    }
    busy_ = false;
    if (!accepting_ && !stopped_ && !target_unlocked_) {
      target_unlocked_ = unlock_target = true;
    }
  }
  // Retired and drained: give back the lock this queue held on its target.
  if (unlock_target) Platform::Get().queues().Unlock(target_id_);
  return false;
}

void SerialQueue::OnItemDone() {
  WorkItem next;
  if (TakeNext(&next)) Forward(std::move(next));
}

void SerialQueue::OnReply(std::uint64_t ticket) {
  {
    MutexLock lock(mu_);
    if (ticket != awaited_reply_) return;
  }
  OnItemDone();
}

void SerialQueue::Retire() {
  bool unlock_target = false;
  {
    MutexLock lock(mu_);
    accepting_ = false;
    if (!busy_ && !target_unlocked_) target_unlocked_ = unlock_target = true;
  }
  if (unlock_target) Platform::Get().queues().Unlock(target_id_);
}

void SerialQueue::Stop() {
  std::vector<WorkItem> dropped;
  std::uint64_t awaited = 0;
  {
    MutexLock lock(mu_);
    accepting_ = false;
    stopped_ = true;
    dropped = queued_.TakeAll();
    awaited = std::exchange(awaited_reply_, 0);
  }
  if (awaited != 0) Platform::Get().replies().Close(awaited);
  // `dropped` releases its results here, unlocked.
}

bool SerialQueue::Finished() const {
  MutexLock lock(mu_);
  return !accepting_ && !busy_;
}

std::uint64_t ReplyBook::Open(std::weak_ptr<SerialQueue> queue) {
  MutexLock lock(mu_);
  std::uint64_t ticket = kTicketTag | (next_++ & ~kTicketTagMask);
  open_.emplace(ticket, std::move(queue));
  return ticket;
}

std::shared_ptr<SerialQueue> ReplyBook::Take(std::uint64_t ticket) {
  MutexLock lock(mu_);
  auto it = open_.find(ticket);
  if (it == open_.end()) return nullptr;
  std::shared_ptr<SerialQueue> queue = it->second.lock();
  open_.erase(it);
  return queue;
}

void ReplyBook::Close(std::uint64_t ticket) {
  MutexLock lock(mu_);
  open_.erase(ticket);
}

bool ReplyBook::IsOpen(std::uint64_t ticket) {
  MutexLock lock(mu_);
  return open_.count(ticket) != 0;
}

void ReplyBook::Clear() {
  MutexLock lock(mu_);
  open_.clear();
}

namespace {
std::atomic_ref<ULONG_PTR> ReplySlot(IMFAsyncResult* result) {
  return std::atomic_ref<ULONG_PTR>(AsMFAsyncResult(result)->overlapped.Internal);
}
}  // namespace

bool MarkAwaitingReply(IMFAsyncResult* result, std::uint64_t ticket, ReplyBook& book) {
  std::atomic_ref<ULONG_PTR> slot = ReplySlot(result);
  ULONG_PTR current = slot.load();
  do {
    // Awaited by an outer serial queue. (A mark left by a queue that is gone,
    // or anything else in the slot, is overwritten: MF reserves it.)
    if (current != 0 && book.IsOpen(current)) return false;
  } while (!slot.compare_exchange_weak(current, static_cast<ULONG_PTR>(ticket)));
  return true;
}

bool IsReplyTicket(std::uint64_t value) { return (value & kTicketTagMask) == kTicketTag; }

std::uint64_t AwaitedReplyTicket(IMFAsyncResult* result) { return ReplySlot(result).load(); }

void ClearReplyMark(IMFAsyncResult* result, std::uint64_t ticket) {
  ULONG_PTR expected = static_cast<ULONG_PTR>(ticket);
  ReplySlot(result).compare_exchange_strong(expected, 0);
}

}  // namespace mfwq::engine
