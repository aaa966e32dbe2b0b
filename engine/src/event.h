// Event: a Win32-style event (manual or auto reset) that threads can block on
// and that waiting work items (MFPutWaitingWorkItem) can be registered on
// without holding a thread. HandleTable turns events into HANDLE values and
// back, so that a bad handle is an error, never a crash.
#ifndef MFWQ_ENGINE_SRC_EVENT_H_
#define MFWQ_ENGINE_SRC_EVENT_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <mfwq/com_ptr.h>
#include <mfwq/mfapi.h>
#include <mfwq/thread_annotations.h>

namespace mfwq::engine {

class Event {
 public:
  // A work item registered on the event.
  struct Waiter {
    MFWORKITEM_KEY key = 0;
    LONG priority = 0;
    ComPtr<IMFAsyncResult> result;
  };

  Event(bool manual_reset, bool initially_set);

  // Signals the event. Returns the registered items it releases, for the
  // caller to dispatch (no lock is held then).
  std::vector<Waiter> Set();
  void Reset();
  // Blocks until signalled or `timeout` (nullopt: forever). True if signalled.
  bool Wait(std::optional<std::chrono::milliseconds> timeout);

  // Registers `waiter`. If the event is already signalled the waiter is
  // returned at once (consuming the signal of an auto-reset event).
  std::optional<Waiter> AddWaiter(Waiter waiter);
  // Unregisters the item `key`, if it is still waiting.
  std::optional<Waiter> RemoveWaiter(MFWORKITEM_KEY key);

 private:
  Mutex mu_;
  std::condition_variable cv_;
  const bool manual_reset_;
  bool signalled_ MFWQ_GUARDED_BY(mu_);
  unsigned blocked_ MFWQ_GUARDED_BY(mu_) = 0;  // threads in Wait()
  std::deque<Waiter> waiters_ MFWQ_GUARDED_BY(mu_);
};

class HandleTable {
 public:
  static HandleTable& Get();

  // A new handle for `name`'s event, created if needed (empty: unnamed).
  HANDLE Create(bool manual_reset, bool initially_set, const std::wstring& name);
  // The event behind `handle`, or nullptr for a closed or invalid handle.
  std::shared_ptr<Event> Find(HANDLE handle) const;
  bool Close(HANDLE handle);

 private:
  struct Slot {
    std::shared_ptr<Event> event;
    std::uint32_t generation = 0;
  };

  mutable Mutex mu_;
  std::vector<Slot> slots_ MFWQ_GUARDED_BY(mu_);
  std::vector<std::uint32_t> free_ MFWQ_GUARDED_BY(mu_);
  std::unordered_map<std::wstring, std::weak_ptr<Event>> named_ MFWQ_GUARDED_BY(mu_);
};

}  // namespace mfwq::engine

#endif  // MFWQ_ENGINE_SRC_EVENT_H_
