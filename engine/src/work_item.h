// A unit of work travelling through the engine's executors.
#ifndef MFWQ_ENGINE_SRC_WORK_ITEM_H_
#define MFWQ_ENGINE_SRC_WORK_ITEM_H_

#include <memory>
#include <vector>

#include <mfwq/com_ptr.h>
#include <mfwq/mfapi.h>

namespace mfwq::engine {

class SerialQueue;

struct WorkItem {
  // The result handed to IMFAsyncCallback::Invoke: the very object the
  // caller put, never a copy. Every IMFAsyncResult inherits MFASYNCRESULT.
  ComPtr<IMFAsyncResult> result;
  // Higher runs first; FIFO among equals.
  LONG priority = 0;
  // Serial queues this item passed through, told (in order, innermost last)
  // once it has run so they can release their next item.
  std::vector<std::shared_ptr<SerialQueue>> on_done;
};

inline MFASYNCRESULT* AsMFAsyncResult(IMFAsyncResult* result) {
  return static_cast<MFASYNCRESULT*>(result);
}

// Runs `item` on the calling thread: invokes the result's callback, or
// signals its hEvent when it has no callback, then tells item.on_done.
// REQUIRES: no engine lock held (this calls user code).
void RunWorkItem(WorkItem& item);

// The callback's GetParameters flags and queue, with MF's defaults
// (0, MFASYNC_CALLBACK_QUEUE_STANDARD) when it fails or there is no callback.
struct CallbackParameters {
  DWORD flags = 0;
  DWORD queue = MFASYNC_CALLBACK_QUEUE_STANDARD;
};
CallbackParameters GetCallbackParameters(IMFAsyncResult* result);

}  // namespace mfwq::engine

#endif  // MFWQ_ENGINE_SRC_WORK_ITEM_H_
