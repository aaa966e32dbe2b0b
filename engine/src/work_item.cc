#include "work_item.h"

#include "serial_queue.h"

namespace mfwq::engine {

void RunWorkItem(WorkItem& item) {
  MFASYNCRESULT* r = AsMFAsyncResult(item.result.get());
  if (r->pCallback != nullptr) {
    r->pCallback->Invoke(item.result.get());
  } else if (r->hEvent != nullptr) {
    SetEvent(r->hEvent);
  }
  for (const std::shared_ptr<SerialQueue>& serial : item.on_done) serial->OnItemDone();
}

CallbackParameters GetCallbackParameters(IMFAsyncResult* result) {
  CallbackParameters p;
  IMFAsyncCallback* callback = AsMFAsyncResult(result)->pCallback;
  if (callback == nullptr) return p;
  DWORD flags = 0;
  DWORD queue = MFASYNC_CALLBACK_QUEUE_STANDARD;
  if (SUCCEEDED(callback->GetParameters(&flags, &queue))) {
    p.flags = flags;
    if (queue != MFASYNC_CALLBACK_QUEUE_UNDEFINED) p.queue = queue;
  }
  return p;
}

}  // namespace mfwq::engine
