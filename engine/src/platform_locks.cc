#include "platform_locks.h"

namespace mfwq::engine {

std::size_t PlatformLocks::MyShard() {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t shard = next.fetch_add(1, std::memory_order_relaxed) % kShards;
  return shard;
}

long PlatformLocks::Total() const {
  long total = 0;
  for (const Shard& s : shards_) total += s.count.load();
  return total;
}

void PlatformLocks::Lock() { shards_[MyShard()].count.fetch_add(1, std::memory_order_relaxed); }

void PlatformLocks::Unlock() {
  // Sequentially consistent with WaitUntilUnlocked: either the waiter's sum
  // sees this decrement, or this sees waiting_ and wakes the waiter.
  shards_[MyShard()].count.fetch_sub(1);
  if (waiting_.load()) {
    std::lock_guard lock(mu_);
    unlocked_cv_.notify_all();
  }
}

bool PlatformLocks::WaitUntilUnlocked(std::chrono::milliseconds timeout) {
  waiting_.store(true);
  bool unlocked;
  {
    std::unique_lock lock(mu_);
    unlocked = unlocked_cv_.wait_for(lock, timeout, [this] { return Total() <= 0; });
  }
  waiting_.store(false);
  return unlocked;
}

}  // namespace mfwq::engine
