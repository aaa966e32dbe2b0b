// The Media Foundation work-queue C API of <mfwq/mfapi.h>, off Windows:
// argument checks, then the engine's parts (see platform.h).
//
// Promise kept by every call that takes a callback or result: if it fails,
// the callback is never invoked for it; if it succeeds, the callback is
// invoked exactly once, unless the item is cancelled or MFShutdown releases
// it first (as in MF).
#include <mfwq/mfapi.h>

#include <chrono>
#include <new>
#include <string>
#include <utility>

#include "async_result.h"
#include "event.h"
#include "platform.h"
#include "work_item.h"

using mfwq::ComPtr;
using mfwq::engine::AsMFAsyncResult;
using mfwq::engine::AsyncResult;
using mfwq::engine::Event;
using mfwq::engine::Executor;
using mfwq::engine::HandleTable;
using mfwq::engine::Platform;
using mfwq::engine::Timer;
using mfwq::engine::WaitingItems;
using mfwq::engine::WorkItem;

extern "C" {
const IID IID_IUnknown = {0x00000000, 0x0000, 0x0000, {0xC0, 0, 0, 0, 0, 0, 0, 0x46}};
const IID IID_IMFAsyncResult = {0xac6b7889, 0x0740, 0x4d51,
                                {0x86, 0x19, 0x90, 0x59, 0x94, 0xa5, 0x5c, 0xc6}};
const IID IID_IMFAsyncCallback = {0xa27003cf, 0x2354, 0x4f2a,
                                  {0x8d, 0x6a, 0xab, 0x7c, 0xff, 0x15, 0x43, 0x7e}};
}

namespace {

// A result the engine can run: it must name a callback or, failing that, an
// event to signal.
HRESULT CheckRunnable(IMFAsyncResult* result) {
  if (result == nullptr) return E_POINTER;
  const MFASYNCRESULT* r = AsMFAsyncResult(result);
  if (r->pCallback == nullptr && r->hEvent == nullptr) return E_INVALIDARG;
  return S_OK;
}

HRESULT Put(DWORD queue, LONG priority, ComPtr<IMFAsyncResult> result) {
  if (HRESULT hr = CheckRunnable(result.get()); FAILED(hr)) return hr;
  std::shared_ptr<Executor> executor;
  if (HRESULT hr = Platform::Get().queues().Find(queue, &executor); FAILED(hr)) return hr;
  return executor->Submit(WorkItem{std::move(result), priority, {}});
}

HRESULT NewResult(IUnknown* object, IMFAsyncCallback* callback, IUnknown* state,
                  ComPtr<IMFAsyncResult>* result) {
  try {
    *result = ComPtr<IMFAsyncResult>::Adopt(new AsyncResult(object, callback, state));
  } catch (const std::bad_alloc&) {
    return E_OUTOFMEMORY;
  }
  return S_OK;
}

HRESULT PutCallback(DWORD queue, LONG priority, IMFAsyncCallback* callback, IUnknown* state) {
  if (callback == nullptr) return E_POINTER;
  ComPtr<IMFAsyncResult> result;
  if (HRESULT hr = NewResult(nullptr, callback, state, &result); FAILED(hr)) return hr;
  return Put(queue, priority, std::move(result));
}

}  // namespace

