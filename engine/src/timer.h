// Timer: scheduled work items (MFScheduleWorkItem) and periodic callbacks
// (MFAddPeriodicCallback), on one thread that sleeps until the next deadline.
//
// A due scheduled item is dispatched as MFInvokeCallback would (to the queue
// its callback names); the timer thread never runs a work item itself.
// Periodic callbacks run on the timer thread, as on Windows: keep them short.
#ifndef MFWQ_ENGINE_SRC_TIMER_H_
#define MFWQ_ENGINE_SRC_TIMER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include <mfwq/com_ptr.h>
#include <mfwq/mfapi.h>
#include <mfwq/thread_annotations.h>

namespace mfwq::engine {

class Timer {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kPeriod{10};  // MFGetTimerPeriodicity

  void Start();
  // Releases every pending item and periodic context without running it;
  // returns once the timer thread has ended.
  // REQUIRES: no engine lock held.
  void Stop();

  HRESULT Schedule(ComPtr<IMFAsyncResult> result, Clock::duration delay, MFWORKITEM_KEY* key);
  // S_OK and the item never runs; MF_E_NOT_FOUND if it already fired, was
  // cancelled, or never existed.
  HRESULT Cancel(MFWORKITEM_KEY key);

  HRESULT AddPeriodic(MFPERIODICCALLBACK callback, ComPtr<IUnknown> context, DWORD* key);
  // After S_OK the callback does not run again and is not running (unless
  // removed from inside itself).
  HRESULT RemovePeriodic(DWORD key);

  // Whether `key` is one of this timer's scheduled-item keys.
  static bool IsScheduledKey(MFWORKITEM_KEY key);

 private:
  struct Entry {
    ComPtr<IMFAsyncResult> result;       // scheduled item
    MFPERIODICCALLBACK periodic = nullptr;  // or periodic callback
    ComPtr<IUnknown> context;
  };
  using Slot = std::pair<Clock::time_point, std::uint64_t>;  // (due, id)

  void Loop(std::uint64_t generation);
  // REQUIRES: mu_ held.
  void InsertLocked(Clock::time_point due, std::uint64_t id, Entry entry) MFWQ_REQUIRES(mu_);

  Mutex mu_;
  std::condition_variable cv_;  // earlier deadline, stop, or periodic run ended
  bool running_ MFWQ_GUARDED_BY(mu_) = false;
  std::uint64_t generation_ MFWQ_GUARDED_BY(mu_) = 0;  // of the current loop
  std::map<Slot, Entry> due_ MFWQ_GUARDED_BY(mu_);
  std::unordered_map<std::uint64_t, Clock::time_point> when_ MFWQ_GUARDED_BY(mu_);  // id -> due
  std::uint64_t running_periodic_ MFWQ_GUARDED_BY(mu_) = 0;  // id of the periodic callback running
  bool running_periodic_removed_ MFWQ_GUARDED_BY(mu_) = false;
  std::thread thread_ MFWQ_GUARDED_BY(mu_);
};

}  // namespace mfwq::engine

#endif  // MFWQ_ENGINE_SRC_TIMER_H_
