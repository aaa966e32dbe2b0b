// WaitingItems: MFPutWaitingWorkItem. An item is registered on its event and
// holds no thread while it waits; when the event is signalled the item is
// dispatched as MFInvokeCallback would. Cancelling dispatches it with status
// MF_E_OPERATION_CANCELLED.
#ifndef MFWQ_ENGINE_SRC_WAITING_ITEMS_H_
#define MFWQ_ENGINE_SRC_WAITING_ITEMS_H_

#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <mfwq/mfapi.h>
#include <mfwq/thread_annotations.h>

#include "event.h"

namespace mfwq::engine {

class WaitingItems {
 public:
  void Start();
  // Unregisters every waiting item, releasing its result without running it.
  void Stop();

  HRESULT Put(std::shared_ptr<Event> event, LONG priority, ComPtr<IMFAsyncResult> result,
              MFWORKITEM_KEY* key);
  HRESULT Cancel(MFWORKITEM_KEY key);
  // Dispatches items an event released. REQUIRES: no engine lock held.
  void Release(std::vector<Event::Waiter> released);

  static bool IsWaitingKey(MFWORKITEM_KEY key);

 private:
  void Forget(MFWORKITEM_KEY key);

  // Whoever removes a Waiter from its Event owns it: that decides between a
  // concurrent SetEvent and MFCancelWorkItem. This map only finds the event.
  Mutex mu_;
  bool running_ MFWQ_GUARDED_BY(mu_) = false;
  std::unordered_map<MFWORKITEM_KEY, std::shared_ptr<Event>> events_ MFWQ_GUARDED_BY(mu_);
};

}  // namespace mfwq::engine

#endif  // MFWQ_ENGINE_SRC_WAITING_ITEMS_H_
