#include "waiting_items.h"

#include <atomic>
#include <optional>
#include <utility>

#include "platform.h"

namespace mfwq::engine {
namespace {
constexpr std::uint64_t kWaitingTag = 0x8000'0000'0000'0000ull;
constexpr std::uint64_t kTagMask = 0xF000'0000'0000'0000ull;
std::atomic<std::uint64_t> g_next_key{1};
}  // namespace

bool WaitingItems::IsWaitingKey(MFWORKITEM_KEY key) { return (key & kTagMask) == kWaitingTag; }

void WaitingItems::Start() {
  MutexLock lock(mu_);
  running_ = true;
}

void WaitingItems::Stop() {
  std::unordered_map<MFWORKITEM_KEY, std::shared_ptr<Event>> all;
  {
    MutexLock lock(mu_);
    running_ = false;
    all.swap(events_);
  }
  for (auto& [key, event] : all) event->RemoveWaiter(key);  // result released here
}

HRESULT WaitingItems::Put(std::shared_ptr<Event> event, LONG priority,
                          ComPtr<IMFAsyncResult> result, MFWORKITEM_KEY* key) {
  const MFWORKITEM_KEY k = kWaitingTag | g_next_key.fetch_add(1);
  std::optional<Event::Waiter> now;
  {
    // Registered under mu_, so Stop() either refuses it or finds it.
    MutexLock lock(mu_);
    if (!running_) return MF_E_SHUTDOWN;
    events_.emplace(k, event);
    now = event->AddWaiter({k, priority, std::move(result)});
  }
  if (key != nullptr) *key = k;
  if (now) {
    std::vector<Event::Waiter> released;
    released.push_back(std::move(*now));
    Release(std::move(released));
  }
  return S_OK;
}

HRESULT WaitingItems::Cancel(MFWORKITEM_KEY key) {
  std::shared_ptr<Event> event;
  {
    MutexLock lock(mu_);
    auto it = events_.find(key);
    if (it == events_.end()) return MF_E_NOT_FOUND;
    event = it->second;
  }
  std::optional<Event::Waiter> waiter = event->RemoveWaiter(key);
  if (!waiter) return MF_E_NOT_FOUND;  // the event released it first
  Forget(key);
  waiter->result->SetStatus(MF_E_OPERATION_CANCELLED);
  Platform::Get().Dispatch(std::move(waiter->result), waiter->priority);
  return S_OK;
}

void WaitingItems::Release(std::vector<Event::Waiter> released) {
  for (Event::Waiter& w : released) {
    Forget(w.key);
    Platform::Get().Dispatch(std::move(w.result), w.priority);
  }
}

void WaitingItems::Forget(MFWORKITEM_KEY key) {
  std::shared_ptr<Event> event;
  MutexLock lock(mu_);
  if (auto it = events_.find(key); it != events_.end()) {
    event = std::move(it->second);
    events_.erase(it);
  }
  // `event` may be the last reference: it has no waiters left, so destroying
  // it here runs no user code.
}

}  // namespace mfwq::engine
