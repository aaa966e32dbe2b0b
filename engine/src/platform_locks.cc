#include "platform_locks.h"

namespace mfwq::engine {

void PlatformLocks::Lock() { count_.fetch_add(1, std::memory_order_relaxed); }

void PlatformLocks::Unlock() {
  // Sequentially consistent with WaitUntilUnlocked: either its check sees
  // this decrement, or this sees waiting_ and wakes it.
  if (count_.fetch_sub(1) == 1 && waiting_.load()) {
    MutexLock lock(mu_);
    unlocked_cv_.notify_all();
  }
}

bool PlatformLocks::WaitUntilUnlocked(std::chrono::milliseconds timeout) {
  waiting_.store(true);
  bool unlocked;
  {
    MutexLock lock(mu_);
    unlocked = unlocked_cv_.wait_for(lock.native(), timeout,
                                     [this]() MFWQ_REQUIRES(mu_) { return count_.load() <= 0; });
  }
  waiting_.store(false);
  return unlocked;
}

}  // namespace mfwq::engine
