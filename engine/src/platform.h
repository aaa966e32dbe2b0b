// Platform: MFStartup/MFShutdown reference counting, platform locks, and the
// engine's parts that live from startup to shutdown.
//
// Lock order (outermost first); no lock is held while user code runs
// (Invoke, GetParameters, periodic callbacks, Release of user objects):
//   Platform::mu_  ->  QueueRegistry::mu_
//   WaitingItems::mu_  ->  Event::mu_
//   ThreadPool::mu_, SerialQueue::mu_, Timer::mu_, HandleTable::mu_,
//   ReplyBook::mu_, PlatformLocks::mu_: leaves, never nested.
#ifndef MFWQ_ENGINE_SRC_PLATFORM_H_
#define MFWQ_ENGINE_SRC_PLATFORM_H_

#include <mutex>

#include <mfwq/com_ptr.h>
#include <mfwq/engine.h>
#include <mfwq/mfapi.h>
#include <mfwq/thread_annotations.h>

#include "platform_locks.h"
#include "queue_registry.h"
#include "serial_queue.h"
#include "timer.h"
#include "waiting_items.h"

namespace mfwq::engine {

class Platform {
 public:
  // The one platform of the process; never destroyed, so work still running
  // at exit never touches a destroyed object.
  static Platform& Get();

  HRESULT Startup(ULONG version);
  // The last call waits (up to EngineOptions::shutdown_wait) for platform
  // locks to go, then stops everything: when it returns no callback runs,
  // every pending result has been released and new work gets MF_E_SHUTDOWN.
  HRESULT Shutdown();

  void Lock();
  void Unlock();

  void SetOptions(const EngineOptions& options);
  EngineOptions options() const;

  QueueRegistry& queues() { return queues_; }
  Timer& timer() { return timer_; }
  WaitingItems& waiting() { return waiting_; }
  ReplyBook& replies() { return replies_; }

  // Queues `result` on the queue its callback names (MFInvokeCallback's
  // routing), falling back to the standard queue when that one is unusable.
  HRESULT Dispatch(ComPtr<IMFAsyncResult> result, LONG priority);

 private:
  enum class State { kStopped, kRunning, kStopping };

  Platform() = default;
  // REQUIRES: mu_ held, state_ == kStopped.
  void StartLocked() MFWQ_REQUIRES(mu_);

  mutable Mutex mu_;  // held briefly: never while waiting or stopping
  int startups_ MFWQ_GUARDED_BY(mu_) = 0;
  State state_ MFWQ_GUARDED_BY(mu_) = State::kStopped;
  EngineOptions options_ MFWQ_GUARDED_BY(mu_);

  PlatformLocks locks_;

  QueueRegistry queues_;
  Timer timer_;
  WaitingItems waiting_;
  ReplyBook replies_;
};

}  // namespace mfwq::engine

#endif  // MFWQ_ENGINE_SRC_PLATFORM_H_
