// PlatformLocks: the count of MFLockPlatform locks, which every live async
// result also holds. Taken and dropped on every work item, on every thread,
// so the count is spread over cache-line-sized shards (one per thread, by
// turns) instead of one contended atomic; only MFShutdown adds them up.
#ifndef MFWQ_ENGINE_SRC_PLATFORM_LOCKS_H_
#define MFWQ_ENGINE_SRC_PLATFORM_LOCKS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace mfwq::engine {

class PlatformLocks {
 public:
  void Lock();
  void Unlock();
  // Waits until no lock is held or `timeout` passes. True if none is held.
  bool WaitUntilUnlocked(std::chrono::milliseconds timeout);

 private:
  static constexpr std::size_t kShards = 16;
  struct alignas(64) Shard {
    std::atomic<long> count{0};
  };
  static std::size_t MyShard();
  long Total() const;

  std::array<Shard, kShards> shards_;
  // Set while a shutdown waits: Unlock then wakes it to add up again.
  std::atomic<bool> waiting_{false};
  std::mutex mu_;
  std::condition_variable unlocked_cv_;
};

}  // namespace mfwq::engine

#endif  // MFWQ_ENGINE_SRC_PLATFORM_LOCKS_H_
