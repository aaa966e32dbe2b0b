#include "timer.h"

#include <pthread.h>
#include <sys/prctl.h>

#include <atomic>
#include <vector>

#include "platform.h"

namespace mfwq::engine {
namespace {

// Keys and periodic ids stay unique across restarts so a stale key is never
// mistaken for a new item. Scheduled-item keys carry a tag in the top bits
// (waiting items use another), periodic keys are small DWORDs.
constexpr std::uint64_t kScheduledTag = 0x4000'0000'0000'0000ull;
constexpr std::uint64_t kPeriodicTag = 0x2000'0000'0000'0000ull;
constexpr std::uint64_t kTagMask = 0xF000'0000'0000'0000ull;
std::atomic<std::uint64_t> g_next_key{1};
std::atomic<DWORD> g_next_periodic{1};

std::uint64_t PeriodicId(DWORD key) { return kPeriodicTag | key; }

}  // namespace

bool Timer::IsScheduledKey(MFWORKITEM_KEY key) { return (key & kTagMask) == kScheduledTag; }

void Timer::Start() {
  MutexLock lock(mu_);
  running_ = true;
  const std::uint64_t generation = ++generation_;
  thread_ = std::thread([this, generation] { Loop(generation); });
}

void Timer::Stop() {
  std::map<Slot, Entry> dropped;
  std::thread thread;
  {
    MutexLock lock(mu_);
    running_ = false;
    dropped.swap(due_);
    when_.clear();
    thread.swap(thread_);
    cv_.notify_all();
  }
  dropped.clear();  // releases results and contexts, unlocked
  if (thread.joinable()) {
    if (thread.get_id() == std::this_thread::get_id()) {
      thread.detach();  // MFShutdown from a periodic callback
    } else {
      thread.join();
    }
  }
}

void Timer::InsertLocked(Clock::time_point due, std::uint64_t id, Entry entry) {
  bool earliest = due_.empty() || Slot{due, id} < due_.begin()->first;
  due_.emplace(Slot{due, id}, std::move(entry));
  when_.emplace(id, due);
  if (earliest) cv_.notify_all();
}

HRESULT Timer::Schedule(ComPtr<IMFAsyncResult> result, Clock::duration delay,
                        MFWORKITEM_KEY* key) {
  std::uint64_t id = kScheduledTag | g_next_key.fetch_add(1);
  {
    MutexLock lock(mu_);
    if (!running_) return MF_E_SHUTDOWN;
    InsertLocked(Clock::now() + delay, id, Entry{std::move(result), nullptr, nullptr});
  }
  if (key != nullptr) *key = id;
  return S_OK;
}

HRESULT Timer::Cancel(MFWORKITEM_KEY key) {
  Entry cancelled;
  {
    MutexLock lock(mu_);
    auto it = when_.find(key);
    if (it == when_.end()) return MF_E_NOT_FOUND;
    auto node = due_.extract(Slot{it->second, key});
    when_.erase(it);
    cancelled = std::move(node.mapped());
  }
  return S_OK;  // `cancelled` releases the result here, unlocked
}

HRESULT Timer::AddPeriodic(MFPERIODICCALLBACK callback, ComPtr<IUnknown> context, DWORD* key) {
  DWORD k;
  do {
    k = g_next_periodic.fetch_add(1);
  } while (k == 0);
  {
    MutexLock lock(mu_);
    if (!running_) return MF_E_SHUTDOWN;
    InsertLocked(Clock::now() + kPeriod, PeriodicId(k), Entry{nullptr, callback, std::move(context)});
  }
  if (key != nullptr) *key = k;
  return S_OK;
}

HRESULT Timer::RemovePeriodic(DWORD key) {
  std::uint64_t id = PeriodicId(key);
  Entry removed;
  MutexLock lock(mu_);
  if (auto it = when_.find(id); it != when_.end()) {
    removed = std::move(due_.extract(Slot{it->second, id}).mapped());
    when_.erase(it);
    lock.Unlock();
    return S_OK;  // `removed` releases the context, unlocked
  }
  if (running_periodic_ != id || running_periodic_removed_) return MF_E_NOT_FOUND;
  running_periodic_removed_ = true;
  if (thread_.get_id() != std::this_thread::get_id()) {
    cv_.wait(lock.native(), [&]() MFWQ_REQUIRES(mu_) { return running_periodic_ != id; });
  }
  return S_OK;
}

void Timer::Loop(std::uint64_t generation) {
  pthread_setname_np(pthread_self(), "mfwq-timer");
  // Wake at the deadline, not up to the default 50 us slack after it.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  MutexLock lock(mu_);
  // A loop detached by a shutdown from inside a periodic callback must end
  // even if the platform has been started again (with a new loop) meanwhile.
  while (running_ && generation_ == generation) {
    if (due_.empty()) {
      cv_.wait(lock.native());
      continue;
    }
    Clock::time_point next = due_.begin()->first.first;
    if (Clock::now() < next) {
      cv_.wait_until(lock.native(), next);
      continue;
    }
    auto node = due_.extract(due_.begin());
    const auto [due, id] = node.key();
    Entry entry = std::move(node.mapped());
    when_.erase(id);
    if (entry.result) {
      lock.Unlock();
      Platform::Get().Dispatch(std::move(entry.result), 0);
      lock.Lock();
      continue;
    }
    running_periodic_ = id;
    running_periodic_removed_ = false;
    lock.Unlock();
    entry.periodic(entry.context.get());
    lock.Lock();
    if (running_ && generation_ == generation && !running_periodic_removed_) {
      // Next tick on the period's grid, skipping ticks missed while late.
      Clock::time_point again = due + kPeriod;
      Clock::time_point now = Clock::now();
      if (again < now) again += ((now - again) / kPeriod + 1) * kPeriod;
      InsertLocked(again, id, std::move(entry));
    } else {
      lock.Unlock();
      entry = Entry{};  // release the context, unlocked, before a remover returns
      lock.Lock();
    }
    running_periodic_ = 0;
    cv_.notify_all();
  }
}

}  // namespace mfwq::engine