extern "C" {

HRESULT MFStartup(ULONG Version, DWORD /*dwFlags*/) { return Platform::Get().Startup(Version); }

HRESULT MFShutdown(void) { return Platform::Get().Shutdown(); }

HRESULT MFLockPlatform(void) {
  Platform::Get().Lock();
  return S_OK;
}

HRESULT MFUnlockPlatform(void) {
  Platform::Get().Unlock();
  return S_OK;
}

HRESULT MFAllocateWorkQueue(DWORD* pdwWorkQueue) {
  return MFAllocateWorkQueueEx(MF_STANDARD_WORKQUEUE, pdwWorkQueue);
}

HRESULT MFAllocateWorkQueueEx(MFASYNC_WORKQUEUE_TYPE WorkQueueType, DWORD* pdwWorkQueue) {
  if (pdwWorkQueue == nullptr) return E_POINTER;
  return Platform::Get().queues().Allocate(WorkQueueType, pdwWorkQueue);
}

HRESULT MFAllocateSerialWorkQueue(DWORD dwWorkQueue, DWORD* pdwWorkQueue) {
  if (pdwWorkQueue == nullptr) return E_POINTER;
  return Platform::Get().queues().AllocateSerial(dwWorkQueue, pdwWorkQueue);
}

HRESULT MFLockWorkQueue(DWORD dwWorkQueue) { return Platform::Get().queues().Lock(dwWorkQueue); }

HRESULT MFUnlockWorkQueue(DWORD dwWorkQueue) {
  return Platform::Get().queues().Unlock(dwWorkQueue);
}

HRESULT MFPutWorkItem(DWORD dwQueue, IMFAsyncCallback* pCallback, IUnknown* pState) {
  return PutCallback(dwQueue, 0, pCallback, pState);
}

HRESULT MFPutWorkItem2(DWORD dwQueue, LONG Priority, IMFAsyncCallback* pCallback,
                       IUnknown* pState) {
  return PutCallback(dwQueue, Priority, pCallback, pState);
}

HRESULT MFPutWorkItemEx(DWORD dwQueue, IMFAsyncResult* pResult) {
  return Put(dwQueue, 0, ComPtr<IMFAsyncResult>(pResult));
}

HRESULT MFPutWorkItemEx2(DWORD dwQueue, LONG Priority, IMFAsyncResult* pResult) {
  return Put(dwQueue, Priority, ComPtr<IMFAsyncResult>(pResult));
}

HRESULT MFCreateAsyncResult(IUnknown* punkObject, IMFAsyncCallback* pCallback,
                            IUnknown* punkState, IMFAsyncResult** ppAsyncResult) {
  if (ppAsyncResult == nullptr) return E_POINTER;
  ComPtr<IMFAsyncResult> result;
  if (HRESULT hr = NewResult(punkObject, pCallback, punkState, &result); FAILED(hr)) return hr;
  *ppAsyncResult = result.Detach();
  return S_OK;
}

HRESULT MFInvokeCallback(IMFAsyncResult* pAsyncResult) {
  if (HRESULT hr = CheckRunnable(pAsyncResult); FAILED(hr)) return hr;
  Platform& platform = Platform::Get();
  // A reply to a serial queue that waits for it (MFASYNC_REPLY_CALLBACK):
  // release the queue's next item instead of invoking the callback again. A
  // reply to a queue that has gone since is done with as well.
  if (std::uint64_t ticket = mfwq::engine::AwaitedReplyTicket(pAsyncResult);
      mfwq::engine::IsReplyTicket(ticket)) {
    mfwq::engine::ClearReplyMark(pAsyncResult, ticket);
    if (auto serial = platform.replies().Take(ticket)) serial->OnReply(ticket);
    return S_OK;
  }
  return platform.Dispatch(ComPtr<IMFAsyncResult>(pAsyncResult), 0);
}

HRESULT MFScheduleWorkItem(IMFAsyncCallback* pCallback, IUnknown* pState, INT64 Timeout,
                           MFWORKITEM_KEY* pKey) {
  if (pCallback == nullptr) return E_POINTER;
  ComPtr<IMFAsyncResult> result;
  if (HRESULT hr = NewResult(nullptr, pCallback, pState, &result); FAILED(hr)) return hr;
  return MFScheduleWorkItemEx(result.get(), Timeout, pKey);
}

HRESULT MFScheduleWorkItemEx(IMFAsyncResult* pResult, INT64 Timeout, MFWORKITEM_KEY* pKey) {
  if (HRESULT hr = CheckRunnable(pResult); FAILED(hr)) return hr;
  // MF takes a negative relative timeout in milliseconds. A positive value
  // would be an absolute time in the past for Windows' timers: due now.
  // Beyond a century is as good as never, and keeps the clock from overflowing.
  constexpr INT64 kCenturyMs = INT64{100} * 365 * 24 * 3600 * 1000;
  std::chrono::milliseconds delay(Timeout >= 0 ? 0 : Timeout < -kCenturyMs ? kCenturyMs : -Timeout);
  return Platform::Get().timer().Schedule(ComPtr<IMFAsyncResult>(pResult), delay, pKey);
}

HRESULT MFCancelWorkItem(MFWORKITEM_KEY Key) {
  Platform& platform = Platform::Get();
  if (Timer::IsScheduledKey(Key)) return platform.timer().Cancel(Key);
  if (WaitingItems::IsWaitingKey(Key)) return platform.waiting().Cancel(Key);
  return MF_E_NOT_FOUND;
}

HRESULT MFPutWaitingWorkItem(HANDLE hEvent, LONG Priority, IMFAsyncResult* pResult,
                             MFWORKITEM_KEY* pKey) {
  if (HRESULT hr = CheckRunnable(pResult); FAILED(hr)) return hr;
  std::shared_ptr<Event> event = HandleTable::Get().Find(hEvent);
  if (!event) return E_HANDLE;
  return Platform::Get().waiting().Put(std::move(event), Priority,
                                       ComPtr<IMFAsyncResult>(pResult), pKey);
}

HRESULT MFGetTimerPeriodicity(DWORD* Periodicity) {
  if (Periodicity == nullptr) return E_POINTER;
  *Periodicity = static_cast<DWORD>(Timer::kPeriod.count());
  return S_OK;
}

HRESULT MFAddPeriodicCallback(MFPERIODICCALLBACK Callback, IUnknown* pContext, DWORD* pdwKey) {
  if (Callback == nullptr) return E_POINTER;
  return Platform::Get().timer().AddPeriodic(Callback, ComPtr<IUnknown>(pContext), pdwKey);
}

HRESULT MFRemovePeriodicCallback(DWORD dwKey) {
  return Platform::Get().timer().RemovePeriodic(dwKey);
}

HANDLE CreateEventW(LPSECURITY_ATTRIBUTES /*lpEventAttributes*/, BOOL bManualReset,
                    BOOL bInitialState, LPCWSTR lpName) {
  return HandleTable::Get().Create(bManualReset != FALSE, bInitialState != FALSE,
                                   lpName != nullptr ? std::wstring(lpName) : std::wstring());
}

BOOL SetEvent(HANDLE hEvent) {
  std::shared_ptr<Event> event = HandleTable::Get().Find(hEvent);
  if (!event) return FALSE;
  std::vector<Event::Waiter> released = event->Set();
  if (!released.empty()) Platform::Get().waiting().Release(std::move(released));
  return TRUE;
}

BOOL ResetEvent(HANDLE hEvent) {
  std::shared_ptr<Event> event = HandleTable::Get().Find(hEvent);
  if (!event) return FALSE;
  event->Reset();
  return TRUE;
}

DWORD WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds) {
  std::shared_ptr<Event> event = HandleTable::Get().Find(hHandle);
  if (!event) return WAIT_FAILED;
  std::optional<std::chrono::milliseconds> timeout;
  if (dwMilliseconds != INFINITE) timeout = std::chrono::milliseconds(dwMilliseconds);
  return event->Wait(timeout) ? WAIT_OBJECT_0 : WAIT_TIMEOUT;
}

BOOL CloseHandle(HANDLE hObject) { return HandleTable::Get().Close(hObject) ? TRUE : FALSE; }

}  // extern "C"
