// PlatformLocks: the count of MFLockPlatform locks, which MFStartup and every
// live async result also hold; MFShutdown waits for it to reach zero.
#ifndef MFWQ_ENGINE_SRC_PLATFORM_LOCKS_H_
#define MFWQ_ENGINE_SRC_PLATFORM_LOCKS_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include <mfwq/thread_annotations.h>

namespace mfwq::engine {

class PlatformLocks {
 public:
  void Lock();
  void Unlock();
  // Waits until no lock is held or `timeout` passes. True if none is held.
  bool WaitUntilUnlocked(std::chrono::milliseconds timeout);

 private:
  alignas(64) std::atomic<long> count_{0};  // written on every result: a line of its own
  // Set while a shutdown waits: the Unlock that reaches zero then wakes it.
  alignas(64) std::atomic<bool> waiting_{false};
  Mutex mu_;
  std::condition_variable unlocked_cv_;
};

}  // namespace mfwq::engine

#endif  // MFWQ_ENGINE_SRC_PLATFORM_LOCKS_H_
